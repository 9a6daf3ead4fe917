# A source path that does not exist.
want_rc=2 want_msg='nothere'
case_run() {
	small "$PWD/nothere"
	pl
}
