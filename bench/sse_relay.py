#!/usr/bin/env python3
"""bench/sse_relay.py: delivery latency of text deltas, relayed and direct.

Both modes read deltas stamped by bench/relay_fake.py ("[time_ns]" at send)
and record, per delta, time.time_ns() right after the recv() that completed
it, minus the stamp (same host, same clock).

  relay   an SSE client of claude-web through nginx (TLS, HTTP/1.1, one
          connection): GET /api/sessions/SID/events, then POST
          /api/sessions/SID/messages "deltas=N interval_ms=M"; the runner
          streams from the fake, appends text.delta events to Redis, a stream
          worker relays them, nginx forwards them.
  direct  a client of the fake itself (plain HTTP on loopback): the fake's
          own delivery time, the baseline.

  both    the two, alternated: ROUNDS rounds of (direct, relay), each asking
          for DELTAS/ROUNDS deltas, so that other work on the machine
          weighs on both alike.

A warm-up exchange (--warmup-deltas) on each path comes first and is not
counted. Prints one JSON object: {"direct": {n, min, p50, p90, p99, max,
mean}, "relay": {...}, "relay_up": {...}, "relay_down": {...}, "expected":
N, "errors": [...]}, latencies in ms. relay_up is fake -> Redis XADD (the
event id, Redis' clock in ms), relay_down XADD -> client; both at 1 ms
resolution.
"""
import argparse
import http.client
import json
import socket
import sys
import threading
import time

sys.path.insert(0, __import__("os").path.dirname(__file__))
sys.dont_write_bytecode = True  # no __pycache__ in the source tree
import sselib  # noqa: E402


def recv_events(sock, state):
    """One recv(); returns (events, t_recv_ns) or (None, t) at EOF."""
    data = sock.recv(65536)
    t = time.time_ns()
    if not data:
        return None, t
    if state.get("head") is None:
        state["raw"] = state.get("raw", b"") + data
        h = sselib.split_head(state["raw"])
        if h is None:
            return [], t
        state["head"] = h[:2]
        data = h[2]
        if h[0] != 200:
            raise SystemExit("HTTP %d: %r" % (h[0], data[:300]))
        if "chunked" in h[1].get("transfer-encoding", "").lower():
            state["dechunk"] = sselib.Dechunker()
    if state.get("dechunk") is not None:
        data = state["dechunk"].feed(data)
    return state["parser"].feed(data), t


def relay_connect(a):
    """The SSE connection through nginx, read up to the snapshot event."""
    ctx = sselib.tls_context(a.cafile)
    raw = socket.create_connection((a.host, a.port), timeout=a.timeout)
    raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock = ctx.wrap_socket(raw, server_hostname=a.host)
    req = ("GET /api/sessions/%s/events HTTP/1.1\r\nHost: %s:%d\r\n"
           "Authorization: Bearer %s\r\nAccept: text/event-stream\r\n"
           "Cache-Control: no-cache\r\n\r\n" % (a.session, a.host, a.port, a.token))
    sock.sendall(req.encode())
    st = {"parser": sselib.SSEParser()}
    got_snapshot = False
    while not got_snapshot:
        evs, _ = recv_events(sock, st)
        if evs is None:
            raise SystemExit("stream closed before the snapshot")
        got_snapshot = any(e[0] == "snapshot" for e in evs)
    return ctx, sock, st


def relay_exchange(a, conn, n, errors, split=None):
    """Posts one message asking for N deltas; returns their latencies (ns).
    SPLIT, a dict of two lists, also gets each delta's time from the fake to
    the Redis XADD ("up": the event id is Redis' clock in ms) and from the
    XADD to the client ("down"); 1 ms resolution."""
    ctx, sock, st = conn

    def post(results):
        c = http.client.HTTPSConnection(a.host, a.port, context=ctx, timeout=a.timeout)
        body = json.dumps({"content": "deltas=%d interval_ms=%s" % (n, a.interval_ms)})
        c.request("POST", "/api/sessions/%s/messages" % a.session, body=body,
                  headers={"Authorization": "Bearer " + a.token,
                           "Content-Type": "application/json"})
        r = c.getresponse()
        results["body"] = r.read().decode()
        results["status"] = r.status
        c.close()

    res = {}
    th = threading.Thread(target=post, args=(res,))
    th.start()
    per_run = {}   # run_id -> [latency_ns]
    finished = set()
    deadline = time.time() + a.timeout
    run_id = None
    while time.time() < deadline:
        if run_id is None and (finished or not th.is_alive()):
            th.join()
            if res.get("status") != 202:
                raise SystemExit("POST messages: %s %s" % (res.get("status"), res.get("body")))
            run_id = json.loads(res["body"])["run_id"]
        if run_id is not None and run_id in finished:
            break
        evs, t = recv_events(sock, st)
        if evs is None:
            raise SystemExit("stream closed during the run")
        for name, data, eid in evs:
            if name in ("run.finished", "run.failed", "run.cancelled"):
                try:
                    rid = json.loads(data).get("run_id")
                except ValueError:
                    rid = None
                finished.add(rid)
                if name != "run.finished":
                    errors.append("%s: %s" % (name, data[:300]))
                continue
            txt = sselib.delta_text(name, data)
            if txt is None:
                continue
            rid = json.loads(data).get("run_id")
            stamps = sselib.stamps(txt)
            per_run.setdefault(rid, []).extend((t - s, s, eid) for s in stamps)
    th.join()
    if run_id is None or run_id not in finished:
        raise SystemExit("run did not finish within %ss" % a.timeout)
    mine = per_run.get(run_id, [])
    if split is not None:
        for lat, stamp, eid in mine:
            if eid and "-" in eid:
                x = int(eid.split("-")[0]) * 1000000   # XADD time, ms -> ns
                split["up"].append(x - stamp)
                split["down"].append(stamp + lat - x)
    return [m[0] for m in mine]


def direct_exchange(a, n):
    """Asks the fake itself for N deltas; returns their latencies (ns)."""
    body = json.dumps({"model": "claude-sonnet-4-5", "max_tokens": 1024, "stream": True,
                       "messages": [{"role": "user",
                                     "content": "deltas=%d interval_ms=%s" % (n, a.interval_ms)}]})
    sock = socket.create_connection((a.fake_host, a.fake_port), timeout=a.timeout)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.sendall(("POST /v1/messages HTTP/1.1\r\nHost: %s:%d\r\nx-api-key: bench\r\n"
                  "anthropic-version: 2023-06-01\r\ncontent-type: application/json\r\n"
                  "Content-Length: %d\r\n\r\n%s" % (a.fake_host, a.fake_port, len(body), body)).encode())
    st = {"parser": sselib.SSEParser()}
    lat = []
    while True:
        evs, t = recv_events(sock, st)
        if evs is None:
            break
        for name, data, _ in evs:
            txt = sselib.delta_text(name, data)
            if txt is not None:
                lat.extend(t - s for s in sselib.stamps(txt))
    sock.close()
    return lat


def run(a):
    """Warm-up, then ROUNDS rounds of direct and relay exchanges, alternated
    so that other work on the machine weighs on both alike."""
    do_relay = a.mode in ("relay", "both")
    do_direct = a.mode in ("direct", "both")
    conn = relay_connect(a) if do_relay else None
    errors = []
    if a.warmup_deltas > 0:
        if do_direct:
            direct_exchange(a, a.warmup_deltas)
        if do_relay:
            relay_exchange(a, conn, a.warmup_deltas, errors)
    per = max(1, a.deltas // a.rounds)
    lat = {"direct": [], "relay": []}
    split = {"up": [], "down": []}
    for _ in range(a.rounds):
        if do_direct:
            lat["direct"].extend(direct_exchange(a, per))
        if do_relay:
            lat["relay"].extend(relay_exchange(a, conn, per, errors, split))
    if conn is not None:
        conn[1].close()
    out = {"rounds": a.rounds, "expected": per * a.rounds, "errors": errors}
    if do_direct:
        out["direct"] = sselib.summary_ms(lat["direct"])
    if do_relay:
        out["relay"] = sselib.summary_ms(lat["relay"])
        # Where the time goes (1 ms resolution: the XADD id is in ms, so
        # "up" reads low and "down" high by up to 1 ms).
        out["relay_up"] = sselib.summary_ms(split["up"])
        out["relay_down"] = sselib.summary_ms(split["down"])
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("mode", choices=("relay", "direct", "both"))
    ap.add_argument("--host", default="localhost", help="nginx (relay)")
    ap.add_argument("--port", type=int, help="nginx HTTPS port (relay)")
    ap.add_argument("--cafile")
    ap.add_argument("--token")
    ap.add_argument("--session")
    ap.add_argument("--fake-host", default="127.0.0.1")
    ap.add_argument("--fake-port", type=int, help="relay_fake.py port (direct)")
    ap.add_argument("--deltas", type=int, default=1000, help="in all, per path")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--interval-ms", default="5")
    ap.add_argument("--warmup-deltas", type=int, default=20)
    ap.add_argument("--timeout", type=float, default=60)
    a = ap.parse_args()
    if a.mode != "direct" and not (a.token and a.session and a.port):
        ap.error("relay needs --port, --token and --session")
    if a.mode != "relay" and not a.fake_port:
        ap.error("direct needs --fake-port")
    res = run(a)
    res["mode"] = a.mode
    res["interval_ms"] = float(a.interval_ms)
    print(json.dumps(res))
    return 0


if __name__ == "__main__":
    sys.exit(main())
