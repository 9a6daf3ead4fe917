#!/usr/bin/python3
"""Generates the data sets of scripts/bench-data.sh, written straight into
archives (nothing extracted on disk).

imagenet OUTDIR N: N JPEGs of 120-420 px a side (random sizes, smooth
  colour fields with edges and noise, quality 75-95) in 10 classes named by
  synset ids, in two archives of the same images:
  imagenet-N-nested.tar  ImageNet's train layout: a tar of 10 per-class tars
                         (n01440764.tar holding n01440764_7.JPEG ...)
  imagenet-N.tar         a tar of the 10 class folders, and synset_words.txt
fmnist OUTDIR N: fmnist-N.tar.gz, N 28x28 gray PNGs in 10 class folders
  under fashion-mnist/ (Fashion-MNIST's shape; generated, as the real set
  cannot be downloaded here).
"""
import io
import os
import sys
import tarfile

import numpy as np
from PIL import Image

SYNSETS = [("n01440764", "tench, Tinca tinca"), ("n02102040", "English springer"),
           ("n02979186", "cassette player"), ("n03000684", "chain saw, chainsaw"),
           ("n03028079", "church, church building"), ("n03394916", "French horn, horn"),
           ("n03417042", "garbage truck, dustcart"), ("n03425413", "gas pump, gasoline pump"),
           ("n03445777", "golf ball"), ("n03888605", "parachute, chute")]
FASHION = ["T-shirt_top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt",
           "Sneaker", "Bag", "Ankle_boot"]


def add(tar, name, data):
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mtime = 1700000000
    tar.addfile(info, io.BytesIO(data))


def jpeg(rnd, k):
    w, h = int(rnd.integers(120, 421)), int(rnd.integers(120, 421))
    base = rnd.integers(0, 256, (6, 6, 3)).astype(np.uint8)
    base[:, :, k % 3] //= 2
    im = np.asarray(Image.fromarray(base).resize((w, h), Image.BICUBIC), dtype=np.int16)
    im = im + rnd.integers(-12, 13, (h, w, 1), dtype=np.int16)
    x0, y0 = int(rnd.integers(0, w // 2)), int(rnd.integers(0, h // 2))
    im[y0:y0 + h // 3, x0:x0 + w // 3] = rnd.integers(0, 256, 3)
    buf = io.BytesIO()
    Image.fromarray(np.clip(im, 0, 255).astype(np.uint8)).save(buf, "JPEG",
                                                              quality=int(rnd.integers(75, 96)))
    return buf.getvalue()


def imagenet(out, n):
    rnd = np.random.default_rng(1)
    per = [n // 10 + (1 if c < n % 10 else 0) for c in range(10)]
    with tarfile.open(os.path.join(out, "imagenet-%d-nested.tar" % n), "w") as nested, \
         tarfile.open(os.path.join(out, "imagenet-%d.tar" % n), "w") as plain:
        add(plain, "synset_words.txt", "".join("%s %s\n" % s for s in SYNSETS).encode())
        for c, (wnid, _) in enumerate(SYNSETS):
            inner = io.BytesIO()
            with tarfile.open(fileobj=inner, mode="w") as t:
                for i in range(per[c]):
                    data = jpeg(rnd, c)
                    add(t, "%s_%d.JPEG" % (wnid, i), data)
                    add(plain, "%s/%s_%d.JPEG" % (wnid, wnid, i), data)
            add(nested, wnid + ".tar", inner.getvalue())


def fmnist(out, n):
    rnd = np.random.default_rng(2)
    with tarfile.open(os.path.join(out, "fmnist-%d.tar.gz" % n), "w:gz") as t:
        for i in range(n):
            c = i % 10
            base = rnd.integers(0, 256, (7, 7)).astype(np.uint8)
            base[:, c % 7] = 255
            im = Image.fromarray(base).resize((28, 28), Image.BILINEAR)
            buf = io.BytesIO()
            im.save(buf, "PNG")
            add(t, "fashion-mnist/%s/%05d.png" % (FASHION[c], i), buf.getvalue())


if __name__ == "__main__":
    kind, out, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
    os.makedirs(out, exist_ok=True)
    {"imagenet": imagenet, "fmnist": fmnist}[kind](out, n)
