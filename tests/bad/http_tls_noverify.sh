# The same self-signed server with dataset.tls_verify=false: works.
want_rc=0
case_run() {
	openssl req -x509 -newkey rsa:2048 -nodes -keyout key.pem -out cert.pem -days 1 -subj /CN=127.0.0.1 >/dev/null 2>&1
	mkclasses data 12; evil_tar src.tar.gz ''
	serve_http "$PWD" log.txt cert.pem key.pem
	small "https://127.0.0.1:$port/src.tar.gz"; pl --set dataset.tls_verify=false
}
