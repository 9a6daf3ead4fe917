#!/bin/sh
# pipeline stage prepare on the data path: folder-per-class sources as a
# directory, .tar.gz and .zip; a CSV table with quoted fields and groups;
# bad images skipped or fatal; a group-aware split; refused sources (missing,
# escaping paths, missing columns, one class, hostile archives); file://
# and http:// sources with checksums, 404s and a server that is down.
root=${PL_ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}
. "$root/tests/cli/lib.sh"
py=/usr/bin/python3
P=$PIPELINE
n_ws=0

# prep CONFIG [ARGS...]: runs the prepare stage in a fresh workspace $ws.
prep() {
	n_ws=$((n_ws + 1))
	ws=$tmp/ws$n_ws
	cfgf=$1; shift
	run "$P" stage prepare --workspace "$ws" --config "$cfgf" "$@"
}

# stat_of KEY: a value of the last workspace's prepare/stats.json.
stat_of() { "$py" -c "import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])" "$ws/prepare/stats.json" "$1" 2>&1; }

# ---- fixtures: shapes in a folder per class, a table with groups ----
"$py" - <<'EOF'
import csv, io, os, random, tarfile, zipfile
from PIL import Image, ImageDraw
rnd = random.Random(3)

def shape(cls, path):
    im = Image.new("L", (16, 16), rnd.randint(0, 30))
    r = rnd.randint(4, 6)
    x, y = rnd.randint(r, 15 - r), rnd.randint(r, 15 - r)
    d = ImageDraw.Draw(im)
    (d.ellipse if cls == "circle" else d.rectangle)((x - r, y - r, x + r, y + r), fill=220)
    im.save(path)

# A folder per class under one top-level directory.
for cls in ("circle", "square"):
    os.makedirs("shapes/set/" + cls)
    for i in range(8):
        shape(cls, "shapes/set/%s/%s%d.png" % (cls, cls, i))
with tarfile.open("shapes.tar.gz", "w:gz") as t:
    t.add("shapes/set", arcname="set")
with tarfile.open("stray.tar.gz", "w:gz") as t:    # a README and macOS's debris beside
    t.add("shapes/set", arcname="set")
    for name, data in (("README.txt", b"shapes\n"), ("__MACOSX/set/._circle0.png", b"\0")):
        ti = tarfile.TarInfo(name)
        ti.size = len(data)
        t.addfile(ti, io.BytesIO(data))
with zipfile.ZipFile("shapes.zip", "w") as z:
    for d, _, files in sorted(os.walk("shapes/set")):
        for f in sorted(files):
            p = os.path.join(d, f)
            z.write(p, os.path.relpath(p, "shapes"))
# Names that are not UTF-8: a Latin-1 class folder, a file, a corrupt file.
for cls in (b"caf\xe9", b"square"):
    os.makedirs(b"latin/" + cls)
    for i in range(6):
        shape("circle" if cls != b"square" else "square",
              os.fsdecode(b"latin/" + cls + (b"/\xff%d.png" % i if i == 0 else b"/%d.png" % i)))
open(b"latin/square/bad\xfe.png", "wb").write(b"not an image")
# One class only.
os.makedirs("oneclass/set/circle")
for i in range(4):
    shape("circle", "oneclass/set/circle/c%d.png" % i)

# A table: 20 wells of 3 images, the first file's name holds a comma.
os.makedirs("table/img")
rows = []
for w in range(20):
    cls = "circle" if w % 2 else "square"
    for k in range(3):
        name = "img/w%02d,%d.png" % (w, k) if (w, k) == (0, 0) else "img/w%02d_%d.png" % (w, k)
        shape(cls, "table/" + name)
        rows.append({"file": name, "label": cls, "well": "W%02d" % w})
def table(path, rows, fields=("file", "label", "well")):
    with open(path, "w", newline="") as f:
        wr = csv.DictWriter(f, fieldnames=fields, quoting=csv.QUOTE_ALL, extrasaction="ignore")
        wr.writeheader()
        wr.writerows(rows)
table("table/samples.csv", rows)
# 100 wells, then the same with 30 more: adding wells must move none.
many = [{"file": r["file"], "label": r["label"], "well": "M%03d" % w}
        for w in range(130) for r in rows[3 * (w % 20):3 * (w % 20) + 1]]
table("table/many.csv", many[:100])
table("table/more.csv", many)
open("table/img/corrupt.png", "wb").write(b"\x89PNG\r\n\x1a\nthis is not a png at all")
table("table/withbad.csv", rows + [{"file": "img/corrupt.png", "label": "circle", "well": "W01"}])
table("table/escape.csv", rows + [{"file": "../x.png", "label": "circle", "well": "W01"}])
table("table/nogroup.csv", rows, ("file", "label"))
table("table/missing.csv", rows + [{"file": "img/absent.png", "label": "circle", "well": "W01"}])
table("table/emptygroup.csv", rows + [{"file": rows[0]["file"], "label": "circle", "well": ""}])
table("table/newline.csv", [{"file": r["file"], "label": "high\ndose" if r["label"] == "circle"
                             else "low", "well": r["well"]} for r in rows])
os.makedirs("table/meta")
table("table/meta/up.csv", [dict(r, file="../" + r["file"]) for r in rows])
table("table/meta/out.csv", [dict(r, file="../../" + r["file"]) for r in rows])
table("table/dups.csv", rows + rows[3:5])
table("table/spaced.csv", [{"image file": r["file"], "label": r["label"], "well": r["well"]}
                           for r in rows], ("image file", "label", "well"))
shape("circle", "x.png")

# A hostile archive: an entry that climbs out of the target.
with tarfile.open("hostile.tar.gz", "w:gz") as t:
    for cls in ("circle", "square"):
        t.add("shapes/set/%s/%s0.png" % (cls, cls), arcname="set/%s/a.png" % cls)
    data = b"escaped\n"
    ti = tarfile.TarInfo("set/../../escape.txt")
    ti.size = len(data)
    t.addfile(ti, io.BytesIO(data))
EOF
check "fixtures made" test -s shapes.zip

folder_ini() {
	cat >"$1" <<EOF
[dataset]
source = $2
${3:-}
[prepare]
size = 16
EOF
}

# ---- a folder per class: directory, .tar.gz, .zip, a .tar.gz with a stray file ----
for src in "$tmp/shapes" "$tmp/shapes.tar.gz" "$tmp/shapes.zip" "$tmp/stray.tar.gz"; do
	kind=${src##*/}
	folder_ini f.ini "$src"
	prep f.ini
	expect_rc "folder per class from $kind" 0
	check "$kind: stage.json" test -s "$ws/prepare/stage.json"
	check "$kind: classes" sh -c "[ \"\$(sort '$ws/prepare/labels.txt' | tr '\n' ' ')\" = 'circle square ' ]"
	check "$kind: 16 samples" test "$(stat_of samples)" = 16
	check "$kind: nothing skipped" test "$(stat_of skipped)" = "[]"
	check "$kind: no extraction left behind" test ! -e "$ws/.tmp/prepare-source"
done
# The directory source: a rerun is cached; a changed file is not.
folder_ini f.ini "$tmp/shapes"
run "$P" stage prepare --workspace "$tmp/ws1" --config f.ini --log-format human
expect_rc "directory rerun" 0
both() { cat out.txt err.txt >all.txt; }
both
expect_in "directory rerun cached" all.txt "prepare: cached"
cp shapes/set/circle/circle1.png shapes/set/circle/circle0.png
run "$P" run --workspace "$tmp/ws1" --config f.ini --until prepare --dry-run
both
expect_in "directory content change is seen" all.txt "prepare: would run"

# ---- a table with quoted fields and groups ----
table_ini() {
	cat >"$1" <<EOF
[dataset]
source = $tmp/table
table = $2
channels = file
label_column = label
group_column = well
${3:-}
[prepare]
size = 16
val_fraction = 0.2
test_fraction = 0.2
EOF
}
table_ini t.ini samples.csv
prep t.ini
expect_rc "table source" 0
check "table: 60 samples" test "$(stat_of samples)" = 60
check "table: 20 groups" test "$(stat_of groups)" = 20
table_ws=$ws
cat >shards.py <<'EOF'
import ctypes, glob, struct, sys
z = ctypes.CDLL("libzstd.so.1")
z.ZSTD_getFrameContentSize.restype = ctypes.c_ulonglong
z.ZSTD_getFrameContentSize.argtypes = [ctypes.c_char_p, ctypes.c_size_t]
z.ZSTD_decompress.restype = ctypes.c_size_t
z.ZSTD_decompress.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_char_p, ctypes.c_size_t]
z.ZSTD_isError.argtypes = [ctypes.c_size_t]

def records(path):
    """(label, group, name) of every record of a shard (io/rec.h layout)."""
    blob = open(path, "rb").read()
    assert blob[-8:] == b"PLRECEND", path
    count, foff = struct.unpack("<QQ", blob[-32:-16])
    for i in range(count):
        at = foff + 8 + 16 * i
        off, csize, _ = struct.unpack("<QII", blob[at:at + 16])
        data = blob[off:off + csize]
        n = z.ZSTD_getFrameContentSize(data, len(data))
        out = ctypes.create_string_buffer(max(n, 1))
        if z.ZSTD_isError(z.ZSTD_decompress(out, n, data, len(data))):
            raise ValueError("corrupt record")
        rec = out.raw[:n]
        label, group, nlen, _ = struct.unpack("<iiII", rec[:16])
        yield label, group, rec[len(rec) - 4 - nlen:len(rec) - 4].decode()

prep = sys.argv[1]
groups = open(prep + "/groups.txt").read().split()
where, names, n = {}, set(), 0
for split in ("train", "val", "test"):
    for f in sorted(glob.glob("%s/%s-*.rec.zst" % (prep, split))):
        for label, group, name in records(f):
            where.setdefault(groups[group], set()).add(split)
            names.add(name)
            n += 1
print("records", n)
print("groups", len(where))
print("crossing", sorted(g for g, s in where.items() if len(s) > 1))
print("splits", sorted(set().union(*where.values())))
print("comma", any("w00,0.png" in x for x in names))
if len(sys.argv) > 2:
    with open(sys.argv[2], "w") as out:
        out.writelines("%s %s\n" % (g, min(s)) for g, s in sorted(where.items()))
EOF
"$py" shards.py "$table_ws/prepare" >split.txt 2>&1
expect_in "table: every sample in a shard" split.txt "records 60"
expect_in "table: every group in a shard" split.txt "groups 20"
expect_in "group-aware split: no group in two splits" split.txt "crossing []"
expect_in "group-aware split: three splits" split.txt "splits ['test', 'train', 'val']"
expect_in "quoted path with a comma read" split.txt "comma True"
for t in many more; do
	table_ini "$t.ini" "$t.csv"
	prep "$t.ini"
	expect_rc "table of $t wells" 0
	"$py" shards.py "$ws/prepare" "$t.map" >/dev/null 2>&1
done
kept=$(grep -F -x -f many.map more.map | wc -l)
check "adding 30 wells to 100 moves only those the cut points pass ($((100 - kept)) moved)" \
	test "$(wc -l <many.map)" = 100 -a "$kept" -ge 92
check "the 30 new wells land in every split" sh -c 'grep -v -F -x -f many.map more.map | cut -d" " -f2 | sort -u | wc -l | grep -qx 3'

# images skipped as unreadable that take a split's last sample fail prepare
"$py" shards.py "$table_ws/prepare" t.map >/dev/null 2>&1
cp -r table tablev
"$py" - t.map <<'EOF'
import csv, sys
val = {l.split()[0] for l in open(sys.argv[1]) if l.split()[1] == "val"}
for r in csv.DictReader(open("tablev/samples.csv")):
    if r["well"] in val:
        open("tablev/" + r["file"], "wb").write(b"not an image")
EOF
table_ini tv.ini samples.csv "on_bad_image = skip"
sed -i "s|^source = .*|source = $tmp/tablev|" tv.ini
prep tv.ini
check "a split emptied by skipped images: refused" test "$rc" -ne 0
expect_in "a split emptied by skipped images: said" err.txt "the val split is empty: its"

# ---- bad images: skip or fail ----
table_ini tb.ini withbad.csv "on_bad_image = skip"
prep tb.ini
expect_rc "on_bad_image = skip" 0
check "skip: 60 tiles kept ($(stat_of tiles))" test "$(stat_of tiles)" = 60
check "skip: 60 samples counted" test "$(stat_of samples)" = 60
"$py" shards.py "$ws/prepare" >skipsplit.txt 2>&1
expect_in "skip: 60 records written" skipsplit.txt "records 60"
"$py" -c "
import json,sys
s=json.load(open(sys.argv[1]))['skipped']
print('n', len(s))
print('file', any('corrupt.png' in json.dumps(x) for x in s))
print('reason', all(len(json.dumps(x)) > len('corrupt.png') + 20 for x in s))
" "$ws/prepare/stats.json" >skip.txt 2>&1
expect_in "skip: one skipped" skip.txt "n 1"
expect_in "skip: the file is named" skip.txt "file True"
expect_in "skip: with a reason" skip.txt "reason True"
"$py" -c "
import json, os, sys
p = sys.argv[1]
s, d = json.load(open(p + '/stats.json')), json.load(open(p + '/dataset.json'))
print('kept', sum(s['samples_per_split'].values()), sum(d['splits'][k]['samples'] for k in d['splits']))
print('split', s['skipped'][0]['split'] in ('train', 'val', 'test'))
print('std', s['mean'] == d['mean'] and s['std'] == d['std'] and len(s['std']) == 1)
size = sum(os.path.getsize(os.path.join(sys.argv[2], f)) for f in os.listdir(sys.argv[2]))
print('bytes_in', s['bytes_in'] == size)
" "$ws/prepare" "$tmp/table/img" >skip2.txt 2>&1
expect_in "skip: per-split sample counts leave the skipped out" skip2.txt "kept 60 60"
expect_in "skip: the skipped file's split" skip2.txt "split True"
expect_in "stats.json: the standardisation of dataset.json" skip2.txt "std True"
expect_in "stats.json: bytes in of a directory source" skip2.txt "bytes_in True"
table_ini tf.ini withbad.csv "on_bad_image = fail"
prep tf.ini
expect_rc "on_bad_image = fail" 1
expect_in "fail: names the file" err.txt "corrupt.png"
check "fail: no prepare result" test ! -e "$ws/prepare/stage.json"

# ---- refused sources ----
folder_ini l.ini "$tmp/latin" "on_bad_image = skip"
prep l.ini --log-format json
expect_rc "names that are not UTF-8" 0
check "labels.txt writes the Latin-1 byte as \\xe9" [ "$(head -1 "$ws/prepare/labels.txt")" = 'caf\xe9' ]
check "stats.json counts both classes and the skipped file by name" "$py" -c '
import json, sys
s = json.load(open(sys.argv[1]))
assert sorted(s["tiles_per_class"]) == ["caf\\xe9", "square"], s["tiles_per_class"]
assert [k["file"] for k in s["skipped"]] == ["square/bad\\xfe.png"], s["skipped"]' "$ws/prepare/stats.json"
check "groups are text too" grep -q -x -F 'caf\xe9/\xff0.png' "$ws/prepare/groups.txt"
check "the JSON log keeps the message" "$py" -c '
import json, sys
msgs = [json.loads(l)["msg"] for l in open(sys.argv[1])]
assert any("bad\\xfe.png" in m for m in msgs), msgs' err.txt
# a FIFO, a dangling link or a link back up among the images is ignored
# with a warning, not read (a FIFO would block prepare for ever)
cp -r shapes/set special
mkfifo special/circle/pipe.png
ln -s "$tmp/nowhere.png" special/square/gone.png
ln -s .. special/circle/up
folder_ini sp.ini "$tmp/special"
n_ws=$((n_ws + 1)); ws=$tmp/ws$n_ws
run timeout 60 "$P" stage prepare --workspace "$ws" --config sp.ini --log-format human
expect_rc "a FIFO and a dangling link in the source" 0
expect_in "the FIFO is named" err.txt "ignoring '$tmp/special/circle/pipe.png': not a regular file"
expect_in "the link is named" err.txt "ignoring '$tmp/special/square/gone.png'"
expect_in "a link back up is not followed" err.txt "ignoring '$tmp/special/circle/up': a link to a folder above it"
check "the 16 images are read" test "$(stat_of samples)" = 16
# a source laid out as splits (train/, test/) gets a warning
mkdir -p splits/train splits/test && cp -r shapes/set/* splits/train/ && cp -r shapes/set/* splits/test/
folder_ini sl.ini "$tmp/splits"
prep sl.ini --log-format human
expect_in "split folders taken as classes: warned" err.txt "a class is named 'test': the folders under"
# TIFF and GIF images are not read: reported and counted, not passed over
cp -r shapes/set formats
"$py" -c 'from PIL import Image; Image.open("formats/circle/circle1.png").save("formats/circle/x.tif"); Image.open("formats/square/square1.png").save("formats/square/y.gif")'
folder_ini fm.ini "$tmp/formats" "on_bad_image = skip"
prep fm.ini
expect_rc "TIFF and GIF among the images, skipped" 0
check "both counted with their format" "$py" -c '
import json, sys
s = json.load(open(sys.argv[1]))
r = sorted(k["reason"].split(": ", 1)[1] for k in s["skipped"])
assert r == ["a GIF image, which is not read (convert it to PNG)",
             "a TIFF image, which is not read (convert it to PNG)"], r' "$ws/prepare/stats.json"
# two links that lead into each other's folders end, each at its first repeat
cp -r shapes/set cycle
ln -s ../square cycle/circle/sq
ln -s ../circle cycle/square/ci
folder_ini cy.ini "$tmp/cycle"
n_ws=$((n_ws + 1)); ws=$tmp/ws$n_ws
run timeout 60 "$P" stage prepare --workspace "$ws" --config cy.ini --log-format human
expect_rc "links in a cycle" 0
expect_in "the cycle is cut where it repeats" err.txt "ignoring '$tmp/cycle/circle/sq/ci': a link to a folder above it"
check "each image once per way in: 32 samples" test "$(stat_of samples)" = 32
# a hidden table is part of the data identity: a changed label reruns prepare
mkdir hidden && cp shapes/set/circle/circle0.png shapes/set/square/square0.png hidden/
printf 'file,label\ncircle0.png,circle\nsquare0.png,square\n' >hidden/.t.csv
printf '[dataset]\nsource = %s/hidden\ntable = .t.csv\n[prepare]\nsize = 16\nval_fraction = 0\ntest_fraction = 0\n' "$tmp" >hid.ini
prep hid.ini
expect_rc "a hidden table" 0
sed -i 's/,circle$/,round/' hidden/.t.csv
run "$P" stage prepare --workspace "$ws" --config hid.ini --log-format human
expect_in "a hidden table's change is seen" err.txt "prepare: running (input data changed)"
check "and its labels read" grep -q -x round "$ws/prepare/labels.txt"
folder_ini m.ini "$tmp/does-not-exist"
prep m.ini
expect_rc "missing source" 2
expect_in "missing source named" err.txt "does-not-exist"
table_ini te.ini escape.csv
prep te.ini
check "path outside the data: refused" test "$rc" -ne 0
expect_in "path outside the data: named" err.txt "../x.png"
table_ini ta.ini missing.csv
prep ta.ini
check "absent file: refused" test "$rc" -ne 0
expect_in "absent file: named" err.txt "img/absent.png"
table_ini tg.ini nogroup.csv
prep tg.ini
check "missing group column: refused" test "$rc" -ne 0
expect_in "missing group column: named" err.txt "'well'"
sed "s/^label_column = label/label_column = class/" t.ini >tl.ini
prep tl.ini
check "missing label column: refused" test "$rc" -ne 0
expect_in "missing label column: named" err.txt "'class'"
sed "s/^channels = file/channels = path/" t.ini >tc.ini
prep tc.ini
check "missing channel column: refused" test "$rc" -ne 0
expect_in "missing channel column: named" err.txt "'path'"
table_ini ts.ini spaced.csv
sed -i "s/^channels = file/channels = image file ,/" ts.ini
prep ts.ini
expect_rc "a channel column named with a space" 0
check "it reads the same 60 samples" test "$(stat_of samples)" = 60
table_ini teg.ini emptygroup.csv
prep teg.ini
check "empty group cell: refused" test "$rc" -ne 0
expect_in "empty group cell: line named" err.txt "emptygroup.csv' line 62: empty well (the group column)"
table_ini tnl.ini newline.csv
prep tnl.ini
expect_rc "a label with a line break" 0
check "labels.txt has one line per class" test "$(cat "$ws/prepare/labels.txt")" = 'high\x0adose
low'
table_ini tu.ini meta/up.csv
prep tu.ini
expect_rc "a table in a sub-folder reaching its images with ../" 0
check "it reads the 60 samples" test "$(stat_of samples)" = 60
table_ini to.ini meta/out.csv
prep to.ini
check "../ out of the data: refused" test "$rc" -ne 0
expect_in "../ out of the data: named" err.txt "'../../img/"
table_ini td.ini dups.csv
prep td.ini --log-format human
expect_rc "a table naming files twice" 0
expect_in "rows naming a file again: warned" err.txt "dups.csv' names 2 file(s) again in another row (e.g. 'img/w01_0.png')"
table_ini tn.ini nosuch.csv
prep tn.ini
check "missing table: refused" test "$rc" -ne 0
expect_in "missing table: named" err.txt "nosuch.csv"
folder_ini o.ini "$tmp/oneclass"
prep o.ini
check "one class: refused" test "$rc" -ne 0
expect_in "one class: says so" err.txt "only one class ('circle')"
folder_ini h.ini "$tmp/hostile.tar.gz"
prep h.ini
check "hostile archive: refused" test "$rc" -ne 0
expect_in "hostile archive: names the entry" err.txt "../escape.txt"
check "hostile archive: nothing escaped" test ! -e "$tmp/escape.txt" -a ! -e "$ws/escape.txt" -a ! -e "$ws/.tmp/escape.txt"
printf 'not an archive\n' >plain.txt
folder_ini pl.ini "$tmp/plain.txt"
prep pl.ini
check "not an archive: refused" test "$rc" -ne 0
expect_in "not an archive: named" err.txt "plain.txt"

# ---- file:// with a checksum ----
sum=$(sha256sum shapes.tar.gz | cut -c1-64)
bad=0000000000000000000000000000000000000000000000000000000000000000
folder_ini u.ini "file://$tmp/shapes.tar.gz" "sha256 = $sum"
prep u.ini
expect_rc "file:// with the right sha256" 0
check "file://: 16 samples" test "$(stat_of samples)" = 16
url_ws=$ws
dl=$(ls "$url_ws"/downloads/* 2>/dev/null | grep -v '\.done$' | head -n 1)
check "file://: downloaded" test -s "$dl"
t0=$(stat -c %y "$dl" 2>/dev/null)
run "$P" stage prepare --workspace "$url_ws" --config u.ini --force
expect_rc "file:// rerun" 0
check "file:// rerun: no refetch" test "$(stat -c %y "$dl" 2>/dev/null)" = "$t0"
folder_ini ub.ini "file://$tmp/shapes.tar.gz" "sha256 = $bad"
prep ub.ini
expect_rc "file:// with a wrong sha256" 1
expect_in "wrong sha256: expected" err.txt "$bad"
expect_in "wrong sha256: got" err.txt "$sum"
check "wrong sha256: nothing kept" test ! -e "$ws/prepare/stage.json"
folder_ini lb.ini "$tmp/shapes.tar.gz" "sha256 = $bad"
prep lb.ini
expect_rc "local archive with a wrong sha256" 1
expect_in "local wrong sha256: both hashes" err.txt "$sum"

# ---- http:// from a local server ----
mkdir srv
cp shapes.tar.gz srv/
"$py" "$root/tests/http_server.py" "$tmp/srv" "$tmp/srv.log" >port.txt 2>srv.err &
srv=$!
i=0
while [ $i -lt 100 ]; do
	[ -s port.txt ] && break
	sleep 0.1
	i=$((i + 1))
done
port=$(head -n 1 port.txt)
check "http server started" test -n "$port"
url=http://127.0.0.1:$port/shapes.tar.gz
folder_ini h1.ini "$url" "sha256 = $sum"
prep h1.ini
expect_rc "http source" 0
check "http: 16 samples" test "$(stat_of samples)" = 16
n1=$(grep -c 'shapes.tar.gz' srv.log 2>/dev/null)
run "$P" stage prepare --workspace "$ws" --config h1.ini --force
expect_rc "http rerun" 0
n2=$(grep -c 'shapes.tar.gz' srv.log 2>/dev/null)
check "http rerun: no refetch ($n1 then $n2 requests)" test "$n1" = "$n2" -a "$n1" -ge 1
# A cached download damaged after the fact (it no longer has the sha256):
# it does not extract, so it is dropped and downloaded again, once.
cached=$(ls "$ws"/downloads/*shapes.tar.gz)
head -c 300 "$cached" >cut.bin && cp cut.bin "$cached"
run "$P" stage prepare --workspace "$ws" --config h1.ini
expect_rc "damaged cached download: downloaded again" 0
expect_in "damaged cached download: named" err.txt "$cached"
expect_in "damaged cached download: said" err.txt "downloading it again"
check "downloaded again" test "$(grep -c 'shapes.tar.gz' srv.log)" = $((n2 + 1))
folder_ini h4.ini "http://127.0.0.1:$port/404"
prep h4.ini
check "http 404: fails" test "$rc" -ne 0 -a "$rc" -ne 75
expect_in "http 404: names the URL" err.txt "http://127.0.0.1:$port/404"
expect_in "http 404: names the status" err.txt "404"
kill "$srv" 2>/dev/null
wait "$srv" 2>/dev/null
# A server that is down: a free port nobody listens on.
down=$("$py" -c "import socket; s=socket.socket(); s.bind(('127.0.0.1',0)); print(s.getsockname()[1])")
folder_ini hd.ini "http://127.0.0.1:$down/shapes.tar.gz"
prep hd.ini
expect_rc "server down: temporary failure" 75
expect_in "server down: names the URL" err.txt "127.0.0.1:$down"

finish
