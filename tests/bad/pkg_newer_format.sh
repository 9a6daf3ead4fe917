# A package whose MANIFEST.json has a newer format (99): refused, naming the
# format, not read as if it were format 1.
want_rc=1 want_msg='format'
case_run() {
	mkpackage || return 90
	repack 'm = json.load(open("MANIFEST.json")); m["format"] = 99; json.dump(m, open("MANIFEST.json", "w"))' || return 91
	"$PIPELINE" predict --package bad.tar.zst data/a/000.png
}
