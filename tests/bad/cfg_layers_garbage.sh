# [model] layers = conv x: exit 2 naming where the value came from, the key
# and the bad layer, before any stage runs.
want_rc=2 want_msg="--set: [model] layers: layer 1 'conv x': unexpected 'x'"
case_run() {
	mkclasses data 12; small
	pl --set 'model.layers=conv x'
	rc=$?
	[ ! -e ws/prepare ] || { echo "prepare ran before the layers were checked" >&2; return 99; }
	return $rc
}
