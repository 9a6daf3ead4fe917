# A negative resize.
want_rc=2 want_msg='resize'
case_run() {
	mkclasses data 12; small
	pl --set prepare.resize=-16x16
}
