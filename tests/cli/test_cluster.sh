#!/bin/sh
# Sharded prepare and the container entrypoint contract: N shards started at
# once on one workspace equal a single-process prepare byte for byte; a shard
# killed midway, or missing, is redone by the assembly; two processes on one
# shard end with one result; a done shard exits 0 at once; status lists the
# missing shards with the command that redoes each; the local stand-in for
# the cluster equals `pipeline run`; SIGTERM or SIGKILL during train leaves a
# checkpoint the next run resumes from, and status says so; `pipeline stage`
# logs JSON when not on a terminal.
. "$(dirname "$0")/lib.sh"

root=${PL_ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}
py=/usr/bin/python3
export PIPELINE_CONFIG="$root/pipeline.ini"
export PIPELINE_SET="dataset.source=synth:plate?size=170x128;prepare.resize=128x128;prepare.tile=32;prepare.size=32;train.epochs=1;validate.min_value=0"
unset PIPELINE_WORKSPACE PIPELINE_LOG_FORMAT JOB_COMPLETION_INDEX
P=$PIPELINE
fp_dir() { echo "$1/.tmp/prepare-shards/$(fp_of ref prepare)"; }
fp_of() { $py -c 'import json,sys; print(json.load(open(sys.argv[1]))["fingerprint"])' "$1/$2/stage.json"; }

# same_prepare DESC WS: WS/prepare equals ref/prepare (records, dataset.json,
# labels, groups byte for byte; stats.json but its timing; the fingerprint).
same_prepare() {
	if $py - ref/prepare "$2/prepare" >same.txt 2>&1 <<'EOF'
import filecmp, json, os, sys
a, b = sys.argv[1:3]
files = sorted(f for f in os.listdir(a) if f.endswith(".rec.zst"))
assert len(files) == 6, files
assert files == sorted(f for f in os.listdir(b) if f.endswith(".rec.zst")), os.listdir(b)
for f in files + ["dataset.json", "labels.txt", "groups.txt"]:
    assert filecmp.cmp(os.path.join(a, f), os.path.join(b, f), shallow=False), f
def stats(d):
    s = json.load(open(os.path.join(d, "stats.json")))
    del s["elapsed_s"], s["images_per_s"]
    return s
assert stats(a) == stats(b), (stats(a), stats(b))
fp = lambda d: json.load(open(os.path.join(d, "stage.json")))["fingerprint"]
assert fp(a) == fp(b)
EOF
	then ok; else fail "$1: $(head -c 600 same.txt)"; fi
}

# the reference: prepare in one process
run $P stage prepare --workspace ref
expect_rc "single-process prepare" 0
expect_in "stage logs JSON lines when stderr is not a terminal" err.txt '{"time":'
run env PIPELINE_LOG_FORMAT=human $P stage prepare --workspace ref
expect_in "PIPELINE_LOG_FORMAT=human" err.txt 'prepare: cached'
run $P stage prepare --workspace ref
expect_in "a cached stage's JSON line names it in its stage field" err.txt '"stage":"prepare","msg":"cached (finished'
run env PIPELINE_SET='dataset.source=/nonexistent' $P stage prepare --workspace bad
expect_rc "a failing stage in JSON mode" 2
check "its error is a JSON line too" /usr/bin/python3 -c '
import json, sys
lines = open("err.txt").read().splitlines()
last = json.loads(lines[-1])
sys.exit(not (all(json.loads(l) for l in lines) and last["level"] == "error" and
              "/nonexistent" in last["msg"]))'

# 4 shards at once, then the assembly
for i in 0 1 2 3; do $P stage prepare --shard $i/4 --workspace four 2>four-$i.log & done
codes=''
for job in 1 2 3 4; do wait %$job; codes="$codes$?"; done
check "4 shards at once exit 0 ($codes)" [ "$codes" = 0000 ]
check "4 parts committed" [ -f "$(fp_dir four)/3-of-4/records.rec.zst" ]
check "no workspace lock is needed by shards" [ ! -e four/.lock ]
run $P stage prepare --workspace four
expect_rc "assembly" 0
expect_in "assembly uses the parts" err.txt 'assembling 4 shard parts'
same_prepare "4 shards equal a single process" four
check "parts removed after the assembly" [ ! -e "$(fp_dir four)" ]
run $P stage prepare --shard 1/4 --workspace four
expect_rc "a shard of a done prepare" 0
expect_in "a shard of a done prepare is cached" err.txt 'cached'

# a done shard exits 0 at once; status lists the missing one; assembly does it
run $P stage prepare --shard 0/2 --workspace half
expect_rc "shard 0/2" 0
run $P stage prepare --shard 0/2 --workspace half
expect_rc "shard 0/2 again" 0
expect_in "shard 0/2 again does no work" err.txt 'shard 0/2 is already done'
check "shard 0/2 again decodes nothing" sh -c '! grep -q -e decoding -e extracting err.txt'
run $P status --workspace half
expect_in "status counts the parts" out.txt 'prepare shards: 1 of 2 done'
expect_in "status lists the missing shard's redo command" out.txt \
	'1/2       missing   redo: pipeline stage prepare --shard 1/2 --workspace half'
expect_in "status shows a done part" out.txt '0/2       done      768 tiles'
run $P status --workspace half --json
check "status --json has the shards" $py -c '
import json, sys
s = json.load(open("out.txt"))["stages"][0]["shards"]
assert s["count"] == 2 and s["done"] == 1, s
assert s["parts"][0]["state"] == "done" and s["parts"][0]["tiles"] == 768, s
assert s["parts"][1]["redo"] == "pipeline stage prepare --shard 1/2 --workspace half", s'
run $P stage prepare --workspace half
expect_rc "assembly doing a missing part" 0
expect_in "the assembly does the missing part" err.txt 'shard 1/2: samples 48 to 96'
same_prepare "half sharded, half by the assembly" half

# a shard killed with SIGKILL midway is redone by the assembly
for i in 0 2 3; do $P stage prepare --shard $i/4 --workspace killed 2>/dev/null; done
$P stage prepare --shard 1/4 --workspace killed --set prepare.threads=1 2>killed.log &
pid=$!
while kill -0 $pid 2>/dev/null && ! ls -d killed/.tmp/prepare-shards/*/.build-1-of-4-* >/dev/null 2>&1; do :; done
kill -KILL $pid 2>/dev/null
wait $pid 2>/dev/null
if [ -e "$(fp_dir killed)/1-of-4" ]; then echo "note: shard 1/4 finished before SIGKILL" >&2; fi
run $P stage prepare --workspace killed
expect_rc "assembly after a killed shard" 0
same_prepare "a killed shard is redone" killed
check "nothing left of the killed shard" [ ! -e killed/.tmp/prepare-shards ]

# two processes on the same shard at once: one result
$P stage prepare --shard 1/3 --workspace race 2>race-a.log & a=$!
$P stage prepare --shard 1/3 --workspace race 2>race-b.log & b=$!
wait $a; ra=$?; wait $b; rb=$?
check "both processes on one shard exit 0 ($ra $rb)" [ "$ra$rb" = 00 ]
check "one part, no leftovers" [ "$(ls -a "$(fp_dir race)" | grep -c -e of-3 -e '^\.ws' -e '^\.build')" = 1 ]
run $P stage prepare --workspace race
same_prepare "a raced shard" race

# parts of different counts: the set with the larger share done is used
for s in 0/2 0/3 2/3; do $P stage prepare --shard $s --workspace mixed 2>/dev/null; done
run $P status --workspace mixed
expect_in "status picks the set of 3" out.txt 'prepare shards: 2 of 3 done'
run $P stage prepare --workspace mixed
expect_in "the assembly uses the set of 3" err.txt 'assembling 3 shard parts'
same_prepare "parts of different counts" mixed

# SIGTERM stops a shard cleanly: exit 130, no part, nothing left behind
$P stage prepare --shard 0/1 --workspace termed --set prepare.threads=1 2>termed.log &
pid=$!
while kill -0 $pid 2>/dev/null && ! ls -d termed/.tmp/prepare-shards/*/.build-0-of-1-* >/dev/null 2>&1; do :; done
kill -TERM $pid
wait $pid; rc=$?
expect_rc "SIGTERM during a shard" 130
check "SIGTERM leaves no part and no build" [ -z "$(ls -A "$(fp_dir termed)")" ]

# a shard that fails leaves its reason: status lists it with the command
# that redoes it; once it is done, the reason is gone
mkdir -p badsrc/a badsrc/b
$py -c '
from PIL import Image
for c, v in (("a", 40), ("b", 200)):
    for i in range(4):
        Image.new("L", (16, 16), v + i).save("badsrc/%s/%d.png" % (c, i))
open("badsrc/b/3.png", "wb").write(b"\x89PNG\r\n\x1a\nnot really")'
src="dataset.source=$PWD/badsrc;dataset.table=;prepare.resize=;prepare.tile=0;prepare.size=16"
for i in 0 1; do $P stage prepare --shard $i/2 --workspace badshard --set "$src" 2>/dev/null; done
run $P status --workspace badshard --set "$src"
expect_in "status: one shard done" out.txt "prepare shards: 1 of 2 done"
check "status: the failed shard with its reason" grep -q "^  1/2 *failed *.*badsrc/b/3.png" out.txt
expect_in "status: and the command that redoes it" out.txt "redo: pipeline stage prepare --shard 1/2"
rm badsrc/b/3.png
run $P stage prepare --shard 1/2 --workspace badshard --set "$src"
expect_rc "the shard redone" 0
run $P status --workspace badshard --set "$src" --json
check "status once the data is fixed: no failure shown" sh -c '! grep -q failed out.txt'

# shard options
run $P stage prepare --shard 4/4 --workspace bad
expect_rc "--shard 4/4" 2
expect_in "--shard 4/4 message" err.txt "invalid shard '4/4'"
run $P stage prepare --shard /4 --workspace bad
expect_rc "--shard /4 without JOB_COMPLETION_INDEX" 2
run $P stage train --shard 0/2 --workspace bad
expect_rc "--shard for train" 2
run env JOB_COMPLETION_INDEX=3 $P stage prepare --shard /4 --workspace indexed
expect_rc "--shard /4 with JOB_COMPLETION_INDEX=3" 0
check "JOB_COMPLETION_INDEX=3 builds part 3" [ -d "$(fp_dir indexed)/3-of-4" ]

# the stand-in cluster equals pipeline run
run $P run --workspace plain
expect_rc "pipeline run" 0
run env PIPELINE="$P" sh "$root/scripts/run-as-cluster.sh" --workspace cluster --shards 3
expect_rc "run-as-cluster.sh" 0
expect_in "the stand-in runs the shards" err.txt 'starting prepare-shard-2: pipeline stage --shard 2/3 prepare'
for s in prepare train validate package; do
	check "cluster $s fingerprint" [ "$(fp_of cluster $s)" = "$(fp_of plain $s)" ]
done
check "cluster metrics.json equals run's" cmp -s cluster/validate/metrics.json plain/validate/metrics.json
same_prepare "cluster prepare" cluster
# a shard that fails for good: the stand-in goes on, as the workflow does,
# and the assembly redoes its share
cat >failing.sh <<EOF
#!/bin/sh
case " \$* " in *" --shard 1/3 "*) exit 1 ;; esac
exec "$P" "\$@"
EOF
chmod +x failing.sh
run env PIPELINE="$PWD/failing.sh" sh "$root/scripts/run-as-cluster.sh" --workspace lost --shards 3
expect_rc "run-as-cluster.sh with a shard that fails" 0
expect_in "the failed shard is said" err.txt "a shard failed (exit 1); the assembly redoes its share"
same_prepare "a failed shard's share redone" lost
run env PIPELINE="$P" sh "$root/scripts/run-as-cluster.sh" --workspace
expect_rc "run-as-cluster.sh: an option without its value" 2

# A model retrained with the same inputs (forced, on another CPU count) is
# validated and packaged again: the package never holds a model that train
# no longer has
cp -r plain retrain
run taskset -c 0 $P run --workspace retrain --force train --log-format human
expect_rc "train forced on one CPU" 0
check "the package holds train's model" sh -c \
	'tar --zstd -xOf retrain/package/*.tar.zst model.pnn | cmp -s - retrain/train/model.pnn'
if ! cmp -s plain/train/model.pnn retrain/train/model.pnn; then
	expect_in "a new model is validated again" err.txt 'validate: running (upstream train has new outputs)'
fi

# SIGTERM during train: exit 130, the checkpoint stays, the next run resumes
cp -r ref term
$P run --workspace term --set train.epochs=4 2>term.log &
pid=$!
while kill -0 $pid 2>/dev/null && [ ! -f term/.tmp/train/checkpoints/last.ckpt ]; do sleep 0.05; done
kill -TERM $pid
wait $pid; rc=$?
expect_rc "SIGTERM during train" 130
check "train not committed after SIGTERM" [ ! -e term/train/stage.json ]
check "checkpoint kept" [ -f term/.tmp/train/checkpoints/last.ckpt ]
run $P stage train --workspace term --set train.epochs=4
expect_rc "train after SIGTERM" 0
expect_in "train resumes" err.txt 'resuming after epoch'

# SIGKILL during train: status says a checkpoint resumes it, the rerun says
# why it runs, and a resume with another thread count warns that the weights
# will differ from an uninterrupted run's
cp -r ref killed
taskset -c 0 $P run --workspace killed --set train.epochs=8 2>killed.log &
pid=$!
while kill -0 $pid 2>/dev/null && [ ! -f killed/.tmp/train/.note ]; do sleep 0.05; done
kill -KILL $pid
wait $pid
run $P status --workspace killed --set train.epochs=8
check "status: a killed train waits on its checkpoint" \
	grep -q -E '^train .*interrupted; a checkpoint resumes it after epoch [1-7] of 8$' out.txt
run $P stage train --workspace killed --set train.epochs=8 --log-format human
expect_rc "train after SIGKILL" 0
expect_in "the rerun says why" err.txt 'train: running (interrupted; a checkpoint resumes it after epoch'
if [ "$(nproc)" -gt 1 ]; then
	expect_in "another thread count is warned of" err.txt 'written by a run with 1 threads and this one has'
fi
check "the note is not part of the result" [ ! -e killed/train/.note ]
check "nor listed in stage.json" sh -c '! grep -q "\.note" killed/train/stage.json'

# A duplicated step while another process holds the workspace: it waits,
# then finds the stage done (exit 0); SIGTERM while waiting ends it (130).
flock term/.lock sleep 1 &
holder=$!
sleep 0.2
run $P stage train --workspace term --set train.epochs=4
wait $holder
expect_rc "stage while the workspace is held" 0
expect_in "it says it waits" err.txt 'is in use by another pipeline'
expect_in "then finds train done" err.txt 'cached'
flock term/.lock sleep 5 &
holder=$!
sleep 0.2
$P stage train --workspace term --set train.epochs=4 2>wait.log &
pid=$!
sleep 0.5
kill -TERM $pid
wait $pid; rc=$?
kill $holder 2>/dev/null
expect_rc "SIGTERM while waiting for the workspace" 130
expect_in "waiting interrupted" wait.log 'interrupted while waiting for workspace'

# PIPELINE_UI_DIR: the validate step's Kubeflow UI files describe the model
# it judged, whether it passed or missed the gate (never an older result).
run env PIPELINE_UI_DIR="$PWD/ui-pass" $P stage validate --workspace term --set train.epochs=4
expect_rc "validate with PIPELINE_UI_DIR" 0
check "UI files of the passed validate" cmp -s ui-pass/mlpipeline-metrics.json term/validate/mlpipeline-metrics.json
check "UI files present after a cached validate" sh -c \
	'env PIPELINE_UI_DIR="$PWD/ui-cached" "$0" stage validate --workspace term --set train.epochs=4 2>/dev/null &&
	 cmp -s ui-cached/mlpipeline-metrics.json term/validate/mlpipeline-metrics.json' "$P"
$P stage train --workspace term --set train.epochs=2 2>/dev/null
run env PIPELINE_UI_DIR="$PWD/ui-gate" $P stage validate --workspace term --set train.epochs=2 --set validate.min_value=1
expect_rc "validate of another model below the gate" 3
check "UI files of the missed gate" sh -c \
	'cmp -s ui-gate/mlpipeline-metrics.json term/.tmp/validate/mlpipeline-metrics.json &&
	 cmp -s ui-gate/mlpipeline-ui-metadata.json term/.tmp/validate/mlpipeline-ui-metadata.json'
check "... not the older committed ones" sh -c '! cmp -s ui-gate/mlpipeline-metrics.json term/validate/mlpipeline-metrics.json'

finish
