#!/bin/sh
# Fleet crash loop: 3 workers, one of them SIGKILLed and started again every
# few tenths of a second (at least 30 kills) while a sharded run and 300
# predict jobs go through. At the end every job is done once in the
# results: none lost, no duplicate or torn file, nothing left running, and
# the model equals that of `pipeline run`.
root=${PL_ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}
. "$root/tests/cli/lib.sh"
. "$root/tests/cli/fleet_lib.sh"
P=$PIPELINE
KILLS=30

fleet_start_redis || { fail "redis-server did not start"; finish; exit 1; }
fleet_config small.ini 2
fleet_sets="$fleet_sets --set queue.max_deliveries=100"

run "$P" run --workspace ref --config small.ini
expect_rc "reference run" 0
pkg=$PWD/ref/package/plate-1.0.0.tar.zst
fleet_images imgs 300

for i in 1 2 3; do fleet_worker w$i; done
run "$P" submit --queue "$Q" run --workspace ws --config small.ini --shards 4
expect_rc "submit the run" 0
run "$P" submit --queue "$Q" predict --package "$pkg" --out res imgs
expect_rc "submit 300 predict jobs" 0

kills=0
while [ $kills -lt $KILLS ]; do
	sleep 0.$(( $(od -An -N1 -tu1 /dev/urandom) % 5 + 3 ))
	name=w$(( $(od -An -N1 -tu1 /dev/urandom) % 3 + 1 ))
	pid=$(cat "$name.pid")
	kill -KILL "$pid" 2>/dev/null && kills=$((kills + 1))
	wait_pid_exit "$pid" 5
	rm -f "$name.pid"
	fleet_worker "$name"
done
check "at least $KILLS SIGKILLs" test $kills -ge $KILLS

run "$P" submit --queue "$Q" run --workspace ws --config small.ini --shards 4 --wait
expect_rc "the run ends done" 0
run "$P" submit --queue "$Q" predict --package "$pkg" --out res imgs --wait
expect_rc "the predict jobs end done" 0
fleet_stop_workers

check "the model equals pipeline run's" cmp -s ref/train/model.pnn ws/train/model.pnn
check "300 result files, nothing else in the folder" test "$(ls -A res | wc -l)" -eq 300
cat >results.py <<'EOF'
import glob, json, sys
seen = {}
for path in glob.glob("res/*.json"):
    lines = open(path).read().splitlines()
    assert len(lines) == 1, path
    row = json.loads(lines[0])
    seen[row["file"]] = seen.get(row["file"], 0) + 1
want = {"imgs/i%03d.png" % i for i in range(300)}
sys.exit(0 if set(seen) == want and set(seen.values()) == {1} else 1)
EOF
check "every input exactly once, every file whole" /usr/bin/python3 results.py
"$P" predict --package "$pkg" imgs 2>/dev/null | sort >local.txt
cat res/*.json | sort >fleet.txt
check "results equal pipeline predict" cmp -s local.txt fleet.txt
run "$P" jobs --queue "$Q" --json list
check "308 jobs done" test "$(grep -o '"status":"done"' out.txt | wc -l)" -eq 308
check "nothing running or queued" test "$(grep -c -E '"status":"(running|queued)"' out.txt)" -eq 0
check "no delivery left pending" test "$(redis-cli -p "$port" XPENDING pipeline:stream workers | head -1)" -eq 0
check "jobs were taken again after a kill" grep -q '"deliveries":[2-9]' out.txt
finish
