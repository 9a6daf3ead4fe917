#!/bin/sh
# Benchmarks fleet mode: predict jobs per second of one `pipeline worker` on
# small images (64x64, one job per image, the demo's package), against a
# Python consumer of the same protocol shape (tests/bench/fleet_consumer.py:
# redis-py, PIL, torch, the same network), alternately in one run; and the
# per-job queue overhead (a job's wall time minus the predict time of one
# image in one `pipeline predict` over all of them). Target: 10x the Python
# consumer's jobs/s. Figures only.
# Usage: scripts/bench-fleet.sh [JOBS] [ROUNDS]
#   (env B = build directory, BENCH_WS = a finished demo workspace to reuse)
set -eu
# shellcheck source=tests/bench/lib.sh
. "$(dirname "$0")/../tests/bench/lib.sh"
jobs=${1:-300}
rounds=${2:-3}
build_pipeline
bench_tmp
section "fleet: predict jobs/s of one worker, $jobs small images (target 10x the Python consumer)"
ensure_demo
dir="$tmp/fleet"
mkdir -p "$dir/redis"
pkg=$(ls "$BENCH_WS"/package/*.tar.zst)
port=$("$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
redis-server --port "$port" --bind 127.0.0.1 --dir "$dir/redis" --appendonly yes --save '' \
	--logfile "$dir/redis/log" &
redis_pid=$!
trap 'kill "$redis_pid" 2>/dev/null; rm -rf "$tmp"' EXIT
n=0
until [ "$(redis-cli -p "$port" ping 2>/dev/null)" = PONG ] || [ $n -ge 50 ]; do sleep 0.1; n=$((n + 1)); done
Q=redis://127.0.0.1:$port
"$PY" -c 'import sys
import numpy as np
from PIL import Image
r = np.random.default_rng(1)
for i in range(int(sys.argv[2])):
    a = np.zeros((64, 64, 3), np.uint8)
    a[..., 1:] = r.integers(0, 256, (64, 64, 2))
    Image.fromarray(a).save("%s/i%04d.png" % (sys.argv[1], i))' "$dir" "$jobs"
"$PY" tests/bench/baseline_predict.py --save "$dir/model.pt"

now() { date +%s.%N; }
# One round of pipeline: a fresh queue, one worker (package load included),
# all jobs submitted, the time until the last is done.
pipeline_round() {
	redis-cli -p "$port" flushall >/dev/null
	t0=$(now)
	"$PIPELINE" worker --queue "$Q" --name bench --idle-exit 1 --log-format json 2>"$dir/worker.log" &
	wpid=$!
	"$PIPELINE" submit --queue "$Q" predict --package "$pkg" "$dir"/i*.png --wait >/dev/null
	t1=$(now)
	kill -TERM "$wpid" 2>/dev/null; wait "$wpid" || true
	awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.4f\n", b - a }'
}
python_round() {
	redis-cli -p "$port" flushall >/dev/null
	t0=$(now)
	"$PY" tests/bench/fleet_consumer.py produce "$Q" py "$dir"/i*.png
	"$PY" tests/bench/fleet_consumer.py consume "$Q" py "$dir/model.pt" "$jobs"
	t1=$(now)
	awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.4f\n", b - a }'
}
: >"$dir/p.txt"
: >"$dir/py.txt"
for r in $(seq "$rounds"); do
	pipeline_round >>"$dir/p.txt"
	python_round >>"$dir/py.txt"
	echo "round $r: pipeline $(tail -n 1 "$dir/p.txt") s, python $(tail -n 1 "$dir/py.txt") s"
done
median() { sort -n "$1" | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
p=$(median "$dir/p.txt")
b=$(median "$dir/py.txt")
t0=$(now)
"$PIPELINE" predict --package "$pkg" "$dir"/i*.png >/dev/null
t1=$(now)
per_predict=$(awk -v a="$t0" -v b="$t1" -v n="$jobs" 'BEGIN { printf "%.6f\n", (b - a) / n }')
awk -v p="$p" -v b="$b" -v n="$jobs" -v q="$per_predict" 'BEGIN {
	printf "pipeline worker: %.0f jobs/s (median %.2f s for %d)\n", n / p, p, n
	printf "python consumer: %.0f jobs/s (median %.2f s for %d)\n", n / b, b, n
	printf "ratio: %.1fx\n", b / p
	printf "per job: %.2f ms, of which predict %.2f ms (pipeline predict over all %d in one process), queue %.2f ms\n",
		p / n * 1000, q * 1000, n, (p / n - q) * 1000 }'
summary_row "fleet predict jobs/s (1 worker)" "$(awk -v p="$p" -v n="$jobs" 'BEGIN { printf "%.0f", n / p }')" \
	"$(awk -v b="$b" -v n="$jobs" 'BEGIN { printf "%.0f (redis-py+torch)", n / b }')" "$(ratio "$p" "$b") faster"
summary_row "fleet queue overhead per job" "$(awk -v p="$p" -v n="$jobs" -v q="$per_predict" 'BEGIN { printf "%.2f ms", (p / n - q) * 1000 }')" \
	"predict $(awk -v q="$per_predict" 'BEGIN { printf "%.2f ms", q * 1000 }')" ""
