# A server sending one byte per second: below the low-speed limit (1 KiB/s,
# here for [dataset] stall_seconds = 2), retried ([dataset] attempts = 2),
# then a temporary failure, exit 75.
want_rc=75 want_msg='download failed after 2 attempts, the last: operation too slow'
case_run() {
	mkclasses data 12; evil_tar src.tar.gz ''
	serve_http "$PWD" log.txt
	small "http://127.0.0.1:$port/drip/src.tar.gz"
	pl --set dataset.stall_seconds=2 --set dataset.attempts=2
}
