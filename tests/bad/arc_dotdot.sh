# An archive entry "data/../../escape.txt": refused, nothing lands outside.
want_rc=1 want_msg='../../escape.txt'
case_run() {
	mkclasses data 12
	evil_tar src.tar.gz 'add("data/../../escape.txt")'
	small "$PWD/src.tar.gz"; pl; r=$?
	[ ! -e escape.txt ] && [ ! -e ws/escape.txt ] || { echo "escaped" >&2; return 99; }
	return $r
}
