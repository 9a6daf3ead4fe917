# shellcheck shell=sh
# Shared by scripts/bench-*.sh (sourced, POSIX sh). Environment:
#   B           build directory (default build); PIPELINE overrides the binary
#   BENCH_TMP   scratch directory shared by the scripts of one `make bench`
#   BENCH_WS    the finished demo workspace to reuse (made on first need)
#   BENCH_SUMMARY  file the scripts append their summary rows to
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root" || exit 1
B=${B:-build}
PIPELINE=${PIPELINE:-$root/$B/pipeline}
PY=/usr/bin/python3

# Builds the binary when it is the tree's own (quiet when up to date), once
# per `make bench` (BENCH_BUILT); a failed build falls back to an existing one.
build_pipeline() {
	[ -z "${BENCH_BUILT:-}" ] || return 0
	case "$PIPELINE" in
	"$root/$B/pipeline")
		mkdir -p "$root/$B"
		make --no-print-directory B="$B" "$B/pipeline" >/dev/null 2>"$root/$B/bench-build.log" && return 0
		if [ -x "$PIPELINE" ]; then
			echo "bench: building $PIPELINE failed (see $B/bench-build.log); using the existing binary" >&2
		else
			cat "$root/$B/bench-build.log" >&2
			return 1
		fi ;;
	esac
}

# Sets tmp to BENCH_TMP or to a directory removed when the script exits.
bench_tmp() {
	if [ -n "${BENCH_TMP:-}" ]; then
		tmp=$BENCH_TMP
	else
		tmp=$(mktemp -d)
		trap 'rm -rf "$tmp"' EXIT
		trap 'exit 130' INT TERM
	fi
	BENCH_WS=${BENCH_WS:-$tmp/demo}
}

# A section header; BENCH_SECTION (e.g. "2. ") numbers it.
# alt ARGS...: tests/bench/alternate.py (alternating timer; see its usage).
alt() { "$PY" "$root/tests/bench/alternate.py" "$@"; }

section() { printf '\n== %s%s ==\n' "${BENCH_SECTION:-}" "$*"; }

# Appends one row to the final summary: WHAT PIPELINE BASELINE COMPARISON.
summary_row() {
	[ -n "${BENCH_SUMMARY:-}" ] || return 0
	printf '%-36s %-16s %-26s %s\n' "$1" "$2" "$3" "$4" >>"$BENCH_SUMMARY"
}

# Median seconds of LABEL in an alternate.py --summary FILE.
med() { awk -F '\t' -v l="$1" '$2 == l { print $3 }' "$2"; }
p90() { awk -F '\t' -v l="$1" '$2 == l { print $4 }' "$2"; }
rss() { awk -F '\t' -v l="$1" '$2 == l { print $5 }' "$2"; }
cpu() { awk -F '\t' -v l="$1" '$2 == l { print $6 }' "$2"; }
ms() { awk -v s="$1" 'BEGIN { printf "%.1f ms", s * 1000 }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1fx", b / a }'; }

# Makes the finished demo workspace BENCH_WS with one `pipeline run` from an
# empty workspace, timing it (BENCH_WS.wall); reuses one that is finished.
ensure_demo() {
	if [ -f "$BENCH_WS/package/stage.json" ]; then
		return 0
	fi
	rm -rf "$BENCH_WS"
	echo "running the demo: pipeline run --workspace $BENCH_WS (log in $BENCH_WS.log)"
	t0=$(date +%s.%N)
	if ! "$PIPELINE" run --workspace "$BENCH_WS" --config "$root/pipeline.ini" >"$BENCH_WS.log" 2>&1; then
		tail -n 20 "$BENCH_WS.log"
		echo "bench: the demo run failed" >&2
		return 1
	fi
	t1=$(date +%s.%N)
	awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f\n", b - a }' >"$BENCH_WS.wall"
}
