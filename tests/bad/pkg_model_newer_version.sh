# A package whose model file has a newer format version (manifest hashes
# consistent): predict refuses, naming model.pnn of the package (not an internal path), the
# version and what to do.
want_rc=1 want_msg='model.pnn'
case_run() {
	mkpackage || return 90
	repack 'd = bytearray(rd("model.pnn")); d[8] = 7; wr("model.pnn", bytes(d)); fix()' || return 91
	"$PIPELINE" predict --package bad.tar.zst data/a/000.png
}
