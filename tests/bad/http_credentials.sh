# Credentials in the source URL (user:secret@) never appear in stderr,
# stage.json or status output, on success and on a 404.
want_rc=0
case_run() {
	mkclasses data 12; evil_tar src.tar.gz ''
	serve_http "$PWD" log.txt
	small "http://user:s3cr3tpw@127.0.0.1:$port/src.tar.gz"
	pl >o1 2>e1 || { cat e1 >&2; return 1; }
	"$PIPELINE" status --workspace ws --config small.ini >o2 2>e2
	"$PIPELINE" status --workspace ws --config small.ini --json >o3 2>e3
	small "http://user:s3cr3tpw@127.0.0.1:$port/404"; pl --force all >o4 2>e4
	if grep -r -l s3cr3tpw o1 e1 o2 e2 o3 e3 o4 e4 ws/*/stage.json ws/.status >&2; then
		echo "the password leaked into the files above" >&2; return 1
	fi
	return 0
}
