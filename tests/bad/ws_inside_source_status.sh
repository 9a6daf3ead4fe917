# A workspace not made yet, inside the directory source: a dry run refuses
# it as run does; status shows why prepare cannot run; neither writes
# anything into the data.
want_rc=2 want_msg="workspace 'data/ws' is inside the source directory"
case_run() {
	mkclasses data 12; small
	"$PIPELINE" status --workspace data/ws --config small.ini | grep -q "inside the source" ||
		{ echo "status does not say why" >&2; return 98; }
	[ ! -e data/ws ] || { echo "status made data/ws" >&2; return 97; }
	"$PIPELINE" run --workspace data/ws --config small.ini --dry-run; r=$?
	[ ! -e data/ws ] || { echo "the dry run made data/ws" >&2; return 96; }
	return $r
}
