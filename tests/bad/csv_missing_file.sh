# A row names an image that does not exist: names the file (and the row).
want_rc=1 want_msg='img/999.png'
case_run() {
	mktable 'L.append("img/999.png,a")'
	pl
}
