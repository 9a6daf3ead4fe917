# predict on a corrupt image: an error naming the image, exit 1.
want_rc=1 want_msg='broken.png'
case_run() {
	mkpackage || return 90
	head -c 50 data/a/000.png >broken.png
	"$PIPELINE" predict --package "$pkg" broken.png
}
