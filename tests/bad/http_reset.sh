# The server resets the connection without answering: retried, then exit 75.
want_rc=75 want_msg='127.0.0.1'
case_run() {
	serve_http "$PWD" log.txt
	small "http://127.0.0.1:$port/reset"; pl
}
