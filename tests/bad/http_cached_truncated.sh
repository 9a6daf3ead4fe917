# A cached download cut short after the fact (its .done marker kept): the
# next run finds it does not extract, drops it and downloads it again.
want_rc=0 want_msg='downloading it again'
case_run() {
	mkclasses data 12; evil_tar src.tar.gz ''
	serve_http "$PWD" log.txt
	small "http://127.0.0.1:$port/src.tar.gz"; pl >/dev/null 2>&1 || return 97
	cached=$(ls ws/downloads/*src.tar.gz)
	head -c 700 "$cached" >cut && cp cut "$cached"
	pl --force prepare; r=$?
	[ "$(grep -c 'GET /src.tar.gz' log.txt)" -eq 2 ] || { echo "not downloaded again" >&2; return 98; }
	return $r
}
