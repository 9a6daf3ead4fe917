# A source inside the workspace (other than downloads/): refused, naming
# both paths.
want_rc=2 want_msg="is inside the workspace 'ws'"
case_run() {
	mkdir ws; mkclasses ws/mydata 12; small "$PWD/ws/mydata"
	pl
}
