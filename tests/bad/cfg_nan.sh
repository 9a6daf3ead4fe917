# NaN as a learning rate.
want_rc=2 want_msg='lr'
case_run() {
	mkclasses data 12; small
	pl --set train.lr=nan
}
