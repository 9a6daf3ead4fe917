# A network without a final dense layer cannot classify.
want_rc=2 want_msg='layers'
case_run() {
	mkclasses data 12; small
	pl --set 'model.layers=conv 4 3, relu'
}
