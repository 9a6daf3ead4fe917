#!/bin/sh
# Benchmarks `pipeline stage prepare` on two data set shapes against a
# Python/PIL script doing the same job (tests/bench/baseline_data.py: stream
# the archive, decode, resize, write uint8 arrays), run alternately:
#   ImageNet-shaped: BENCH_DATA_N JPEGs (default 10000) of 120-420 px in 10
#     synset classes, resized to 64 (plus PIL with draft(), its own DCT
#     scaling); made by tests/bench/make_data.py as a tar of 10 per-class
#     tars (ImageNet's train layout, also prepared as 4 shares at once) and
#     as a plain tar of the 10 class folders with synset_words.txt, read with
#     [dataset] class_names;
#   Fashion-MNIST-shaped: BENCH_FMNIST_N 28x28 gray PNGs (default 60000) in a
#     tar.gz, kept at 28 (generated: the real set cannot be downloaded here).
# Prints images/s, CPU time, peak RSS (/usr/bin/time -v), peak and final
# disk of the workspace or output folder (du, sampled every 0.2 s); figures
# only, nothing is asserted. Data sets are cached in BENCH_TMP for one run.
# Usage: scripts/bench-data.sh [ROUNDS]   (env B, BENCH_DATA_N, BENCH_FMNIST_N)
set -eu
# shellcheck source=tests/bench/lib.sh
. "$(dirname "$0")/../tests/bench/lib.sh"
rounds=${1:-3}
n_jpeg=${BENCH_DATA_N:-10000}
n_png=${BENCH_FMNIST_N:-60000}
build_pipeline
bench_tmp
dir="$tmp/data"
mkdir -p "$dir"
measure="sh $root/tests/bench/measure.sh"

# med_col FILE COL: the median of column COL of a measure.sh file (max: the largest).
med_col() { sort -n -k "$2" "$1" | awk -v c="$2" '{ v[NR] = $c } END { print v[int((NR + 1) / 2)] }'; }
max_col() { sort -n -k "$2" "$1" | tail -n 1 | awk -v c="$2" '{ print $c }'; }
mib() { awk -v k="$1" 'BEGIN { printf "%.1f MiB", k / 1024 }'; }

# compare NAME ARCHIVE SIZE N INI_EXTRA DRAFT: prepare ARCHIVE (N images) to
# SIZE with pipeline and with the Python script, and with its --draft too
# when DRAFT is set.
compare() {
	name=$1 archive=$2 size=$3 n=$4 extra=$5 draft=$6
	printf '[dataset]\nsource = %s\n%s[prepare]\nsize = %s\n' "$archive" "$extra" "$size" >"$dir/$name.ini"
	rm -f "$dir/$name".m.* "$dir/$name.tsv"
	py="$PY $root/tests/bench/baseline_data.py"
	set -- "pipeline prepare" "$measure $dir/$name.m.0 $dir/ws $PIPELINE stage prepare --workspace $dir/ws --config $dir/$name.ini" \
		"python PIL" "$measure $dir/$name.m.1 $dir/out $py $archive $dir/out $size"
	[ -z "$draft" ] || set -- "$@" "python PIL + draft()" "$measure $dir/$name.m.2 $dir/out $py --draft $archive $dir/out $size"
	alt -n "$rounds" --prep "rm -rf '$dir/ws' '$dir/out'" --rate "$n:images/s" \
		--summary "$dir/$name.tsv" --section "$name" "$@"
	rm -rf "$dir/ws" "$dir/out"
	printf '  %-28s %12s %14s %14s %10s\n' "" "peak RSS" "peak disk" "final disk" "CPU"
	k=0
	for label in "pipeline prepare" "python PIL" "python PIL + draft()"; do
		f=$dir/$name.m.$k
		[ -f "$f" ] || break
		printf '  %-28s %12s %14s %14s %8s s\n' "$label" "$(mib "$(med_col "$f" 1)")" \
			"$(mib "$(max_col "$f" 2)")" "$(mib "$(med_col "$f" 3)")" "$(med_col "$f" 5)"
		k=$((k + 1))
	done
	echo "  (medians from /usr/bin/time -v, CPU = user + system of the command alone; disk: du of the"
	echo "  workspace or output folder, peak while it runs and what is left at the end)"
}

# summarise NAME WHAT: summary rows, pipeline against the plain Python side.
summarise() {
	p=$(med "pipeline prepare" "$dir/$1.tsv"); b=$(med "python PIL" "$dir/$1.tsv")
	summary_row "$2: images/s" "$(awk -v n="$3" -v s="$p" 'BEGIN { printf "%.0f", n / s }')" \
		"$(awk -v n="$3" -v s="$b" 'BEGIN { printf "%.0f", n / s }') (Python/PIL)" "$(ratio "$p" "$b") faster"
	summary_row "$2: peak RSS, disk" "$(mib "$(med_col "$dir/$1.m.0" 1)"), $(mib "$(max_col "$dir/$1.m.0" 2)")" \
		"$(mib "$(med_col "$dir/$1.m.1" 1)"), $(mib "$(max_col "$dir/$1.m.1" 2)")" "RSS, peak disk"
}

section "prepare on data set shapes - pipeline vs Python/PIL"
echo "CPU: $(lscpu | awk -F': *' '/^Model name/ { print $2 }'), $(nproc) cores; pipeline uses all, Python one"
jpeg=$dir/imagenet-$n_jpeg.tar
if [ ! -f "$jpeg" ]; then
	echo "making $n_jpeg JPEGs (tests/bench/make_data.py) ..."
	"$PY" tests/bench/make_data.py imagenet "$dir" "$n_jpeg"
fi
echo "ImageNet-shaped: $n_jpeg JPEGs of 120-420 px in 10 classes, $(($(stat -c %s "$jpeg") / 1048576)) MiB tar; resized to 64x64 RGB"
compare imagenet "$jpeg" 64 "$n_jpeg" "class_names = synset_words.txt
" draft
summarise imagenet "prepare $n_jpeg JPEGs" "$n_jpeg"
# the same JPEGs in ImageNet's own layout, a tar of 10 per-class tars: read
# in place (members at their offsets), in one process and as 4 shares at once
printf '[dataset]\nsource = %s\n[prepare]\nsize = 64\n' "$dir/imagenet-$n_jpeg-nested.tar" >"$dir/nested.ini"
rm -f "$dir"/nested.m.* "$dir/nested.tsv"
alt -n "$rounds" --prep "rm -rf '$dir/ws'" --rate "$n_jpeg:images/s" --summary "$dir/nested.tsv" \
	--section "the same JPEGs as a tar of 10 per-class tars (ImageNet's layout)" \
	"pipeline prepare" "$measure $dir/nested.m.0 $dir/ws $PIPELINE stage prepare --workspace $dir/ws --config $dir/nested.ini" \
	"pipeline, 4 shares at once" "$measure $dir/nested.m.1 $dir/ws sh $root/tests/bench/shares.sh 4 $PIPELINE $dir/ws $dir/nested.ini"
rm -rf "$dir/ws"
printf '  %-28s %12s %14s %14s %10s\n' "" "peak RSS" "peak disk" "final disk" "CPU"
for k in 0 1; do
	label="pipeline prepare"; [ $k = 1 ] && label="pipeline, 4 shares at once"
	f=$dir/nested.m.$k
	printf '  %-28s %12s %14s %14s %8s s\n' "$label" "$(mib "$(med_col "$f" 1)")" \
		"$(mib "$(max_col "$f" 2)")" "$(mib "$(med_col "$f" 3)")" "$(med_col "$f" 5)"
done
echo "  (peak RSS of the 4 shares: the largest single process; the tar is $(($(stat -c %s "$dir/imagenet-$n_jpeg-nested.tar") / 1048576)) MiB, never copied)"
summary_row "prepare $n_jpeg JPEGs, tar of tars: images/s" \
	"$(awk -v n="$n_jpeg" -v s="$(med "pipeline prepare" "$dir/nested.tsv")" 'BEGIN { printf "%.0f", n / s }')" \
	"$(awk -v n="$n_jpeg" -v s="$(med "pipeline, 4 shares at once" "$dir/nested.tsv")" 'BEGIN { printf "%.0f", n / s }') (4 shares)" \
	"peak disk $(mib "$(max_col "$dir/nested.m.0" 2)")"

png=$dir/fmnist-$n_png.tar.gz
if [ ! -f "$png" ]; then
	echo "making $n_png PNGs (tests/bench/make_data.py) ..."
	"$PY" tests/bench/make_data.py fmnist "$dir" "$n_png"
fi
echo "Fashion-MNIST-shaped (generated; the real set cannot be downloaded here): $n_png 28x28 gray PNGs,"
echo "  $(($(stat -c %s "$png") / 1024)) KiB tar.gz; kept at 28x28"
compare fmnist "$png" 28 "$n_png" "" ""
summarise fmnist "prepare $n_png PNGs" "$n_png"
