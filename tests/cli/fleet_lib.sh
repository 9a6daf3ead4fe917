# Helpers for the fleet tests (sourced after lib.sh): a redis-server of the
# test's own, workers in the background, tiny images and configuration.
# Everything started here is stopped by the EXIT trap.
workers_list=$tmp/workers.list
: >"$workers_list"
redis_pid=""
ulimit -c 0   # the poison job aborts workers: no core files

fleet_cleanup() {
	while read -r name; do
		[ -f "$tmp/$name.pid" ] && kill -KILL "$(cat "$tmp/$name.pid")" 2>/dev/null
	done <"$workers_list"
	[ -f "$tmp/restarters" ] && while read -r pid; do kill -KILL "$pid" 2>/dev/null; done <"$tmp/restarters"
	[ -n "$redis_pid" ] && kill -KILL "$redis_pid" 2>/dev/null
	cd /
	rm -rf "$tmp"
}
trap fleet_cleanup EXIT

# wait_pid_exit PID SECONDS: waits (bounded) until PID is gone.
wait_pid_exit() {
	n=0
	while kill -0 "$1" 2>/dev/null && [ $n -lt $(($2 * 10)) ]; do sleep 0.1; n=$((n + 1)); done
}

redis_up() {
	redis-server --port "$port" --bind 127.0.0.1 --dir "$tmp/redis" --appendonly yes \
		--appendfsync everysec --save '' --logfile "$tmp/redis/log" &
	redis_pid=$!
	n=0
	until [ "$(redis-cli -p "$port" ping 2>/dev/null)" = PONG ]; do
		n=$((n + 1))
		[ $n -gt 50 ] && return 1
		sleep 0.1
	done
}

# Starts redis-server on a free loopback port; sets port and Q.
fleet_start_redis() {
	command -v redis-server >/dev/null || return 1
	port=$(/usr/bin/python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
	Q=redis://127.0.0.1:$port
	mkdir -p "$tmp/redis"
	redis_up
}

# Stops Redis cleanly (the AOF is written) and starts it again on the port.
fleet_restart_redis() {
	redis-cli -p "$port" shutdown >/dev/null 2>&1
	wait_pid_exit "$redis_pid" 10
	sleep 1
	redis_up
}

# The worker settings of the tests: short lease, short grace, quick retries.
fleet_sets="--set queue.lease_seconds=2 --set queue.grace_seconds=1 --set queue.retry_backoff_seconds=0.2 --set queue.reconnect_max_seconds=1"

# fleet_worker NAME [ARGS]: a worker in the background; NAME.pid, NAME.log,
# NAME.rc (its exit code, once it exited).
fleet_worker() {
	name=$1
	shift
	rm -f "$tmp/$name.rc"
	# shellcheck disable=SC2086
	( "$P" worker --queue "$Q" --name "$name" --log-format human $fleet_sets "$@" \
		>>"$tmp/$name.log" 2>&1 &
	  echo $! >"$tmp/$name.pid"; wait $!; echo $? >"$tmp/$name.rc" ) 2>/dev/null &
	n=0
	while [ ! -s "$tmp/$name.pid" ] && [ $n -lt 50 ]; do sleep 0.1; n=$((n + 1)); done
	echo "$name" >>"$workers_list"
}

# fleet_restarting_worker NAME MAX [ARGS]: a worker started again (at most
# MAX times) whenever it dies; ends when one exits 0 (--idle-exit).
fleet_restarting_worker() {
	name=$1 max=$2
	shift 2
	# shellcheck disable=SC2086
	( i=0; while [ $i -lt "$max" ]; do
		"$P" worker --queue "$Q" --name "$name" --log-format human --idle-exit 4 $fleet_sets "$@" \
			>>"$tmp/$name.log" 2>&1 && break
		i=$((i + 1))
	  done ) &
	echo $! >>"$tmp/restarters"
}

# Stops every worker with SIGTERM and waits for it (bounded).
fleet_stop_workers() {
	while read -r name; do
		[ -f "$tmp/$name.pid" ] && kill -TERM "$(cat "$tmp/$name.pid")" 2>/dev/null
	done <"$workers_list"
	while read -r name; do
		[ -f "$tmp/$name.pid" ] && wait_pid_exit "$(cat "$tmp/$name.pid")" 30
	done <"$workers_list"
	[ -f "$tmp/restarters" ] && while read -r pid; do wait_pid_exit "$pid" 60; kill -KILL "$pid" 2>/dev/null; done <"$tmp/restarters"
	: >"$workers_list"
	rm -f "$tmp/restarters"
}

# fleet_wait_state ID STATE SECONDS: polls the job until STATE (bounded);
# state gets the last one seen.
fleet_wait_state() {
	n=0
	while [ $n -lt $(($3 * 5)) ]; do
		state=$("$P" jobs --queue "$Q" --json show "$1" 2>/dev/null |
			/usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["status"])' 2>/dev/null)
		[ "$state" = "$2" ] && return 0
		sleep 0.2
		n=$((n + 1))
	done
	return 1
}

# fleet_images DIR N: N random 32x32 RGB PNGs (one tile of the test model).
fleet_images() {
	/usr/bin/python3 - "$1" "$2" <<'PY'
import os, random, sys
from PIL import Image
d, n = sys.argv[1], int(sys.argv[2])
os.makedirs(d, exist_ok=True)
r = random.Random(n)
for i in range(n):
    Image.frombytes("RGB", (32, 32), bytes(r.randrange(256) for _ in range(32 * 32 * 3))).save("%s/i%03d.png" % (d, i))
PY
}

# fleet_config FILE EPOCHS: the tiny plate configuration.
fleet_config() {
	small_plate_ini "$1"
	cat >>"$1" <<EOF
[train]
epochs = $2
batch = 32
optimizer = adam
lr = 0.01
threads = 1
[package]
name = plate
EOF
}
