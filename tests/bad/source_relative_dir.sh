# dataset.source as a relative directory name without a slash ("data") must
# work like any directory source (a crash here was a bug in source.c obtain).
want_rc=0
case_run() {
	mkclasses data 12; small data
	pl
}
