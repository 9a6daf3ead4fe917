# A PNG declaring 100000x100000 pixels (a valid header, no data): refused by
# the pixel limit before any allocation, naming the file.
want_rc=1 want_msg='huge.png'
case_run() {
	mkclasses data 12; small
	png_header data/a/huge.png 100000 100000
	pl
}
