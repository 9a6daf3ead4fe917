# A source directory without any image.
want_rc=1 want_msg='data'
case_run() {
	mkdir -p data/a data/b; echo hi >data/a/readme.txt; small
	pl
}
