#!/usr/bin/python3
"""The Python/PIL way of preparing an image-classification set, for
scripts/bench-data.sh: read the archive as a stream with tarfile (nothing
extracted), decode each image with PIL, convert it to RGB (gray stays
gray), resize it to SIZE x SIZE (bilinear; an image of that size is kept),
and write the samples as uint8 arrays, x-NNNNN.npy (N x SIZE x SIZE x C) and
y-NNNNN.npy (class indices) per 4096 samples, with classes.json. The class
is an image's folder. With --draft, PIL's draft() first lets libjpeg decode
a JPEG at 1/2, 1/4 or 1/8 scale, no smaller than SIZE.

usage: baseline_data.py [--draft] ARCHIVE OUTDIR SIZE
"""
import io
import json
import os
import sys
import tarfile

import numpy as np
from PIL import Image

CHUNK = 4096
EXTS = (".png", ".jpg", ".jpeg", ".bmp")


def flush(out, k, xs, ys):
    np.save(os.path.join(out, "x-%05d.npy" % k), np.stack(xs))
    np.save(os.path.join(out, "y-%05d.npy" % k), np.array(ys, dtype=np.int32))


def main():
    args = sys.argv[1:]
    draft = args[0] == "--draft"
    if draft:
        args = args[1:]
    archive, out, size = args[0], args[1], int(args[2])
    os.makedirs(out, exist_ok=True)
    classes, xs, ys, k = {}, [], [], 0
    with tarfile.open(archive, "r|*") as tar:
        for m in tar:
            if not m.isfile() or not m.name.lower().endswith(EXTS) or "/" not in m.name:
                continue
            im = Image.open(io.BytesIO(tar.extractfile(m).read()))
            if draft:
                im.draft("RGB" if im.mode != "L" else "L", (size, size))
            im = im.convert("L" if im.mode in ("L", "I;16", "I") else "RGB")
            if im.size != (size, size):
                im = im.resize((size, size), Image.BILINEAR)
            a = np.asarray(im, dtype=np.uint8)
            xs.append(a if a.ndim == 3 else a[:, :, None])
            ys.append(classes.setdefault(m.name.split("/")[-2], len(classes)))
            if len(xs) == CHUNK:
                flush(out, k, xs, ys)
                xs, ys, k = [], [], k + 1
    if xs:
        flush(out, k, xs, ys)
    with open(os.path.join(out, "classes.json"), "w") as f:
        json.dump(sorted(classes, key=classes.get), f)


if __name__ == "__main__":
    main()
