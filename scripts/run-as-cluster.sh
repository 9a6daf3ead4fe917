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
while [ $# -gt 0 ]; do
	case $1 in
	--workspace) ws=$2 ;;
	--shards) shards=$2 ;;
	--config) config=$2 ;;
	--set) sets=${sets:+$sets;}$2 ;;
	*) echo "usage: $0 --workspace DIR [--shards N] [--config FILE] [--set 'a.b=1;c.d=2']" >&2
	   exit 2 ;;
	esac
	shift 2
done
[ -n "$ws" ] || { echo "$0: give --workspace DIR" >&2; exit 2; }
export PIPELINE_WORKSPACE="$ws" PIPELINE_CONFIG="$config" PIPELINE_SET="$sets"

# One line per step: "LEVEL NAME ARGS...", levels in order (0 = no dependencies).
steps=$("$pipeline" export argo --image local --pvc local --shards "$shards" | /usr/bin/python3 -c '
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
    print(level[t["name"]], t["name"], " ".join(args))
')

# Waits for the steps of the current level; stops at the first that failed.
pids=''
finish_level() {
	for pid in $pids; do
		wait "$pid" || { code=$?; echo "$0: a step failed (exit $code)" >&2; exit "$code"; }
	done
	pids=''
}

current=0
while read -r level name args; do
	[ "$level" = "$current" ] || { finish_level; current=$level; }
	echo "$0: starting $name: pipeline $args" >&2
	# shellcheck disable=SC2086 # args are words without spaces
	"$pipeline" $args &
	pids="$pids $!"
done <<STEPS
$steps
STEPS
finish_level
