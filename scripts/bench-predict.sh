#!/bin/sh
# Benchmarks predict's cold start: one 64x64 RGB crop (stains in G and B) on
# stdin, a fresh process each time, model load included - `pipeline predict
# --package` on the demo's package against the OpenFaaS-style Python function
# (tests/bench/baseline_predict.py: torch, a saved model of the same
# architecture, PIL), alternately; median and p90 (target < 20 ms).
# Usage: scripts/bench-predict.sh [ROUNDS]
#   (env B = build directory, BENCH_WS = a finished demo workspace to reuse)
set -eu
# shellcheck source=tests/bench/lib.sh
. "$(dirname "$0")/../tests/bench/lib.sh"
rounds=${1:-30}
build_pipeline
bench_tmp
section "predict cold start: one image on stdin, model load included (target < 20 ms)"
ensure_demo
dir="$tmp/predict"
mkdir -p "$dir"
pkg=$(ls "$BENCH_WS"/package/*.tar.zst)
"$PY" -c 'import sys
import numpy as np
from PIL import Image
r = np.random.default_rng(1)
a = np.zeros((64, 64, 3), np.uint8)
a[..., 1] = r.integers(0, 256, (64, 64))
a[..., 2] = r.integers(0, 256, (64, 64))
Image.fromarray(a).save(sys.argv[1])' "$dir/crop.png"
"$PY" tests/bench/baseline_predict.py --save "$dir/model.pt"
echo "package $(basename "$pkg") ($(($(stat -c %s "$pkg") / 1024)) KiB); torch model $(($(stat -c %s "$dir/model.pt") / 1024)) KiB"
echo "pipeline: $("$PIPELINE" predict --package "$pkg" <"$dir/crop.png")"
echo "python:   $("$PY" tests/bench/baseline_predict.py "$dir/model.pt" <"$dir/crop.png")"
alt -n "$rounds" --warmup 1 --stdin "$dir/crop.png" --summary "$dir/t.tsv" --section predict \
	"pipeline predict" "$PIPELINE predict --package $pkg" \
	"python torch function" "$PY tests/bench/baseline_predict.py $dir/model.pt"
p=$(med "pipeline predict" "$dir/t.tsv"); b=$(med "python torch function" "$dir/t.tsv")
summary_row "predict cold start, median (p90)" "$(ms "$p") ($(ms "$(p90 "pipeline predict" "$dir/t.tsv")" | sed 's/ ms//'))" \
	"$(ms "$b") (torch)" "$(ratio "$p" "$b") faster"
