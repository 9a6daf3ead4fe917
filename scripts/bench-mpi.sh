#!/bin/sh
# Training over MPI ranks on this machine: 2 ranks x 1 thread against 1
# process x 2 threads, alternately (ROUNDS each), on the demo plate with the
# reference net (bench-nn's architecture at 28x28, batch 64) and the demo
# net (pipeline.ini's, 64x64x2, batch 64): step time, the gradient gather
# per step (the time in MPI_Allgather, waiting for the slower rank
# included), and the bytes gathered per step against the weights' bytes
# (what a ring allreduce would move: docs/distributed.md). Figures only.
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
mpi() { timeout 600 mpirun --allow-run-as-root --oversubscribe --bind-to none "$@"; }
median() { sort -g | awk '{ v[NR] = $1 } END { if (NR) print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

section "training over MPI ranks (scripts/bench-mpi.sh)"
command -v mpirun >/dev/null || { echo "bench-mpi: mpirun not found (make bench-deps)" >&2; exit 1; }
echo "CPU: $(lscpu | sed -n 's/^Model name: *//p') ($(nproc) cores); load $(cut -d' ' -f1-3 /proc/loadavg)"

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
	: >"$dir/$name.threads"
	: >"$dir/$name.ranks"
	: >"$dir/$name.gather"
	i=1
	while [ "$i" -le "$rounds" ]; do
		"$PIPELINE" stage train --force --workspace "$ws" --config "$dir/$name.ini" \
			--set train.threads=2 --log-format human 2>"$dir/log"
		sed -n 's/.*; \([0-9.]*\) images\/s$/\1/p' "$dir/log" >>"$dir/$name.threads"
		mpi -np 2 "$PIPELINE" stage train --force --workspace "$ws" --config "$dir/$name.ini" \
			--set train.threads=2 --log-format human 2>"$dir/log"
		sed -n 's/.*; \([0-9.]*\) images\/s$/\1/p' "$dir/log" >>"$dir/$name.ranks"
		grep 'gradient gather' "$dir/log" >>"$dir/$name.gather"
		i=$((i + 1))
	done
	threads=$(median <"$dir/$name.threads")
	ranks=$(median <"$dir/$name.ranks")
	gather=$(sed -n 's/.*gradient gather \([0-9.]*\) ms per step.*/\1/p' "$dir/$name.gather" | median)
	other=$(sed -n 's/.*loss gathers \([0-9.]*\) ms per step.*/\1/p' "$dir/$name.gather" | median)
	wbytes=$(sed -n 's/.* \([0-9]*\) weight bytes.*/\1/p' "$dir/$name.gather" | head -n 1)
	gbytes=$(sed -n 's/.* \([0-9]*\) bytes gathered per step.*/\1/p' "$dir/$name.gather" | head -n 1)
	awk -v n="$name" -v t="$threads" -v r="$ranks" -v g="$gather" -v o="$other" -v w="$wbytes" -v b="$gbytes" 'BEGIN {
		printf "%-9s 1 process x 2 threads: %6.1f ms/step (%4.0f img/s); 2 ranks x 1 thread: %6.1f ms/step (%4.0f img/s); ranks/threads step time %.2f\n",
			n, 64000 / t, t, 64000 / r, r, t / r
		printf "%-9s gradient gather %.2f ms/step, batch-norm + loss gathers %.2f ms/step; weights %.0f KiB, gathered %.0f KiB/step (ring allreduce of 2 ranks: %.0f KiB per rank)\n",
			n, g, o, w / 1024, b / 1024, w / 1024
	}'
	summary_row "mpi $name ms/step (batch 64)" "$(awk -v r="$ranks" 'BEGIN { printf "%.1f", 64000 / r }') (2 ranks)" \
		"$(awk -v t="$threads" 'BEGIN { printf "%.1f", 64000 / t }') (2 threads)" \
		"gather $gather ms, $((gbytes / 1024)) KiB/step"
}

net reference 28 gray "conv 32 5 pad 2, relu, maxpool 2, conv 64 5 pad 2, relu, maxpool 2, dense 128, relu, dense"
net demo 64 stacked "conv 16 3 pad 1, relu, maxpool 2, conv 32 3 pad 1, relu, maxpool 2, conv 32 3 pad 1, relu, maxpool 2, dense 64, relu, dense"
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
