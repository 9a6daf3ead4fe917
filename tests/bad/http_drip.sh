# A server sending one byte per second: below the low-speed limit (1 KiB/s,
# here for [dataset] stall_seconds = 1). It ignores the resume request, so
# each of the [dataset] attempts (here 4) starts over; then a temporary
# failure, exit 75.
want_rc=75 want_msg='download failed after 4 attempts, the last: operation too slow'
case_run() {
	mkclasses data 12; evil_tar src.tar.gz ''
	serve_http "$PWD" log.txt
	small "http://127.0.0.1:$port/drip/src.tar.gz"
	pl --set dataset.stall_seconds=1 --set dataset.attempts=4
}
