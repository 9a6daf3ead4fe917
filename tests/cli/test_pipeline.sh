#!/bin/sh
# pipeline run / status / clean end to end on a small demo plate: the stage
# artifacts, caching (nothing rewritten on a rerun), dry runs and their
# reasons, --force/--until, the validation gate (exit 3), the workspace
# lock, configuration errors (exit 2), environment variables, help texts,
# and the package: reproducible, and refused by predict when tampered with.
root=${PL_ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}
. "$root/tests/cli/lib.sh"
py=/usr/bin/python3
P=$PIPELINE
ws=$tmp/ws

# The demo plate at 170x128, wells resized to 128x128 and cut into 16 tiles
# of 32 px, two epochs: the whole pipeline takes about a second.
small_plate_ini small.ini "seed = 1"
cat >>small.ini <<'EOF'
[train]
epochs = 3
batch = 32
optimizer = adam
lr = 0.01
seed = 1
threads = 1
[validate]
min_metric = weighted_f1
min_value = 0.6
[package]
name = plate-classifier
version = 1.2.0
EOF
pkg=$ws/package/plate-classifier-1.2.0.tar.zst

# mtimes: the modification times (ns) of every stage.json and the package.
mtimes() { stat -c '%n %y' "$ws"/*/stage.json "$pkg" 2>/dev/null; }
mtime() { stat -c '%y' "$1" 2>/dev/null; }

# both: stdout and stderr of the last run, together.
both() { cat out.txt err.txt >all.txt; }

# ---- the full run ----
run "$P" run --workspace "$ws" --config small.ini
expect_rc "first run" 0
both
for s in prepare train validate package; do
	check "$s/stage.json exists" test -s "$ws/$s/stage.json"
	expect_in "first run runs $s" all.txt "$s: running (never run)"
done
for f in prepare/labels.txt prepare/stats.json train/model.pnn train/history.csv \
	train/curves.png train/curves.svg validate/metrics.json validate/confusion.csv \
	validate/confusion.png validate/confusion.svg validate/roc.svg \
	validate/roc.csv validate/report.md validate/mlpipeline-metrics.json \
	validate/mlpipeline-ui-metadata.json package/Dockerfile package/stack.yml; do
	check "artifact $f" test -s "$ws/$f"
done
check "package archive" test -s "$pkg"
check "checkpoints dir" test -d "$ws/train/checkpoints"
check "train shards" sh -c "ls '$ws'/prepare/train-*-of-*.rec.zst >/dev/null"
check "test shards" sh -c "ls '$ws'/prepare/test-*-of-*.rec.zst >/dev/null"
check "val shards" sh -c "ls '$ws'/prepare/val-*-of-*.rec.zst >/dev/null"
check "labels are the two classes" sh -c "[ \"\$(sort '$ws/prepare/labels.txt' | tr '\n' ' ')\" = 'high low ' ]"
# stage.json lists every output with its size and SHA-256, and they match.
"$py" - "$ws" >sj.txt 2>&1 <<'EOF'
import hashlib, json, os, sys
ws = sys.argv[1]
bad = []
for s in ("prepare", "train", "validate", "package"):
    d = json.load(open(os.path.join(ws, s, "stage.json")))
    outs = d.get("outputs")
    if isinstance(outs, dict):
        outs = [dict(v, path=k) for k, v in outs.items()]
    if not outs:
        bad.append(s + ": no outputs")
        continue
    for o in outs:
        name = o.get("path") or o.get("name") or o.get("file")
        p = os.path.join(ws, s, name)
        data = open(p, "rb").read()
        if o.get("bytes") != len(data) or o.get("sha256") != hashlib.sha256(data).hexdigest():
            bad.append(s + "/" + name)
    for k in ("fingerprint", "config"):
        if k not in d:
            bad.append(s + ": no " + k)
print("ok" if not bad else "bad: " + " ".join(bad))
EOF
expect_in "stage.json outputs match the files" sj.txt "ok"
# The demo plate: 96 wells of 16 tiles, split by well.
"$py" - "$ws/prepare/stats.json" >st.txt 2>&1 <<'EOF'
import json, sys
d = json.load(open(sys.argv[1]))
t = d["tiles_per_split"]
print("ok" if d["samples"] == 96 and d["tiles"] == 1536 and sum(t.values()) == 1536
      and all(v % 16 == 0 and v > 0 for v in t.values()) and d["skipped"] == [] else d)
EOF
expect_in "stats.json counts" st.txt "ok"

# ---- a second run: every stage cached, nothing rewritten ----
mtimes >m1.txt
run "$P" run --workspace "$ws" --config small.ini
expect_rc "second run" 0
both
for s in prepare train validate package; do
	expect_in "second run: $s cached" all.txt "$s: cached"
done
check "second run runs nothing" sh -c "! grep -q ': running' all.txt"
mtimes >m2.txt
check "second run rewrites nothing" cmp -s m1.txt m2.txt

# ---- status ----
run "$P" status --workspace "$ws" --config small.ini
expect_rc "status" 0
for s in prepare train validate package; do
	check "status: $s done" grep -q "^$s  *done" out.txt
done
expect_in "status shows weighted_f1" out.txt "weighted_f1="
expect_in "status shows group accuracy" out.txt "group_accuracy="
run "$P" status --workspace "$ws" --config small.ini --json
expect_rc "status --json" 0
cat >sjson.py <<'EOF'
import json, sys
d = json.load(sys.stdin)
st = {s["stage"]: s for s in d["stages"]}
m = json.load(open(sys.argv[1] + "/validate/metrics.json"))
ok = [s for s in ("prepare", "train", "validate", "package") if st[s]["state"] == "done"
      and st[s]["reason"] == "cached"]
vm = st["validate"]["metrics"]
print("states", len(ok))
print("wf1", abs(vm["weighted_f1"] - m["crop"]["weighted_f1"]) < 1e-9)
print("gacc", abs(vm["group_accuracy"] - m["group"]["accuracy"]) < 1e-9)
print("samples", st["prepare"]["metrics"]["samples"])
EOF
"$py" sjson.py "$ws" <out.txt >sjson.txt 2>&1
expect_in "status --json: four stages done/cached" sjson.txt "states 4"
expect_in "status --json: weighted_f1 = metrics.json" sjson.txt "wf1 True"
expect_in "status --json: group accuracy = metrics.json" sjson.txt "gacc True"
expect_in "status --json: prepare samples" sjson.txt "samples 96"

# ---- --dry-run with a changed learning rate ----
run "$P" run --workspace "$ws" --config small.ini --set train.lr=0.02 --dry-run
expect_rc "dry run" 0
both
expect_in "dry run: prepare cached" all.txt "prepare: cached"
expect_in "dry run: train reason" all.txt "train: would run (config changed: train.lr 0.01 -> 0.02)"
expect_in "dry run: validate upstream" all.txt "validate: would run (upstream train changed)"
expect_in "dry run: package upstream" all.txt "package: would run (upstream validate changed)"
check "dry run runs nothing" sh -c "! grep -q ': running' all.txt"
mtimes >m3.txt
check "dry run writes nothing" cmp -s m1.txt m3.txt
# The same through status.
run "$P" status --workspace "$ws" --config small.ini --set train.lr=0.02
expect_in "status: train stale with reason" out.txt "config changed: train.lr 0.01 -> 0.02"

# ---- package reproducibility ----
sum1=$(sha256sum "$pkg" | cut -c1-64)
run "$P" run --workspace "$ws" --config small.ini --force package
expect_rc "--force package" 0
both
expect_in "--force package runs package" all.txt "package: running (forced)"
sum2=$(sha256sum "$pkg" | cut -c1-64)
check "--force package: byte-identical package ($sum1 vs $sum2)" test "$sum1" = "$sum2"

# Two workspaces with the same SOURCE_DATE_EPOCH: byte-identical packages,
# created at that time, holding the Dockerfile and stack.yml written beside.
for w in e1 e2; do
	SOURCE_DATE_EPOCH=1700000000 "$P" run --workspace "$tmp/$w" --config small.ini >/dev/null 2>&1
done
p1=$tmp/e1/package/$(basename "$pkg") p2=$tmp/e2/package/$(basename "$pkg")
check "SOURCE_DATE_EPOCH: two workspaces, byte-identical packages" cmp -s "$p1" "$p2"
mkdir -p e1x && tar --zstd -xf "$p1" -C e1x
check "SOURCE_DATE_EPOCH: the manifest's creation time" \
	grep -q '"created": "2023-11-14T22:13:20Z"' e1x/MANIFEST.json
check "the archive holds the Dockerfile written beside it" cmp -s e1x/Dockerfile "$tmp/e1/package/Dockerfile"
check "the archive holds the stack.yml written beside it" cmp -s e1x/stack.yml "$tmp/e1/package/stack.yml"
check "the manifest covers the Dockerfile" grep -q "\"Dockerfile\": \"$(sha256sum e1x/Dockerfile | cut -c1-64)\"" e1x/MANIFEST.json
# SOURCE_DATE_EPOCH is an input of the package: another value makes it again
run env SOURCE_DATE_EPOCH=1700000001 "$P" run --workspace "$tmp/e1" --config small.ini --log-format human
expect_in "another SOURCE_DATE_EPOCH: package runs" err.txt "package: running (input data changed)"
expect_in "another SOURCE_DATE_EPOCH: the rest cached" err.txt "validate: cached"

# ---- --force validate ----
t_train=$(mtime "$ws/train/stage.json")
t_val=$(mtime "$ws/validate/stage.json")
run "$P" run --workspace "$ws" --config small.ini --force validate
expect_rc "--force validate" 0
both
expect_in "--force validate runs validate" all.txt "validate: running (forced)"
expect_in "--force validate: train cached" all.txt "train: cached"
check "--force validate rewrites validate" test "$(mtime "$ws/validate/stage.json")" != "$t_val"
check "--force validate leaves train" test "$(mtime "$ws/train/stage.json")" = "$t_train"

# ---- --until train ----
mtimes >m4.txt
run "$P" run --workspace "$ws" --config small.ini --set train.lr=0.02 --until train
expect_rc "--until train" 0
both
expect_in "--until train trains" all.txt "train: running (config changed: train.lr 0.01 -> 0.02)"
check "--until train: validate not run" sh -c "! grep -q 'validate: running' all.txt"
check "--until train: validate untouched" test "$(mtime "$ws/validate/stage.json")" = "$(grep validate/stage.json m4.txt | cut -d' ' -f2-)"
check "--until train: package untouched" test "$(mtime "$pkg")" = "$(grep "$pkg" m4.txt | cut -d' ' -f2-)"
run "$P" status --workspace "$ws" --config small.ini --set train.lr=0.02
check "status after --until: validate stale" grep -q "^validate  *stale.*upstream train changed" out.txt

# ---- the gate ----
run "$P" run --workspace "$ws" --config small.ini --set validate.min_value=1.0
expect_rc "gate not met: exit 3" 3
both
expect_in "gate message: metric" err.txt "weighted_f1"
expect_in "gate message: threshold" err.txt "below the gate of 1.0000"
expect_in "gate message: key" err.txt "[validate] min_value"
check "gate: package not run" sh -c "! grep -q 'package: running' all.txt"
run "$P" status --workspace "$ws" --config small.ini --set validate.min_value=1.0
check "status: validate failed" grep -q "^validate  *failed.*below the gate of 1.0000" out.txt
run "$P" status --workspace "$ws" --config small.ini --set validate.min_value=1.0 --json
"$py" -c "import json,sys; s={x['stage']: x for x in json.load(sys.stdin)['stages']}; v=s['validate']; print(v['state'], 'gate' in v['reason'])" <out.txt >g.txt 2>&1
expect_in "status --json: validate failed with reason" g.txt "failed True"
run "$P" run --workspace "$ws" --config small.ini --set validate.level=group \
	--set validate.min_metric=balanced_accuracy --set validate.min_value=1.0
expect_rc "group-level gate not met: exit 3" 3
expect_in "group-level gate: metric and level" err.txt "balanced_accuracy"
expect_in "group-level gate: level" err.txt "at group level"
run "$P" run --workspace "$ws" --config small.ini
expect_rc "reachable gate: run succeeds" 0
run "$P" status --workspace "$ws" --config small.ini --json
"$py" -c "import json,sys; print(' '.join(x['state'] for x in json.load(sys.stdin)['stages']))" <out.txt >g.txt 2>&1
expect_in "after the gate passes: all done" g.txt "done done done done"
check "package present after the gate passes" test -s "$pkg"

# ---- one pipeline at a time ----
# A process holding the workspace lock the way a running pipeline does.
"$py" - "$ws/.lock" >holder.txt 2>&1 <<'EOF' &
import fcntl, os, sys, time
fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT, 0o644)
fcntl.flock(fd, fcntl.LOCK_EX)
os.ftruncate(fd, 0)
os.write(fd, b"%d\n" % os.getpid())
print("locked", flush=True)
time.sleep(30)
EOF
holder=$!
i=0
while [ $i -lt 100 ]; do
	grep -q locked holder.txt 2>/dev/null && break
	sleep 0.1
	i=$((i + 1))
done
mtimes >m4b.txt
run "$P" run --workspace "$ws" --config small.ini --force train
expect_rc "second pipeline refused" 1
expect_in "lock message names the holder's pid" err.txt "pid $holder"
expect_in "lock message says in use" err.txt "in use by another pipeline"
mtimes >m4c.txt
check "refused runs wrote nothing" cmp -s m4b.txt m4c.txt
# a stage begun under the lock's holder is running, not interrupted
run "$P" status --workspace "$ws" --config small.ini --set train.epochs=4 --json
mkdir -p "$ws/.tmp/train"
"$py" -c "import json,sys; print(json.load(sys.stdin)['stages'][1]['fingerprint'], end='')" \
	<out.txt >"$ws/.tmp/train/.fingerprint"
run "$P" status --workspace "$ws" --config small.ini --set train.epochs=4
check "status: the holder's stage is running" grep -q "^train .*running (pid $holder)$" out.txt
kill "$holder" 2>/dev/null
wait "$holder" 2>/dev/null
run "$P" status --workspace "$ws" --config small.ini --set train.epochs=4
check "status: once the holder is gone, interrupted" grep -q "^train .*interrupted$" out.txt
rm -rf "$ws/.tmp/train"
run "$P" run --workspace "$ws" --config small.ini
expect_rc "lock released when its holder is gone" 0

# ---- a finished workspace on a read-only mount (where a bind mount can be made) ----
mkdir -p romnt
if mount --bind "$ws" romnt 2>/dev/null && mount -o remount,bind,ro romnt 2>/dev/null; then
	run "$P" run --workspace romnt --config small.ini
	expect_rc "read-only and all cached" 0
	run "$P" run --workspace romnt --config small.ini --set train.epochs=2
	expect_rc "read-only with work to do" 1
	expect_in "read-only: says why and which stage would run" err.txt "Read-only file system; train would run"
	umount romnt
else
	umount romnt 2>/dev/null
	echo "note: no read-only bind mount here; that case is not run" >&2
fi

# ---- a workspace that is a file, or not there ----
: >afile
run "$P" run --workspace afile --config small.ini
expect_rc "a workspace that is a file" 2
expect_in "is named as not a directory" err.txt "workspace 'afile' is not a directory"
run "$P" status --workspace nowhere --config small.ini
expect_rc "status of a workspace not made yet" 0
expect_in "says it does not exist" err.txt "workspace 'nowhere' does not exist yet"
check "and creates nothing" test ! -e nowhere

# ---- configuration errors ----
printf '[dataset]\nsource = synth:plate\n[train]\nepoks = 3\n' >bad1.ini
run "$P" run --workspace "$ws" --config bad1.ini
expect_rc "unknown key" 2
expect_in "unknown key: file:line" err.txt "bad1.ini:4"
expect_in "unknown key: name" err.txt "'epoks'"
expect_in "unknown key: did you mean" err.txt "did you mean 'epochs'"
printf '[train]\nbatch = 64\nepochs = many\n' >bad2.ini
run "$P" run --workspace "$ws" --config bad2.ini
expect_rc "bad type" 2
expect_in "bad type: file:line" err.txt "bad2.ini:3"
expect_in "bad type: key and value" err.txt "train.epochs = 'many' is not an integer"
printf '[train]\nlr = 50\n' >bad3.ini
run "$P" run --workspace "$ws" --config bad3.ini
expect_rc "out of range" 2
expect_in "out of range: file:line" err.txt "bad3.ini:2"
expect_in "out of range: allowed" err.txt "train.lr = 50 is out of range (1e-09 to 10)"
printf '[dataset]\nsource = x\n\n[trian]\nlr = 0.1\n' >bad4.ini
run "$P" run --workspace "$ws" --config bad4.ini
expect_rc "unknown section" 2
expect_in "unknown section: file:line" err.txt "bad4.ini:4"
expect_in "unknown section: name" err.txt "unknown section [trian]"
printf '[validate]\nmin_metric = f2\n' >bad5.ini
run "$P" run --workspace "$ws" --config bad5.ini
expect_rc "bad choice" 2
expect_in "bad choice: file:line and key" err.txt "bad5.ini:2"
expect_in "bad choice: allowed values" err.txt "weighted_f1"
# An error followed by further valid lines is still the one reported.
printf '[train]\nepoks = 3\nbatch = 8\n\n[validate]\nmin_value = 0.5\n' >bad6.ini
run "$P" run --workspace "$ws" --config bad6.ini
expect_rc "unknown key mid-file" 2
expect_in "unknown key mid-file: file:line and key" err.txt "bad6.ini:2: unknown key 'epoks' in [train] (did you mean 'epochs'?)"
printf '[train]\nepochs = many\nbatch = 8\n' >bad7.ini
run "$P" run --workspace "$ws" --config bad7.ini
expect_rc "bad type mid-file" 2
expect_in "bad type mid-file: file:line and key" err.txt "bad7.ini:2: train.epochs = 'many' is not an integer"
printf '[train]\nbatch = 8\nbatch = 16\nlr = 0.1\n' >bad8.ini
run "$P" run --workspace "$ws" --config bad8.ini
expect_rc "duplicate key mid-file" 2
expect_in "duplicate key mid-file: named" err.txt "bad8.ini:3: duplicate key 'batch'"
run "$P" run --workspace "$ws" --config missing.ini
expect_rc "missing config file" 2
expect_in "missing config file named" err.txt "missing.ini"
run "$P" run --workspace "$ws" --config small.ini --set train.lr
expect_rc "--set without =" 2
expect_in "--set without =" err.txt "'train.lr' is not of the form section.key=value"
run "$P" run --workspace "$ws" --config small.ini --set train.lr=abc
expect_rc "--set bad number" 2
expect_in "--set bad number" err.txt "train.lr = 'abc' is not a number"
run "$P" run --workspace "$ws" --config small.ini --set train.lrr=0.1
expect_rc "--set unknown key" 2
expect_in "--set unknown key: did you mean" err.txt "did you mean 'lr'"
run "$P" run --workspace "$ws" --config small.ini --set foo.bar=1
expect_rc "--set unknown section" 2
expect_in "--set unknown section" err.txt "unknown section [foo]"
mtimes >m5.txt
check "configuration errors ran nothing" sh -c "! grep -q ': running' err.txt"

# ---- environment variables ----
PIPELINE_WORKSPACE=$ws PIPELINE_CONFIG=small.ini run "$P" run
expect_rc "PIPELINE_WORKSPACE + PIPELINE_CONFIG" 0
both
expect_in "environment: cached run" all.txt "package: cached"
mtimes >m6.txt
check "environment: nothing rewritten" cmp -s m5.txt m6.txt
PIPELINE_WORKSPACE=$ws PIPELINE_CONFIG=small.ini PIPELINE_SET='train.lr=0.02;validate.min_value=0.5' \
	run "$P" run --dry-run
expect_rc "PIPELINE_SET dry run" 0
both
expect_in "PIPELINE_SET: train.lr" all.txt "train: would run (config changed: train.lr 0.01 -> 0.02)"
PIPELINE_WORKSPACE=$ws PIPELINE_CONFIG=small.ini PIPELINE_SET='train.lr=0.02' \
	run "$P" run --dry-run --set train.lr=0.03
both
expect_in "--set wins over PIPELINE_SET" all.txt "train.lr 0.01 -> 0.03"
PIPELINE_WORKSPACE=$ws PIPELINE_CONFIG=small.ini PIPELINE_SET='train.nope=1' run "$P" run --dry-run
expect_rc "PIPELINE_SET unknown key" 2
expect_in "PIPELINE_SET unknown key named" err.txt "nope"
PIPELINE_CONFIG=missing.ini run "$P" status --workspace "$ws"
expect_rc "PIPELINE_CONFIG missing file" 2
expect_in "PIPELINE_CONFIG missing file named" err.txt "missing.ini"
run "$P" run --config small.ini
expect_rc "no workspace" 2
expect_in "no workspace: says how" err.txt "PIPELINE_WORKSPACE"

# ---- help and usage ----
run "$P" help
expect_rc "help" 0
expect_in "help lists commands" out.txt "predict"
expect_in "help lists run" out.txt "run "
run "$P" help run
expect_rc "help run" 0
expect_in "help run: options" out.txt "--workspace DIR"
expect_in "help run: exit codes" out.txt "3 the validation gate was not met"
run "$P" help config
expect_rc "help config" 0
expect_in "help config: keys" out.txt "min_value"
expect_in "help config: sections" out.txt "[train]"
run "$P" --version
expect_rc "--version" 0
check "--version prints a version" grep -Eq '^pipeline [0-9]+\.[0-9]+\.[0-9]+' out.txt
run "$P" frobnicate
expect_rc "unknown command" 2
expect_in "unknown command named" err.txt "unknown command 'frobnicate'"
run "$P" run --workspace "$ws" --bogus
expect_rc "unknown option" 2
expect_in "unknown option named" err.txt "unknown option '--bogus'"
expect_in "unknown option: the usage" err.txt "usage: pipeline run --workspace DIR"
run "$P" run --workspace "$ws" --set
expect_rc "option without its value" 2
expect_in "option without its value named" err.txt "option '--set' needs a value"
run "$P" run --workspace "$tmp/never" --config small.ini --from package --until prepare
expect_rc "--from after --until" 2
expect_in "--from after --until named" err.txt "--from package comes after --until prepare"
run "$P" run --workspace "$tmp/none" --config small.ini --force package --until train
expect_rc "--force outside the range" 2
expect_in "--force outside the range: said" err.txt "--force package is outside the stages run (prepare to train)"
check "--force outside the range: no workspace made" test ! -e "$tmp/none"
run "$P" run --workspace "$tmp/never" --config small.ini --from bogus
expect_rc "--from unknown stage" 2
check "--from unknown stage creates no workspace" test ! -e "$tmp/never"
run "$P" stage train --workspace "$tmp/fresh" --config small.ini --log-format human
expect_rc "stage train on a fresh workspace" 2
expect_in "stage train names what is missing" err.txt "train cannot start: prepare has no current result (never run)"
run "$P" help frobnicate
expect_rc "help of an unknown command" 2
run "$P" run --workspace "$ws" --config small.ini --force nosuchstage
expect_rc "--force unknown stage" 2
expect_in "--force unknown stage named" err.txt "nosuchstage"

# ---- early stopping: the headline metrics are those of the kept epoch ----
run "$P" run --workspace "$tmp/pat" --config small.ini --until train --set train.epochs=8 \
	--set train.patience=1 --set train.lr=0.05
expect_rc "early stopping" 0
check "train metrics describe the best epoch, whose weights are kept" "$py" -c '
import csv, json, sys
rows = list(csv.DictReader(open(sys.argv[1] + "/history.csv")))
m = json.load(open(sys.argv[1] + "/stage.json"))["metrics"]
best = min(range(len(rows)), key=lambda i: float(rows[i]["val_loss"]))
sys.exit(not (m["best_epoch"] == best + 1 and abs(m["val_loss"] - float(rows[best]["val_loss"])) < 1e-4
              and m["epochs"] == len(rows)))' "$tmp/pat/train"

# ---- clean ----
mtimes >m7.txt
run "$P" clean --workspace "$ws" validate
expect_rc "clean validate" 0
check "clean removed validate" test ! -e "$ws/validate"
check "clean kept train" test -s "$ws/train/stage.json"
run "$P" status --workspace "$ws" --config small.ini
check "status after clean: validate never run" grep -q "^validate  *never run" out.txt
run "$P" run --workspace "$ws" --config small.ini
expect_rc "run after clean" 0
both
expect_in "after clean: prepare cached" all.txt "prepare: cached"
expect_in "after clean: train cached" all.txt "train: cached"
expect_in "after clean: validate reruns" all.txt "validate: running (never run)"
check "after clean: train untouched" test "$(mtime "$ws/train/stage.json")" = "$(grep train/stage.json m7.txt | cut -d' ' -f2-)"
check "after clean: validate rewritten" test -s "$ws/validate/stage.json"
# Downstream of the redone stage: package is redone, or cached only when
# the redone stage reproduced the same fingerprint (a deterministic rerun).
check "after clean: package accounted for" grep -Eq 'package: (running|cached)' all.txt
check "after clean: package present" test -s "$pkg"
# Cleaning train: it is redone (deterministically, one thread: the same
# model), prepare stays cached; validate may be cached only because the
# redone model is byte-identical.
model_sum=$(sha256sum "$ws/train/model.pnn" | cut -c1-64)
t_prep=$(mtime "$ws/prepare/stage.json")
run "$P" clean --workspace "$ws" train
expect_rc "clean train" 0
check "clean removed train" test ! -e "$ws/train"
run "$P" run --workspace "$ws" --config small.ini
expect_rc "run after clean train" 0
both
expect_in "after clean train: train reruns" all.txt "train: running (never run)"
expect_in "after clean train: prepare cached" all.txt "prepare: cached"
check "after clean train: prepare untouched" test "$(mtime "$ws/prepare/stage.json")" = "$t_prep"
check "after clean train: the same model" test "$(sha256sum "$ws/train/model.pnn" | cut -c1-64)" = "$model_sum"
check "after clean train: validate accounted for" grep -Eq 'validate: (running|cached)' all.txt
run "$P" clean --workspace "$ws" nosuchstage
expect_rc "clean of an unknown stage" 2
run "$P" clean --workspace "$ws" train --downloads
expect_rc "clean of one stage with --downloads: refused" 2
check "and the downloads are kept" test -n "$(ls "$ws/downloads")"
check "and train too" test -s "$ws/train/stage.json"

# ---- a tampered package is refused by predict ----
"$py" - "$pkg" <<'EOF' >tamper.txt 2>&1
import ctypes, io, sys, tarfile
z = ctypes.CDLL("libzstd.so.1")
z.ZSTD_getFrameContentSize.restype = ctypes.c_ulonglong
z.ZSTD_decompress.restype = ctypes.c_size_t
z.ZSTD_compressBound.restype = ctypes.c_size_t
z.ZSTD_compress.restype = ctypes.c_size_t
z.ZSTD_isError.argtypes = [ctypes.c_size_t]

class Buf(ctypes.Structure):
    _fields_ = [("p", ctypes.c_void_p), ("size", ctypes.c_size_t), ("pos", ctypes.c_size_t)]
z.ZSTD_createDStream.restype = ctypes.c_void_p
z.ZSTD_decompressStream.restype = ctypes.c_size_t
z.ZSTD_decompressStream.argtypes = [ctypes.c_void_p, ctypes.POINTER(Buf), ctypes.POINTER(Buf)]

def unzstd(data):
    ds = z.ZSTD_createDStream()
    src = ctypes.create_string_buffer(data, len(data))
    out = ctypes.create_string_buffer(1 << 20)
    ib = Buf(ctypes.cast(src, ctypes.c_void_p), len(data), 0)
    parts = []
    while True:
        ob = Buf(ctypes.cast(out, ctypes.c_void_p), len(out), 0)
        r = z.ZSTD_decompressStream(ds, ctypes.byref(ob), ctypes.byref(ib))
        if z.ZSTD_isError(r):
            raise ValueError("zstd")
        parts.append(out.raw[:ob.pos])
        if ib.pos >= ib.size and ob.pos < len(out):
            break
    return b"".join(parts)

def zstd(data):
    cap = z.ZSTD_compressBound(ctypes.c_size_t(len(data)))
    out = ctypes.create_string_buffer(cap)
    n = z.ZSTD_compress(out, ctypes.c_size_t(cap), data, ctypes.c_size_t(len(data)), 3)
    return out.raw[:n]

src = tarfile.open(fileobj=io.BytesIO(unzstd(open(sys.argv[1], "rb").read())))
members = [(m, src.extractfile(m).read()) for m in src.getmembers()]
print("entries", " ".join(m.name for m, _ in members))

def write(name, items):
    b = io.BytesIO()
    with tarfile.open(fileobj=b, mode="w", format=tarfile.USTAR_FORMAT) as t:
        for m, data in items:
            m = tarfile.TarInfo(m.name) if not isinstance(m, tarfile.TarInfo) else m
            m.size = len(data)
            t.addfile(m, io.BytesIO(data))
    open(name, "wb").write(zstd(b.getvalue()))

write("same.tar.zst", members)
flipped = []
for m, data in members:
    if m.name == "model.pnn":
        d = bytearray(data)
        d[len(d) // 2] ^= 0x01
        data = bytes(d)
    flipped.append((m, data))
write("flipped.tar.zst", flipped)
write("extra.tar.zst", members + [(tarfile.TarInfo("extra.txt"), b"hello\n")])
write("extrafirst.tar.zst", [(tarfile.TarInfo("extra.txt"), b"hello\n")] + members)
dup = [x for x in members if x[0].name == "labels.txt"]
write("dup.tar.zst", members + [(tarfile.TarInfo("labels.txt"), dup[0][1])])
write("nomanifest.tar.zst", [x for x in members if x[0].name != "MANIFEST.json"])
# the order of packages made before predict read only what it uses: MANIFEST.json last
write("oldorder.tar.zst", [x for x in members if x[0].name != "MANIFEST.json"] +
      [x for x in members if x[0].name == "MANIFEST.json"])
onnx = []
for m, data in members:
    if m.name == "model.onnx":
        d = bytearray(data)
        d[len(d) // 2] ^= 0x01
        data = bytes(d)
    onnx.append((m, data))
write("onnxflip.tar.zst", onnx)
EOF
expect_in "package holds the model and manifest" tamper.txt "model.pnn"
expect_in "package holds MANIFEST.json" tamper.txt "MANIFEST.json"
expect_in "what predict reads comes first, model.onnx last" tamper.txt \
	"entries MANIFEST.json model.pnn labels.txt metrics.json report.md Dockerfile stack.yml inference-service.yaml model.onnx"
# A sample for predict: a well of the plate, drawn again by pipeline synth.
"$P" synth --out "$tmp/" --size 170x128 >/dev/null 2>&1
a=$tmp/plate/images/A01_nuclei.bmp
b=$tmp/plate/images/A01_nfkb.bmp
run "$P" predict --package same.tar.zst --channels "$a,$b"
expect_rc "a repacked, untouched package works" 0
expect_in "repacked package predicts" out.txt '"label":'
cp out.txt same.txt
run "$P" predict --package flipped.tar.zst --channels "$a,$b"
check "flipped byte in the model: refused" test "$rc" -ne 0
expect_in "flipped byte: names model.pnn" err.txt "'model.pnn' does not match its SHA-256"
check "flipped byte: no prediction" test ! -s out.txt
run "$P" verify
expect_rc "verify without a package: usage error" 2
expect_in "verify without a package: says so" err.txt "name the package(s) to verify"
run "$P" verify "$pkg" same.tar.zst
expect_rc "verify: the package and its repacked copy" 0
expect_in "verify: counts the files" out.txt "same.tar.zst: ok, 9 files match MANIFEST.json"
# predict reads MANIFEST.json and model.pnn and stops there: what comes after
# is neither read nor trusted by it, and `pipeline verify` checks everything.
run "$P" predict --package oldorder.tar.zst --channels "$a,$b"
expect_rc "a package in the former order (MANIFEST.json last) still works" 0
check "former order: the same prediction" cmp -s out.txt same.txt
run "$P" verify oldorder.tar.zst
expect_rc "verify: the former order" 0
run "$P" predict --package onnxflip.tar.zst --channels "$a,$b"
expect_rc "flipped byte in model.onnx, which predict does not read: predicts" 0
check "flipped model.onnx: the same prediction" cmp -s out.txt same.txt
run "$P" verify onnxflip.tar.zst
expect_rc "verify: flipped byte in model.onnx refused" 1
expect_in "verify: names model.onnx" err.txt "'model.onnx' does not match its SHA-256"
run "$P" predict --package extra.tar.zst --channels "$a,$b"
expect_rc "extra entry after the model: not read by predict" 0
run "$P" verify extra.tar.zst
expect_rc "verify: extra entry refused" 1
expect_in "verify: extra entry named" err.txt "'extra.txt' is not listed in MANIFEST.json"
run "$P" predict --package extrafirst.tar.zst --channels "$a,$b"
check "extra entry before the model: refused" test "$rc" -ne 0
expect_in "extra entry before the model: names it" err.txt "'extra.txt' is not listed in MANIFEST.json"
check "extra entry before the model: no prediction" test ! -s out.txt
run "$P" predict --package dup.tar.zst --channels "$a,$b"
expect_rc "duplicate entry after the model: not read by predict" 0
run "$P" verify dup.tar.zst
expect_rc "verify: duplicate entry refused" 1
expect_in "verify: duplicate entry named" err.txt "entry 'labels.txt' appears twice"
run "$P" verify flipped.tar.zst
expect_rc "verify: flipped byte in the model refused" 1
expect_in "verify: names model.pnn" err.txt "'model.pnn' does not match its SHA-256"
run "$P" predict --package nomanifest.tar.zst --channels "$a,$b"
check "no manifest: refused" test "$rc" -ne 0
expect_in "no manifest: says so" err.txt "has no MANIFEST.json"
head -c 1000 "$pkg" >trunc.tar.zst
run "$P" predict --package trunc.tar.zst --channels "$a,$b"
check "truncated package: refused" test "$rc" -ne 0
check "truncated package: names the file" grep -q "trunc.tar.zst" err.txt

finish
