# An empty class folder next to two good ones: a clear error naming the
# folder (an empty class cannot be learned), or, when skipped, a warning.
want_rc=1 want_msg='empty'
case_run() {
	mkclasses data 12; mkdir data/c; small
	pl
}
