# https to a server with a self-signed certificate: refused (exit 1, the
# certificate named), unless dataset.tls_verify=false.
want_rc=1 want_msg='certificate'
case_run() {
	openssl req -x509 -newkey rsa:2048 -nodes -keyout key.pem -out cert.pem -days 1 -subj /CN=127.0.0.1 >/dev/null 2>&1
	mkclasses data 12; evil_tar src.tar.gz ''
	serve_http "$PWD" log.txt cert.pem key.pem
	small "https://127.0.0.1:$port/src.tar.gz"; pl
}
