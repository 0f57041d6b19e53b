#!/usr/bin/env python3
"""Alertmanager webhook receiver for alerting_test.py.

Every POST body (Alertmanager's webhook JSON) is appended to OUT as one JSON line
{"received_at": <unix time>, "path": "<request path>", "body": <the posted JSON>}, written in a
single write so that a reader never sees half a record. GET answers 200 "ok" (readiness).
Runs until SIGTERM/SIGINT.

Usage: webhook_receiver.py --listen 127.0.0.1:PORT --out FILE

Python 3 standard library only.
"""

import argparse
import json
import signal
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

LOCK = threading.Lock()


def make_handler(out_path):
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length)
            try:
                body = json.loads(raw)
            except ValueError:
                body = {"invalid_json": raw.decode("utf-8", "replace")}
            line = json.dumps({"received_at": time.time(), "path": self.path, "body": body},
                              sort_keys=True) + "\n"
            with LOCK, open(out_path, "a", encoding="utf-8") as f:
                f.write(line)
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def do_GET(self):
            self.send_response(200)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", "3")
            self.end_headers()
            self.wfile.write(b"ok\n")

        def log_message(self, fmt, *args):
            sys.stderr.write("webhook: " + (fmt % args) + "\n")

    return Handler


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--listen", required=True, help="HOST:PORT")
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    host, port = args.listen.rsplit(":", 1)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    signal.signal(signal.SIGINT, lambda *_: sys.exit(0))
    open(args.out, "a", encoding="utf-8").close()
    server = ThreadingHTTPServer((host, int(port)), make_handler(args.out))
    server.daemon_threads = True
    try:
        server.serve_forever(poll_interval=0.2)
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
