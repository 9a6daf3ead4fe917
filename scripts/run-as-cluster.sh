#!/bin/sh
# A local stand-in for the cluster: runs the steps of the Argo Workflow that
# `pipeline export argo` writes as separate local processes on one workspace
# directory, in the DAG's order; the steps of one level (the N prepare
# shards) run at once, each later level after the one before has finished.
# The result equals a plain `pipeline run` with the same settings.
#
# usage: scripts/run-as-cluster.sh --workspace DIR [--shards N] [--config FILE]
#                                  [--set 'sec.key=value;sec.key=value']
# PIPELINE names the binary (default: pipeline on PATH); PIPELINE_CONFIG and
# PIPELINE_SET are the defaults of --config and --set, as in a pod.
set -eu
pipeline=${PIPELINE:-pipeline}
ws='' shards=4 config=${PIPELINE_CONFIG:-} sets=${PIPELINE_SET:-}
usage() {
	echo "usage: $0 --workspace DIR [--shards N] [--config FILE] [--set 'a.b=1;c.d=2']" >&2
	exit 2
}
while [ $# -gt 0 ]; do
	[ $# -ge 2 ] || usage
	case $1 in
	--workspace) ws=$2 ;;
	--shards) shards=$2 ;;
	--config) config=$2 ;;
	--set) sets=${sets:+$sets;}$2 ;;
	*) usage ;;
	esac
	shift 2
done
[ -n "$ws" ] || { echo "$0: give --workspace DIR" >&2; exit 2; }
export PIPELINE_WORKSPACE="$ws" PIPELINE_CONFIG="$config" PIPELINE_SET="$sets"

# One line per step: "LEVEL NAME GOES_ON ARGS...", levels in order (0 = no
# dependencies); GOES_ON is 1 for a step whose failure the workflow
# tolerates (a prepare shard: the assembly redoes its share).
wf=$("$pipeline" export argo --image local --pvc local --shards "$shards") || exit $?
steps=$(printf '%s\n' "$wf" | /usr/bin/python3 -c '
import json, sys
wf = json.load(sys.stdin)
templates = {t["name"]: t for t in wf["spec"]["templates"]}
tasks = templates[wf["spec"]["entrypoint"]]["dag"]["tasks"]
level = {}
while len(level) < len(tasks):
    for t in tasks:
        deps = t.get("dependencies", [])
        if t["name"] not in level and all(d in level for d in deps):
            level[t["name"]] = 1 + max([level[d] for d in deps] + [-1])
for t in sorted(tasks, key=lambda t: level[t["name"]]):
    args = templates[t["template"]]["container"]["args"]
    for p in t.get("arguments", {}).get("parameters", []):
        args = [a.replace("{{inputs.parameters.%s}}" % p["name"], p["value"]) for a in args]
    goes_on = int(t.get("continueOn", {}).get("failed", False))
    print(level[t["name"]], t["name"], goes_on, " ".join(args))
')

# Waits for every step of the current level; then stops with the exit code
# of the first that failed, unless the workflow tolerates its failure.
jobs=''
finish_level() {
	failed=0
	for job in $jobs; do
		pid=${job%:*} goes_on=${job#*:}
		wait "$pid" && continue
		code=$?
		if [ "$goes_on" = 1 ]; then
			echo "$0: a shard failed (exit $code); the assembly redoes its share" >&2
		elif [ "$failed" = 0 ]; then
			failed=$code
		fi
	done
	jobs=''
	[ "$failed" = 0 ] || { echo "$0: a step failed (exit $failed)" >&2; exit "$failed"; }
}

current=0
while read -r level name goes_on args; do
	[ "$level" = "$current" ] || { finish_level; current=$level; }
	echo "$0: starting $name: pipeline $args" >&2
	# shellcheck disable=SC2086 # args are words without spaces
	"$pipeline" $args &
	jobs="$jobs $!:$goes_on"
done <<STEPS
$steps
STEPS
finish_level
