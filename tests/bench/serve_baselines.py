#!/usr/bin/python3
"""The two servers `pipeline serve` is measured against in
scripts/bench-serve.sh, both answering POST / with an image as the body:

  serve_baselines.py fork PORT PIPELINE PACKAGE
      one `pipeline predict` process per request, the image on its stdin
      (what the OpenFaaS classic watchdog does);
  serve_baselines.py flask PORT MODEL.onnx
      Flask + torch: the package's network and weights, read from its
      model.onnx into torch operations, the demo's preprocessing in numpy
      (G and B channels, Anscombe, min-max, 8-bit rounding) per request.

Both listen on 127.0.0.1 only and answer GET /health when ready.
"""
import io
import json
import subprocess
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def fork_server(port, pipeline, package):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args):
            pass

        def reply(self, code, body):
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self):
            self.reply(200, b'{"ready":true}\n')

        def do_POST(self):
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            r = subprocess.run([pipeline, "predict", "--package", package], input=body,
                               stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
            self.reply(200 if r.returncode == 0 else 400, r.stdout)

    ThreadingHTTPServer.daemon_threads = True
    ThreadingHTTPServer.request_queue_size = 128
    ThreadingHTTPServer(("127.0.0.1", port), Handler).serve_forever()


def torch_net(path):
    """The chain of nodes of model.onnx as a function of a torch tensor."""
    import onnx
    import torch
    from onnx import numpy_helper
    F = torch.nn.functional
    m = onnx.load(path)
    init = {t.name: torch.from_numpy(numpy_helper.to_array(t).copy()) for t in m.graph.initializer}
    classes = json.loads({p.key: p.value for p in m.metadata_props}["classes"])

    def attrs(node):
        return {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}

    def run(x):
        for n in m.graph.node:
            a, args = attrs(n), [init.get(i) for i in n.input[1:]]
            op = n.op_type
            if op == "Sub":
                x = x - args[0]
            elif op == "Div":
                x = x / args[0]
            elif op == "Conv":
                x = F.conv2d(x, args[0], args[1], stride=a["strides"][0], padding=a["pads"][0])
            elif op == "Relu":
                x = F.relu(x)
            elif op == "MaxPool":
                x = F.max_pool2d(x, a["kernel_shape"][0], a["strides"][0])
            elif op == "AveragePool":
                x = F.avg_pool2d(x, a["kernel_shape"][0], a["strides"][0])
            elif op == "GlobalAveragePool":
                x = x.mean(dim=(2, 3), keepdim=True)
            elif op == "Flatten":
                x = torch.flatten(x, 1)
            elif op == "Reshape":
                x = x.reshape(x.shape[0], *[int(v) for v in args[0][1:]])
            elif op == "Gemm":
                x = F.linear(x, args[0], args[1])
            elif op == "BatchNormalization":
                x = F.batch_norm(x, args[2], args[3], args[0], args[1], False, 0.0, a["epsilon"])
            elif op == "Softmax":
                x = torch.softmax(x, dim=1)
            else:
                raise ValueError("model.onnx: no torch operation for " + op)
        return x
    return run, classes


def preprocess(data):
    import numpy as np
    from PIL import Image
    im = Image.open(io.BytesIO(data)).convert("RGB")
    x = np.asarray(im, dtype=np.float32)[:, :, 1:3].transpose(2, 0, 1)
    x = 2.0 * np.sqrt(x + 0.375)
    lo = x.min(axis=(1, 2), keepdims=True)
    hi = x.max(axis=(1, 2), keepdims=True)
    x = (x - lo) / np.maximum(hi - lo, 1e-12)
    return np.round(x * 255.0) / 255.0


def flask_server(port, model):
    import numpy as np
    import torch
    from flask import Flask, request
    net, classes = torch_net(model)
    app = Flask("baseline")

    @app.get("/health")
    def health():
        return {"ready": True}

    @app.post("/")
    def predict():
        x = torch.from_numpy(preprocess(request.get_data())[None].astype(np.float32))
        with torch.no_grad():
            p = net(x)[0].tolist()
        best = max(range(len(p)), key=lambda i: p[i])
        return {"file": "stdin", "label": classes[best],
                "scores": {c: round(v, 6) for c, v in zip(classes, p)}}

    import logging
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    app.run(host="127.0.0.1", port=port, threaded=True)


if __name__ == "__main__":
    if sys.argv[1] == "fork":
        fork_server(int(sys.argv[2]), sys.argv[3], sys.argv[4])
    else:
        flask_server(int(sys.argv[2]), sys.argv[3])
