#!/bin/sh
# Streaming prepare: a source as tar, tar.gz, tar.zst and zip gives the same
# shards and labels as the same files in a directory, with no extracted copy
# (the workspace's size sampled during the run never passes the outputs');
# the archive's index is kept and checked; a table inside an archive; a tar
# of per-class tars (ImageNet's train layout, inner tar, tar.gz, tar.zst and
# zip) prepares and trains; 4 shares at once write no copy and assemble to
# the bytes of one process; hostile inner archives are refused by name.
root=${PL_ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}
. "$root/tests/cli/lib.sh"
py=/usr/bin/python3
P=$PIPELINE
unset PIPELINE_WORKSPACE PIPELINE_SET JOB_COMPLETION_INDEX

"$py" - <<'EOF'
import io, os, random, tarfile, zipfile
from PIL import Image
rnd = random.Random(11)
def noise(w, h):
    return Image.frombytes("RGB", (w, h), bytes(rnd.getrandbits(8) for _ in range(w * h * 3)))
# set/: 3 classes of noise images (PNG, JPEG) beside a README: ~10 MB
os.makedirs("src/set")
open("src/set/README.txt", "w").write("shapes\n")
for c in ("alpha", "beta", "gamma"):
    os.makedirs("src/set/" + c)
    for i in range(40):
        im = noise(rnd.randint(120, 200), rnd.randint(100, 160))
        im.save("src/set/%s/%03d.%s" % (c, i, "png" if i % 3 else "jpg"), quality=95)
# the zip, in the order os.walk gives
with zipfile.ZipFile("set.zip", "w") as z:
    for d, _, files in os.walk("src"):
        for f in files:
            z.write(os.path.join(d, f), os.path.relpath(os.path.join(d, f), "src"))
# the tar.gz with its members shuffled: read in more than one pass
names = [os.path.relpath(os.path.join(d, f), "src") for d, _, fs in os.walk("src") for f in fs]
rnd.shuffle(names)
with tarfile.open("set.tar.gz", "w:gz") as t:
    for n in names:
        t.add("src/" + n, arcname=n)
# a table inside an archive: tab/meta.csv naming img/*.png, with groups
os.makedirs("tabsrc/tab/img")
rows = ["file,label,well"]
for i in range(30):
    noise(32, 32).save("tabsrc/tab/img/%02d.png" % i)
    rows.append("img/%02d.png,%s,w%d" % (i, "xy"[i % 2], i // 3))
open("tabsrc/tab/meta.csv", "w").write("\n".join(rows) + "\n")
# ImageNet's train layout: one archive per class (10 classes) in an outer tar
os.makedirs("inet"); os.makedirs("inner")
for k in range(10):
    cls = "n%08d" % (1440764 + k)
    os.makedirs("inet/" + cls)
    for i in range(8):
        noise(rnd.randint(60, 90), rnd.randint(60, 90)).save("inet/%s/%s_%d.JPEG" % (cls, cls, i))
# hostile inner archives
def tar_bytes(members, mode="w"):
    b = io.BytesIO()
    with tarfile.open(fileobj=b, mode=mode) as t:
        for name, data in members:
            ti = tarfile.TarInfo(name); ti.size = len(data)
            t.addfile(ti, io.BytesIO(data))
    return b.getvalue()
png = io.BytesIO(); noise(8, 8).save(png, "PNG"); png = png.getvalue()
def outer(path, inners):
    with tarfile.open(path, "w") as t:
        for name, data in inners:
            ti = tarfile.TarInfo(name); ti.size = len(data)
            t.addfile(ti, io.BytesIO(data))
good = tar_bytes([("%d.png" % i, png) for i in range(10)])
outer("escape.tar", [("a.tar", good), ("b.tar", tar_bytes([("../../escape.png", png)]))])
outer("deep.tar", [("a.tar", good), ("b.tar", tar_bytes([("c.tar", good)]))])
outer("many.tar", [("%s.tar" % c, good) for c in "abc"])
outer("badjpeg.tar", [("a.tar", good), ("b.tar", tar_bytes([("1.png", png), ("2.JPEG", b"\xff\xd8\xff garbage")]))])
EOF
check "fixtures made" test -s badjpeg.tar
tar -C src --sort=name -cf set.tar . && tar -C src --sort=name --zstd -cf set.tar.zst .
tar -C tabsrc --sort=name -czf tab.tar.gz tab
(
	cd inet && for c in n*; do
		case $c in
		*0) "$py" -c "import shutil; shutil.make_archive('../inner/$c', 'zip', '$c')" ;;
		*1) tar -C "$c" --sort=name -czf "../inner/$c.tar.gz" . ;;
		*2) tar -C "$c" --sort=name --zstd -cf "../inner/$c.tar.zst" . ;;
		*) tar -C "$c" --sort=name -cf "../inner/$c.tar" . ;;
		esac
	done
)
tar -C inner --sort=name -cf inet.tar . && tar -C inner --sort=name -czf inet.tar.gz .
check "archives made" test -s inet.tar.gz -a -s set.tar.zst

cat >p.ini <<'EOF'
[dataset]
source = x
[prepare]
size = 24
shards = 2
threads = 2
[train]
epochs = 1
batch = 16
[validate]
min_value = 0
EOF

# sample_du WS PID: the workspace's largest size (KiB) while PID runs, polled
# every 20 ms for at most 120 s, into peak.txt.
sample_du() {
	peak=0 n=0
	while kill -0 "$2" 2>/dev/null && [ $n -lt 6000 ]; do
		k=$(du -sk "$1" 2>/dev/null | cut -f1)
		[ "${k:-0}" -gt "$peak" ] && peak=$k
		n=$((n + 1))
		sleep 0.02
	done
	echo "$peak" >peak.txt
}

# prep_sampled WS SRC [ARGS...]: prepare of SRC into WS with the workspace's
# size sampled; rc, err.txt, peak.txt.
prep_sampled() {
	ws=$1 src=$2; shift 2
	$P stage prepare --workspace "$ws" --config p.ini --set "dataset.source=$src" "$@" \
		>out.txt 2>err.txt &
	pid=$!
	sample_du "$ws" $pid
	wait $pid; rc=$?
}

# same_as DESC REF WS: the shards, dataset.json, labels and groups equal.
same_as() {
	if "$py" - "$2/prepare" "$3/prepare" >same.txt 2>&1 <<'EOF'
import filecmp, os, sys
a, b = sys.argv[1:3]
files = sorted(f for f in os.listdir(a) if f.endswith(".rec.zst"))
assert files and files == sorted(f for f in os.listdir(b) if f.endswith(".rec.zst")), os.listdir(b)
for f in files + ["dataset.json", "labels.txt", "groups.txt"]:
    assert filecmp.cmp(os.path.join(a, f), os.path.join(b, f), shallow=False), f
EOF
	then ok; else fail "$1: $(head -c 600 same.txt)"; fi
}

# no_copy DESC WS: the peak during the run is the finished workspace's size
# (its outputs, the index and the caches) and not the archive's.
no_copy() {
	final=$(du -sk "$2" | cut -f1)
	check "$1: no extracted copy (peak $(cat peak.txt) KiB, final $final KiB)" \
		test "$(cat peak.txt)" -le $((final + 64))
	check "$1: nothing under .tmp" test -z "$(find "$2/.tmp" -type f 2>/dev/null)"
}

# ---- one source, five forms ----
run $P stage prepare --workspace ref --config p.ini --set "dataset.source=$tmp/src"
expect_rc "directory source" 0
src_kib=$(du -sk src | cut -f1)
for a in set.tar set.tar.gz set.tar.zst set.zip; do
	prep_sampled "ws-$a" "$tmp/$a"
	expect_rc "$a: prepare" 0
	cp err.txt "err-$a.txt"
	same_as "$a: the same shards and labels as the directory" ref "ws-$a"
	no_copy "$a" "ws-$a"
	check "$a: the data ($src_kib KiB) is bigger than the outputs, so a copy would show" \
		test "$src_kib" -gt $(($(du -sk "ws-$a" | cut -f1) * 3))
done
expect_in "an uncompressed tar is read in place" err-set.tar.txt "in place (members at their offsets)"
expect_in "a zip is read as a stream" err-set.zip.txt "as a stream"

# the index: kept, used again, checked
check "the index is kept" test -n "$(ls ws-set.tar.gz/.cache/archives/*.idx 2>/dev/null)"
run $P stage prepare --workspace ws-set.tar.gz --config p.ini --set "dataset.source=$tmp/set.tar.gz" \
	--set prepare.size=16
expect_rc "again with another size" 0
check "the kept index is used (no listing)" test -z "$(grep 'listing the members' err.txt)"
for f in ws-set.tar.gz/.cache/archives/*.idx; do head -c 300 "$f" >"$f.cut" && mv "$f.cut" "$f"; done
run $P stage prepare --workspace ws-set.tar.gz --config p.ini --set "dataset.source=$tmp/set.tar.gz" \
	--set prepare.size=20
expect_rc "a cut index" 0
expect_in "a cut index is made again" err.txt "listing the members"
run $P stage prepare --workspace ws-set.tar.gz --config p.ini --set "dataset.source=$tmp/set.tar.gz" \
	--set prepare.size=20 --set dataset.max_archive_entries=50 --force
expect_rc "a kept index over a lower entry limit" 1
expect_in "the limit holds for a kept index" err.txt "more than 50 entries"

# a table inside a compressed archive (the CSV found by the first pass)
tab="--set dataset.table=meta.csv --set dataset.channels=file --set dataset.group_column=well"
run $P stage prepare --workspace tab-dir --config p.ini --set "dataset.source=$tmp/tabsrc" $tab
expect_rc "table: directory" 0
prep_sampled tab-arc "$tmp/tab.tar.gz" $tab
expect_rc "table: tar.gz" 0
same_as "table: tar.gz as the directory" tab-dir tab-arc
no_copy "table: tar.gz" tab-arc

# ---- ImageNet's layout: a tar of per-class archives ----
run $P stage prepare --workspace inet-dir --config p.ini --set "dataset.source=$tmp/inet"
expect_rc "per-class folders" 0
for a in inet.tar inet.tar.gz; do
	prep_sampled "ws-$a" "$tmp/$a"
	expect_rc "$a: prepare" 0
	same_as "$a: the classes are the inner archives' names" inet-dir "ws-$a"
	no_copy "$a" "ws-$a"
done
check "10 classes named by the inner archives" test "$(cat ws-inet.tar/prepare/labels.txt | tr '\n' ' ')" = \
	"n01440764 n01440765 n01440766 n01440767 n01440768 n01440769 n01440770 n01440771 n01440772 n01440773 "
run $P run --workspace ws-inet.tar --config p.ini --set "dataset.source=$tmp/inet.tar" --until train
expect_rc "a tar of tars trains" 0
check "a model is written" test -s ws-inet.tar/train/model.pnn

# ---- 4 shares at once: no copy, the bytes of one process ----
for a in set.tar.gz inet.tar; do
	ref=ref; [ "$a" = inet.tar ] && ref=inet-dir
	pids=''
	for i in 0 1 2 3; do
		$P stage prepare --shard $i/4 --workspace "four-$a" --config p.ini \
			--set "dataset.source=$tmp/$a" >/dev/null 2>"four-$i.log" &
		pids="$pids $!"
	done
	(	# the workspace's size until the last share ends
		peak=0 n=0
		while [ $n -lt 6000 ]; do
			alive=0
			for p in $pids; do kill -0 "$p" 2>/dev/null && alive=1; done
			[ $alive = 1 ] || break
			k=$(du -sk "four-$a" 2>/dev/null | cut -f1)
			[ "${k:-0}" -gt "$peak" ] && peak=$k
			n=$((n + 1))
			sleep 0.02
		done
		echo "$peak" >peak.txt
	) &
	sampler=$!
	codes=''
	for p in $pids; do wait "$p"; codes="$codes$?"; done
	wait $sampler
	check "$a: 4 shares at once exit 0 ($codes)" [ "$codes" = 0000 ]
	run $P stage prepare --workspace "four-$a" --config p.ini --set "dataset.source=$tmp/$a"
	expect_rc "$a: assembly" 0
	expect_in "$a: the assembly uses the 4 parts" err.txt "assembling 4 shard parts"
	same_as "$a: 4 shares equal one process" "$ref" "four-$a"
	no_copy "$a: 4 shares" "four-$a"
	check "$a: the index is listed once for the 4 shares" \
		test "$(cat four-0.log four-1.log four-2.log four-3.log | grep -c 'listing the members')" -eq 1
done
check "inet.tar shares: inner archives whole ($(grep -h -o 'samples [0-9]* to [0-9]* of [0-9]*' four-*.log | tr '\n' ' '))" test -z "$(grep -h -o 'samples [0-9]* to [0-9]* of [0-9]*' four-*.log | grep -v -E 'samples (0 to 24|24 to 40|40 to 64|64 to 80) of 80')"

# ---- hostile inner archives ----
run $P stage prepare --workspace h1 --config p.ini --set "dataset.source=$tmp/escape.tar"
expect_rc "an inner archive's entry escaping: refused" 1
expect_in "the escape is named with its inner archive" err.txt "b.tar:../../escape.png"
check "nothing escaped" test ! -e "$tmp/escape.png" -a ! -e h1/escape.png
run $P stage prepare --workspace h2 --config p.ini --set "dataset.source=$tmp/deep.tar"
expect_rc "an archive 3 deep: refused" 1
expect_in "the archive 3 deep is named" err.txt "'b.tar:c.tar' is an archive inside an inner archive"
run $P stage prepare --workspace h3 --config p.ini --set "dataset.source=$tmp/many.tar" \
	--set dataset.max_archive_entries=25
expect_rc "entries over the limit across levels: refused" 1
expect_in "the entry limit counts every level" err.txt "more than 25 entries"
run $P stage prepare --workspace h4 --config p.ini --set "dataset.source=$tmp/badjpeg.tar"
expect_rc "a corrupt image in an inner archive: refused" 1
expect_in "the image is named with its archives" err.txt "badjpeg.tar:b.tar:2.JPEG"
finish
