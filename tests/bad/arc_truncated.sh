# A truncated tar.gz source.
want_rc=1 want_msg='src.tar.gz'
case_run() {
	mkclasses data 12; evil_tar src.tar.gz ''
	head -c 700 src.tar.gz >t && mv t src.tar.gz
	small "$PWD/src.tar.gz"; pl
}
