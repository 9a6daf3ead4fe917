#!/bin/sh
# Paths longer than PATH_MAX: a workspace or output deep enough that the
# files below it do not fit gives "path too long" and exit 1, never a cut
# path (which would name another file).
root=${PL_ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}
. "$root/tests/cli/lib.sh"
P=$PIPELINE

# deep LEN: a directory path of LEN bytes under $tmp, in components of 100
deep() {
	d=$tmp
	while [ $(( ${#d} + 101 )) -lt "$1" ]; do
		d=$d/$(printf '%0100d' 0)
	done
	printf '%s/%s' "$d" "$(printf '%0*d' $(( $1 - ${#d} - 1 )) 0)"
}

cat >small.ini <<'INI'
[dataset]
source = synth:plate?size=170x128
table = metadata.csv
channels = nuclei, nfkb
group_column = well
INI

# the workspace itself fits; WS/downloads/synth-....tar.gz does not
ws=$(deep 4070)
check "deep() gives 4070 bytes" [ ${#ws} -eq 4070 ]
run "$P" run -w "$ws" -c small.ini -q
expect_rc "run in a deep workspace" 1
expect_in "run names the cause" err.txt "path too long: '$tmp/"
check "nothing drawn or downloaded" [ ! -e "$ws/downloads" ]
top=$tmp/$(printf '%0100d' 0)   # a cut path would land somewhere in here
check "no cut path was written" sh -c '! find "$1" -type f ! -name .lock | grep -q .' sh "$top"

run "$P" status -w "$ws" -c small.ini
expect_rc "status in a deep workspace" 1
expect_in "status names the cause" err.txt "path too long"

# a workspace over PATH_MAX cannot even be created
run "$P" run -w "$ws/$(printf '%0100d' 0)" -c small.ini -q
expect_rc "workspace over PATH_MAX" 1
expect_in "its message" err.txt "path too long"

# synth: the output directory fits, its staging directory does not
out=$(deep 4080)
mkdir -p "$out"
run "$P" synth --out "$out/plate.tar.gz"
expect_rc "synth into a deep directory" 1
expect_in "synth names the cause" err.txt "path too long"
check "synth left nothing" sh -c '[ -z "$(ls -A "$1")" ]' sh "$out"

finish
