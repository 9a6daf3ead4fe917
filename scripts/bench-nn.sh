#!/bin/sh
# Benchmarks nn against PyTorch on the reference net (28x28x1 inputs) and
# the demo net (pipeline.ini's, 64x64x2 inputs), batch 64 training with SGD
# momentum 0.9, batch 256 inference, 2 threads:
# alternate runs, medians, ratios, the share of the 2-core SGEMM peak that
# nn's training reaches, and nn's peak RSS against what training needs;
# then nn_sgemm against OpenBLAS on the hot GEMM shapes, one line per shape
# and CPU level (AVX-512 when the CPU has it, and AVX2 forced), OpenBLAS
# on its own kernels for the same level (OPENBLAS_CORETYPE).
# Usage: scripts/bench-nn.sh [ROUNDS] [SECONDS]   (env B = build directory)
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
B=${B:-build}
rounds=${1:-5}
secs=${2:-2}
py=/usr/bin/python3
PKGS="openblas"
make --no-print-directory B="$B" "$B/libpipeline.a" >/dev/null
bench="$B/tests/bench/bench_nn"
mkdir -p "$B/tests/bench"
# shellcheck disable=SC2046
${CC:-cc} -O2 -g -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -march=x86-64-v2 \
	$(pkg-config --cflags $PKGS) -o "$bench" tests/bench/bench_nn.c "$B/libpipeline.a" \
	$(pkg-config --libs $PKGS) -lm -lpthread
export OPENBLAS_NUM_THREADS=1
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

median() { sort -g "$1" | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg) (the figures assume an otherwise idle machine)"
i=1
while [ "$i" -le "$rounds" ]; do
	# the peaks are the best of all rounds: a busy moment only lowers them
	OPENBLAS_NUM_THREADS=2 "$bench" peak >>"$tmp/peaks"
	"$bench" train "$secs" >"$tmp/out"
	head -n 1 "$tmp/out" >>"$tmp/nn_train"
	tail -n 1 "$tmp/out" >>"$tmp/rss"
	"$py" tests/bench/bench_torch.py train "$secs" >>"$tmp/torch_train"
	"$bench" infer "$secs" >>"$tmp/nn_infer"
	"$py" tests/bench/bench_torch.py infer "$secs" >>"$tmp/torch_infer"
	"$bench" train "$secs" demo >"$tmp/out"
	head -n 1 "$tmp/out" >>"$tmp/nn_dtrain"
	"$py" tests/bench/bench_torch.py train "$secs" demo >>"$tmp/torch_dtrain"
	"$bench" infer "$secs" demo >>"$tmp/nn_dinfer"
	"$py" tests/bench/bench_torch.py infer "$secs" demo >>"$tmp/torch_dinfer"
	printf 'round %d: train nn %s torch %s, infer nn %s torch %s img/s; demo net: train nn %s torch %s, infer nn %s torch %s\n' \
		"$i" "$(tail -n 1 "$tmp/nn_train")" "$(tail -n 1 "$tmp/torch_train")" \
		"$(tail -n 1 "$tmp/nn_infer")" "$(tail -n 1 "$tmp/torch_infer")" \
		"$(tail -n 1 "$tmp/nn_dtrain")" "$(tail -n 1 "$tmp/torch_dtrain")" \
		"$(tail -n 1 "$tmp/nn_dinfer")" "$(tail -n 1 "$tmp/torch_dinfer")"
	i=$((i + 1))
done
peak=$(awk '$1 > m { m = $1 } END { print m }' "$tmp/peaks")
nnpeak=$(awk '$2 > m { m = $2 } END { print m }' "$tmp/peaks")
nt=$(median "$tmp/nn_train"); tt=$(median "$tmp/torch_train")
ni=$(median "$tmp/nn_infer"); ti=$(median "$tmp/torch_infer")
dnt=$(median "$tmp/nn_dtrain"); dtt=$(median "$tmp/torch_dtrain")
dni=$(median "$tmp/nn_dinfer"); dti=$(median "$tmp/torch_dinfer")
# Training FLOPs per image of the reference net: forward of every layer,
# backward weight and input gradients (none for the first layer's input).
mflop=65.136
awk -v nt="$nt" -v tt="$tt" -v ni="$ni" -v ti="$ti" -v dnt="$dnt" -v dtt="$dtt" -v dni="$dni" -v dti="$dti" -v peak="$peak" -v nnpeak="$nnpeak" -v mf="$mflop" 'BEGIN {
	printf "training   (batch 64):  nn %7.0f img/s   torch %7.0f img/s   nn/torch %.2fx\n", nt, tt, nt / tt
	printf "inference  (batch 256): nn %7.0f img/s   torch %7.0f img/s   nn/torch %.2fx\n", ni, ti, ni / ti
	printf "demo-training  (batch 64):  nn %7.0f img/s   torch %7.0f img/s   nn/torch %.2fx\n", dnt, dtt, dnt / dtt
	printf "demo-inference (batch 256): nn %7.0f img/s   torch %7.0f img/s   nn/torch %.2fx\n", dni, dti, dni / dti
	printf "sgemm peak (2 threads): OpenBLAS %.1f GFLOP/s (2048^3), nn_sgemm %.1f GFLOP/s (1024^3 per thread)\n", peak, nnpeak
	printf "nn training = %.1f GFLOP/s (%.1f MFLOP/img) = %.0f%% of the OpenBLAS peak (limit %.0f img/s), %.0f%% of nn_sgemm'"'"'s (limit %.0f img/s)\n",
		nt * mf / 1000, mf, 100 * nt * mf / 1000 / peak, peak * 1000 / mf, 100 * nt * mf / 1000 / nnpeak, nnpeak * 1000 / mf
}'
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
tail -n 1 "$tmp/rss" | awk '{ printf "nn training peak RSS %.1f MiB; model + batch activations + im2col scratch %.1f MiB\n", $1 / 1024, $2 / 1024 }'
best=$("$bench" level)
echo "GEMM shapes, one thread, median of 7 alternating rounds (GFLOP/s on thread CPU time):"
if [ "$best" -ge 2 ]; then
	OPENBLAS_CORETYPE=SkylakeX "$bench" shapes
fi
if [ "$best" -ge 1 ]; then
	NN_MAX_LEVEL=1 OPENBLAS_CORETYPE=Haswell "$bench" shapes
fi
