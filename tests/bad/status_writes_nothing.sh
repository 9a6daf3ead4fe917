# status on a workspace not made yet writes nothing (not even the memo of
# the input hashes), and says why prepare cannot tell its inputs.
want_rc=0 want_msg="does not exist yet" want_out="never run"
case_run() {
	mkclasses data 12; small
	"$PIPELINE" status --workspace newws --config small.ini; r=$?
	[ ! -e newws ] || { echo "newws was made" >&2; return 97; }
	printf '[prepare]\nsize = 16\n' >nosrc.ini
	"$PIPELINE" status --workspace newws --config nosrc.ini | grep -q "never run: no data source" ||
		{ echo "no reason given without a source" >&2; return 98; }
	return $r
}
