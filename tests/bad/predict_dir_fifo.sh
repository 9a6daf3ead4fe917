# predict on a folder holding a FIFO named like an image (in a subfolder):
# skipped with a warning, the good images are predicted, no hang.
want_rc=0 want_msg="ignoring 'd/sub/pipe.png': not a regular file" want_out='"file":"d/sub/011.png"'
case_run() {
	mkpackage || return 90
	mkdir -p d/sub && cp data/a/*.png d/sub/
	mkfifo d/sub/pipe.png
	timeout 30 "$PIPELINE" predict --package "$pkg" d
}
