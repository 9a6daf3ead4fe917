#!/bin/sh
# pipeline export kfp|argo|k8s: the manifests validate against the Kubeflow,
# Argo and Kubernetes schemas (strictly: no undeclared fields), have the
# expected shape (shard tasks, dependencies, retries, volume, outputs), and
# bad usage exits 2 naming the flag.
. "$(dirname "$0")/lib.sh"

root=${PL_ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}
# The schemas: PL_SCHEMAS, else a copy in the tree, else the shared one.
schemas=${PL_SCHEMAS:-$root/tests/schemas}
[ -f "$schemas/argo-workflows.schema.json" ] || schemas=/work/shared/schemas
py=/usr/bin/python3
argo_schema=$schemas/argo-workflows.schema.json
kfp_schema=$schemas/kfp-component.schema.json
k8s='#/definitions/io.k8s.api.core.v1'

# valid DESC FILE SCHEMA REF [POINTER]: the part of FILE validates strictly.
valid() {
	desc=$1; shift
	if "$py" "$root/tests/validate_schema.py" --strict "$@" >val.txt 2>&1; then ok
	else fail "$desc: $(head -c 800 val.txt)"; fi
}

# holds DESC FILE EXPR: the Python expression EXPR is true, with d the JSON
# document in FILE and helpers tpl(name), tasks(), envs(container).
holds() {
	if "$py" - "$2" "$3" >holds.txt 2>&1 <<'EOF'
import json, sys
d = json.load(open(sys.argv[1]))
def tpl(name):
    return [t for t in d["spec"]["templates"] if t["name"] == name][0]
def tasks():
    return tpl(d["spec"]["entrypoint"])["dag"]["tasks"]
def task(name):
    return [t for t in tasks() if t["name"] == name][0]
def envs(c):
    return {e["name"]: e.get("value") for e in c.get("env", [])}
def pod(job):
    return job["spec"]["template"]["spec"]
value = eval(sys.argv[2])
if not value:
    print("false:", sys.argv[2])
    sys.exit(1)
EOF
	then ok; else fail "$1: $(head -c 800 holds.txt)"; fi
}

img=registry.example.com/pipeline:1.2
stages="prepare train validate package"

# ---- argo ------------------------------------------------------------------
run "$PIPELINE" export argo --image "$img" --pvc plates --workspace-name bbbc014 \
	--shards 3 --namespace ml --cpu 500m --memory 1Gi --memory-limit 3Gi \
	--service-account runner --set train.epochs=3 --set train.lr=0.01 -o wf.json
expect_rc "argo: export" 0
valid "argo: schema" wf.json "$argo_schema" '#/definitions/io.argoproj.workflow.v1alpha1.Workflow'
holds "argo: kind" wf.json 'd["apiVersion"] == "argoproj.io/v1alpha1" and d["kind"] == "Workflow"'
holds "argo: metadata" wf.json 'd["metadata"]["generateName"] == "pipeline-bbbc014-" and d["metadata"]["namespace"] == "ml" and d["metadata"]["labels"]["app.kubernetes.io/name"] == "pipeline"'
holds "argo: 3 shard tasks" wf.json '[t["name"] for t in tasks() if t["name"].startswith("prepare-shard")] == ["prepare-shard-0", "prepare-shard-1", "prepare-shard-2"]'
holds "argo: shard arguments" wf.json '[t["arguments"]["parameters"][0]["value"] for t in tasks() if t["template"] == "prepare-shard"] == ["0/3", "1/3", "2/3"]'
holds "argo: shards run in parallel" wf.json 'all(not t.get("dependencies") and not t.get("depends") for t in tasks() if t["template"] == "prepare-shard")'
holds "argo: prepare waits for every shard" wf.json 'sorted(task("prepare")["dependencies"]) == ["prepare-shard-0", "prepare-shard-1", "prepare-shard-2"]'
holds "argo: a shard that fails for good does not stop the assembly" wf.json 'all(t["continueOn"] == {"failed": True, "error": True} for t in tasks() if t["name"].startswith("prepare-shard"))'
holds "argo: stage chain" wf.json '[task(s)["dependencies"] for s in ("train", "validate", "package")] == [["prepare"], ["train"], ["validate"]]'
holds "argo: shard template" wf.json 'tpl("prepare-shard")["container"]["args"] == ["stage", "--shard", "{{inputs.parameters.shard}}", "prepare"]'
for s in $stages; do
	holds "argo: $s runs its stage" wf.json "tpl('$s')['container']['args'] == ['stage', '$s'] and tpl('$s')['container']['command'] == ['pipeline'] and tpl('$s')['container']['image'] == '$img'"
done
holds "argo: retryStrategy retries exit 75, 130 and lost pods" wf.json 'all(tpl(n)["retryStrategy"]["expression"] == "lastRetry.status == \"Error\" || asInt(lastRetry.exitCode) == 75 || asInt(lastRetry.exitCode) == 130" and int(tpl(n)["retryStrategy"]["limit"]) >= 1 and "duration" in tpl(n)["retryStrategy"]["backoff"] for n in ("prepare-shard", "prepare", "train", "validate", "package"))'
holds "argo: the backoff is capped, with no deadline on the retries" wf.json 'all(tpl(n)["retryStrategy"]["backoff"].get("cap") == "5m" and "maxDuration" not in tpl(n)["retryStrategy"]["backoff"] for n in ("prepare-shard", "prepare", "train", "validate", "package"))'
holds "argo: claim volume" wf.json 'd["spec"]["volumes"] == [{"name": "workspace", "persistentVolumeClaim": {"claimName": "plates"}}]'
holds "argo: subPath mount in each step" wf.json 'all(tpl(n)["container"]["volumeMounts"] == [{"name": "workspace", "mountPath": "/workspace/bbbc014", "subPath": "bbbc014"}] for n in ("prepare-shard", "prepare", "train", "validate", "package"))'
holds "argo: env" wf.json 'envs(tpl("train")["container"]) == {"PIPELINE_WORKSPACE": "/workspace/bbbc014", "PIPELINE_CONFIG": "{{workflow.parameters.config}}", "PIPELINE_SET": "{{workflow.parameters.set}}", "PIPELINE_LOG_FORMAT": "json"}'
holds "argo: parameters" wf.json '{p["name"]: p["value"] for p in d["spec"]["arguments"]["parameters"]} == {"config": "/etc/pipeline/pipeline.ini", "set": "train.epochs=3;train.lr=0.01"}'
holds "argo: resources" wf.json 'tpl("train")["container"]["resources"] == {"requests": {"cpu": "500m", "memory": "1Gi"}, "limits": {"memory": "3Gi"}}'
holds "argo: service account" wf.json 'd["spec"]["serviceAccountName"] == "runner"'
holds "argo: non-root pods" wf.json 'd["spec"]["securityContext"]["runAsNonRoot"] is True and d["spec"]["securityContext"]["runAsUser"] == 10001'
holds "argo: validate declares the Kubeflow UI outputs" wf.json '{a["name"]: a["path"] for a in tpl("validate")["outputs"]["artifacts"]} == {"mlpipeline-ui-metadata": "/tmp/outputs/mlpipeline-ui-metadata.json", "mlpipeline-metrics": "/tmp/outputs/mlpipeline-metrics.json"}'
holds "argo: validate copies them there" wf.json 'envs(tpl("validate")["container"])["PIPELINE_UI_DIR"] == "/tmp/outputs" and "PIPELINE_UI_DIR" not in envs(tpl("train")["container"])'
holds "argo: only validate has outputs" wf.json 'not any("outputs" in tpl(n) for n in ("prepare-shard", "prepare", "train", "package"))'

# stdout gives the same document; one shard and defaults are fine too
run "$PIPELINE" export argo --image "$img" --pvc plates --workspace-name bbbc014 \
	--shards 3 --namespace ml --cpu 500m --memory 1Gi --memory-limit 3Gi \
	--service-account runner --set train.epochs=3 --set train.lr=0.01
expect_rc "argo: stdout" 0
check "argo: stdout equals --out FILE" cmp -s out.txt wf.json
check "argo: 2-space indent" grep -q '^  "kind": "Workflow",$' out.txt
run "$PIPELINE" export argo --image "$img" --shards 1 --out wfdir/
expect_rc "argo: --out DIR/" 0
valid "argo: one shard schema" wfdir/workflow.json "$argo_schema" '#/definitions/io.argoproj.workflow.v1alpha1.Workflow'
holds "argo: one shard" wfdir/workflow.json '[t["name"] for t in tasks()] == ["prepare-shard-0", "prepare", "train", "validate", "package"] and task("prepare")["dependencies"] == ["prepare-shard-0"]'
holds "argo: defaults" wfdir/workflow.json '"namespace" not in d["metadata"] and "serviceAccountName" not in d["spec"] and d["spec"]["volumes"][0]["persistentVolumeClaim"]["claimName"] == "pipeline-workspace" and envs(tpl("train")["container"])["PIPELINE_WORKSPACE"] == "/workspace/demo"'

# ---- kfp -------------------------------------------------------------------
run "$PIPELINE" export kfp --image "$img" --workspace-name bbbc014 --out kfp
expect_rc "kfp: export" 0
check "kfp: five component files" test "$(ls kfp | tr '\n' ' ')" = "package.component.json prepare-shard.component.json prepare.component.json train.component.json validate.component.json "
for s in prepare-shard $stages; do
	f=kfp/$s.component.json
	valid "kfp: $s schema" "$f" "$kfp_schema" '#/definitions/ComponentSpec'
	holds "kfp: $s container" "$f" "d['name'] == 'pipeline $s' and d['implementation']['container']['image'] == '$img' and d['implementation']['container']['command'] == ['pipeline'] and d['implementation']['container']['args'][0] == 'stage' and d['implementation']['container']['args'][-1] == '$s'.replace('-shard', '')"
	holds "kfp: $s inputs" "$f" '{i["name"]: i.get("default") for i in d["inputs"] if i["name"] != "shard"} == {"workspace": "/workspace/bbbc014", "config": "/etc/pipeline/pipeline.ini", "set": ""}'
	holds "kfp: $s passes its inputs" "$f" '{"inputValue": "workspace"} in d["implementation"]["container"]["args"] and {"inputValue": "config"} in d["implementation"]["container"]["args"] and ["--set", {"inputValue": "set"}] == d["implementation"]["container"]["args"][5:7] and all(isinstance(v, str) for v in d["implementation"]["container"]["env"].values())'
done
holds "kfp: prepare-shard takes shard" kfp/prepare-shard.component.json 'd["implementation"]["container"]["args"][-3:] == ["--shard", {"inputValue": "shard"}, "prepare"] and d["inputs"][0]["name"] == "shard" and "default" not in d["inputs"][0]'
holds "kfp: validate outputs" kfp/validate.component.json '[o["name"] for o in d["outputs"]] == ["MLPipeline UI metadata", "MLPipeline Metrics"] and d["implementation"]["container"]["unconfigurableOutputPaths"]["MLPipeline Metrics"] == "/tmp/outputs/mlpipeline-metrics.json" and d["implementation"]["container"]["env"]["PIPELINE_UI_DIR"] == "/tmp/outputs"'
run "$PIPELINE" export kfp --image "$img"
expect_rc "kfp: needs --out" 2
expect_in "kfp: needs --out message" err.txt "--out DIR"

# ---- k8s -------------------------------------------------------------------
run "$PIPELINE" export k8s --image "$img" --pvc plates --workspace-name bbbc014 \
	--shards 5 --namespace ml --storage 50Gi --storage-class nfs --cpu 1 \
	--memory 2Gi --cpu-limit 4 --service-account runner --set prepare.seed=2 -o list.json
expect_rc "k8s: export" 0
holds "k8s: one v1 List" list.json 'd["apiVersion"] == "v1" and d["kind"] == "List" and [(i["apiVersion"], i["kind"]) for i in d["items"]] == [("v1", "PersistentVolumeClaim"), ("batch/v1", "Job"), ("batch/v1", "Job")]'
holds "k8s: names, namespace, labels" list.json '[i["metadata"]["name"] for i in d["items"]] == ["plates", "pipeline-bbbc014-prepare", "pipeline-bbbc014-run"] and all(i["metadata"]["namespace"] == "ml" and i["metadata"]["labels"]["app.kubernetes.io/name"] == "pipeline" for i in d["items"])'
valid "k8s: claim schema" list.json "$argo_schema" "$k8s.PersistentVolumeClaim" /items/0
holds "k8s: claim" list.json 'd["items"][0]["spec"] == {"accessModes": ["ReadWriteMany"], "storageClassName": "nfs", "resources": {"requests": {"storage": "50Gi"}}}'
for i in 1 2; do
	valid "k8s: job $i metadata schema" list.json "$argo_schema" '#/definitions/io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta' /items/$i/metadata
	valid "k8s: job $i container schema" list.json "$argo_schema" "$k8s.Container" /items/$i/spec/template/spec/containers/0
	valid "k8s: job $i volume schema" list.json "$argo_schema" "$k8s.Volume" /items/$i/spec/template/spec/volumes/0
	valid "k8s: job $i pod security schema" list.json "$argo_schema" "$k8s.PodSecurityContext" /items/$i/spec/template/spec/securityContext
	holds "k8s: job $i pod" list.json "pod(d['items'][$i])['restartPolicy'] == 'Never' and pod(d['items'][$i])['serviceAccountName'] == 'runner' and pod(d['items'][$i])['volumes'] == [{'name': 'workspace', 'persistentVolumeClaim': {'claimName': 'plates'}}] and len(pod(d['items'][$i])['containers']) == 1"
	holds "k8s: job $i container" list.json "envs(pod(d['items'][$i])['containers'][0]) == {'PIPELINE_WORKSPACE': '/workspace/bbbc014', 'PIPELINE_CONFIG': '/etc/pipeline/pipeline.ini', 'PIPELINE_SET': 'prepare.seed=2', 'PIPELINE_LOG_FORMAT': 'json'} and pod(d['items'][$i])['containers'][0]['volumeMounts'] == [{'name': 'workspace', 'mountPath': '/workspace/bbbc014', 'subPath': 'bbbc014'}]"
	holds "k8s: job $i resources" list.json "pod(d['items'][$i])['containers'][0]['resources'] == {'requests': {'cpu': '1', 'memory': '2Gi'}, 'limits': {'cpu': '4', 'memory': '2Gi'}}"
	holds "k8s: job $i pod labels" list.json "d['items'][$i]['spec']['template']['metadata']['labels']['app.kubernetes.io/instance'] == 'bbbc014'"
	holds "k8s: job $i retries only exit 75" list.json "[r['onExitCodes'] for r in d['items'][$i]['spec']['podFailurePolicy']['rules'] if 'onExitCodes' in r][0]['operator'] == 'NotIn' and [r['onExitCodes'] for r in d['items'][$i]['spec']['podFailurePolicy']['rules'] if 'onExitCodes' in r][0]['values'] == [75]"
done
holds "k8s: indexed prepare job" list.json 'd["items"][1]["spec"]["completionMode"] == "Indexed" and d["items"][1]["spec"]["completions"] == 5 and d["items"][1]["spec"]["parallelism"] == 5'
holds "k8s: shard from JOB_COMPLETION_INDEX" list.json 'pod(d["items"][1])["containers"][0]["args"] == ["stage", "--shard", "$(JOB_COMPLETION_INDEX)/5", "prepare"]'
holds "k8s: run job" list.json 'pod(d["items"][2])["containers"][0]["args"] == ["run"] and pod(d["items"][2])["containers"][0]["command"] == ["pipeline"] and d["items"][2]["spec"]["suspend"] is True'
holds "k8s: run job says how to resume" list.json '"kubectl patch job pipeline-bbbc014-run" in d["items"][2]["metadata"]["annotations"]["kubernetes.io/description"]'
run "$PIPELINE" export k8s --image "$img" --shards 2 -o k8sdir/
expect_rc "k8s: --out DIR/" 0
check "k8s: one file per object" test "$(ls k8sdir | tr '\n' ' ')" = "1-pvc.json 2-prepare-job.json 3-run-job.json "
holds "k8s: dir claim" k8sdir/1-pvc.json 'd["kind"] == "PersistentVolumeClaim" and "namespace" not in d["metadata"] and "storageClassName" not in d["spec"]'
holds "k8s: dir prepare job" k8sdir/2-prepare-job.json 'd["kind"] == "Job" and d["spec"]["completions"] == 2 and "PIPELINE_SET" not in envs(pod(d)["containers"][0])'
valid "k8s: dir container schema" k8sdir/3-run-job.json "$argo_schema" "$k8s.Container" /spec/template/spec/containers/0

# ---- the exported commands work with this binary ---------------------------
# Each container's command line and environment, with the container paths
# mapped into this directory and --dry-run added, must get past argument
# parsing: prepare and run succeed, later stages stop only because prepare
# has not run yet.
"$py" - wf.json list.json kfp "$root/pipeline.ini" "$PWD/ws" >cmds.txt <<'EOF'
import json, os, shlex, sys
wf, lst, kfp, ini, ws = sys.argv[1:]
def local(v):
    v = v.replace("/etc/pipeline/pipeline.ini", ini).replace("$(JOB_COMPLETION_INDEX)", "0")
    return v.replace("/workspace/", ws + "/")
def emit(name, env, args):
    args = [args[0], "--dry-run"] + args[1:]
    print(" ".join([shlex.quote(name)] + [shlex.quote(local(k + "=" + v)) for k, v in env]
                   + ["--"] + [shlex.quote(local(a)) for a in args]))
d = json.load(open(wf))
params = {p["name"]: p["value"] for p in d["spec"]["arguments"]["parameters"]}
def sub(v):
    return (v.replace("{{inputs.parameters.shard}}", "0/3")
             .replace("{{workflow.parameters.config}}", params["config"])
             .replace("{{workflow.parameters.set}}", params["set"]))
for t in d["spec"]["templates"]:
    if "container" in t:
        emit("argo-" + t["name"], [(e["name"], sub(e["value"])) for e in t["container"]["env"]],
             [sub(a) for a in t["container"]["args"]])
for item in json.load(open(lst))["items"][1:]:
    c = item["spec"]["template"]["spec"]["containers"][0]
    emit("k8s-" + c["name"], [(e["name"], e["value"]) for e in c["env"]], c["args"])
for f in sorted(os.listdir(kfp)):
    spec = json.load(open(os.path.join(kfp, f)))
    values = {i["name"]: i.get("default", "0/3") for i in spec["inputs"]}
    box = spec["implementation"]["container"]
    val = lambda a: values[a["inputValue"]] if isinstance(a, dict) else a
    emit("kfp-" + f.split(".")[0], [(k, val(v)) for k, v in box["env"].items()],
         [val(a) for a in box["args"]])
EOF
check "exported commands listed" test "$(wc -l <cmds.txt)" -eq 12
while read -r line; do
	eval "set -- $line"
	name=$1; shift
	# VAR=VALUE... -- ARGS: run with only the manifest's PIPELINE_* variables
	(
		unset PIPELINE_SET PIPELINE_WORKSPACE PIPELINE_CONFIG PIPELINE_LOG_FORMAT
		while [ "$1" != "--" ]; do export "$1"; shift; done
		shift
		"$PIPELINE" "$@"
	) >cmd.out 2>cmd.err
	rc=$?
	case "$name" in
	*prepare*|k8s-run)
		if [ "$rc" -eq 0 ]; then ok; else fail "$name: exited $rc: $(head -c 400 cmd.err)"; fi ;;
	*)
		if grep -q "try 'pipeline help" cmd.err; then fail "$name: usage error: $(head -c 400 cmd.err)"; else ok; fi ;;
	esac
done <cmds.txt
check "a dry run creates no workspace" test ! -e ws

# ---- bad usage: exit 2, the message names what is wrong ---------------------
# usage CODE TEXT ARGS...: export ARGS exits CODE and stderr names TEXT.
usage() {
	code=$1; text=$2; shift 2
	run "$PIPELINE" export "$@"
	expect_rc "export $*" "$code"
	expect_in "export $* message" err.txt "$text"
}
usage 2 "kfp, argo, k8s, mpijob or worker" --image "$img"
usage 2 "kfp, argo, k8s, mpijob or worker" helm --image "$img"
usage 2 "--image" argo
usage 2 "--image" argo --image ""
usage 2 "--shards" argo --image "$img" --shards 0
usage 2 "--shards" argo --image "$img" --shards 257
usage 2 "--shards" argo --image "$img" --shards 3x
usage 2 "--bogus" argo --image "$img" --bogus
usage 2 "--pvc" argo --image "$img" --pvc
usage 2 "--pvc" argo --image "$img" --pvc Bad_Claim
usage 2 "--workspace-name" k8s --image "$img" --workspace-name Demo
usage 2 "--workspace-name" k8s --image "$img" --workspace-name a-name-that-is-much-too-long-for-a-job-name-x
usage 2 "--namespace" k8s --image "$img" --namespace -ml
usage 2 "--cpu" k8s --image "$img" --cpu 2cores
usage 2 "--memory" argo --image "$img" --memory 4GB
usage 2 "--image" argo --image "bad image"
usage 2 "--set" argo --image "$img" --set epochs=3
usage 2 "--set" argo --image "$img" --set "a.b=1;c.d=2"
usage 2 "--config" argo --image "$img" --config relative.ini
usage 2 "unexpected argument 'k8s'" argo k8s --image "$img"
check "bad usage writes nothing" test ! -e wf-bad.json

run "$PIPELINE" export --help
expect_rc "export --help" 0
expect_in "export --help text" out.txt "usage: pipeline export kfp|argo|k8s"

# a write that cannot happen fails with the path, exit 1
touch plain
run "$PIPELINE" export argo --image "$img" -o plain/wf.json
expect_rc "unwritable --out" 1
expect_in "unwritable --out message" err.txt "plain/"

# what Kubernetes or the pods would refuse is refused at export
run "$PIPELINE" export argo --image "$img" --cpu 4 --cpu-limit 500m
expect_rc "cpu request above its limit" 2
expect_in "cpu request above its limit: said" err.txt "cpu request 4 is above the cpu limit 500m"
run "$PIPELINE" export argo --image "$img" --memory 4Gi --memory-limit 1Gi
expect_rc "memory request above its limit" 2
run "$PIPELINE" export argo --image "$img" --storage 10
expect_rc "a storage of 10 bytes" 2
run "$PIPELINE" export argo --image "$img" --cpu 500m --cpu-limit 1 --memory 1Gi --memory-limit 1024Mi
expect_rc "requests equal to or under their limits" 0
run "$PIPELINE" export argo --image "$img" --set train.epochz=3
expect_rc "a --set override with a typo" 2
expect_in "the typo is named with a suggestion" err.txt "unknown key 'epochz' in [train] (did you mean 'epochs'?)"
# ---- mpijob, and argo with --train-workers -----------------------------------
mpijob_schema=$schemas/kubeflow-mpijob.schema.json
[ -f "$mpijob_schema" ] || mpijob_schema=/work/shared/schemas/kubeflow-mpijob.schema.json
run "$PIPELINE" export mpijob --image "$img" --pvc plates --workspace-name bbbc014 \
	--workers 4 --slots-per-worker 2 --cpu 4 --memory 8Gi --cpu-limit 4 \
	--set train.epochs=3 -o mj.json
expect_rc "mpijob: export" 0
valid "mpijob: schema" mj.json "$mpijob_schema" '#'
holds "mpijob: kind" mj.json 'd["apiVersion"] == "kubeflow.org/v2beta1" and d["kind"] == "MPIJob" and d["metadata"]["name"] == "pipeline-bbbc014-train"'
holds "mpijob: 4 workers of 2 slots" mj.json 'd["spec"]["mpiReplicaSpecs"]["Worker"]["replicas"] == 4 and d["spec"]["slotsPerWorker"] == 2'
holds "mpijob: launcher runs mpirun -np 8 ... stage train" mj.json 'd["spec"]["mpiReplicaSpecs"]["Launcher"]["template"]["spec"]["containers"][0]["command"] == ["mpirun"] and d["spec"]["mpiReplicaSpecs"]["Launcher"]["template"]["spec"]["containers"][0]["args"][:2] == ["-np", "8"] and d["spec"]["mpiReplicaSpecs"]["Launcher"]["template"]["spec"]["containers"][0]["args"][-4:-2] == ["stage", "train"]'
holds "mpijob: workers mount the claim with [cluster] resources" mj.json 'd["spec"]["mpiReplicaSpecs"]["Worker"]["template"]["spec"]["volumes"][0]["persistentVolumeClaim"]["claimName"] == "plates" and d["spec"]["mpiReplicaSpecs"]["Worker"]["template"]["spec"]["containers"][0]["volumeMounts"][0]["subPath"] == "bbbc014" and d["spec"]["mpiReplicaSpecs"]["Worker"]["template"]["spec"]["containers"][0]["resources"] == {"requests": {"cpu": "4", "memory": "8Gi"}, "limits": {"cpu": "4", "memory": "8Gi"}}'
holds "mpijob: the overrides reach the ranks" mj.json 'envs(d["spec"]["mpiReplicaSpecs"]["Launcher"]["template"]["spec"]["containers"][0])["PIPELINE_SET"] == "train.epochs=3" and "PIPELINE_SET" in d["spec"]["mpiReplicaSpecs"]["Launcher"]["template"]["spec"]["containers"][0]["args"]'
run "$PIPELINE" export mpijob --image "$img"
expect_rc "mpijob without --workers" 2
expect_in "mpijob names --workers" err.txt "--workers"
run "$PIPELINE" export mpijob --image "$img" --workers 0
expect_rc "mpijob --workers 0" 2
run "$PIPELINE" export argo --image "$img" --pvc plates --train-workers 3 -o wfm.json
expect_rc "argo --train-workers: export" 0
valid "argo --train-workers: schema" wfm.json "$argo_schema" '#/definitions/io.argoproj.workflow.v1alpha1.Workflow'
holds "argo --train-workers: train creates the MPIJob and waits" wfm.json 'tpl("train")["resource"]["action"] == "create" and "succeeded" in tpl("train")["resource"]["successCondition"] and "failed" in tpl("train")["resource"]["failureCondition"]'
printf '%s\n' 'import json,sys' 'd=json.load(open(sys.argv[1]))' 't=[t for t in d["spec"]["templates"] if t["name"]=="train"][0]' 'json.dump(json.loads(t["resource"]["manifest"]),open(sys.argv[2],"w"))' >manifest.py
"$py" manifest.py wfm.json wfm-job.json
valid "argo --train-workers: the manifest is an MPIJob" wfm-job.json "$mpijob_schema" '#'
holds "argo --train-workers: 3 workers, generated name" wfm-job.json 'd["spec"]["mpiReplicaSpecs"]["Worker"]["replicas"] == 3 and d["metadata"]["generateName"] == "pipeline-demo-"'
holds "argo --train-workers: other stages stay containers" wfm.json '"container" in tpl("validate") and "container" not in tpl("train")'
finish
