# The first download is an HTML error page saved under the archive's name:
# it does not extract, so it is dropped and fetched again once; the second
# copy is the archive and the run succeeds.
want_rc=0 want_msg='HTML page'
case_run() {
	mkclasses data 12; evil_tar src.tar.gz ''
	serve_http "$PWD" log.txt
	small "http://127.0.0.1:$port/htmlonce/src.tar.gz"; pl; r=$?
	[ "$(grep -c 'GET /htmlonce/src.tar.gz' log.txt)" -eq 2 ] || { echo "not fetched twice" >&2; return 98; }
	return $r
}
