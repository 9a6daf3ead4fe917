# WS/.lock is a symbolic link to a file outside the workspace: a clear
# error, and the file it points to is left as it was.
want_rc=2 want_msg='is a symbolic link'
case_run() {
	mkclasses data 12; small
	echo precious >victim.txt
	mkdir ws; ln -s ../victim.txt ws/.lock
	pl; r=$?
	[ "$(cat victim.txt)" = precious ] || { echo "victim.txt was written: $(cat victim.txt)" >&2; return 97; }
	return $r
}
