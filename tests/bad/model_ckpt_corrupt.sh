# A training checkpoint damaged on disk (in .tmp, where it is never
# trusted): a rerun with more epochs must either resume from a good state or
# start over, never crash or use garbage; it must complete.
want_rc=0
case_run() {
	mkclasses data 12; small
	pl --set train.epochs=2 >/dev/null 2>&1 || return 90
	for f in $(find ws -name '*.ckpt'); do printf 'garbage' | dd of="$f" bs=1 seek=100 conv=notrunc 2>/dev/null; done
	pl --set train.epochs=3
}
