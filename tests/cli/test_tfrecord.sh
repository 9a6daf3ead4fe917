#!/bin/sh
# [prepare] format = tfrecord: the shards read back by an independent reader
# (Python over the TFRecord framing with its own masked CRC32C and over the
# protobuf wire format: every CRC, every key, the PNG against the source
# pixels), plain and gzip, u8 and f32; every stage runs on them; training on a tfrecord workspace gives the model of a rec workspace.
root=${PL_ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}
. "$root/tests/cli/lib.sh"
py=/usr/bin/python3
P=$PIPELINE

# ---- fixtures: 8x8 RGB images in a folder per class ----
"$py" - <<'EOF'
import os, random
from PIL import Image
rnd = random.Random(5)
for cls in ("cat", "dog"):
    os.makedirs("pics/" + cls)
    for i in range(12):
        im = Image.new("RGB", (8, 8))
        im.putdata([tuple(rnd.randrange(256) for _ in range(3)) for _ in range(64)])
        im.save("pics/%s/%02d.png" % (cls, i))
EOF
cat >pics.ini <<EOF
[dataset]
source = $tmp/pics
[prepare]
size = 8
format = tfrecord
EOF

# The independent reader: reader.py WORKSPACE BITS. Prints "ok N" after
# checking every record of every shard listed in dataset.json.
cat >reader.py <<'EOF'
import gzip, io, json, os, sys
from PIL import Image

def crc32c(data):
    crc = 0xFFFFFFFF
    for b in data:
        crc ^= b
        for _ in range(8):
            crc = (crc >> 1) ^ (0x82F63B78 if crc & 1 else 0)
    return crc ^ 0xFFFFFFFF

def masked(data):
    c = crc32c(data)
    return (((c >> 15) | (c << 17)) + 0xA282EAD8) & 0xFFFFFFFF

def varint(b, i):
    v = s = 0
    while True:
        x = b[i]; i += 1
        v |= (x & 0x7F) << s; s += 7
        if not x & 0x80:
            return v, i

def fields(b):
    """(field number, wire type, value) of a message: ints or bytes."""
    i, out = 0, []
    while i < len(b):
        key, i = varint(b, i)
        num, wt = key >> 3, key & 7
        if wt == 0:
            v, i = varint(b, i)
        elif wt == 2:
            n, i = varint(b, i); v = b[i:i + n]; i += n
        else:
            raise ValueError("wire type %d" % wt)
        out.append((num, wt, v))
    return out

def one(msg, num):
    got = [v for n, wt, v in fields(msg) if n == num and wt == 2]
    assert len(got) == 1, (num, got)
    return got[0]

def example(data):
    """tf.train.Example -> {key: ("bytes", b) or ("int64", v)}."""
    feats = {}
    for n, wt, entry in fields(one(data, 1)):        # Example.features
        assert n == 1 and wt == 2                     # Features.feature (map entry)
        key = one(entry, 1).decode(); feature = one(entry, 2)
        (kind, wt, lst), = fields(feature)
        if kind == 1:                                 # bytes_list
            feats[key] = ("bytes", one(lst, 1))
        elif kind == 3:                               # int64_list, packed
            packed = one(lst, 1); v, j = varint(packed, 0)
            assert j == len(packed), key
            feats[key] = ("int64", v - (1 << 64) if v >> 63 else v)
        else:
            raise ValueError("feature kind %d" % kind)
    return feats

def records(raw):
    i = 0
    while i < len(raw):
        head = raw[i:i + 8]; n = int.from_bytes(head, "little")
        assert int.from_bytes(raw[i + 8:i + 12], "little") == masked(head), "length crc"
        data = raw[i + 12:i + 12 + n]
        assert len(data) == n, "truncated"
        assert int.from_bytes(raw[i + 12 + n:i + 16 + n], "little") == masked(data), "data crc"
        yield data
        i += 16 + n

ws, bits = sys.argv[1], int(sys.argv[2])
info = json.load(open(os.path.join(ws, "prepare/dataset.json")))
labels = open(os.path.join(ws, "prepare/labels.txt")).read().split("\n")
keys = {"image/encoded", "image/format", "image/height", "image/width", "image/channels",
        "image/class/label", "image/class/text", "image/group", "image/filename"}
total = 0
for split, s in info["splits"].items():
    n = 0
    for shard in s["shards"]:
        raw = open(os.path.join(ws, "prepare", shard), "rb").read()
        if shard.endswith(".gz"):
            raw = gzip.decompress(raw)
        for data in records(raw):
            f = example(data)
            assert set(f) == keys, sorted(f)
            assert f["image/format"] == ("bytes", b"png")
            assert f["image/height"] == ("int64", 8) and f["image/width"] == ("int64", 8)
            assert f["image/channels"] == ("int64", 3)
            label = f["image/class/label"][1]
            assert f["image/class/text"] == ("bytes", labels[label].encode())
            name = f["image/filename"][1].decode()
            assert name.split("/")[-2] == labels[label], name
            assert f["image/group"][0] == "int64"
            png = Image.open(io.BytesIO(f["image/encoded"][1]))
            src = Image.open(os.path.join(sys.argv[3], name)).convert("RGB")
            if bits == 8:
                assert png.mode == "RGB", png.mode
                assert list(png.getdata()) == list(src.getdata()), name
            else:   # 16-bit RGB: PIL reads it raw; check the samples
                b = f["image/encoded"][1]
                assert b[24] == 16 and b[25] == 2, (b[24], b[25])   # IHDR depth, colour
                import zlib
                idat, k = b"", 8
                while k < len(b):
                    ln = int.from_bytes(b[k:k + 4], "big"); typ = b[k + 4:k + 8]
                    if typ == b"IDAT":
                        idat += b[k + 8:k + 8 + ln]
                    k += 12 + ln
                rows = zlib.decompress(idat); stride = 1 + 8 * 3 * 2
                prev = bytearray(stride - 1)
                want = [v * 257 for px in src.getdata() for v in px]
                got = []
                for y in range(8):
                    ft, line = rows[y * stride], bytearray(rows[y * stride + 1:(y + 1) * stride])
                    for x in range(len(line)):
                        a = line[x - 6] if x >= 6 else 0; up = prev[x]
                        c = prev[x - 6] if x >= 6 else 0
                        if ft == 1: line[x] = (line[x] + a) & 255
                        elif ft == 2: line[x] = (line[x] + up) & 255
                        elif ft == 3: line[x] = (line[x] + (a + up) // 2) & 255
                        elif ft == 4:
                            p = a + up - c; pa, pb, pc = abs(p - a), abs(p - up), abs(p - c)
                            line[x] = (line[x] + (a if pa <= pb and pa <= pc else up if pb <= pc else c)) & 255
                    prev = line
                    got += [line[2 * i] << 8 | line[2 * i + 1] for i in range(24)]
                assert got == want, name
            n += 1
    assert n == s["tiles"], (split, n, s["tiles"])
    total += n
print("ok", total)
EOF

# ---- u8: plain shards, every CRC and key, the pixels of the source ----
run "$P" stage prepare --workspace ws8 --config pics.ini
expect_rc "prepare tfrecord" 0
check "shards named .tfrecord" test -f ws8/prepare/train-00000-of-00002.tfrecord
check "no rec.zst shards" sh -c '! ls ws8/prepare/*.rec.zst 2>/dev/null'
"$py" reader.py ws8 8 "$tmp/pics" >read.txt 2>&1
expect_in "independent reader, u8" read.txt "ok 24"

# the reader can fail: one flipped bit in a copy is a data CRC error
cp -r ws8 wsbad
"$py" -c "
import sys
p = sys.argv[1]; b = bytearray(open(p, 'rb').read()); b[20] ^= 1
open(p, 'wb').write(bytes(b))" wsbad/prepare/train-00001-of-00002.tfrecord
"$py" reader.py wsbad 8 "$tmp/pics" >read.txt 2>&1
expect_in "independent reader catches a flipped bit" read.txt "data crc"

# ---- gzip: TF's compression_type GZIP ----
run "$P" stage prepare --workspace wsgz --config pics.ini --set prepare.tfrecord_gzip=true
expect_rc "prepare tfrecord gzip" 0
check "shards named .tfrecord.gz" test -f wsgz/prepare/val-00001-of-00002.tfrecord.gz
check "a gzip stream" sh -c 'head -c 2 wsgz/prepare/train-00000-of-00002.tfrecord.gz | od -An -tx1 | grep -q "1f 8b"'
"$py" reader.py wsgz 8 "$tmp/pics" >read.txt 2>&1
expect_in "independent reader, gzip" read.txt "ok 24"

# ---- f32: 16-bit PNGs holding round(v * 65535) ----
run "$P" stage prepare --workspace ws16 --config pics.ini --set prepare.dtype=f32
expect_rc "prepare tfrecord f32" 0
"$py" reader.py ws16 16 "$tmp/pics" >read.txt 2>&1
expect_in "independent reader, f32 as 16-bit" read.txt "ok 24"

# ---- train and validate read them, plain, gzip and 16-bit ----
for w in ws8 wsgz ws16; do
	set -- --config pics.ini --set train.epochs=1 --set train.threads=1 --set validate.min_value=0
	[ $w = wsgz ] && set -- "$@" --set prepare.tfrecord_gzip=true
	[ $w = ws16 ] && set -- "$@" --set prepare.dtype=f32
	run "$P" run --workspace $w "$@"
	expect_rc "run on $w" 0
	check "$w: a model" test -s $w/train/model.pnn
done
# ---- the demo plate: a tfrecord workspace trains the rec workspace's model ----
demo="--config $root/pipeline.ini --set dataset.source=synth:plate?plates=1&size=96x64 \
--set prepare.resize=64x64 --set prepare.tile=32 --set prepare.size=32 --set train.epochs=1 \
--set train.threads=1 --set validate.min_value=0"
# shellcheck disable=SC2086
run "$P" run --workspace plate-rec $demo
expect_rc "demo on rec" 0
for f in tfrecord:false tfrecord:true; do
	gz=${f#*:}
	# shellcheck disable=SC2086
	run "$P" run --workspace plate-$gz $demo --set prepare.format=tfrecord \
		--set prepare.tfrecord_gzip=$gz
	expect_rc "demo on tfrecord (gzip $gz)" 0
	check "model byte-identical to rec's (gzip $gz)" cmp -s plate-rec/train/model.pnn plate-$gz/train/model.pnn
	check "same validation metrics (gzip $gz)" cmp -s plate-rec/validate/metrics.json plate-$gz/validate/metrics.json
done
# ---- a sharded prepare (2 parts, then the assembly) writes the same files ----
for i in 0 1; do
	# shellcheck disable=SC2086
	run "$P" stage prepare --workspace plate-parts $demo --set prepare.format=tfrecord --shard $i/2
	expect_rc "prepare part $i/2" 0
done
# shellcheck disable=SC2086
run "$P" stage prepare --workspace plate-parts $demo --set prepare.format=tfrecord
expect_rc "prepare assembles the parts" 0
same=0
for f in plate-false/prepare/*.tfrecord; do
	cmp -s "$f" "plate-parts/prepare/${f##*/}" && same=$((same + 1))
done
check "assembled shards byte-identical to one process's (6 of 6)" test "$same" -eq 6
check "the demo's 2 channels as gray+alpha" sh -c "$py -c \"
import sys
b = open('plate-false/prepare/train-00000-of-00002.tfrecord', 'rb').read()
i = b.index(b'\\x89PNG'); sys.exit(0 if b[i + 25] == 4 else 1)\""
finish
