#!/bin/sh
# [dataset] class_names: ImageNet-style class ids (folder names, or the ids
# in a table's label column) named from a synset_words.txt-like file, in
# labels.txt, dataset.json, the report, the package and predict's output;
# shared names, the file's data identity, and refused files.
root=${PL_ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}
. "$root/tests/cli/lib.sh"
py=/usr/bin/python3
P=$PIPELINE

"$py" - <<'EOF'
import os, random
from PIL import Image, ImageDraw
rnd = random.Random(5)
rows = ["file,label"]
for k, cls in enumerate(("n01440764", "n02012849", "n03126707")):
    os.makedirs("ids/" + cls)
    for i in range(10):
        im = Image.new("L", (24, 24), rnd.randint(0, 30))
        d = ImageDraw.Draw(im)
        r = 5 + 2 * k
        d.ellipse((12 - r, 12 - r, 12 + r, 12 + r), fill=200 + rnd.randint(0, 50))
        im.save("ids/%s/%d.png" % (cls, i))
        rows.append("%s/%d.png,%s" % (cls, i, cls))
os.makedirs("table")
os.rename("ids", "table/img")
os.makedirs("ids")
for cls in ("n01440764", "n02012849", "n03126707"):
    os.symlink("../table/img/" + cls, "ids/" + cls)
open("table/val.csv", "w").write("\n".join(["file,label"] + ["img/" + r for r in rows[1:]]) + "\n")
# synset_words.txt's form: id, a blank, the name; a CRLF line and a blank one
open("ids/synset_words.txt", "w", newline="").write(
    "n01440764 tench, Tinca tinca\n\nn02012849 crane\r\nn03126707 crane\nn09999999 unused\n")
EOF

cat >ids.ini <<EOF
[dataset]
source = $tmp/ids
class_names = synset_words.txt
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
[package]
name = ids
EOF
run "$P" run --workspace "$tmp/ws" --config ids.ini
expect_rc "pipeline with class_names" 0
printf 'tench, Tinca tinca\ncrane (n02012849)\ncrane (n03126707)\n' >want.txt
check "labels.txt: the names, in the ids' order, a shared name with its id" \
	cmp -s want.txt "$tmp/ws/prepare/labels.txt"
"$py" -c "import json,sys; print(sorted(json.load(open(sys.argv[1]))['tiles_per_class']))" \
	"$tmp/ws/prepare/stats.json" >perclass.txt 2>&1
expect_in "stats.json: per class by name" perclass.txt "['crane (n02012849)', 'crane (n03126707)', 'tench, Tinca tinca']"
expect_in "report: the names" "$tmp/ws/validate/report.md" "tench, Tinca tinca"
mkdir pkg
tar --zstd -xf "$tmp/ws/package/ids-1.0.0.tar.zst" -C pkg
check "package: labels.txt with the names" sh -c "cmp -s want.txt pkg/*/labels.txt || cmp -s want.txt pkg/labels.txt"
run "$P" predict --package "$tmp/ws/package/ids-1.0.0.tar.zst" ids/n01440764/0.png
expect_rc "predict with named classes" 0
expect_in "predict: scores by name" out.txt '"tench, Tinca tinca":'
expect_in "predict: a shared name with its id" out.txt '"crane (n03126707)":'

# another name in the file is other data: prepare runs again
sed -i 's/^n01440764 .*/n01440764 tinca/' ids/synset_words.txt
run "$P" stage prepare --workspace "$tmp/ws" --config ids.ini
expect_rc "prepare after the names changed" 0
check "renamed class in labels.txt" sh -c "head -n 1 '$tmp/ws/prepare/labels.txt' | grep -qx tinca"

# ---- a table whose label column holds ids; the file given by absolute path ----
cp ids/synset_words.txt "$tmp/names.txt"
cat >table.ini <<EOF
[dataset]
source = $tmp/table
table = val.csv
label_column = label
class_names = $tmp/names.txt
[prepare]
size = 16
EOF
run "$P" stage prepare --workspace "$tmp/wt" --config table.ini
expect_rc "table with ids and an absolute class_names" 0
printf 'tinca\ncrane (n02012849)\ncrane (n03126707)\n' >want2.txt
check "table: labels.txt named" cmp -s want2.txt "$tmp/wt/prepare/labels.txt"
run "$P" stage prepare --workspace "$tmp/wt" --config table.ini
expect_in "table: cached while the file is unchanged" err.txt "cached"
sed -i 's/^n02012849 .*/n02012849 common crane/' "$tmp/names.txt"
run "$P" stage prepare --workspace "$tmp/wt" --config table.ini
expect_rc "table: prepare after the outside file changed" 0
check "the outside file is part of the data identity" sh -c "sed -n 2p '$tmp/wt/prepare/labels.txt' | grep -qx 'common crane'"

# ---- refused files ----
printf 'n01440764 tench\nn02012849 crane\n' >"$tmp/short.txt"
run "$P" stage prepare --workspace "$tmp/we1" --config table.ini --set dataset.class_names="$tmp/short.txt"
check "an id without a name: fails" test "$rc" -ne 0
expect_in "an id without a name: names the class" err.txt "'$tmp/short.txt' has no name for the class 'n03126707'"
printf 'n01440764 tench\nn02012849\nn03126707 crane\n' >"$tmp/noname.txt"
run "$P" stage prepare --workspace "$tmp/we2" --config table.ini --set dataset.class_names="$tmp/noname.txt"
check "a line without a name: fails" test "$rc" -ne 0
expect_in "a line without a name: file and line" err.txt "$tmp/noname.txt:2: no name after the id 'n02012849'"
printf 'n01440764 tench\nn02012849 crane\nn03126707 crane\nn01440764 again\n' >"$tmp/twice.txt"
run "$P" stage prepare --workspace "$tmp/we3" --config table.ini --set dataset.class_names="$tmp/twice.txt"
expect_in "an id twice: refused" err.txt "names the id 'n01440764' twice"
run "$P" stage prepare --workspace "$tmp/we4" --config ids.ini --set dataset.class_names=missing.txt
check "a missing file: fails" test "$rc" -ne 0
expect_in "a missing file: the key and the path" err.txt "[dataset] class_names: "
expect_in "a missing file: the path" err.txt "ids/missing.txt"

finish
