#!/bin/sh
# docs/fashion-mnist.ini with a scaled-down epoch count on a generated
# Fashion-MNIST-shaped set (tests/bench/make_data.py: 28x28 gray PNGs in the
# 10 class folders; the real set is not in the repository): the run trains,
# validates past a gate well above chance and packages; predict on images
# kept out of training, scored by scripts/fashion-mnist.py, beats chance
# too; the script refuses a package of the wrong shape and a bad prediction
# line. The generated classes pair up (0 and 7, 1 and 8, 2 and 9 draw the
# same bright column), so about 0.7 is the best accuracy; chance is 0.1.
root=${PL_ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}
. "$root/tests/cli/lib.sh"
py=/usr/bin/python3
P=$PIPELINE
fm="$py $root/scripts/fashion-mnist.py"

# 4,000 images; those numbered 3500 and above are held out of the run
"$py" "$root/tests/bench/make_data.py" fmnist "$tmp" 4000
mkdir data held
tar -xzf fmnist-4000.tar.gz -C data
for d in data/fashion-mnist/*/; do
	c=$(basename "$d")
	mkdir "held/$c"
	for f in "$d"03[5-9]*.png; do mv "$f" "held/$c/"; done
done
check "3,500 training images" [ "$(find data -name '*.png' | wc -l)" -eq 3500 ]
check "500 held-out images" [ "$(find held -name '*.png' | wc -l)" -eq 500 ]

run "$P" run --workspace "$tmp/ws" --config "$root/docs/fashion-mnist.ini" \
	--set dataset.source="$tmp/data/fashion-mnist" --set train.epochs=3 \
	--set validate.min_value=0.4
expect_rc "the Fashion-MNIST configuration, 3 epochs, gate 0.4" 0
expect_in "train: the configured network" err.txt \
	"conv 32 3 pad 1, bn, relu, maxpool 2, conv 64 3 pad 1, bn, relu, maxpool 2, dense 256, relu, dropout 0.3, dense 10"
expect_in "train: 1x28x28 samples" err.txt "samples of 1x28x28"
check "train: 3 epochs in history.csv" [ "$(tail -n +2 ws/train/history.csv | wc -l)" -eq 3 ]
"$py" -c 'import json,sys; m = json.load(open(sys.argv[1]))["crop"]; print("%.3f" % m["accuracy"])' \
	ws/validate/metrics.json >acc.txt 2>&1
check "validate: accuracy above 0.4 ($(cat acc.txt))" \
	awk -v a="$(cat acc.txt)" 'BEGIN { exit !(a + 0 >= 0.4) }'
check "package: written" [ -f ws/package/fashion-mnist-1.0.0.tar.zst ]

run "$P" predict --package ws/package/fashion-mnist-1.0.0.tar.zst "$tmp/held"
expect_rc "predict on the held-out folder" 0
mv out.txt pred.jsonl
run $fm accuracy pred.jsonl
expect_rc "accuracy of the predictions" 0
expect_in "accuracy: 500 predictions" out.txt " of 500)"
held_acc=$(awk '/^accuracy/ { print $2 }' out.txt)
check "held-out accuracy above 0.4 ($held_acc)" awk -v a="$held_acc" 'BEGIN { exit !(a + 0 >= 0.4) }'

head -n 3 pred.jsonl >bad.jsonl
echo '{"file": "held/Bag/1.png"' >>bad.jsonl
run $fm accuracy bad.jsonl
expect_rc "accuracy: a malformed line fails" 1
expect_in "accuracy: names the line" err.txt "bad.jsonl:4: not a prediction line"

mkdir -p pkg/src/clothes
for k in 0 1 2 3 4 5 6 7 8 9; do echo '{"data": [[0, 1, 2]]}' >"pkg/src/clothes/$k.json"; done
run $fm convert pkg conv
expect_rc "convert: a package of the wrong shape fails" 1
expect_in "convert: names the class" err.txt "class 0: empty records at [], expected [1000, 7001]"
check "convert: nothing written" [ ! -e conv/train ]
finish
