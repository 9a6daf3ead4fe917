#!/bin/sh
# The bad-input catalogue: every tests/bad/*.sh is one case. A case is a shell
# snippet sourced in a fresh directory; it sets
#   want_rc=N        the exit code the product must give
#   want_msg='...'   a fragment stderr must contain (empty: nothing checked)
#   want_out='...'   optional: a fragment stdout must contain
# and defines case_run, which makes its fixtures and runs "$PIPELINE" (the
# helpers below are available). Every case also must not crash: no signal,
# no sanitizer report. Runs under the ASan build too (tests/run.sh exports
# PIPELINE). BAD_CASES=glob picks cases; a case may call `skip REASON`.
. "$(dirname "$0")/lib.sh"
root=${PL_ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}
py=/usr/bin/python3
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1}

# A small, fast folder-per-class configuration: 16x16 gray, tiny network.
small() {
	cat >small.ini <<EOF
[dataset]
source = ${1:-$PWD/data}
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
}

# mkclasses DIR [N] [CLASSES...]: a folder per class with N 16x16 gray PNGs.
mkclasses() {
	d=$1; n=${2:-12}; shift 2 2>/dev/null || shift $#
	[ $# -gt 0 ] || set -- a b
	"$py" - "$d" "$n" "$@" <<'EOF'
import os, sys
from PIL import Image
d, n, classes = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
for k, c in enumerate(classes):
    os.makedirs(os.path.join(d, c), exist_ok=True)
    for i in range(n):
        im = Image.new("L", (16, 16), 40 + 150 * k + (i % 7))
        im.save(os.path.join(d, c, "%03d.png" % i))
EOF
}

# png_header FILE W H [COLOR_TYPE]: a PNG whose header declares WxH 8-bit
# pixels (gray, or COLOR_TYPE) with a token of image data.
png_header() {
	"$py" - "$@" <<'EOF'
import struct, sys, zlib
path, w, h, ct = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int((sys.argv[4:] or [0])[0])
def chunk(t, b): return struct.pack('>I', len(b)) + t + b + struct.pack('>I', zlib.crc32(t + b))
open(path, 'wb').write(b'\x89PNG\r\n\x1a\n' + chunk(b'IHDR', struct.pack('>IIBBBBB', w, h, 8, ct, 0, 0, 0))
                       + chunk(b'IDAT', zlib.compress(b'\0' * 100)) + chunk(b'IEND', b''))
EOF
}

# pl ARGS...: pipeline run on the small configuration in workspace ws.
pl() { "$PIPELINE" run --workspace ws --config small.ini "$@"; }

# serve_http ROOT LOG [CERT KEY]: starts tests/http_server.py; sets $port.
serve_http() {
	"$py" "$root/tests/http_server.py" "$@" >port.txt 2>/dev/null &
	server=$!
	i=0
	while [ ! -s port.txt ] && [ $i -lt 100 ]; do sleep 0.05; i=$((i + 1)); done
	port=$(cat port.txt)
	[ -n "$port" ] || echo "test server did not start" >&2
}

# mkpackage: a trained package from the small configuration; sets $pkg.
mkpackage() {
	mkclasses data 12; small
	pl >build.log 2>&1 || { echo "mkpackage failed: $(tail -n 3 build.log)" >&2; return 1; }
	pkg=$(ls "$PWD"/ws/package/*.tar.zst)
}

# evil_tar OUT PYTHON: a tar.gz of data/ (made with mkclasses) plus whatever
# the Python statements add to the open tarfile t (helpers: add(name, bytes)).
evil_tar() {
	"$py" - "$1" "$2" <<'EOF2'
import io, os, sys, tarfile
out, code = sys.argv[1], sys.argv[2]
t = tarfile.open(out, "w:gz")
t.add("data", arcname="data")
def add(name, data=b"x", **kw):
    ti = tarfile.TarInfo(name); ti.size = len(data)
    for k, v in kw.items(): setattr(ti, k, v)
    t.addfile(ti, io.BytesIO(data) if ti.isreg() else None)
exec(code)
t.close()
EOF2
}

# mktable [ROWS_PY]: data/ with 24 images img/NNN.png and data/t.csv
# (file,label); ROWS_PY may rewrite the list of text lines L before writing,
# and sets enc (default utf-8) and nl (default "\n"). Config: small.ini
# with dataset.table = t.csv.
mktable() {
	"$py" - "${1:-}" <<'EOF2'
import os, sys
from PIL import Image
os.makedirs("data/img", exist_ok=True)
L = ["file,label"]
for i in range(24):
    Image.new("L", (16, 16), 40 + 150 * (i % 2)).save("data/img/%03d.png" % i)
    L.append("img/%03d.png,%s" % (i, "ab"[i % 2]))
enc, nl = "utf-8", "\n"
exec(sys.argv[1])
open("data/t.csv", "wb").write((nl.join(L) + nl).encode(enc))
EOF2
	small
	sed -i 's/^\[dataset\]$/[dataset]\ntable = t.csv\nchannels = file/' small.ini
}

# repack PY: unpacks $pkg into pk/, runs the Python statements PY there
# (helpers: rd(name), wr(name, bytes), fix() rewrites the manifest hashes),
# and packs it again as bad.tar.zst.
repack() {
	rm -rf pk; mkdir pk; tar -C pk -I zstd -xf "$pkg" || return 1
	(cd pk && "$py" - "$1" <<'EOF2'
import hashlib, json, sys
def rd(n): return open(n, "rb").read()
def wr(n, b): open(n, "wb").write(b)
def fix():
    m = json.load(open("MANIFEST.json"))
    for n in m["files"]: m["files"][n] = hashlib.sha256(rd(n)).hexdigest()
    json.dump(m, open("MANIFEST.json", "w"), indent=2)
exec(sys.argv[1])
EOF2
	) || return 1
	(cd pk && tar -I zstd -cf ../bad.tar.zst $(tar -I zstd -tf "$pkg"))
}

skip() { skipped="$1"; }

crashed() {
	[ "$rc" -ge 128 ] && [ "$rc" -ne 130 ] && return 0
	grep -q -E 'AddressSanitizer|LeakSanitizer|runtime error:|Segmentation fault|core dumped' err.txt
}

total=0
for f in "$root"/tests/bad/${BAD_CASES:-*}.sh; do
	[ -f "$f" ] || continue
	name=$(basename "$f" .sh)
	total=$((total + 1))
	dir=$tmp/$name
	mkdir -p "$dir"
	(
		cd "$dir" || exit 2
		want_rc=1 want_msg='' want_out='' skipped='' server=''
		. "$f"
		case_run >out.txt 2>err.txt
		rc=$?
		[ -n "$server" ] && kill "$server" 2>/dev/null
		if [ -n "$skipped" ]; then
			echo "skip $name: $skipped" >&2; exit 3
		fi
		bad=''
		crashed && bad="$bad crashed (exit $rc);"
		[ "$rc" -eq "$want_rc" ] || bad="$bad exit $rc, wanted $want_rc;"
		if [ -n "$want_msg" ] && ! grep -q -F -- "$want_msg" err.txt; then
			bad="$bad stderr lacks '$want_msg';"
		fi
		if [ -n "$want_out" ] && ! grep -q -F -- "$want_out" out.txt; then
			bad="$bad stdout lacks '$want_out';"
		fi
		if [ -n "$bad" ]; then
			echo "$name:$bad stderr: $(grep -v '%' err.txt | tail -n 4 | head -c 700)"
			exit 1
		fi
		[ -n "${BAD_SHOW:-}" ] && echo "$name: exit $rc: $(grep -v '%' err.txt | tail -n 1 | head -c 300)"
		exit 0
	) >"$tmp/$name.res" 2>&1
	case $? in
	0) ok; cat "$tmp/$name.res" ;;
	3) cat "$tmp/$name.res" >&2 ;;
	*) fail "$(cat "$tmp/$name.res")" ;;
	esac
done
[ "$total" -gt 0 ] || fail "no cases in tests/bad"
finish
