# An empty class folder next to two good ones: a folder without images is
# not a class; it is skipped with a warning naming it, and the run works.
want_rc=0 want_msg="data/c': it holds no PNG, JPEG or BMP images"
case_run() {
	mkclasses data 12; mkdir data/c; small
	pl
}
