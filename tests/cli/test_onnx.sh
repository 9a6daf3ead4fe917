#!/bin/sh
# Every package holds model.onnx: python3-onnx's checker accepts it, and
# onnxruntime (npm's onnxruntime-node, installed once into a directory of
# the build tree) gives the probabilities of `pipeline predict` within 1e-4
# on 100 images, for nets that use every layer type of [model] layers
# (conv with stride and pad, bn after conv and after dense, relu, maxpool
# with stride, avgpool, gap, dropout, dense), gray and RGB.
root=${PL_ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}
. "$root/tests/cli/lib.sh"
py=/usr/bin/python3
P=$PIPELINE
npm_dir=$(cd "$(dirname "$P")" && pwd)/test-npm

# onnxruntime-node, only when missing; no network is the one reason to skip
have_ort=1
if [ ! -d "$npm_dir/node_modules/onnxruntime-node" ]; then
	mkdir -p "$npm_dir"
	if ! (cd "$npm_dir" && timeout 600 npm install --ignore-scripts --no-audit --no-fund \
		onnxruntime-node >npm.log 2>&1); then
		if grep -q -E 'ENOTFOUND|ECONNREFUSED|ETIMEDOUT|EAI_AGAIN|network' "$npm_dir/npm.log"; then
			echo "test_onnx: SKIPPING the onnxruntime checks: npm has no network ($(grep -m1 -E 'ENOTFOUND|ECONNREFUSED|ETIMEDOUT|EAI_AGAIN|network' "$npm_dir/npm.log"))"
			have_ort=0
		else
			fail "npm install onnxruntime-node: $(tail -n 5 "$npm_dir/npm.log")"
			have_ort=0
		fi
	fi
fi

# A 3-class set in gray and RGB, 16x16, and 100 probe images of each.
"$py" - <<'EOF'
import os, random
from PIL import Image
random.seed(5)
def noisy(mode, base):
    im = Image.new(mode, (16, 16))
    if mode == "L":
        im.putdata([max(0, min(255, base + random.randint(-70, 70))) for _ in range(256)])
    else:
        im.putdata([tuple(max(0, min(255, b + random.randint(-70, 70))) for b in base) for _ in range(256)])
    return im
for mode, bases in (("L", [50, 128, 200]), ("RGB", [(200, 40, 40), (40, 200, 40), (40, 40, 200)])):
    for k, base in enumerate(bases):
        os.makedirs("%s/data/c%d" % (mode, k))
        for i in range(30):
            noisy(mode, base).save("%s/data/c%d/%02d.png" % (mode, k, i))
    os.makedirs("%s/probe" % mode)
    for i in range(100):
        noisy(mode, bases[i % 3]).save("%s/probe/%03d.png" % (mode, i))
EOF

# check_net NAME MODE LAYERS: builds the package, checks its model.onnx
check_net() {
	name=$1 mode=$2 layers=$3
	printf '[dataset]\nsource = %s/data\n[prepare]\nsize = 16\n[model]\nlayers = %s\n[train]\nepochs = 2\nthreads = 1\n[package]\nname = %s\n' \
		"$mode" "$layers" "$name" >"$name.ini"
	run "$P" run --workspace "ws-$name" --config "$name.ini" --quiet
	expect_rc "$name: package" 0
	mkdir -p "$name"
	tar -xf "ws-$name/package/$name-1.0.0.tar.zst" -C "$name" model.onnx MANIFEST.json
	check "$name: model.onnx in the package" test -s "$name/model.onnx"
	expect_in "$name: model.onnx in the manifest" "$name/MANIFEST.json" '"model.onnx"'
	run "$py" -c "
import json, sys, onnx
m = onnx.load(sys.argv[1])
onnx.checker.check_model(m, full_check=True)
props = {p.key: p.value for p in m.metadata_props}
assert m.opset_import[0].version == 13, m.opset_import
assert [i.name for i in m.graph.input] == ['input'] and [o.name for o in m.graph.output] == ['probabilities']
assert json.loads(props['classes']) == ['c0', 'c1', 'c2'], props
print(' '.join(n.op_type for n in m.graph.node))" "$name/model.onnx"
	expect_rc "$name: onnx checker" 0
	cp out.txt "$name/ops.txt"
	"$P" predict --package "ws-$name/package/$name-1.0.0.tar.zst" "$mode/probe" >"$name/predict.jsonl"
	[ "$have_ort" = 1 ] || return 0
	"$py" - "$mode" "$name/input.json" <<'EOF'
import glob, json, sys
from PIL import Image
files = sorted(glob.glob(sys.argv[1] + "/probe/*.png"))
data = []
for f in files:
    im = Image.open(f)
    c = len(im.getbands())
    px = list(im.getdata())
    for ch in range(c):
        data += [(p[ch] if c > 1 else p) / 255.0 for p in px]
json.dump({"dims": [len(files), c, 16, 16], "data": data}, open(sys.argv[2], "w"))
EOF
	NODE_PATH=$npm_dir/node_modules run node "$root/tests/cli/onnx_run.js" "$name/model.onnx" "$name/input.json"
	expect_rc "$name: onnxruntime runs it" 0
	cp out.txt "$name/ort.json"
	run "$py" -c "
import json, sys
rows = json.load(open(sys.argv[1]))
want = [json.loads(l) for l in open(sys.argv[2])]
assert len(rows) == len(want) == 100, (len(rows), len(want))
worst = 0
for r, w in zip(rows, want):
    for k, c in enumerate(sorted(w['scores'])):
        worst = max(worst, abs(r[k] - w['scores'][c]))
print('largest difference %.2g' % worst)
sys.exit(worst > 1e-4)" "$name/ort.json" "$name/predict.jsonl"
	expect_rc "$name: onnxruntime equals predict within 1e-4 on 100 images ($(cat out.txt))" 0
}

check_net gray L "conv 4 3 pad 1, bn, relu, maxpool 2, conv 6 3 stride 2 pad 1, relu, avgpool 2 stride 1, dropout 0.3, dense 8, bn, relu, dense"
for op in Sub Div Conv BatchNormalization Relu MaxPool AveragePool Flatten Gemm Softmax; do
	expect_in "gray: $op node" gray/ops.txt "$op"
done
check_net rgb RGB "conv 5 3, relu, maxpool 3 stride 2, bn, gap, dense"
expect_in "rgb: GlobalAveragePool node" rgb/ops.txt "GlobalAveragePool"

finish
