# An archive entry with an absolute path: refused, nothing written there.
want_rc=1 want_msg='abs-escape'
case_run() {
	mkclasses data 12
	evil_tar src.tar.gz "add('$PWD/abs-escape.txt')"
	small "$PWD/src.tar.gz"; pl; r=$?
	[ ! -e abs-escape.txt ] || { echo "escaped" >&2; return 99; }
	return $r
}
