# Helpers for CLI tests: sourced by tests/cli/test_*.sh. Each test script runs
# in a fresh temporary directory and ends with `finish`.
set -u
passed=0
failed=0
suite=$(basename "$0" .sh)
: "${PIPELINE:?PIPELINE must name the binary under test}"
tmp=$(mktemp -d /tmp/plcli-XXXXXX)
cd "$tmp" || exit 2
trap 'cd /; rm -rf "$tmp"' EXIT

ok() { passed=$((passed + 1)); }
fail() { failed=$((failed + 1)); echo "FAIL $suite: $*" >&2; }

# check DESC COND...: passes when the command COND succeeds.
check() { desc=$1; shift; if "$@"; then ok; else fail "$desc"; fi; }

# run CMD...: runs a command, keeping its exit code in $rc, output in out/err.
run() { "$@" >out.txt 2>err.txt; rc=$?; }

# expect_rc DESC CODE: the last `run` exited with CODE.
expect_rc() { if [ "$rc" -eq "$2" ]; then ok; else fail "$1: exit $rc, wanted $2; stderr: $(head -c 600 err.txt)"; fi; }

# expect_in DESC FILE TEXT: FILE contains TEXT.
expect_in() { if grep -q -F -- "$3" "$2"; then ok; else fail "$1: '$3' not in $2: $(head -c 600 "$2")"; fi; }

finish() { echo "$suite: $passed passed, $failed failed"; [ "$failed" -eq 0 ]; }
