#!/bin/sh
# shares.sh N PIPELINE WS INI: `pipeline stage prepare --shard I/N` for every
# I at once on the workspace WS, then the assembly; exits non-zero when any
# of them fails.
set -u
n=$1 pipeline=$2 ws=$3 ini=$4
pids=''
i=0
while [ "$i" -lt "$n" ]; do
	"$pipeline" stage prepare --shard "$i/$n" --workspace "$ws" --config "$ini" 2>/dev/null &
	pids="$pids $!"
	i=$((i + 1))
done
rc=0
for p in $pids; do wait "$p" || rc=1; done
[ "$rc" = 0 ] && "$pipeline" stage prepare --workspace "$ws" --config "$ini" 2>/dev/null
