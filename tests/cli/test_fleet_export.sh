#!/bin/sh
# pipeline export worker: a worker Deployment on the shared claim whose
# grace period outlasts the lease, and a KEDA ScaledObject on the job
# stream's lag that scales to zero; validated against the KEDA schema and
# the Kubernetes definitions of the Argo schema.
. "$(dirname "$0")/lib.sh"
root=${PL_ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}
schemas=${PL_SCHEMAS:-$root/tests/schemas}
[ -f "$schemas/keda-scaledobject.schema.json" ] || schemas=/work/shared/schemas
py=/usr/bin/python3
k8s='#/definitions/io.k8s.api.core.v1'

valid() {
	desc=$1; shift
	if "$py" "$root/tests/validate_schema.py" --strict "$@" >val.txt 2>&1; then ok
	else fail "$desc: $(head -c 800 val.txt)"; fi
}

# holds DESC EXPR: EXPR is true with dep and so the two objects of list.json.
holds() {
	if "$py" -c 'import json, sys
d = json.load(open("list.json"))
dep, so = d["items"]
pod = dep["spec"]["template"]["spec"]
sys.exit(0 if eval(sys.argv[1]) else 1)' "$2" 2>holds.txt; then ok; else fail "$1: $2 $(head -c 300 holds.txt)"; fi
}

cat >pipeline.ini <<'EOF'
[queue]
lease_seconds = 45
grace_seconds = 30
prefix = plates
EOF
run "$PIPELINE" export worker --image reg.example.com/pipeline:1 --queue redis://redis.ml:6380/2 \
	--namespace ml --workspace-name bbbc014 --pvc plates --max-workers 8 -o list.json
expect_rc "export worker" 0
holds "a Deployment and a ScaledObject" '(dep["apiVersion"], dep["kind"], so["apiVersion"], so["kind"]) == ("apps/v1", "Deployment", "keda.sh/v1alpha1", "ScaledObject")'
# the CRD's schema is one object schema: wrapped as a definition to name it
"$py" -c 'import json, sys; print(json.dumps({"definitions": {"ScaledObject": json.load(open(sys.argv[1]))}}))' \
	"$schemas/keda-scaledobject.schema.json" >keda.json
valid "ScaledObject schema" list.json keda.json '#/definitions/ScaledObject' /items/1
argo=$schemas/argo-workflows.schema.json
valid "Deployment metadata schema" list.json "$argo" '#/definitions/io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta' /items/0/metadata
valid "worker container schema" list.json "$argo" "$k8s.Container" /items/0/spec/template/spec/containers/0
valid "worker volume schema" list.json "$argo" "$k8s.Volume" /items/0/spec/template/spec/volumes/0
valid "worker pod security schema" list.json "$argo" "$k8s.PodSecurityContext" /items/0/spec/template/spec/securityContext
holds "pod spec has only the fields set" 'sorted(pod) == ["containers", "securityContext", "terminationGracePeriodSeconds", "volumes"]'

holds "grace period longer than lease plus grace" 'pod["terminationGracePeriodSeconds"] > 45 + 30'
holds "the worker command" 'pod["containers"][0]["args"] == ["worker", "--queue", "redis://redis.ml:6380/2", "--log-format", "json"]'
holds "on the shared claim" 'pod["volumes"] == [{"name": "workspace", "persistentVolumeClaim": {"claimName": "plates"}}] and pod["containers"][0]["volumeMounts"][0]["mountPath"] == "/workspace/bbbc014"'
holds "selector matches the pod labels" 'all(dep["spec"]["template"]["metadata"]["labels"][k] == v for k, v in dep["spec"]["selector"]["matchLabels"].items())'
holds "scales the Deployment from zero" 'so["spec"]["scaleTargetRef"]["name"] == dep["metadata"]["name"] and so["spec"]["minReplicaCount"] == 0 and so["spec"]["maxReplicaCount"] == 8'
holds "redis-streams trigger on the lag" 'so["spec"]["triggers"][0]["type"] == "redis-streams" and so["spec"]["triggers"][0]["metadata"] == {"address": "redis.ml:6380", "stream": "plates:stream", "consumerGroup": "workers", "lagCount": "5", "databaseIndex": "2"}'
run "$PIPELINE" export worker --image reg.example.com/pipeline:1 --queue redis://redis -o wdir/
expect_rc "export worker -o DIR/" 0
check "one file per object" test "$(ls wdir | tr '\n' ' ')" = "1-worker-deployment.json 2-worker-scaledobject.json "
check "default port" grep -q '"address": "redis:6379"' wdir/2-worker-scaledobject.json
rm pipeline.ini
run "$PIPELINE" export worker --image reg.example.com/pipeline:1
expect_rc "export worker without a queue" 2
expect_in "names --queue" err.txt "--queue"
run "$PIPELINE" export worker --image x --queue redis://r --max-workers 0
expect_rc "--max-workers 0" 2
finish
