# CRLF line ends (a table saved on Windows): must work, labels without "\r".
want_rc=0
case_run() {
	mktable 'nl = "\r\n"'
	pl && ! grep -q "$(printf '\r')" ws/prepare/labels.txt
}
