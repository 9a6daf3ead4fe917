# A PNG declaring 0x0 pixels.
want_rc=1 want_msg='zero.png'
case_run() {
	mkclasses data 12; small
	png_header data/a/zero.png 0 0
	pl
}
