# An http source answering 404: fails at once (no retries), exit 1, naming the URL and status.
want_rc=1 want_msg='404'
case_run() {
	serve_http "$PWD" log.txt
	small "http://127.0.0.1:$port/404"; pl
}
