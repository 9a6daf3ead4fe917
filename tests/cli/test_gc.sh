#!/bin/sh
# pipeline gc: removes temporary files no stage can resume from and
# downloads of sources no longer configured; keeps stage results and a
# training run in progress at the current configuration.
root=${PL_ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}
. "$root/tests/cli/lib.sh"
P=$PIPELINE
ws=$tmp/ws

cat >small.ini <<'INI'
[dataset]
source = synth:plate?size=170x128
table = metadata.csv
channels = nuclei, nfkb
group_column = well
[prepare]
size = 32
resize = 128x128
tile = 32
[model]
layers = conv 8 3 pad 1, relu, maxpool 2, dense 16, relu, dense
[train]
epochs = 1
batch = 32
threads = 1
INI

run "$P" run -w "$ws" -c small.ini -q
expect_rc "small run" 0
mkdir -p "$ws/.tmp/junk" "$ws/.tmp/prepare-source/x"
head -c 65536 /dev/zero >"$ws/.tmp/junk/file"
cp "$ws"/downloads/synth-*.tar.gz "$ws/downloads/old-plate.tar.gz"
echo '"v1"' >"$ws/downloads/old-plate.tar.gz.part.validator"
current=$(ls "$ws"/downloads/synth-v*.tar.gz)
echo '"v2"' >"$current.part.validator"   # a resumable download keeps its validator

# a training run in progress for epochs = 2: its checkpoint must survive
fp=$(/usr/bin/python3 -c '
import json, sys
s = json.load(sys.stdin)["stages"]
print([x["fingerprint"] for x in s if x["stage"] == "train"][0])' <<JSON
$("$P" status -w "$ws" -c small.ini --set train.epochs=2 --json)
JSON
)
mkdir -p "$ws/.tmp/train/checkpoints"
printf '%s' "$fp" >"$ws/.tmp/train/.fingerprint"
echo checkpoint >"$ws/.tmp/train/checkpoints/last.ckpt"

run "$P" gc -w "$ws" -c small.ini --set train.epochs=2
expect_rc "gc" 0
expect_in "gc reports what it freed" err.txt "freed"
check "junk in .tmp removed" test ! -e "$ws/.tmp/junk"
check "stale extraction removed" test ! -e "$ws/.tmp/prepare-source"
check "old download removed" test ! -e "$ws/downloads/old-plate.tar.gz"
check "current download kept" ls "$ws"/downloads/synth-v*.tar.gz
check "old download's validator removed" test ! -e "$ws/downloads/old-plate.tar.gz.part.validator"
check "current download's validator kept" test -f "$current.part.validator"
check "training in progress kept" test -f "$ws/.tmp/train/checkpoints/last.ckpt"
for s in prepare train validate package; do
	check "$s result kept" test -f "$ws/$s/stage.json"
done
run "$P" run -w "$ws" -c small.ini
expect_rc "rerun after gc" 0
check "everything still cached" test "$(grep -c ': cached' err.txt)" -eq 4

# with the original configuration that checkpoint is of no use
run "$P" gc -w "$ws" -c small.ini
expect_rc "second gc" 0
check "unused training checkpoint removed" test ! -e "$ws/.tmp/train"

run "$P" gc -w "$tmp/nowhere" -c small.ini
expect_rc "missing workspace" 2
expect_in "names the workspace" err.txt "nowhere"
finish
