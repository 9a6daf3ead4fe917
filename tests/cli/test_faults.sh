#!/bin/sh
# Fault injection: ENOSPC and EIO on write, EINTR on read, failed rename,
# failed fsync (strace -e inject, limited with -P to one file where that
# matters), failed allocation in the decoder and the trainer (an LD_PRELOAD
# shim, tests/faults/shim.c), a read-only workspace and a full 2 MiB file
# system (tmpfs in a private mount namespace). Each fault must end in a clear
# error naming the file and the cause, exit non-zero without a crash, leave
# the previous stage results intact (status exits 0; every stage it calls
# done has its listed outputs), and a following normal run must succeed with
# the model of an undisturbed run.
. "$(dirname "$0")/lib.sh"
# (LeakSanitizer cannot run under ptrace: leak checks are off in the strace runs)
root=${PL_ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}
py=/usr/bin/python3
asan=''
case "$PIPELINE" in *asan*) asan=1 ;; esac

"$py" - data <<'EOF'
import os, sys
from PIL import Image
for k, c in enumerate("ab"):
    os.makedirs(os.path.join(sys.argv[1], c))
    for i in range(12):
        Image.new("L", (320, 320), 40 + 150 * k + (i % 7)).save(os.path.join(sys.argv[1], c, "%03d.png" % i))
EOF
cat >base.ini <<EOF
[dataset]
source = $tmp/data
[prepare]
size = 16
[model]
layers = conv 4 3 pad 1, relu, maxpool 2, dense
[train]
epochs = 1
batch = 8
threads = 1
[validate]
min_value = 0
EOF
# the faulted runs use a changed configuration, so every stage reruns
new="--set prepare.seed=2 --set train.epochs=2"

# verify WS: status exits 0, and every stage it calls done has its outputs.
verify() {
	"$PIPELINE" status --workspace "$1" --config base.ini $new --json >st.json 2>st.err || {
		echo "status exited non-zero: $(head -c 300 st.err)"; return 1; }
	"$py" - "$1" st.json <<'EOF'
import hashlib, json, os, sys
ws, st = sys.argv[1], json.load(open(sys.argv[2]))
for s in st["stages"]:
    if s["state"] not in ("done", "cached"):
        continue
    meta = json.load(open(os.path.join(ws, s["stage"], "stage.json")))
    for o in meta["outputs"]:
        d = open(os.path.join(ws, s["stage"], o["path"]), "rb").read()
        if len(d) != o["bytes"] or hashlib.sha256(d).hexdigest() != o["sha256"]:
            sys.exit("%s: output %s does not match stage.json" % (s["stage"], o["path"]))
EOF
}

# the previous good results and the reference result of the new configuration
"$PIPELINE" run --workspace base --config base.ini >base.log 2>&1 || { cat base.log; fail "base run"; finish; exit 1; }
"$PIPELINE" run --workspace ref --config base.ini $new >ref.log 2>&1 || { cat ref.log; fail "reference run"; finish; exit 1; }
sum() { sha256sum "$1/train/model.pnn" 2>/dev/null | cut -c1-64; }
ref=$(sum ref)
old_prepare=$(sha256sum base/prepare/stage.json | cut -c1-64)

# after DESC WS: the checks that follow any fault: previous results intact,
# workspace usable, the rerun gives the reference model.
after() {
	if msg=$(verify "$2"); then ok; else fail "$1: status untruthful after the fault: $msg"; fi
	if [ -f "$2/prepare/stage.json" ] && [ "$(sha256sum "$2/prepare/stage.json" | cut -c1-64)" != "$old_prepare" ] \
		&& ! grep -q '"prepare.seed": "2"' "$2/prepare/stage.json"; then
		fail "$1: prepare/stage.json changed into something else"
	fi
	if "$PIPELINE" run --workspace "$2" --config base.ini $new >rerun.log 2>&1 && [ "$(sum "$2")" = "$ref" ]; then ok
	else fail "$1: the following normal run failed or differs: $(tail -n 2 rerun.log)"; fi
}

# fault DESC CAUSE FILE_FRAGMENT STRACE_ARGS...: one strace-injected run.
fault() {
	desc=$1 cause=$2 file=$3; shift 3
	rm -rf ws; cp -a base ws
	ASAN_OPTIONS=${ASAN_OPTIONS:-}:detect_leaks=0 strace -f -qq -o /dev/null "$@" "$PIPELINE" run --workspace ws --config base.ini $new >out.txt 2>err.txt
	rc=$?
	if [ "$rc" -ne 0 ] && [ "$rc" -lt 128 ]; then ok; else fail "$desc: exit $rc, wanted a failure without a crash"; fi
	expect_in "$desc: names the cause" err.txt "$cause"
	expect_in "$desc: names the file" err.txt "$file"
	[ -n "${FAULT_SHOW:-}" ] && echo "$desc: exit $rc: $(tail -n 1 err.txt)"
	after "$desc" ws
}

w=$tmp/ws  # strace -P takes absolute paths; messages name the workspace as given (ws/)
fault "ENOSPC writing the model" "No space left on device" "model.pnn" \
	-P "$w/.tmp/train/model.pnn" -e trace=write,writev,pwrite64 -e inject=write,writev,pwrite64:error=ENOSPC
fault "EIO writing a record shard" "Input/output error" "train-00000-of-00002.rec.zst" \
	-P "$w/.tmp/prepare/train-00000-of-00002.rec.zst" -e trace=write,writev,pwrite64 -e inject=write,writev,pwrite64:error=EIO
fault "EIO writing stage.json" "Input/output error" "stage.json" \
	-P "$w/.tmp/validate/stage.json" -e trace=write,writev,pwrite64 -e inject=write,writev,pwrite64:error=EIO
fault "failed fsync" "Input/output error" "ws/.tmp/" \
	-e trace=fsync,fdatasync -e inject=fsync,fdatasync:error=EIO:when=3
fault "failed rename (stage swap)" "Input/output error" "ws/prepare" \
	-e trace=rename,renameat,renameat2 -e inject=rename,renameat,renameat2:error=EIO

# EINTR on read: a read interrupted by a signal is retried (the run works)
# or ends in a clear error naming the image; never a crash or a wrong result.
rm -rf ws; cp -a base ws
ASAN_OPTIONS=${ASAN_OPTIONS:-}:detect_leaks=0 strace -f -qq -o /dev/null -P "$tmp/data/a/003.png" -e trace=read -e inject=read:error=EINTR:when=1 \
	"$PIPELINE" run --workspace ws --config base.ini $new >out.txt 2>err.txt
rc=$?
if [ "$rc" -eq 0 ] && [ "$(sum ws)" = "$ref" ]; then ok
elif [ "$rc" -ne 0 ] && [ "$rc" -lt 128 ] && grep -q '003.png' err.txt && grep -q -i 'interrupted' err.txt; then ok
else fail "EINTR on read: exit $rc, neither retried nor a clear error: $(tail -n 1 err.txt)"; fi
[ -n "${FAULT_SHOW:-}" ] && echo "EINTR on read: exit $rc: $(tail -n 1 err.txt)"
after "EINTR on read" ws

# allocation failures: in the decoder (prepare, 320x320 images) and the
# trainer (prepare cached); not under ASan, whose allocator comes first
if [ -z "$asan" ] && cc -shared -fPIC -O1 -o shim.so "$root/tests/faults/shim.c" 2>shim.err; then
	for spec in "decoder:300000" "trainer:65536"; do
		what=${spec%%:*}; min=${spec#*:}
		rm -rf ws; cp -a base ws
		[ "$what" = trainer ] && "$PIPELINE" run --workspace ws --config base.ini --set prepare.seed=2 --until prepare >/dev/null 2>&1
		FAULT_MALLOC_MIN=$min LD_PRELOAD=$tmp/shim.so "$PIPELINE" run --workspace ws --config base.ini $new >out.txt 2>err.txt
		rc=$?
		if [ "$rc" -ne 0 ] && [ "$rc" -lt 128 ]; then ok; else fail "malloc fails in the $what: exit $rc"; fi
		expect_in "malloc fails in the $what: names the cause" err.txt "out of memory"
		[ -n "${FAULT_SHOW:-}" ] && echo "malloc fails in the $what: exit $rc: $(tail -n 1 err.txt)"
		after "malloc fails in the $what" ws
	done
else
	echo "test_faults: allocation faults skipped (ASan build, or no cc)"
fi

# read-only workspace and full file system: tmpfs in a private mount namespace
if unshare -m true 2>/dev/null && unshare -m sh -c "mount -t tmpfs -o size=1m tmpfs $tmp" 2>/dev/null; then
	mkdir -p mnt
	unshare -m sh -c "
		mount -t tmpfs -o size=64m tmpfs $tmp/mnt && cp -a $tmp/base $tmp/mnt/ws &&
		mount -o remount,ro $tmp/mnt &&
		'$PIPELINE' status --workspace $tmp/mnt/ws --config $tmp/base.ini >ro-status.txt 2>ro-status.err; echo \$? >ro-status.rc
		'$PIPELINE' run --workspace $tmp/mnt/ws --config $tmp/base.ini $new >out.txt 2>err.txt; echo \$? >ro.rc"
	rc=$(cat ro.rc 2>/dev/null || echo none)
	if [ "$rc" != none ] && [ "$rc" -ne 0 ] && [ "$rc" -lt 128 ]; then ok; else fail "read-only workspace: exit $rc"; fi
	expect_in "read-only workspace: names the cause" err.txt "Read-only file system"
	expect_in "read-only workspace: names the workspace" err.txt "$tmp/mnt/ws"
	[ -n "${FAULT_SHOW:-}" ] && echo "read-only: exit $rc: $(tail -n 1 err.txt)"
	if [ "$(cat ro-status.rc)" -eq 0 ]; then ok; else fail "status on a read-only workspace: exit $(cat ro-status.rc): $(head -c 300 ro-status.err)"; fi

	# full: the demo plate does not fit into 2 MiB; then the same workspace
	# on a bigger file system completes with the uninterrupted result
	demo="--config $root/pipeline.ini --set dataset.source=synth:plate?size=170x128 --set prepare.resize=128x128 --set prepare.tile=32 --set prepare.size=32 --set train.epochs=1 --set validate.min_value=0"
	unshare -m sh -c "
		mount -t tmpfs -o size=2m tmpfs $tmp/mnt &&
		{ '$PIPELINE' run --workspace $tmp/mnt/ws $demo >out.txt 2>err.txt; echo \$? >full.rc; } &&
		'$PIPELINE' status --workspace $tmp/mnt/ws $demo >full-status.txt 2>&1; echo \$? >full-status.rc
		mount -o remount,size=64m $tmp/mnt &&
		'$PIPELINE' run --workspace $tmp/mnt/ws $demo >full-rerun.txt 2>&1; echo \$? >full-rerun.rc
		sha256sum $tmp/mnt/ws/train/model.pnn | cut -c1-64 >full.sum"
	"$PIPELINE" run --workspace full-ref $demo >full-ref.txt 2>&1
	rc=$(cat full.rc 2>/dev/null || echo none)
	if [ "$rc" != none ] && [ "$rc" -ne 0 ] && [ "$rc" -lt 128 ]; then ok; else fail "full file system: exit $rc"; fi
	expect_in "full file system: names the cause" err.txt "No space left on device"
	expect_in "full file system: names a file in the workspace" err.txt "$tmp/mnt/ws"
	[ -n "${FAULT_SHOW:-}" ] && echo "full: exit $rc: $(tail -n 1 err.txt)"
	if [ "$(cat full-status.rc)" -eq 0 ]; then ok; else fail "status on a full file system: $(tail -n 2 full-status.txt)"; fi
	if [ "$(cat full-rerun.rc)" -eq 0 ] && [ "$(cat full.sum)" = "$(sum full-ref)" ]; then ok
	else fail "full file system: the rerun after freeing space failed or differs: $(tail -n 2 full-rerun.txt)"; fi

	# a bomb on a small disk: 48 MiB of zeros in a 50 KiB archive, the
	# workspace on an 8 MiB file system: read as a stream, never written, so
	# a clear error (the entry is no image) and the disk not full
	"$py" -c "
import io, tarfile
with tarfile.open('bomb.tar.gz', 'w:gz') as t:
    ti = tarfile.TarInfo('set/a/zeros.png'); ti.size = 48 << 20
    t.addfile(ti, io.BytesIO(bytes(ti.size)))
    for c in 'ab':
        for i in range(12):
            ti = tarfile.TarInfo('set/%s/zz%d.png' % (c, i)); ti.size = 1
            t.addfile(ti, io.BytesIO(bytes(1)))"
	unshare -m sh -c "
		mount -t tmpfs -o size=8m tmpfs $tmp/mnt &&
		{ '$PIPELINE' stage prepare --workspace $tmp/mnt/ws --config $tmp/base.ini \
			--set dataset.source=$tmp/bomb.tar.gz >out.txt 2>bomb.err; echo \$? >bomb.rc; } &&
		df -k --output=avail $tmp/mnt | tail -n 1 >bomb.avail"
	rc=$(cat bomb.rc 2>/dev/null || echo none)
	if [ "$rc" = 1 ]; then ok; else fail "bomb on a small disk: exit $rc: $(tail -c 300 bomb.err)"; fi
	expect_in "bomb on a small disk: names the entry" bomb.err "bomb.tar.gz:set/a/zeros.png"
	check "bomb on a small disk: the disk keeps free space ($(cat bomb.avail) KiB)" test "$(cat bomb.avail)" -gt 512
else
	echo "test_faults: read-only and full file system skipped: mounting a tmpfs in a private mount namespace (unshare -m) is not permitted here"
fi
finish
