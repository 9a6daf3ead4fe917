# A symlink entry pointing outside the extraction directory, then a file
# written through it: refused, nothing lands outside.
want_rc=1 want_msg='link'
case_run() {
	mkclasses data 12; mkdir outside
	evil_tar src.tar.gz "add('data/link', type=tarfile.SYMTYPE, linkname='$PWD/outside'); add('data/link/pwned.txt')"
	small "$PWD/src.tar.gz"; pl; r=$?
	[ ! -e outside/pwned.txt ] || { echo "escaped" >&2; return 99; }
	return $r
}
