#!/usr/bin/python3
"""What the OpenFaaS Python function of the stack that pipeline replaces does
per request, in a cold process: import torch, load a saved model of the demo
architecture (conv 32 3 pad 1, relu, maxpool 2, conv 64 3 pad 1, relu,
maxpool 2, dense 128, relu, dense 2 on 2x64x64), read the PNG on stdin with
PIL, take its G and B channels, resize to 64x64, Anscombe + min-max, standardise,
predict and print one JSON object.

usage: baseline_predict.py --save MODEL.pt     writes a model (seeded weights)
       baseline_predict.py MODEL.pt < IMAGE    predicts one image
"""
import io
import json
import sys

import numpy as np
import torch
from PIL import Image

LABELS = ["high", "low"]


def build():
    """The demo's network."""
    nn = torch.nn
    return nn.Sequential(
        nn.Conv2d(2, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(64 * 16 * 16, 128), nn.ReLU(), nn.Linear(128, 2))


def main():
    if sys.argv[1] == "--save":
        torch.manual_seed(1)
        torch.save({"state_dict": build().state_dict(), "labels": LABELS,
                    "mean": [0.15, 0.19], "std": [0.14, 0.18]}, sys.argv[2])
        return
    saved = torch.load(sys.argv[1])
    model = build()
    model.load_state_dict(saved["state_dict"])
    model.eval()
    im = Image.open(io.BytesIO(sys.stdin.buffer.read())).convert("RGB").resize((64, 64), Image.BILINEAR)
    x = np.asarray(im, dtype=np.float32)[:, :, 1:3].transpose(2, 0, 1)
    x = 2.0 * np.sqrt(x + 0.375)
    lo = x.min(axis=(1, 2), keepdims=True)
    hi = x.max(axis=(1, 2), keepdims=True)
    x = (x - lo) / np.maximum(hi - lo, 1e-12)
    x = (x - np.array(saved["mean"], np.float32)[:, None, None]) / np.array(saved["std"], np.float32)[:, None, None]
    with torch.no_grad():
        p = torch.softmax(model(torch.from_numpy(x[None].astype(np.float32))), dim=1)[0].tolist()
    best = max(range(len(p)), key=lambda i: p[i])
    print(json.dumps({"file": "stdin", "label": saved["labels"][best],
                      "scores": dict(zip(saved["labels"], p))}))


if __name__ == "__main__":
    main()
