#!/usr/bin/env bash
# t_sec_streams.sh: issue 10, event streams (SSE) as an attack surface.
#  8. event ids are parsed strictly (400 on anything but "<u64>-<u64>"); an
#     XREAD error reply ends the stream instead of spinning; streams are
#     served only by the stream pool (nginx sends ".../events/" there too,
#     the app refuses events in the api pool and API calls in the stream pool).
#  9. a departed client frees its stream worker at once (not at the next
#     ping); one user holds at most MAX_STREAMS_PER_USER streams.
# 13. an open stream re-checks token, account and session at every ping and
#     ends when one fails (logout, sign out everywhere, disabled, deleted).
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source=tests/integration/lib_auth.sh
. "$(dirname "$0")/lib_auth.sh"
# shellcheck source=tests/integration/lib_agent.sh
. "$(dirname "$0")/lib_agent.sh"
cw_require_agent
AGENT_NO_TOOLS=1

PING=2
CW_CONF[SSE_PING_INTERVAL]=$PING
CW_CONF[STREAM_WORKERS]=8
CW_CONF[API_WORKERS]=2
agent_stack_up
new_session || cw_bail "cannot create a session: $HTTP_STATUS $(cat "$BODY")"
ANN_TOKEN=$TOKEN
S1=$SID

# ---- helpers ------------------------------------------------------------------------
# fcgi_get SOCKET URI: one GET straight to a FastCGI socket (no nginx); the
# raw response (CGI headers + body) on stdout.
cat >"$T/fcgi_get.py" <<'PYEOF'
import socket, struct, sys

def rec(t, body, rid=1):
    pad = (8 - len(body) % 8) % 8
    return struct.pack(">BBHHBB", 1, t, rid, len(body), pad, 0) + body + b"\0" * pad

def nv(n, v):
    out = b""
    for x in (n, v):
        out += bytes([len(x)]) if len(x) < 128 else struct.pack(">I", len(x) | 0x80000000)
    return out + n + v

path, uri = sys.argv[1], sys.argv[2]
params = {"REQUEST_METHOD": "GET", "REQUEST_URI": uri, "SCRIPT_NAME": uri.split("?")[0],
          "QUERY_STRING": uri.partition("?")[2], "SERVER_PROTOCOL": "HTTP/1.1",
          "REMOTE_ADDR": "127.0.0.1", "REQUEST_ID": "0" * 32}
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.settimeout(10)
s.connect(path)
body = b"".join(nv(k.encode(), v.encode()) for k, v in params.items())
s.sendall(rec(1, struct.pack(">HB5x", 1, 0)) + rec(4, body) + rec(4, b"") + rec(5, b""))
buf, out = b"", b""
while True:
    d = s.recv(65536)
    if not d:
        break
    buf += d
    while len(buf) >= 8:
        _, t, _, ln, pad, _ = struct.unpack(">BBHHBB", buf[:8])
        if len(buf) < 8 + ln + pad:
            break
        if t == 6:
            out += buf[8:8 + ln]
        buf = buf[8 + ln + pad:]
        if t == 3:
            sys.stdout.write(out.decode("utf-8", "replace"))
            sys.exit(0)
sys.stdout.write(out.decode("utf-8", "replace"))
PYEOF

# ends_by PID SECONDS: the background client PID has ended within SECONDS.
ends_by() {
	wait_for "$2" pid_gone "$1"
}

# got_snapshot FILE: the stream in FILE (sse_bg / curl output) has its snapshot.
got_snapshot() {
	grep -q 'snapshot' "$1" 2>/dev/null
}

# curl_stream OUT [CURL ARGS...]: a raw curl SSE client in the background
# (CURL_PID), bearer $TOKEN, on /api/sessions/$SID/events.
curl_stream() {
	local out=$1
	shift
	: >"$out"
	curl -4ksN --max-time 120 -H "Authorization: Bearer $TOKEN" "$@" \
		"$BASE_URL/api/sessions/$SID/events" >"$out" 2>/dev/null &
	CURL_PID=$!
	BG_PIDS+=("$CURL_PID")
}

# stream_end_reason SID: the reason of the newest "event stream ended" log line of SID.
stream_end_reason() {
	log_json "select(.msg == \"event stream ended\" and .session_id == \"$1\") | .reason" |
		tail -n 1 | tr -d '"'
}

# ---- 8. strict event ids ------------------------------------------------------------------
for bad in 99999999999999999999-0 18446744073709551616-0 0-18446744073709551616 \
	1-x x-1 -1-0 1--1 1-2-3 ' 1-0' '1-0 ' 1 1- -1 +1-0 1-0x10 '1-%00'; do
	enc=$(jq -rn --arg v "$bad" '$v | @uri')
	api_bearer "$TOKEN" "/api/sessions/$S1/events?after=$enc"
	is_json_error 400 "8: ?after=$bad is a JSON 400"
done
cmp_ok "$(awk -v t="$HTTP_TIME" 'BEGIN { printf "%d", t * 1000 }')" -lt 2000 "8: ...answered at once"
for bad in 99999999999999999999-0 1-x 1 -1-0; do
	api_bearer "$TOKEN" "/api/sessions/$S1/events" -H "Last-Event-ID: $bad"
	is_json_error 400 "8: Last-Event-ID: $bad is a JSON 400"
done
like "$(json .error.message)" 'Last-Event-ID' "8: the message names Last-Event-ID"

# The largest valid id is accepted (and waits quietly for newer events).
sse_read "$T/max.jsonl" --after 18446744073709551615-18446744073709551615 --timeout 3
is "$(head -n 1 "$T/max.jsonl" | jq -r '.event + " " + .data.resume_after')" \
	"snapshot 18446744073709551615-18446744073709551615" "8: the largest id (2^64-1 twice) is valid"
sse_read "$T/zero.jsonl" --after 0 --timeout 2
is "$(head -n 1 "$T/zero.jsonl" | jq -r .data.resume_after)" "0-0" "8: ?after=0 still means from the start"
sse_read "$T/lead.jsonl" --after 007-01 --timeout 2
is "$(head -n 1 "$T/lead.jsonl" | jq -r .data.resume_after)" "7-1" "8: leading zeros are read as the number (7-1)"

# An XREAD error reply ends the stream (one error, not a retry loop).
new_session || cw_bail "cannot create a session"
S_WRONG=$SID
sse_bg "$T/wrong.jsonl" --timeout 30
WRONG_PID=$SSE_BG_PID
wait_for 5 got_snapshot "$T/wrong.jsonl" || diag "no snapshot on the stream"
log_mark
redis_cli SET "cw:{c}:events:$S_WRONG" not-a-stream >/dev/null
check "8: a stream whose XREAD gets an error reply (WRONGTYPE) ends" ends_by "$WRONG_PID" 5
is "$(stream_end_reason "$S_WRONG")" "redis error reply" "8: ...and says why in the log"
n=$(log_since | grep -c '"msg":"redis error reply".*XREAD')
cmp_ok "$n" -le 1 "8: XREAD was not retried after the error reply ($n error replies logged)"
redis_cli DEL "cw:{c}:events:$S_WRONG" >/dev/null

# ---- 8. events only in the stream pool ---------------------------------------------------
SID=$S1
log_mark
SLASH_PIDS=()
for i in 1 2 3 4; do
	curl -4ksN --max-time 60 -H "Authorization: Bearer $TOKEN" \
		"$BASE_URL/api/sessions/$S1/events/" >"$T/slash.$i" 2>/dev/null &
	SLASH_PIDS+=($!)
	BG_PIDS+=($!)
done
for i in 1 2 3 4; do
	wait_for 5 got_snapshot "$T/slash.$i"
done
is "$(for i in 1 2 3 4; do got_snapshot "$T/slash.$i" && echo y; done | grep -c y)" 4 \
	"8: four streams on .../events/ (trailing slash) are served"
t0=$(now_ms)
api_get /api/live
is "$HTTP_STATUS" 200 "8: with four .../events/ streams open, /api/live answers"
cmp_ok "$(($(now_ms) - t0))" -lt 1000 "8: ...at once (the api pool is free)"
# A stream's request line is logged when it ends: end them, then look.
kill "${SLASH_PIDS[@]}" 2>/dev/null
ended4() {
	[ "$(log_since | grep -c '"msg":"event stream ended"')" -ge 4 ]
}
wait_for 5 ended4
pools=$(log_since | jq -cR 'fromjson? | select(.msg == "request" and .route == "/api/sessions/:id/events") | .pool' |
	sort -u | tr -d '"' | tr '\n' ' ')
is "$pools" "stream " "8: every event stream was served by the stream pool"

# Straight to the sockets: the api pool refuses streams, the stream pool the API.
out=$(python3 "$T/fcgi_get.py" "$API_SOCKET" "/api/sessions/$S1/events" 2>&1)
like "$(printf '%s' "$out" | head -n 1)" '^Status: 404' "8: the api pool refuses GET .../events (404)"
like "$out" '"type":"not_found"' "8: ...with a JSON error"
out=$(python3 "$T/fcgi_get.py" "$API_SOCKET" "/api/sessions/$S1/events/" 2>&1)
like "$(printf '%s' "$out" | head -n 1)" '^Status: 404' "8: the api pool refuses GET .../events/ (404)"
out=$(python3 "$T/fcgi_get.py" "$STREAM_SOCKET" "/api/live" 2>&1)
like "$(printf '%s' "$out" | head -n 1)" '^Status: 404' "8: the stream pool refuses GET /api/live (404)"
out=$(python3 "$T/fcgi_get.py" "$API_SOCKET" "/api/live" 2>&1)
like "$(printf '%s' "$out" | head -n 1)" '^Status: 200' "8: the api pool still serves /api/live"

# ---- 9. per-user cap on open streams ---------------------------------------------------------
user_add bob bob-password-1 || cw_bail "user add bob: $(cat "$ADMIN_OUT")"
login bob bob-password-1 || cw_bail "bob cannot log in"
BOB_TOKEN=$TOKEN
new_session || cw_bail "bob cannot create a session"
BOB_SID=$SID
TOKEN=$ANN_TOKEN
SID=$S1
wait_for 5 eval '[ "$(redis_cli ZCARD cw:{c}:streams:ann)" = 0 ]' ||
	diag "ann still holds $(redis_cli ZCARD cw:{c}:streams:ann) stream slots"
CAP_PIDS=()
for i in 1 2 3 4 5 6; do
	sse_bg "$T/cap.$i.jsonl" --timeout 60
	CAP_PIDS+=("$SSE_BG_PID")
done
for i in 1 2 3 4 5 6; do
	wait_for 5 got_snapshot "$T/cap.$i.jsonl"
done
is "$(for i in 1 2 3 4 5 6; do got_snapshot "$T/cap.$i.jsonl" && echo y; done | grep -c y)" 6 \
	"9: one user opens six streams (MAX_STREAMS_PER_USER default 6)"
CURL_MAX_TIME=5 api_bearer "$TOKEN" "/api/sessions/$S1/events"
is_json_error 429 "9: the seventh stream of the same user is a JSON 429"
is "$(json .error.type)" rate_limited "9: ...of type rate_limited"
like "$(json .error.message)" 'MAX_STREAMS_PER_USER' "9: ...whose message says which limit"
like "$(header Retry-After)" '^[0-9]+$' "9: ...with a Retry-After"
TOKEN=$BOB_TOKEN
sse_read "$T/bob.jsonl" --session "$BOB_SID" --timeout 2
is "$(head -n 1 "$T/bob.jsonl" | jq -r .event)" snapshot "9: another user still opens a stream"
TOKEN=$ANN_TOKEN
kill "${CAP_PIDS[0]}" 2>/dev/null
reopen() {
	sse_read "$T/cap.8.jsonl" --timeout 1
	[ "$(head -n 1 "$T/cap.8.jsonl" | jq -r .event 2>/dev/null)" = snapshot ]
}
check "9: once one of them is closed, the user opens a stream again (within 5 s)" wait_for 5 reopen
kill "${CAP_PIDS[@]}" 2>/dev/null

# ---- 13. open streams re-check their authority at every ping -----------------------------
# A second login of ann: logging it out must not touch ANN_TOKEN.
login ann ann-password-1 || cw_bail "ann cannot log in again"
T2=$TOKEN
wait_for 5 eval '[ "$(redis_cli ZCARD cw:{c}:streams:ann)" = 0 ]'
sse_bg "$T/live.jsonl" --timeout 60
LIVE_PID=$SSE_BG_PID
wait_for 5 got_snapshot "$T/live.jsonl"
wait_for $((4 * PING + 2)) eval '[ "$(grep -c "\"ping\"" "$T/live.jsonl")" -ge 3 ]'
cmp_ok "$(grep -c '"ping"' "$T/live.jsonl")" -ge 3 "13: a stream with a valid token lives through three pings"
check "13: ...and is still open" eval '! pid_gone "$LIVE_PID"'

api_bearer "$T2" /api/auth/logout -X POST
is "$HTTP_STATUS" 204 "13: logout of the stream's token"
t0=$(now_ms)
check "13: after logout the open stream ends within a ping interval (+1 s)" ends_by "$LIVE_PID" $((PING + 2))
diag "ended $(($(now_ms) - t0)) ms after the logout (SSE_PING_INTERVAL=$PING s)"
is "$(stream_end_reason "$S1")" "token no longer valid" "13: ...because the token is no longer valid"
TOKEN=$ANN_TOKEN
sse_read "$T/other.jsonl" --timeout 2
is "$(head -n 1 "$T/other.jsonl" | jq -r .event)" snapshot "13: ann's other token still opens streams"

# Session deleted.
new_session || cw_bail "cannot create a session"
S_DEL=$SID
sse_bg "$T/del.jsonl" --session "$S_DEL" --timeout 60
DEL_PID=$SSE_BG_PID
wait_for 5 got_snapshot "$T/del.jsonl"
api_bearer "$TOKEN" "/api/sessions/$S_DEL" -X DELETE
is "$HTTP_STATUS" 204 "13: the session is deleted"
check "13: the deleted session's open stream ends within a ping interval (+1 s)" ends_by "$DEL_PID" $((PING + 2))
is "$(stream_end_reason "$S_DEL")" "session gone or no longer accessible" "13: ...because the session is gone"

# Account disabled.
SID=$S1
sse_bg "$T/dis.jsonl" --timeout 60
DIS_PID=$SSE_BG_PID
wait_for 5 got_snapshot "$T/dis.jsonl"
cw_admin user disable ann
is "$ADMIN_RC" 0 "13: ann is disabled (claude-web-admin user disable)"
check "13: a disabled user's open stream ends within a ping interval (+1 s)" ends_by "$DIS_PID" $((PING + 2))
cw_admin user enable ann

# "Sign out everywhere" (a new token generation), when the server has it.
login ann ann-password-1 || cw_bail "ann cannot log in after enable"
sse_bg "$T/all.jsonl" --timeout 60
ALL_PID=$SSE_BG_PID
wait_for 5 got_snapshot "$T/all.jsonl"
api_bearer "$TOKEN" /api/auth/logout-all -X POST
if [ "$HTTP_STATUS" = 204 ]; then
	check "13: after sign-out-everywhere the open stream ends within a ping interval (+1 s)" \
		ends_by "$ALL_PID" $((PING + 2))
else
	tap_skip 1 "POST /api/auth/logout-all answered $HTTP_STATUS"
fi
kill "$ALL_PID" 2>/dev/null

# ---- 9. a departed client frees its worker at once -------------------------------------------
# Two stream workers and a long ping interval: before the fix a closed
# stream held its worker until the next ping write failed (~SSE_PING_INTERVAL).
cw_stop_nginx
cw_stop_app INT
CW_CONF[STREAM_WORKERS]=2
CW_CONF[SSE_PING_INTERVAL]=20
cw_start_app || cw_bail "claude-web did not restart"
cw_start_nginx || cw_bail "nginx did not restart"
wait_for 10 pool_full stream 2
login ann ann-password-1 || cw_bail "ann cannot log in after the restart"
SID=$S1
slow=0
log_mark
KILLED=()
for i in 1 2 3 4; do
	t0=$(now_ms)
	if [ $((i % 2)) = 0 ]; then proto=--http2; else proto=--http1.1; fi
	curl_stream "$T/close.$i" "$proto" -H "X-Test-Stream: $i"
	wait_for 10 got_snapshot "$T/close.$i" || slow=$((slow + 1))
	dt=$(($(now_ms) - t0))
	# Generous: the machine may be busy; the bug held a worker for ~20 s.
	[ "$dt" -lt 8000 ] || slow=$((slow + 1))
	diag "stream $i ($proto): snapshot after $dt ms; killing the client"
	kill -KILL "$CURL_PID" 2>/dev/null
	KILLED+=("$i")
done
is "$slow" 0 "9: four streams opened and killed in a row on two workers: each snapshot within 8 s"
# How long each worker kept a stream after nginx had let it go: the
# worker's duration minus nginx's request_time, paired by request id.
hold_ms() {
	local rid ngx wk
	for rid in $(log_since | jq -rR 'fromjson? | select(.msg == "request" and .route == "/api/sessions/:id/events") | .request_id'); do
		ngx=$(jq -rR "fromjson? | select(.request_id == \"$rid\") | .request_time" "$T/log/nginx-access.log" | head -n 1)
		wk=$(log_json "select(.msg == \"request\" and .request_id == \"$rid\") | .duration_ms" | head -n 1)
		[ -n "$ngx" ] && [ -n "$wk" ] && awk -v n="$ngx" -v w="$wk" 'BEGIN { printf "%d\n", w - n * 1000 }'
	done
}
have4() {
	[ "$(hold_ms | grep -c .)" -ge 4 ]
}
wait_for 10 have4
HOLD=$(hold_ms | sort -n | tail -n 1)
diag "a worker kept a departed client's stream for at most $HOLD ms ($(hold_ms | tr '\n' ' '))"
cmp_ok "${HOLD:-99999}" -lt 2500 "9: each worker let go of a departed client's stream within 2.5 s (not at the next ping)"
fake_script '{"turns":[{"text":"After the closes."}]}'
MARK=$(events_mark "$S1")
t0=$(now_ms)
sse_bg "$T/after.jsonl" --last-event-id "$MARK" --until "$FINAL_EVENTS" --timeout 20
AFTER_PID=$SSE_BG_PID
wait_for 10 got_snapshot "$T/after.jsonl"
dt=$(($(now_ms) - t0))
cmp_ok "$dt" -lt 8000 "9: a new client then gets its snapshot promptly ($dt ms, not ~SSE_PING_INTERVAL=20 s)"
post_msg "$S1" "are you there"
is "$HTTP_STATUS" 202 "9: a message is queued"
wait_for 10 pid_gone "$AFTER_PID"
is "$(jq -r .reason "$T/after.jsonl.end" 2>/dev/null)" until "9: ...and the new client gets the run's final event"
is "$(ev_count "$T/after.jsonl" run.finished "$RUN_ID")" 1 "9: ...exactly once"
left4() {
	[ "$(log_since | grep '"msg":"event stream ended"' | grep -c '"reason":"client left"')" -ge 4 ]
}
check "9: the killed clients' streams ended because the client left" wait_for 5 left4

tap_done
