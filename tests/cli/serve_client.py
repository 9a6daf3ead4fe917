"""HTTP client of tests/cli/test_serve.sh (loopback only, every call bounded
in time). Usage: serve_client.py PORT COMMAND ARGS...; prints what the
test checks and exits nonzero when an expectation fails."""
import base64
import http.client
import json
import socket
import sys
import threading
import time

port = int(sys.argv[1])
TIMEOUT = 30


def request(method, path, body=None, headers=None, conn=None):
    own = conn is None
    if own:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=TIMEOUT)
    conn.request(method, path, body=body, headers=headers or {})
    r = conn.getresponse()
    data = r.read()
    if own:
        conn.close()
    return r.status, data


def b64(path):
    with open(path, "rb") as f:
        return base64.b64encode(f.read()).decode()


def pixels(path):
    """The image as the model's input tile: [1][h][w], values 0..1."""
    from PIL import Image
    im = Image.open(path).convert("L")
    w, h = im.size
    px = list(im.getdata())
    return [[[px[y * w + x] / 255.0 for x in range(w)] for y in range(h)]]


def expected(path):
    """predict's objects for the images (a JSON line per image), by file."""
    out = {}
    with open(path) as f:
        for line in f:
            row = json.loads(line)
            out[row.pop("file")] = row
    return out


def close(a, b, tol=1e-6):
    return a["label"] == b["label"] and set(a["scores"]) == set(b["scores"]) and \
        all(abs(a["scores"][k] - b["scores"][k]) <= tol for k in a["scores"])


def cmd_get(args):
    status, data = request("GET", args[0])
    sys.stdout.write("%d %s" % (status, data.decode()))


def cmd_post(args):
    """post PATH FILE [CONTENT-TYPE]: the file as the body."""
    with open(args[1], "rb") as f:
        body = f.read()
    status, data = request("POST", args[0], body,
                           {"Content-Type": args[2] if len(args) > 2 else "application/json"})
    sys.stdout.write("%d %s" % (status, data.decode()))


def cmd_method(args):
    status, data = request(args[0], args[1])
    sys.stdout.write("%d %s" % (status, data.decode()))


def cmd_v1_body(args):
    """v1-body OUT IMAGE...: {"instances": [b64 of each, then the first as a tensor]}"""
    inst = [{"b64": b64(p)} for p in args[1:]] + [pixels(args[1])]
    with open(args[0], "w") as f:
        json.dump({"instances": inst}, f)


def cmd_v2_body(args):
    """v2-body OUT fp32|nested|bytes IMAGE...: a v2 infer request with id "r1"."""
    kind, images = args[1], args[2:]
    if kind == "bytes":
        inp = {"name": "image", "datatype": "BYTES", "shape": [len(images)],
               "data": [b64(p) for p in images]}
    else:
        tiles = [pixels(p) for p in images]
        c, h, w = len(tiles[0]), len(tiles[0][0]), len(tiles[0][0][0])
        flat = [v for t in tiles for ch in t for row in ch for v in row]
        inp = {"name": "input", "datatype": "FP32", "shape": [len(images), c, h, w],
               "data": tiles if kind == "nested" else flat}
    with open(args[0], "w") as f:
        json.dump({"id": "r1", "inputs": [inp]}, f)


def cmd_check_v1(args):
    """check-v1 REPLY EXPECTED IMAGE...: predictions equal predict's."""
    with open(args[0]) as f:
        text = f.read()
    status, body = text.split(" ", 1)
    want = expected(args[1])
    got = json.loads(body)["predictions"]
    names = args[2:] + [args[2]]
    ok = status == "200" and len(got) == len(names) and \
        all(close(g, want[n]) for g, n in zip(got, names))
    print("v1 ok" if ok else "v1 differs: %s" % text[:400])
    return 0 if ok else 1


def cmd_check_v2(args):
    """check-v2 REPLY EXPECTED IMAGE...: outputs equal predict's."""
    with open(args[0]) as f:
        text = f.read()
    status, body = text.split(" ", 1)
    want = expected(args[1])
    r = json.loads(body)
    outs = {o["name"]: o for o in r["outputs"]}
    probs, labels = outs["probabilities"], outs["label"]
    n, k = probs["shape"]
    classes = sorted(want[args[2]]["scores"])
    ok = status == "200" and r.get("id") == "r1" and n == len(args) - 2 and \
        probs["datatype"] == "FP32" and labels["datatype"] == "BYTES" and labels["shape"] == [n]
    for i, name in enumerate(args[2:]):
        w = want[name]
        ok = ok and labels["data"][i] == w["label"] and all(
            abs(probs["data"][i * k + j] - w["scores"][c]) <= 1e-6 for j, c in enumerate(classes))
    print("v2 ok" if ok else "v2 differs: %s" % text[:400])
    return 0 if ok else 1


def post_delayed(p, delay):
    """Posts image p to /predict: its headers at once, its body delay
    seconds later. Returns (status, body)."""
    with open(p, "rb") as f:
        data = f.read()

    def later():
        time.sleep(delay)
        yield data
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=TIMEOUT)
    conn.request("POST", "/predict", body=later(),
                 headers={"Content-Length": str(len(data)), "Content-Type": "image/png"})
    r = conn.getresponse()
    body = r.read()
    conn.close()
    return r.status, body


def post_images(images, path="/predict", conn=None):
    out = []
    for p in images:
        with open(p, "rb") as f:
            status, data = request("POST", path, f.read(), {"Content-Type": "image/png"}, conn)
        out.append((p, status, data))
    return out


def concurrent(images, n_threads, total, want, keepalive):
    """n_threads clients posting total images between them, each on its own
    connection; returns (errors, mismatches)."""
    errors, mismatches, lock = [], [], threading.Lock()
    start = threading.Barrier(n_threads)

    def client(t):
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=TIMEOUT) if keepalive else None
        start.wait()
        for i in range(t, total, n_threads):
            p = images[i % len(images)]
            try:
                (_, status, data), = post_images([p], conn=conn)
            except Exception as e:  # a reset or timeout is an error of the test
                with lock:
                    errors.append("%s: %s" % (p, e))
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=TIMEOUT) if keepalive else None
                continue
            if status != 200:
                with lock:
                    errors.append("%s: %d %s" % (p, status, data[:200]))
                continue
            row = json.loads(data)
            if row.pop("file") != "stdin" or not close(row, want[p]):
                with lock:
                    mismatches.append(p)
        if conn:
            conn.close()

    threads = [threading.Thread(target=client, args=(t,)) for t in range(n_threads)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return errors, mismatches


def cmd_concurrent(args):
    """concurrent EXPECTED THREADS TOTAL IMAGE...: no error, all equal predict."""
    want = expected(args[0])
    t0 = time.time()
    errors, mismatches = concurrent(args[3:], int(args[1]), int(args[2]), want, True)
    n = int(args[2])
    print("%d requests in %.1f s: %d errors, %d differ%s" % (
        n, time.time() - t0, len(errors), len(mismatches), (": " + errors[0]) if errors else ""))
    return 0 if not errors and not mismatches else 1


def cmd_codes(args):
    """codes THREADS IMAGE: THREADS posts whose bodies come in together
    (0.3 s after their headers); prints the sorted status codes."""
    n = int(args[0])
    codes, bodies = [], []

    def client():
        status, data = post_delayed(args[1], 0.3)
        codes.append(status)
        bodies.append(data.decode())
    threads = [threading.Thread(target=client) for _ in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    print(" ".join(str(c) for c in sorted(codes)))
    for b in bodies:
        if "queue is full" in b:
            print(b.strip())
            break


def cmd_slow(args):
    """slow SECONDS IMAGE EXPECTED: a client that sends half its headers and
    stalls; meanwhile another request is answered at once, and the stalled
    connection is closed by the server within SECONDS."""
    s = socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT)
    s.sendall(b"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Len")
    t0 = time.time()
    (_, status, data), = post_images([args[1]])
    quick = time.time() - t0
    row = json.loads(data)
    row.pop("file")
    s.settimeout(float(args[0]))
    try:
        closed = s.recv(100) == b""
    except socket.timeout:
        closed = False
    except ConnectionResetError:
        closed = True
    waited = time.time() - t0
    ok = status == 200 and close(row, expected(args[2])[args[1]]) and quick < 1 and closed
    print("slow client closed after %.1f s, other answered in %.3f s" % (waited, quick)
          if ok else "slow: status %d quick %.3f closed %s" % (status, quick, closed))
    return 0 if ok else 1


def cmd_background(args):
    """background OUT DELAY EXPECTED IMAGE...: posts the images at once (a
    thread each), their bodies DELAY seconds after their headers, and writes
    one line per answer to OUT."""
    want, delay = expected(args[2]), float(args[1])
    lines = []

    def client(p):
        try:
            status, data = post_delayed(p, delay)
            row = json.loads(data)
            row.pop("file")
            lines.append("%d %s" % (status, "equal" if close(row, want[p]) else "differs"))
        except Exception as e:
            lines.append("error %s" % e)
    threads = [threading.Thread(target=client, args=(p,)) for p in args[3:]]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    with open(args[0], "w") as f:
        f.write("\n".join(sorted(lines)) + "\n")


def cmd_slow_bodies(args):
    """slow-bodies N EXPECTED IMAGE...: N requests (one thread each) send
    their headers, wait 0.3 s, then their bodies together; all answered 200
    with predict's results."""
    want, images = expected(args[1]), args[2:]
    n = int(args[0])
    results, lock = [], threading.Lock()

    def client(i):
        p = images[i % len(images)]
        status, data = post_delayed(p, 0.3)
        row = json.loads(data)
        row.pop("file", None)
        with lock:
            results.append(status == 200 and close(row, want[p]))
    threads = [threading.Thread(target=client, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    print("%d of %d answered as predict" % (sum(results), n))
    return 0 if sum(results) == n else 1


def cmd_metric(args):
    """metric NAME: the value of one sample line of /metrics (0 when absent)."""
    status, data = request("GET", "/metrics")
    for line in data.decode().splitlines():
        if line.startswith(args[0] + " "):
            print(line.split()[-1])
            return 0
    print(0)
    return 0


def cmd_wait_ready(args):
    """wait-ready: polls /v2/health/ready for up to 20 s."""
    for _ in range(200):
        try:
            if request("GET", "/v2/health/ready")[0] == 200:
                return 0
        except OSError:
            pass
        time.sleep(0.1)
    return 1


commands = {
    "get": cmd_get, "post": cmd_post, "method": cmd_method, "v1-body": cmd_v1_body,
    "v2-body": cmd_v2_body, "check-v1": cmd_check_v1, "check-v2": cmd_check_v2,
    "concurrent": cmd_concurrent, "codes": cmd_codes, "slow": cmd_slow,
    "background": cmd_background, "slow-bodies": cmd_slow_bodies, "metric": cmd_metric, "wait-ready": cmd_wait_ready,
}
sys.exit(commands[sys.argv[2]](sys.argv[3:]) or 0)
