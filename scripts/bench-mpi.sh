#!/bin/sh
# Training over MPI ranks on this machine, on the demo plate with the
# reference net (bench-nn's architecture at 28x28, batch 64) and the demo
# net (pipeline.ini's, 64x64x2, batch 64). Alternately, ROUNDS each:
#   1 process x 2 threads;
#   2 and 4 ranks x 1 thread, train.exact = true (the ordered gather) and
#   false (one MPI_Allreduce per step);
#   2 ranks x 1 thread, exact, train.accumulate = 4 (one reduction per 256
#   samples).
# For each: time per 64 samples (an epoch's wall time, evaluation
# included, over its samples), the gradient reduction per optimiser step
# and per sample (the time in MPI, waiting for the slower rank included),
# the CPU time per 1000 samples (every process of the run), and the bytes
# reduced per step against the weights' (docs/distributed.md). Figures only.
# Usage: scripts/bench-mpi.sh [ROUNDS] [EPOCHS]   (env B = build directory)
set -eu
# shellcheck source=tests/bench/lib.sh
. "$(dirname "$0")/../tests/bench/lib.sh"
build_pipeline
rounds=${1:-3}
epochs=${2:-2}
bench_tmp
dir=$tmp/mpi
rm -rf "$dir"
mkdir -p "$dir"
mpi="timeout 600 mpirun --allow-run-as-root --oversubscribe --bind-to none"
median() { sort -g | awk '{ v[NR] = $1 } END { if (NR) print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

section "training over MPI ranks (scripts/bench-mpi.sh)"
command -v mpirun >/dev/null || { echo "bench-mpi: mpirun not found (make bench-deps)" >&2; exit 1; }
echo "CPU: $(lscpu | sed -n 's/^Model name: *//p') ($(nproc) cores); load $(cut -d' ' -f1-3 /proc/loadavg)"

# The runs compared: NAME RANKS EXACT ACCUMULATE (ranks 1: one process of 2 threads).
runs="threads2 1 true 1
exact2 2 true 1
plain2 2 false 1
exact4 4 true 1
plain4 4 false 1
exact2k4 2 true 4"

# one NAME RANKS EXACT K: one training run, its figures appended to $ws.NAME.*
one() {
	set -- "$1" "$2" "$3" "$4"
	threads=$2
	[ "$2" -gt 1 ] || threads=2
	sets="--set train.threads=$threads --set train.exact=$3 --set train.accumulate=$4"
	if [ "$2" -gt 1 ]; then
		# shellcheck disable=SC2086
		/usr/bin/time -f '%U %S' -o "$dir/cpu" $mpi -np "$2" "$PIPELINE" stage train --force \
			--workspace "$ws" --config "$dir/$name.ini" $sets --log-format human 2>"$dir/log" </dev/null
	else
		# shellcheck disable=SC2086
		/usr/bin/time -f '%U %S' -o "$dir/cpu" "$PIPELINE" stage train --force \
			--workspace "$ws" --config "$dir/$name.ini" $sets --log-format human 2>"$dir/log" </dev/null
	fi
	sed -n 's/.*; \([0-9.]*\) images\/s$/\1/p' "$dir/log" >>"$ws.$1.rate"
	sed -n 's/.*gradient [a-z]* \([0-9.]*\) ms per step.*/\1/p' "$dir/log" >>"$ws.$1.step"
	sed -n 's/.*, \([0-9.]*\) us per sample.*/\1/p' "$dir/log" >>"$ws.$1.sample"
	sed -n 's/.* \([0-9]*\) bytes [a-z]* per step.*/\1/p' "$dir/log" | head -n 1 >"$ws.$1.bytes"
	samples=$(sed -n 's/.*training 100% [0-9]*\/\([0-9]*\) images.*/\1/p' "$dir/log" | tail -n 1)
	awk -v s="${samples:-0}" '{ if (s > 0) print ($1 + $2) * 1e6 / s }' "$dir/cpu" >>"$ws.$1.cpu"
}

# net NAME SIZE CHANNELS LAYERS: prepares the plate for it, then alternates.
net() {
	name=$1 size=$2 channels=$3 layers=$4
	ws=$dir/$name
	cat >"$dir/$name.ini" <<EOF
[dataset]
source = synth:plate?size=$((size * 4 * 17 / 16))x$((size * 4))
table = metadata.csv
channels = nuclei, nfkb
label_column = label
group_column = well
[prepare]
size = $size
resize = $((size * 4))x$((size * 4))
tile = $size
channels_out = $channels
transforms = anscombe, minmax
[model]
layers = $layers
[train]
epochs = $epochs
batch = 64
optimizer = sgd
lr = 0.01
momentum = 0.9
seed = 1
EOF
	"$PIPELINE" stage prepare --workspace "$ws" --config "$dir/$name.ini" >/dev/null 2>&1
	i=1
	while [ "$i" -le "$rounds" ]; do
		echo "$runs" | while read -r run np exact k; do one "$run" "$np" "$exact" "$k"; done
		i=$((i + 1))
	done
	wbytes=$(sed -n 's/.* \([0-9]*\) weight bytes.*/\1/p' "$dir/log" | head -n 1)
	base=$(median <"$ws.threads2.rate")
	echo "$runs" | while read -r run np exact k; do
		rate=$(median <"$ws.$run.rate")
		step=$(median <"$ws.$run.step")
		per=$(median <"$ws.$run.sample")
		cpu=$(median <"$ws.$run.cpu")
		bytes=$(cat "$ws.$run.bytes")
		awk -v n="$name" -v r="$run" -v np="$np" -v k="$k" -v rate="$rate" -v base="$base" \
		    -v step="${step:-0}" -v per="${per:-0}" -v cpu="$cpu" -v b="${bytes:-0}" -v w="$wbytes" 'BEGIN {
			printf "%-9s %-8s %6.1f ms/64 samples (%4.0f img/s, time %.2fx that of 2 threads); CPU %5.0f ms/1000 samples",
				n, r, 64000 / rate, rate, base / rate, cpu
			if (np > 1)
				printf "; reduction %6.2f ms/step of %d, %5.2f us/sample, %.0f KiB/step (weights %.0f KiB)",
					step, 64 * k, per, b / 1024, w / 1024
			printf "\n"
		}'
	done
	for run in exact2 plain2 exact4 plain4 exact2k4; do
		summary_row "mpi $name $run ms/64 samples" \
			"$(awk -v r="$(median <"$ws.$run.rate")" 'BEGIN { printf "%.1f", 64000 / r }')" \
			"$(awk -v t="$base" 'BEGIN { printf "%.1f (2 threads)", 64000 / t }')" \
			"reduction $(median <"$ws.$run.step") ms/step, $(median <"$ws.$run.sample") us/sample"
	done
}

net reference 28 gray "conv 32 5 pad 2, relu, maxpool 2, conv 64 5 pad 2, relu, maxpool 2, dense 128, relu, dense"
net demo 64 stacked "conv 16 3 pad 1, relu, maxpool 2, conv 32 3 pad 1, relu, maxpool 2, conv 32 3 pad 1, relu, maxpool 2, dense 64, relu, dense"
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
