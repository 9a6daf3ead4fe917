# Every download is an HTML error page: fetched twice (once again after the
# first does not extract), then a clear error saying it is an HTML page.
want_rc=1 want_msg='is an HTML page, not an archive'
case_run() {
	serve_http "$PWD" log.txt
	small "http://127.0.0.1:$port/html/src.tar.gz"; pl; r=$?
	[ "$(grep -c 'GET /html/src.tar.gz' log.txt)" -eq 2 ] || { echo "not fetched exactly twice" >&2; return 98; }
	return $r
}
