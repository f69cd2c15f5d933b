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
Standard library only (asyncio + ssl).
"""
import argparse
import asyncio
import collections
import json
import os
import resource
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


async def one(a, ctx, sid, s, sem, opened_evt):
    try:
        async with sem:
            r, w = await asyncio.wait_for(
                asyncio.open_connection(a.host, a.port, ssl=ctx, server_hostname=a.host),
                timeout=a.timeout)
            s.writer = w
            w.write(("GET /api/sessions/%s/events HTTP/1.1\r\nHost: %s:%d\r\n"
                     "Authorization: Bearer %s\r\nAccept: text/event-stream\r\n\r\n"
                     % (sid, a.host, a.port, a.token)).encode())
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
                s.status = "closed"
                s.reason = "EOF while held"
                return
    except asyncio.CancelledError:
        raise
    except asyncio.TimeoutError:
        s.status, s.reason = "failed", "timeout"
    except Exception as e:  # noqa: BLE001 - report every failure kind
        if s.status == "open":
            s.status, s.reason = "closed", "%s while held" % type(e).__name__
        else:
            s.status = "failed"
            s.reason = "%s: %s" % (type(e).__name__, str(e)[:80])
    finally:
        opened_evt(final=True)


async def main_async(a):
    ctx = sselib.tls_context(a.cafile)
    sids = a.sessions.split(",")
    sem = asyncio.Semaphore(a.concurrency)
    streams = [Stream() for _ in range(a.count)]
    all_done = asyncio.Event()

    def opened_evt(final=False):
        # An attempt is settled when it is open, or when it ends before opening.
        s_settled = sum(1 for s in streams if s.status != "connecting")
        if s_settled >= a.count:
            all_done.set()

    t0 = time.monotonic()
    tasks = [asyncio.create_task(one(a, ctx, sids[i % len(sids)], streams[i], sem, opened_evt))
             for i in range(a.count)]
    try:
        await asyncio.wait_for(all_done.wait(), timeout=a.open_timeout)
    except asyncio.TimeoutError:
        pass
    t_open = time.monotonic() - t0
    fails = collections.Counter(s.reason for s in streams if s.status == "failed")
    ready = {"requested": a.count,
             "opened_with_snapshot": sum(1 for s in streams if s.status == "open"),
             "still_connecting": sum(1 for s in streams if s.status == "connecting"),
             "failed": sum(1 for s in streams if s.status == "failed"),
             "failures": dict(fails),
             "closed_early": sum(1 for s in streams if s.status == "closed"),
             "open_seconds": round(t_open, 3),
             "client_nofile": resource.getrlimit(resource.RLIMIT_NOFILE)[0],
             "client_maxrss_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}
    tmp = a.ready_file + ".tmp"
    with open(tmp, "w") as f:
        json.dump(ready, f)
    os.replace(tmp, a.ready_file)

    t_hold = time.monotonic()
    while not os.path.exists(a.stop_file) and time.monotonic() - t_hold < a.max_hold:
        await asyncio.sleep(0.2)
    closed = collections.Counter(s.reason for s in streams if s.status == "closed")
    result = dict(ready,
                  still_open=sum(1 for s in streams if s.status == "open"),
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
    tmp = a.result_file + ".tmp"
    with open(tmp, "w") as f:
        json.dump(result, f)
    os.replace(tmp, a.result_file)
    return 0


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--host", default="localhost")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--cafile")
    ap.add_argument("--token", required=True)
    ap.add_argument("--sessions", required=True, help="comma-separated session ids")
    ap.add_argument("--count", type=int, default=1000)
    ap.add_argument("--concurrency", type=int, default=64)
    ap.add_argument("--timeout", type=float, default=20, help="per connection step")
    ap.add_argument("--open-timeout", type=float, default=120)
    ap.add_argument("--max-hold", type=float, default=600)
    ap.add_argument("--ready-file", required=True)
    ap.add_argument("--stop-file", required=True)
    ap.add_argument("--result-file", required=True)
    a = ap.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = min(hard, max(soft, a.count + 256))
    if want > soft:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
    return asyncio.run(main_async(a))


if __name__ == "__main__":
    sys.exit(main())
