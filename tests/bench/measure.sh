#!/bin/sh
# measure.sh OUT DIR CMD...: runs CMD under /usr/bin/time -v while sampling
# the disk use of DIR (du -sk, every 0.2 s), and appends one line to OUT:
# "peak_rss_kib peak_disk_kib final_disk_kib exit_code cpu_seconds" (CPU =
# CMD's user + system time, without the sampler's). CMD's output goes to
# stdout/stderr as usual; exits with CMD's exit code.
set -u
out=$1 dir=$2
shift 2
tf=$(mktemp)
samples=$(mktemp)
trap 'rm -f "$tf" "$samples"' EXIT
( while :; do du -sk "$dir" 2>/dev/null | cut -f1 >>"$samples"; sleep 0.2; done ) &
sampler=$!
/usr/bin/time -v -o "$tf" "$@"
rc=$?
kill "$sampler" 2>/dev/null
wait "$sampler" 2>/dev/null
final=$(du -sk "$dir" 2>/dev/null | cut -f1)
echo "${final:-0}" >>"$samples"
rss=$(awk -F': *' '/Maximum resident set size/ { print $2 }' "$tf")
cpu=$(awk -F': *' '/User time|System time/ { s += $2 } END { printf "%.2f", s }' "$tf")
peak=$(sort -n "$samples" | tail -n 1)
echo "${rss:-0} ${peak:-0} ${final:-0} $rc $cpu" >>"$out"
exit "$rc"
