#!/bin/sh
# Valgrind memcheck of one whole demo run, scaled down so that it takes
# about a minute: all four stages on a small demo plate, the cached rerun,
# status, and predict on the package. Any invalid access, use of an
# uninitialised value or leak makes it fail.
#
# Usage: scripts/valgrind.sh   (PIPELINE names the binary; default ./pipeline)
set -u
root=$(cd "$(dirname "$0")/.." && pwd)
bin=${PIPELINE:-$root/pipeline}
tmp=$(mktemp -d /tmp/plvalgrind-XXXXXX)
trap 'rm -rf "$tmp"' EXIT
ws=$tmp/ws
failed=0

vg() {
	what=$1
	shift
	valgrind -q --error-exitcode=99 --leak-check=full --show-leak-kinds=definite,indirect \
		--errors-for-leak-kinds=definite,indirect --track-origins=yes \
		--log-file="$tmp/vg.log" "$bin" "$@" >"$tmp/out" 2>"$tmp/err"
	rc=$?
	if [ "$rc" -ne 0 ] || [ -s "$tmp/vg.log" ]; then
		echo "valgrind: $what: exit $rc" >&2
		cat "$tmp/vg.log" "$tmp/err" >&2
		failed=$((failed + 1))
	else
		echo "valgrind: $what: clean"
	fi
}

set -- --workspace "$ws" --config "$root/pipeline.ini" --quiet \
	--set 'dataset.source=synth:plate?size=64x48' --set prepare.resize=32x32 \
	--set prepare.tile=16 --set prepare.size=16 --set train.epochs=3 \
	--set 'model.layers=conv 8 3 pad 1, relu, maxpool 2, conv 8 3 pad 1, relu, dense 16, relu, dense' \
	--set validate.min_value=0

vg "run (four stages)" run "$@"
vg "run again (cached)" run "$@"
vg "status --json" status "$@" --json
cached=$(grep -c '"state": "done"' "$tmp/out")
[ "$cached" -eq 4 ] || { echo "valgrind: status shows $cached stages done, not 4" >&2; failed=$((failed + 1)); }
"$bin" synth --out "$tmp/plate/" --size 64x48 >/dev/null 2>&1
pkg=$(ls "$ws"/package/*.tar.zst 2>/dev/null | head -n 1)
img=$tmp/plate/plate/images
if [ -z "$pkg" ] || [ ! -f "$img/A01_nuclei.bmp" ]; then
	echo "valgrind: the run left no package or synth drew no plate" >&2
	exit 1
fi
vg "predict" predict --package "$pkg" --channels "$img/A01_nuclei.bmp,$img/A01_nfkb.bmp" \
	--channels "$img/H12_nuclei.bmp,$img/H12_nfkb.bmp"
[ "$(wc -l <"$tmp/out")" -eq 2 ] || { echo "valgrind: predict printed $(wc -l <"$tmp/out") lines, not 2" >&2; failed=$((failed + 1)); }
[ "$failed" -eq 0 ] || { echo "valgrind: $failed run(s) with errors" >&2; exit 1; }
echo "valgrind: no invalid accesses, uninitialised values or leaks"
