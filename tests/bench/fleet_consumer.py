#!/usr/bin/python3
"""The Python side of the fleet benchmark: a Redis job consumer written the
way the kiosk (DeepCell-style) consumer of the stack pipeline replaces is
written - redis-py, PIL, torch, the demo's network - on the same protocol
shape as pipeline's workers: a stream read by a consumer group, one hash
per job with its status and result, XACK when done.

usage: fleet_consumer.py produce URL PREFIX IMAGE...   one job per image
       fleet_consumer.py consume URL PREFIX MODEL.pt N  run N jobs, then exit
"""
import io
import json
import sys

import numpy as np
import redis
import torch
from PIL import Image

sys.path.insert(0, __import__("os").path.dirname(__file__))
from baseline_predict import build  # noqa: E402  the demo's network

GROUP = "workers"


def produce(r, prefix, images):
    stream = prefix + ":stream"
    try:
        r.xgroup_create(stream, GROUP, id="0", mkstream=True)
    except redis.ResponseError:
        pass
    for i, path in enumerate(images):
        job = "%s:job:%d" % (prefix, i)
        r.hset(job, mapping={"status": "queued", "input_file_name": path,
                             "model_name": "demo", "model_version": "1"})
        r.xadd(stream, {"job": job})


def preprocess(path, saved):
    im = Image.open(path).convert("RGB").resize((64, 64), Image.BILINEAR)
    x = np.asarray(im, dtype=np.float32)[:, :, 1:3].transpose(2, 0, 1)
    x = 2.0 * np.sqrt(x + 0.375)
    lo = x.min(axis=(1, 2), keepdims=True)
    hi = x.max(axis=(1, 2), keepdims=True)
    x = (x - lo) / np.maximum(hi - lo, 1e-12)
    mean = np.array(saved["mean"], np.float32)[:, None, None]
    std = np.array(saved["std"], np.float32)[:, None, None]
    return ((x - mean) / std)[None].astype(np.float32)


def consume(r, prefix, model_path, n):
    stream = prefix + ":stream"
    saved = torch.load(model_path)
    model = build()
    model.load_state_dict(saved["state_dict"])
    model.eval()
    done = 0
    while done < n:
        got = r.xreadgroup(GROUP, "py", {stream: ">"}, count=1, block=1000)
        if not got:
            continue
        sid, fields = got[0][1][0]
        job = fields[b"job"].decode()
        r.hset(job, "status", "running")
        path = r.hget(job, "input_file_name").decode()
        with torch.no_grad():
            p = torch.softmax(model(torch.from_numpy(preprocess(path, saved))), dim=1)[0].tolist()
        best = max(range(len(p)), key=lambda i: p[i])
        result = json.dumps({"file": path, "label": saved["labels"][best],
                             "scores": dict(zip(saved["labels"], p))})
        r.hset(job, mapping={"status": "done", "result": result})
        r.xack(stream, GROUP, sid)
        done += 1


def main():
    r = redis.Redis.from_url(sys.argv[2])
    if sys.argv[1] == "produce":
        produce(r, sys.argv[3], sys.argv[4:])
    else:
        consume(r, sys.argv[3], sys.argv[4], int(sys.argv[5]))


if __name__ == "__main__":
    main()
