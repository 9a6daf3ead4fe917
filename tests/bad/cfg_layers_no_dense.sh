# A network without a final dense layer cannot classify: the config file's
# line is named, and nothing runs.
want_rc=2 want_msg="small.ini:6: [model] layers: layer 2 'relu': the network ends with 4x14x14 outputs, not one per class"
case_run() {
	mkclasses data 12; small
	sed -i 's/^layers *=.*/layers = conv 4 3, relu/' small.ini
	pl
	rc=$?
	[ ! -e ws/prepare ] || { echo "prepare ran before the layers were checked" >&2; return 99; }
	return $rc
}
