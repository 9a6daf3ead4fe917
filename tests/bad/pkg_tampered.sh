# A package whose model was changed after packaging: the manifest check fails.
want_rc=1 want_msg='model.pnn'
case_run() {
	mkpackage || return 90
	repack 'd = bytearray(rd("model.pnn")); d[-100] ^= 1; wr("model.pnn", bytes(d))' || return 91
	"$PIPELINE" predict --package bad.tar.zst data/a/000.png
}
