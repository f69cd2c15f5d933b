#!/usr/bin/env python3
"""batch_client.py: many kept-alive HTTPS clients at once, each request
checked against what its own caller must get (t_batch.sh).

  batch_client.py BASE_URL CASES_JSON THREADS ROUNDS [--tolerate-503]
                  [--until FILE]

CASES_JSON is a list of {"name", "path", "headers", "status", and for 200
"titles": the list's titles in order, "next": whether next_cursor is set,
or "title" for a single session; for errors "message" (a prefix)}. Each
thread sends every case ROUNDS times (each thread starting at another
case, so that the requests a worker finds waiting together are of
different callers) on one kept-alive connection. Prints one JSON line:
{"sent", "ok", "503", "wrong": [first few mismatches], "per_case": {...}}.
With --tolerate-503 a JSON 503 service_unavailable (no list in it) is
counted apart instead of as a mismatch. With --until FILE the threads go on
(ROUNDS at most) until FILE exists.
"""
import os
import http.client
import json
import ssl
import sys
import threading
import urllib.parse


def check(case, status, body):
    """None when the answer is the case's, else what is wrong."""
    try:
        doc = json.loads(body)
    except ValueError:
        return "not JSON: %r" % body[:200]
    if status != case["status"]:
        return "status %d, want %d: %r" % (status, case["status"], body[:200])
    if status != 200:
        err = doc.get("error") if isinstance(doc, dict) else None
        if not isinstance(err, dict) or "sessions" in doc:
            return "error answer without an error object, or with a list"
        if not str(err.get("message", "")).startswith(case.get("message", "")):
            return "message %r, want %r" % (err.get("message"), case["message"])
        return None
    if "titles" in case:
        got = [s.get("title") for s in doc.get("sessions", [])]
        if got != case["titles"]:
            return "titles %r, want %r" % (got, case["titles"])
        if (doc.get("next_cursor") is not None) != case["next"]:
            return "next_cursor %r" % doc.get("next_cursor")
    if "title" in case and doc.get("title") != case["title"]:
        return "title %r, want %r" % (doc.get("title"), case["title"])
    return None


def main():
    base, cases_file, threads, rounds = sys.argv[1:5]
    tolerate = "--tolerate-503" in sys.argv[5:]
    until = None
    if "--until" in sys.argv[5:]:
        until = sys.argv[sys.argv.index("--until") + 1]
    cases = json.load(open(cases_file))
    u = urllib.parse.urlsplit(base)
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    lock = threading.Lock()
    res = {"sent": 0, "ok": 0, "503": 0, "wrong": [], "per_case": {}}

    def worker(t):
        conn = None
        for r in range(int(rounds)):
            if until is not None and os.path.exists(until):
                break
            for k in range(len(cases)):
                case = cases[(k + t) % len(cases)]
                status, body = 0, b""
                for attempt in range(2):
                    try:
                        if conn is None:
                            conn = http.client.HTTPSConnection(
                                u.hostname, u.port, context=ctx, timeout=30)
                        conn.request("GET", case["path"],
                                     headers=case.get("headers", {}))
                        resp = conn.getresponse()
                        status, body = resp.status, resp.read()
                        break
                    except (OSError, http.client.HTTPException) as e:
                        # nginx closed an idle kept connection: once more.
                        if conn is not None:
                            conn.close()
                        conn = None
                        body = str(e).encode()
                why = check(case, status, body)
                with lock:
                    res["sent"] += 1
                    pc = res["per_case"].setdefault(case["name"], 0)
                    res["per_case"][case["name"]] = pc + 1
                    if why is None:
                        res["ok"] += 1
                    elif tolerate and status == 503 and check(
                            dict(case, status=503, message=""), status,
                            body) is None:
                        res["503"] += 1
                    elif len(res["wrong"]) < 5:
                        res["wrong"].append({"case": case["name"], "why": why})
                    else:
                        res["wrong"].append(None)
        if conn is not None:
            conn.close()

    ts = [threading.Thread(target=worker, args=(t,)) for t in range(int(threads))]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    nwrong = len(res["wrong"])
    res["wrong"] = [w for w in res["wrong"] if w is not None]
    res["nwrong"] = nwrong
    print(json.dumps(res))


if __name__ == "__main__":
    main()
