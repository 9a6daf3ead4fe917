# A server sending one byte per second: below the low-speed limit (1 KiB/s
# for 30 s; neither it nor the attempts are configurable), retried: a
# temporary failure, exit 75, after about 100 s. Only with BAD_SLOW=1.
want_rc=75 want_msg='too slow'
case_run() {
	[ -n "${BAD_SLOW:-}" ] || { skip "slow drip takes about 100 s (no config key for the low-speed limit or attempts); set BAD_SLOW=1"; return 0; }
	mkclasses data 12; evil_tar src.tar.gz ''
	serve_http "$PWD" log.txt
	small "http://127.0.0.1:$port/drip/src.tar.gz"; pl
}
