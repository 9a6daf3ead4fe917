# dataset.on_bad_image=skip: a corrupt PNG is skipped and counted, the run works.
want_rc=0
case_run() {
	mkclasses data 12; small
	printf 'not a png at all' >data/a/001.png
	pl --set dataset.on_bad_image=skip
}
