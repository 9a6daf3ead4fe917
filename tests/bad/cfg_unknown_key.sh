# An unknown key: exit 2 naming file, line and key.
want_rc=2 want_msg='colour'
case_run() {
	mkclasses data 12; small; printf '[train]\ncolour = blue\n' >>small.ini
	pl
}
