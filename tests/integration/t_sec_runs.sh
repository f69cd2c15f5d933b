#!/usr/bin/env bash
# t_sec_runs.sh: issue 10 items 2, 3, 5 (runs side), 22. A FIFO named
# CLAUDE.md does not block a runner; a job that kills every runner ends in a
# clear run.error after JOB_MAX_DELIVERIES; a stale active-run guard (left by
# a Redis failure or a runner death) never blocks a session: the next POST and
# cancel clear it; Redis error replies (-OOM, -NOGROUP) are failures: 503, not
# a false 409, and a deleted consumer group is recreated without spinning.
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source=tests/integration/lib_auth.sh
. "$(dirname "$0")/lib_auth.sh"
# shellcheck source=tests/integration/lib_agent.sh
. "$(dirname "$0")/lib_agent.sh"
cw_require_agent ss
AGENT_NO_TOOLS=1

CW_CONF[RUNNER_WORKERS]=2
CW_CONF[RUN_LOCK_TTL]=2
CW_CONF[JOB_MAX_DELIVERIES]=2
agent_stack_up
new_session || cw_bail "cannot create a session: $HTTP_STATUS $(cat "$BODY")"
FILES=$T/workspace/sessions/session-$SID/files

# ---- 2a. CLAUDE.md as a FIFO, a symlink out, a regular file ------------------------
mkfifo "$FILES/CLAUDE.md"
fake_script '{"turns":[{"text":"fifo ok"}]}'
T0=$(now_ms)
run_msg "$SID" "hello with a fifo" 15
is "$SSE_END $(ev_text "$EV" "$RUN_ID")" "until fifo ok" "2a: a FIFO CLAUDE.md does not block the run"
cmp_ok "$(($(now_ms) - T0))" -lt 10000 "2a: ... which finishes promptly"
fake_requests
unlike "$(fake_req 1 '.body.system[0].text')" 'Project memory' "2a: the FIFO is not read into the system prompt"
rm -f "$FILES/CLAUDE.md"
printf 'host secret\n' >"$T/host-secret.txt"
ln -s "$T/host-secret.txt" "$FILES/CLAUDE.md"
fake_reset
fake_script '{"turns":[{"text":"link ok"}]}'
run_msg "$SID" "hello with a symlink" 15
fake_requests
is "$SSE_END" until "2a: a symlinked CLAUDE.md does not break the run"
unlike "$(fake_req 1 '.body.system[0].text')" 'host secret' "2a: a symlink out of the workspace is not followed"
rm -f "$FILES/CLAUDE.md"
printf 'Always answer in haiku.\n' >"$FILES/CLAUDE.md"
fake_reset
fake_script '{"turns":[{"text":"file ok"}]}'
run_msg "$SID" "hello with a real file" 15
fake_requests
like "$(fake_req 1 '.body.system[0].text')" 'Always answer in haiku' "2a: a regular CLAUDE.md is in the system prompt"
rm -f "$FILES/CLAUDE.md"

# ---- 14. the message text is not kept in Redis -----------------------------------
SECRET_PROMPT="prompt-body-$RANDOM-$RANDOM"
fake_reset
fake_script '{"turns":[{"text":"noted"}]}'
run_msg "$SID" "$SECRET_PROMPT" 15
is "$SSE_END" until "14: a run finishes"
unlike "$(redis_cli --scan --pattern 'cw:{c}:run:*' | while read -r k; do redis_cli HGETALL "$k"; done)" \
	"$SECRET_PROMPT" "14: no run record in Redis holds the message text"
get_history "$SID"
like "$(cat "$T/hist.json")" "$SECRET_PROMPT" "14: the history has it"
is "$(find "$T/workspace/sessions/session-$SID/.claude/inbox" -type f 2>/dev/null | wc -l)" 0 \
	"14: the inbox is empty once the run has the message"

# ---- 3. stale guards -------------------------------------------------------------------
# (a) a guard without a run record (what a Redis stall after "guard set" left).
redis_cli SET "cw:{c}:active:$SID" deadbeefdeadbeefdeadbeefdeadbeef EX 86400 >/dev/null
fake_reset
fake_script '{"turns":[{"text":"healed a"}]}'
run_msg "$SID" "after a stale guard" 15
is "$HTTP_STATUS $SSE_END" "202 until" "3a: a guard with no run behind it does not refuse the message"
# (a') a run record "queued" whose job never made it to cw:{c}:jobs.
redis_cli HSET cw:{c}:run:cafecafecafecafecafecafecafecafe session "$SID" user ann kind message status queued >/dev/null
redis_cli SET "cw:{c}:active:$SID" cafecafecafecafecafecafecafecafe EX 86400 >/dev/null
api_bearer "$TOKEN" "/api/sessions/$SID/cancel" -X POST
is "$HTTP_STATUS $(json .status)" "200 cancelled" "3a: cancel clears a guard whose run has no job and no runner"
is "$(redis_cli EXISTS "cw:{c}:active:$SID")" 0 "3a: ... the guard is gone"
is "$(redis_cli HGET cw:{c}:run:cafecafecafecafecafecafecafecafe status)" cancelled "3a: ... and that run is closed"
is "$(redis_final_count "$SID" cafecafecafecafecafecafecafecafe)" 1 "3a: ... with one final event (run.cancelled)"
api_bearer "$TOKEN" "/api/sessions/$SID/cancel" -X POST
is "$HTTP_STATUS" 409 "3a: a second cancel: nothing is active (409)"
# (b) the runner died after the final event, before clearing the guard.
redis_cli HSET cw:{c}:run:beefbeefbeefbeefbeefbeefbeefbeef session "$SID" user ann kind message status finished >/dev/null
redis_cli SET "cw:{c}:active:$SID" beefbeefbeefbeefbeefbeefbeefbeef EX 86400 >/dev/null
fake_reset
fake_script '{"turns":[{"text":"healed b"}]}'
run_msg "$SID" "after a dead runner" 15
is "$HTTP_STATUS $SSE_END" "202 until" "3b: a guard naming a finished run does not refuse the message"
is "$(redis_final_count "$SID" beefbeefbeefbeefbeefbeefbeefbeef)" 0 "3b: a finished run is not closed twice"
# The final event and the guard are one step: once the final event is readable
# the guard is already gone.
is "$(redis_cli EXISTS "cw:{c}:active:$SID")" 0 "3b: the guard is cleared together with the final event"
# A live run keeps its session: a second message waits behind it (issue 11).
fake_reset
fake_script "$(jq -cn --arg s "$(printf 'slow %02d. ' $(seq 1 20))" '{turns: [{text: $s, delay_ms: 100}, {text: "second"}]}')"
MARK=$(events_mark "$SID")
post_msg "$SID" "slow one"
R_SLOW=$RUN_ID
post_msg "$SID" "while it runs"
R_NEXT=$RUN_ID
is "$HTTP_STATUS $(json .state)" "202 session" "3: a live run queues a second message behind it"
sse_read "$T/slow.jsonl" --last-event-id "$MARK" --until "$FINAL_EVENTS" --run-id "$R_SLOW" --timeout 20
is "$SSE_END" until "3: ... the first finishes"
sse_read "$T/next.jsonl" --last-event-id "$MARK" --until "$FINAL_EVENTS" --run-id "$R_NEXT" --timeout 20
is "$SSE_END" until "3: ... then the queued one runs and finishes"

# ---- 5. Redis error replies are failures ----------------------------------------------
redis_cli CONFIG SET maxmemory 1 >/dev/null
post_msg "$SID" "redis is full"
is "$HTTP_STATUS" 503 "5: Redis at maxmemory: POST /messages is 503, not 409 or 202"
is_json_error 503 "5: ... with a JSON error"
is "$(redis_cli EXISTS "cw:{c}:active:$SID")" 0 "5: ... and no guard is left behind"
redis_cli CONFIG SET maxmemory 0 >/dev/null
fake_reset
fake_script '{"turns":[{"text":"room again"}]}'
run_msg "$SID" "redis has room" 15
is "$HTTP_STATUS $SSE_END" "202 until" "5: once Redis has room the session works at once"
# A deleted consumer group: recreated, runs go on, no busy loop.
redis_cli XGROUP DESTROY cw:{c}:jobs runners >/dev/null
fake_reset
fake_script '{"turns":[{"text":"group back"}]}'
run_msg "$SID" "after the group was deleted" 20
is "$HTTP_STATUS $SSE_END" "202 until" "5: a deleted consumer group is recreated and the run completes"
MARKL=$(wc -l <"$T/log/claude-web.log")
wait_for 2 false
is "$(tail -n +"$MARKL" "$T/log/claude-web.log" | grep -c 'NOGROUP')" 0 "5: no NOGROUP errors keep coming afterwards"

# ---- 2b. a job that kills every runner: delivery limit -----------------------------------
fake_reset
fake_script "$(jq -cn --arg s "$(printf 'doomed %02d. ' $(seq 1 200))" '{turns: [{text: $s, delay_ms: 200}, {text: $s, delay_ms: 200}, {text: $s, delay_ms: 200}, {text: "never"}]}')"
MARK=$(events_mark "$SID")
post_msg "$SID" "kill every runner"
RK=$RUN_ID
is "$HTTP_STATUS" 202 "2b: message accepted"
killed=''
for attempt in 1 2; do
	# the runner of this delivery: the newest "run started" line with delivery=$attempt
	victim_of() { log_json "select(.msg == \"run started\" and .run_id == \"$RK\" and .delivery == $attempt) | .pid" | tail -n 1; }
	has_victim() { [ -n "$(victim_of)" ]; }
	# the first attempt dies after it streamed some text
	has_text() { redis_cli XRANGE "cw:{c}:events:$SID" - + 2>/dev/null | grep -A2 -x 'text.delta' | grep -q "$RK"; }
	if wait_for 30 has_victim && { [ "$attempt" != 1 ] || wait_for 30 has_text; }; then
		V=$(victim_of)
		kill -KILL "$V" 2>/dev/null
		wait_for 5 pid_gone "$V" && killed="$killed $attempt"
	fi
done
is "$killed" " 1 2" "2b: the runner was killed on its 1st and 2nd delivery"
sse_read "$T/k2b.jsonl" --last-event-id "$MARK" --until "$FINAL_EVENTS" --run-id "$RK" --timeout 40
is "$SSE_END" until "2b: the run reached a final event"
is "$(ev_first "$T/k2b.jsonl" run.error "$RK" | jq -r .type)" delivery_limit \
	"2b: a clear run.error of type delivery_limit ends it"
is "$(redis_final_count "$SID" "$RK")" 1 "2b: exactly one final event"
check "2b: the runner pool is refilled" wait_for 10 pool_full runner 2
fake_reset
fake_script '{"turns":[{"text":"alive"}]}'
run_msg "$SID" "the pool still works" 20
is "$HTTP_STATUS $SSE_END $(ev_text "$EV" "$RUN_ID")" "202 until alive" "2b: the next run works"

# ---- 10/22. a dead runner's lock and consumer ------------------------------------------
# run.resumed comes at once with what is redone; the dead consumer leaves the group.
is "$(ev_count "$T/k2b.jsonl" run.resumed "$RK")" 1 "10: the takeover within the limit announced itself with run.resumed"
is "$(ev_first "$T/k2b.jsonl" run.resumed "$RK" | jq -r '.discarded_text')" true \
	"10: run.resumed says the partial text was discarded"
consumers_gone() {
	local c p
	for c in $(redis_cli XINFO CONSUMERS cw:{c}:jobs runners | awk 'p {print; p=0} /^name$/ {p=1}'); do
		p=${c%-*}   # host-pid-random
		case " $DEAD " in *" ${p##*-} "*) return 1 ;; esac
	done
	return 0
}
DEAD=$(log_json "select(.msg == \"run started\" and .run_id == \"$RK\" and .delivery < 3) | .pid" | tr '\n' ' ')
check "22: dead runners' consumers leave the consumer group" wait_for 15 consumers_gone

cw_stop_all
tap_done
