#!/usr/bin/env bash
# t_sec_events.sh: issue 10 items 4 and 14. A Redis restart or a full Redis
# during a run never leaves a hole in the event log: appends are retried while
# the lock is ours, and when the log stays unwritable the job is left pending
# (not acked) and recovery redoes the step, announcing it with run.resumed;
# every run ends with exactly one final event. Event streams are capped in
# entries and in bytes.
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source=tests/integration/lib_auth.sh
. "$(dirname "$0")/lib_auth.sh"
# shellcheck source=tests/integration/lib_agent.sh
. "$(dirname "$0")/lib_agent.sh"
cw_require_agent ss
AGENT_NO_TOOLS=1

CW_CONF[RUNNER_WORKERS]=2
CW_CONF[RUN_LOCK_TTL]=4
CW_CONF[EVENTS_MAXLEN]=150
CW_CONF[EVENTS_MAX_BYTES]=65536
agent_stack_up
new_session || cw_bail "cannot create a session: $HTTP_STATUS $(cat "$BODY")"

has_text_delta() {
	redis_cli XRANGE "cw:{c}:events:$1" - + 2>/dev/null | grep -A2 -x 'text.delta' | grep -q "$2"
}
# text_after_resume FILE RUN: the run's text after its last run.resumed.
text_after_resume() {
	jq -j "$(_ev_sel "$2") | select(.event == \"text.delta\" or .event == \"run.resumed\") |
		if .event == \"run.resumed\" then \"|\" else .data.text end" "$1" | sed 's/.*|//'
}

# ---- 4a. Redis restarts in the middle of a streamed answer ----------------------------
TEXT=$(printf 'Piece %02d of the answer. ' $(seq 1 40))
fake_script "$(jq -cn --arg s "$TEXT" '{turns: [{content: [{type: "text", text: $s, split: 16}], delay_ms: 60}, {text: $s}]}')"
MARK=$(events_mark "$SID")
post_msg "$SID" "survive a redis restart"
RA=$RUN_ID
is "$HTTP_STATUS" 202 "4a: message accepted"
check "4a: the answer streams" wait_for 15 has_text_delta "$SID" "$RA"
cw_stop_redis
cw_start_redis || cw_bail "redis did not come back"
sse_read "$T/a.jsonl" --last-event-id "$MARK" --until "$FINAL_EVENTS" --run-id "$RA" --timeout 40
is "$SSE_END" until "4a: the run reached its final event after the restart"
is "$(redis_final_count "$SID" "$RA")" 1 "4a: exactly one final event in the log"
is "$(ev_count "$T/a.jsonl" run.finished "$RA")" 1 "4a: ... and it is run.finished"
if [ "$(ev_count "$T/a.jsonl" run.resumed "$RA")" = 0 ]; then
	is "$(ev_text "$T/a.jsonl" "$RA")" "$TEXT" "4a: no hole: the deltas in the log add up to the whole answer"
else
	is "$(text_after_resume "$T/a.jsonl" "$RA")" "$TEXT" \
		"4a: the step was redone (run.resumed) and streamed whole after it"
fi
check "4a: event ids strictly increase" ids_ok "$T/a.jsonl"

# ---- 4b. Redis full for a moment: appends wait, nothing is lost ----------------------------
fake_reset
fake_script "$(jq -cn --arg s "$TEXT" '{turns: [{content: [{type: "text", text: $s, split: 16}], delay_ms: 60}, {text: $s}]}')"
MARK=$(events_mark "$SID")
post_msg "$SID" "survive a full redis"
RB=$RUN_ID
check "4b: the answer streams" wait_for 15 has_text_delta "$SID" "$RB"
LM=$(log_mark)
redis_cli CONFIG SET maxmemory 1 >/dev/null
oom_seen() { log_since "$LM" | grep -q 'OOM'; }
check "4b: appends are refused while Redis is full" wait_for 10 oom_seen
redis_cli CONFIG SET maxmemory 0 >/dev/null
sse_read "$T/b.jsonl" --last-event-id "$MARK" --until "$FINAL_EVENTS" --run-id "$RB" --timeout 40
is "$SSE_END" until "4b: the run reached its final event"
is "$(redis_final_count "$SID" "$RB")" 1 "4b: exactly one final event"
if [ "$(ev_count "$T/b.jsonl" run.resumed "$RB")" = 0 ]; then
	is "$(ev_text "$T/b.jsonl" "$RB")" "$TEXT" "4b: no hole: the whole answer is in the log"
else
	is "$(text_after_resume "$T/b.jsonl" "$RB")" "$TEXT" "4b: redone after run.resumed, whole"
fi

# ---- 4c. Redis full for longer than the lock: job left pending, recovery finishes ---------
fake_reset
fake_script "$(jq -cn --arg s "$TEXT" '{turns: [{content: [{type: "text", text: $s, split: 16}], delay_ms: 60}, {text: $s}]}')"
MARK=$(events_mark "$SID")
post_msg "$SID" "survive a long full redis"
RC=$RUN_ID
check "4c: the answer streams" wait_for 15 has_text_delta "$SID" "$RC"
LM=$(log_mark)
redis_cli CONFIG SET maxmemory 1 >/dev/null
gave_up() { log_since "$LM" | grep -q 'event log unwritable'; }
check "4c: the runner gives up on the log after RUN_LOCK_TTL" wait_for 20 gave_up
is "$(redis_cli XPENDING cw:{c}:jobs runners | head -n 1)" 1 "4c: the job is not acked (still pending)"
isnt "$(redis_cli HGET "cw:{c}:run:$RC" status)" finished "4c: the run is not marked finished"
redis_cli CONFIG SET maxmemory 0 >/dev/null
sse_read "$T/c.jsonl" --last-event-id "$MARK" --until "$FINAL_EVENTS" --run-id "$RC" --timeout 60
is "$SSE_END" until "4c: recovery brought the run to its final event"
is "$(redis_final_count "$SID" "$RC")" 1 "4c: exactly one final event"
is "$(ev_count "$T/c.jsonl" run.finished "$RC")" 1 "4c: ... run.finished"
cmp_ok "$(ev_count "$T/c.jsonl" run.resumed "$RC")" -ge 1 "4c: the redo was announced with run.resumed"
is "$(text_after_resume "$T/c.jsonl" "$RC")" "$TEXT" "4c: the answer after run.resumed is whole"
is "$(redis_cli XPENDING cw:{c}:jobs runners | head -n 1)" 0 "4c: the job is acked at the end"
get_history "$SID"
is "$(jq -r '[.messages[] | select(.role == "assistant")][-1].content | map(.text // "") | join("")' "$T/hist.json")" \
	"$TEXT" "4c: the history holds the answer once"

# ---- 14. event streams capped in entries and bytes ------------------------------------------
new_session || cw_bail "cannot create a second session"
BIG=$(head -c 120000 /dev/zero | tr '\0' 'x')
fake_reset
fake_script "$(jq -cn --arg s "$BIG" '{turns: [{content: [{type: "text", text: $s, split: 1000}]}]}')"
run_msg "$SID" "a long answer" 40
is "$SSE_END" until "14: a run with a 120 kB answer finishes"
bytes=$(redis_cli --raw XRANGE "cw:{c}:events:$SID" - + | awk 'NR % 5 == 3 || NR % 5 == 0 { n += length($0) } END { print n + 0 }')
cmp_ok "$bytes" -le 70000 "14: the stream holds at most EVENTS_MAX_BYTES (+ one entry) ($bytes bytes)"
cmp_ok "$(redis_cli XLEN "cw:{c}:events:$SID")" -le 150 "14: and at most EVENTS_MAXLEN entries"
run_final_in_redis "$SID" "$RUN_ID" && tap_ok "14: the newest events (the final one) are kept" ||
	tap_fail "14: the newest events (the final one) are kept"

cw_stop_all
tap_done
