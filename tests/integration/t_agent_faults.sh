#!/usr/bin/env bash
# t_agent_faults.sh: upstream faults during a run, scripted in the fake
# Anthropic API. Each fault ends in bounded retries and success, or in one
# clear run.error; afterwards /api/live is 200 and a new run on the same
# session works. 429 + retry-after, 529 twice, 500 always (exactly
# CLAUDE_MAX_RETRIES+1 attempts), 400/401 (exactly one attempt), an error event
# mid-stream, a stream cut before message_stop, headers then silence
# (CLAUDE_STALL_TIMEOUT), a byte-by-byte trickle, malformed JSON, a 10 MB line.
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source=tests/integration/lib_auth.sh
. "$(dirname "$0")/lib_auth.sh"
# shellcheck source=tests/integration/lib_agent.sh
. "$(dirname "$0")/lib_agent.sh"
cw_require_agent
AGENT_NO_TOOLS=1

MAXR=3
CW_CONF[RUNNER_WORKERS]=1
CW_CONF[CLAUDE_MAX_RETRIES]=$MAXR
CW_CONF[CLAUDE_RETRY_BASE_MS]=50
CW_CONF[CLAUDE_STALL_TIMEOUT]=2
CW_CONF[CLAUDE_RETRY_MAX_SECONDS]=10
agent_stack_up
new_session || cw_bail "cannot create a session: $HTTP_STATUS $(cat "$BODY")"
DEFAULT_TEXT='Hello from the fake Anthropic server.'

# fault_run SCRIPT PROMPT [TIMEOUT]: a fresh fake queue, then one run.
# EV, RUN_ID, RUN_MS (post to final event), NREQ (requests at the fake).
fault_run() {
	local t0
	fake_reset
	fake_script "$1" || return 1
	t0=$(now_ms)
	run_msg "$SID" "$2" "${3:-30}"
	RUN_MS=$(($(now_ms) - t0))
	NREQ=$(fake_nreq)
}

# final_is TYPE DESC: the run ended with exactly one final event, TYPE.
final_is() {
	is "$SSE_END $(ev_types "$EV" "$RUN_ID" | grep -E '^run\.(finished|error|cancelled)$' | tr '\n' ' ')" \
		"until $1 " "$2"
}

# after_fault NAME: /api/live is 200 and a new run on the same session works.
after_fault() {
	fake_reset
	api_get /api/live
	is "$HTTP_STATUS" 200 "$1: /api/live is 200 afterwards"
	run_msg "$SID" "still there after $1?"
	is "$SSE_END $(ev_first "$EV" run.finished "$RUN_ID" | jq -r .stop_reason) $(ev_text "$EV" "$RUN_ID")" \
		"until end_turn $DEFAULT_TEXT" "$1: a new run on the same session works afterwards"
}

# last_answer: text of the newest assistant message in the history.
last_answer() {
	get_history "$SID"
	jq -r '[.messages[] | select(.role == "assistant")][-1].content | map(.text // "") | join("")' \
		"$T/hist.json" 2>/dev/null
}

# ---- 429 with retry-after, then success -------------------------------------------
fault_run '{"turns":[{"fault":{"type":"http","status":429,"retry_after":1}},{"text":"After the rate limit."}]}' "rate limited"
final_is run.finished "429: the run finishes after a retry"
R=$(ev_first "$EV" run.retrying "$RUN_ID")
is "$(ev_count "$EV" run.retrying "$RUN_ID")" 1 "429: one run.retrying event"
is "$(printf '%s' "$R" | jq -r '.attempt')" 1 "429: run.retrying attempt 1"
is "$(printf '%s' "$R" | jq -r '.delay_ms')" 1000 "429: run.retrying delay_ms = retry-after (1 s)"
like "$(printf '%s' "$R" | jq -r '.reason')" '429|rate' "429: run.retrying gives the reason"
is "$NREQ" 2 "429: two requests at the fake"
GAP=$(jq '(.requests[1].t - .requests[0].t) * 1000 | floor' "$FAKE_REQS")
cmp_ok "$GAP" -ge 950 "429: the retry came after retry-after (${GAP} ms)"
cmp_ok "$GAP" -le 2500 "429: ...and not much later"
is "$(last_answer)" "After the rate limit." "429: the answer is in the history"
after_fault 429

# ---- 529 twice, then success ---------------------------------------------------
fault_run '{"turns":[{"fault":{"type":"http","status":529},"repeat":2},{"text":"Not overloaded any more."}]}' "overloaded"
final_is run.finished "529x2: the run finishes"
is "$(jq -r "$(_ev_sel "$RUN_ID") | select(.event == \"run.retrying\") | .data.attempt" "$EV" | tr '\n' ' ')" \
	"1 2 " "529x2: run.retrying for attempts 1 and 2"
like "$(ev_first "$EV" run.retrying "$RUN_ID" | jq -r .reason)" '529|verload' "529x2: the reason names the overload"
cmp_ok "$(jq -r "$(_ev_sel "$RUN_ID") | select(.event == \"run.retrying\") | .data.delay_ms" "$EV" | sort -n | tail -n 1)" \
	-le 200 "529x2: backoff from CLAUDE_RETRY_BASE_MS=50 stays small"
is "$NREQ" 3 "529x2: three requests at the fake"
is "$(ev_text "$EV" "$RUN_ID")" "Not overloaded any more." "529x2: the streamed text is the successful answer"
after_fault 529x2

# ---- 500 always ----------------------------------------------------------------
fault_run '{"turns":[{"fault":{"type":"http","status":500},"repeat":50}]}' "server error"
final_is run.error "500: the run ends in run.error"
is "$NREQ" $((MAXR + 1)) "500: exactly CLAUDE_MAX_RETRIES+1 = $((MAXR + 1)) requests"
is "$(ev_count "$EV" run.retrying "$RUN_ID")" "$MAXR" "500: $MAXR run.retrying events"
E=$(ev_first "$EV" run.error "$RUN_ID")
is "$(printf '%s' "$E" | jq -r .type)" api_error "500: run.error type api_error"
like "$(printf '%s' "$E" | jq -r .message)" '500' "500: run.error message names the status"
cmp_ok "$RUN_MS" -le 5000 "500: gave up within 5 s (${RUN_MS} ms)"
after_fault 500

# ---- 400 and 401: final at once -----------------------------------------------------
fault_run '{"turns":[{"fault":{"type":"http","status":400}}]}' "too long"
final_is run.error "400: run.error"
is "$NREQ" 1 "400: exactly one request"
is "$(ev_count "$EV" run.retrying "$RUN_ID")" 0 "400: no retry"
E=$(ev_first "$EV" run.error "$RUN_ID")
is "$(printf '%s' "$E" | jq -r .type)" invalid_request_error "400: run.error type invalid_request_error"
like "$(printf '%s' "$E" | jq -r .message)" 'prompt is too long' "400: run.error carries the API's message"
after_fault 400

fault_run '{"turns":[{"fault":{"type":"http","status":401}}]}' "bad key"
final_is run.error "401: run.error"
is "$NREQ" 1 "401: exactly one request"
is "$(ev_count "$EV" run.retrying "$RUN_ID")" 0 "401: no retry"
is "$(ev_first "$EV" run.error "$RUN_ID" | jq -r .type)" authentication_error "401: run.error type authentication_error"
after_fault 401

# ---- error event mid-stream -----------------------------------------------------------
fault_run '{"turns":[{"text":"This answer will be interrupted by an error event.","fault":{"type":"error_event","after_events":4,"error_type":"overloaded_error"}},{"text":"Second attempt."}]}' "error event"
final_is run.finished "error event: the run finishes after a retry"
is "$NREQ" 2 "error event: two requests"
like "$(ev_first "$EV" run.retrying "$RUN_ID" | jq -r .reason)" 'overloaded_error' "error event: run.retrying names overloaded_error"
is "$(last_answer)" "Second attempt." "error event: the history has only the complete answer"
is "$(ev_count "$EV" message.start "$RUN_ID")" 2 "error event: the retry starts a new message (message.start)"
is "$(jq -j "$(_ev_sel "$RUN_ID") | select(.event == \"text.delta\" or .event == \"message.start\") |
	if .event == \"message.start\" then \"|\" else .data.text end" "$EV" | sed 's/.*|//')" \
	"Second attempt." "error event: the text after the last message.start is the complete answer"
after_fault error_event

# ---- stream cut before message_stop ------------------------------------------------------
fault_run '{"turns":[{"text":"This stream is cut off before its end.","fault":{"type":"cut","after_events":5}},{"text":"Whole again."}]}' "cut"
final_is run.finished "cut: the run finishes after a retry"
is "$NREQ" 2 "cut: two requests"
like "$(ev_first "$EV" run.retrying "$RUN_ID" | jq -r .reason)" 'message_stop|ended|closed|transfer' "cut: run.retrying says the stream ended early"
is "$(last_answer)" "Whole again." "cut: the history has only the complete answer"
after_fault cut

fault_run '{"turns":[{"text":"Reset mid-stream.","fault":{"type":"cut","after_events":3,"rst":true}},{"text":"After the reset."}]}' "rst"
final_is run.finished "cut with RST: the run finishes after a retry"
is "$NREQ" 2 "cut with RST: two requests"
after_fault cut_rst

# ---- headers, then silence (CLAUDE_STALL_TIMEOUT=2) -------------------------------------
fault_run '{"turns":[{"fault":{"type":"silence","after_events":0,"seconds":30}},{"text":"Awake."}]}' "silence once"
final_is run.finished "silence: the run finishes after a retry"
like "$(ev_first "$EV" run.retrying "$RUN_ID" | jq -r .reason)" 'stall|time' "silence: run.retrying says it stalled"
cmp_ok "$RUN_MS" -ge 1800 "silence: the stall was waited out (${RUN_MS} ms)"
cmp_ok "$RUN_MS" -le 10000 "silence: retried within a bounded time (${RUN_MS} ms)"
[ "$RUN_MS" -le 4000 ]
ok_rc $? "silence: retried within CLAUDE_STALL_TIMEOUT + 2 s (${RUN_MS} ms)"
is "$(last_answer)" "Awake." "silence: the answer is in the history"
after_fault silence

# Silent mid-stream every time: attempts stop at CLAUDE_MAX_RETRIES+1 or at
# CLAUDE_RETRY_MAX_SECONDS=10, whichever comes first.
fault_run '{"turns":[{"text":"Goes quiet in the middle.","fault":{"type":"silence","after_events":3,"seconds":30}, "repeat":50}]}' "silence always" 40
final_is run.error "silence always: run.error"
cmp_ok "$NREQ" -le $((MAXR + 1)) "silence always: at most CLAUDE_MAX_RETRIES+1 attempts ($NREQ)"
cmp_ok "$NREQ" -ge 2 "silence always: retried at least once"
cmp_ok "$RUN_MS" -le 20000 "silence always: run.error within CLAUDE_RETRY_MAX_SECONDS + one stalled attempt (${RUN_MS} ms)"
like "$(ev_first "$EV" run.error "$RUN_ID" | jq -r .message)" 'stall|time' "silence always: run.error says it stalled"
after_fault silence_always

# ---- one byte per write ----------------------------------------------------------------
# The whole stream (~900 bytes) one byte at a time, 5 ms apart: ~4.5 s, longer
# than the stall timeout, but never silent for long.
SLOW_TEXT='Slow ✓ ünï'
fault_run "$(jq -cn --arg t "$SLOW_TEXT" '{turns: [{text: $t, fault: {type: "slow", byte_interval_ms: 5}}]}')" "slow" 40
final_is run.finished "slow: a byte-by-byte stream completes"
is "$NREQ" 1 "slow: without a retry"
is "$(ev_text "$EV" "$RUN_ID")" "$SLOW_TEXT" "slow: the text (multi-byte characters split across writes) is intact"
fake_stats
is "$(jq -r '.per_request[0].completed' "$FAKE_STATS")" true "slow: the fake sent the whole stream"
after_fault slow

# ---- malformed JSON ----------------------------------------------------------------------
fault_run '{"turns":[{"text":"Bad data ahead.","fault":{"type":"malformed","after_events":2}},{"text":"Clean data."}]}' "malformed once"
final_is run.finished "malformed once: retried, then finished"
is "$NREQ" 2 "malformed once: two requests"
like "$(ev_first "$EV" run.retrying "$RUN_ID" | jq -r .reason)" 'malformed' "malformed once: run.retrying says malformed"
is "$(last_answer)" "Clean data." "malformed once: the history has only the clean answer"
after_fault malformed_once

fault_run '{"turns":[{"text":"Always bad.","fault":{"type":"malformed","after_events":1},"repeat":50}]}' "malformed always"
final_is run.error "malformed always: run.error"
cmp_ok "$NREQ" -le $((MAXR + 1)) "malformed always: at most CLAUDE_MAX_RETRIES+1 requests ($NREQ)"
like "$(ev_first "$EV" run.error "$RUN_ID" | jq -r .message)" 'malformed' "malformed always: run.error says malformed"
after_fault malformed_always

# ---- a 10 MB line --------------------------------------------------------------------------
fault_run '{"turns":[{"text":"Huge line ahead.","fault":{"type":"long_line","bytes":10485760}}]}' "long line" 40
final_is run.error "10 MB line: run.error"
is "$NREQ" 1 "10 MB line: not retried"
like "$(ev_first "$EV" run.error "$RUN_ID" | jq -r .message)" 'larger than' "10 MB line: run.error says the event is too large"
RSS=$(awk '/VmRSS/ { print $2 }' "/proc/$(runner_pid_for "$RUN_ID")/status" 2>/dev/null)
diag "runner RSS after the 10 MB line: ${RSS:-?} kB"
after_fault long_line

api_get /api/live
is "$HTTP_STATUS" 200 "/api/live still 200 at the end"
is "$(pool_count runner)" 1 "the runner pool is intact"
tap_done
