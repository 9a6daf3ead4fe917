# A number that does not parse.
want_rc=2 want_msg='train.lr'
case_run() {
	mkclasses data 12; small
	pl --set train.lr=0.0l
}
