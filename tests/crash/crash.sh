#!/bin/sh
# Crash consistency, measured: runs the pipeline on the small demo plate and
# kills it with SIGKILL at seeded random moments spread over every stage
# (some runs under strace with fsync/rename delayed, to widen the windows
# between writing, syncing and renaming). After each kill `pipeline status`
# must exit 0 and every stage it calls done must have every output listed in
# its stage.json with the right size and SHA-256; then `pipeline run` must
# complete, and its model.pnn and metrics.json must equal those of an
# uninterrupted run.
#
# Usage: tests/crash/crash.sh [KILLS] [SEED]   (PIPELINE names the binary;
# default ./pipeline). Ends with "crash: N kills survived / M corrupted results"
# and exits non-zero when anything was wrong.
set -u
kills=${1:-200}
seed=${2:-1}
root=$(cd "$(dirname "$0")/../.." && pwd)
bin=${PIPELINE:-$root/pipeline}
py=/usr/bin/python3
tmp=$(mktemp -d /tmp/plcrash-XXXXXX)
trap 'rm -rf "$tmp"' EXIT
ws=$tmp/ws

set -- --config "$root/pipeline.ini" \
	--set 'dataset.source=synth:plate?size=170x128' --set prepare.resize=128x128 \
	--set prepare.tile=32 --set prepare.size=32 --set train.epochs=3 \
	--set validate.min_value=0.5

survived=0 corrupted=0 bad=0 done_kills=0 ok_kills=0

# rand N: sets r to a seeded pseudo-random integer in 0..N-1 (an LCG; not
# called in a subshell, so that the state advances).
state=$seed
rand() { state=$(( (state * 1103515245 + 12345) % 2147483648 )); r=$(( (state / 65536) % $1 )); }

# verify: status exits 0 and every stage it calls done has valid outputs.
verify() {
	if ! "$bin" status --workspace "$ws" "$@" --json >"$tmp/status.json" 2>"$tmp/status.err"; then
		echo "crash: status exited non-zero after kill $done_kills: $(head -c 300 "$tmp/status.err")" >&2
		return 1
	fi
	"$py" - "$ws" "$tmp/status.json" <<'EOF'
import hashlib, json, os, sys
ws, st = sys.argv[1], json.load(open(sys.argv[2]))
bad = []
for s in st["stages"]:
    if s["state"] not in ("done", "cached"):
        continue
    d = os.path.join(ws, s["stage"])
    try:
        meta = json.load(open(os.path.join(d, "stage.json")))
    except Exception as e:
        bad.append("%s: reported done but stage.json unreadable: %s" % (s["stage"], e)); continue
    if meta.get("fingerprint") != s.get("fingerprint"):
        bad.append("%s: status fingerprint differs from stage.json" % s["stage"])
    for o in meta.get("outputs", []):
        p = os.path.join(d, o["path"])
        try:
            data = open(p, "rb").read()
        except Exception as e:
            bad.append("%s: output %s missing: %s" % (s["stage"], o["path"], e)); continue
        if len(data) != o["bytes"] or hashlib.sha256(data).hexdigest() != o["sha256"]:
            bad.append("%s: output %s has %d bytes / wrong sha256" % (s["stage"], o["path"], len(data)))
for b in bad:
    print("crash: " + b, file=sys.stderr)
sys.exit(1 if bad else 0)
EOF
}

# result: the SHA-256 of the final model and metrics.
result() { cat "$ws/train/model.pnn" "$ws/validate/metrics.json" 2>/dev/null | sha256sum | cut -c1-64; }

# Reference: an uninterrupted run, stage by stage, each step timed in
# milliseconds so that the kills can be spread over every stage.
ms() { echo $(( $(date +%s%N) / 1000000 )); }
span=0
for until in prepare train validate package; do
	t0=$(ms)
	if ! "$bin" run --workspace "$ws" "$@" --until "$until" >"$tmp/ref.log" 2>&1; then
		echo "crash: the uninterrupted run failed:"; tail -n 20 "$tmp/ref.log"; exit 1
	fi
	eval "ms_$until=$(( $(ms) - t0 ))"
	span=$((span + $(ms) - t0))
done
ref=$(result)
cp "$ws/train/model.pnn" "$tmp/ref.pnn"; cp "$ws/validate/metrics.json" "$tmp/ref.metrics.json"
echo "crash: uninterrupted run ${span} ms (prepare $ms_prepare, train $ms_train, validate $ms_validate, package $ms_package), result $(echo "$ref" | cut -c1-16)"

# left: milliseconds the stages not yet done in $ws take (from the last
# status check; all of them in a fresh workspace).
left() {
	if [ ! -d "$ws" ] || [ ! -s "$tmp/status.json" ]; then echo "$span"; return; fi
	todo=$("$py" -c 'import json, sys
print(" ".join(s["stage"] for s in json.load(open(sys.argv[1]))["stages"] if s["state"] not in ("done", "cached")))' "$tmp/status.json" 2>/dev/null)
	n=0
	for st in $todo; do eval "n=\$((n + ms_$st))"; done
	echo $((n > 0 ? n : 50))
}

while [ "$done_kills" -lt "$kills" ]; do
	# a fresh workspace; half the time the download is kept
	rand 2
	if [ "$r" -eq 0 ]; then
		find "$ws" -mindepth 1 -maxdepth 1 ! -name downloads -exec rm -rf {} +
	else
		rm -rf "$ws"
	fi
	ok_kills=0
	rand 3; chain=$((r + 1))  # up to 3 kills in a row before a completing run
	rm -f "$tmp/status.json"
	while [ "$chain" -gt 0 ] && [ "$done_kills" -lt "$kills" ]; do
		chain=$((chain - 1))
		left=$(left)  # a kill later in a chain hits a run with less left to do
		rand 3; mode=$r
		if [ "$mode" -eq 0 ]; then
			# under strace: every fsync and rename waits 30 ms first
			rand $((left * 3 + 200)); delay=$r
			strace -f -qq -o /dev/null -e trace=fsync,fdatasync,rename,renameat,renameat2 \
				-e inject=fsync,fdatasync,rename,renameat,renameat2:delay_enter=30000 \
				"$bin" run --workspace "$ws" "$@" >"$tmp/run.log" 2>&1 &
			tracer=$!
			sleep "$(printf '0.%03d' $(( delay % 1000 )))"; sleep $(( delay / 1000 ))
			victim=$(pgrep -P "$tracer" | head -n 1)
			[ -n "$victim" ] && kill -KILL "$victim" 2>/dev/null
			wait "$tracer" 2>/dev/null
		else
			rand $((left + 1)); delay=$r
			"$bin" run --workspace "$ws" "$@" >"$tmp/run.log" 2>&1 &
			victim=$!
			sleep "$(printf '0.%03d' $(( delay % 1000 )))"; sleep $(( delay / 1000 ))
			kill -KILL "$victim" 2>/dev/null
			wait "$victim" 2>/dev/null
		fi
		done_kills=$((done_kills + 1))
		# where it was killed: the last stage that logged "running", else
		# "done" when the run had finished, else "start"
		where=$(sed -n 's/^\([a-z]*\): running.*/\1/p' "$tmp/run.log" | tail -n 1)
		grep -q '^package: done' "$tmp/run.log" && where=finished
		echo "${where:-start}" >>"$tmp/where"
		[ -n "${CRASH_DEBUG:-}" ] && echo "kill $done_kills: mode $mode, delay $delay of $left ms: ${where:-start}"
		if verify "$@"; then ok_kills=$((ok_kills + 1)); else bad=$((bad + 1)); fi
	done
	if ! timeout 300 "$bin" run --workspace "$ws" "$@" >"$tmp/run.log" 2>&1; then
		echo "crash: the run after kill $done_kills failed:" >&2; tail -n 5 "$tmp/run.log" >&2
		corrupted=$((corrupted + 1)); continue
	fi
	if ! verify "$@"; then bad=$((bad + 1)); ok_kills=0; fi
	got=$(result)
	if [ "$got" = "$ref" ]; then
		survived=$((survived + ok_kills))
	else
		corrupted=$((corrupted + 1))
		echo "crash: result after kill $done_kills differs from the uninterrupted run:" >&2
		cmp "$ws/train/model.pnn" "$tmp/ref.pnn" >&2
		cmp "$ws/validate/metrics.json" "$tmp/ref.metrics.json" >&2
		[ -d "$tmp/diff" ] || { mkdir -p "$tmp/diff"; cp -r "$ws/train" "$ws/validate" "$tmp/diff/"; }
	fi
done
echo "crash: kills by stage: $(sort "$tmp/where" | uniq -c | awk '{printf "%s %s, ", $2, $1}')"
echo "crash: $done_kills kills, $bad untruthful status checks"
echo "crash: $survived kills survived / $corrupted corrupted results"
[ "$bad" -eq 0 ] && [ "$corrupted" -eq 0 ] && [ "$survived" -eq "$done_kills" ]
