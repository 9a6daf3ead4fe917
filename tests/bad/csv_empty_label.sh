# A row with an empty label value (labels are free text: every distinct
# non-empty value is a class; an empty one is an error naming the row).
want_rc=1 want_msg='t.csv'
case_run() {
	mktable 'L[3] = L[3].split(",")[0] + ","'
	pl
}
