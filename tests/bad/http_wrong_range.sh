# A download cut off halfway whose resume request is answered with a 206
# for the wrong range (Content-Range from 0, the whole file): the partial
# file is thrown away and the file fetched from the start; the run succeeds.
want_rc=0 want_msg='downloading from the start'
case_run() {
	mkclasses data 12; evil_tar src.tar.gz ''
	serve_http "$PWD" log.txt
	small "http://127.0.0.1:$port/badrange/src.tar.gz"; pl; r=$?
	grep -q 'range=bytes=' log.txt || { echo "no resume request was made" >&2; return 98; }
	return $r
}
