#!/usr/bin/env bash
# t_streams_many.sh: issue 14, one stream worker serves many event streams
# from one event loop (fcgi-app/streamloop.c).
#  1. with STREAM_WORKERS=1, a few hundred streams of one session all get
#     their snapshot, and one event published to the session reaches every
#     one of them exactly once; /api/live is answered meanwhile.
#  2. a client that closes is noticed: its stream ends with "client left"
#     and claude_web_event_streams drops.
#  3. a client that stops reading while events are pushed to its session
#     does not hold up the others, and is dropped ("client not reading");
#     a client of the same session that reads gets the whole burst, paced
#     from Redis, once each and in order.
#  4. a stream resumed with Last-Event-ID gets exactly the events it missed;
#     one resumed from 0 over a backlog longer than one catch-up read, with
#     events published while it catches up, gets every event once, in order.
#  5. bad FastCGI input sent straight to the stream socket cannot crash the
#     worker: the same worker still serves afterwards.
#  6. FastCGI connections that are not streams and move no byte (nothing
#     sent; BEGIN+PARAMS and no STDIN end after the answer; a request's
#     params never ending) are closed after a bounded idle time.
#  7. streams still catching up (queued) that end: 40 resumed over a
#     20,000-entry backlog all closed at once, and 3 resumed over a
#     60,000-entry backlog while Redis stops (they end "redis unreachable")
#     and comes back; the worker survives (no use after free: the sanitizer
#     logs are checked by lib.sh) and serves streams afterwards.
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source=tests/integration/lib_auth.sh
. "$(dirname "$0")/lib_auth.sh"
# shellcheck source=tests/integration/lib_agent.sh
. "$(dirname "$0")/lib_agent.sh"
cw_require_agent
AGENT_NO_TOOLS=1

N=300
CW_CONF[STREAM_WORKERS]=1
CW_CONF[API_WORKERS]=2
CW_CONF[MAX_STREAMS_PER_USER]=1000
CW_CONF[SSE_PING_INTERVAL]=5
CW_SSE_MAX_CONN=2000
agent_stack_up
new_session || cw_bail "cannot create a session: $HTTP_STATUS $(cat "$BODY")"
S1=$SID
STREAM_PID=$(worker_pids stream | head -n 1)
diag "stream worker $STREAM_PID"

# ---- the many-streams client ------------------------------------------------------------
# many.py PORT PATH TOKEN N SUMMARY: N SSE streams over TLS; commands on
# stdin ("close K": close K streams; "quit"); the state in SUMMARY as JSON
# {"open","snapshots","ended","ids":{id: streams that got it},"dups","disorder"}.
cat >"$T/many.py" <<'PYEOF'
import asyncio, json, os, ssl, sys

port, path, token, n, summary = int(sys.argv[1]), sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5]
st = {"open": 0, "snapshots": 0, "ended": 0, "ids": {}, "dups": 0, "disorder": 0}
writers = []
dirty = asyncio.Event()

def key(i):
    a, b = i.split("-")
    return (int(a), int(b))

async def one():
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    try:
        r, w = await asyncio.open_connection("127.0.0.1", port, ssl=ctx, server_hostname="localhost")
    except OSError:
        st["ended"] += 1
        dirty.set()
        return
    writers.append(w)
    w.write(("GET %s HTTP/1.1\r\nHost: localhost\r\nAccept: text/event-stream\r\n"
             "Authorization: Bearer %s\r\nConnection: close\r\n\r\n" % (path, token)).encode())
    st["open"] += 1
    dirty.set()
    seen, last, ev, eid = set(), None, None, None
    try:
        while True:
            line = await r.readline()
            if not line:
                break
            line = line.decode("utf-8", "replace").rstrip("\r\n")
            if line.startswith("event: "):
                ev = line[7:]
            elif line.startswith("id: "):
                eid = line[4:]
            elif line == "" and ev is not None:
                if ev == "snapshot":
                    st["snapshots"] += 1
                elif eid is not None:
                    if eid in seen:
                        st["dups"] += 1
                    elif last is not None and key(eid) <= key(last):
                        st["disorder"] += 1
                    seen.add(eid)
                    last = eid
                    st["ids"][eid] = st["ids"].get(eid, 0) + 1
                ev, eid = None, None
                dirty.set()
    except (OSError, ssl.SSLError, asyncio.IncompleteReadError):
        pass
    st["open"] -= 1
    st["ended"] += 1
    dirty.set()

async def dump():
    while True:
        await dirty.wait()
        dirty.clear()
        with open(summary + ".tmp", "w") as f:
            json.dump(st, f)
        os.replace(summary + ".tmp", summary)
        await asyncio.sleep(0.05)

async def control():
    loop = asyncio.get_running_loop()
    while True:
        line = await loop.run_in_executor(None, sys.stdin.readline)
        if not line or line.startswith("quit"):
            os._exit(0)
        if line.startswith("close "):
            k = int(line.split()[1])
            for w in writers[:k]:
                w.transport.abort()
            del writers[:k]

async def main():
    asyncio.ensure_future(dump())
    asyncio.ensure_future(control())
    await asyncio.gather(*(one() for _ in range(n)))
    await asyncio.sleep(3600)

asyncio.run(main())
PYEOF

mkfifo "$T/ctl"
python3 "$T/many.py" "$HTTPS_PORT" "/api/sessions/$S1/events" "$TOKEN" "$N" "$T/sum.json" <"$T/ctl" &
MANY_PID=$!
BG_PIDS+=("$MANY_PID")
exec 7>"$T/ctl"

# sum Q: a jq query on the client's summary.
sum() {
	jq -r "$1" "$T/sum.json" 2>/dev/null
}
snapshots_are() {
	[ "$(sum .snapshots)" = "$1" ]
}
# id_reached ID K: K streams got event ID.
id_reached() {
	[ "$(sum ".ids[\"$1\"] // 0")" = "$2" ]
}
# push SID TYPE: one event appended to SID's log (as the runner does); its id in PUSHED.
push() {
	PUSHED=$(redis_cli XADD "cw:{c}:events:$1" '*' type "$2" data "{\"n\":\"$2\"}")
}
# got_snapshot FILE: the stream in FILE has its snapshot.
got_snapshot() {
	[ "$(head -n 1 "$1" 2>/dev/null | jq -r .event 2>/dev/null)" = snapshot ]
}
streams_metric() {
	metrics_fetch && metric claude_web_event_streams
}

# ---- 1. many streams on one worker -------------------------------------------------------
check "1: $N streams on one stream worker all get their snapshot" wait_for 60 snapshots_are "$N"
is "$(worker_pids stream | wc -l)" 1 "1: ...served by a single stream worker"
api_get /api/live
is "$HTTP_STATUS" 200 "1: /api/live answers while they are open"
check "1: claude_web_event_streams counts them" wait_for 10 eval '[ "$(streams_metric)" = "$N" ]'
push "$S1" one.event
ONE=$PUSHED
check "1: one event published to the session reaches all $N streams" wait_for 20 id_reached "$ONE" "$N"
is "$(sum .dups) $(sum .disorder)" "0 0" "1: ...each exactly once (no duplicate, no disorder)"

# ---- 2. closed clients are noticed ---------------------------------------------------------
log_mark
echo "close 20" >&7
left20() {
	[ "$(log_since | grep '"msg":"event stream ended"' | grep -c '"reason":"client left"')" -ge 20 ]
}
check "2: 20 closed clients: their streams end with reason \"client left\"" wait_for 10 left20
check "2: claude_web_event_streams drops by 20" wait_for 10 eval '[ "$(streams_metric)" = "$((N - 20))" ]'
push "$S1" two.event
check "2: the $((N - 20)) others still get events" wait_for 20 id_reached "$PUSHED" "$((N - 20))"

# ---- 3. a client that stops reading ----------------------------------------------------------
new_session || cw_bail "cannot create a second session"
S2=$SID
cat >"$T/stall.py" <<'PYEOF'
import socket, ssl, sys, time
port, path, token = int(sys.argv[1]), sys.argv[2], sys.argv[3]
raw = socket.socket()
raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
raw.connect(("127.0.0.1", port))
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE
s = ctx.wrap_socket(raw, server_hostname="localhost")
s.sendall(("GET %s HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer %s\r\n\r\n" % (path, token)).encode())
got = b""
while b"event: snapshot" not in got:
    got += s.recv(4096)
print("snapshot", flush=True)
time.sleep(600)      # never reads again
PYEOF
python3 "$T/stall.py" "$HTTPS_PORT" "/api/sessions/$S2/events" "$TOKEN" >"$T/stall.out" 2>&1 &
STALL_PID=$!
BG_PIDS+=("$STALL_PID")
check "3: the stalling client got its snapshot" wait_for 10 grep -q snapshot "$T/stall.out"
# A client that does read, on the same session: the burst is far above the
# worker's output cap, so it is paced from Redis (back-pressure), not lost.
sse_bg "$T/reader.jsonl" --session "$S2" --until flood.end --timeout 120
READER_PID=$SSE_BG_PID
wait_for 10 got_snapshot "$T/reader.jsonl" || diag "no snapshot for the reading client"
log_mark
# 40 MB of events for the stalled client's session: far more than every
# buffer between the worker and a client that does not read.
python3 - "$T/flood.txt" "$S2" <<'PYEOF'
import sys
big = "x" * 65000
with open(sys.argv[1], "w") as f:
    for i in range(600):
        f.write('XADD cw:{c}:events:%s * type flood data "{\\"n\\":%d,\\"pad\\":\\"%s\\"}"\n' % (sys.argv[2], i, big))
PYEOF
redis_cli <"$T/flood.txt" >/dev/null
push "$S2" flood.end
push "$S1" three.event
check "3: meanwhile an event still reaches the $((N - 20)) streams of the other session" \
	wait_for 20 id_reached "$PUSHED" "$((N - 20))"
stalled() {
	[ "$(log_since | grep '"msg":"event stream ended"' | grep -c '"reason":"client not reading"')" -ge 1 ]
}
check "3: the client that stopped reading is dropped (\"client not reading\")" wait_for 60 stalled
api_get /api/live
is "$HTTP_STATUS" 200 "3: /api/live still answers"
check "3: the client that reads gets the whole 40 MB burst" wait_for 120 pid_gone "$READER_PID"
is "$(ev_types "$T/reader.jsonl" | grep -c '^flood$')" 600 "3: ...all 600 events"
check "3: ...once each, in order" ids_ok "$T/reader.jsonl"

# ---- 4. resume --------------------------------------------------------------------------------
SID=$S1
push "$S1" r1
R1=$PUSHED
push "$S1" r2
R2=$PUSHED
push "$S1" r3
R3=$PUSHED
sse_read "$T/resume.jsonl" --last-event-id "$R1" --until r3 --timeout 10
is "$(ev_ids "$T/resume.jsonl" | tr '\n' ' ')" "$R2 $R3 " "4: Last-Event-ID gets exactly the missed events"

new_session || cw_bail "cannot create a third session"
S3=$SID
python3 - "$T/backlog.txt" "$S3" <<'PYEOF'
import sys
with open(sys.argv[1], "w") as f:
    for i in range(450):
        f.write('XADD cw:{c}:events:%s * type backlog data "{\\"n\\":%d}"\n' % (sys.argv[2], i))
PYEOF
redis_cli <"$T/backlog.txt" >/dev/null
sse_bg "$T/zero.jsonl" --session "$S3" --after 0 --until last.one --timeout 30
ZERO_PID=$SSE_BG_PID
wait_for 10 got_snapshot "$T/zero.jsonl" || diag "no snapshot on the resumed stream"
for i in 1 2 3 4 5; do push "$S3" during; done
push "$S3" last.one
check "4: a stream resumed from 0 over 450 events (+6 live) ends at the last" wait_for 30 pid_gone "$ZERO_PID"
is "$(ev_types "$T/zero.jsonl" | grep -c .)" 456 "4: ...with every event"
check "4: ...once each, in order" ids_ok "$T/zero.jsonl"

# ---- 5. garbage on the stream socket ----------------------------------------------------------
cat >"$T/garbage.py" <<'PYEOF'
import os, socket, struct, sys
path = sys.argv[1]
def rec(t, body, rid=1, ver=1):
    return struct.pack(">BBHHBB", ver, t, rid, len(body), 0, 0) + body
cases = [
    os.urandom(4096),
    rec(1, struct.pack(">HB5x", 1, 0), ver=9),
    rec(4, b"\x7f"),                                    # params before BEGIN
    rec(1, struct.pack(">HB5x", 1, 0)) + rec(1, struct.pack(">HB5x", 1, 0)),
    rec(1, struct.pack(">HB5x", 1, 0)) + rec(4, b"\xff\xff\xff\xff\x01ab"),
    rec(1, struct.pack(">HB5x", 1, 0)) + b"".join(rec(4, b"\x7f\x7f" + b"a" * 254) for _ in range(200)),
    rec(1, struct.pack(">HB5x", 1, 0)) + rec(4, b"\x01\x01=x") + rec(4, b""),
    rec(9, b"\x0f\x00FCGI_MPXS_CONNS", rid=0) + rec(77, b"abc", rid=0),
    rec(1, struct.pack(">HB5x", 1, 0))[:5],
]
for c in cases:
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(5)
    s.connect(path)
    try:
        s.sendall(c)
        s.shutdown(socket.SHUT_WR)
        while s.recv(65536):
            pass
    except OSError:
        pass
    s.close()
print("sent", len(cases))
PYEOF
log_mark
is "$(python3 "$T/garbage.py" "$STREAM_SOCKET")" "sent 9" "5: nine malformed FastCGI inputs sent to the stream socket"
is "$(worker_pids stream | head -n 1)" "$STREAM_PID" "5: the stream worker is still the same process"
check "5: it logged the bad input" eval 'log_since | grep -q "bad FastCGI input"'
SID=$S1
sse_read "$T/after.jsonl" --timeout 2
is "$(head -n 1 "$T/after.jsonl" | jq -r .event)" snapshot "5: ...and still opens streams"
push "$S1" four.event
check "5: ...and the $((N - 20)) streams it held still get events" wait_for 20 id_reached "$PUSHED" "$((N - 20))"

# ---- 6. idle FastCGI connections are closed ---------------------------------------------
cat >"$T/idle.py" <<'PYEOF'
import socket, struct, sys, time
path = sys.argv[1]
def rec(t, body, rid=1):
    return struct.pack(">BBHHBB", 1, t, rid, len(body), 0, 0) + body
def pair(n, v):
    return bytes([len(n), len(v)]) + n + v
params = pair(b"REQUEST_METHOD", b"GET") + pair(b"REQUEST_URI", b"/api/nothing-here")
cases = {
    "silent": b"",
    # keep-conn request answered, its STDIN never ends
    "no-stdin-end": rec(1, struct.pack(">HB5x", 1, 1)) + rec(4, params) + rec(4, b""),
    # params never end
    "params-open": rec(1, struct.pack(">HB5x", 1, 0)) + rec(4, params),
}
socks = {}
for name, data in cases.items():
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(path)
    if data:
        s.sendall(data)
    s.setblocking(False)
    socks[name] = s
closed = {}
t0 = time.time()
while len(closed) < len(socks) and time.time() - t0 < 45:
    for name, s in socks.items():
        if name in closed:
            continue
        try:
            while True:
                b = s.recv(65536)
                if not b:
                    closed[name] = round(time.time() - t0)
                    break
        except BlockingIOError:
            pass
        except OSError:
            closed[name] = round(time.time() - t0)
    time.sleep(0.2)
print(" ".join("%s:%s" % (n, "closed" if n in closed else "open") for n in cases))
PYEOF
is "$(python3 "$T/idle.py" "$STREAM_SOCKET")" "silent:closed no-stdin-end:closed params-open:closed" \
	"6: idle FastCGI connections in any state are closed by the stream worker"
push "$S1" six.event
check "6: ...and the $((N - 20)) streams still get events" wait_for 20 id_reached "$PUSHED" "$((N - 20))"

# ---- 7. streams that end while queued for catch-up ------------------------------------------
echo quit >&7
exec 7>&-
new_session || cw_bail "cannot create a fourth session"
S4=$SID
python3 - "$T/backlog4.txt" "$S4" <<'PYEOF'
import sys
with open(sys.argv[1], "w") as f:
    for i in range(60000):
        f.write('XADD cw:{c}:events:%s * type backlog data "{\\"n\\":%d}"\n' % (sys.argv[2], i))
PYEOF
redis_cli <"$T/backlog4.txt" >/dev/null
diag "backlog $(redis_cli XLEN "cw:{c}:events:$S4")"
log_mark
C4_PIDS=()
for i in $(seq 1 40); do
	curl -sk -N --limit-rate 50k -H "Authorization: Bearer $TOKEN" \
		"https://127.0.0.1:$HTTPS_PORT/api/sessions/$S4/events?after=0" >"$T/c4.$i.txt" 2>/dev/null &
	C4_PIDS+=("$!")
	BG_PIDS+=("$!")
done
snap4() {
	[ "$(grep -l "event: snapshot" "$T"/c4.*.txt 2>/dev/null | wc -l)" = 40 ]
}
check "7: 40 streams resumed from 0 over the backlog got their snapshot" wait_for 30 snap4
kill "${C4_PIDS[@]}" 2>/dev/null
left40() {
	[ "$(log_since | grep '"msg":"event stream ended"' | grep "$S4" | grep -c '"reason":"client left"')" -ge 40 ]
}
check "7: all 40 closed while catching up: their streams end (\"client left\")" wait_for 20 left40
is "$(worker_pids stream | head -n 1)" "$STREAM_PID" "7: the stream worker is still the same process"
# Redis stops while streams catch up: they end, the worker stays.
log_mark
RR_PIDS=()
for i in 1 2 3; do
	# Paced readers: they stay behind the group's position for minutes.
	curl -sk -N --limit-rate 20k -H "Authorization: Bearer $TOKEN" \
		"https://127.0.0.1:$HTTPS_PORT/api/sessions/$S4/events?after=0" >"$T/rr$i.txt" 2>/dev/null &
	RR_PIDS+=("$!")
	BG_PIDS+=("$!")
done
rr_started() {
	grep -q "event: backlog" "$T/rr1.txt" && grep -q "event: backlog" "$T/rr2.txt" &&
		grep -q "event: backlog" "$T/rr3.txt"
}
check "7: 3 paced streams resumed from 0 over the backlog get its events" wait_for 20 rr_started
cw_stop_redis
# "redis unreachable" (the watch read or a catch-up read gave up) or
# "store unavailable" (a re-check failed), whichever comes first.
ended_s4() {
	[ "$(log_since | grep '"msg":"event stream ended"' | grep "$S4" | grep -vc '"reason":"client left"')" -ge 3 ]
}
check "7: Redis stopped during their catch-up: the 3 streams end" wait_for 40 ended_s4
cw_start_redis || cw_bail "redis did not come back"
for p in "${RR_PIDS[@]}"; do kill "$p" 2>/dev/null; done
is "$(worker_pids stream | head -n 1)" "$STREAM_PID" "7: ...the stream worker is still the same process"
SID=$S1
sse_read "$T/after7.jsonl" --timeout 2
is "$(head -n 1 "$T/after7.jsonl" | jq -r .event)" snapshot "7: ...and opens streams once Redis is back"

tap_done
