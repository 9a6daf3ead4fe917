# A negative input size.
want_rc=2 want_msg='prepare.size'
case_run() {
	mkclasses data 12; small
	pl --set prepare.size=-16
}
