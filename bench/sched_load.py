#!/usr/bin/env python3
"""bench/sched_load.py: load for the run scheduler benchmark (bench/bench_sched.sh).

  sched_load.py fake --port-file F
      A fake Anthropic Messages API driven by the prompt. Every message the
      load sends reads "sched u=U k=K tool=0|1 l1=MS l2=MS": the first model
      call streams text for l1 ms (about one text_delta per 100 ms) and, with
      tool=1, ends with a bash tool_use ({"command": "true"}); the call after
      the tool result streams text for l2 ms and ends the turn. Stateless, so
      any number of sessions can talk to it at once (tests/mock's fake
      replays one global queue of turns, which cannot serve 50 users).

  sched_load.py load --base URL --config ENV --admin BIN --out JSON [...]
      Creates USERS accounts (claude-web-admin user add), logs each in, gives
      each one session (permission_mode default) and one SSE stream, then
      plays the scenario: each user sends RUNS messages one after the other,
      the next only after the previous run's final event and a think time.
      A run with a tool gets a permission.request, which the user answers
      ("allow" by default) after a "human" delay. The scenario comes from
      --seed alone, so two configurations get exactly the same one.
      Meanwhile a sampler reads, every second, the runner processes (children
      of the master holding neither FastCGI socket, as in procmem.py), their
      memory and the master's, /api/health pools.runner.live and the runner
      and queue gauges of /api/metrics. Writes one JSON document.

  sched_load.py report LABEL=JSON [LABEL=JSON ...]
      Prints the results side by side.

Times: queue wait = run.started - run.queued, both read from the Redis event
ids (Redis' clock, ms); continuation wait = the first of run.continued /
permission.resolved (event id) - the moment the user sent the answer (this
process's time.time(), same host, same clock). Standard library only.
"""
import argparse
import concurrent.futures
import http.client
import json
import os
import queue
import random
import re
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.dont_write_bytecode = True  # no __pycache__ in the source tree
import procmem  # noqa: E402
import sselib  # noqa: E402

FINAL = ("run.finished", "run.error", "run.cancelled")


def now_ms():
    return time.time() * 1000.0


def id_ms(eid):
    """Redis stream id "<ms>-<seq>" -> ms (float), or None."""
    try:
        return float(eid.split("-", 1)[0])
    except (AttributeError, ValueError):
        return None


# ---------------------------------------------------------------------------
# fake Anthropic API
# ---------------------------------------------------------------------------
DIRECTIVE = re.compile(r"sched u=(\d+) k=(\d+) tool=([01]) l1=(\d+) l2=(\d+)")


def sse(name, obj):
    return ("event: %s\ndata: %s\n\n" % (name, json.dumps(obj, separators=(",", ":")))).encode()


def plan_of(body):
    """(tool_turn, latency_ms, u, k) for this request."""
    msgs = body.get("messages") or []
    last_is_result = False
    if msgs and msgs[-1].get("role") == "user" and isinstance(msgs[-1].get("content"), list):
        last_is_result = any(isinstance(b, dict) and b.get("type") == "tool_result"
                             for b in msgs[-1]["content"])
    for m in reversed(msgs):
        if not isinstance(m, dict) or m.get("role") != "user":
            continue
        c = m.get("content")
        text = c if isinstance(c, str) else " ".join(
            b.get("text", "") for b in (c or []) if isinstance(b, dict) and b.get("type") == "text")
        d = DIRECTIVE.search(text or "")
        if d:
            u, k, tool, l1, l2 = (int(x) for x in d.groups())
            if last_is_result:
                return False, l2, u, k
            return bool(tool), l1, u, k
    return False, 300, -1, -1


class FakeHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "sched-fake/1"
    counter = 0
    lock = threading.Lock()

    def log_message(self, fmt, *args):
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
        path = self.path.split("?")[0]
        if path == "/v1/messages/count_tokens":
            return self._json(200, {"input_tokens": max(1, len(raw) // 4)})
        if path != "/v1/messages":
            return self._json(404, {"type": "error", "error": {"type": "not_found_error", "message": "no"}})
        try:
            body = json.loads(raw or b"{}")
        except ValueError:
            body = {}
        model = body.get("model") or "claude-sonnet-4-5"
        with FakeHandler.lock:
            FakeHandler.counter += 1
            num = FakeHandler.counter
        mid = "msg_sched%016d" % num
        tool, lat, u, k = plan_of(body)
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
        self.send_header("request-id", "req_sched%d" % num)
        self.end_headers()
        self.close_connection = True
        w = self.wfile
        ndelta = max(2, int(lat / 100))
        pause = lat / 1000.0 / ndelta
        try:
            w.write(sse("message_start", {"type": "message_start", "message": {
                "id": mid, "type": "message", "role": "assistant", "model": model,
                "content": [], "stop_reason": None, "stop_sequence": None, "usage": usage}}))
            w.write(sse("content_block_start", {"type": "content_block_start", "index": 0,
                                                "content_block": {"type": "text", "text": ""}}))
            w.write(sse("ping", {"type": "ping"}))
            for i in range(ndelta):
                time.sleep(pause)
                w.write(sse("content_block_delta", {"type": "content_block_delta", "index": 0,
                                                    "delta": {"type": "text_delta",
                                                              "text": "word%d " % i}}))
            w.write(sse("content_block_stop", {"type": "content_block_stop", "index": 0}))
            if tool:
                inp = json.dumps({"command": "true"})
                w.write(sse("content_block_start", {
                    "type": "content_block_start", "index": 1,
                    "content_block": {"type": "tool_use", "id": "toolu_sched%08d" % num,
                                      "name": "bash", "input": {}}}))
                for piece in ("", inp[:9], inp[9:]):
                    w.write(sse("content_block_delta", {
                        "type": "content_block_delta", "index": 1,
                        "delta": {"type": "input_json_delta", "partial_json": piece}}))
                w.write(sse("content_block_stop", {"type": "content_block_stop", "index": 1}))
            w.write(sse("message_delta", {"type": "message_delta",
                                          "delta": {"stop_reason": "tool_use" if tool else "end_turn",
                                                    "stop_sequence": None},
                                          "usage": {"output_tokens": 2 * ndelta + 1}}))
            w.write(sse("message_stop", {"type": "message_stop"}))
            w.flush()
        except (BrokenPipeError, ConnectionResetError):
            pass


def cmd_fake(a):
    srv = ThreadingHTTPServer((a.host, a.port), FakeHandler)
    srv.daemon_threads = True
    srv.request_queue_size = 128

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


# ---------------------------------------------------------------------------
# scenario
# ---------------------------------------------------------------------------
def rng_range(r, spec):
    lo, hi = spec
    return lo + (hi - lo) * r.random()


def scenario(a):
    """[[{think, tool, l1, l2, human}] per run] per user, from the seed alone."""
    out = []
    for u in range(a.users):
        r = random.Random("%d/%d" % (a.seed, u))
        runs = []
        for k in range(a.runs):
            runs.append({
                "think": rng_range(r, a.start_spread if k == 0 else a.think),
                "tool": r.random() < a.tool_pct / 100.0,
                "l1": int(rng_range(r, a.latency) * 1000),
                "l2": int(rng_range(r, a.latency) * 1000),
                "human": rng_range(r, a.human),
            })
        out.append(runs)
    return out


def parse_range(s):
    lo, _, hi = s.partition(",")
    lo = float(lo)
    hi = float(hi) if hi else lo
    return (lo, hi)


# ---------------------------------------------------------------------------
# HTTP client
# ---------------------------------------------------------------------------
class Api:
    def __init__(self, host, port, ctx, token=None):
        self.host, self.port, self.ctx, self.token = host, port, ctx, token
        self.conn = None
        self.used = 0.0

    def req(self, method, path, body=None, auth=True, timeout=60):
        hdrs = {"Accept": "application/json"}
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            hdrs["Content-Type"] = "application/json"
        if auth and self.token:
            hdrs["Authorization"] = "Bearer " + self.token
        # A connection idle for a while may be closed by nginx as the request
        # goes out; a retried POST could then be sent twice. Start afresh.
        if self.conn is not None and time.monotonic() - self.used > 4:
            self.conn.close()
            self.conn = None
        for attempt in (0, 1):
            try:
                if self.conn is None:
                    self.conn = http.client.HTTPSConnection(self.host, self.port, context=self.ctx,
                                                            timeout=timeout)
                self.conn.request(method, path, body=data, headers=hdrs)
                resp = self.conn.getresponse()
                raw = resp.read()
                self.used = time.monotonic()
                if resp.getheader("Connection", "").lower() == "close":
                    self.conn.close()
                    self.conn = None
                try:
                    js = json.loads(raw) if raw else None
                except ValueError:
                    js = None
                return resp.status, js, raw
            except (http.client.HTTPException, OSError):
                if self.conn is not None:
                    self.conn.close()
                self.conn = None
                if attempt == 1:
                    raise
        raise RuntimeError("unreachable")


class SSEReader(threading.Thread):
    """One event stream of a session; every event goes to self.q as
    (name, data, id, t_recv_ms). Reconnects with Last-Event-ID."""

    def __init__(self, host, port, ctx, token, sid):
        super().__init__(daemon=True)
        self.host, self.port, self.ctx, self.token, self.sid = host, port, ctx, token, sid
        self.q = queue.Queue()
        self.last_id = None
        self.stop = False
        self.ready = threading.Event()
        self.reconnects = 0
        self.error = None

    def run(self):
        first = True
        while not self.stop:
            try:
                self.one()
            except Exception as e:  # noqa: BLE001 (reconnect whatever happened)
                self.error = repr(e)
            if self.stop:
                break
            self.reconnects += 1
            time.sleep(0.5 if not first else 0.2)
            first = False

    def one(self):
        raw = socket.create_connection((self.host, self.port), timeout=30)
        s = self.ctx.wrap_socket(raw, server_hostname="localhost")
        s.settimeout(1.0)
        hdrs = ["GET /api/sessions/%s/events HTTP/1.1" % self.sid, "Host: localhost:%d" % self.port,
                "Accept: text/event-stream", "Cache-Control: no-cache", "Connection: close",
                "Authorization: Bearer " + self.token]
        if self.last_id:
            hdrs.append("Last-Event-ID: " + self.last_id)
        s.sendall(("\r\n".join(hdrs) + "\r\n\r\n").encode())
        buf, head, dech, parser = b"", None, None, sselib.SSEParser()
        try:
            while not self.stop:
                try:
                    data = s.recv(65536)
                except socket.timeout:
                    continue
                t = now_ms()
                if not data:
                    return
                if head is None:
                    buf += data
                    h = sselib.split_head(buf)
                    if h is None:
                        continue
                    head, data = h[:2], h[2]
                    if head[0] != 200:
                        raise RuntimeError("events: HTTP %d %r" % (head[0], data[:200]))
                    if "chunked" in head[1].get("transfer-encoding", "").lower():
                        dech = sselib.Dechunker()
                if dech is not None:
                    data = dech.feed(data)
                for name, d, eid in parser.feed(data):
                    try:
                        obj = json.loads(d)
                    except ValueError:
                        obj = d
                    if eid:
                        self.last_id = eid
                    if name == "snapshot":
                        self.ready.set()
                    self.q.put((name, obj, eid, t))
                if dech is not None and dech.done:
                    return
        finally:
            try:
                s.close()
            except OSError:
                pass


# ---------------------------------------------------------------------------
# the load
# ---------------------------------------------------------------------------
class User(threading.Thread):
    def __init__(self, idx, name, api, reader, sid, plan, a, t0, records, lock):
        super().__init__(daemon=True)
        self.idx, self.name, self.api, self.reader, self.sid = idx, name, api, reader, sid
        self.plan, self.a, self.t0, self.records, self.lock = plan, a, t0, records, lock
        self.errors = []

    def run(self):
        try:
            for k, p in enumerate(self.plan):
                time.sleep(p["think"])
                self.one_run(k, p)
        except Exception as e:  # noqa: BLE001
            self.errors.append("user %d: %r" % (self.idx, e))

    def one_run(self, k, p):
        content = "sched u=%d k=%d tool=%d l1=%d l2=%d" % (self.idx, k, int(p["tool"]), p["l1"], p["l2"])
        rec = {"user": self.idx, "k": k, "tool": p["tool"], "l1": p["l1"], "l2": p["l2"],
               "human_s": p["human"], "conflicts": 0, "perms": []}
        deadline = time.time() + self.a.run_timeout
        while True:
            rec["t_post"] = now_ms()
            st, js, raw = self.api.req("POST", "/api/sessions/%s/messages" % self.sid, {"content": content})
            rec["t_post_done"] = now_ms()
            if st == 202 and js and js.get("run_id"):
                break
            if st == 409 and time.time() < deadline:
                rec["conflicts"] += 1
                time.sleep(0.2)
                continue
            rec["final"] = "post_%d" % st
            rec["post_body"] = raw[:200].decode("utf-8", "replace")
            self.save(rec)
            return
        rid = rec["run_id"] = js["run_id"]
        rec["post_state"] = js.get("state")
        rec["post_ahead"] = js.get("ahead")
        q = self.reader.q
        while True:
            left = deadline - time.time()
            if left <= 0:
                rec["final"] = "timeout"
                break
            try:
                name, d, eid, t = q.get(timeout=min(left, 5))
            except queue.Empty:
                continue
            if not isinstance(d, dict) or d.get("run_id") != rid:
                continue
            ms = id_ms(eid)
            if name == "run.queued":
                rec.setdefault("queued_ms", ms)
                rec["queued_state"] = d.get("state")
                rec["queued_ahead"] = d.get("ahead")
            elif name == "run.queue_position":
                rec["positions"] = rec.get("positions", 0) + 1
            elif name == "run.started":
                rec.setdefault("started_ms", ms)
                rec.setdefault("started_recv", t)
                if d.get("resumed"):
                    rec["resumed"] = rec.get("resumed", 0) + 1
            elif name == "run.resumed":
                rec["resumed_ev"] = rec.get("resumed_ev", 0) + 1
            elif name == "permission.request":
                perm = {"request_ms": ms, "request_recv": t}
                rec["perms"].append(perm)
                time.sleep(p["human"])
                perm["t_answer"] = now_ms()
                st, _, _ = self.api.req("POST", "/api/sessions/%s/permissions/%s"
                                        % (self.sid, d.get("request_id")), {"decision": self.a.answer})
                perm["answer_status"] = st
                perm["t_answer_done"] = now_ms()
            elif name == "run.parked":
                if rec["perms"]:
                    rec["perms"][-1]["parked_ms"] = ms
            elif name == "run.continued" and d.get("reason") == "handoff":
                rec["handoffs"] = rec.get("handoffs", 0) + 1  # a quitting runner let it go
            elif name == "run.continued":
                if rec["perms"]:
                    rec["perms"][-1].setdefault("continued_ms", ms)
                    rec["perms"][-1]["continued_reason"] = d.get("reason")
            elif name == "permission.resolved":
                if rec["perms"]:
                    rec["perms"][-1].setdefault("resolved_ms", ms)
                    rec["perms"][-1]["decision"] = d.get("decision")
            elif name in FINAL:
                rec["final"] = name
                rec["final_ms"] = ms
                rec["final_recv"] = t
                if name == "run.error":
                    rec["error"] = "%s: %s" % (d.get("type"), d.get("message"))
                break
        self.save(rec)

    def save(self, rec):
        with self.lock:
            self.records.append(rec)


class Sampler(threading.Thread):
    def __init__(self, a, api, master, sockets, period=1.0):
        super().__init__(daemon=True)
        self.a, self.api, self.master, self.period = a, api, master, period
        self.ns = argparse.Namespace(master=master, api_socket=sockets[0], stream_socket=sockets[1],
                                     nginx=None, redis=None, extra=None)
        self.samples = []
        self.stop = threading.Event()

    def one(self):
        s = {"t": now_ms()}
        g = procmem.groups(self.ns)
        runners = g["runner_workers"]
        s["runners"] = len(runners)
        rp = rs = rr = 0
        for pid in runners:
            m = procmem.smaps(pid)
            if m:
                rp, rs, rr = rp + m[0], rs + m[1], rr + m[2]
        s["runners_private_kb"], s["runners_pss_kb"], s["runners_rss_kb"] = rp, rs, rr
        m = procmem.smaps(self.master) or (0, 0, 0)
        s["master_private_kb"], s["master_rss_kb"] = m[0], m[2]
        tp = tr = 0
        for pid in g["api_workers"] + g["stream_workers"]:
            m = procmem.smaps(pid)
            if m:
                tp, tr = tp + m[0], tr + m[2]
        s["other_workers_private_kb"], s["other_workers_rss_kb"] = tp, tr
        try:
            st, js, _ = self.api.req("GET", "/api/health", auth=False, timeout=5)
            s["health_runner_live"] = (((js or {}).get("checks") or {}).get("pools") or {}).get(
                "runner", {}).get("live")
        except Exception:  # noqa: BLE001
            s["health_runner_live"] = None
        try:
            st, _, raw = self.api.req("GET", "/api/metrics", auth=False, timeout=5)
            s["metrics"] = parse_metrics(raw.decode("utf-8", "replace")) if st == 200 else {}
        except Exception:  # noqa: BLE001
            s["metrics"] = {}
        self.samples.append(s)

    def run(self):
        nxt = time.monotonic()
        while not self.stop.is_set():
            try:
                self.one()
            except Exception as e:  # noqa: BLE001
                self.samples.append({"t": now_ms(), "error": repr(e)})
            nxt += self.period
            self.stop.wait(max(0.0, nxt - time.monotonic()))


METRIC_KEEP = re.compile(r'^(claude_web_runners|claude_web_runs_queued|claude_web_runs_parked|'
                         r'claude_web_runs\{|claude_web_run_queue_wait_seconds_(sum|count)|'
                         r'(claude_web_)?workers\{pool="runner")')


def parse_metrics(text):
    out = {}
    for ln in text.splitlines():
        if not ln or ln.startswith("#") or not METRIC_KEEP.match(ln):
            continue
        k, _, v = ln.rpartition(" ")
        try:
            out[k] = float(v)
        except ValueError:
            pass
    return out


def cpu_snapshot(master, extra):
    """(machine busy ticks w/o irq, our ns) where ours = master + its children
    (alive) + its reaped children + extra pids."""
    pids = [master] + procmem.children(master) + [p for p in extra if p]
    ours = sum(procmem.cputime(p) or 0 for p in pids) + procmem.reaped_ns(master)
    ours += int((os.times().user + os.times().system) * 1e9)
    return procmem.machine_busy()[1], ours, procmem.cpu_pressure_us()


def cmd_load(a):
    a.think, a.human, a.latency, a.start_spread = (parse_range(x) for x in
                                                   (a.think, a.human, a.latency, a.start_spread))
    ctx = sselib.tls_context(a.cafile)
    host, _, port = a.base.split("//", 1)[1].rstrip("/").partition(":")
    port = int(port or 443)
    plan = scenario(a)
    log = lambda *m: print("sched_load:", *m, file=sys.stderr, flush=True)  # noqa: E731

    # Accounts, logins, sessions.
    t_setup = time.time()

    def setup(u):
        name = "%s%03d" % (a.user_prefix, u)
        pw = "pw-%s-%d" % (os.urandom(6).hex(), u)
        p = subprocess.run([a.admin, "--config", a.config, "user", "add", name],
                           input=pw + "\n", capture_output=True, text=True)
        if p.returncode != 0:
            raise SystemExit("user add %s: %s %s" % (name, p.stdout, p.stderr))
        api = Api(host, port, ctx)
        st, js, raw = api.req("POST", "/api/auth/login", {"username": name, "password": pw}, auth=False)
        if st != 200 or not js or not js.get("token"):
            raise SystemExit("login %s: %d %r" % (name, st, raw[:200]))
        api.token = js["token"]
        st, js, raw = api.req("POST", "/api/sessions", {"title": "sched %d" % u,
                                                         "permission_mode": "default"})
        if st != 201:
            raise SystemExit("session of %s: %d %r" % (name, st, raw[:200]))
        return name, api, js["id"]
    # A few at a time: scrypt (user add, login) takes ~50 ms of CPU each.
    with concurrent.futures.ThreadPoolExecutor(4) as ex:
        users = list(ex.map(setup, range(a.users)))
    log("%d users, logins and sessions in %.1f s" % (a.users, time.time() - t_setup))
    readers = []
    for name, api, sid in users:
        r = SSEReader(host, port, ctx, api.token, sid)
        r.start()
        readers.append(r)
    for r in readers:
        if not r.ready.wait(30):
            raise SystemExit("an event stream gave no snapshot in 30 s: %s" % r.error)
    for r in readers:  # the snapshots
        while not r.q.empty():
            r.q.get_nowait()

    sockets = (a.api_socket, a.stream_socket)
    sampler = Sampler(a, Api(host, port, ctx), a.master, sockets)
    extra = [a.redis_pid, a.nginx_pid, a.fake_pid] + procmem.children(a.nginx_pid or 0)
    cpu0 = cpu_snapshot(a.master, extra)
    mono0 = time.monotonic()
    sampler.start()
    time.sleep(1.5)  # a baseline sample or two before the first message
    records, lock = [], threading.Lock()
    t0 = now_ms()
    threads = [User(i, users[i][0], users[i][1], readers[i], users[i][2], plan[i], a, t0, records, lock)
               for i in range(a.users)]
    for t in threads:
        t.start()
    last_report = time.time()
    while any(t.is_alive() for t in threads):
        time.sleep(0.5)
        if time.time() - last_report >= 15:
            last_report = time.time()
            with lock:
                n = len(records)
            log("%.0f s: %d of %d runs done" % ((now_ms() - t0) / 1000, n, a.users * a.runs))
    t_end = now_ms()
    time.sleep(a.tail)  # the pool after the load (idle retirement)
    sampler.stop.set()
    sampler.join(5)
    dt = time.monotonic() - mono0
    extra = [a.redis_pid, a.nginx_pid, a.fake_pid] + procmem.children(a.nginx_pid or 0)
    cpu1 = cpu_snapshot(a.master, extra)
    for r in readers:
        r.stop = True
    hz = procmem.HZ
    machine = (cpu1[0] - cpu0[0]) / hz / dt
    ours = (cpu1[1] - cpu0[1]) / 1e9 / dt
    cpu = {"seconds": round(dt, 1), "machine_cores_busy": round(machine, 3),
           "ours_cores": round(ours, 3), "others_cores": round(max(0.0, machine - ours), 3)}
    if cpu0[2] is not None and cpu1[2] is not None:
        cpu["cpu_pressure_pct"] = round((cpu1[2] - cpu0[2]) / 1e4 / dt, 1)
    out = {"label": a.label, "users": a.users, "runs": a.runs, "seed": a.seed,
           "params": {"think": a.think, "human": a.human, "latency": a.latency,
                      "start_spread": a.start_spread, "tool_pct": a.tool_pct, "answer": a.answer},
           "t0": t0, "t_end": t_end, "wall_s": (t_end - t0) / 1000.0, "cpu": cpu,
           "records": sorted(records, key=lambda r: (r["user"], r["k"])),
           "samples": sampler.samples,
           "sse_reconnects": sum(r.reconnects for r in readers),
           "errors": [e for t in threads for e in t.errors]}
    with open(a.out, "w") as f:
        json.dump(out, f)
    log("done: %d runs in %.1f s" % (len(records), out["wall_s"]))
    return 0


# ---------------------------------------------------------------------------
# report
# ---------------------------------------------------------------------------
def pct(vals, p):
    v = sorted(vals)
    return sselib.percentile(v, p) if v else None


def analyse(d):
    recs = d["records"]
    msg_waits, cont_waits, per_user, visible, park, msg_k = [], [], {}, [], [], []
    finals = {}
    for r in recs:
        finals[r.get("final", "?")] = finals.get(r.get("final", "?"), 0) + 1
        w = []
        q = r.get("queued_ms") or r.get("t_post")
        if r.get("started_ms") is not None and q is not None:
            x = max(0.0, r["started_ms"] - q) / 1000.0
            msg_waits.append(x)
            msg_k.append(r["k"])
            w.append(x)
        human = 0.0
        for p in r.get("perms", []):
            if p.get("parked_ms") is not None and p.get("request_ms") is not None:
                park.append(max(0.0, p["parked_ms"] - p["request_ms"]) / 1000.0)
            c = p.get("continued_ms") or p.get("resolved_ms")
            if c is not None and p.get("t_answer") is not None:
                x = max(0.0, c - p["t_answer"]) / 1000.0
                cont_waits.append(x)
                w.append(x)
            if p.get("t_answer") is not None and p.get("request_recv") is not None:
                human += (p["t_answer"] - p["request_recv"]) / 1000.0
        per_user.setdefault(r["user"], []).extend(w)
        if r.get("final_ms") is not None and q is not None:
            visible.append((r["final_ms"] - q) / 1000.0 - human)
    users_p99 = sorted((pct(v, 99), u) for u, v in per_user.items() if v)
    users_p50 = sorted(pct(v, 50) for v in per_user.values() if v)
    return {"msg": msg_waits, "cont": cont_waits, "users_p99": users_p99, "users_p50": users_p50,
            "visible": visible, "finals": finals, "park": park, "msg_k": msg_k}


def fmt_s(x):
    if x is None:
        return "-"
    if x < 0.1:
        return "%.0f ms" % (x * 1000)
    if x < 10:
        return "%.2f s" % x
    return "%.1f s" % x


def dist(vals):
    if not vals:
        return "n=0"
    return "%s / %s / %s" % (fmt_s(pct(vals, 50)), fmt_s(pct(vals, 99)), fmt_s(max(vals)))


def minavgmax(vals, f="%.0f"):
    vals = [v for v in vals if v is not None]
    if not vals:
        return "-"
    return (f + " / " + f + " / " + f) % (min(vals), sum(vals) / len(vals), max(vals))


GLYPHS = "0123456789abcdefghijklmnopqrstuvwxyz+"


def timeline(samples, key, step):
    """One character per STEP seconds: the max of KEY in it (0-9, a=10 ... z=35, + more)."""
    pts = [(s["t"], key(s)) for s in samples if key(s) is not None]
    if not pts:
        return ""
    t_first = pts[0][0]
    cells = {}
    for t, v in pts:
        i = int((t - t_first) / 1000.0 // step)
        cells[i] = max(cells.get(i, 0), v)
    n = max(cells) + 1
    for i in range(1, n):  # a sample that slipped into the next second
        if i not in cells and i - 1 in cells and i + 1 in cells:
            cells[i] = cells[i - 1]
    return "".join(GLYPHS[min(int(cells[i]), len(GLYPHS) - 1)] if i in cells else "." for i in range(n))


def metric(s, prefix):
    m = s.get("metrics") or {}
    tot, seen = 0.0, False
    for k, v in m.items():
        if k.startswith(prefix):
            tot += v
            seen = True
    return tot if seen else None


def waiting_for_runner(d):
    """Per sample: runs waiting for a runner (queued, or answered and not yet
    picked up), from the records' own times."""
    ivals = []
    for r in d["records"]:
        q = r.get("queued_ms") or r.get("t_post")
        if q is not None:
            ivals.append((q, r.get("started_ms") or r.get("final_ms") or d["t_end"]))
        for p in r.get("perms", []):
            c = p.get("continued_ms") or p.get("resolved_ms")
            if p.get("t_answer") is not None:
                ivals.append((p["t_answer"], c or d["t_end"]))
    return lambda s: sum(1 for a, b in ivals if a <= s["t"] < b)


def waiting_for_human(d):
    ivals = [(p["request_ms"], p.get("t_answer") or d["t_end"]) for r in d["records"]
             for p in r.get("perms", []) if p.get("request_ms")]
    return lambda s: sum(1 for a, b in ivals if a <= s["t"] < b)


def cmd_report(a):
    cols = []
    for spec in a.inputs:
        label, _, path = spec.partition("=")
        with open(path) as f:
            d = json.load(f)
        cols.append((label, d, analyse(d)))
    rows = []

    def row(name, fn):
        rows.append((name, [fn(d, x) for _, d, x in cols]))

    def run_samples(d):
        return [s for s in d["samples"] if "runners" in s and d["t0"] <= s["t"] <= d["t_end"] + 1000]

    row("users x runs (tool %)", lambda d, x: "%d x %d (%g %%)" % (d["users"], d["runs"], d["params"]["tool_pct"]))
    row("runs: final events", lambda d, x: ", ".join("%s %d" % (k.replace("run.", ""), v)
                                                      for k, v in sorted(x["finals"].items())))
    row("  of which with a permission prompt", lambda d, x: "%d" % sum(1 for r in d["records"] if r["perms"]))
    row("total wall time", lambda d, x: "%.1f s" % d["wall_s"])
    row("queue wait, message (queued -> started)", lambda d, x: "n=%d" % len(x["msg"]))
    row("  p50 / p99 / max", lambda d, x: dist(x["msg"]))
    row("  first messages p50 / p99 / max", lambda d, x: dist(
        [w for w, k in zip(x["msg"], x["msg_k"]) if k == 0]))
    row("  later messages p50 / p99 / max", lambda d, x: dist([w for w, k in zip(x["msg"], x["msg_k"]) if k > 0]))
    row("continuation wait (answer -> picked up)", lambda d, x: "n=%d" % len(x["cont"]))
    row("  p50 / p99 / max", lambda d, x: dist(x["cont"]))
    row("prompt -> runner let go (run.parked)", lambda d, x: dist(x["park"]) if x["park"] else "- (no parking)")
    row("per user p50 (all waits): median user", lambda d, x: fmt_s(pct(x["users_p50"], 50)))
    row("per user p99 (all waits): median user", lambda d, x: fmt_s(pct([v for v, _ in x["users_p99"]], 50)))
    row("  p90 user", lambda d, x: fmt_s(pct([v for v, _ in x["users_p99"]], 90)))
    row("  worst user", lambda d, x: ("%s (user %d)" % (fmt_s(x["users_p99"][-1][0]), x["users_p99"][-1][1])
                                       if x["users_p99"] else "-"))
    row("  best user", lambda d, x: fmt_s(x["users_p99"][0][0]) if x["users_p99"] else "-")
    row("run time seen by the user, minus human", lambda d, x: dist(x["visible"]))
    row("  (p50 / p99 / max)", lambda d, x: "")
    row("runner processes min / avg / max", lambda d, x: minavgmax([s["runners"] for s in run_samples(d)], "%.1f"))
    row("/api/health runner live min/avg/max", lambda d, x: minavgmax(
        [s.get("health_runner_live") for s in run_samples(d)], "%.1f"))
    row("runners' RSS, MB min / avg / max", lambda d, x: minavgmax(
        [s["runners_rss_kb"] / 1024 for s in run_samples(d)], "%.1f"))
    row("runners' private, MB min / avg / max", lambda d, x: minavgmax(
        [s["runners_private_kb"] / 1024 for s in run_samples(d)], "%.1f"))
    row("runners' PSS, MB min / avg / max", lambda d, x: minavgmax(
        [s["runners_pss_kb"] / 1024 for s in run_samples(d) if "runners_pss_kb" in s], "%.1f"))
    row("  RSS per runner, MB (avg)", lambda d, x: minavgmax(
        [s["runners_rss_kb"] / 1024 / s["runners"] for s in run_samples(d) if s["runners"]], "%.1f").split(" / ")[1])
    row("master RSS / private, MB (max)", lambda d, x: "%.1f / %.1f" % (
        max([s["master_rss_kb"] for s in run_samples(d)] or [0]) / 1024,
        max([s["master_private_kb"] for s in run_samples(d)] or [0]) / 1024))
    row("api+stream workers private, MB (max)", lambda d, x: "%.1f" % (
        max([s["other_workers_private_kb"] for s in run_samples(d)] or [0]) / 1024))
    row("server queue-wait histogram mean", lambda d, x: server_hist(d))
    row("409 on POST (retried)", lambda d, x: "%d" % sum(r.get("conflicts", 0) for r in d["records"]))
    row("run.resumed / handoffs / SSE reconnects", lambda d, x: "%d / %d / %d" % (
        sum(r.get("resumed_ev", 0) for r in d["records"]),
        sum(r.get("handoffs", 0) for r in d["records"]), d.get("sse_reconnects", 0)))
    row("CPU: stack+load / other work (cores)", lambda d, x: "%.2f / %.2f" % (
        d["cpu"]["ours_cores"], d["cpu"]["others_cores"]))
    row("CPU pressure (PSI some)", lambda d, x: "%s %%" % d["cpu"].get("cpu_pressure_pct", "?"))
    w0 = max(len(r[0]) for r in rows) + 2
    wc = [max(len(c[0]), *(len(r[1][i]) for r in rows)) + 2 for i, c in enumerate(cols)]
    lines = ["%-*s" % (w0, "") + "".join("%-*s" % (wc[i], c[0]) for i, c in enumerate(cols))]
    for name, vals in rows:
        lines.append(("%-*s" % (w0, name) + "".join("%-*s" % (wc[i], v) for i, v in enumerate(vals))).rstrip())
    print("\n".join(lines))
    errs = [(c[0], e) for c in cols for e in c[1].get("errors", [])]
    errs += [(c[0], "run %d/%d: %s" % (r["user"], r["k"], r.get("error") or r.get("final")))
             for c in cols for r in c[1]["records"] if r.get("final") != "run.finished"]
    if errs:
        print()
        print("problems:")
        for label, e in errs[:30]:
            print("  %s: %s" % (label, e))
    print()
    print("timelines, from the first message to the end of the sampling (one character = the maximum")
    # The same scale for every column: the longest load fills WIDTH characters.
    span = max(max((s["t"] for s in d["samples"]), default=d["t0"]) - d["t0"] for _, d, _ in cols)
    step = max(1, int(-(-(span / 1000.0) // a.width)))
    print("in %d s: 0-9, a=10 ... g=16 ... z=35, + more; '.' no sample), same scale for every column:" % step)
    for label, d, x in cols:
        samples = [s for s in d["samples"] if "runners" in s and s["t"] >= d["t0"] - 500]
        print("  %s:" % label)
        for title, key in (("runner processes", lambda s: s["runners"]),
                           ("runners busy (metrics)", busy_key(samples)),
                           ("runs waiting for a runner", waiting_for_runner(d)),
                           ("runs waiting for a person", waiting_for_human(d)),
                           ("runs queued (metrics)", gauge_key(samples, "claude_web_runs_queued")),
                           ("runs parked (metrics)", gauge_key(samples, "claude_web_runs_parked"))):
            if key is None:
                continue
            line = timeline(samples, key, step)
            if line:
                print("    %-27s |%s|" % (title, line))
    return 0


def gauge_key(samples, prefix):
    if any(metric(s, prefix) is not None for s in samples):
        return lambda s: metric(s, prefix)
    return None


def busy_key(samples):
    for pref in ('claude_web_runners{state="busy"', 'workers{pool="runner",state="busy"',
                 'claude_web_workers{pool="runner",state="busy"'):
        if any(metric(s, pref) is not None for s in samples):
            return lambda s, p=pref: metric(s, p)
    return None


def server_hist(d):
    for s in reversed(d["samples"]):
        m = s.get("metrics") or {}
        n = m.get("claude_web_run_queue_wait_seconds_count")
        if n:
            return "%s (n=%d)" % (fmt_s(m.get("claude_web_run_queue_wait_seconds_sum", 0) / n), n)
    return "-"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    f = sub.add_parser("fake")
    f.add_argument("--host", default="127.0.0.1")
    f.add_argument("--port", type=int, default=0)
    f.add_argument("--port-file")
    ld = sub.add_parser("load")
    ld.add_argument("--base", required=True, help="https://localhost:PORT")
    ld.add_argument("--cafile")
    ld.add_argument("--config", required=True, help="the stack's claude-web.env")
    ld.add_argument("--admin", required=True, help="claude-web-admin")
    ld.add_argument("--master", type=int, required=True)
    ld.add_argument("--api-socket", required=True)
    ld.add_argument("--stream-socket", required=True)
    ld.add_argument("--redis-pid", type=int, default=0)
    ld.add_argument("--nginx-pid", type=int, default=0)
    ld.add_argument("--fake-pid", type=int, default=0)
    ld.add_argument("--out", required=True)
    ld.add_argument("--label", default="")
    ld.add_argument("--users", type=int, default=50)
    ld.add_argument("--runs", type=int, default=3)
    ld.add_argument("--seed", type=int, default=11)
    ld.add_argument("--tool-pct", type=float, default=30)
    ld.add_argument("--think", default="0,3", help="seconds between a run's end and the next message")
    ld.add_argument("--start-spread", default="0,3", help="seconds before a user's first message")
    ld.add_argument("--human", default="2,20", help="seconds before a permission is answered")
    ld.add_argument("--latency", default="0.3,2", help="seconds each model call streams")
    ld.add_argument("--answer", default="allow", choices=("allow", "deny"))
    ld.add_argument("--run-timeout", type=float, default=900)
    ld.add_argument("--tail", type=float, default=0, help="seconds sampled after the load")
    ld.add_argument("--user-prefix", default="sched")
    rp = sub.add_parser("report")
    rp.add_argument("inputs", nargs="+", help="LABEL=results.json")
    rp.add_argument("--width", type=int, default=72)
    a = ap.parse_args()
    return {"fake": cmd_fake, "load": cmd_load, "report": cmd_report}[a.cmd](a)


if __name__ == "__main__":
    sys.exit(main())
