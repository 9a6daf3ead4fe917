# WS/.lock is a hard link to a file outside the workspace: not truncated.
want_rc=2 want_msg='linked from elsewhere'
case_run() {
	mkclasses data 12; small
	echo precious >victim.txt
	mkdir ws; ln victim.txt ws/.lock
	pl; r=$?
	[ "$(cat victim.txt)" = precious ] || { echo "victim.txt was written: $(cat victim.txt)" >&2; return 97; }
	return $r
}
