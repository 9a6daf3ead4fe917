# An https URL on a port that speaks plain HTTP: a configuration error
# (exit 2) at once, naming the URL; not retried as a temporary failure.
want_rc=2 want_msg='does not speak TLS'
case_run() {
	mkclasses data 12; evil_tar src.tar.gz ''
	serve_http "$PWD" log.txt
	small "https://127.0.0.1:$port/src.tar.gz"; pl 2>e.txt; r=$?
	cat e.txt >&2
	grep -q "https://127.0.0.1:$port/src.tar.gz" e.txt || { echo "URL not named" >&2; return 97; }
	! grep -q 'retrying' e.txt || { echo "retried" >&2; return 98; }
	return $r
}
