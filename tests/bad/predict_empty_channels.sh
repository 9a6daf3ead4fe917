# predict --channels with no file in the list: a usage error, exit 2.
want_rc=2 want_msg="--channels ',' names no file"
case_run() {
	mkpackage || return 90
	"$PIPELINE" predict --package "$pkg" --channels ,
}
