# Many entries: 20000 empty files next to the images. The entry limit
# (1,000,000) has no configuration key, so only "many but allowed" is
# checked: it must work.
want_rc=0
case_run() {
	mkclasses data 12
	evil_tar src.tar.gz "[add('data/junk/%05d.txt' % i, b'') for i in range(20000)]"
	small "$PWD/src.tar.gz"; pl
}
