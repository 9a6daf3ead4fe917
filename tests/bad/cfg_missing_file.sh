# --config naming a file that does not exist.
want_rc=2 want_msg='nope.ini'
case_run() {
	"$PIPELINE" run --workspace ws --config nope.ini
}
