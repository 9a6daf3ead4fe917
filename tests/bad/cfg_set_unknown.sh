# --set of an unknown key.
want_rc=2 want_msg="unknown key 'colour'"
case_run() {
	mkclasses data 12; small
	pl --set train.colour=blue
}
