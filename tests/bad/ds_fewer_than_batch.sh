# Fewer samples than one batch (24 images, 16 for training, batch 64): must work.
want_rc=0
case_run() {
	mkclasses data 12; small
	pl --set train.batch=64
}
