# A UTF-8 BOM before the header: must work (the first column is "file", not "\ufefffile").
want_rc=0
case_run() {
	mktable 'enc = "utf-8-sig"'
	pl
}
