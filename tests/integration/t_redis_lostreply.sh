#!/usr/bin/env bash
# t_redis_lostreply.sh: an event append that Redis made but whose reply never
# reached the runner (the connection broke after the script ran: a restart,
# a failover, a network cut) is retried without appending the event twice.
# claude-web talks to Redis through a proxy that, once, lets the command
# carrying a marker through and then drops its reply and the connection.
# (CI met this as a duplicated text.delta after a Redis restart.)
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source=tests/integration/lib_auth.sh
. "$(dirname "$0")/lib_auth.sh"
# shellcheck source=tests/integration/lib_agent.sh
. "$(dirname "$0")/lib_agent.sh"
cw_require_agent ss
AGENT_NO_TOOLS=1

MARKER=LOSTREPLY
PROXY_SOCK=$T/redis-proxy.sock
PROXY_LOG=$T/log/redis-proxy.log
cat >"$T/redis_proxy.py" <<'PYEOF'
"""Unix-socket proxy to Redis. Armed by a file ARM holding "MARKER SKIP":
the (SKIP+1)-th command sent that carries MARKER goes through; its reply is
read from Redis, thrown away, and the client's connection is closed (the
reply is lost, the command was made). The file goes once it has fired."""
import os, socket, sys, threading

listen, backend, arm, log = sys.argv[1:5]
armed = threading.Lock()
seen = [0]


def armed_marker():
    try:
        with open(arm) as f:
            m, skip = f.read().split()
        return m.encode(), int(skip)
    except (OSError, ValueError):
        return None, 0


def say(msg):
    with open(log, "a") as f:
        f.write(msg + "\n")


def close(*socks):
    for s in socks:
        try:
            s.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        s.close()


def serve(c):
    try:
        b = socket.socket(socket.AF_UNIX)
        b.connect(backend)
    except OSError:
        c.close()
        return
    drop = [False]

    def up():  # client -> redis
        tail = b""
        try:
            while True:
                d = c.recv(65536)
                if not d:
                    break
                with armed:
                    marker, skip = armed_marker()
                    if marker is not None and marker in tail + d:
                        seen[0] += 1
                        if seen[0] > skip:
                            seen[0] = 0
                            os.unlink(arm)
                            drop[0] = True
                            say("fired on " + repr(d[:90]))
                tail = (tail + d)[-64:]
                b.sendall(d)
        except OSError:
            pass
        close(b)

    def down():  # redis -> client
        try:
            while True:
                d = b.recv(65536)
                if not d:
                    break
                if drop[0]:
                    say("dropped a reply of %d bytes" % len(d))
                    break
                c.sendall(d)
        except OSError:
            pass
        close(c, b)

    threading.Thread(target=up, daemon=True).start()
    down()


try:
    os.unlink(listen)
except FileNotFoundError:
    pass
srv = socket.socket(socket.AF_UNIX)
srv.bind(listen)
srv.listen(128)
say("listening")
while True:
    conn, _ = srv.accept()
    threading.Thread(target=serve, args=(conn,), daemon=True).start()
PYEOF
mkdir -p "$T/log"
PROXY_ARM=$T/redis-proxy.arm
python3 "$T/redis_proxy.py" "$PROXY_SOCK" "$REDIS_SOCKET" "$PROXY_ARM" "$PROXY_LOG" &
BG_PIDS+=($!)
proxy_up() { [ -S "$PROXY_SOCK" ]; }
wait_for 10 proxy_up || cw_bail "the Redis proxy did not start"

CW_CONF[REDIS_URL]=unix://$PROXY_SOCK
CW_CONF[RUNNER_WORKERS]=1
agent_stack_up
new_session || cw_bail "cannot create a session: $HTTP_STATUS $(cat "$BODY")"

# 16-character pieces, one of them carrying the marker.
TEXT=$(printf 'Piece %02d of the ' $(seq 1 6))"$MARKER piece 07 "$(printf 'Piece %02d of the ' $(seq 8 14))
fake_script "$(jq -cn --arg s "$TEXT" '{turns: [{content: [{type: "text", text: $s, split: 16}], delay_ms: 20}]}')"
MARK=$(events_mark "$SID")
echo "$MARKER 0" >"$PROXY_ARM"
post_msg "$SID" "an answer whose append loses its reply"
RA=$RUN_ID
is "$HTTP_STATUS" 202 "message accepted"
sse_read "$T/a.jsonl" --last-event-id "$MARK" --until "$FINAL_EVENTS" --run-id "$RA" --timeout 40
is "$SSE_END" until "the run reached its final event"
check "the proxy dropped the reply of the command carrying the marker" \
	grep -q '^dropped a reply' "$PROXY_LOG"
diag "$(cat "$PROXY_LOG")"
is "$(redis_final_count "$SID" "$RA")" 1 "exactly one final event in the log"
is "$(ev_count "$T/a.jsonl" run.finished "$RA")" 1 "... and it is run.finished"
redis_events "$SID" "$T/redis.jsonl"
is "$(jq -r "$(_ev_sel "$RA") | select(.event == \"text.delta\") | .data.text" "$T/redis.jsonl" |
	grep -c "$MARKER")" 1 "the delta whose reply was lost is in the log once"
is "$(ev_text "$T/redis.jsonl" "$RA")" "$TEXT" "the log's deltas add up to the answer, nothing twice"
is "$(ev_text "$T/a.jsonl" "$RA")" "$TEXT" "the client saw the answer once"
check "event ids strictly increase" ids_ok "$T/a.jsonl"
get_history "$SID"
is "$(jq -r '[.messages[] | select(.role == "assistant")] | length' "$T/hist.json")" 1 \
	"the history holds one answer"
is "$(jq -r '[.messages[] | select(.role == "assistant")][0].content |
	if type == "string" then . else map(.text // "") | join("") end' "$T/hist.json")" "$TEXT" \
	"... the whole of it"
# ---- 2. every command of a message's way, one at a time ---------------------------------
# Run k (k = 0, 1, ...) loses the reply of the k-th command naming the session
# after its POST: reads, the auth check, queueing, the runner's lock, fence,
# appends, usage, the final event, the stream's reads. Whatever is lost, the
# message is either refused with nothing queued, or accepted and run once:
# one run.queued, one final event, its answer once in the history; the
# session keeps taking messages.
SWEEP=${SWEEP:-40}
fired=0 bad=''
hist_len() {
	get_history "$SID" && jq '[.messages[]] | length' "$T/hist.json"
}
HN=$(hist_len)
for k in $(seq 0 "$SWEEP"); do
	: >"$PROXY_LOG"
	fake_reset
	T2="The answer of message $k."
	fake_script "$(jq -cn --arg s "$T2" '{turns: [{content: [{type: "text", text: $s}]}]}')"
	echo "$SID $k" >"$PROXY_ARM"
	MARK=$(events_mark "$SID")
	post_msg "$SID" "message $k"
	PS=$HTTP_STATUS
	if [ "$PS" = 202 ]; then
		sse_read "$T/m$k.jsonl" --last-event-id "$MARK" --until "$FINAL_EVENTS" \
			--run-id "$RUN_ID" --timeout 20
	fi
	rm -f "$PROXY_ARM"
	grep -q '^dropped a reply' "$PROXY_LOG" && fired=$((fired + 1))
	cmd=$(sed -n 's/^fired on //p' "$PROXY_LOG" | head -n 1 | cut -c1-100)
	H=$(hist_len)
	redis_events "$SID" "$T/redis.jsonl"
	if [ "$PS" = 202 ]; then
		got="sse $SSE_END queued $(ev_count "$T/redis.jsonl" run.queued "$RUN_ID") final $(redis_final_count "$SID" "$RUN_ID") finished $(ev_count "$T/redis.jsonl" run.finished "$RUN_ID") history +$((H - HN))"
		[ "$got" = "sse until queued 1 final 1 finished 1 history +2" ] ||
			bad="$bad
k=$k accepted: $got (lost: $cmd)"
	else
		nq=$(redis_cli XRANGE "cw:{c}:events:$SID" "($MARK" + | grep -c '^run\.queued$')
		case $PS in
		5??) ;;
		*) bad="$bad
k=$k: status $PS (lost: $cmd)" ;;
		esac
		[ "$nq" = 0 ] && [ "$H" = "$HN" ] || bad="$bad
k=$k refused ($PS) but something was queued: run.queued $nq, history +$((H - HN)) (lost: $cmd)"
	fi
	HN=$H
done
diag "the sweep lost $fired replies in $((SWEEP + 1)) messages"
check "2: the sweep lost a reply in most of its messages" [ "$fired" -ge "$((SWEEP / 2))" ]
if [ -z "$bad" ]; then
	tap_ok "2: every message was refused with nothing queued, or ran once (one run.queued, one final event, one answer)"
else
	tap_fail "2: every message was refused with nothing queued, or ran once (one run.queued, one final event, one answer)" "$bad"
fi
post_msg "$SID" "after the sweep"
is "$HTTP_STATUS" 202 "2: the session still takes messages"
cw_stop_all
tap_done
