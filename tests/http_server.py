#!/usr/bin/python3
"""Test HTTP server for tests/test_fetch.c, on 127.0.0.1 only.

Usage: http_server.py ROOT_DIR LOG_FILE [CERT_PEM KEY_PEM]
With a certificate and key it speaks HTTPS. Binds port 0 and prints the port on stdout. Every request is appended to
LOG_FILE as "GET /path range=<Range header or -> if-range=<If-Range header or ->".
The server stops by itself after 60 s without requests, or when its parent goes away.

Paths (NAME is a file under ROOT_DIR; drop/ combines with weak/ and plain/):
  /NAME               the file with a strong ETag (from its content) and
                      Last-Modified, honouring Range (206 / 416) unless an
                      If-Range matches neither (then 200, the whole file)
  /weak/NAME          the same with a weak ETag (If-Range can only match the date)
  /plain/NAME         the same with no ETag and no Last-Modified
  /norange/NAME       the file, always 200 (ignores Range and If-Range)
  /oldrange/NAME      like /NAME but ignores If-Range (honours Range regardless)
  /drop/NAME          first request: full headers, half the body, then the
                      connection is closed; later requests: like /NAME
  /flaky/NAME         500 for the first two requests, then like /NAME
  /badrange/NAME      first request: like /drop/NAME; later ones with a Range:
                      206 carrying the whole file, Content-Range from 0
  /htmlonce/NAME      first request: 200 with an HTML error page; later
                      requests: like /NAME
  /html/NAME          always 200 with an HTML error page
  /redirect/NAME      302 to /NAME
  /redirect-loop      302 to itself
  /404                404
  /stall/NAME         headers, then no bytes at all
  /drip/NAME          headers, then one byte per second
  /reset              connection reset without a response
"""
import email.utils
import hashlib
import os
import socket
import ssl
import struct
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

IDLE_S = 60
ROOT = sys.argv[1]
LOG = sys.argv[2]
lock = threading.Lock()
counts = {}
last_request = [time.monotonic()]


def count(path):
    with lock:
        counts[path] = counts.get(path, 0) + 1
        return counts[path]


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.0"

    def log_message(self, fmt, *args):
        pass

    def record(self):
        last_request[0] = time.monotonic()
        with lock, open(LOG, "a") as log:
            log.write("%s %s range=%s if-range=%s\n" % (
                self.command, self.path, self.headers.get("Range", "-"),
                self.headers.get("If-Range", "-")))

    def read_file(self, name):
        path = os.path.join(ROOT, os.path.basename(name))
        try:
            with open(path, "rb") as f:
                return f.read()
        except OSError:
            return None

    def validators(self, name, data):
        """ETag and Last-Modified headers of the file, as the modes ask."""
        try:
            mtime = os.stat(os.path.join(ROOT, os.path.basename(name))).st_mtime
        except OSError:
            return []
        if "plain" in self.modes:
            return []
        etag = '"%s"' % hashlib.sha256(data).hexdigest()[:16]
        return [("ETag", "W/" + etag if "weak" in self.modes else etag),
                ("Last-Modified", email.utils.formatdate(mtime, usegmt=True))]

    def range_allowed(self, validators):
        """If-Range: the Range counts only when it names the current version
        (a strong ETag, or the date)."""
        cond = self.headers.get("If-Range")
        return cond is None or "oldrange" in self.modes or any(
            value == cond and not value.startswith("W/") for _, value in validators)

    def headers_only(self, code, length=None, extra=()):
        self.send_response(code)
        if length is not None:
            self.send_header("Content-Length", str(length))
        for key, value in extra:
            self.send_header(key, value)
        self.end_headers()

    def serve(self, name, ranges=True):
        data = self.read_file(name)
        if data is None:
            self.headers_only(404, 0)
            return
        tags = self.validators(name, data) if ranges else []
        rng = self.headers.get("Range") if ranges and self.range_allowed(tags) else None
        if rng and rng.startswith("bytes="):
            first, _, last = rng[6:].partition("-")
            start = int(first)
            end = int(last) if last else len(data) - 1
            if start >= len(data):
                self.headers_only(416, 0, [("Content-Range", "bytes */%d" % len(data))])
                return
            body = data[start:end + 1]
            self.headers_only(206, len(body), tags + [
                ("Content-Range", "bytes %d-%d/%d" % (start, end, len(data)))])
            self.wfile.write(body)
            return
        self.headers_only(200, len(data), tags)
        self.wfile.write(data)

    def slow(self, name, step_s):
        data = self.read_file(name) or b"x" * 64
        self.headers_only(200, len(data))
        self.wfile.flush()
        for k in range(len(data)):
            time.sleep(step_s)
            if step_s < 30:
                self.wfile.write(data[k:k + 1])
                self.wfile.flush()

    def do_GET(self):
        self.record()
        parts = self.path.lstrip("/").split("/")
        self.modes, name = parts[:-1], parts[-1]
        mode = self.modes[0] if self.modes else ""
        try:
            self.route(mode, name)
        except (BrokenPipeError, ConnectionResetError):
            pass

    def route(self, mode, name):
        if name == "404":
            self.headers_only(404, 9)
            self.wfile.write(b"not found")
        elif name == "redirect-loop":
            self.headers_only(302, 0, [("Location", "/redirect-loop")])
        elif name == "reset":
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                       struct.pack("ii", 1, 0))
            self.connection.close()
            self.close_connection = True
        elif mode == "norange":
            self.serve(name, ranges=False)
        elif mode in ("drop", "badrange") and count(self.path) == 1:
            data = self.read_file(name) or b""
            self.headers_only(200, len(data), self.validators(name, data))
            self.wfile.write(data[:len(data) // 2])
            self.wfile.flush()
            self.connection.shutdown(socket.SHUT_RDWR)
            self.close_connection = True
        elif mode == "badrange" and self.headers.get("Range"):
            data = self.read_file(name) or b""
            self.headers_only(206, len(data), self.validators(name, data) + [
                ("Content-Range", "bytes 0-%d/%d" % (len(data) - 1, len(data)))])
            self.wfile.write(data)
        elif mode == "html" or (mode == "htmlonce" and count(self.path) == 1):
            page = b"<!DOCTYPE html><html><body><h1>503 Service Unavailable</h1></body></html>\n"
            self.headers_only(200, len(page), [("Content-Type", "text/html")])
            self.wfile.write(page)
        elif mode == "flaky" and count(self.path) <= 2:
            self.headers_only(500, 5)
            self.wfile.write(b"oops\n")
        elif mode == "redirect":
            self.headers_only(302, 0, [("Location", "/" + name)])
        elif mode == "stall":
            self.slow(name, 30)
        elif mode == "drip":
            self.slow(name, 1)
        else:
            self.serve(name)


def watchdog(parent):
    while True:
        time.sleep(1)
        if time.monotonic() - last_request[0] > IDLE_S or os.getppid() != parent:
            os._exit(0)


def main():
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    if len(sys.argv) > 4:
        tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        tls.load_cert_chain(sys.argv[3], sys.argv[4])
        server.socket = tls.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=watchdog, args=(os.getppid(),), daemon=True).start()
    print(server.server_address[1], flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
