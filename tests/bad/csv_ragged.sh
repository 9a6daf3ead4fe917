# A row with more cells than the header.
want_rc=1 want_msg='t.csv'
case_run() {
	mktable 'L[5] = L[5] + ",extra,cells"'
	pl
}
