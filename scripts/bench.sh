#!/bin/sh
# `make bench`: pipeline against the stack it replaces, each comparison run
# alternately in one invocation, medians and ratios printed side by side
# (figures, never asserted). Sections: 1 nn vs PyTorch, 2 prepare on 10
# plates, 3 no-op rerun, 4 predict cold start, 5 the whole demo; then a
# summary. Sections 3-5 share one demo workspace made by one `pipeline run`.
# Usage: scripts/bench.sh   (env B = build directory, default build)
set -eu
. "$(dirname "$0")/../tests/bench/lib.sh"
build_pipeline
BENCH_TMP=$(mktemp -d)
trap 'rm -rf "$BENCH_TMP"' EXIT
trap 'exit 130' INT TERM
BENCH_WS=$BENCH_TMP/demo
BENCH_SUMMARY=$BENCH_TMP/summary.txt
export B PIPELINE BENCH_TMP BENCH_WS BENCH_SUMMARY
start=$(date +%s)
echo "pipeline benchmarks on $(nproc) cores, $(date -u +%Y-%m-%dT%H:%M:%SZ); $("$PIPELINE" --version 2>&1 | head -n 1)"
echo "(the machine's speed drifts: each comparison alternates its sides; read the medians and ratios)"

section "1. nn vs PyTorch (scripts/bench-nn.sh)"
scripts/bench-nn.sh | tee "$BENCH_TMP/nn.out"
nn_row() {
	line=$(grep "^$1 " "$BENCH_TMP/nn.out" | head -n 1) || true
	set -- $line
	if [ $# -ge 11 ]; then
		summary_row "nn $1 img/s (batch ${3%):})" "$5" "$8 (PyTorch)" "nn/torch $11"
	elif [ -n "$line" ]; then
		echo "$line" >>"$BENCH_SUMMARY"
	fi
}
nn_row training
nn_row inference

printf '\n## 2.'
scripts/bench-prepare.sh
printf '\n## 3.'
scripts/bench-pipeline.sh noop
printf '\n## 4.'
scripts/bench-predict.sh
printf '\n## 5.'
scripts/bench-pipeline.sh demo

section "summary (medians; bench took $(($(date +%s) - start)) s)"
printf '%-36s %-16s %-26s %s\n' "" pipeline "stack it replaces" comparison
cat "$BENCH_SUMMARY"
