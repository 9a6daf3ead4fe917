#!/bin/sh
# Benchmarks serving over HTTP on loopback: req/s and p50/p99 latency of
# one 64x64 RGB crop (stains in G and B) POSTed to /, at concurrency 1, 8
# and 32 (wrk, SECONDS per point), against `pipeline serve` on the demo's
# package, one `pipeline predict` process per request (the classic
# watchdog's way), and Flask + torch with the same net and weights (read
# from the package's model.onnx); the three take turns at each concurrency.
# Targets at concurrency 8: 10x the fork-per-request req/s, 5x Flask's,
# p99 under 20 ms. Figures only.
# Usage: scripts/bench-serve.sh [SECONDS]
#   (env B = build directory, BENCH_WS = a finished demo workspace to reuse)
set -eu
# shellcheck source=tests/bench/lib.sh
. "$(dirname "$0")/../tests/bench/lib.sh"
secs=${1:-${BENCH_SERVE_SECONDS:-5}}
build_pipeline
bench_tmp
section "serving over HTTP: one 64x64 image per request, wrk ${secs} s per point (targets at c=8: 10x fork, 5x Flask, p99 < 20 ms)"
command -v wrk >/dev/null || { echo "bench-serve: wrk not found (scripts/install-deps.sh bench)"; exit 1; }
ensure_demo
dir="$tmp/serve"
mkdir -p "$dir"
pkg=$(ls "$BENCH_WS"/package/*.tar.zst)
tar -xf "$pkg" -C "$dir" model.onnx
"$PY" -c 'import sys
import numpy as np
from PIL import Image
r = np.random.default_rng(1)
a = np.zeros((64, 64, 3), np.uint8)
a[..., 1] = r.integers(0, 256, (64, 64))
a[..., 2] = r.integers(0, 256, (64, 64))
Image.fromarray(a).save(sys.argv[1])' "$dir/crop.png"
cat >"$dir/post.lua" <<EOF
wrk.method = "POST"
local f = io.open("$dir/crop.png", "rb")
wrk.body = f:read("*a")
f:close()
wrk.headers["Content-Type"] = "image/png"
EOF

pids=''
stop_all() { for p in $pids; do kill "$p" 2>/dev/null; done; for p in $pids; do wait "$p" 2>/dev/null || true; done; pids=''; }
trap 'stop_all; [ -n "${BENCH_TMP:-}" ] || rm -rf "$tmp"' EXIT
free_port() { "$PY" -c "import socket; s=socket.socket(); s.bind(('127.0.0.1', 0)); print(s.getsockname()[1])"; }
wait_up() {   # URL: up to 60 s
	"$PY" -c "import sys, time, urllib.request
for _ in range(600):
    try:
        urllib.request.urlopen(sys.argv[1], timeout=1); sys.exit(0)
    except Exception:
        time.sleep(0.1)
sys.exit(1)" "$1"
}
p_serve=$(free_port); p_fork=$(free_port); p_flask=$(free_port)
"$PIPELINE" serve --package "$pkg" --port "$p_serve" --log-format json 2>"$dir/serve.log" &
pids="$pids $!"
"$PY" tests/bench/serve_baselines.py fork "$p_fork" "$PIPELINE" "$pkg" 2>"$dir/fork.log" &
pids="$pids $!"
"$PY" tests/bench/serve_baselines.py flask "$p_flask" "$dir/model.onnx" 2>"$dir/flask.log" &
pids="$pids $!"
wait_up "http://127.0.0.1:$p_serve/v2/health/ready" && wait_up "http://127.0.0.1:$p_fork/health" &&
	wait_up "http://127.0.0.1:$p_flask/health" || { echo "bench-serve: a server did not start"; tail -n 5 "$dir"/*.log; exit 1; }
for s in serve:$p_serve fork:$p_fork flask:$p_flask; do
	echo "${s%%:*}: $("$PY" -c "import sys, urllib.request
print(urllib.request.urlopen(urllib.request.Request(sys.argv[1], open(sys.argv[2], 'rb').read())).read().decode().strip())" "http://127.0.0.1:${s#*:}/" "$dir/crop.png")"
done

# point NAME PORT C: one wrk run; appends "NAME C req/s p50_ms p99_ms errors" to points.txt
point() {
	wrk -t "$(($3 < 2 ? 1 : 2))" -c "$3" -d "${secs}s" --timeout 10s --latency -s "$dir/post.lua" \
		"http://127.0.0.1:$2/" >"$dir/wrk.txt" 2>&1 || true
	awk -v name="$1" -v c="$3" '
		function ms(v) { if (v ~ /us$/) return v * 0.001; if (v ~ /ms$/) return v + 0; if (v ~ /s$/) return v * 1000; return v }
		/^ +50%/ { p50 = ms($2) } /^ +99%/ { p99 = ms($2) } /^Requests\/sec:/ { rps = $2 }
		/Non-2xx|Socket errors/ { err = err $0 }
		END { printf "%s %d %.1f %.2f %.2f %s\n", name, c, rps, p50, p99, (err == "" ? "-" : "errors") }' \
		"$dir/wrk.txt" >>"$dir/points.txt"
}
: >"$dir/points.txt"
for c in 1 8 32; do
	point "pipeline-serve" "$p_serve" "$c"
	point "fork-per-request" "$p_fork" "$c"
	point "flask-torch" "$p_flask" "$c"
done
stop_all
batches=$(grep -o '"stopped after [^"]*' "$dir/serve.log" | tail -n 1 || true)
printf '%-18s %4s %10s %9s %9s %s\n' server conc req/s p50_ms p99_ms errors
awk '{ printf "%-18s %4d %10.1f %9.2f %9.2f %s\n", $1, $2, $3, $4, $5, $6 }' "$dir/points.txt"
[ -z "$batches" ] || echo "pipeline serve: ${batches#\"}"
at8() { awk -v n="$1" -v f="$2" '$1 == n && $2 == 8 { print $f }' "$dir/points.txt"; }
s=$(at8 pipeline-serve 3); f=$(at8 fork-per-request 3); k=$(at8 flask-torch 3)
summary_row "serve req/s at c=8 (p99)" "$s ($(at8 pipeline-serve 5) ms)" "fork $f, flask $k" \
	"$(awk -v a="$s" -v b="$f" 'BEGIN { printf "%.1fx", a / b }') fork, $(awk -v a="$s" -v b="$k" 'BEGIN { printf "%.1fx", a / b }') flask"
