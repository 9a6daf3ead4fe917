# A workspace inside the directory source: refused (it would read its own
# plots as a class), naming both paths; nothing trained.
want_rc=2 want_msg="workspace 'data/ws' is inside the source directory"
case_run() {
	mkclasses data 12; small
	"$PIPELINE" run --workspace data/ws --config small.ini; r=$?
	[ ! -e data/ws/train ] || { echo "trained anyway" >&2; return 97; }
	return $r
}
