# A hardlink entry to a file outside the extraction directory: refused.
want_rc=1 want_msg='hard'
case_run() {
	mkclasses data 12; echo secret >secret.txt
	evil_tar src.tar.gz "add('data/hard', type=tarfile.LNKTYPE, linkname='$PWD/secret.txt')"
	small "$PWD/src.tar.gz"; pl
}
