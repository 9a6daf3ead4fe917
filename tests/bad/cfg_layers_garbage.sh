# [model] layers = conv x: exit 2 naming the key and the bad layer.
want_rc=2 want_msg='conv x'
case_run() {
	mkclasses data 12; small
	pl --set 'model.layers=conv x'
}
