#!/bin/sh
# A hostile or unlucky user: files changed in place with their size and
# mtime kept (the hash memo keys on ctime too, and does not trust an entry
# as new as the memo itself), a memo that lies (package reads the bytes it
# packs), and symbolic links planted on the workspace's own names (nothing
# is written through them out of the workspace).
. "$(dirname "$0")/lib.sh"
py=/usr/bin/python3

"$py" - data <<'EOF'
import os, sys
from PIL import Image
for k, c in enumerate("ab"):
    os.makedirs(os.path.join(sys.argv[1], c))
    for i in range(12):
        Image.new("L", (16, 16), 40 + 150 * k + (i % 7)).save(os.path.join(sys.argv[1], c, "%03d.png" % i))
EOF
cat >small.ini <<EOF
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
pl() { "$PIPELINE" run --workspace "$ws" --config small.ini "$@"; }

# flip FILE: changes 8 bytes in the middle of FILE in place, keeping its
# size, then sets its mtime back (touch -r): only its ctime tells.
flip() {
	cp -p "$1" stamp.ref
	"$py" - "$1" <<'EOF'
import sys
p = sys.argv[1]
with open(p, "r+b") as f:
    data = f.read()
    mid = len(data) // 2
    f.seek(mid)
    f.write(bytes(b ^ 0x5a for b in data[mid:mid + 8]))
EOF
	touch -r stamp.ref "$1"
}

# forge MEMO FILE SHA: makes the entry of FILE in the hash memo MEMO match
# FILE's stat as it is now while holding SHA (a memo that lies), in the
# entry layout the memo already uses; keeps MEMO's own mtime.
forge() {
	"$py" - "$@" <<'EOF'
import json, os, sys
memo, path, sha = sys.argv[1], os.path.realpath(sys.argv[2]), sys.argv[3]
st, mst = os.stat(path), os.stat(memo)
m = json.load(open(memo))
if len(m[path]) == 5:
    m[path] = [st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino, sha]
else:
    m[path] = [st.st_size, st.st_mtime_ns, st.st_ino, sha]
json.dump(m, open(memo, "w"))
os.utime(memo, ns=(mst.st_atime_ns, mst.st_mtime_ns))
EOF
}

sha_of() { sha256sum "$1" | cut -c1-64; }

# overwrite FILE WITH: rewrites FILE in place (same inode) with the bytes of
# WITH, of the same size, then sets its mtime back.
overwrite() {
	cp -p "$1" stamp.ref
	[ "$(stat -c %s "$1")" = "$(stat -c %s "$2")" ] || fail "overwrite: $1 and $2 differ in size"
	cat "$2" >"$1"
	touch -r stamp.ref "$1"
}

# ---- an output changed in place (size and mtime kept) ----
ws=$tmp/ws1
run pl
expect_rc "first run" 0
flip "$ws/train/model.pnn"
run "$PIPELINE" status --workspace "$ws" --config small.ini
check "model changed in place: status says train is not done" \
	sh -c "grep '^train' out.txt | grep -q -v ' done '"
run pl
expect_rc "model changed in place: run" 0
expect_in "model changed in place: train runs again" err.txt "train: running (output changed: model.pnn"

# ---- an input image rewritten in place (size and mtime kept) ----
ws=$tmp/ws2
run pl
expect_rc "input: first run" 0
overwrite data/a/003.png data/b/003.png
run pl
expect_rc "input changed in place: run" 0
expect_in "input changed in place: prepare runs again" err.txt "prepare: running (input data changed)"

# ---- racy: the memo's entry matches the changed file, but the file's times
# are not older than the memo's own write: hashed again ----
ws=$tmp/ws3
run pl
expect_rc "racy: first run" 0
old=$(sha_of data/b/005.png)
sleep 0.05
overwrite data/b/005.png data/a/005.png
forge "$ws/.cache/inputs.json" data/b/005.png "$old"
run pl
expect_rc "racy: run" 0
expect_in "racy: an entry as new as the memo is hashed again" err.txt \
	"prepare: running (input data changed)"

# ---- package reads the bytes it packs, not the memo ----
ws=$tmp/ws4
run pl
expect_rc "package: first run" 0
old=$(sha_of "$ws/train/model.pnn")
flip "$ws/train/model.pnn"
forge "$ws/.cache/outputs.json" "$ws/train/model.pnn" "$old"
touch "$ws/.cache/outputs.json"   # written after the change: the memo is trusted
run pl --force package
expect_rc "package of a changed model: refused" 1
expect_in "package of a changed model: names it" err.txt "model.pnn' is not what train made"
check "package of a changed model: no new package" sh -c "! grep -q 'wrote model' err.txt"

# ---- symbolic links on the workspace's own names ----
for name in .tmp .cache .status downloads prepare train .tmp/train train/checkpoints \
	    .tmp/train/checkpoints; do
	ws=$tmp/ws-link
	rm -rf "$ws" outside
	mkdir -p outside "$ws/$(dirname "$name")"
	rm -rf "${ws:?}/$name"
	ln -s "$tmp/outside" "$ws/$name"
	run pl --force all
	expect_rc "link $name: refused" 2
	expect_in "link $name: named" err.txt "'$ws/$name' is a symbolic link to '$tmp/outside'"
	check "link $name: nothing written outside ($(ls -A outside | head -c 100))" \
		test -z "$(ls -A outside)"
done
# a link that stays inside the workspace is no attack
ws=$tmp/ws-inner
mkdir -p "$ws/elsewhere"
ln -s elsewhere "$ws/.status"
run pl
expect_rc "a link inside the workspace: accepted" 0
# a download's partial file as a link out of the workspace
ws=$tmp/ws-part
rm -rf outside; mkdir -p outside "$ws/downloads"
ln -s "$tmp/outside/victim" "$ws/downloads/x.tar.gz.part"
run pl
expect_rc "link downloads/x.part: refused" 2
check "link downloads/x.part: nothing written outside" test ! -e outside/victim

finish
