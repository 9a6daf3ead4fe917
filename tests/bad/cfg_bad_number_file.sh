# A number that does not parse, in the file: names file, line and key.
want_rc=2 want_msg='small.ini'
case_run() {
	mkclasses data 12; small; printf '[train]\nmomentum = 0,9\n' >>small.ini
	pl
}
