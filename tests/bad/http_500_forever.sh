# An http source answering 500 to every request: retried with backoff, then
# exit 75 (temporary failure) after [dataset] attempts (here 3: 0.5 s and
# 1 s of waiting between them).
want_rc=75 want_msg='download failed after 3 attempts, the last: http 500'
case_run() {
	"$py" -c '
import http.server, sys, threading
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(500); self.send_header("Content-Length", "0"); self.end_headers()
    def log_message(self, *a): pass
s = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
print(s.server_address[1], flush=True)
threading.Timer(60, s.shutdown).start()
s.serve_forever()' >port.txt 2>/dev/null &
	server=$!
	i=0; while [ ! -s port.txt ] && [ $i -lt 100 ]; do sleep 0.05; i=$((i + 1)); done
	small "http://127.0.0.1:$(cat port.txt)/x.tar.gz"; pl --set dataset.attempts=3
}
