# dataset.source as a relative archive name without a slash.
want_rc=0
case_run() {
	mkclasses data 12; tar czf data.tar.gz data; rm -rf data; small data.tar.gz
	pl
}
