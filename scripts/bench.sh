#!/bin/sh
# `make bench`: pipeline against the stack it replaces, each comparison run
# alternately in one invocation, medians and ratios printed side by side
# (figures, never asserted). Sections: 1 nn vs PyTorch, 2 prepare on 10
# plates, 3 no-op rerun, 4 predict cold start, 5 the whole demo, 6 prepare
# on ImageNet- and Fashion-MNIST-shaped sets, 7 serving over HTTP, 8
# training over MPI ranks, 9 fleet predict jobs against a redis-py consumer;
# then a summary. Sections 3-5, 7 and 9 share one demo workspace made by one
# `pipeline run`.
# A failed section is reported and the others still run.
# Usage: scripts/bench.sh   (env B = build directory, default build)
set -eu
# shellcheck source=tests/bench/lib.sh
. "$(dirname "$0")/../tests/bench/lib.sh"
build_pipeline
BENCH_BUILT=1
BENCH_TMP=$(mktemp -d)
trap 'rm -rf "$BENCH_TMP"' EXIT
trap 'exit 130' INT TERM
BENCH_WS=$BENCH_TMP/demo
BENCH_SUMMARY=$BENCH_TMP/summary.txt
export B PIPELINE BENCH_BUILT BENCH_TMP BENCH_WS BENCH_SUMMARY
start=$(date +%s)
failed=""

# run_section N COMMAND...: one numbered section.
run_section() {
	n=$1
	shift
	BENCH_SECTION="$n. " "$@" || { echo "bench: section $n failed (exit $?)" >&2; failed="$failed $n"; }
}

# The nn section: scripts/bench-nn.sh, its two comparison lines summarised.
nn_section() {
	section "nn vs PyTorch (scripts/bench-nn.sh)"
	{ scripts/bench-nn.sh 2>&1 && echo 0 >"$BENCH_TMP/nn.rc" || echo $? >"$BENCH_TMP/nn.rc"; } | tee "$BENCH_TMP/nn.out"
	rc=$(cat "$BENCH_TMP/nn.rc")
	for what in training inference demo-training demo-inference; do
		line=$(grep "^$what " "$BENCH_TMP/nn.out" | head -n 1)
		[ -n "$line" ] || continue
		# shellcheck disable=SC2086
		set -- $line
		if [ $# -ge 11 ]; then
			summary_row "nn $1 img/s (batch ${3%):})" "$5" "$8 (PyTorch)" "nn/torch ${11}"
		else
			echo "$line" >>"$BENCH_SUMMARY"
		fi
	done
	return "$rc"
}

echo "pipeline benchmarks on $(nproc) cores, $(date -u +%Y-%m-%dT%H:%M:%SZ); $("$PIPELINE" --version 2>&1 | head -n 1)"
echo "(the machine's speed drifts: each comparison alternates its sides; read medians and ratios)"
BENCH_SECTION="1. "
nn_section || { echo "bench: section 1 failed" >&2; failed="$failed 1"; }
BENCH_SECTION=""  # the sections below number themselves through run_section
run_section 2 scripts/bench-prepare.sh
run_section 3 scripts/bench-pipeline.sh noop
run_section 4 scripts/bench-predict.sh
run_section 5 scripts/bench-pipeline.sh demo
run_section 6 scripts/bench-data.sh
run_section 7 scripts/bench-serve.sh
run_section 8 scripts/bench-mpi.sh
run_section 9 scripts/bench-fleet.sh

section "summary (medians; bench took $(($(date +%s) - start)) s)"
printf '%-36s %-16s %-26s %s\n' "" pipeline "stack it replaces" comparison
[ ! -f "$BENCH_SUMMARY" ] || cat "$BENCH_SUMMARY"
[ -z "$failed" ] || echo "failed sections:$failed"
