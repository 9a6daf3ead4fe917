#!/bin/sh
# pipeline predict: JSON and CSV output, channel files, one image holding a
# sample's channels on stdin or as a file (RGB with the stains in G and B,
# gray+alpha, RGBA for four channels), directories for a folder-per-class
# model (batched, a corrupt image reported while the rest are predicted),
# agreement with validate's per-well numbers on the test split, and errors.
root=${PL_ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}
. "$root/tests/cli/lib.sh"
py=/usr/bin/python3
P=$PIPELINE
ws=$tmp/ws

small_plate_ini small.ini
cat >>small.ini <<'EOF'
[train]
epochs = 3
batch = 32
optimizer = adam
lr = 0.01
threads = 1
[validate]
min_value = 0.6
[package]
name = plate
EOF
run "$P" run --workspace "$ws" --config small.ini
expect_rc "plate pipeline" 0
pkg=$ws/package/plate-1.0.0.tar.zst
check "plate package" test -s "$pkg"

# The plate's original files, and the wells of the test split read from the
# test shards (io/rec.h layout: a zstd frame per record, indexed footer).
"$py" -c "import sys,tarfile,glob; tarfile.open(glob.glob(sys.argv[1]+'/downloads/synth-*.tar.gz')[0]).extractall('.')" "$ws"
check "plate extracted" test -s plate/metadata.csv
cat >shards.py <<'EOF'
import ctypes, glob, struct, sys
z = ctypes.CDLL("libzstd.so.1")
z.ZSTD_getFrameContentSize.restype = ctypes.c_ulonglong
z.ZSTD_getFrameContentSize.argtypes = [ctypes.c_char_p, ctypes.c_size_t]
z.ZSTD_decompress.restype = ctypes.c_size_t
z.ZSTD_decompress.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_char_p, ctypes.c_size_t]
z.ZSTD_isError.argtypes = [ctypes.c_size_t]

def frame(data):
    n = z.ZSTD_getFrameContentSize(data, len(data))
    if n >= (1 << 63):
        raise ValueError("record frame without a content size")
    out = ctypes.create_string_buffer(max(n, 1))
    got = z.ZSTD_decompress(out, n, data, len(data))
    if z.ZSTD_isError(got) or got != n:
        raise ValueError("corrupt record frame")
    return out.raw[:n]

def records(path):
    blob = open(path, "rb").read()
    assert blob[-8:] == b"PLRECEND", path
    count, foff = struct.unpack("<QQ", blob[-32:-16])
    base = foff + 8
    for i in range(count):
        off, csize, _ = struct.unpack("<QII", blob[base + 16 * i:base + 16 * i + 16])
        rec = frame(blob[off:off + csize])
        label, group, nlen, _ = struct.unpack("<iiII", rec[:16])
        yield label, group, rec[len(rec) - 4 - nlen:len(rec) - 4].decode()

if __name__ == "__main__":
    # shards.py PREPARE_DIR SPLIT: "group label name" per distinct group
    seen = {}
    groups = open(sys.argv[1] + "/groups.txt").read().split()
    labels = open(sys.argv[1] + "/labels.txt").read().split()
    for f in sorted(glob.glob("%s/%s-*.rec.zst" % (sys.argv[1], sys.argv[2]))):
        for label, group, name in records(f):
            seen.setdefault(groups[group], (labels[label], name.split("#")[0]))
    for g in sorted(seen):
        print(g, *seen[g])
EOF
"$py" shards.py "$ws/prepare" test >testwells.txt 2>&1
check "test wells read from the shards" test "$(wc -l <testwells.txt)" -ge 4

# ---- predict on the test wells agrees with validate at group level ----
set --
while read -r well label name; do
	set -- "$@" --channels "plate/images/${well}_nuclei.bmp,plate/images/${well}_nfkb.bmp"
done <testwells.txt
run "$P" predict --package "$pkg" "$@"
expect_rc "predict the test wells" 0
cp out.txt wells.jsonl
cat >agree.py <<'EOF'
import json, math, sys
from sklearn.metrics import roc_auc_score
m = json.load(open(sys.argv[1]))
g = m["group"]
classes = m["classes"]
truth = {}
for line in open(sys.argv[2]):
    well, label, name = line.split()
    truth["plate/images/%s_nuclei.bmp" % well] = label
rows = [json.loads(l) for l in open(sys.argv[3])]
print("rows", len(rows) == len(truth) == g["n"])
print("files", sorted(r["file"] for r in rows) == sorted(truth))
print("sums", all(abs(sum(r["scores"].values()) - 1) < 1e-5 for r in rows))
print("argmax", all(r["label"] == max(r["scores"], key=r["scores"].get) for r in rows))
acc = sum(r["label"] == truth[r["file"]] for r in rows) / len(rows)
print("accuracy", abs(acc - g["accuracy"]) < 1e-9, acc, g["accuracy"])
conf = [[sum(1 for r in rows if truth[r["file"]] == a and r["label"] == b) for b in classes]
        for a in classes]
print("confusion", conf == g["confusion"], conf, g["confusion"])
ll = -sum(math.log(max(r["scores"][truth[r["file"]]], 1e-15)) for r in rows) / len(rows)
print("logloss", abs(ll - g["log_loss"]) < 1e-4, ll, g["log_loss"])
pos = g["roc"][0]["class"]
auc = roc_auc_score([truth[r["file"]] == pos for r in rows], [r["scores"][pos] for r in rows])
print("auc", abs(auc - g["auc"]) < 1e-4, auc, g["auc"])
# Every ROC threshold below 1 is one well's score for the positive class.
scores = [r["scores"][pos] for r in rows]
print("thresholds", all(any(abs(t - s) < 1e-4 for s in scores)
                        for t in g["roc"][0]["thresholds"] if t <= 1))
# Well by well: the same call and the same probability of the true class.
byname = {"plate/images/%s_nuclei.bmp" % it["name"]: it for it in g["items"]}
print("perwell", len(byname) == len(rows) and all(
    r["label"] == byname[r["file"]]["predicted"] and
    abs(r["scores"][byname[r["file"]]["true"]] - byname[r["file"]]["p_true"]) < 1e-4
    for r in rows))
EOF
"$py" agree.py "$ws/validate/metrics.json" testwells.txt wells.jsonl >agree.txt 2>&1
for k in rows files sums argmax accuracy confusion logloss auc thresholds perwell; do
	expect_in "predict = validate per well: $k" agree.txt "$k True"
done

# ---- CSV ----
w1=$(head -n 1 testwells.txt | cut -d' ' -f1)
run "$P" predict --package "$pkg" --format csv --channels "plate/images/${w1}_nuclei.bmp,plate/images/${w1}_nfkb.bmp"
expect_rc "csv" 0
check "csv header" test "$(head -n 1 out.txt)" = "file,label,high,low"
check "csv one row" test "$(wc -l <out.txt)" -eq 2
"$py" - wells.jsonl out.txt "plate/images/${w1}_nuclei.bmp" >csv.txt 2>&1 <<'EOF'
import csv, json, sys
j = {r["file"]: r for r in map(json.loads, open(sys.argv[1]))}[sys.argv[3]]
row = list(csv.DictReader(open(sys.argv[2])))[0]
print("same", row["file"] == j["file"] and row["label"] == j["label"] and
      all(abs(float(row[c]) - j["scores"][c]) < 1e-6 for c in j["scores"]))
EOF
expect_in "csv row = json line" csv.txt "same True"

# ---- stdin: an RGB PNG of one 32x32 crop, the stains in G and B ----
"$py" - "plate/images/${w1}_nuclei.bmp" "plate/images/${w1}_nfkb.bmp" <<'EOF'
import sys
import numpy as np
from PIL import Image
a = Image.open(sys.argv[1]).convert("L").resize((128, 128), Image.BOX)
b = Image.open(sys.argv[2]).convert("L").resize((128, 128), Image.BOX)
box = (32, 64, 64, 96)
ca, cb = a.crop(box), b.crop(box)
rgb = np.zeros((32, 32, 3), np.uint8)
rgb[..., 1] = np.asarray(ca)
rgb[..., 2] = np.asarray(cb)
Image.fromarray(rgb, "RGB").save("crop_rgb.png")
ca.save("crop_a.png")
cb.save("crop_b.png")
Image.fromarray(np.asarray(ca)).save("crop_gray.png")
EOF
mkdir odd && cp crop_rgb.png 'odd/q"uo,te.png'
run "$P" predict --package "$pkg" --format csv odd
expect_rc "csv of a file whose name holds a quote and a comma" 0
check "that name is one CSV field, quote doubled" "$py" -c '
import csv, sys
rows = list(csv.reader(open(sys.argv[1])))
assert len(rows) == 2 and len(rows[1]) == 4 and rows[1][0].endswith("q\"uo,te.png"), rows' out.txt
run "$P" predict --package "$pkg" <crop_rgb.png
expect_rc "stdin RGB crop" 0
cp out.txt stdin.json
"$py" -c "
import json,sys
rows=[json.loads(l) for l in open('stdin.json')]
r=rows[0]
print('one', len(rows)==1, r['file']=='stdin', r['label'] in ('high','low'), abs(sum(r['scores'].values())-1)<1e-5)
" >stdin.txt 2>&1
expect_in "stdin: one JSON object" stdin.txt "one True True True True"
run "$P" predict --package "$pkg" --channels crop_a.png,crop_b.png
expect_rc "the same crop as two channel files" 0
"$py" -c "
import json
a=json.loads(open('stdin.json').read()); b=json.loads(open('out.txt').read())
print('same', a['label']==b['label'] and all(abs(a['scores'][k]-b['scores'][k])<1e-5 for k in a['scores']))
" >same.txt 2>&1
expect_in "stdin G,B = the channel files" same.txt "same True"
PIPELINE_PACKAGE=$pkg run "$P" predict <crop_rgb.png
expect_rc "PIPELINE_PACKAGE" 0
check "PIPELINE_PACKAGE gives the same answer" cmp -s out.txt stdin.json

# ---- one image holding both channels: gray+alpha (nuclei, NF-kB) = the two BMPs ----
w2=$(sed -n 2p testwells.txt | cut -d' ' -f1)
"$py" - "plate/images/${w2}_nuclei.bmp" "plate/images/${w2}_nfkb.bmp" <<'EOF'
import sys
import numpy as np
from PIL import Image
a = np.asarray(Image.open(sys.argv[1]).convert("L"))
b = np.asarray(Image.open(sys.argv[2]).convert("L"))
z = np.zeros_like(a)
Image.fromarray(np.stack([a, b], -1), "LA").save("well_la.png")
Image.fromarray(np.stack([z, a, b], -1), "RGB").save("well_rgb.png")
EOF
run "$P" predict --package "$pkg" --channels "plate/images/${w2}_nuclei.bmp,plate/images/${w2}_nfkb.bmp"
expect_rc "the well as two BMPs" 0
cp out.txt well_bmps.json
run "$P" predict --package "$pkg" <well_la.png
expect_rc "stdin gray+alpha well" 0
cp out.txt well_la.json
run "$P" predict --package "$pkg" well_la.png well_rgb.png
expect_rc "gray+alpha and RGB well files" 0
cp out.txt well_files.json
cat >samescores.py <<'EOF'
import json, sys
# samescores.py REF ROWS...: "same N True" when all N rows have REF's label and scores
ref = json.loads(open(sys.argv[1]).read())
rows = [json.loads(l) for f in sys.argv[2:] for l in open(f)]
print("same", len(rows), all(r["label"] == ref["label"] and r["scores"].keys() == ref["scores"].keys()
                             and all(abs(r["scores"][k] - ref["scores"][k]) < 1e-6 for k in ref["scores"])
                             for r in rows))
EOF
"$py" samescores.py well_bmps.json well_la.json well_files.json >la.txt 2>&1
expect_in "gray+alpha on stdin and as a file, RGB file = the two BMPs" la.txt "same 3 True"
expect_in "stdin gray+alpha is named stdin" well_la.json '"file":"stdin"'

# ---- errors ----
run "$P" predict --package "$tmp/nope.tar.zst" --channels crop_a.png,crop_b.png
check "missing package: fails" test "$rc" -ne 0
expect_in "missing package: named" err.txt "nope.tar.zst"
run "$P" predict --channels crop_a.png,crop_b.png
expect_rc "no package" 2
expect_in "no package: says how" err.txt "--package"
run "$P" predict --package "$pkg" <crop_gray.png
expect_rc "gray image for a two-channel model" 2
expect_in "wrong channel count: says both" err.txt "has 1 channel(s), the model takes 2"
run "$P" predict --package "$pkg" </dev/null
expect_rc "empty stdin" 2
expect_in "empty stdin: says so" err.txt "no image on stdin"
printf 'this is not an image\n' >notimage.png
run "$P" predict --package "$pkg" <notimage.png
check "not an image on stdin: fails" test "$rc" -ne 0
check "not an image on stdin: no output" test ! -s out.txt
run "$P" predict --package "$pkg" --channels notimage.png,crop_b.png
check "not an image file: fails" test "$rc" -ne 0
expect_in "not an image file: named" err.txt "notimage.png"
run "$P" predict --package "$pkg" crop_a.png
expect_rc "one file for a two-channel model" 2
expect_in "one file: suggests --channels" err.txt "--channels"
run "$P" predict --package "$pkg" --channels crop_a.png
expect_rc "--channels with one file for a two-channel model" 2
expect_in "--channels with one file: counts both" err.txt "the model takes 2 channel file(s) per sample, --channels names 1"
run "$P" predict --package "$pkg" --channels crop_a.png,missing.png
check "missing channel file: fails" test "$rc" -ne 0
expect_in "missing channel file: named" err.txt "missing.png"
run "$P" predict --package "$pkg" --format xml crop_a.png
expect_rc "bad format" 2
expect_in "bad format: says which are known" err.txt "--format must be json or csv, not 'xml'"
run "$P" predict -zp "$pkg"
expect_rc "an unknown short option in a group" 2
expect_in "it is the one named" err.txt "unknown option '-z'"
run "$P" predict --package
expect_rc "--package without its value" 2
expect_in "--package without its value: said" err.txt "option '--package' needs a value"
printf 'root:x:0:0:root:/root:/bin/sh\ndaemon:x:1:1::/:/bin/false\n' >passwd.txt
run "$P" predict --package passwd.txt crop_a.png
check "a text file as the package: fails" test "$rc" -ne 0
expect_in "a text file as the package: not an archive" err.txt "'passwd.txt' is not a readable archive"

# ---- a folder-per-class model: bright squares vs circles ----
"$py" - <<'EOF'
import os, random
from PIL import Image, ImageDraw
rnd = random.Random(7)
for cls in ("circle", "square"):
    for split in ("data", "new"):
        n = 40 if split == "data" else 4
        d = os.path.join(split, "shapes", cls) if split == "data" else os.path.join(split, cls)
        os.makedirs(d, exist_ok=True)
        for i in range(n):
            im = Image.new("L", (32, 32), rnd.randint(0, 30))
            dr = ImageDraw.Draw(im)
            r = rnd.randint(7, 11)
            x, y = rnd.randint(r + 1, 31 - r), rnd.randint(r + 1, 31 - r)
            box = (x - r, y - r, x + r, y + r)
            (dr.ellipse if cls == "circle" else dr.rectangle)(box, fill=rnd.randint(200, 255))
            im.save(os.path.join(d, "%s%02d.png" % (cls, i)))
EOF
cat >shapes.ini <<EOF
[dataset]
source = $tmp/data
[prepare]
size = 32
[model]
layers = conv 8 3 pad 1, relu, maxpool 2, conv 16 3 pad 1, relu, maxpool 2, dense 32, relu, dense
[train]
epochs = 8
batch = 16
optimizer = adam
lr = 0.003
threads = 1
[validate]
min_metric = accuracy
min_value = 0.5
[package]
name = shapes
EOF
run "$P" run --workspace "$tmp/ws2" --config shapes.ini
expect_rc "folder-per-class pipeline" 0
spkg=$tmp/ws2/package/shapes-1.0.0.tar.zst
check "folder-per-class package" test -s "$spkg"
check "classes from the folders" sh -c "[ \"\$(sort '$tmp/ws2/prepare/labels.txt' | tr '\n' ' ')\" = 'circle square ' ]"
ln -s .. new/circle/up   # a link back up: not followed
run "$P" predict --package "$spkg" new
expect_rc "predict a directory" 0
"$py" - out.txt >dir.txt 2>&1 <<'EOF'
import json, os, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
files = sorted(r["file"] for r in rows)
want = sorted(os.path.join("new", c, f) for c in ("circle", "square")
              for f in os.listdir(os.path.join("new", c)) if f != "up")
print("files", files == want)
print("sums", all(abs(sum(r["scores"].values()) - 1) < 1e-5 and
                  set(r["scores"]) == {"circle", "square"} for r in rows))
right = sum(r["label"] == r["file"].split("/")[1] for r in rows)
print("right", right >= 6, right)
EOF
expect_in "directory: every image once" dir.txt "files True"
rm new/circle/up
expect_in "directory: scores" dir.txt "sums True"
expect_in "directory: mostly right" dir.txt "right True"
# batches: a directory of 40 images (two batches) in one call = each image alone
run "$P" predict --package "$spkg" data/shapes/circle
expect_rc "predict 40 images" 0
cp out.txt batch.jsonl
: >single.jsonl
for f in data/shapes/circle/*.png; do "$P" predict --package "$spkg" "$f" >>single.jsonl; done
check "batched = one image at a time" cmp -s batch.jsonl single.jsonl
check "batched: 40 lines" test "$(wc -l <batch.jsonl)" -eq 40
# a corrupt image amid good ones: reported by name, the rest still predicted, exit 1
mkdir mixed
cp new/circle/*.png new/square/*.png mixed/
head -c 60 mixed/circle01.png >mixed/circle01x.png
run "$P" predict --package "$spkg" mixed
expect_rc "directory with a corrupt image" 1
expect_in "corrupt image named" err.txt "'mixed/circle01x.png'"
check "one error line" test "$(grep -c 'error' err.txt)" -eq 1
"$P" predict --package "$spkg" new/circle new/square | sed 's#"new/[a-z]*/#"mixed/#' >good.jsonl
check "corrupt image: the good ones as without it" cmp -s out.txt good.jsonl
check "corrupt image: 8 results" test "$(wc -l <out.txt)" -eq 8
run "$P" predict --package "$spkg" --format csv mixed
expect_rc "csv with a corrupt image" 1
check "csv: header and 8 rows" test "$(wc -l <out.txt)" -eq 9
run "$P" predict --package "$spkg" <new/circle/circle00.png
expect_rc "one-channel model on stdin" 0
expect_in "one-channel stdin" out.txt '"file":"stdin"'
run "$P" predict --package "$spkg" --channels new/circle/circle00.png,new/circle/circle01.png
expect_rc "two files for a one-file model" 2

# ---- a four-channel model: one RGBA image = its four channel files ----
"$py" - <<'EOF'
import os, random
import numpy as np
from PIL import Image
rnd = random.Random(3)
os.makedirs("data4/img", exist_ok=True)
rows = ["a,b,c,d,label"]
for i in range(24):
    names = []
    for ch in "abcd":
        v = 40 + 150 * (i % 2) if ch == "c" else rnd.randint(0, 255)
        px = np.clip(np.random.RandomState(i * 4 + ord(ch)).normal(v, 20, (16, 16)), 0, 255)
        Image.fromarray(px.astype(np.uint8)).save("data4/img/%02d%s.png" % (i, ch))
        names.append("img/%02d%s.png" % (i, ch))
    rows.append(",".join(names) + "," + "xy"[i % 2])
open("data4/t.csv", "w").write("\n".join(rows) + "\n")
planes = [np.asarray(Image.open("data4/img/05%s.png" % ch)) for ch in "abcd"]
Image.fromarray(np.stack(planes, -1), "RGBA").save("s05_rgba.png")
Image.fromarray(np.stack(planes[:3], -1), "RGB").save("s05_rgb.png")
EOF
run "$P" run --workspace "$tmp/ws4" --config shapes.ini --set dataset.source="$tmp/data4" \
	--set dataset.table=t.csv --set dataset.channels=a,b,c,d --set train.epochs=1 \
	--set validate.min_value=0 --set package.name=four
expect_rc "four-channel pipeline" 0
fpkg=$tmp/ws4/package/four-1.0.0.tar.zst
run "$P" predict --package "$fpkg" --channels data4/img/05a.png,data4/img/05b.png,data4/img/05c.png,data4/img/05d.png
expect_rc "four channel files" 0
cp out.txt four_files.json
run "$P" predict --package "$fpkg" <s05_rgba.png
expect_rc "stdin RGBA for four channels" 0
cp out.txt four_rgba.json
"$py" samescores.py four_files.json four_rgba.json >four.txt 2>&1
expect_in "stdin RGBA = the four channel files" four.txt "same 1 True"
run "$P" predict --package "$fpkg" <s05_rgb.png
expect_rc "RGB for four channels" 2
expect_in "RGB for four channels: says both counts" err.txt "has 3 channel(s), the model takes 4"


# ---- JPEGs: prepare decodes them at 1/4 scale (DCT scaling); predict the same ----
"$py" - <<'EOF'
import os, random
from PIL import Image, ImageDraw
rnd = random.Random(11)
for cls in ("disc", "bar"):
    os.makedirs("jdata/" + cls, exist_ok=True)
    for i in range(24):
        im = Image.new("RGB", (160, 120), tuple(rnd.randint(0, 60) for _ in range(3)))
        dr = ImageDraw.Draw(im)
        x, y = rnd.randint(30, 130), rnd.randint(30, 90)
        fill = tuple(rnd.randint(120, 255) for _ in range(3))
        if cls == "disc":
            dr.ellipse((x - 25, y - 25, x + 25, y + 25), fill=fill)
        else:
            dr.rectangle((x - 30, y - 8, x + 30, y + 8), fill=fill)
        im.save("jdata/%s/%s%02d.jpg" % (cls, cls, i), quality=rnd.randint(60, 95))
EOF
run "$P" run --workspace "$tmp/wsj" --config shapes.ini --set dataset.source="$tmp/jdata" \
	--set prepare.size=20 --set train.epochs=2 --set validate.min_value=0 --set package.name=jpeg
expect_rc "jpeg pipeline" 0
jpkg=$tmp/wsj/package/jpeg-1.0.0.tar.zst
"$py" -c "import json,sys; [print(it['name']) for it in json.load(open(sys.argv[1]))['group']['items']]" \
	"$tmp/wsj/validate/metrics.json" >jtest.txt
check "jpeg test split listed" test "$(wc -l <jtest.txt)" -ge 4
run "$P" predict --package "$jpkg" $(sed 's#^#jdata/#' jtest.txt)
expect_rc "predict the jpeg test split" 0
cp out.txt jpeg.jsonl
"$py" - "$tmp/wsj/validate/metrics.json" jpeg.jsonl >jagree.txt 2>&1 <<'EOF'
import json, sys
items = {"jdata/" + it["name"]: it for it in json.load(open(sys.argv[1]))["group"]["items"]}
rows = [json.loads(l) for l in open(sys.argv[2])]
worst = max(abs(r["scores"][items[r["file"]]["true"]] - items[r["file"]]["p_true"]) for r in rows)
print("jpeg", len(rows) == len(items) and all(r["label"] == items[r["file"]]["predicted"]
                                               for r in rows) and worst < 1e-4, worst)
EOF
expect_in "predict on JPEGs = validate on what prepare stored" jagree.txt "jpeg True"
first=$(head -n 1 jtest.txt)
run "$P" predict --package "$jpkg" <"jdata/$first"
expect_rc "jpeg on stdin" 0
sed "s#\"stdin\"#\"jdata/$first\"#" out.txt >jstdin.json
check "jpeg on stdin = the same file" sh -c "head -n 1 jpeg.jsonl | cmp -s - jstdin.json"

finish
