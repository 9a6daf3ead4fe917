#!/usr/bin/python3
"""The preprocessing step of the Python stack that pipeline replaces, as its
Kubeflow container does it: extract the plate archive with tarfile, read each
well's two channel BMPs with PIL, stack them, resize to 256x256, cut 16 tiles
of 64x64, Anscombe 2*sqrt(x+3/8) and min-max to 0..255 per tile, split the
wells 70/15/15, compute per-channel mean/std on the training split, and write
the tiles as TFRecord-framed records (u64 length, u32 CRC of the length,
payload = label byte + 2x64x64 u8 tile, u32 CRC of the payload; zlib CRC-32
instead of TensorFlow's masked CRC-32C) in gzip-compressed shards (level 6,
TensorFlow's GZIP default), two per split.

usage: baseline_prepare.py ARCHIVE OUTDIR
"""
import csv
import gzip
import json
import os
import random
import struct
import sys
import tarfile
import tempfile
import zlib

import numpy as np
from PIL import Image

SIZE, TILE = 256, 64


def tiles_of(paths):
    """Reads the channel files of one well, returns (16, 2, 64, 64) u8 tiles."""
    chans = []
    for p in paths:
        im = Image.open(p).convert("L").resize((SIZE, SIZE), Image.BILINEAR)
        chans.append(np.asarray(im, dtype=np.float32))
    x = np.stack(chans)                                   # 2 x 256 x 256
    n = SIZE // TILE
    t = x.reshape(2, n, TILE, n, TILE).transpose(1, 3, 0, 2, 4).reshape(n * n, 2, TILE, TILE)
    t = 2.0 * np.sqrt(t + 0.375)
    lo = t.min(axis=(2, 3), keepdims=True)
    hi = t.max(axis=(2, 3), keepdims=True)
    t = (t - lo) / np.maximum(hi - lo, 1e-12) * 255.0
    return np.rint(t).astype(np.uint8)


def write_record(f, payload):
    """Writes one TFRecord-framed record."""
    n = struct.pack("<Q", len(payload))
    f.write(n)
    f.write(struct.pack("<I", zlib.crc32(n)))
    f.write(payload)
    f.write(struct.pack("<I", zlib.crc32(payload)))


def main():
    archive, out = sys.argv[1], sys.argv[2]
    os.makedirs(out, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=out) as tmp:
        with tarfile.open(archive) as tf:
            tf.extractall(tmp)
        root = os.path.join(tmp, os.listdir(tmp)[0])
        with open(os.path.join(root, "metadata.csv"), newline="") as f:
            rows = list(csv.DictReader(f))
        labels = sorted({r["label"] for r in rows})
        wells = sorted({r["well"] for r in rows})
        random.Random(1).shuffle(wells)
        n_val, n_test = round(0.15 * len(wells)), round(0.15 * len(wells))
        split_of = {w: "test" for w in wells[:n_test]}
        split_of.update({w: "val" for w in wells[n_test:n_test + n_val]})
        shards = {}
        for s in ("train", "val", "test"):
            for i in range(2):
                shards[s, i] = gzip.open(os.path.join(out, "%s-%05d-of-00002.tfrecord.gz" % (s, i)), "wb", 6)
        total = np.zeros(2)
        total_sq = np.zeros(2)
        count = 0
        for k, r in enumerate(rows):
            t = tiles_of([os.path.join(root, r["nuclei"]), os.path.join(root, r["nfkb"])])
            split = split_of.get(r["well"], "train")
            lab = bytes([labels.index(r["label"])])
            f = shards[split, k % 2]
            for tile in t:
                write_record(f, lab + tile.tobytes())
            if split == "train":
                v = t.astype(np.float64) / 255.0
                total += v.sum(axis=(0, 2, 3))
                total_sq += (v * v).sum(axis=(0, 2, 3))
                count += v.shape[0] * v.shape[2] * v.shape[3]
        for f in shards.values():
            f.close()
        mean = total / count
        std = np.sqrt(np.maximum(total_sq / count - mean * mean, 0))
        with open(os.path.join(out, "stats.json"), "w") as f:
            json.dump({"labels": labels, "mean": mean.tolist(), "std": std.tolist()}, f)


if __name__ == "__main__":
    main()
