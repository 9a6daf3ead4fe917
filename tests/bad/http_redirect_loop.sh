# A redirect loop: stops after a bounded number of redirects with a clear error.
want_rc=1 want_msg='redirect'
case_run() {
	serve_http "$PWD" log.txt
	small "http://127.0.0.1:$port/redirect-loop"; pl
}
