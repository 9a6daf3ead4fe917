#!/bin/sh
# Fleet mode against a real redis-server (AOF on, a free loopback port, a
# temporary directory; always stopped): a sharded run over 3 workers equals
# `pipeline run`, predict jobs equal `pipeline predict`, per-layer status,
# coalescing, a corrupt image failed and not retried, a poison job dead
# after max_deliveries, SIGTERM hands the job back, a Redis restart loses
# nothing. tests/cli/test_fleet_crash.sh is the crash loop.
root=${PL_ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}
. "$root/tests/cli/lib.sh"
. "$root/tests/cli/fleet_lib.sh"
P=$PIPELINE

fleet_start_redis || { fail "redis-server did not start"; finish; exit 1; }
fleet_config small.ini 2

# ---- a run in 4 prepare parts over 3 workers equals pipeline run ----
run "$P" run --workspace ref --config small.ini
expect_rc "reference run" 0
for i in 1 2 3; do fleet_worker w$i; done
run "$P" submit --queue "$Q" --json run --workspace ws --config small.ini --shards 4
expect_rc "submit run --shards 4" 0
sub=$(/usr/bin/python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["submission"])' out.txt)
check "8 jobs in the submission" test "$(grep -o '"id"' out.txt | wc -l)" -eq 8
"$P" jobs --queue "$Q" status >during.txt 2>&1
run "$P" submit --queue "$Q" run --workspace ws --config small.ini --shards 4 --wait
expect_rc "the same run again coalesces and waits" 0
expect_in "coalesced: no new job" out.txt "8 jobs, 0 new, 8 already known"
expect_in "status during the run: the prepare parts layer" during.txt "1 prepare-part"
expect_in "status during the run: the package layer" during.txt "5 package       0 / 1 done"
check "status during the run: workers alive" grep -q "workers: [1-9] alive" during.txt
check "model byte-identical to pipeline run" cmp -s ref/train/model.pnn ws/train/model.pnn
cat >same_metrics.py <<'EOF'
import json, sys
def strip(d):
    if isinstance(d, dict):
        return {k: strip(v) for k, v in d.items() if not k.endswith("_s") and "time" not in k}
    if isinstance(d, list):
        return [strip(x) for x in d]
    return d
a, b = (json.load(open(p)) for p in sys.argv[1:3])
sys.exit(0 if strip(a) == strip(b) else 1)
EOF
check "metrics.json equal except times" /usr/bin/python3 same_metrics.py ref/validate/metrics.json ws/validate/metrics.json
run "$P" jobs --queue "$Q" status
for layer in "1 prepare-part  4 / 4 done" "2 prepare       1 / 1 done" "3 train         1 / 1 done" \
	"4 validate      1 / 1 done" "5 package       1 / 1 done"; do
	expect_in "status afterwards: $layer" out.txt "$layer"
done
run "$P" jobs --queue "$Q" --json list --submission "$sub" --state done
check "jobs list --state done: 8" test "$(grep -o '"status":"done"' out.txt | wc -l)" -eq 8
check "parts ran on several workers" test "$(grep -o '"worker":"[^"]*"' out.txt | sort -u | wc -l)" -ge 2
pkg=$PWD/ws/package/plate-1.0.0.tar.zst

# ---- 500 predict jobs over 3 workers equal local predict ----
fleet_images imgs 500
run "$P" submit --queue "$Q" predict --package "$pkg" --out res imgs --wait
expect_rc "500 predict jobs" 0
"$P" predict --package "$pkg" imgs >local.txt 2>predict_err.txt
check "500 result files" test "$(ls res | wc -l)" -eq 500
cat res/*.json | sort >fleet.txt
sort local.txt >local_sorted.txt
check "predict jobs give exactly pipeline predict's lines" cmp -s local_sorted.txt fleet.txt
id=$(head -2 out.txt | tail -1 | awk '{print $1}')
run "$P" jobs --queue "$Q" --json show "$id"
expect_in "show: the result line" out.txt '"result":"{\"file\":\"imgs/'
expect_in "show: metrics with host" out.txt '"host":'
check "a worker loaded the package once" test "$(cat w1.log w2.log w3.log | grep -c 'loaded package')" -le 3

# ---- --batch and URL inputs (fetched as sources are) ----
run "$P" submit --queue "$Q" --json predict --package "$pkg" --batch 4 --out bres \
	imgs/i000.png imgs/i001.png imgs/i002.png imgs/i003.png "file://$PWD/imgs/i004.png" --wait
expect_rc "--batch 4 with a file:// URL" 0
check "--batch 4: 2 jobs" test "$(grep -o '"id"' out.txt | wc -l)" -eq 2
check "--batch 4: a file of 4 lines" test "$(cat bres/*.json | wc -l)" -eq 5
check "batched lines equal predict's" test "$(grep -h 'imgs/i00[0-3]' bres/*.json | sort)" = "$(grep 'imgs/i00[0-3]' local.txt | sort)"
check "a URL input gives predict's scores" test "$(grep -h '"file":"file://' bres/*.json | sed 's/.*"label"/"label"/')" = "$(grep 'imgs/i004.png' local.txt | sed 's/.*"label"/"label"/')"

# ---- a corrupt image ends failed, naming the file, not retried ----
printf '\211PNG\r\n\032\n not a png' >corrupt.png
run "$P" submit --queue "$Q" predict --package "$pkg" corrupt.png --wait
expect_rc "corrupt image: exit 1" 1
expect_in "corrupt image named" err.txt "corrupt.png"
id=$(grep corrupt.png out.txt | awk '{print $1}')
run "$P" jobs --queue "$Q" --json show "$id"
expect_in "corrupt: failed" out.txt '"status":"failed"'
expect_in "corrupt: one attempt" out.txt '"attempts":1'
run "$P" jobs --queue "$Q" list --state failed
expect_in "list --state failed" out.txt "$id"
run "$P" jobs --queue "$Q" requeue --failed
expect_in "requeue --failed" out.txt "requeued 1 job"
fleet_wait_state "$id" failed 20
check "requeued job fails again" test "$state" = failed

# ---- SIGTERM to a busy worker: exit 0 within grace, another finishes ----
fleet_stop_workers
fleet_worker busy
run "$P" submit --queue "$Q" run --workspace ws_long --config small.ini --set train.epochs=30 --set train.batch=8
expect_rc "submit a long run" 0
train=$(grep ' train ' out.txt | awk '{print $1}')
fleet_wait_state "$train" running 60
check "the train job runs" test "$state" = running
t0=$(date +%s)
kill -TERM "$(cat busy.pid)"
wait_pid_exit "$(cat busy.pid)" 15
rc_busy=$(cat busy.rc 2>/dev/null || echo none)
check "SIGTERM: worker exited 0 (exit $rc_busy)" test "$rc_busy" = 0
check "SIGTERM: within the grace time" test $(($(date +%s) - t0)) -le 6
expect_in "SIGTERM: handed back" busy.log "to hand it back"
fleet_worker other
run "$P" submit --queue "$Q" run --workspace ws_long --config small.ini --set train.epochs=30 --set train.batch=8 --wait
expect_rc "the other worker finishes the run" 0
run "$P" jobs --queue "$Q" --json show "$train"
expect_in "train done by the other worker" out.txt '"worker":"other"'

# ---- poison: aborts every worker taking it; dead after max_deliveries ----
fleet_stop_workers
fleet_images pimgs 20
cp pimgs/i000.png pimgs/poison.png
export PIPELINE_FAULT_ABORT_ON=poison
for i in 1 2; do fleet_restarting_worker r$i 12 --set queue.max_deliveries=2; done
unset PIPELINE_FAULT_ABORT_ON
run "$P" submit --queue "$Q" predict --package "$pkg" --out pres pimgs --wait
check "poison: the submission ends" test "$rc" -ne 0
expect_in "poison: reported dead" err.txt "dead"
check "poison: the 20 others done" test "$(ls pres | wc -l)" -eq 20
run "$P" jobs --queue "$Q" --json list --state dead
expect_in "poison job is dead" out.txt "poison.png"
check "poison: on the dead-letter stream" test "$(redis-cli -p "$port" XLEN pipeline:dead)" -ge 1
fleet_stop_workers

# ---- Redis restarted in the middle: nothing lost ----
for i in 1 2; do fleet_worker x$i; done
fleet_images rimgs 200
run "$P" submit --queue "$Q" predict --package "$pkg" --out rres rimgs
expect_rc "submit 200" 0
sleep 1
fleet_restart_redis
run "$P" submit --queue "$Q" predict --package "$pkg" --out rres rimgs --wait
expect_rc "after the restart every job ends" 0
check "200 results after a Redis restart" test "$(ls rres | wc -l)" -eq 200
check "a worker logged the lost connection" grep -q "lost the connection to redis" x1.log x2.log
n=0
while ! grep -q "reconnected to redis" x1.log x2.log && [ $n -lt 100 ]; do sleep 0.1; n=$((n + 1)); done
check "a worker logged the reconnection" grep -q "reconnected to redis" x1.log x2.log
grep -q "reconnected to redis" x1.log x2.log || tail -n 8 x1.log x2.log "$tmp/redis/log" >&2

# ---- cancel, flush ----
run "$P" jobs --queue "$Q" cancel 0123456789abcdef0123
expect_rc "cancel an unknown job" 2
run "$P" jobs --queue "$Q" flush --yes
expect_rc "flush" 0
run "$P" jobs --queue "$Q" --json list --state done
check "flush removed the finished jobs" test "$(cat out.txt)" = "[]"
run "$P" jobs --queue "$Q" flush --all --yes
expect_rc "flush --all" 0
check "flush --all: no key left" test "$(redis-cli -p "$port" --scan --pattern 'pipeline:*' | wc -l)" -eq 0

# ---- usage ----
run "$P" worker
expect_rc "worker without a queue" 2
expect_in "worker: names what to give" err.txt "PIPELINE_QUEUE"
run "$P" worker --queue rediss://127.0.0.1:1
expect_rc "rediss refused" 2
run "$P" submit --queue "$Q" predict --package "$pkg" --shards 2 x.png
expect_rc "submit predict --shards" 2
run "$P" jobs --queue redis://127.0.0.1:1 status
expect_rc "no redis: temporary failure" 75

# a worker killed without a goodbye: hidden after a lease, and removed
redis-cli -p "$port" HSET pipeline:workers ghost \
	'{"job":"-","state":"idle","host":"h","pid":1,"heartbeat":1}' >/dev/null
run "$P" jobs --queue "$Q" --json status
expect_rc "status with a dead worker" 0
check "the dead worker is not listed" sh -c '! grep -q ghost out.txt'
check "its entry is removed" test "$(redis-cli -p "$port" HEXISTS pipeline:workers ghost)" -eq 0

fleet_stop_workers
finish
