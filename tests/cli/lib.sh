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

# small_plate_ini FILE [PREPARE_LINE]...: the small demo plate (170x128,
# wells resized to 128x128 and cut into 16 tiles of 32 px) and a small net,
# with any further [prepare] lines; the caller appends [train] and the rest.
# SMALL_PLATE_LAYERS, when set, is the [model] layers instead.
small_plate_ini() {
	f=$1
	shift
	cat >"$f" <<'EOF'
[dataset]
source = synth:plate?size=170x128
table = metadata.csv
channels = nuclei, nfkb
label_column = label
group_column = well
[prepare]
size = 32
resize = 128x128
tile = 32
transforms = anscombe, minmax
EOF
	for line in "$@"; do echo "$line" >>"$f"; done
	printf '[model]\nlayers = %s\n' "${SMALL_PLATE_LAYERS:-conv 8 3 pad 1, relu, maxpool 2, conv 16 3 pad 1, relu, maxpool 2, dense 32, relu, dense}" >>"$f"
}

# mpi_suite_setup: an MPI suite's start. Open MPI does not free what it
# allocates before the process exits, so leak checks are off (address and
# undefined-behaviour checks stay); without mpirun the suite fails at once.
mpi_suite_setup() {
	export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0"
	if ! command -v mpirun >/dev/null 2>&1; then
		fail "mpirun not found (scripts/install-deps.sh test installs openmpi-bin)"
		finish
		exit 1
	fi
}

# mpi ARGS...: mpirun on localhost, bounded in time.
mpi() { timeout 120 mpirun --allow-run-as-root --oversubscribe "$@"; }

finish() { echo "$suite: $passed passed, $failed failed"; [ "$failed" -eq 0 ]; }
