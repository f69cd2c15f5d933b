#!/usr/bin/env python3
"""bench/sse_hold.py: open many concurrent idle SSE streams and hold them.

Opens --count connections (TLS, HTTP/1.1, one stream per connection) to
GET /api/sessions/<id>/events, spread round-robin over --sessions, at most
--concurrency handshakes at a time. Each connection must answer 200 and
deliver the `snapshot` event; it is then kept open and read (pings are
discarded) until the stop file appears. When every attempt has finished it
writes --ready-file (JSON: opened, with_snapshot, failures by reason, time
to open); after --stop-file appears it writes --result-file with how many
were still open (no EOF, no error) at that moment, closes them and exits.

Many connections: --procs processes (default one per 2500 connections),
each with its own asyncio loop and its share of the connections; the parent
adds their reports up. --targets FILE (JSON [[token, session], ...]) spreads
the connections over several users (MAX_STREAMS_PER_USER), instead of
--token and --sessions.

Closed-client notice: when --close-file appears (its content: how many
streams K to close), the parent reads the server's open-stream gauge
(--metric in --metrics-url, Prometheus text), then has the processes close K
held streams at once (socket shutdown: FIN at once, as a browser closing a tab),
and polls the gauge every few ms until it has dropped by K (or
--notice-timeout). It writes --close-result (JSON): for the K streams, the
time from the first close() to the poll that saw the gauge drop, as
n/p50/p99/max in ms (a drop by j counts j streams noticed at that time),
how many were noticed, and the spread of the close() calls themselves.
Standard library only (asyncio + ssl).
"""
import argparse
import asyncio
import collections
import http.client
import json
import multiprocessing as mp
import os
import re
import resource
import socket
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))
sys.dont_write_bytecode = True  # no __pycache__ in the source tree
import sselib  # noqa: E402


class Stream:
    def __init__(self):
        self.status = "connecting"   # connecting | open | closed | failed
        self.reason = None
        self.writer = None
        self.events = 0


async def one(a, ctx, tok, sid, s, sem, opened_evt):
    try:
        async with sem:
            r, w = await asyncio.wait_for(
                asyncio.open_connection(a.host, a.port, ssl=ctx, server_hostname=a.host),
                timeout=a.timeout)
            s.writer = w
            w.write(("GET /api/sessions/%s/events HTTP/1.1\r\nHost: %s:%d\r\n"
                     "Authorization: Bearer %s\r\nAccept: text/event-stream\r\n\r\n"
                     % (sid, a.host, a.port, tok)).encode())
            await w.drain()
            buf = b""
            head = None
            while head is None:
                data = await asyncio.wait_for(r.read(65536), timeout=a.timeout)
                if not data:
                    raise ConnectionError("EOF before the response head")
                buf += data
                head = sselib.split_head(buf)
            status, hdrs, rest = head
            if status != 200:
                raise ConnectionError("HTTP %d" % status)
            dech = sselib.Dechunker() if "chunked" in hdrs.get("transfer-encoding", "").lower() else None
            parser = sselib.SSEParser()
            got = False
            data = rest
            while True:
                body = dech.feed(data) if dech else data
                evs = parser.feed(body)
                s.events += len(evs)
                if any(e[0] == "snapshot" for e in evs):
                    got = True
                    break
                data = await asyncio.wait_for(r.read(65536), timeout=a.timeout)
                if not data:
                    raise ConnectionError("EOF before the snapshot")
            if not got:
                raise ConnectionError("no snapshot")
        s.status = "open"
        opened_evt()
        # Hold: keep reading (pings) until EOF or cancellation.
        while True:
            data = await r.read(65536)
            if not data:
                if s.reason is None:
                    s.status = "closed"
                    s.reason = "EOF while held"
                return
    except asyncio.CancelledError:
        raise
    except asyncio.TimeoutError:
        s.status, s.reason = "failed", "timeout"
    except Exception as e:  # noqa: BLE001 - report every failure kind
        if s.status == "closed":
            pass    # closed by the bench (close test), or EOF already recorded
        elif s.status == "open":
            s.status, s.reason = "closed", "%s while held" % type(e).__name__
        else:
            s.status = "failed"
            s.reason = "%s: %s" % (type(e).__name__, str(e)[:80])
    finally:
        opened_evt(final=True)


def shard_files(a, i):
    return ("%s.%d" % (a.ready_file, i), "%s.%d" % (a.result_file, i),
            "%s.go" % a.close_file if a.close_file else None,
            "%s.%d" % (a.close_result, i) if a.close_result else None)


async def main_async(a, targets, shard):
    ready_file, result_file, close_go, close_out = shard_files(a, shard)
    ctx = sselib.tls_context(a.cafile)
    sem = asyncio.Semaphore(a.concurrency)
    count = len(targets)
    streams = [Stream() for _ in range(count)]
    all_done = asyncio.Event()

    def opened_evt(final=False):
        # An attempt is settled when it is open, or when it ends before opening.
        s_settled = sum(1 for s in streams if s.status != "connecting")
        if s_settled >= count:
            all_done.set()

    t0 = time.monotonic()
    tasks = [asyncio.create_task(one(a, ctx, targets[i][0], targets[i][1], streams[i], sem, opened_evt))
             for i in range(count)]
    if count == 0:
        all_done.set()
    try:
        await asyncio.wait_for(all_done.wait(), timeout=a.open_timeout)
    except asyncio.TimeoutError:
        pass
    t_open = time.monotonic() - t0
    fails = collections.Counter(s.reason for s in streams if s.status == "failed")
    ready = {"requested": count,
             "opened_with_snapshot": sum(1 for s in streams if s.status == "open"),
             "still_connecting": sum(1 for s in streams if s.status == "connecting"),
             "failed": sum(1 for s in streams if s.status == "failed"),
             "failures": dict(fails),
             "closed_early": sum(1 for s in streams if s.status == "closed"),
             "open_seconds": round(t_open, 3),
             "client_nofile": resource.getrlimit(resource.RLIMIT_NOFILE)[0],
             "client_maxrss_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}
    write_json(ready_file, ready)

    t_hold = time.monotonic()
    closed_by_us = 0
    while not os.path.exists(a.stop_file) and time.monotonic() - t_hold < a.max_hold:
        if close_go and not closed_by_us and os.path.exists(close_go):
            k = share(int(open(close_go).read().strip() or 0), a.nshards, shard)
            victims = [s for s in streams if s.status == "open"][:k]
            tc0 = time.monotonic()
            for s in victims:
                s.status, s.reason = "closed", "closed by the bench"
                # As a browser closing a tab: FIN now. (writer.close() would
                # send close_notify and wait up to 30 s for the server's
                # before the FIN.)
                try:
                    s.writer.get_extra_info("socket").shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                s.writer.transport.abort()
            tc1 = time.monotonic()
            closed_by_us = len(victims) or -1
            write_json(close_out, {"closed": len(victims), "t0": tc0, "t1": tc1})
        await asyncio.sleep(0.01 if close_go and not closed_by_us else 0.2)
    closed = collections.Counter(s.reason for s in streams
                                 if s.status == "closed" and s.reason != "closed by the bench")
    result = dict(ready,
                  still_open=sum(1 for s in streams if s.status == "open"),
                  closed_by_the_bench=max(0, closed_by_us),
                  closed_while_held=sum(closed.values()),
                  close_reasons=dict(closed),
                  held_seconds=round(time.monotonic() - t_hold, 3))
    for t in tasks:
        t.cancel()
    for s in streams:
        if s.writer is not None:
            try:
                s.writer.close()
            except Exception:  # noqa: BLE001
                pass
    await asyncio.gather(*tasks, return_exceptions=True)
    write_json(result_file, result)
    return 0


def share(k, n, i):
    """Shard I's part of K items over N shards."""
    return k // n + (1 if i < k % n else 0)


def write_json(path, obj):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(obj, f)
    os.replace(tmp, path)


def read_json(path):
    with open(path) as f:
        return json.load(f)


def add_up(parts):
    """One report from the shards' reports: counts added, dicts merged, times maxed."""
    out = {}
    for p in parts:
        for k, v in p.items():
            if isinstance(v, bool):
                out[k] = v
            elif k in ("open_seconds", "held_seconds", "client_nofile"):
                out[k] = max(out.get(k, 0), v)
            elif isinstance(v, (int, float)):
                out[k] = out.get(k, 0) + v
            elif isinstance(v, dict):
                d = out.setdefault(k, {})
                for kk, vv in v.items():
                    d[kk] = d.get(kk, 0) + vv
    out["procs"] = len(parts)
    return out


def gauge(conn, a):
    conn.request("GET", a.metrics_path)
    r = conn.getresponse()
    body = r.read().decode("utf-8", "replace")
    if r.status != 200:
        raise RuntimeError("GET %s: HTTP %d" % (a.metrics_path, r.status))
    m = re.search(r"^%s(?:\{[^}]*\})? ([0-9.e+]+)$" % re.escape(a.metric), body, re.M)
    if m is None:
        raise RuntimeError("no %s in %s" % (a.metric, a.metrics_path))
    return float(m.group(1))


def close_probe(a):
    """Closes K streams (through the shards) and times until the gauge shows it."""
    k = int(open(a.close_file).read().strip() or 0)
    ctx = sselib.tls_context(a.cafile)
    conn = http.client.HTTPSConnection(a.host, a.port, context=ctx, timeout=5)
    g0 = gauge(conn, a)
    with open(a.close_file + ".go", "w") as f:
        f.write("%d\n" % k)
    samples = []
    t_end = time.monotonic() + a.notice_timeout
    while time.monotonic() < t_end:
        g = gauge(conn, a)
        samples.append((time.monotonic(), g))
        if g <= g0 - k:
            break
        time.sleep(0.005)
    outs = []
    for i in range(a.nshards):
        p = shard_files(a, i)[3]
        for _ in range(500):
            if os.path.exists(p):
                outs.append(read_json(p))
                break
            time.sleep(0.01)
    closed = sum(o["closed"] for o in outs)
    tc0 = min((o["t0"] for o in outs), default=0.0)
    tc1 = max((o["t1"] for o in outs), default=0.0)
    lat, seen = [], 0
    for t, g in samples:
        dropped = min(closed, int(round(g0 - g)))
        while seen < dropped:
            lat.append(max(0.0, t - tc0))
            seen += 1
    lat.sort()
    res = {"requested": k, "closed": closed, "gauge_before": g0,
           "gauge_after": samples[-1][1] if samples else None, "noticed": seen,
           "close_spread_ms": round((tc1 - tc0) * 1000, 3), "polls": len(samples),
           "poll_ms": round((samples[-1][0] - samples[0][0]) * 1000 / max(1, len(samples) - 1), 2)
           if len(samples) > 1 else None, "timeout_s": a.notice_timeout}
    if lat:
        res.update(p50_ms=round(sselib.percentile(lat, 50) * 1000, 1),
                   p99_ms=round(sselib.percentile(lat, 99) * 1000, 1),
                   max_ms=round(lat[-1] * 1000, 1))
    write_json(a.close_result, res)


def run_shard(a, targets, i):
    sys.exit(asyncio.run(main_async(a, targets, i)))


def parent(a, targets):
    n = a.nshards
    procs = []
    for i in range(n):
        p = mp.Process(target=run_shard, args=(a, targets[i::n], i))
        p.start()
        procs.append(p)
    def wait_files(paths):
        while not all(os.path.exists(p) for p in paths):
            if not any(p.is_alive() for p in procs):
                break
            time.sleep(0.1)
        return [read_json(p) for p in paths if os.path.exists(p)]
    ready = add_up(wait_files([shard_files(a, i)[0] for i in range(n)]))
    ready["requested"] = len(targets)
    write_json(a.ready_file, ready)
    probed = False
    while not os.path.exists(a.stop_file):
        if a.close_file and not probed and os.path.exists(a.close_file):
            probed = True
            try:
                close_probe(a)
            except Exception as e:  # noqa: BLE001
                write_json(a.close_result, {"error": "%s: %s" % (type(e).__name__, e)})
        if not any(p.is_alive() for p in procs):
            break
        time.sleep(0.05)
    result = add_up(wait_files([shard_files(a, i)[1] for i in range(n)]))
    result["requested"] = len(targets)
    for p in procs:
        p.join(timeout=10)
    write_json(a.result_file, result)
    return 0


# asyncio gives every TLS connection a 256 kB read buffer (2.5 GB for 10,000
# idle streams); a TLS record is at most 16 kB.
try:
    import asyncio.sslproto
    if getattr(asyncio.sslproto.SSLProtocol, "max_size", 0) > 32 * 1024:
        asyncio.sslproto.SSLProtocol.max_size = 32 * 1024
except (ImportError, AttributeError):
    pass


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--host", default="localhost")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--cafile")
    ap.add_argument("--token")
    ap.add_argument("--sessions", help="comma-separated session ids")
    ap.add_argument("--targets", help="JSON file [[token, session], ...] instead of --token/--sessions")
    ap.add_argument("--procs", type=int, default=0, help="processes (0: one per 2500 connections)")
    ap.add_argument("--close-file", help="when it appears (content: K), close K streams and time the notice")
    ap.add_argument("--close-result", help="JSON report of the closed-client notice")
    ap.add_argument("--metrics-path", default="/api/metrics")
    ap.add_argument("--metric", default="claude_web_event_streams")
    ap.add_argument("--notice-timeout", type=float, default=20)
    ap.add_argument("--count", type=int, default=1000)
    ap.add_argument("--concurrency", type=int, default=64)
    ap.add_argument("--timeout", type=float, default=20, help="per connection step")
    ap.add_argument("--open-timeout", type=float, default=120)
    ap.add_argument("--max-hold", type=float, default=600)
    ap.add_argument("--ready-file", required=True)
    ap.add_argument("--stop-file", required=True)
    ap.add_argument("--result-file", required=True)
    a = ap.parse_args()
    if a.targets:
        pairs = read_json(a.targets)
    elif a.token and a.sessions:
        pairs = [(a.token, s) for s in a.sessions.split(",")]
    else:
        ap.error("--targets, or --token and --sessions")
    targets = [tuple(pairs[i % len(pairs)]) for i in range(a.count)]
    a.nshards = a.procs if a.procs > 0 else max(1, (a.count + 2499) // 2500)
    if a.close_file and not a.close_result:
        ap.error("--close-file needs --close-result")
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = a.count // a.nshards + 512
    if want > hard:
        try:  # root may raise the hard limit
            resource.setrlimit(resource.RLIMIT_NOFILE, (want, want))
            soft, hard = want, want
        except (ValueError, OSError):
            pass
    if min(hard, want) > soft:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, want), hard))
    return parent(a, targets)


if __name__ == "__main__":
    sys.exit(main())
