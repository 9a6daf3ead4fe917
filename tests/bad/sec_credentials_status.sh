# Credentials in an http URL given with --set never show up in stderr or in
# `pipeline status` text and JSON output after a failed run.
want_rc=0
case_run() {
	serve_http "$PWD" log.txt
	small
	pl --set "dataset.source=http://user:s3cr3tpw@127.0.0.1:$port/404" >o1 2>e1
	"$PIPELINE" status --workspace ws --config small.ini >o2 2>e2
	"$PIPELINE" status --workspace ws --config small.ini --json >o3 2>e3
	if grep -l s3cr3tpw o1 e1 o2 e2 o3 e3 >&2; then echo "leaked into the files above" >&2; return 1; fi
}
