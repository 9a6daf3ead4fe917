# The table has no label column: names the table and the missing column.
want_rc=1 want_msg="no label column 'label'"
case_run() {
	mktable 'L = [l.split(",")[0] for l in L]'
	pl
}
