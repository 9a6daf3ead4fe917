#!/bin/sh
# Benchmarks `pipeline stage prepare` on a synthetic plate 10x the demo (10
# plates, 960 wells, 1920 channel BMPs) against the Python preprocessing step
# it replaces (tests/bench/baseline_prepare.py), run alternately; prints
# images/s, input MiB/s and peak RSS of both, and pipeline's peak RSS on the
# 1-plate demo next to it (plus the largest input image).
# Usage: scripts/bench-prepare.sh [ROUNDS]   (env B = build directory)
set -eu
# shellcheck source=tests/bench/lib.sh
. "$(dirname "$0")/../tests/bench/lib.sh"
rounds=${1:-3}
build_pipeline
bench_tmp
dir="$tmp/prepare"
mkdir -p "$dir"

section "prepare: 10 plates (10x the demo) - pipeline vs Python preprocessing"
for n in 1 10; do
	[ -f "$dir/plates$n.tar.gz" ] || "$PIPELINE" synth --out "$dir/plates$n.tar.gz" --plates "$n" >/dev/null 2>&1
	sed "s#^source *=.*#source = $dir/plates$n.tar.gz#" pipeline.ini >"$dir/plates$n.ini"
done
# images = wells (one stacked 2-channel image each); input bytes = the BMPs
# as stored in the archive, uncompressed
stats() {
	"$PY" -c 'import sys, tarfile
m = [x for x in tarfile.open(sys.argv[1]) if x.isfile() and x.name.endswith(".bmp")]
print(len(m) // 2, sum(x.size for x in m), max(x.size for x in m))' "$1"
}
# shellcheck disable=SC2046
set -- $(stats "$dir/plates10.tar.gz")
wells=$1 bytes=$2
# shellcheck disable=SC2046
set -- $(stats "$dir/plates1.tar.gz")
largest=$3
mib=$(awk -v b="$bytes" 'BEGIN { printf "%.2f", b / 1048576 }')
echo "input: $wells wells = $((wells * 2)) channel BMPs, $mib MiB of BMP, archive $(($(stat -c %s "$dir/plates10.tar.gz") / 1048576)) MiB (tar.gz)"
echo "baseline: tarfile extract, PIL read + resize 256x256, 16 tiles of 64, Anscombe + min-max,"
echo "  TFRecord-framed records in gzip (level 6) shards; one Python process (single-threaded)"
alt -n "$rounds" --prep "rm -rf '$dir/ws' '$dir/out'" --rate "$wells:images/s" --rate "$mib:MiB/s" \
	--summary "$dir/t10.tsv" --section prepare \
	"pipeline stage prepare" "$PIPELINE stage prepare --workspace $dir/ws --config $dir/plates10.ini" \
	"python baseline" "$PY tests/bench/baseline_prepare.py $dir/plates10.tar.gz $dir/out"
rm -rf "$dir/ws" "$dir/out"

echo "pipeline stage prepare on the 1-plate demo archive, for its peak RSS:"
alt -n "$rounds" --prep "rm -rf '$dir/ws1'" --summary "$dir/t1.tsv" --section prepare1 \
	"pipeline prepare, demo" "$PIPELINE stage prepare --workspace $dir/ws1 --config $dir/plates1.ini"
rm -rf "$dir/ws1"

p=$(med "pipeline stage prepare" "$dir/t10.tsv"); b=$(med "python baseline" "$dir/t10.tsv")
r10=$(rss "pipeline stage prepare" "$dir/t10.tsv"); r1=$(rss "pipeline prepare, demo" "$dir/t1.tsv")
awk -v r10="$r10" -v r1="$r1" -v big="$largest" 'BEGIN {
	bound = r1 + big / 1048576
	printf "peak RSS: 10 plates %.1f MiB; demo %.1f MiB + largest input image %.2f MiB = %.1f MiB (%s)\n",
		r10, r1, big / 1048576, bound, r10 <= bound ? "10 plates within it" : "10 plates above it by " sprintf("%.1f MiB", r10 - bound)
}'
summary_row "prepare 10 plates: images/s" \
	"$(awk -v n="$wells" -v s="$p" 'BEGIN { printf "%.0f", n / s }')" \
	"$(awk -v n="$wells" -v s="$b" 'BEGIN { printf "%.0f", n / s }') (Python)" "$(ratio "$p" "$b") faster"
summary_row "prepare 10 plates: peak RSS" "$r10 MiB" "$(rss "python baseline" "$dir/t10.tsv") MiB (Python)" "demo: $r1 MiB"
