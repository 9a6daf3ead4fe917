#!/bin/sh
# pipeline serve on loopback: every endpoint answers as `pipeline predict`
# does, every error case gets its status and a JSON error naming what is
# wrong, concurrent requests share a network batch with unbatched results,
# a full queue gets 503, a stalled client times out without holding up
# others, SIGTERM drains the requests in flight and exits 0, and 10,000
# requests at concurrency 32 all succeed with predict's answers. Every
# server the test starts is stopped, also when a check fails.
root=${PL_ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}
. "$root/tests/cli/lib.sh"
py=/usr/bin/python3
P=$PIPELINE
client="$py $root/tests/cli/serve_client.py"
server_pid=''

stop_server() {
	if [ -n "$server_pid" ]; then
		kill -TERM "$server_pid" 2>/dev/null
		i=0
		while kill -0 "$server_pid" 2>/dev/null && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
		kill -KILL "$server_pid" 2>/dev/null
		wait "$server_pid" 2>/dev/null
		server_pid=''
	fi
}
trap 'stop_server; cd /; rm -rf "$tmp"' EXIT
trap 'exit 130' INT TERM

free_port() { "$py" -c "import socket; s=socket.socket(); s.bind(('127.0.0.1', 0)); print(s.getsockname()[1])"; }

# start_server ARGS...: serves the package on a free port ($port), waits until ready.
start_server() {
	port=$(free_port)
	"$P" serve --package "$pkg" --port "$port" --threads 1 --log-format json "$@" \
		>server.out 2>server.err &
	server_pid=$!
	$client "$port" wait-ready || fail "server on port $port not ready: $(head -c 600 server.err)"
}

# A two-class package of 16x16 gray images.
"$py" - <<'EOF'
import os, random
from PIL import Image
random.seed(3)
for k, c in enumerate(["dark", "light"]):
    os.makedirs("data/" + c)
    for i in range(30):
        im = Image.new("L", (16, 16))
        im.putdata([max(0, min(255, 70 + 110 * k + random.randint(-60, 60))) for _ in range(256)])
        im.save("data/%s/%02d.png" % (c, i))
EOF
cat >c.ini <<'EOF'
[dataset]
source = data
[prepare]
size = 16
[model]
layers = conv 4 3 pad 1, relu, maxpool 2, dense
[train]
epochs = 2
threads = 1
[package]
name = shade
EOF
run "$P" run --workspace ws --config c.ini --quiet
expect_rc "package built" 0
pkg=ws/package/shade-1.0.0.tar.zst
"$P" predict --package "$pkg" data >want.jsonl
check "predict's answers" test "$(wc -l <want.jsonl)" -eq 60
images=$(ls data/*/*.png)
img=data/dark/00.png

# ---- the serving files: of-watchdog http mode by default, classic as an option, KServe ----
tar -xf "$pkg" Dockerfile stack.yml inference-service.yaml MANIFEST.json
for f in Dockerfile stack.yml inference-service.yaml; do
	check "$f in the package equals the one beside it" cmp -s "$f" "ws/package/$f"
	expect_in "$f in the manifest" MANIFEST.json "\"$f\""
done
expect_in "http mode" Dockerfile 'ENV mode="http"'
expect_in "upstream is the local serve" Dockerfile 'ENV upstream_url="http://127.0.0.1:8081"'
expect_in "fprocess runs serve" Dockerfile 'ENV fprocess="pipeline serve --package /home/app/model.tar.zst --host 127.0.0.1 --port 8081'
expect_in "of-watchdog readiness on v2" Dockerfile 'ENV ready_endpoint="/v2/health/ready"'
expect_in "exec_timeout set" Dockerfile 'ENV exec_timeout="30s"'
run "$py" -c "
import sys, yaml
st = yaml.safe_load(open('stack.yml'))['functions']['shade']
assert st['image'] == 'shade:1.0.0' and st['annotations']['com.openfaas.health.http.path'] == '/v2/health/ready', st
assert st['environment']['max_inflight'] == 64, st
isvc = yaml.safe_load(open('inference-service.yaml'))
assert isvc['apiVersion'] == 'serving.kserve.io/v1beta1' and isvc['kind'] == 'InferenceService'
c = isvc['spec']['predictor']['containers'][0]
assert c['command'] == ['pipeline'] and c['args'][:3] == ['serve', '--package', '/home/app/model.tar.zst'], c
assert c['readinessProbe']['httpGet'] == {'path': '/v2/health/ready', 'port': 8080}, c
assert c['livenessProbe']['httpGet']['path'] == '/v2/health/live'
print('ok')"
expect_rc "stack.yml and inference-service.yaml" 0
digest=sha256:$(printf x | sha256sum | cut -c1-64)
run "$P" run --workspace ws --config c.ini --quiet --set package.watchdog=classic \
	--set "package.base_image=registry.example.com/pipeline@$digest" --set package.max_inflight=4
expect_rc "classic watchdog package" 0
expect_in "classic watchdog" ws/package/Dockerfile 'FROM ghcr.io/openfaas/classic-watchdog'
expect_in "classic forks predict" ws/package/Dockerfile 'ENV fprocess="pipeline predict --package /home/app/model.tar.zst"'
expect_in "classic keeps stderr out" ws/package/Dockerfile 'ENV combine_output="false"'
expect_in "classic max_inflight" ws/package/Dockerfile 'ENV max_inflight="4"'
expect_in "base image by digest" ws/package/Dockerfile "FROM registry.example.com/pipeline@$digest"
run "$P" run --workspace ws --config c.ini --quiet --set package.base_image=pipeline@sha256:12
expect_rc "a bad digest is refused" 2
expect_in "bad digest message" err.txt "[package] base_image 'pipeline@sha256:12'"
run "$P" run --workspace ws --config c.ini --quiet
expect_rc "package back to the default" 0

# ---- usage and configuration errors ----
run "$P" serve
expect_rc "no package" 2
expect_in "no package message" err.txt "give --package"
run "$P" serve --package "$pkg" --port 99999
expect_rc "port out of range" 2
expect_in "port message names the key" err.txt "serve.port"
run "$P" serve --package nowhere.tar.zst
expect_rc "missing package" 1
run "$P" help serve
expect_rc "help serve" 0
for opt in --package --host --port --threads --max-batch --max-delay-ms --max-body --max-queue --timeout; do
	expect_in "help lists $opt" out.txt "$opt"
done

# ---- every endpoint ----
start_server --max-body 0.01
"$P" predict --package "$pkg" <"$img" >predict.json
$client "$port" post / "$img" image/png >got.txt
check "POST / equals predict" sh -c "printf '200 ' | cat - predict.json | cmp -s - got.txt"
$client "$port" post /predict "$img" image/png >got.txt
check "POST /predict equals predict" sh -c "printf '200 ' | cat - predict.json | cmp -s - got.txt"

$client "$port" get /v1/models/shade >got.txt
expect_in "v1 status" got.txt '200 {"model_version_status":[{"version":"1.0.0","state":"AVAILABLE"'
$client "$port" v1-body v1.json data/dark/03.png data/light/04.png data/light/09.png
$client "$port" post /v1/models/shade:predict v1.json >got.txt
run $client "$port" check-v1 got.txt want.jsonl data/dark/03.png data/light/04.png data/light/09.png
expect_rc "v1 predict (b64 and tensor instances) equals predict" 0

$client "$port" get /v2/health/live >got.txt
expect_in "v2 live" got.txt '200 {"live":true}'
$client "$port" get /v2/health/ready >got.txt
expect_in "v2 ready" got.txt '200 {"ready":true}'
$client "$port" get /v2/models/shade/ready >got.txt
expect_in "v2 model ready" got.txt '200 {"name":"shade","ready":true}'
$client "$port" get /v2/models/shade >got.txt
expect_in "v2 metadata input" got.txt '"inputs":[{"name":"input","datatype":"FP32","shape":[-1,1,16,16]}]'
expect_in "v2 metadata outputs" got.txt '{"name":"probabilities","datatype":"FP32","shape":[-1,2]},{"name":"label","datatype":"BYTES","shape":[-1]}'
expect_in "v2 metadata classes" got.txt '"classes":["dark","light"]'
for kind in fp32 nested bytes; do
	$client "$port" v2-body v2.json $kind data/light/01.png data/dark/07.png
	$client "$port" post /v2/models/shade/infer v2.json >got.txt
	run $client "$port" check-v2 got.txt want.jsonl data/light/01.png data/dark/07.png
	expect_rc "v2 infer ($kind) equals predict" 0
done
$client "$port" get /metrics >got.txt
expect_in "metrics: requests by endpoint and code" got.txt 'pipeline_serve_requests_total{endpoint="v2_infer",code="200"} 3'
expect_in "metrics: raw endpoint" got.txt 'pipeline_serve_requests_total{endpoint="predict",code="200"} 2'
expect_in "metrics: latency histogram" got.txt 'pipeline_serve_request_duration_seconds_bucket{le="+Inf"}'
expect_in "metrics: batch sizes" got.txt 'pipeline_serve_batch_size_count'
expect_in "metrics: in flight" got.txt 'pipeline_serve_requests_in_flight 1'
expect_in "metrics: queue depth" got.txt 'pipeline_serve_queue_depth 0'

# ---- errors: status and a JSON error naming the fault ----
# expect_error DESC STATUS TEXT: got.txt holds STATUS {"error": "...TEXT..."}
expect_error() {
	if "$py" -c "import json,sys; s,b=open('got.txt').read().split(' ',1); e=json.loads(b)['error']; sys.exit(not (s==sys.argv[1] and sys.argv[2] in e))" "$2" "$3" 2>/dev/null
	then ok; else fail "$1: wanted $2 with '$3': $(head -c 300 got.txt)"; fi
}
printf '{"instances": [' >bad.json
$client "$port" post /v1/models/shade:predict bad.json >got.txt
expect_error "malformed JSON" 400 "malformed JSON at line 1"
printf 'not an image at all' >bad.png
$client "$port" post / bad.png image/png >got.txt
expect_error "bad image" 400 "stdin"
printf '{"instances": [{"b64": "bm90IGFuIGltYWdl"}]}' >bad.json
$client "$port" post /v1/models/shade:predict bad.json >got.txt
expect_error "bad image in b64" 400 "instance 0"
printf '{"instances": [{"b64": "%%%%"}]}' >bad.json
$client "$port" post /v1/models/shade:predict bad.json >got.txt
expect_error "bad base64" 400 "not base64"
printf '{"instances": [[[1, 2, 3]]]}' >bad.json
$client "$port" post /v1/models/shade:predict bad.json >got.txt
expect_error "wrong v1 shape" 400 "wrong shape"
printf '{"inputs": [{"name": "input", "datatype": "FP32", "shape": [1, 3, 16, 16], "data": [0]}]}' >bad.json
$client "$port" post /v2/models/shade/infer bad.json >got.txt
expect_error "wrong v2 shape" 400 "wrong shape: the model's input is [n,1,16,16]"
printf '{"inputs": [{"name": "input", "datatype": "FP32", "shape": [1, 1, 16, 16], "data": [1, 2]}]}' >bad.json
$client "$port" post /v2/models/shade/infer bad.json >got.txt
expect_error "v2 data count" 400 '"data" holds 2 values'
printf '{"inputs": [{"name": "input", "datatype": "INT8", "shape": [1], "data": [1]}]}' >bad.json
$client "$port" post /v2/models/shade/infer bad.json >got.txt
expect_error "v2 datatype" 400 "FP32 or BYTES"
"$py" -c "import json; print(json.dumps({'instances': [[[[2.0] * 16] * 16]]}))" >bad.json
$client "$port" post /v1/models/shade:predict bad.json >got.txt
expect_error "pixels out of range" 400 "pixels are 0..1"
$client "$port" get /v1/models/other >got.txt
expect_error "unknown v1 model" 404 "unknown model 'other'"
$client "$port" post /v2/models/other/infer v2.json >got.txt
expect_error "unknown v2 model" 404 "unknown model 'other'"
$client "$port" get /nowhere >got.txt
expect_error "unknown path" 404 "no endpoint '/nowhere'"
$client "$port" method GET /predict >got.txt
expect_error "wrong method" 405 "takes POST"
: >empty.bin
$client "$port" post / empty.bin image/png >got.txt
expect_error "empty body" 400 "no image"
head -c 20000 /dev/urandom >big.bin
$client "$port" post / big.bin image/png >got.txt
expect_error "body over the limit" 413 "max_body_mb"
$client "$port" get /v2/health/live >got.txt
expect_in "alive after the errors" got.txt '200 {"live":true}'
stop_server

# ---- dynamic batching: requests that arrive together share one batch ----
# 8 requests whose bodies come in together, after their headers: one batch of 8
start_server --max-batch 8 --max-delay-ms 2000
run $client "$port" slow-bodies 8 want.jsonl $images
expect_rc "8 requests arriving together equal predict" 0
batches=$($client "$port" metric pipeline_serve_batch_size_count)
samples=$($client "$port" metric pipeline_serve_batch_size_sum)
check "8 samples went through the network ($samples)" test "$samples" -eq 8
check "in one batch ($batches)" test "$batches" -eq 1
expect_in "the batch-size histogram shows it" out.txt "8 of 8"
$client "$port" get /metrics >got.txt
expect_in "histogram bucket le=8" got.txt 'pipeline_serve_batch_size_bucket{le="4"} 0'
expect_in "histogram bucket le=8" got.txt 'pipeline_serve_batch_size_bucket{le="8"} 1'
# 8 keep-alive clients at once: answers equal unbatched ones, fewer batches than requests
before=$($client "$port" metric pipeline_serve_batch_size_count)
run $client "$port" concurrent want.jsonl 8 64 $images
expect_rc "8 concurrent clients, 64 requests, equal predict" 0
batches=$($client "$port" metric pipeline_serve_batch_size_count)
check "64 requests in fewer batches ($((batches - before)))" test $((batches - before)) -lt 64
stop_server

# ---- a full queue gets 503 ----
start_server --max-queue 1 --max-batch 32 --max-delay-ms 5000
$client "$port" codes 4 "$img" >got.txt
expect_in "one answered, the rest refused" got.txt "200 503 503 503"
expect_in "503 names the limit" got.txt "max_queue 1"
stop_server

# ---- a stalled client times out and holds up nobody ----
start_server --timeout 1
run $client "$port" slow 4 "$img" want.jsonl
expect_rc "slow client" 0
stop_server

# ---- SIGTERM drains the requests in flight ----
# 3 requests whose bodies are still arriving when SIGTERM comes
start_server --max-batch 32
$client "$port" background drained.txt 1.5 want.jsonl data/dark/01.png data/light/02.png data/light/05.png &
bg=$!
sleep 0.7
kill -TERM "$server_pid"
wait "$server_pid"
check "SIGTERM: exit 0" test $? -eq 0
server_pid=''
wait "$bg"
check "SIGTERM: the 3 requests in flight answered" test "$(grep -c '^200 equal$' drained.txt)" -eq 3
expect_in "SIGTERM: drain logged" server.err "draining 3 request(s)"
run $client "$port" get /v2/health/live
check "SIGTERM: no longer listening" test "$rc" -ne 0

# ---- load: 10,000 requests at concurrency 32 ----
start_server
run timeout 300 $client "$port" concurrent want.jsonl 32 10000 $images
expect_rc "10,000 requests at concurrency 32" 0
cat out.txt
stop_server

finish
