# dataset.sha256 that does not match the archive: names both hashes.
want_rc=1 want_msg='sha256'
case_run() {
	mkclasses data 12; evil_tar src.tar.gz ''
	small "$PWD/src.tar.gz"
	pl --set dataset.sha256=0000000000000000000000000000000000000000000000000000000000000000
}
