#!/bin/sh
# Benchmarks predict's cold start: one 64x64 RGB crop (stains in G and B) on
# stdin, a fresh process each time, model load included - `pipeline predict
# --package` on the demo's package against the OpenFaaS-style Python function
# (tests/bench/baseline_predict.py: torch, a saved model of the same
# architecture, PIL), alternately; median and p90 (target < 20 ms). In the
# same alternation: one demo well as its two channel BMPs (16 tiles), and one
# 28x28 gray PNG with a small package trained here on 28x28 gray images.
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
"$PIPELINE" synth --out "$dir/" >/dev/null 2>&1
well="--channels $dir/plate/images/A01_nuclei.bmp,$dir/plate/images/A01_nfkb.bmp"
# the 28x28 package: 80 gray shapes in two class folders, a small net
"$PY" - "$dir/gray28" <<'EOF'
import os, random, sys
from PIL import Image, ImageDraw
rnd = random.Random(7)
for cls in ("circle", "square"):
    d = os.path.join(sys.argv[1], cls)
    os.makedirs(d, exist_ok=True)
    for i in range(40):
        im = Image.new("L", (28, 28), rnd.randint(0, 30))
        r = rnd.randint(6, 9)
        x, y = rnd.randint(r + 1, 27 - r), rnd.randint(r + 1, 27 - r)
        draw = ImageDraw.Draw(im).ellipse if cls == "circle" else ImageDraw.Draw(im).rectangle
        draw((x - r, y - r, x + r, y + r), fill=rnd.randint(200, 255))
        im.save(os.path.join(d, "%s%02d.png" % (cls, i)))
EOF
printf '[dataset]\nsource = %s\n[prepare]\nsize = 28\n[model]\nlayers = %s\n[train]\nepochs = 4\nbatch = 16\noptimizer = adam\nlr = 0.003\n[validate]\nmin_metric = accuracy\nmin_value = 0.5\n[package]\nname = gray28\n' \
	"$dir/gray28" "conv 8 3 pad 1, relu, maxpool 2, conv 16 3 pad 1, relu, maxpool 2, dense 32, relu, dense" >"$dir/gray28.ini"
"$PIPELINE" run --workspace "$dir/ws28" --config "$dir/gray28.ini" --quiet
pkg28=$dir/ws28/package/gray28-1.0.0.tar.zst
img28=$dir/gray28/circle/circle00.png
echo "package $(basename "$pkg") ($(($(stat -c %s "$pkg") / 1024)) KiB); torch model $(($(stat -c %s "$dir/model.pt") / 1024)) KiB"
echo "pipeline: $("$PIPELINE" predict --package "$pkg" <"$dir/crop.png")"
echo "python:   $("$PY" tests/bench/baseline_predict.py "$dir/model.pt" <"$dir/crop.png")"
# shellcheck disable=SC2086
echo "well:     $("$PIPELINE" predict --package "$pkg" $well)"
echo "28x28:    $("$PIPELINE" predict --package "$pkg28" "$img28")"
alt -n "$rounds" --warmup 1 --stdin "$dir/crop.png" --summary "$dir/t.tsv" --section predict \
	"pipeline predict" "$PIPELINE predict --package $pkg" \
	"python torch function" "$PY tests/bench/baseline_predict.py $dir/model.pt" \
	"pipeline predict, demo well" "$PIPELINE predict --package $pkg $well" \
	"pipeline predict, 28x28" "$PIPELINE predict --package $pkg28 $img28"
p=$(med "pipeline predict" "$dir/t.tsv"); b=$(med "python torch function" "$dir/t.tsv")
summary_row "predict cold start, median (p90)" "$(ms "$p") ($(ms "$(p90 "pipeline predict" "$dir/t.tsv")" | sed 's/ ms//'))" \
	"$(ms "$b") (torch)" "$(ratio "$p" "$b") faster"
for side in "demo well" 28x28; do
	t=$(med "pipeline predict, $side" "$dir/t.tsv")
	summary_row "predict cold start, $side" "$(ms "$t") (CPU $(ms "$(cpu "pipeline predict, $side" "$dir/t.tsv")" | sed 's/ ms//'))" \
		"" "target < 20 ms"
done
