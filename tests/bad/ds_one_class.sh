# A dataset with one class (data/plate/a): a classifier needs two; names the class.
want_rc=1 want_msg='only one class'
case_run() {
	mkclasses data/plate 12 a; small
	pl
}
