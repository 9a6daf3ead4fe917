# The same row twice: must work (the sample is used once or twice, not a crash).
want_rc=0
case_run() {
	mktable 'L.append(L[1]); L.append(L[2])'
	pl
}
