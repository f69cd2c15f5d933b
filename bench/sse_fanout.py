#!/usr/bin/env python3
"""bench/sse_fanout.py: delivery latency of one session's deltas to many watchers.

Opens --watchers SSE connections (TLS, HTTP/1.1, through nginx) to
GET /api/sessions/<--session>/events, and one more to --single (a session
with a single watcher, the baseline), spread over --procs processes, each
reading its connections from one selector loop. Then, for --rounds rounds,
alternately: POST /api/sessions/<single>/messages and
POST /api/sessions/<session>/messages "deltas=N interval_ms=M" (the fake,
bench/relay_fake.py, stamps each text delta with its wall clock just
before the send), N = --deltas / --rounds. A watcher's latency for a delta
is the time right after the select() that reported its socket readable,
minus the stamp; the time is taken before the process reads any of the
ready sockets, so one watcher's TLS decryption and parsing do not count in
another's latency. A warm-up run on each session comes first, not counted.

Prints one JSON object: {"fanout": {n, p50, p90, p99, max, ...} (ms, every
delta at every watcher), "single": {...}, "watchers": W, "expected_per_watcher":
N*rounds, "per_watcher_min"/"per_watcher_max": deltas received per watcher,
"errors": [...]}.
"""
import argparse
import http.client
import json
import multiprocessing as mp
import os
import resource
import selectors
import socket
import ssl
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))
sys.dont_write_bytecode = True  # no __pycache__ in the source tree
import sselib  # noqa: E402


class Conn:
    def __init__(self, a, ctx, sid):
        self.sid = sid
        raw = socket.create_connection((a.host, a.port), timeout=a.timeout)
        raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sock = ctx.wrap_socket(raw, server_hostname=a.host)
        self.sock.sendall(("GET /api/sessions/%s/events HTTP/1.1\r\nHost: %s:%d\r\n"
                           "Authorization: Bearer %s\r\nAccept: text/event-stream\r\n\r\n"
                           % (sid, a.host, a.port, a.token)).encode())
        self.raw = b""
        self.head = None
        self.dech = None
        self.parser = sselib.SSEParser()
        self.lat = {}          # run_id -> [latency ns]
        self.finished = set()  # run ids
        got = False
        while not got:
            evs = self.feed(self.sock.recv(65536), 0)
            if evs is None:
                raise ConnectionError("EOF before the snapshot")
            got = any(e[0] == "snapshot" for e in evs)
        self.sock.setblocking(False)

    def feed(self, data, t):
        """Parses DATA received at T (ns); returns the events, None at EOF."""
        if not data:
            return None
        if self.head is None:
            self.raw += data
            h = sselib.split_head(self.raw)
            if h is None:
                return []
            if h[0] != 200:
                raise ConnectionError("HTTP %d" % h[0])
            self.head = h[:2]
            data = h[2]
            if "chunked" in h[1].get("transfer-encoding", "").lower():
                self.dech = sselib.Dechunker()
        if self.dech is not None:
            data = self.dech.feed(data)
        evs = self.parser.feed(data)
        for name, d, _ in evs:
            if name in ("run.finished", "run.failed", "run.cancelled"):
                try:
                    self.finished.add(json.loads(d).get("run_id"))
                except ValueError:
                    pass
                continue
            txt = sselib.delta_text(name, d)
            if txt is None:
                continue
            rid = json.loads(d).get("run_id")
            self.lat.setdefault(rid, []).extend(t - s for s in sselib.stamps(txt))
        return evs


def child(a, sids, ctl, res):
    """Holds the connections to SIDS; answers the parent's commands on CTL:
    ("watch", sid): read until every connection to SID saw one more run
    finish, then put ("done", sid) on RES; ("stop",): put the latencies and exit."""
    try:
        ctx = sselib.tls_context(a.cafile)
        conns = [Conn(a, ctx, s) for s in sids]
    except Exception as e:  # noqa: BLE001
        res.put(("error", "%s: %s" % (type(e).__name__, e)))
        return
    res.put(("ready", len(conns)))
    sel = selectors.DefaultSelector()
    for c in conns:
        sel.register(c.sock, selectors.EVENT_READ, c)
    waiting = None   # (sid, {conn: finished runs before})
    errors = []
    while True:
        if waiting is None:
            cmd = ctl.get()
            if cmd[0] == "stop":
                break
            waiting = (cmd[1], {c: set(c.finished) for c in conns if c.sid == cmd[1]})
            deadline = time.monotonic() + a.timeout
        if all(c.finished - before for c, before in waiting[1].items()):
            res.put(("done", waiting[0]))
            waiting = None
            continue
        if time.monotonic() > deadline:
            errors.append("a run on %s did not finish at every watcher" % waiting[0])
            res.put(("done", waiting[0]))
            waiting = None
            continue
        ready = sel.select(timeout=0.5)
        t = time.time_ns()   # before reading any of them
        for key, _ in ready:
            c = key.data
            while True:
                try:
                    data = c.sock.recv(65536)
                except ssl.SSLWantReadError:
                    break
                except (ssl.SSLError, OSError) as e:
                    errors.append("recv: %s" % e)
                    sel.unregister(c.sock)
                    break
                if c.feed(data, t) is None:
                    errors.append("stream closed")
                    sel.unregister(c.sock)
                    break
                if not c.sock.pending():
                    # More may be in the kernel buffer: the next select says so.
                    break
    out = [{"sid": c.sid, "lat": c.lat} for c in conns]
    for c in conns:
        c.sock.close()
    res.put(("result", out, errors))


def post(a, sid, n):
    ctx = sselib.tls_context(a.cafile)
    c = http.client.HTTPSConnection(a.host, a.port, context=ctx, timeout=a.timeout)
    body = json.dumps({"content": "deltas=%d interval_ms=%s" % (n, a.interval_ms)})
    c.request("POST", "/api/sessions/%s/messages" % sid, body=body,
              headers={"Authorization": "Bearer " + a.token, "Content-Type": "application/json"})
    r = c.getresponse()
    data = r.read().decode()
    c.close()
    if r.status != 202:
        raise SystemExit("POST messages: %d %s" % (r.status, data[:300]))
    return json.loads(data)["run_id"]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--host", default="localhost")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--cafile")
    ap.add_argument("--token", required=True)
    ap.add_argument("--session", required=True, help="the session with --watchers watchers")
    ap.add_argument("--single", required=True, help="the session with one watcher (baseline)")
    ap.add_argument("--watchers", type=int, default=100)
    ap.add_argument("--procs", type=int, default=2)
    ap.add_argument("--deltas", type=int, default=500, help="in all, per session")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--interval-ms", default="10")
    ap.add_argument("--warmup-deltas", type=int, default=20)
    ap.add_argument("--timeout", type=float, default=60)
    a = ap.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < a.watchers + 256:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, a.watchers + 256), hard))

    sids = [a.single] + [a.session] * a.watchers
    nproc = max(1, min(a.procs, len(sids)))
    shards = [sids[i::nproc] for i in range(nproc)]
    res = mp.Queue()
    ctls, procs = [], []
    for sh in shards:
        q = mp.Queue()
        p = mp.Process(target=child, args=(a, sh, q, res), daemon=True)
        p.start()
        ctls.append(q)
        procs.append(p)
    errors = []
    for _ in procs:
        m = res.get(timeout=a.timeout)
        if m[0] == "error":
            raise SystemExit("sse_fanout: a watcher did not open: " + m[1])

    def one_run(sid, n):
        for q in ctls:
            q.put(("watch", sid))
        rid = post(a, sid, n)
        for _ in ctls:
            m = res.get(timeout=a.timeout + 10)
            if m[0] != "done":
                errors.append("unexpected %r" % (m[:1],))
        return rid

    warm = set()
    if a.warmup_deltas > 0:
        warm.add(one_run(a.single, a.warmup_deltas))
        warm.add(one_run(a.session, a.warmup_deltas))
    per = max(1, a.deltas // a.rounds)
    for _ in range(a.rounds):
        one_run(a.single, per)
        one_run(a.session, per)
    for q in ctls:
        q.put(("stop",))
    fan, single, counts = [], [], []
    for _ in procs:
        m = res.get(timeout=a.timeout)
        _, out, errs = m
        errors.extend(errs)
        for c in out:
            got = [x for rid, v in c["lat"].items() if rid not in warm for x in v]
            if c["sid"] == a.session:
                fan.extend(got)
                counts.append(len(got))
            else:
                single.extend(got)
    for p in procs:
        p.join(timeout=5)
    print(json.dumps({"fanout": sselib.summary_ms(fan), "single": sselib.summary_ms(single),
                      "watchers": a.watchers, "procs": nproc, "rounds": a.rounds,
                      "expected_per_watcher": per * a.rounds,
                      "per_watcher_min": min(counts) if counts else 0,
                      "per_watcher_max": max(counts) if counts else 0,
                      "interval_ms": float(a.interval_ms), "errors": errors[:20]}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
