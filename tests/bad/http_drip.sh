# A server sending one byte per second: below the low-speed limit (1 KiB/s
# for 30 s, not configurable), retried 5 times: about 150 s. Only with
# BAD_SLOW=1; expected exit 75.
want_rc=75 want_msg='127.0.0.1'
case_run() {
	[ -n "${BAD_SLOW:-}" ] || { skip "slow drip takes about 150 s (no config key for the low-speed limit or attempts); set BAD_SLOW=1"; return 0; }
	mkclasses data 12; evil_tar src.tar.gz ''
	serve_http "$PWD" log.txt
	small "http://127.0.0.1:$port/drip/src.tar.gz"; pl
}
