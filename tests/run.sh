#!/bin/sh
# Runs every test suite: unit test programs in BUILD/tests, CLI scripts in
# tests/cli. Each suite ends with "NAME: N passed, N failed"; this script
# adds them up and ends with one "N passed, N failed" line.
# Usage: tests/run.sh BUILD_DIR [PATTERN]
set -u
build=${1:-build}
pattern=${2:-}
root=$(cd "$(dirname "$0")/.." && pwd)
export PIPELINE="$root/$build/pipeline" PL_ROOT="$root" PL_BUILD="$root/$build"
log=$(mktemp)
trap 'rm -f "$log"' EXIT

run_suite() {
	name=$1; shift
	case "$name" in *"$pattern"*) ;; *) return ;; esac
	out=$("$@" 2>&1); rc=$?
	line=$(printf '%s\n' "$out" | grep -E '^[A-Za-z0-9_.-]+: [0-9]+ passed, [0-9]+ failed' | tail -n 1)
	if [ -z "$line" ]; then
		printf '%s\n' "$out"
		line="$name: 0 passed, 1 failed"
		echo "$name: exited $rc without a result line"
	elif [ "$rc" -ne 0 ]; then
		printf '%s\n' "$out" | grep -v -E '^[A-Za-z0-9_.-]+: [0-9]+ passed' | tail -n 40
		case "$line" in *" 0 failed"*) line="$name: 0 passed, 1 failed"; echo "$name: exit $rc";; esac
	fi
	echo "$line"
	echo "$line" >>"$log"
}

for t in "$root/$build"/tests/test_*; do
	[ -x "$t" ] || continue
	case "$t" in *.o|*.d) continue ;; esac
	run_suite "$(basename "$t")" "$t"
done
for t in "$root"/tests/cli/test_*.sh; do
	[ -f "$t" ] || continue
	run_suite "$(basename "$t" .sh)" sh "$t"
done

awk '{ p += $(NF-3); f += $(NF-1) } END { printf "%d passed, %d failed\n", p, f; exit (f > 0) }' "$log"
