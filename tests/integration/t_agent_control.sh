#!/usr/bin/env bash
# t_agent_control.sh: controlling runs. Cancel mid-stream (run.cancelled within
# about a second, partial text kept, the upstream transfer stopped, a new
# message works); compaction, automatic (above COMPACT_THRESHOLD of the
# context window, from the reported input tokens) and on demand (POST
# /compact), checked at the fake API and in the history.
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source=tests/integration/lib_auth.sh
. "$(dirname "$0")/lib_auth.sh"
# shellcheck source=tests/integration/lib_agent.sh
. "$(dirname "$0")/lib_agent.sh"
cw_require_agent
AGENT_NO_TOOLS=1

CW_CONF[RUNNER_WORKERS]=1
CW_CONF[COMPACT_THRESHOLD]=80
agent_stack_up
new_session || cw_bail "cannot create a session: $HTTP_STATUS $(cat "$BODY")"

# ---- 7. cancel mid-stream ------------------------------------------------------------
FULL=$(printf 'Cancellable piece %02d. ' $(seq 1 40))
fake_script "$(jq -cn --arg s "$FULL" '{turns: [{text: $s, delay_ms: 100}]}')"
MARK=$(events_mark "$SID")
post_msg "$SID" "start something long"
R7=$RUN_ID
sse_bg "$T/c.jsonl" --last-event-id "$MARK" --until "$FINAL_EVENTS" --run-id "$R7" --timeout 30
C=$SSE_BG_PID
check "7: text is streaming" wait_for 10 eval "[ \$(grep -c text.delta '$T/c.jsonl') -ge 5 ]"
# A client connecting now without Last-Event-ID starts at the active run.
sse_read "$T/c0.jsonl" --max-events 1 --timeout 5
is "$(sed -n 1p "$T/c0.jsonl" | jq -r '.event + " " + .data.active_run.run_id')" "snapshot $R7" \
	"7: the snapshot names the active run"
is "$(sed -n 2p "$T/c0.jsonl" | jq -r '.event + " " + .data.run_id')" "run.queued $R7" \
	"7: without Last-Event-ID the stream starts at the active run's run.queued"
T0=$(now_ms)
api_bearer "$TOKEN" "/api/sessions/$SID/cancel" -X POST
is "$HTTP_STATUS" 202 "7: POST cancel is 202"
is "$(json .run_id)" "$R7" "7: ...naming the active run"
wait_for 10 pid_gone "$C"
CANCEL_MS=$(($(now_ms) - T0))
wait "$C" 2>/dev/null
is "$(jq -r .reason "$T/c.jsonl.end")" until "7: the stream delivered a final event"
is "$(ev_types "$T/c.jsonl" "$R7" | grep -E '^run\.(finished|error|cancelled)$' | tr '\n' ' ')" "run.cancelled " \
	"7: the final event is run.cancelled (only)"
cmp_ok "$CANCEL_MS" -le 1500 "7: run.cancelled arrived within ~1 s of the cancel (${CANCEL_MS} ms)"
PARTIAL=$(ev_text "$T/c.jsonl" "$R7")
cmp_ok "${#PARTIAL}" -gt 0 "7: some text was streamed before the cancel"
cmp_ok "${#PARTIAL}" -lt "${#FULL}" "7: ...but not all of it"
get_history "$SID"
is "$(jq -c '[.messages[].role]' "$T/hist.json")" '["user","assistant"]' "7: history has the prompt and the partial answer"
is "$(jq -r '.messages[-1].content | map(.text // "") | join("")' "$T/hist.json")" "$PARTIAL" \
	"7: the partial answer in the history is exactly the streamed text"
fake_wait 1 1 10
fake_stats
is "$(jq -r '.per_request[0] | "\(.client_disconnected) \(.bytes_sent < .bytes_total)"' "$FAKE_STATS")" "true true" \
	"7: the fake saw the client disconnect early (bytes_sent < bytes_total)"
diag "7: fake sent $(jq -r '.per_request[0] | "\(.bytes_sent)/\(.bytes_total)"' "$FAKE_STATS") bytes"
api_bearer "$TOKEN" "/api/sessions/$SID/cancel" -X POST
is "$HTTP_STATUS" 409 "7: a second cancel is 409 (no run active)"
fake_script '{"turns":[{"text":"Fresh start."}]}'
run_msg "$SID" "something else"
is "$HTTP_STATUS $SSE_END $(ev_text "$EV" "$RUN_ID")" "202 until Fresh start." "7: a new message afterwards works"
fake_requests
is "$(jq -c '.requests[-1] | [.error, [.body.messages[].role]]' "$FAKE_REQS")" \
	'[null,["user","assistant","user"]]' "7: the next request carries the partial answer, and the fake accepts it"

# ---- 10. compaction ------------------------------------------------------------------
new_session || cw_bail "cannot create a second session"
fake_reset
BIG=$(head -c 30000 /dev/zero | tr '\0' 'a' | fold -w 70 | sed 's/^/lorem ipsum /')
PROMPT_BIG="Please read this: $BIG"
fake_script '{"turns":[{"text":"That was a lot of text.","usage":{"input_tokens":190000,"output_tokens":10}}]}'
run_msg "$SID" "$PROMPT_BIG"
is "$SSE_END" until "10: a run that reports 190000 input tokens finishes"
is "$(ev_count "$EV" compacted "$RUN_ID")" 0 "10: ...without compacting (nothing reported before it)"

SUMMARY='SUMMARY: the user pasted a long lorem ipsum text and I acknowledged it.'
fake_script "$(jq -cn --arg s "$SUMMARY" '{turns: [
	{text: $s, usage: {input_tokens: 1000, output_tokens: 200}},
	{text: "Answer after compaction.", usage: {input_tokens: 500, output_tokens: 100}}]}')"
run_msg "$SID" "second prompt"
R10=$RUN_ID
is "$SSE_END" until "10: the next message's run finishes"
CP=$(ev_first "$EV" compacted "$R10")
isnt "$CP" "" "10: a compacted event"
cmp_ok "$(ev_pos "$EV" compacted "$R10")" -lt "$(ev_pos "$EV" message.start "$R10")" \
	"10: compacted comes before the model call (message.start)"
is "$(printf '%s' "$CP" | jq -c '[.messages_before, .messages_after]')" '[3,1]' "10: messages_before 3, messages_after 1"
is "$(printf '%s' "$CP" | jq -r .summary)" "$SUMMARY" "10: compacted carries the summary"
is "$(ev_text "$EV" "$R10")" "Answer after compaction." "10: the answer is streamed"
fake_requests
is "$(jq '.requests | length' "$FAKE_REQS")" 3 "10: three requests: first prompt, summary, second prompt"
like "$(fake_req 2 '.body.messages[-1].content | if type == "string" then . else map(.text // "") | join("") end')" \
	'Summarize our conversation' "10: the 2nd request asks for a summary"
is "$(fake_req 2 '[.body.messages[].role]')" '["user","assistant","user"]' "10: ...of the earlier turns"
is "$(fake_req 2 '.error')" null "10: the fake accepted the summary request"
is "$(fake_req 3 '.body.messages | length')" 1 "10: the next normal request has one message"
like "$(fake_req 3 '.body.messages[0].content[0].text')" "^\"<summary of the earlier conversation>.n$SUMMARY" \
	"10: ...which starts with the summary"
like "$(fake_req 3 '.body.messages[0].content[-1].text')" 'second prompt' "10: ...and ends with the new prompt"
B1=$(fake_req 1 .body_bytes)
B2=$(fake_req 2 .body_bytes)
B3=$(fake_req 3 .body_bytes)
cmp_ok "$B3" -lt "$B2" "10: the request after compaction is smaller than the summary request ($B3 < $B2 bytes)"
cmp_ok "$B3" -lt "$B1" "10: ...and smaller than the first one ($B3 < $B1 bytes)"
get_history "$SID"
is "$(jq -c '[.messages[].role]' "$T/hist.json")" '["user","assistant"]' "10: the history is compacted to two messages"
like "$(jq -r '.messages[0].content[0].text' "$T/hist.json")" '^<summary of the earlier conversation>' \
	"10: the stored history starts with the summary"
# The run's last usage event: the summary call (1000 in, 200 out) and the
# normal call (500 in, 100 out) are both paid for and counted.
U=$(jq -c --arg r "$R10" 'select(.event == "usage" and .data.run_id == $r) | .data' "$EV" | tail -n 1)
is "$(printf '%s' "$U" | jq -c '.run | [.input_tokens, .output_tokens]')" '[1500,300]' \
	"10: usage.run counts the summary call and the normal call"
is "$(printf '%s' "$U" | jq -c '.session | [.input_tokens, .output_tokens]')" '[191500,310]' \
	"10: the session's usage includes the summary call"

# A normal exchange (no compaction: the last call reported 500 tokens), then
# compaction on demand.
fake_script '{"turns":[{"text":"Third answer.","usage":{"input_tokens":600,"output_tokens":20}}]}'
run_msg "$SID" "third prompt"
is "$(ev_count "$EV" compacted "$RUN_ID")" 0 "10: below COMPACT_THRESHOLD nothing is compacted"
N0=$(fake_nreq)
fake_script '{"turns":[{"text":"SECOND SUMMARY of the session."}]}'
MARK=$(events_mark "$SID")
api_bearer "$TOKEN" "/api/sessions/$SID/compact" -X POST
is "$HTTP_STATUS $(json .kind)" "202 compact" "10: POST /compact is 202 (kind compact)"
RC=$(json .run_id)
sse_read "$T/cc.jsonl" --last-event-id "$MARK" --until "$FINAL_EVENTS" --run-id "$RC" --timeout 20
is "$SSE_END $(ev_first "$T/cc.jsonl" run.finished "$RC" | jq -r .stop_reason)" "until compacted" \
	"10: the compact run finishes with stop_reason compacted"
is "$(ev_first "$T/cc.jsonl" compacted "$RC" | jq -c '[.messages_before, .messages_after, .summary]')" \
	'[4,2,"SECOND SUMMARY of the session."]' "10: on demand: compacted 4 -> 2 messages with the summary"
is "$(fake_nreq)" $((N0 + 1)) "10: one summary request"
get_history "$SID"
is "$(jq -c '[.messages[].role]' "$T/hist.json")" '["user","assistant"]' "10: history compacted again"
like "$(jq -r '.messages[0].content[0].text' "$T/hist.json")" 'SECOND SUMMARY' "10: ...starting with the new summary"
like "$(jq -r '.messages[0].content[-1].text' "$T/hist.json")" 'third prompt' "10: ...followed by the newest prompt"

# Nothing left to compact.
MARK=$(events_mark "$SID")
api_bearer "$TOKEN" "/api/sessions/$SID/compact" -X POST
RC=$(json .run_id)
sse_read "$T/cn.jsonl" --last-event-id "$MARK" --until "$FINAL_EVENTS" --run-id "$RC" --timeout 20
is "$SSE_END $(ev_first "$T/cn.jsonl" run.finished "$RC" | jq -r .stop_reason) $(ev_count "$T/cn.jsonl" compacted "$RC")" \
	"until nothing_to_compact 0" "10: compacting a single exchange: nothing_to_compact, no event"
is "$(fake_nreq)" $((N0 + 1)) "10: ...and no request"

api_get /api/live
is "$HTTP_STATUS" 200 "/api/live still 200"
tap_done
