#!/usr/bin/env bash
# t_agent_recovery.sh: processes dying mid-run. A runner killed with SIGKILL
# while it streams: another runner reclaims the job after RUN_LOCK_TTL and the
# run completes exactly once. A stream worker killed while a client reads: the
# client sees EOF, reconnects with Last-Event-ID and misses nothing. A full
# restart of Redis, claude-web and nginx keeps the history.
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
CW_CONF[STREAM_WORKERS]=3
agent_stack_up
new_session || cw_bail "cannot create a session: $HTTP_STATUS $(cat "$BODY")"

# has_text_delta SID RUN: the run has streamed some text already.
has_text_delta() {
	redis_cli XRANGE "cw:{c}:events:$1" - + 2>/dev/null | grep -A2 -x 'text.delta' | grep -q "$2"
}

# ---- 5. kill -9 the runner mid-stream ----------------------------------------------
SLOW=$(printf 'Slow piece %02d. ' $(seq 1 30))
FINAL='Final answer after the recovery.'
PROMPT5='please survive a crash'
fake_script "$(jq -cn --arg s "$SLOW" --arg f "$FINAL" '{turns: [{text: $s, delay_ms: 150}, {text: $f}]}')"
MARK=$(events_mark "$SID")
post_msg "$SID" "$PROMPT5"
R5=$RUN_ID
is "$HTTP_STATUS" 202 "5: message accepted"
check "5: the run streams text" wait_for 10 has_text_delta "$SID" "$R5"
VICTIM=$(runner_pid_for "$R5")
like "$VICTIM" '^[0-9]+$' "5: the runner of the run is known from its log ($VICTIM)"
like "$(ss -tnp state established "( dport = :$FAKE_PORT )" 2>/dev/null | grep "pid=$VICTIM,")" . \
	"5: that runner holds a connection to the fake API"
T0=$(now_ms)
kill -KILL "$VICTIM" 2>/dev/null
check "5: the runner is gone" wait_for 5 pid_gone "$VICTIM"
sse_read "$T/k5.jsonl" --last-event-id "$MARK" --until "$FINAL_EVENTS" --run-id "$R5" --timeout 30
RECOVER_MS=$(($(now_ms) - T0))
is "$SSE_END" until "5: the run reached a final event after the kill"
is "$(ev_count "$T/k5.jsonl" run.finished "$R5") $(ev_count "$T/k5.jsonl" run.error "$R5")" "1 0" \
	"5: exactly one run.finished, no run.error"
cmp_ok "$RECOVER_MS" -le 15000 "5: recovered within 15 s with RUN_LOCK_TTL=2 (${RECOVER_MS} ms)"
is "$(jq -r "$(_ev_sel "$R5") | select(.event == \"run.started\") | .data.resumed" "$T/k5.jsonl" | tr '\n' ' ')" \
	"false true " "5: run.started twice, the second resumed"
isnt "$(runner_pid_for "$R5")" "$VICTIM" "5: another runner took the run over"
check "5: event ids strictly increase across the takeover" ids_ok "$T/k5.jsonl"
# After the takeover the final text is streamed whole.
is "$(jq -j "$(_ev_sel "$R5") | select(.event == \"text.delta\" or .event == \"run.started\") |
	if .event == \"run.started\" then \"|\" else .data.text end" "$T/k5.jsonl" | sed 's/.*|//')" \
	"$FINAL" "5: the resumed run streams the final answer"
sleep 1
is "$(redis_final_count "$SID" "$R5")" 1 "5: the run's final event is in Redis exactly once"
get_history "$SID"
is "$(jq --arg p "$PROMPT5" '[.messages[] | select(.role == "user") | .content | if type == "string" then . else map(.text // "") | join("") end | select(contains($p))] | length' "$T/hist.json")" 1 \
	"5: history has exactly one user message for the run"
is "$(jq '[.messages[] | select(.role == "assistant")] | length' "$T/hist.json")" 1 \
	"5: history has exactly one assistant message"
is "$(jq -r '[.messages[] | select(.role == "assistant")][-1].content | map(.text // "") | join("")' "$T/hist.json")" \
	"$FINAL" "5: the assistant message is the final answer (no partial text)"
is "$(fake_nreq)" 2 "5: two requests at the fake (the killed one and the retry)"
fake_stats
is "$(jq -r '.per_request[0].bytes_sent < .per_request[0].bytes_total' "$FAKE_STATS")" true \
	"5: the killed runner's stream was cut short"
check "5: the runner pool is refilled" wait_for 10 pool_full runner 2
fake_script '{"turns":[{"text":"Business as usual."}]}'
run_msg "$SID" "after the crash"
is "$HTTP_STATUS $SSE_END" "202 until" "5: no 409 afterwards: a new message is accepted and finishes"
is "$(ev_text "$EV" "$RUN_ID")" "Business as usual." "5: ...with the scripted answer"

# ---- 6. kill -9 a stream worker while a client reads ----------------------------------
SLOW6=$(printf 'Stream piece %02d. ' $(seq 1 30))
fake_script "$(jq -cn --arg s "$SLOW6" '{turns: [{text: $s, delay_ms: 100}]}')"
MARK=$(events_mark "$SID")
post_msg "$SID" "stream worker crash"
R6=$RUN_ID
sse_bg "$T/s1.jsonl" --last-event-id "$MARK" --until "$FINAL_EVENTS" --run-id "$R6" --timeout 30
C1=$SSE_BG_PID
check "6: the client is reading text" wait_for 10 eval "[ \$(grep -c text.delta '$T/s1.jsonl') -ge 3 ]"
BUSY=$(stream_worker_busy)
is "$(printf '%s\n' "$BUSY" | grep -c .)" 1 "6: exactly one stream worker holds a connection ($BUSY)"
# shellcheck disable=SC2086 # one pid per word
kill -KILL $BUSY 2>/dev/null
check "6: the client's connection ends" wait_for 5 pid_gone "$C1"
wait "$C1" 2>/dev/null
like "$(jq -r .reason "$T/s1.jsonl.end")" '^(eof|end)$' "6: the client saw EOF ($(jq -r .reason "$T/s1.jsonl.end"))"
is "$(ev_count "$T/s1.jsonl" run.finished "$R6")" 0 "6: ...without run.finished"
LAST=$(ev_ids "$T/s1.jsonl" | tail -n 1)
sse_read "$T/s2.jsonl" --last-event-id "$LAST" --until "$FINAL_EVENTS" --run-id "$R6" --timeout 30
is "$SSE_END" until "6: the reconnected client gets the rest up to run.finished"
sse_read "$T/s3.jsonl" --last-event-id "$MARK" --until "$FINAL_EVENTS" --run-id "$R6" --timeout 30
is "$( { ev_ids "$T/s1.jsonl"; ev_ids "$T/s2.jsonl"; } | tr '\n' ' ')" "$(ev_ids "$T/s3.jsonl" | tr '\n' ' ')" \
	"6: both connections together == one uninterrupted read"
is "$( { ev_ids "$T/s1.jsonl"; ev_ids "$T/s2.jsonl"; } | sort | uniq -d | tr '\n' ' ')" "" "6: no duplicate ids"
is "$(ev_text "$T/s1.jsonl" "$R6")$(ev_text "$T/s2.jsonl" "$R6")" "$SLOW6" "6: the text is complete"
check "6: the stream pool is refilled" wait_for 10 pool_full stream 3

# ---- 9. history survives a full restart ----------------------------------------------------
wait_for 10 eval '[ -z "$(redis_cli GET "cw:{c}:active:$SID")" ]'
get_history "$SID"
cp "$T/hist.json" "$T/hist.before.json"
NMSG=$(jq '.messages | length' "$T/hist.before.json")
cmp_ok "$NMSG" -ge 6 "9: the session has a history ($NMSG messages)"
EMARK=$(events_mark "$SID")
cw_stop_all
check "9: everything stopped" eval '[ -z "$MASTER_PID$REDIS_PID$NGINX_PID" ]'
cw_start_all || cw_bail "could not restart the stack"
wait_for 10 pool_full runner 2
login ann ann-password-1 || diag "9: ann cannot log in after the restart"
get_history "$SID"
is "$HTTP_STATUS" 200 "9: GET messages after the restart is 200"
is "$(jq -c .messages "$T/hist.json")" "$(jq -c .messages "$T/hist.before.json")" \
	"9: the history is the same after the restart"
is "$(events_mark "$SID")" "$EMARK" "9: the event log survived too"
fake_script '{"turns":[{"text":"After the restart."}]}'
run_msg "$SID" "after the restart"
is "$HTTP_STATUS $SSE_END" "202 until" "9: a new run works after the restart"
fake_requests
is "$(jq -c '.requests[-1].body.messages | length' "$FAKE_REQS")" "$((NMSG + 1))" \
	"9: its request carries the whole restored history"
get_history "$SID"
is "$(jq '.messages | length' "$T/hist.json")" "$((NMSG + 2))" "9: the history grew by one exchange"

tap_done
