# predict given a FIFO as the image: an error naming it, no hang.
want_rc=1 want_msg="'f.png'"
case_run() {
	mkpackage || return 90
	mkfifo f.png
	timeout 30 "$PIPELINE" predict --package "$pkg" f.png
}
