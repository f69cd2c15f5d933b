#!/usr/bin/env bash
# t_metrics_ops.sh: the operator metrics of /api/metrics move by exactly what
# a user did, against the fake Anthropic API: a run that finishes
# (claude_web_runs_total{outcome="finished"} +1, the tokens the API reported,
# one 2xx API request, one run duration), a 529 that is retried (retries,
# errors and requests of class 5xx +1), a 403 that ends the run (outcome
# "error", errors{4xx} +1, no retry), a cancel (outcome "cancelled"), a runner
# killed mid-run (runs_resumed_total{redo="message"} +1, the run counted
# once), and an open event stream (claude_web_event_streams 1, then 0 after
# the client leaves, and after its stream worker is killed), a parked run
# answered or cancelled (runs_continued_total by reason). The exposition
# stays well-formed with every family filled.
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source=tests/integration/lib_auth.sh
. "$(dirname "$0")/lib_auth.sh"
# shellcheck source=tests/integration/lib_agent.sh
. "$(dirname "$0")/lib_agent.sh"
# shellcheck source=tests/integration/lib_metrics.sh
. "$(dirname "$0")/lib_metrics.sh"
cw_require_agent
AGENT_NO_TOOLS=1

CW_CONF[RUNNER_WORKERS]=2
CW_CONF[RUN_LOCK_TTL]=2
CW_CONF[STREAM_WORKERS]=3
agent_stack_up
new_session || cw_bail "cannot create a session: $HTTP_STATUS $(cat "$BODY")"

FIN='claude_web_runs_total{outcome="finished"}'
ERR='claude_web_runs_total{outcome="error"}'
CAN='claude_web_runs_total{outcome="cancelled"}'
DUR='claude_web_run_duration_seconds_count'
STREAMS='claude_web_event_streams'

# base: the metrics now become the baseline of delta.
BASE=''
base() {
	metrics_fetch || cw_bail "GET /api/metrics: $HTTP_STATUS"
	BASE=$METRICS
}
# delta NAME: NAME in the last fetch less NAME in the baseline.
delta() {
	local now was
	now=$(metric "$1")
	was=$(METRICS=$BASE metric "$1")
	echo $((now - was))
}
# delta_sum NAME: the same over every sample of NAME.
delta_sum() {
	local now was
	now=$(metric_sum "$1")
	was=$(METRICS=$BASE metric_sum "$1")
	echo $((now - was))
}
# moved NAME N: NAME has moved by at least N since the baseline (fetches).
moved() {
	metrics_fetch && [ "$(delta "$1")" -ge "$2" ]
}
# streams_are N: claude_web_event_streams is N (fetches).
streams_are() {
	metrics_fetch && [ "$(metric "$STREAMS")" = "$1" ]
}

# ---- 1. a run that finishes ------------------------------------------------------------
fake_script '{"turns":[{"text":"Counted.","usage":{"input_tokens":1234,"output_tokens":56,"cache_creation_input_tokens":78,"cache_read_input_tokens":910}}]}'
base
run_msg "$SID" "count me"
is "$HTTP_STATUS $SSE_END" "202 until" "1: the run is accepted and reaches its final event"
is "$(ev_types "$EV" "$RUN_ID" | grep -E '^run\.(finished|error|cancelled)$')" run.finished "1: ... run.finished"
check "1: claude_web_runs_total{outcome=\"finished\"} moves" wait_for 10 moved "$FIN" 1
is "$(delta "$FIN") $(delta "$ERR") $(delta "$CAN")" "1 0 0" \
	'1: runs_total: finished +1, error +0, cancelled +0'
U=$(ev_first "$EV" run.finished "$RUN_ID" | jq -r '.usage | "\(.input_tokens) \(.output_tokens) \(.cache_read_input_tokens) \(.cache_creation_input_tokens)"')
is "$U" "1234 56 910 78" "1: the run's usage is what the fake API reported"
is "$(delta 'claude_web_anthropic_tokens_total{type="input"}') $(delta 'claude_web_anthropic_tokens_total{type="output"}') $(delta 'claude_web_anthropic_tokens_total{type="cache_read"}') $(delta 'claude_web_anthropic_tokens_total{type="cache_write"}')" \
	"$U" "1: claude_web_anthropic_tokens_total input/output/cache_read/cache_write moved by exactly that usage"
is "$(delta 'claude_web_anthropic_requests_total{class="2xx"}') $(delta_sum claude_web_anthropic_requests_total)" "1 1" \
	"1: one Anthropic API request, of class 2xx"
is "$(delta_sum claude_web_anthropic_errors_total) $(delta_sum claude_web_anthropic_retries_total)" "0 0" \
	"1: no API error, no retry"
is "$(delta "$DUR")" 1 "1: claude_web_run_duration_seconds counted the run"
is "$(delta claude_web_run_queue_wait_seconds_count)" 1 "1: claude_web_run_queue_wait_seconds counted its wait"
is "$(delta_sum claude_web_runs_resumed_total) $(delta_sum claude_web_runs_continued_total)" "0 0" \
	"1: nothing resumed or continued"

# ---- 2. a 529, retried -----------------------------------------------------------------
fake_script '{"turns":[{"fault":{"type":"http","status":529}},{"text":"After one overload."}]}'
base
run_msg "$SID" "overload once"
is "$SSE_END $(ev_count "$EV" run.retrying "$RUN_ID")" "until 1" "2: the run finishes after one run.retrying"
check "2: the run is counted" wait_for 10 moved "$FIN" 1
is "$(delta 'claude_web_anthropic_retries_total{class="5xx"}') $(delta_sum claude_web_anthropic_retries_total)" "1 1" \
	'2: claude_web_anthropic_retries_total{class="5xx"} +1 (and no other class)'
is "$(delta 'claude_web_anthropic_errors_total{class="5xx"}') $(delta_sum claude_web_anthropic_errors_total)" "1 1" \
	'2: claude_web_anthropic_errors_total{class="5xx"} +1'
is "$(delta 'claude_web_anthropic_requests_total{class="5xx"}') $(delta 'claude_web_anthropic_requests_total{class="2xx"}')" "1 1" \
	"2: requests: one 5xx, one 2xx"
is "$(delta "$FIN") $(delta "$ERR")" "1 0" "2: outcome finished, not error"

# ---- 3. a 403 ends the run ---------------------------------------------------------------
fake_script '{"turns":[{"fault":{"type":"http","status":403}}]}'
base
run_msg "$SID" "forbidden"
is "$SSE_END $(ev_types "$EV" "$RUN_ID" | grep -E '^run\.(finished|error|cancelled)$')" "until run.error" \
	"3: the run ends with run.error"
check '3: claude_web_runs_total{outcome="error"} moves' wait_for 10 moved "$ERR" 1
is "$(delta "$ERR") $(delta "$FIN") $(delta "$CAN")" "1 0 0" "3: runs_total: error +1 only"
is "$(delta 'claude_web_anthropic_errors_total{class="4xx"}') $(delta_sum claude_web_anthropic_retries_total)" "1 0" \
	"3: errors{class=\"4xx\"} +1, not retried"
is "$(delta "$DUR")" 1 "3: a failed run has a duration too"

# ---- 4. a cancelled run ------------------------------------------------------------------
fake_script '{"turns":[{"text":"This answer is held until the gate opens.","hold":"g4"}]}'
base
MARK=$(events_mark "$SID")
post_msg "$SID" "cancel me"
R4=$RUN_ID
is "$HTTP_STATUS" 202 "4: message accepted"
check "4: its API request is in flight" wait_for 10 fake_held 1
api_bearer "$TOKEN" "/api/sessions/$SID/cancel" -X POST
is "$HTTP_STATUS" 202 "4: POST cancel is 202"
sse_read "$T/c4.jsonl" --last-event-id "$MARK" --until "$FINAL_EVENTS" --run-id "$R4" --timeout 20
is "$SSE_END $(ev_types "$T/c4.jsonl" "$R4" | grep -E '^run\.(finished|error|cancelled)$')" "until run.cancelled" \
	"4: the run ends with run.cancelled"
check '4: claude_web_runs_total{outcome="cancelled"} moves' wait_for 10 moved "$CAN" 1
is "$(delta "$CAN") $(delta "$FIN") $(delta "$ERR")" "1 0 0" "4: runs_total: cancelled +1 only"
is "$(delta_sum claude_web_anthropic_errors_total)" 0 "4: a cancel is no API error"
fake_release g4

# ---- 5. a runner killed mid-run: resumed, counted once -----------------------------------------
fake_script '{"turns":[{"text":"Held while the runner dies.","hold":"g5"},{"text":"After the takeover."}]}'
base
MARK=$(events_mark "$SID")
post_msg "$SID" "survive"
R5=$RUN_ID
is "$HTTP_STATUS" 202 "5: message accepted"
check "5: its API request is in flight" wait_for 10 fake_held 1
VICTIM=$(runner_pid_for "$R5")
like "$VICTIM" '^[0-9]+$' "5: the runner of the run is known from its log"
kill -KILL "$VICTIM" 2>/dev/null
sse_read "$T/k5.jsonl" --last-event-id "$MARK" --until "$FINAL_EVENTS" --run-id "$R5" --timeout 30
is "$SSE_END $(ev_count "$T/k5.jsonl" run.resumed "$R5") $(ev_count "$T/k5.jsonl" run.finished "$R5")" "until 1 1" \
	"5: another runner resumes the run (run.resumed) and finishes it once"
check "5: the run is counted" wait_for 10 moved "$FIN" 1
is "$(delta 'claude_web_runs_resumed_total{redo="message"}') $(delta_sum claude_web_runs_resumed_total)" "1 1" \
	'5: claude_web_runs_resumed_total{redo="message"} +1'
is "$(delta "$FIN") $(delta "$ERR") $(delta "$CAN")" "1 0 0" "5: the resumed run is counted once, finished"
check "5: the runner pool is refilled" wait_for 10 pool_full runner 2

# ---- 6. parked runs continued: answered, cancelled ----------------------------------------------
api_bearer "$TOKEN" /api/sessions -X POST -H 'Content-Type: application/json' \
	--data-binary '{"permission_mode":"default"}'
PSID=$(json '.id // empty')
[ "$HTTP_STATUS" = 201 ] && [ -n "$PSID" ] || cw_bail "cannot create a session in mode default: $HTTP_STATUS"
# ask_turns: the next model turn calls bash (a person must approve it), the one after answers.
ask_turns() {
	fake_script "$(jq -cn --arg id "toolu_m$RANDOM$RANDOM" '{turns: [
		{content: [{type: "text", text: "Let me run it."},
			{type: "tool_use", id: $id, name: "bash", input: {command: "echo metrics"}}]},
		{text: "Understood."}]}')"
}
# parked SID RUN: the run's run.parked is in the session's event log.
parked() {
	redis_events "$1" "$T/parked.jsonl"
	[ "$(ev_count "$T/parked.jsonl" run.parked "$2")" -ge 1 ]
}
# final_of SID RUN: the type of the run's final event in the event log ("" if none).
final_of() {
	redis_events "$1" "$T/final.jsonl"
	ev_types "$T/final.jsonl" "$2" | grep -E '^run\.(finished|error|cancelled)$'
}
has_final() {
	[ -n "$(final_of "$1" "$2")" ]
}
ask_turns
base
post_msg "$PSID" "run a command, after asking"
R6=$RUN_ID
check "6: the run asks and parks" wait_for 20 parked "$PSID" "$R6"
api_bearer "$TOKEN" "/api/sessions/$PSID/permissions"
REQ=$(json '.pending[0].request_id // empty')
api_bearer "$TOKEN" "/api/sessions/$PSID/permissions/$REQ" -X POST \
	-H 'Content-Type: application/json' --data-binary '{"decision":"deny"}'
is "$HTTP_STATUS" 200 "6: the request is answered (deny)"
check "6: the run ends" wait_for 20 has_final "$PSID" "$R6"
is "$(final_of "$PSID" "$R6")" run.finished "6: ... with run.finished"
check "6: the run is counted" wait_for 10 moved "$FIN" 1
is "$(delta 'claude_web_runs_continued_total{reason="answered"}') $(delta_sum claude_web_runs_continued_total)" "1 1" \
	'6: claude_web_runs_continued_total{reason="answered"} +1'
is "$(delta "$FIN") $(delta_sum claude_web_runs_resumed_total)" "1 0" "6: finished +1; a continued run is not a resumed one"

ask_turns
base
post_msg "$PSID" "ask again, then be cancelled"
R6B=$RUN_ID
check "6: the second run parks" wait_for 20 parked "$PSID" "$R6B"
api_bearer "$TOKEN" "/api/sessions/$PSID/cancel" -X POST
is "$HTTP_STATUS" 202 "6: cancelling the parked run is 202"
check "6: the parked run ends" wait_for 20 has_final "$PSID" "$R6B"
is "$(final_of "$PSID" "$R6B")" run.cancelled "6: ... with run.cancelled"
check "6: the cancelled run is counted" wait_for 10 moved "$CAN" 1
is "$(delta 'claude_web_runs_continued_total{reason="cancelled"}') $(delta "$CAN") $(delta "$FIN")" "1 1 0" \
	'6: runs_continued_total{reason="cancelled"} +1, runs_total{outcome="cancelled"} +1'

# ---- 7. open event streams -------------------------------------------------------------------
check "7: no event stream is open once the clients above have left" wait_for 15 streams_are 0
sse_bg "$T/s6.jsonl" --timeout 120
check "7: a client reading the session's events: claude_web_event_streams 1" wait_for 10 streams_are 1
kill -TERM "$SSE_BG_PID" 2>/dev/null
check "7: the client closes: claude_web_event_streams 0" wait_for 15 streams_are 0
sse_bg "$T/s6b.jsonl" --timeout 120
check "7: another client: 1 again" wait_for 10 streams_are 1
SW=$(stream_worker_busy | head -n 1)
like "$SW" '^[0-9]+$' "7: the stream worker serving it is known"
kill -KILL "$SW" 2>/dev/null
check "7: its stream worker killed mid-stream: the gauge is 0, not stuck at 1" wait_for 15 streams_are 0
kill -TERM "$SSE_BG_PID" 2>/dev/null

# ---- 8. the exposition ----------------------------------------------------------------------
metrics_fetch
is "$(metrics_lint)" "" "8: the exposition passes the strict format check with every family filled"
cmp_ok "$(metric "$DUR")" -ge 6 "8: claude_web_run_duration_seconds counted every run that ended (6 or more)"
is "$(metric 'claude_web_run_duration_seconds_bucket{le="+Inf"}')" "$(metric "$DUR")" "8: its +Inf bucket is its _count"

tap_done
