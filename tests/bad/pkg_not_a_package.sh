# predict --package on a file that is not a package.
want_rc=1 want_msg='junk.tar.zst'
case_run() {
	head -c 1000 /dev/urandom >junk.tar.zst
	"$PIPELINE" predict --package junk.tar.zst
}
