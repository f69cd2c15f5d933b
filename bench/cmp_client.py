#!/usr/bin/env python3
"""bench/cmp_client.py: seeding and checks for bench/compare.sh, the same
calls against claude-web and the FastAPI peer (HTTPS, kept-alive
connections, a few threads; standard library only).

  cmp_client.py login    --base URL --cafile F --password PW --users U1,U2,... --out TOKENS.json
  cmp_client.py sessions --base URL --cafile F --tokens TOKENS.json --users U1,... --count N
  cmp_client.py check    --base URL --cafile F --tokens TOKENS.json --users U1,... --expect N [--path P]
  cmp_client.py lua      --tokens TOKENS.json --users U1,... --path P --out FILE.lua

login: POST /api/auth/login for each user, tokens into a JSON object
{user: token}. sessions: POST /api/sessions COUNT times for each user
(claude-web; the peer is seeded in Redis by peer_fastapi/seed_redis.py).
check: GET PATH (/api/sessions) with each user's token must answer 200 with
EXPECT sessions; prints {"users": n, "bytes": size of the first answer}.
lua: a wrk script that sends GET PATH with the next user's token on every
request (rotating over the users).
"""
import argparse
import http.client
import json
import sys
import threading
import time
import urllib.parse

sys.path.insert(0, __import__("os").path.dirname(__file__))
sys.dont_write_bytecode = True  # no __pycache__ in the source tree
import sselib  # noqa: E402


class Client:
    def __init__(self, a):
        u = urllib.parse.urlsplit(a.base)
        self.host, self.port = u.hostname, u.port or 443
        self.ctx = sselib.tls_context(a.cafile)
        self.c = None

    retried = 0   # 502/503 answers retried (reported on stderr)

    def req(self, method, path, body=None, token=None, retry_502=True):
        for attempt in range(4):
            st, data = self.req1(method, path, body, token)
            if st not in (502, 503) or not retry_502 or attempt == 3:
                return st, data
            Client.retried += 1
            sys.stderr.write("cmp_client: %s %s answered %d, retrying\n" % (method, path, st))
            time.sleep(0.2 * (attempt + 1))
        raise AssertionError("unreachable")

    def req1(self, method, path, body=None, token=None):
        hdrs = {"Content-Type": "application/json"}
        if token:
            hdrs["Authorization"] = "Bearer " + token
        for attempt in (0, 1):
            if self.c is None:
                self.c = http.client.HTTPSConnection(self.host, self.port, context=self.ctx, timeout=30)
            try:
                self.c.request(method, path, body=json.dumps(body) if body is not None else None,
                               headers=hdrs)
                r = self.c.getresponse()
                data = r.read()
                if r.getheader("connection", "").lower() == "close":
                    self.c.close()
                    self.c = None
                return r.status, data
            except (http.client.HTTPException, OSError):
                self.c.close()
                self.c = None
                if attempt:
                    raise
        raise AssertionError("unreachable")


def parallel(a, items, fn):
    """Runs fn(client, item) over ITEMS in --threads threads; exits at the first error."""
    nthreads = max(1, a.threads)
    errs, lock, it = [], threading.Lock(), iter(list(items))

    def work():
        cl = Client(a)
        while True:
            with lock:
                if errs:
                    return
                x = next(it, None)
            if x is None:
                return
            try:
                fn(cl, x)
            except Exception as e:  # noqa: BLE001
                with lock:
                    errs.append("%s: %s" % (x, e))
    ts = [threading.Thread(target=work) for _ in range(nthreads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    if errs:
        sys.exit("cmp_client: " + errs[0])


def users_of(a):
    return [u for u in a.users.split(",") if u]


def cmd_login(a):
    out, lock = {}, threading.Lock()

    def one(cl, u):
        st, data = cl.req("POST", "/api/auth/login", {"username": u, "password": a.password})
        if st != 200:
            raise RuntimeError("login answered %d: %s" % (st, data[:200]))
        with lock:
            out[u] = json.loads(data)["token"]
    parallel(a, users_of(a), one)
    with open(a.out, "w") as f:
        json.dump(out, f)


def load_tokens(a):
    with open(a.tokens) as f:
        return json.load(f)


def cmd_sessions(a):
    tok = load_tokens(a)
    work = [(u, i) for u in users_of(a) for i in range(a.count)]

    def one(cl, x):
        u, i = x
        st, data = cl.req("POST", "/api/sessions", {"title": "bench session %d" % (i + 1)}, tok[u])
        if st != 201:
            raise RuntimeError("POST /api/sessions answered %d: %s" % (st, data[:200]))
    parallel(a, work, one)


def cmd_check(a):
    tok = load_tokens(a)
    sizes, lock = {}, threading.Lock()

    def one(cl, u):
        st, data = cl.req("GET", a.path, token=tok[u])
        if st != 200:
            raise RuntimeError("GET %s answered %d: %s" % (a.path, st, data[:200]))
        n = len(json.loads(data).get("sessions", []))
        if n != a.expect:
            raise RuntimeError("GET %s: %d sessions, expected %d" % (a.path, n, a.expect))
        with lock:
            sizes[u] = len(data)
    us = users_of(a)
    parallel(a, us, one)
    print(json.dumps({"users": len(us), "bytes": sizes[us[0]]}))


def cmd_lua(a):
    tok = load_tokens(a)
    lines = ["-- generated by bench/cmp_client.py: GET %s, next user's token each request" % a.path,
             "local tokens = {"]
    lines += ['  "%s",' % tok[u] for u in users_of(a)]
    lines += ["}",
              "local i, nthreads = 0, 0",
              "-- each wrk thread starts at another place in the list",
              "function setup(thread) nthreads = nthreads + 1; thread:set(\"first\", nthreads * 37) end",
              "function init(args) i = (tonumber(first) or 0) % #tokens end",
              "request = function()",
              "  i = i % #tokens + 1",
              "  return wrk.format(\"GET\", \"%s\", {[\"Authorization\"] = \"Bearer \" .. tokens[i]})" % a.path,
              "end", ""]
    with open(a.out, "w") as f:
        f.write("\n".join(lines))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("cmd", choices=("login", "sessions", "check", "lua"))
    ap.add_argument("--base")
    ap.add_argument("--cafile")
    ap.add_argument("--password")
    ap.add_argument("--users", required=True)
    ap.add_argument("--tokens")
    ap.add_argument("--out")
    ap.add_argument("--count", type=int, default=20)
    ap.add_argument("--expect", type=int, default=20)
    ap.add_argument("--path", default="/api/sessions")
    ap.add_argument("--threads", type=int, default=1,
                    help="requests at once (1: claude-web's api pool in work for issue 14 dropped "
                         "concurrent POSTs with 502)")
    a = ap.parse_args()
    {"login": cmd_login, "sessions": cmd_sessions, "check": cmd_check, "lua": cmd_lua}[a.cmd](a)
    return 0


if __name__ == "__main__":
    sys.exit(main())
