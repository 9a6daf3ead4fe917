# A package with a file not in the manifest.
want_rc=1 want_msg='evil.sh'
case_run() {
	mkpackage || return 90
	repack 'wr("evil.sh", b"#!/bin/sh\n")' || return 91
	(cd pk && tar -I zstd -cf ../bad.tar.zst *)
	"$PIPELINE" predict --package bad.tar.zst data/a/000.png
}
