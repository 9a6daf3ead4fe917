# predict on a directory with one corrupt image amid good ones: an error
# naming it and the reason, the images after it are still predicted, exit 1.
want_rc=1 want_msg="'d/005x.png': truncated png data" want_out='"file":"d/011.png"'
case_run() {
	mkpackage || return 90
	mkdir d && cp data/a/*.png d/
	head -c 60 data/a/000.png >d/005x.png
	"$PIPELINE" predict --package "$pkg" d
}
