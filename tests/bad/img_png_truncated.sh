# A dataset PNG cut in half: the stage fails naming the file.
want_rc=1 want_msg='001.png'
case_run() {
	mkclasses data 12; small
	head -c 60 data/a/001.png >t && mv t data/a/001.png
	pl
}
