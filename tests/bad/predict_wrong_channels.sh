# predict with a 1-channel model on the two channel files of one sample
# (--channels a,b): a usage error naming the count, exit 2.
want_rc=2 want_msg='channel file(s) per sample'
case_run() {
	mkpackage || return 90
	"$PIPELINE" predict --package "$pkg" --channels data/a/000.png,data/a/001.png
}
