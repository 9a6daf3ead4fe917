# The same key twice in one section: an error naming the key (not a silent last-wins).
want_rc=2 want_msg='epochs'
case_run() {
	mkclasses data 12; small; printf '[train]\nepochs = 2\n' >>small.ini
	pl
}
