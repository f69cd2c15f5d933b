#!/usr/bin/env bash
# t_sched_resume.sh: issue 11, what runs did before parking keeps working
# across parking (docs/scheduler.md, docs/ARCHITECTURE.md "The run state
# machine"). Several tool calls in one assistant message: the call run
# before parking is not run or reported again after the answer, and the
# history gets one user message with every result in the calls' order. A
# runner killed while it runs the approved command after the continuation:
# run.resumed (redo tools), the call's result says it was interrupted, no
# second permission request, one run.finished. A denial with a message while
# parked. Compaction triggered by the turn that asked, done by the
# continuation. A message queued behind a parked run goes after it; the
# parked run cannot be removed from the queue (409).
#
# Events are read from the session's event log in Redis. Waits are deadlines
# (wait_for), never sleeps.
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source=tests/integration/lib_auth.sh
. "$(dirname "$0")/lib_auth.sh"
# shellcheck source=tests/integration/lib_agent.sh
. "$(dirname "$0")/lib_agent.sh"
# shellcheck source=tests/integration/lib_tools.sh
. "$(dirname "$0")/lib_tools.sh"
cw_require_tools_stack

# Nobody's answer times out during this test.
CW_CONF[PERMISSION_TIMEOUT]=3600
# The slow command of section 2 must still be running when its runner dies.
CW_CONF[SANDBOX_TIMEOUT]=60
CW_CONF[RUNNER_WORKERS]=2
CW_CONF[RUN_LOCK_TTL]=2
# 10 % of a 200000-token window: a turn reporting 50000 input tokens makes
# the next request compact; the fake's default usage (body bytes / 4) stays
# far below.
CW_CONF[COMPACT_THRESHOLD]=10
BIG_INPUT=50000
# Deadline for things that happen promptly on an idle machine.
W=30
M=$$
tools_stack_up

# ---- helpers ------------------------------------------------------------------------------
# evs SID: the session's events from Redis into $T/evs.SID.jsonl; prints the path.
evs() {
	redis_events "$1" "$T/evs.$1.jsonl"
	printf '%s\n' "$T/evs.$1.jsonl"
}
# has_ev SID TYPE RUN [N]: the session's log holds >= N (1) TYPE events of RUN.
has_ev() {
	local f
	f=$(evs "$1")
	[ "$(ev_count "$f" "$2" "$3")" -ge "${4:-1}" ]
}
# finals SID RUN: the run's final events, space-separated.
finals() {
	ev_types "$(evs "$1")" "$2" | grep -E '^run\.(finished|error|cancelled)$' | tr '\n' ' '
}
has_final() {
	[ -n "$(finals "$1" "$2")" ]
}
# pending_rid SID: request_id of the session's first pending permission request.
pending_rid() {
	api_auth "/api/sessions/$1/permissions"
	json '.pending[0].request_id // empty'
}
status_is() {
	[ "$(session_status "$1")" = "$2" ]
}
# trs_of FILE RUN ID: the data of RUN's tool.result events for call ID, one JSON line each.
trs_of() {
	jq -c --arg r "$2" --arg id "$3" \
		'select(.event == "tool.result" and .data.run_id == $r and .data.tool_use_id == $id) | .data' "$1"
}
# line_of FILE TYPE RUN [ID]: line number of the first TYPE event of RUN in
# the whole log (ID: only the event about that tool_use_id); 0 if none.
line_of() {
	local n
	n=$(jq -r --arg t "$2" --arg r "$3" --arg id "${4:-}" \
		'(.event == $t and .data.run_id? == $r and ($id == "" or .data.tool_use_id? == $id)) | tostring' "$1" |
		grep -n -x -m1 true | cut -d: -f1)
	echo "${n:-0}"
}
# state_file SID RUN: the run's tool-call state file.
state_file() {
	printf '%s/.claude/runs/%s.json\n' "$(session_dir "$1")" "$2"
}
# state_running SID RUN ID: the state file says call ID is running.
state_running() {
	[ "$(jq -r '.running // empty' "$(state_file "$1" "$2")" 2>/dev/null)" = "$3" ]
}
# result_ids_after SID TOOL_USE_ID: the tool_use_ids of the tool_result blocks
# of the history message that follows the assistant message calling TOOL_USE_ID.
result_ids_after() {
	api_auth "/api/sessions/$1/messages"
	jq -c --arg id "$2" '.messages as $m |
		[range(0; $m | length) | select($m[.].role == "assistant" and
			([$m[.].content | if type == "array" then .[] else empty end |
				select(.type == "tool_use" and .id == $id)] | length) > 0)][0] as $i |
		if $i == null then null else
			{role: $m[$i + 1].role, ids: [$m[$i + 1].content | if type == "array" then .[] else empty end |
				select(.type == "tool_result") | .tool_use_id]} end' "$BODY" 2>/dev/null
}
# tool_result_text SID TOOL_USE_ID: the history's tool_result content for that call.
tool_result_text() {
	api_auth "/api/sessions/$1/messages"
	jq -r --arg id "$2" '[.messages[] | select(.role == "user") | .content |
		if type == "array" then .[] else empty end |
		select(.type == "tool_result" and .tool_use_id == $id) | .content |
		if type == "string" then . else map(.text // "") | join("") end] | join("|")' "$BODY" 2>/dev/null
}
# script TURNS_JSON: the fake's queue is exactly TURNS_JSON (an array); an
# unexpected extra request gets "UNEXPECTED".
script() {
	fake_reset
	fake_script "$(jq -cn --argjson t "$1" '{turns: $t, default: {text: "UNEXPECTED"}}')" ||
		cw_bail "the fake refused the script"
}
# tool_turn BLOCK... : a turn saying a word, then calling the tools.
tool_turn() {
	jq -cn --argjson b "$(blocks "$@")" '{content: ([{type: "text", text: "Let me do that."}] + $b)}'
}
# park SID TEXT: post TEXT (RUN_ID) and wait until the run parks.
park() {
	post_msg "$1" "$2"
	[ "$HTTP_STATUS" = 202 ] || cw_bail "POST message: $HTTP_STATUS $(cat "$BODY")"
	wait_for "$W" has_ev "$1" run.parked "$RUN_ID"
}

# ---- 1. several tool calls in one message: the one before parking is not redone -----------
session_new default || cw_bail "cannot create a session: $HTTP_STATUS $(cat "$BODY")"
S1=$SID
V1=toolu_view_1_$M
B1=toolu_bash_1_$M
script "[$(tool_turn "$(editor_block '{"command":"view","path":"/workspace"}' "$V1")" \
	"$(bash_block "echo two-$M" "$B1")"), {\"text\": \"done one\"}]"
park "$S1" "look, then run a command"
R1=$RUN_ID
check "1: the run parks at the bash call" has_ev "$S1" run.parked "$R1"
F=$(evs "$S1")
is "$(ev_first "$F" permission.request "$R1" | jq -r '[.tool_use_id, .tool] | join(" ")')" "$B1 bash" \
	"1: the permission request is for the second call (bash)"
is "$(trs_of "$F" "$R1" "$V1" | grep -c .)" 1 "1: the view call's tool.result was emitted once before parking"
is "$(trs_of "$F" "$R1" "$V1" | jq -r .is_error)" false "1: ... and it succeeded"
cmp_ok "$(line_of "$F" tool.result "$R1" "$V1")" -lt "$(line_of "$F" run.parked "$R1")" \
	"1: ... before run.parked"
is "$(trs_of "$F" "$R1" "$B1" | grep -c .)" 0 "1: no result for the bash call yet"
SF1=$(state_file "$S1" "$R1")
is "$(jq -r '[(.results | keys | join(",")), .asking.tool_use_id] | join(" ")' "$SF1" 2>/dev/null)" "$V1 $B1" \
	"1: the parked run's state file holds the view's result and the open bash request"
api_auth "/api/sessions/$S1/messages"
is "$(json '.messages[-1] | [.role, ([.content[] | select(.type == "tool_use")] | length)] | join(" ")')" \
	"assistant 2" "1: while parked, GET messages shows the calls unanswered (not made-up interrupted results)"
RID1=$(pending_rid "$S1")
perm_post "$S1" "$RID1" '{"decision":"allow"}'
is "$HTTP_STATUS" 200 "1: the request is answered (allow)"
wait_for "$W" has_final "$S1" "$R1"
F=$(evs "$S1")
is "$(finals "$S1" "$R1")" "run.finished " "1: the run ends with exactly one run.finished"
is "$(ev_count "$F" run.continued "$R1") $(ev_first "$F" run.continued "$R1" | jq -r .reason)" "1 answered" \
	"1: one run.continued {reason answered}"
is "$(trs_of "$F" "$R1" "$V1" | grep -c .)" 1 "1: the view call's tool.result is not emitted again after the continuation"
is "$(trs_of "$F" "$R1" "$B1" | jq -r '[.is_error, .stdout] | join(" ")')" "false two-$M" \
	"1: the bash call ran once, after the answer"
cmp_ok "$(line_of "$F" run.continued "$R1")" -lt "$(line_of "$F" tool.result "$R1" "$B1")" \
	"1: ... after run.continued"
is "$(ev_count "$F" tool.result "$R1")" 2 "1: two tool.result events in all"
is "$(result_ids_after "$S1" "$V1")" "{\"role\":\"user\",\"ids\":[\"$V1\",\"$B1\"]}" \
	"1: the history's next user message has both tool_results, in the calls' order"
like "$(tool_result_text "$S1" "$B1")" "two-$M" "1: the bash result in the history is its output"
fake_requests
is "$(fake_req 2 '[.error, [.body.messages[-1].content[] | .tool_use_id]]')" "[null,[\"$V1\",\"$B1\"]]" \
	"1: the continuation's request carries both results and the fake accepts it"
is "$(fake_nreq)" 2 "1: two model requests"
check "1: the run's state file is gone after the turn" eval "[ ! -e '$SF1' ]"
check "1: the session is idle" wait_for "$W" status_is "$S1" idle

# ---- 2. a runner dies while it runs the approved command --------------------------------
session_new default || cw_bail "cannot create a session"
S2=$SID
B2=toolu_bash_2_$M
SLEEP="sleep 29.$M"
script "[$(tool_turn "$(bash_block "$SLEEP" "$B2")"), {\"text\": \"after the crash $M\"}]"
park "$S2" "run something slow"
R2=$RUN_ID
check "2: the run parks" has_ev "$S2" run.parked "$R2"
perm_post "$S2" "$(pending_rid "$S2")" '{"decision":"allow"}'
is "$HTTP_STATUS" 200 "2: the request is answered (allow)"
check "2: after the continuation the state file says the command runs" \
	wait_for "$W" state_running "$S2" "$R2" "$B2"
check "2: ... and '$SLEEP' is in ps" wait_for "$W" eval "[ -n \"\$(host_procs '^sleep 29\\.$M\$')\" ]"
VICTIM=$(runner_pid_for "$R2")
like "$VICTIM" '^[0-9]+$' "2: the runner that continued the run is known from its log ($VICTIM)"
like "$(worker_pids runner | tr '\n' ' ')" "(^| )$VICTIM " "2: ... and it is a live runner"
kill -KILL "$VICTIM" 2>/dev/null
check "2: the runner is gone" wait_for 5 pid_gone "$VICTIM"
wait_for "$W" has_final "$S2" "$R2"
F=$(evs "$S2")
is "$(finals "$S2" "$R2")" "run.finished " "2: the run ends with exactly one run.finished"
is "$(ev_count "$F" run.resumed "$R2") $(ev_first "$F" run.resumed "$R2" | jq -r .redo)" "1 tools" \
	"2: one run.resumed {redo tools}"
cmp_ok "$(line_of "$F" run.continued "$R2")" -lt "$(line_of "$F" run.resumed "$R2")" "2: ... after run.continued"
is "$(ev_count "$F" run.continued "$R2")" 1 "2: run.continued only once (the takeover is not a continuation)"
TR2=$(trs_of "$F" "$R2" "$B2")
is "$(printf '%s\n' "$TR2" | grep -c .)" 1 "2: one tool.result for the interrupted call"
is "$(printf '%s' "$TR2" | jq -r .is_error)" true "2: ... an error"
like "$(printf '%s' "$TR2" | jq -r .content)" 'interrupted' "2: ... saying the call was interrupted"
cmp_ok "$(line_of "$F" run.resumed "$R2")" -lt "$(line_of "$F" tool.result "$R2" "$B2")" "2: ... after run.resumed"
is "$(ev_count "$F" permission.request "$R2") $(ev_count "$F" permission.resolved "$R2")" "1 1" \
	"2: the permission was not asked again (one request, one resolution)"
is "$(ev_count "$F" run.parked "$R2")" 1 "2: the run did not park again"
is "$(ev_text "$F" "$R2")" "Let me do that.after the crash $M" "2: the run went on to the next turn's answer"
like "$(tool_result_text "$S2" "$B2")" 'interrupted' "2: the history's tool_result says interrupted"
isnt "$(runner_pid_for "$R2")" "$VICTIM" "2: another runner took the run over"
check "2: the state file is gone" eval "[ ! -e '$(state_file "$S2" "$R2")' ]"
check "2: the killed runner's sandboxed command is gone too" \
	wait_for 10 eval "[ -z \"\$(host_procs '^sleep 29\\.$M\$')\" ]"
is "$(redis_final_count "$S2" "$R2")" 1 "2: the event log holds one final event for the run"
check "2: the session is idle" wait_for "$W" status_is "$S2" idle
check "2: the runner pool is refilled" wait_for 10 pool_full runner 2

# ---- 3. deny while parked --------------------------------------------------------------------
session_new default || cw_bail "cannot create a session"
S3=$SID
B3=toolu_bash_3_$M
DENY_MSG="not now, use the tests instead $M"
script "[$(tool_turn "$(bash_block "echo never-$M" "$B3")"), {\"text\": \"understood\"}]"
park "$S3" "a command to deny"
R3=$RUN_ID
check "3: the run parks" has_ev "$S3" run.parked "$R3"
RID3=$(pending_rid "$S3")
perm_post "$S3" "$RID3" "$(jq -cn --arg m "$DENY_MSG" '{decision: "deny", message: $m}')"
is "$HTTP_STATUS" 200 "3: the request is answered (deny with a message)"
wait_for "$W" has_final "$S3" "$R3"
F=$(evs "$S3")
is "$(finals "$S3" "$R3")" "run.finished " "3: the run continues and finishes once"
is "$(ev_first "$F" run.continued "$R3" | jq -r .reason)" answered "3: run.continued {reason answered}"
is "$(ev_first "$F" permission.resolved "$R3" | jq -c '[.request_id, .decision, .message]')" \
	"$(jq -cn --arg r "$RID3" --arg m "$DENY_MSG" '[$r, "deny", $m]')" \
	"3: permission.resolved {decision deny, message}"
TR3=$(trs_of "$F" "$R3" "$B3")
is "$(printf '%s\n' "$TR3" | grep -c .)" 1 "3: one tool.result for the denied call"
is "$(printf '%s' "$TR3" | jq -r .is_error)" true "3: ... an error"
like "$(printf '%s' "$TR3" | jq -r .content)" "$DENY_MSG" "3: ... carrying the user's message"
is "$(printf '%s' "$TR3" | jq -r '.stdout // ""')" "" "3: the command did not run"
fake_requests
like "$(fake_req 2 '.body.messages[-1].content[0] | [.tool_use_id, .is_error, .content] | tostring')" \
	"$B3.*true.*$DENY_MSG" "3: the model is told of the denial and the message"
is "$(ev_text "$F" "$R3")" "Let me do that.understood" "3: the run went on to the next turn's answer"

# ---- 4. compaction across parking ------------------------------------------------------------
session_new default || cw_bail "cannot create a session"
S4=$SID
B4=toolu_bash_4_$M
SUMMARY="SUMMARY $M: the user said hello earlier."
script '[{"text": "hello back"}]'
is "$(msg_final "$S4" "hello" "$W")" run.finished "4: a first exchange in the session"
T4=$(jq -cn --argjson t "$(tool_turn "$(bash_block "echo compact-$M" "$B4")")" --argjson n "$BIG_INPUT" \
	'$t + {usage: {input_tokens: $n, output_tokens: 20}}')
script "$(jq -cn --argjson t "$T4" --arg s "$SUMMARY" --arg m "$M" \
	'[$t, {text: $s, usage: {input_tokens: 1000, output_tokens: 50}},
	 {text: ("after compaction " + $m), usage: {input_tokens: 800, output_tokens: 10}}]')"
park "$S4" "a command, then much more"
R4=$RUN_ID
check "4: the run parks (its turn reported $BIG_INPUT input tokens)" has_ev "$S4" run.parked "$R4"
is "$(ev_count "$(evs "$S4")" compacted "$R4")" 0 "4: nothing compacted before parking"
perm_post "$S4" "$(pending_rid "$S4")" '{"decision":"allow"}'
is "$HTTP_STATUS" 200 "4: the request is answered (allow)"
wait_for "$W" has_final "$S4" "$R4"
F=$(evs "$S4")
is "$(finals "$S4" "$R4")" "run.finished " "4: the run ends with exactly one run.finished"
is "$(ev_count "$F" compacted "$R4")" 1 "4: one compacted event"
cmp_ok "$(line_of "$F" run.continued "$R4")" -lt "$(line_of "$F" compacted "$R4")" "4: ... after run.continued"
cmp_ok "$(line_of "$F" tool.result "$R4" "$B4")" -lt "$(line_of "$F" compacted "$R4")" \
	"4: ... after the approved command's result"
is "$(ev_first "$F" compacted "$R4" | jq -c '[.messages_before, .messages_after, .summary]')" \
	"$(jq -cn --arg s "$SUMMARY" '[5, 3, $s]')" "4: compacted 5 -> 3 messages with the summary"
is "$(trs_of "$F" "$R4" "$B4" | jq -r .stdout)" "compact-$M" "4: the command ran once"
# (The requests since the script: the turn that asked, the summary, the answer.)
fake_requests
is "$(fake_nreq)" 3 "4: three model requests since the first exchange"
like "$(fake_req 2 '.body.messages[-1].content | if type == "string" then . else map(.text // "") | join("") end')" \
	'Summarize our conversation' "4: the first request after the continuation asks for the summary"
is "$(fake_req 2 '[.error, [.body.messages[].role]]')" '[null,["user","assistant","user"]]' \
	"4: ... of the exchange before the parked run's prompt"
is "$(fake_req 3 '[.error, [.body.messages[].role]]')" '[null,["user","assistant","user"]]' \
	"4: the next request carries the compacted history (and the fake accepts it)"
like "$(fake_req 3 '.body.messages[0].content[0].text')" '^"<summary of the earlier conversation>' \
	"4: ... starting with the summary"
get_history "$S4"
is "$(jq -c '[.messages[].role]' "$T/hist.json")" '["user","assistant","user","assistant"]' \
	"4: the history: summary + prompt, the tool call, its result, the answer"
is "$(jq -r --arg s "$SUMMARY" '.messages[0].content[0].text |
	startswith("<summary of the earlier conversation>\n" + $s)' "$T/hist.json")" true \
	"4: the history starts with the summary"
like "$(jq -r '.messages[0].content[-1].text' "$T/hist.json")" 'a command, then much more' \
	"4: ... followed by the parked run's prompt"
is "$(jq -r '.messages[2].content[0].tool_use_id' "$T/hist.json")" "$B4" "4: the tool result survived compaction"
is "$(ev_text "$F" "$R4")" "Let me do that.after compaction $M" "4: the run answers after compacting"

# ---- 5 + 6. a message queued behind a parked run; the parked run cannot be removed ----------
session_new default || cw_bail "cannot create a session"
S5=$SID
B5=toolu_bash_5_$M
script "[$(tool_turn "$(bash_block "echo A-$M" "$B5")"), {\"text\": \"A done\"}, {\"text\": \"B done\"}]"
park "$S5" "message A"
RA=$RUN_ID
check "5: run A parks" has_ev "$S5" run.parked "$RA"
RIDA=$(pending_rid "$S5")
api_auth "/api/sessions/$S5/runs/$RA" -X DELETE
is "$HTTP_STATUS" 409 "6: DELETE of the parked run A is 409"
is "$(finals "$S5" "$RA")" "" "6: ... A has no final event"
is "$(pending_rid "$S5")" "$RIDA" "6: ... its request is still pending"
is "$(session_status "$S5")" waiting "6: ... and the session still says waiting"
post_msg "$S5" "message B"
RB=$RUN_ID
is "$HTTP_STATUS $(json .state)" "202 session" "5: a second message while A is parked: 202, state session"
check "5: run.queued {state session} for B" has_ev "$S5" run.queued "$RB"
is "$(ev_first "$(evs "$S5")" run.queued "$RB" | jq -r .state)" session "5: ... in the event log"
api_auth "/api/sessions/$S5/messages"
is "$(json '[.queued[].run_id] | join(" ")')" "$RB" "5: GET messages lists B as queued"
is "$(ev_count "$(evs "$S5")" run.started "$RB")" 0 "5: B has not started"
perm_post "$S5" "$RIDA" '{"decision":"allow"}'
is "$HTTP_STATUS" 200 "5: A's request is answered (allow)"
wait_for "$W" has_final "$S5" "$RB"
F=$(evs "$S5")
is "$(finals "$S5" "$RA")" "run.finished " "5: A ends with one run.finished"
is "$(finals "$S5" "$RB")" "run.finished " "5: B ends with one run.finished"
cmp_ok "$(line_of "$F" run.finished "$RA")" -lt "$(line_of "$F" run.started "$RB")" "5: B starts after A's final event"
is "$(ev_count "$F" run.started "$RB")" 1 "5: B started once"
is "$(jq -r 'select(.event | test("^run\\.(finished|error|cancelled)$")) | .data.run_id' "$F" | tr '\n' ' ')" \
	"$RA $RB " "5: the session's final events: A, then B"
is "$(trs_of "$F" "$RA" "$B5" | jq -r .stdout)" "A-$M" "5: A's command ran"
is "$(ev_text "$F" "$RB")" "B done" "5: B answered"
check "5: the session is idle" wait_for "$W" status_is "$S5" idle

# ---- 7. a reload hands a running run over at the next step boundary -------------------------
# The old generation's runner finishes the command it is running, then gives
# the run back (run.continued, reason handoff) instead of holding it until
# RUNNER_DRAIN_TIMEOUT; a new runner continues without repeating the model call.
session_new bypassPermissions || cw_bail "cannot create a session"
S7=$SID
B7=toolu_bash_7_$M
script "[$(tool_turn "$(bash_block "sleep 2; echo handoff-$M" "$B7")"), {\"text\": \"after handoff $M\"}]"
post_msg "$S7" "a command, then a reload"
R7=$RUN_ID
wait_for "$W" state_running "$S7" "$R7" "$B7" || cw_bail "the command did not start"
kill -HUP "$MASTER_PID"
wait_for "$W" has_final "$S7" "$R7"
F=$(evs "$S7")
is "$(finals "$S7" "$R7")" "run.finished " "7: the run ends with exactly one run.finished"
is "$(ev_count "$F" run.continued "$R7")" 1 "7: one run.continued"
is "$(ev_first "$F" run.continued "$R7" | jq -r .reason)" handoff "7: ... with reason handoff"
is "$(ev_count "$F" run.resumed "$R7")" 0 "7: no run.resumed (nothing was cut off)"
is "$(trs_of "$F" "$R7" "$B7" | grep -c .)" 1 "7: the command's result was reported once"
is "$(trs_of "$F" "$R7" "$B7" | jq -r '[.is_error, .stdout] | join(" ")')" "false handoff-$M" \
	"7: ... the command finished on the old runner"
cmp_ok "$(line_of "$F" tool.result "$R7" "$B7")" -lt "$(line_of "$F" run.continued "$R7")" \
	"7: the hand-over comes after the command's result (a step boundary)"
fake_requests
is "$(fake_nreq)" 2 "7: two model requests: none repeated"
is "$(ev_text "$F" "$R7")" "Let me do that.after handoff $M" "7: the new runner answers"

# ---- 9. a reload while the model call has shown nothing yet hands off at once -------------
# The answer's headers are 30 s away: the quitting runner gives the call up
# (nothing was shown) and hands the run off; the next runner makes the call
# again and answers. Without this, the reload waited for the whole answer.
session_new bypassPermissions || cw_bail "cannot create a session"
S9=$SID
script '[{"text": "never shown", "headers_delay_ms": 30000}, {"text": "after the yield"}]'
post_msg "$S9" "a slow answer, then a reload"
R9=$RUN_ID
req_seen() { fake_requests && [ "$(fake_nreq)" -ge 1 ]; }
wait_for "$W" req_seen || diag "the first model request was not seen"
t0=$(now_ms)
kill -HUP "$MASTER_PID"
check "9: the run is handed off long before the answer's headers" wait_for 15 eval \
	'[ "$(ev_count "$(evs "$S9")" run.continued "$R9")" -ge 1 ]'
diag "9: hand-off $(($(now_ms) - t0)) ms after SIGHUP"
wait_for "$W" has_final "$S9" "$R9"
F=$(evs "$S9")
is "$(finals "$S9" "$R9")" "run.finished " "9: the run ends with exactly one run.finished"
is "$(ev_first "$F" run.continued "$R9" | jq -r .reason)" handoff "9: run.continued says handoff"
is "$(ev_count "$F" run.resumed "$R9")" 0 "9: no run.resumed"
is "$(ev_count "$F" message.start "$R9")" 1 "9: one message.start: the given-up call showed nothing"
is "$(ev_text "$F" "$R9")" "after the yield" "9: the next runner's call answers"
fake_requests
is "$(fake_nreq)" 2 "9: two model requests (the first given up)"

# ---- 8. deleting a session whose run is parked ------------------------------------------------
# The parked run holds no lock; the delete closes it, and nothing of the session
# comes back (no event stream revived, nothing left in the scheduler's lists).
session_new default || cw_bail "cannot create a session"
S8=$SID
B8=toolu_bash_8_$M
script "[$(tool_turn "$(bash_block "echo never-$M" "$B8")"), {\"text\": \"never\"}]"
park "$S8" "a command, then the session goes"
R8=$RUN_ID
api_auth "/api/sessions/$S8" -X DELETE
is "$HTTP_STATUS" 204 "8: DELETE of a session whose run is parked is 204"
run_closed() {
	case "$(redis_cli HGET "cw:{c}:run:$R8" status)" in finished | error | cancelled) return 0 ;; esac
	return 1
}
check "8: the parked run is closed" wait_for "$W" run_closed
is "$(redis_cli ZSCORE cw:{c}:parked "$R8")" "" "8: it is no longer parked"
is "$(redis_cli ZSCORE cw:{c}:runs:live "$R8")" "" "8: nor listed as live"
check "8: no runner holds the session" wait_for "$W" eval '[ "$(redis_cli EXISTS "cw:{c}:lock:$S8")" = 0 ]'
is "$(redis_cli EXISTS "cw:{c}:events:$S8" "cw:{c}:active:$S8" "cw:{c}:session:$S8")" 0 \
	"8: the session's stream, current run and record stay gone"

tap_done
