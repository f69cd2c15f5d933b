#!/usr/bin/env python3
"""bench/relay_fake.py: an instrumented fake of the Anthropic Messages API.

Only for the relay-latency benchmark (bench/bench.sh). It answers
POST /v1/messages with one streamed text block whose every text_delta
carries the wall-clock time (time.time_ns()) at which the fake wrote it:
the delta text is "[<19 digits>]". A client that receives the delta, here
or after a relay, subtracts that stamp from its own time.time_ns() (same
host, same clock) to get the delivery latency.

The number of deltas and the pause before each one come from the last user
message ("deltas=N interval_ms=M" anywhere in its text), else from
--deltas / --interval-ms. Each SSE event is one send() on a TCP_NODELAY
socket, so Nagle's algorithm does not hold small events back; the body is
close-delimited (Connection: close), like the real API over HTTP/1.1.
A non-streamed request gets a short Message JSON. Nothing is validated:
tests/mock/fake_anthropic.py is the strict fake; this one only measures.

Usage: relay_fake.py [--port N] [--port-file FILE] [--deltas N] [--interval-ms M]
SIGTERM/SIGINT stop it with status 0.
"""
import argparse
import json
import os
import re
import signal
import socket
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

DIRECTIVE = re.compile(r"deltas=(\d+)\s+interval_ms=(\d+(?:\.\d+)?)")


def event(name, obj):
    return ("event: %s\ndata: %s\n\n" % (name, json.dumps(obj, separators=(",", ":")))).encode()


def last_user_text(body):
    msgs = body.get("messages") or []
    for m in reversed(msgs):
        if not isinstance(m, dict) or m.get("role") != "user":
            continue
        c = m.get("content")
        if isinstance(c, str):
            return c
        if isinstance(c, list):
            return " ".join(b.get("text", "") for b in c
                            if isinstance(b, dict) and b.get("type") == "text")
        return ""
    return ""


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "relay-fake/1"
    counter = 0
    lock = threading.Lock()

    def log_message(self, fmt, *args):  # quiet
        pass

    def setup(self):
        super().setup()
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def _json(self, status, obj):
        data = json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(data)
        self.close_connection = True

    def do_GET(self):
        if self.path == "/health":
            return self._json(200, {"ok": True})
        return self._json(404, {"type": "error", "error": {"type": "not_found_error", "message": "no"}})

    def do_POST(self):
        n = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(n) if n > 0 else b""
        if self.path.split("?")[0] != "/v1/messages":
            return self._json(404, {"type": "error", "error": {"type": "not_found_error", "message": "no"}})
        try:
            body = json.loads(raw or b"{}")
        except ValueError:
            body = {}
        model = body.get("model") or "claude-sonnet-4-5"
        with Handler.lock:
            Handler.counter += 1
            mid = "msg_bench%016d" % Handler.counter
        deltas, interval = self.server.deltas, self.server.interval_ms
        m = DIRECTIVE.search(last_user_text(body))
        if m:
            deltas, interval = int(m.group(1)), float(m.group(2))
        usage = {"input_tokens": max(1, len(raw) // 4), "cache_creation_input_tokens": 0,
                 "cache_read_input_tokens": 0, "output_tokens": 1}
        if not body.get("stream"):
            return self._json(200, {
                "id": mid, "type": "message", "role": "assistant", "model": model,
                "content": [{"type": "text", "text": "ok"}], "stop_reason": "end_turn",
                "stop_sequence": None, "usage": dict(usage, output_tokens=1)})

        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream; charset=utf-8")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Connection", "close")
        self.send_header("request-id", "req_bench%d" % Handler.counter)
        self.end_headers()
        self.close_connection = True
        w = self.wfile
        try:
            w.write(event("message_start", {"type": "message_start", "message": {
                "id": mid, "type": "message", "role": "assistant", "model": model,
                "content": [], "stop_reason": None, "stop_sequence": None, "usage": usage}}))
            w.write(event("content_block_start", {"type": "content_block_start", "index": 0,
                                                  "content_block": {"type": "text", "text": ""}}))
            pause = interval / 1000.0
            for _ in range(deltas):
                if pause > 0:
                    time.sleep(pause)
                # Stamp as late as possible: right before the send.
                w.write(event("content_block_delta", {
                    "type": "content_block_delta", "index": 0,
                    "delta": {"type": "text_delta", "text": "[%d]" % time.time_ns()}}))
            w.write(event("content_block_stop", {"type": "content_block_stop", "index": 0}))
            w.write(event("message_delta", {"type": "message_delta",
                                            "delta": {"stop_reason": "end_turn", "stop_sequence": None},
                                            "usage": {"output_tokens": 8 * deltas + 1}}))
            w.write(event("message_stop", {"type": "message_stop"}))
        except (BrokenPipeError, ConnectionResetError):
            pass


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--port-file")
    ap.add_argument("--deltas", type=int, default=200)
    ap.add_argument("--interval-ms", type=float, default=10.0)
    a = ap.parse_args()

    srv = ThreadingHTTPServer((a.host, a.port), Handler)
    srv.daemon_threads = True
    srv.deltas, srv.interval_ms = a.deltas, a.interval_ms

    def stop(*_):
        threading.Thread(target=srv.shutdown, daemon=True).start()
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    if a.port_file:
        tmp = a.port_file + ".tmp"
        with open(tmp, "w") as f:
            f.write("%d\n" % srv.server_address[1])
        os.replace(tmp, a.port_file)
    srv.serve_forever()
    srv.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
