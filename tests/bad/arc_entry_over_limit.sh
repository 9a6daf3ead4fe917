# An entry larger than the extraction limit (dataset.max_archive_gb=0.001, 1 MiB).
want_rc=1 want_msg='big.bin'
case_run() {
	mkclasses data 12
	evil_tar src.tar.gz "add('data/big.bin', bytes(3 << 20))"
	small "$PWD/src.tar.gz"; pl --set dataset.max_archive_gb=0.001
}
