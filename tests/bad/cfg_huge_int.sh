# An integer beyond every range.
want_rc=2 want_msg='epochs'
case_run() {
	mkclasses data 12; small
	pl --set train.epochs=99999999999999999999999
}
