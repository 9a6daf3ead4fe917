# An unknown section.
want_rc=2 want_msg='trian'
case_run() {
	mkclasses data 12; small; printf '[trian]\nepochs = 2\n' >>small.ini
	pl
}
