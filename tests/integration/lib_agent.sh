# shellcheck shell=bash
# tests/integration/lib_agent.sh: helpers for the agent-pipeline integration
# tests (t_agent_*.sh). Source it after lib.sh and lib_auth.sh.
#
# Fake API: fake_start (tests/mock/fake_anthropic.py on a free port; FAKE_URL,
#           FAKE_PORT; points claude-web at it), fake_script JSON, fake_reset,
#           fake_requests (-> $FAKE_REQS, JSON), fake_nreq (number recorded),
#           fake_req N FILTER (jq -c FILTER over request N, 1-based),
#           fake_stats (-> $FAKE_STATS, JSON), fake_wait REQS DONE [SECONDS],
#           fake_release GATE... (open gates of "hold" turns), fake_held N
#           (N streams wait at a gate now).
# Stack:    agent_stack_up (fake + redis + claude-web + nginx + user "ann",
#           TOKEN set; AGENT_NO_TOOLS=1: runs start even without bubblewrap),
#           new_session (-> SID).
# Runs:     post_msg SID TEXT (-> HTTP_STATUS, RUN_ID), events_mark SID (the
#           newest event id, "0-0" if none), run_msg SID TEXT [TIMEOUT]
#           (post + read the SSE stream until that run's final event; EV is the
#           JSON-lines file, RUN_ID the run), get_history SID (-> $T/hist.json).
# SSE:      sse_read OUT [--last-event-id ID] [--after ID] [--until T1,T2]
#           [--run-id R] [--max-events N] [--timeout S] [--session SID]:
#           one connection through nginx (TLS, HTTP/1.1, bearer $TOKEN) with the
#           python client below; every event one JSON line {"id","event",
#           "data"} in OUT; why it ended in OUT.end ({"reason": until|max|
#           timeout|eof|end|http, "status": N, ...}). SSE_END is the reason.
#           ev_ids F, ev_types F [RUN], ev_count F TYPE [RUN], ev_text F [RUN],
#           ev_first F TYPE [RUN] (the data of the first TYPE event),
#           ev_pos F TYPE [RUN] (line number of the first TYPE event, 0 if none),
#           ids_ok F (ids strictly increasing, no duplicates),
#           redis_final_count SID RUN, run_final_in_redis SID RUN.
#           redis_events SID OUT: the session's event log read from Redis into
#           OUT in the same JSON-lines format (every session at once, no SSE
#           connection); ev_ms F TYPE [RUN]: the millisecond part of the first
#           TYPE event's id (Redis server time; "" if none).
# TAP:      todo_ok STATUS DESC REASON (a "# TODO" line for a reported bug).
# Procs:    runner_pid_for RUN (the runner that logged "run started" last),
#           stream_worker_busy (stream workers with an accepted connection).

FINAL_EVENTS=run.finished,run.error,run.cancelled
FAKE_PID=''
FAKE_PORT=''
FAKE_URL=''
FAKE_REQS=$T/fake.requests.json
FAKE_STATS=$T/fake.stats.json
SSE_CLIENT=$T/sse_client.py
SSE_END=''
SID=''
RUN_ID=''
EV=''
EV_N=0

# cw_require_agent [TOOLS...]: SKIP unless the stack, python3 and TOOLS exist.
# shellcheck disable=SC2120 # TOOLS are optional
cw_require_agent() {
	cw_require_tools python3 "$@"
	cw_require_admin
	if [ ! -r "$TOP_SRCDIR/tests/mock/fake_anthropic.py" ]; then
		printf '1..0 # SKIP fake_anthropic.py not found\n'
		exit 0
	fi
}

# ---- the fake Anthropic API --------------------------------------------------
fake_start() {
	local pf=$T/fake.port
	rm -f "$pf"
	python3 "$TOP_SRCDIR/tests/mock/fake_anthropic.py" --port 0 --port-file "$pf" \
		--log "$T/log/fake.log" >>"$T/log/fake.stdout" 2>&1 &
	FAKE_PID=$!
	BG_PIDS+=("$FAKE_PID")
	wait_for 10 test -s "$pf" || return 1
	FAKE_PORT=$(cat "$pf")
	FAKE_URL=http://127.0.0.1:$FAKE_PORT
	CW_CONF[ANTHROPIC_BASE_URL]=$FAKE_URL
	CW_CONF[ANTHROPIC_API_KEY]=sk-ant-test
	# No automatic title call after a session's first answer unless a test
	# asks for one (t_transcript.sh): the scripted turns stay the tests' own.
	CW_CONF[TITLE_MODEL]=${CW_CONF[TITLE_MODEL]:-off}
}

# fake_ctl METHOD PATH [JSON]: the control API; body in $T/fake.out.
fake_ctl() {
	if [ -n "${3:-}" ]; then
		curl -s -o "$T/fake.out" -w '%{http_code}' -X "$1" \
			-H 'Content-Type: application/json' --data-binary "$3" "$FAKE_URL$2"
	else
		curl -s -o "$T/fake.out" -w '%{http_code}' -X "$1" "$FAKE_URL$2"
	fi
}

fake_script() {
	local st
	st=$(fake_ctl POST /_fake/script "$1")
	[ "$st" = 200 ] || diag "fake_script: $st $(cat "$T/fake.out")"
	[ "$st" = 200 ]
}

fake_reset() {
	[ "$(fake_ctl POST /_fake/reset)" = 200 ]
}

fake_requests() {
	curl -s -o "$FAKE_REQS" "$FAKE_URL/_fake/requests"
}

fake_nreq() {
	fake_requests
	jq '.requests | length' "$FAKE_REQS" 2>/dev/null || echo 0
}

# fake_req N FILTER: FILTER over request N (1-based), from the last fake_requests.
fake_req() {
	jq -c ".requests[$1 - 1] | $2" "$FAKE_REQS" 2>/dev/null
}

fake_stats() {
	curl -s -o "$FAKE_STATS" "$FAKE_URL/_fake/stats"
}

# fake_wait REQS DONE [SECONDS]: until >= REQS requests and >= DONE finished.
fake_wait() {
	[ "$(curl -s -o "$T/fake.out" -w '%{http_code}' \
		"$FAKE_URL/_fake/wait?requests=$1&done=$2&timeout=${3:-10}")" = 200 ]
}

# fake_release GATE...: opens the gates (turns with "hold" go on).
fake_release() {
	local g
	for g in "$@"; do
		[ "$(fake_ctl POST /_fake/release "$(jq -cn --arg g "$g" '{gate: $g}')")" = 200 ] ||
			diag "fake_release $g: $(cat "$T/fake.out")"
	done
}

# fake_held N: exactly N streams wait at a gate now.
fake_held() {
	fake_stats
	[ "$(jq '.held | length' "$FAKE_STATS" 2>/dev/null)" = "$1" ]
}

# ---- stack, user, session ------------------------------------------------------
agent_stack_up() {
	CW_CONF[RATE_LIMIT_PER_MINUTE]=${CW_CONF[RATE_LIMIT_PER_MINUTE]:-100000}
	CW_CONF[LOGIN_RATE_LIMIT_PER_MINUTE]=${CW_CONF[LOGIN_RATE_LIMIT_PER_MINUTE]:-1000}
	CW_CONF[CLAUDE_RETRY_BASE_MS]=${CW_CONF[CLAUDE_RETRY_BASE_MS]:-50}
	CW_CONF[SSE_PING_INTERVAL]=${CW_CONF[SSE_PING_INTERVAL]:-1}
	CW_CONF[STREAM_WORKERS]=${CW_CONF[STREAM_WORKERS]:-3}
	# Runs refuse to start without bubblewrap. AGENT_NO_TOOLS=1 (tests that
	# never run a tool) makes any executable do where it is missing.
	if [ "${AGENT_NO_TOOLS:-0}" = 1 ] && [ -z "${CW_CONF[SANDBOX_BWRAP]:-}" ] &&
		[ ! -x /usr/bin/bwrap ]; then
		CW_CONF[SANDBOX_BWRAP]=/bin/true
	fi
	fake_start || cw_bail "the fake Anthropic API did not start"
	cw_start_all || cw_bail "could not start redis + claude-web + nginx"
	wait_for 10 pool_full runner "${CW_CONF[RUNNER_WORKERS]:-1}" ||
		diag "the runner pool did not fill up"
	wait_for 10 pool_full stream "${CW_CONF[STREAM_WORKERS]}" ||
		diag "the stream pool did not fill up"
	user_add ann ann-password-1 || cw_bail "user add: $(cat "$ADMIN_OUT")"
	login ann ann-password-1 || cw_bail "ann cannot log in"
}

new_session() {
	api_bearer "$TOKEN" /api/sessions -X POST -H 'Content-Type: application/json' \
		--data-binary '{}'
	SID=$(json '.id // empty')
	[ "$HTTP_STATUS" = 201 ] && [ -n "$SID" ]
}

# post_msg SID TEXT: POST a message; RUN_ID on 202.
post_msg() {
	api_bearer "$TOKEN" "/api/sessions/$1/messages" -X POST \
		-H 'Content-Type: application/json' \
		--data-binary "$(jq -cn --arg c "$2" '{content: $c}')"
	RUN_ID=$(json '.run_id // empty')
}

get_history() {
	api_bearer "$TOKEN" "/api/sessions/$1/messages"
	cp "$BODY" "$T/hist.json"
	[ "$HTTP_STATUS" = 200 ]
}

# events_mark SID: id of the newest event of the session ("0-0" if none).
events_mark() {
	local id
	id=$(redis_cli XREVRANGE "cw:{c}:events:$1" + - COUNT 1 2>/dev/null | head -n 1)
	printf '%s\n' "${id:-0-0}"
}

# run_msg SID TEXT [TIMEOUT]: posts TEXT and reads the run's events (from
# before the post) until its final event. EV: the events file; RUN_ID.
run_msg() {
	local mark
	mark=$(events_mark "$1")
	post_msg "$1" "$2"
	EV_N=$((EV_N + 1))
	EV=$T/ev.$EV_N.jsonl
	: >"$EV"
	[ "$HTTP_STATUS" = 202 ] || return 1
	sse_read "$EV" --session "$1" --last-event-id "$mark" --until "$FINAL_EVENTS" \
		--run-id "$RUN_ID" --timeout "${3:-20}"
	[ "$SSE_END" = until ]
}

# redis_final_count SID RUN: number of final events of RUN in the event log.
redis_final_count() {
	redis_cli XRANGE "cw:{c}:events:$1" - + 2>/dev/null |
		grep -A2 -x -E 'run\.(finished|error|cancelled)' | grep -c "\"run_id\":\"$2\""
}

# run_final_in_redis SID RUN: the run's final event is in the event log.
run_final_in_redis() {
	[ "$(redis_final_count "$1" "$2")" -ge 1 ]
}

# redis_events SID OUT: the event log of SID from Redis, one JSON line
# {"id","event","data"} per entry (the stream entries are type, data).
redis_events() {
	redis_cli XRANGE "cw:{c}:events:$1" - + 2>/dev/null | LC_ALL=C tr -d '\r' |
		LC_ALL=C awk 'NR % 5 == 1 { id = $0 } NR % 5 == 3 { t = $0 }
			NR % 5 == 0 { printf "%s\t%s\t%s\n", id, t, $0 }' |
		jq -cR 'split("\t") | {id: .[0], event: .[1], data: (.[2] | fromjson? // .)}' \
			>"$2" 2>/dev/null
}

# ev_ms FILE TYPE [RUN]: milliseconds of the first TYPE event (of RUN) in FILE.
ev_ms() {
	jq -r "$(_ev_sel "${3:-}") | select(.event == \"$2\") | .id" "$1" 2>/dev/null |
		head -n 1 | cut -d- -f1
}

# ---- SSE client ----------------------------------------------------------------
cat >"$SSE_CLIENT" <<'PYEOF'
"""Minimal SSE client: TLS + HTTP/1.1 (chunked or close-delimited) to nginx."""
import argparse, json, socket, ssl, sys, time

p = argparse.ArgumentParser()
p.add_argument("--port", type=int, required=True)
p.add_argument("--path", required=True)
p.add_argument("--token", default="")
p.add_argument("--last-event-id", default="")
p.add_argument("--until", default="")
p.add_argument("--run-id", default="")
p.add_argument("--max-events", type=int, default=0)
p.add_argument("--timeout", type=float, default=20.0)
a = p.parse_args()
until = set(x for x in a.until.split(",") if x)
deadline = time.monotonic() + a.timeout
info = {"reason": "?", "status": 0, "events": 0, "last_id": None}


class Timeout(Exception):
    pass


class Eof(Exception):
    pass


def done(reason, **kw):
    info["reason"] = reason
    info.update(kw)
    sys.stderr.write(json.dumps(info) + "\n")
    sys.stderr.flush()
    sys.stdout.flush()
    sys.exit(0)


try:
    raw = socket.create_connection(("127.0.0.1", a.port), timeout=10)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    ctx.set_alpn_protocols(["http/1.1"])
    s = ctx.wrap_socket(raw, server_hostname="localhost")
except OSError as e:
    done("connect", error=str(e))

hdrs = ["GET %s HTTP/1.1" % a.path, "Host: localhost:%d" % a.port,
        "Accept: text/event-stream", "Cache-Control: no-cache",
        "Connection: close"]
if a.token:
    hdrs.append("Authorization: Bearer " + a.token)
if a.last_event_id:
    hdrs.append("Last-Event-ID: " + a.last_event_id)
s.sendall(("\r\n".join(hdrs) + "\r\n\r\n").encode())

buf = b""


def fill():
    global buf
    rem = deadline - time.monotonic()
    if rem <= 0:
        raise Timeout()
    s.settimeout(rem)
    try:
        d = s.recv(65536)
    except socket.timeout:
        raise Timeout()
    except (ssl.SSLError, OSError):
        d = b""
    if not d:
        raise Eof()
    buf += d


def readline():
    global buf
    while b"\n" not in buf:
        fill()
    i = buf.index(b"\n") + 1
    line, buf = buf[:i], buf[i:]
    return line


def read(n):
    global buf
    while len(buf) < n:
        fill()
    d, buf = buf[:n], buf[n:]
    return d


def body(chunked):
    """Yields decoded body pieces; returns at a clean end, raises Eof/Timeout."""
    global buf
    if not chunked:
        while True:
            if buf:
                d, buf = buf, b""
                yield d
            try:
                fill()
            except Eof:
                raise
    while True:
        size = int(readline().split(b";")[0].strip() or b"0", 16)
        if size == 0:
            return
        d = read(size)
        read(2)
        yield d


try:
    status_line = readline().decode("latin-1").strip()
    info["status"] = int(status_line.split()[1])
    headers = {}
    while True:
        h = readline().decode("latin-1").strip()
        if not h:
            break
        k, _, v = h.partition(":")
        headers[k.strip().lower()] = v.strip()
except (Timeout, Eof, ValueError, IndexError):
    done("eof", error="no HTTP response")
chunked = "chunked" in headers.get("transfer-encoding", "").lower()
if info["status"] != 200:
    try:
        txt = b"".join(body(chunked))
    except (Timeout, Eof):
        txt = buf
    done("http", body=txt.decode("utf-8", "replace")[:2000])

pending = b""
ev = {"id": None, "event": None, "data": []}
try:
    for piece in body(chunked):
        pending += piece
        while b"\n" in pending:
            i = pending.index(b"\n")
            line, pending = pending[:i].rstrip(b"\r").decode("utf-8"), pending[i + 1:]
            if line == "":
                if ev["data"]:
                    raw_data = "\n".join(ev["data"])
                    try:
                        data = json.loads(raw_data)
                    except ValueError:
                        data = raw_data
                    name = ev["event"] or "message"
                    sys.stdout.write(json.dumps({"id": ev["id"], "event": name,
                                                 "data": data}) + "\n")
                    sys.stdout.flush()
                    info["events"] += 1
                    if ev["id"] is not None:
                        info["last_id"] = ev["id"]
                    rid = data.get("run_id") if isinstance(data, dict) else None
                    if name in until and (not a.run_id or rid == a.run_id):
                        done("until")
                    if a.max_events and ev["id"] is not None:
                        a.max_events -= 1
                        if a.max_events == 0:
                            done("max")
                ev = {"id": None, "event": None, "data": []}
                continue
            if line.startswith(":"):
                continue
            field, _, value = line.partition(":")
            if value.startswith(" "):
                value = value[1:]
            if field == "data":
                ev["data"].append(value)
            elif field == "event":
                ev["event"] = value
            elif field == "id":
                ev["id"] = value
except Timeout:
    done("timeout")
except Eof:
    done("eof")
done("end")
PYEOF

# sse_read OUT [options]: see the header. Default session: $SID.
sse_read() {
	local out=$1 sid=$SID after='' path
	local -a args=()
	shift
	while [ $# -gt 0 ]; do
		case $1 in
		--session) sid=$2; shift 2 ;;
		--after) after=$2; shift 2 ;;
		*) args+=("$1"); shift ;;
		esac
	done
	path=/api/sessions/$sid/events
	[ -z "$after" ] || path="$path?after=$after"
	python3 "$SSE_CLIENT" --port "$HTTPS_PORT" --path "$path" --token "$TOKEN" \
		"${args[@]}" >"$out" 2>"$out.end"
	SSE_END=$(jq -r '.reason' "$out.end" 2>/dev/null)
}

# sse_bg OUT [options]: sse_read in the background; SSE_BG_PID.
sse_bg() {
	local out=$1 sid=$SID after='' path
	local -a args=()
	shift
	while [ $# -gt 0 ]; do
		case $1 in
		--session) sid=$2; shift 2 ;;
		--after) after=$2; shift 2 ;;
		*) args+=("$1"); shift ;;
		esac
	done
	path=/api/sessions/$sid/events
	[ -z "$after" ] || path="$path?after=$after"
	: >"$out"
	: >"$out.end"
	python3 "$SSE_CLIENT" --port "$HTTPS_PORT" --path "$path" --token "$TOKEN" \
		"${args[@]}" >"$out" 2>"$out.end" &
	SSE_BG_PID=$!
	BG_PIDS+=("$SSE_BG_PID")
}

# ev_* FILE [RUN]: views of an events file (RUN: only that run's events).
_ev_sel() {
	if [ -n "${1:-}" ]; then
		printf 'select(.data.run_id? == "%s")' "$1"
	else
		printf '.'
	fi
}
ev_ids() {
	jq -r 'select(.id != null) | .id' "$1" 2>/dev/null
}
ev_types() {
	jq -r "$(_ev_sel "${2:-}") | select(.event != \"ping\" and .event != \"snapshot\") | .event" \
		"$1" 2>/dev/null
}
ev_count() {
	jq -r "$(_ev_sel "${3:-}") | select(.event == \"$2\") | .event" "$1" 2>/dev/null | grep -c .
}
ev_text() {
	jq -j "$(_ev_sel "${2:-}") | select(.event == \"text.delta\") | .data.text" "$1" 2>/dev/null
}
ev_first() {
	jq -c "$(_ev_sel "${3:-}") | select(.event == \"$2\") | .data" "$1" 2>/dev/null | head -n 1
}
ev_pos() {
	local n
	n=$(ev_types "$1" "${3:-}" | grep -n -x -m1 -F -- "$2" | cut -d: -f1)
	echo "${n:-0}"
}
# ids_ok FILE: ids strictly increasing (Redis stream order), none repeated.
ids_ok() {
	ev_ids "$1" | awk -F- '
		NR > 1 && ($1 < pm || ($1 == pm && $2 <= ps)) { bad = 1 }
		{ pm = $1 + 0; ps = $2 + 0 }
		END { exit bad }'
}

# ---- processes -----------------------------------------------------------------
# runner_pid_for RUN: pid of the runner that logged "run started" for RUN last.
runner_pid_for() {
	log_json "select(.msg == \"run started\" and .run_id == \"$1\") | .pid" | tail -n 1
}

# stream_worker_busy: stream workers holding an accepted FastCGI connection
# (an established unix socket on $STREAM_SOCKET).
stream_worker_busy() {
	local pid
	for pid in $(worker_pids stream); do
		ss -xpn state connected 2>/dev/null | grep -F "$STREAM_SOCKET" |
			grep -q "pid=$pid," && echo "$pid"
	done
}

# todo_ok COND_STATUS DESC REASON: a TAP "# TODO" line (a known bug: reported,
# counted neither as a failure nor, when it starts passing, as an error).
todo_ok() {
	TAP_N=$((TAP_N + 1))
	if [ "$1" = 0 ]; then
		printf 'ok %d - %s # TODO %s\n' "$TAP_N" "$2" "$3"
	else
		printf 'not ok %d - %s # TODO %s\n' "$TAP_N" "$2" "$3"
	fi
}

# ok_rc STATUS DESCRIPTION: ok when STATUS is 0.
ok_rc() {
	if [ "$1" = 0 ]; then tap_ok "$2"; else tap_fail "$2"; fi
}
