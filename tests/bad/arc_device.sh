# A character device entry: refused, no device node created.
want_rc=1 want_msg='dev'
case_run() {
	mkclasses data 12
	evil_tar src.tar.gz "add('data/a/dev', type=tarfile.CHRTYPE, devmajor=1, devminor=3)"
	small "$PWD/src.tar.gz"; pl; r=$?
	[ -z "$(find ws -type c 2>/dev/null)" ] || { echo "device created" >&2; return 99; }
	return $r
}
