#!/usr/bin/env bash
# t_replicas.sh: issue 12 part 2, replicas behind the shipped load balancer.
# Two stacks made by scripts/start.sh (each its own STATE_DIR, nginx, ports,
# INSTANCE_ID, TRUSTED_PROXIES=127.0.0.1) share a Redis on loopback TCP, one
# SECRET_KEY_FILE, one WORKSPACE_PATH and the fake Anthropic API; the nginx
# of deploy/lb/nginx-lb.conf.in (scripts/render-lb.sh) fronts both.
#   1. each replica and the balancer answer; a token from a login on A works
#      on B and through the balancer; a logout on A refuses it everywhere.
#   2. the per-user rate limit is one budget across the replicas.
#   3. an X-Request-ID sent through the balancer is the replica's request id
#      (response header and claude-web's log line); the balancer makes one
#      when the client sends none. /code/ reaches a replica: a WebSocket
#      through both proxies (auth_request on the replica) is upgraded.
#   4. 20 bad logins from 127.0.0.2 through the balancer (half of them with
#      a forged X-Forwarded-For) lock that address out; a login from
#      127.0.0.3 still works (the real client address).
#   5. a run started through A streams its events when read through B.
#   6. kill -9 of every process of the replica that owns a run, mid-answer:
#      two clients reading through the balancer (resuming with Last-Event-ID
#      when cut) see exactly one run.finished and every event once; the other
#      replica takes the run over in < 12 s.
#   7. a rolling stop (scripts/stop.sh, then start.sh) of each replica in
#      turn while a long run goes on: no error on /api/live through the
#      balancer, the run is handed to the other replica within 2 s each time
#      (run.continued "handoff": nothing redone) and finishes once, no event
#      lost or repeated.
#   8. every JSON log line of each replica carries its INSTANCE_ID.
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source=tests/integration/lib_auth.sh
. "$(dirname "$0")/lib_auth.sh"
# shellcheck source=tests/integration/lib_agent.sh
. "$(dirname "$0")/lib_agent.sh"
# shellcheck source=tests/integration/lib_replicas.sh
. "$(dirname "$0")/lib_replicas.sh"
cw_require_agent pgrep
T_START=$(now_ms)

REP_ENV=(
	RUNNER_WORKERS=1 RUNNER_MAX=2 API_WORKERS=2 STREAM_WORKERS=4
	RATE_LIMIT_PER_MINUTE=60 LOGIN_RATE_LIMIT_PER_MINUTE=1000
	SSE_PING_INTERVAL=1 CLAUDE_RETRY_BASE_MS=50 MAX_TURNS=400
	NGINX_STOP_TIMEOUT=2
)

fake_start || cw_bail "the fake Anthropic API did not start"
rep_redis_up || cw_bail "the shared Redis did not start"
read -r LB_PORT _ <<<"$(cw_free_ports)"
LB_URL=https://localhost:$LB_PORT
t0=$(now_ms)
rep_ports A
rep_ports B
# Both at once (the first admin is made by whichever start.sh gets there first).
rep_start A &
pa=$!
rep_start B &
pb=$!
wait "$pa" || cw_bail "replica A did not start"
wait "$pb" || cw_bail "replica B did not start"
diag "two replicas started by start.sh in $(($(now_ms) - t0)) ms"
rep_lb_up || cw_bail "the load balancer did not start"
for u in ann rita carl dora; do
	rep_user "$u" "$u-password-1" || cw_bail "user add $u: $(cat "$ADMIN_OUT")"
done

# ---- 1. one login, every replica ---------------------------------------------------------
for tg in A B LB; do
	on "$tg" api_get /api/live
	is "$HTTP_STATUS" 200 "1: /api/live answers 200 on $tg"
done
on A login ann ann-password-1
TOK=$TOKEN
isnt "$TOK" "" "1: ann logs in on replica A"
for tg in B LB; do
	on "$tg" api_bearer "$TOK" /api/auth/me
	is "$HTTP_STATUS $(json .username)" "200 ann" "1: A's token works on $tg"
done
on A api_bearer "$TOK" /api/auth/logout -X POST
like "$HTTP_STATUS" '^20[04]$' "1: logout on A"
for tg in B LB; do
	on "$tg" api_bearer "$TOK" /api/auth/me
	is "$HTTP_STATUS" 401 "1: the token logged out on A is refused on $tg"
done

# ---- 2. one rate-limit budget ------------------------------------------------------------
on LB login rita rita-password-1 || diag "rita cannot log in"
RT=$TOKEN
codes_a=$(on A burst 30 4 /api/auth/me -H "Authorization: Bearer $RT" | sort | uniq -c | tr -s ' ' | tr '\n' ',')
codes_b=$(on B burst 30 4 /api/auth/me -H "Authorization: Bearer $RT" | sort | uniq -c | tr -s ' ' | tr '\n' ',')
is "$codes_a|$codes_b" " 30 200,| 30 200," "2: RATE_LIMIT_PER_MINUTE=60: 30 requests on A and 30 on B pass"
on B api_bearer "$RT" /api/auth/me
is "$HTTP_STATUS" 429 "2: the 61st, on B, is refused (429)"
like "$(header Retry-After)" '^[0-9]+$' "2: ...with Retry-After"
on A api_bearer "$RT" /api/auth/me
is "$HTTP_STATUS" 429 "2: ...and on A too: one budget across the replicas"

# ---- 3. request ids through the balancer -------------------------------------------------
RID=lbtest-$(openssl rand -hex 6)
on LB api_get /api/live -H "X-Request-ID: $RID"
is "$HTTP_STATUS $(header X-Request-ID)" "200 $RID" "3: an X-Request-ID sent through the balancer comes back"
request_line() { # request_line ID: a replica logged a request line with that id
	local n
	for n in A B; do
		[ -n "$(rep_json "$n" "select(.msg == \"request\" and .request_id == \"$1\") | .instance")" ] && return 0
	done
	return 1
}
check "3: ...and is the request_id of the replica's log line for that request" \
	wait_for 5 request_line "$RID"
on LB api_get /api/live
GEN=$(header X-Request-ID)
like "$GEN" '^[0-9a-f]{32}$' "3: without one, the balancer makes one ($GEN)"
check "3: ...which the replica logs as the request id" wait_for 5 request_line "$GEN"
on LB api_get /api/live -H 'X-Request-ID: bad id with spaces'
like "$(header X-Request-ID)" '^[0-9a-f]{32}$' "3: a malformed X-Request-ID is replaced"

# /code/ goes to a replica, whose nginx answers (code-server is off here).
on LB api_get /code/
is "$HTTP_STATUS $(json .error.message)" "503 code-server is not enabled" \
	"3: /code/ through the balancer reaches a replica's nginx"

# A WebSocket through both proxies (the balancer, then the replica's nginx
# with its auth_request check) to a stand-in for code-server: an echo that
# names the path and Host it got.
cat >"$T/ws_echo.py" <<'PYEOF'
"""WebSocket echo on loopback (stdlib): answers an Upgrade with 101, then
sends back every text frame it gets, with the request path and Host."""
import base64, hashlib, os, socketserver, sys

GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


class H(socketserver.StreamRequestHandler):
    def handle(self):
        lines = []
        while True:
            ln = self.rfile.readline(8192)
            if not ln or ln in (b"\r\n", b"\n"):
                break
            lines.append(ln.decode("latin-1").rstrip("\r\n"))
        if not lines:
            return
        path = lines[0].split(" ")[1] if len(lines[0].split(" ")) > 1 else ""
        hdr = {}
        for ln in lines[1:]:
            k, _, v = ln.partition(":")
            hdr[k.strip().lower()] = v.strip()
        if hdr.get("upgrade", "").lower() != "websocket" or "sec-websocket-key" not in hdr:
            body = b"not a websocket handshake\n"
            self.wfile.write(b"HTTP/1.1 400 Bad Request\r\nContent-Length: %d\r\nConnection: close\r\n\r\n" % len(body) + body)
            return
        acc = base64.b64encode(hashlib.sha1((hdr["sec-websocket-key"] + GUID).encode()).digest())
        self.wfile.write(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                         b"Connection: Upgrade\r\nSec-WebSocket-Accept: " + acc + b"\r\n\r\n")
        self.wfile.flush()
        while True:
            h = self.rfile.read(2)
            if len(h) < 2:
                return
            op, n = h[0] & 0x0F, h[1] & 0x7F
            if n == 126:
                n = int.from_bytes(self.rfile.read(2), "big")
            elif n == 127:
                n = int.from_bytes(self.rfile.read(8), "big")
            mask = self.rfile.read(4) if h[1] & 0x80 else b"\0\0\0\0"
            data = bytes(b ^ mask[i % 4] for i, b in enumerate(self.rfile.read(n)))
            if op == 8:
                return
            reply = ("%s %s %s" % (path, hdr.get("host", ""), data.decode("utf-8", "replace"))).encode()
            self.wfile.write(bytes([0x81, len(reply)]) + reply if len(reply) < 126 else
                             bytes([0x81, 126]) + len(reply).to_bytes(2, "big") + reply)
            self.wfile.flush()


class S(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True


srv = S(("127.0.0.1", 0), H)
with open(sys.argv[1] + ".tmp", "w") as f:
    f.write("%d\n" % srv.server_address[1])
os.rename(sys.argv[1] + ".tmp", sys.argv[1])
srv.serve_forever()
PYEOF
cat >"$T/ws_client.py" <<'PYEOF'
"""One WebSocket round trip over TLS + HTTP/1.1: prints the status line's
code, then the first text frame received after sending MESSAGE."""
import base64, os, socket, ssl, sys

port, path, cookie, msg = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
raw = socket.create_connection(("127.0.0.1", port), timeout=10)
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE
ctx.set_alpn_protocols(["http/1.1"])
s = ctx.wrap_socket(raw, server_hostname="localhost")
key = base64.b64encode(os.urandom(16)).decode()
s.sendall(("GET %s HTTP/1.1\r\nHost: localhost:%d\r\nUpgrade: websocket\r\n"
           "Connection: Upgrade\r\nSec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n"
           "Origin: https://localhost:%d\r\nCookie: cw_token=%s\r\n\r\n"
           % (path, port, key, port, cookie)).encode())
f = s.makefile("rb")
status = f.readline().decode("latin-1").split(" ")
print(status[1] if len(status) > 1 else "000")
while f.readline() not in (b"\r\n", b"\n", b""):
    pass
if len(status) < 2 or status[1] != "101":
    sys.exit(0)
data = msg.encode()
mask = os.urandom(4)
s.sendall(bytes([0x81, 0x80 | len(data)]) + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(data)))
h = f.read(2)
n = h[1] & 0x7F
if n == 126:
    n = int.from_bytes(f.read(2), "big")
print(f.read(n).decode("utf-8", "replace"))
PYEOF
python3 "$T/ws_echo.py" "$T/ws.port" >>"$T/log/ws.stdout" 2>&1 &
BG_PIDS+=("$!")
if wait_for 10 test -s "$T/ws.port"; then
	for n in A B; do
		printf 'set $cw_code_server 127.0.0.1:%s;\n' "$(cat "$T/ws.port")" >"$T/$n/nginx/code-server.conf"
		kill -HUP "$(cat "$T/$n/nginx/nginx.pid")"
	done
fi
on LB login admin "$REP_ADMIN_PW" || diag "the admin cannot log in: $HTTP_STATUS"
ADMIN_TOK=$TOKEN
ws_roundtrip() {
	python3 "$T/ws_client.py" "$LB_PORT" /code/ws-test "$ADMIN_TOK" "hello through two proxies" \
		>"$T/ws.out" 2>&1
	[ "$(head -n 1 "$T/ws.out")" = 101 ]
}
check "3: a WebSocket to /code/ through the balancer is upgraded (101)" wait_for 10 ws_roundtrip
is "$(sed -n 2p "$T/ws.out")" "/ws-test localhost:$LB_PORT hello through two proxies" \
	"3: ...and carries frames both ways, with the client's Host and the path under /code/"
python3 "$T/ws_client.py" "$LB_PORT" /code/ws-test "" "no token" >"$T/ws.out" 2>&1
is "$(head -n 1 "$T/ws.out")" 302 "3: ...and without a token the replica sends the login page instead"

# ---- 4. lockouts follow the real client address ----------------------------------------------
# Every other one claims another address in X-Forwarded-For: the balancer
# appends the real one and the replicas take the rightmost untrusted address.
bad=0
for i in $(seq 1 20); do
	xff=()
	[ $((i % 2)) -eq 0 ] && xff=(-H "X-Forwarded-For: 10.9.8.$i")
	on LB post_json /api/auth/login "$(login_body "nosuch$i" "wrong-$i")" --interface 127.0.0.2 "${xff[@]}"
	[ "$HTTP_STATUS" = 401 ] && bad=$((bad + 1))
done
is "$bad" 20 "4: 20 bad logins from 127.0.0.2 through the balancer are refused (401), half with a forged X-Forwarded-For"
on LB login dora dora-password-1 --interface 127.0.0.2
is "$HTTP_STATUS" 429 "4: 127.0.0.2 is now locked out, even with the right password"
on LB login dora dora-password-1 --interface 127.0.0.3
is "$HTTP_STATUS" 200 "4: a login from 127.0.0.3 through the balancer still works"
on LB login carl carl-password-1 || diag "carl cannot log in from 127.0.0.1"
is "$HTTP_STATUS" 200 "4: ...and from 127.0.0.1"

# ---- 5. a run started via A, read via B ------------------------------------------------------
CT=$TOKEN
TOKEN=$CT
on A new_session || cw_bail "cannot create a session on A: $HTTP_STATUS $(cat "$BODY")"
S5=$SID
fake_reset
fake_script '{"turns":[{"text":"Hello from whichever replica ran me."}]}'
MARK=$(events_mark "$S5")
on A post_msg "$S5" "hello replicas"
R5=$RUN_ID
is "$HTTP_STATUS" 202 "5: a message posted on A is accepted"
on B sse_read "$T/e5.jsonl" --session "$S5" --last-event-id "$MARK" --until "$FINAL_EVENTS" \
	--run-id "$R5" --timeout 30
is "$SSE_END" until "5: the run's events read through B reach its final event"
is "$(ev_text "$T/e5.jsonl" "$R5")" "Hello from whichever replica ran me." "5: ...with the whole answer"
diag "5: the run was executed by replica $(rep_owner "$R5")"

# ---- 6. kill -9 of the replica that owns a run -----------------------------------------------
# sse_follow OUT SID RUN MARK: a client reading through the balancer that
# reconnects with Last-Event-ID whenever its connection ends before RUN's
# final event (as EventSource does); OUT gets every event, OUT.conns the
# number of connections.
sse_follow() {
	local out=$1 sid=$2 run=$3 last=$4 i
	: >"$out"
	for i in $(seq 1 30); do
		on LB sse_read "$out.$i" --session "$sid" --last-event-id "$last" \
			--until "$FINAL_EVENTS" --run-id "$run" --timeout 60
		cat "$out.$i" >>"$out"
		echo "$i" >"$out.conns"
		[ "$SSE_END" = until ] && return 0
		last=$(ev_ids "$out" | tail -n 1)
		last=${last:-$4}
		sleep 0.2
	done
}
# log_ids_after MARK SID: ids of the session's event log after MARK (Redis).
log_ids_after() {
	redis_events "$2" "$T/log.jsonl"
	# Up to the run's final event: session events written after it (the
	# automatic title's session.updated) are not the run's.
	jq -r 'select(.id != null) | "\(.id) \(.event)"' "$T/log.jsonl" |
		awk -v m="$1" 'BEGIN { split(m, a, "-") }
			{ split($1, b, "-") }
			b[1] > a[1] || (b[1] == a[1] && b[2] > a[2]) {
				print $1
				if ($2 == "run.finished" || $2 == "run.error" || $2 == "run.cancelled")
					exit
			}'
}
# first_takeover_ms FILE RUN SINCE_MS: ms of the first event of RUN at or after
# SINCE_MS that a new runner writes (run.resumed, run.continued, run.started).
first_takeover_ms() {
	jq -r --arg r "$2" 'select(.data.run_id? == $r and (.event == "run.resumed" or
		.event == "run.continued" or .event == "run.started")) | .id' "$1" 2>/dev/null |
		awk -F- -v s="$3" '$1 >= s { print $1; exit }'
}

S6=''
on LB new_session && S6=$SID
# The answer stops half-way at a gate of the fake (held until the client
# that streams it goes away): the kill always lands mid-answer.
SLOW=$(printf 'Slow piece %02d. ' $(seq 1 40))
FINAL6='The answer after the takeover.'
fake_reset
fake_script "$(jq -cn --arg s "$SLOW" --arg f "$FINAL6" \
	'{turns: [{text: $s, delay_ms: 20, hold: {gate: "g6", after_events: 12, timeout: 120}},
		{text: $f}]}')"
MARK6=$(events_mark "$S6")
on LB post_msg "$S6" "please survive the death of a replica"
R6=$RUN_ID
is "$HTTP_STATUS" 202 "6: a message posted through the balancer is accepted"
(sse_follow "$T/c1.jsonl" "$S6" "$R6" "$MARK6") &
C1=$!
BG_PIDS+=("$C1")
(sse_follow "$T/c2.jsonl" "$S6" "$R6" "$MARK6") &
C2=$!
BG_PIDS+=("$C2")
has_text() { [ "$(ev_count "$1" text.delta "$R6")" -ge 3 ]; }
check "6: the answer is half-way (held at the fake)" wait_for 20 fake_held 1
check "6: both clients are reading it" wait_for 20 eval 'has_text "$T/c1.jsonl.1" && has_text "$T/c2.jsonl.1"'
OWN=$(rep_owner "$R6")
like "$OWN" '^[AB]$' "6: the replica running the run is known from its log ($OWN)"
OTHER=A
[ "$OWN" = A ] && OTHER=B
T6=$(now_ms)
check "6: kill -9 of replica $OWN's master and workers" rep_kill9 "$OWN"
check "6: both clients reach the run's final event" wait_for 60 eval 'pid_gone $C1 && pid_gone $C2'
wait "$C1" "$C2" 2>/dev/null
TAKE_MS=$(first_takeover_ms "$T/c1.jsonl" "$R6" "$T6")
TAKE_MS=${TAKE_MS:+$((TAKE_MS - T6))}
diag "6: takeover by replica $OTHER after $TAKE_MS ms; connections per client: $(cat "$T/c1.jsonl.conns") and $(cat "$T/c2.jsonl.conns")"
is "$(rep_owner "$R6")" "$OTHER" "6: replica $OTHER took the run over"
cmp_ok "${TAKE_MS:-999999}" -lt 12000 "6: ...within 12 s of the kill (${TAKE_MS:-no takeover event} ms)"
for c in c1 c2; do
	is "$(ev_count "$T/$c.jsonl" run.finished "$R6") $(ev_count "$T/$c.jsonl" run.error "$R6")" "1 0" \
		"6: client $c: exactly one run.finished, no run.error"
	is "$(ev_ids "$T/$c.jsonl" | sort | uniq -d | tr '\n' ' ')" "" "6: client $c: no event twice"
	is "$(ev_ids "$T/$c.jsonl" | tr '\n' ' ')" "$(log_ids_after "$MARK6" "$S6" | tr '\n' ' ')" \
		"6: client $c: every event of the log, in order (none lost)"
done
is "$(redis_final_count "$S6" "$R6")" 1 "6: one final event in the event log"
is "$(jq -r "$(_ev_sel "$R6") | select(.event == \"text.delta\" or .event == \"run.resumed\") |
	if .event == \"run.resumed\" then \"|\" else .data.text end" "$T/c1.jsonl" | tr -d '\n' | sed 's/.*|//')" \
	"$FINAL6" "6: after the takeover the answer is streamed whole"
lb_mark
check "6: replica $OWN starts again (start.sh)" rep_start "$OWN"
check "6: ...and the balancer sends it requests again" wait_for 20 lb_uses "$OWN"

# ---- 7. rolling stop -------------------------------------------------------------------------
# A client polls /api/live through the balancer all along.
: >"$T/live.codes"
lb_mark
LB_MARK7=$LB_MARK
(
	while [ ! -e "$T/live.stop" ]; do
		curl -4ks -o /dev/null --max-time 10 -w '%{http_code}\n' "$LB_URL/api/live" 2>/dev/null ||
			echo 000
		sleep 0.05
	done >>"$T/live.codes"
) &
LIVE=$!
BG_PIDS+=("$LIVE")

# A long run: every turn views the files and asks again (a step boundary
# every ~0.5 s) until the default turn becomes a final answer.
STEP_TURN='{"content":[{"type":"text","text":"Looking at the files once more. "},
	{"type":"tool_use","name":"str_replace_based_edit_tool","input":{"command":"view","path":"/workspace"}}],
	"delay_ms":60}'
FINAL7='Done after two rolling stops.'
fake_reset
fake_script "$(jq -cn --argjson t "$STEP_TURN" '{turns: [], default: $t}')"
S7=''
on LB new_session && S7=$SID
MARK7=$(events_mark "$S7")
on LB post_msg "$S7" "keep looking while the replicas restart"
R7=$RUN_ID
is "$HTTP_STATUS" 202 "7: a long run is accepted"
(sse_follow "$T/c7.jsonl" "$S7" "$R7" "$MARK7") &
C7=$!
BG_PIDS+=("$C7")
# jobs_snapshot: the run queue's consumer group as Redis has it (pending
# entries and who holds them), to explain a slow hand-off.
jobs_snapshot() {
	local k
	k=$(redis_cli --scan --pattern 'cw:*jobs' 2>/dev/null | head -n 1)
	echo "XPENDING $k runners:"
	redis_cli XPENDING "$k" runners - + 10 2>&1 | tr '\n' ' '
	echo
	echo "XINFO CONSUMERS (name, pending, idle ms, inactive ms):"
	redis_cli XINFO CONSUMERS "$k" runners 2>&1 | tr '\n' ' '
	echo
}
tool_steps() { ev_count "$T/log.jsonl" tool.result "$R7"; }
steps_at_least() { redis_events "$S7" "$T/log.jsonl"; [ "$(tool_steps)" -ge "$1" ]; }
check "7: the run goes through its tool steps" wait_for 20 steps_at_least 2
for round in 1 2; do
	OWN=$(rep_owner "$R7")
	OTHER=A
	[ "$OWN" = A ] && OTHER=B
	like "$OWN" '^[AB]$' "7.$round: the run is on replica $OWN"
	T1=$(now_ms)
	rep_stop "$OWN"
	T2=$(now_ms)
	jobs_snapshot >"$T/jobs.$round"
	TS=$(rep_stop_ms "$OWN")
	[ -n "$TS" ] && [ "$TS" -ge "$T1" ] || TS=$T1
	check "7.$round: replica $OWN stopped" eval '[ -z "$(rep_master "$OWN")" ]'
	check "7.$round: the run goes on on replica $OTHER" \
		wait_for 15 eval '[ "$(rep_owner "$R7")" = "$OTHER" ]'
	redis_events "$S7" "$T/log.jsonl"
	HAND=$(first_takeover_ms "$T/log.jsonl" "$R7" "$TS")
	HAND=${HAND:+$((HAND - TS))}
	diag "7.$round: stop.sh took $((T2 - T1)) ms, $((TS - T1)) ms of them before claude-web's stop; hand-off $HAND ms after it"
	cmp_ok "${HAND:-999999}" -lt 2000 "7.$round: the run was handed to replica $OTHER within 2 s of the stop (${HAND:-no hand-off event} ms)"
	if [ -z "$HAND" ] || [ "$HAND" -ge 2000 ]; then
		diag "7.$round: the run queue right after stop.sh returned:
$(cat "$T/jobs.$round")"
	fi
	n=$(tool_steps)
	check "7.$round: ...and makes progress there" wait_for 15 steps_at_least $((n + 2))
	lb_mark
	check "7.$round: replica $OWN starts again" rep_start "$OWN"
	# Rolling: the next replica goes only once this one is back in the
	# balancer (docs/deploy/replicas.md).
	check "7.$round: ...and the balancer sends it requests again" wait_for 20 lb_served "$OWN"
done
fake_script "$(jq -cn --arg f "$FINAL7" '{turns: [], default: {text: $f}}')"
check "7: the client reaches the run's final event" wait_for 30 pid_gone "$C7"
wait "$C7" 2>/dev/null
touch "$T/live.stop"
wait_for 15 pid_gone "$LIVE"
is "$(ev_count "$T/c7.jsonl" run.finished "$R7") $(ev_count "$T/c7.jsonl" run.error "$R7")" "1 0" \
	"7: exactly one run.finished, no run.error"
is "$(ev_ids "$T/c7.jsonl" | sort | uniq -d | tr '\n' ' ')" "" "7: no event twice at the client"
is "$(ev_ids "$T/c7.jsonl" | tr '\n' ' ')" "$(log_ids_after "$MARK7" "$S7" | tr '\n' ' ')" \
	"7: the client saw every event of the log, in order"
is "$(ev_text "$T/c7.jsonl" "$R7" | tail -c ${#FINAL7})" "$FINAL7" "7: the run ends with its final answer"
is "$(jq -r "$(_ev_sel "$R7") | select(.event == \"run.continued\") | .data.reason" "$T/c7.jsonl" | tr '\n' ' ')" \
	"handoff handoff " "7: two hand-offs (run.continued, reason handoff)"
is "$(ev_count "$T/c7.jsonl" run.resumed "$R7") $(ev_count "$T/c7.jsonl" run.started "$R7")" "0 1" \
	"7: ...that redo nothing (no run.resumed; run.started once)"
diag "7: /api/live through the balancer during the rolling stop: $(sort "$T/live.codes" | uniq -c | tr -s ' ' | tr '\n' ',')"
cmp_ok "$(grep -c . "$T/live.codes")" -ge 20 "7: /api/live was polled all along"
is "$(grep -cv '^200$' "$T/live.codes")" 0 "7: not one /api/live failed through the balancer"
is "$(tail -n +$((LB_MARK7 + 1)) "$LB_DIR/lb-access.log" | jq -r 'select(.status >= 500) | .status' 2>/dev/null | grep -c .)" 0 \
	"7: the balancer answered no 5xx at all during the rolling stop"

# ---- 8. instance ids in every log line -------------------------------------------------------
for n in A B; do
	total=$(rep_json "$n" '.msg' | grep -c .)
	missing=$(rep_json "$n" "select(.instance != \"${REP_ID[$n]}\") | .msg" | grep -c .)
	cmp_ok "$total" -gt 50 "8: replica $n logged ($total JSON lines)"
	is "$missing" 0 "8: every line of replica $n carries \"instance\":\"${REP_ID[$n]}\""
done

diag "t_replicas.sh took $(($(now_ms) - T_START)) ms"
rep_sanitizers
tap_done
