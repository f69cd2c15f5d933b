#!/usr/bin/env bash
# t_controls.sh: in-session controls as the person uses them, checked at the
# fake Anthropic API (the exact request bodies) and through the API:
#  1. the model switched mid-run (PATCH while the run waits for an approval):
#     the next request of the same run uses the new model;
#  2. plan mode: the system prompt says how to leave it; exit_plan_mode is
#     declared in every mode (byte-stable tools); calling it raises a plan
#     request (tool, card, summary, in GET /permissions and the SSE snapshot);
#     approving it with "mode":"acceptEdits" switches the session, the
#     tool_result tells Claude, and the run continues; "Keep planning" is an
#     is_error tool_result with the message, the session stays in plan mode;
#     outside plan mode the call is refused without asking; bad "mode" 400;
#  3. /compact focus: POST …/compact {"focus"} puts it into the summary request;
#  4. /clear: POST …/clear archives the conversation, the next request starts
#     fresh, the files stay; 409 while a run is active;
#  5. custom commands: GET …/commands lists .claude/commands/*.md (frontmatter
#     description and argument-hint, or the first line); POST …/messages
#     {"command","arguments"} sends the expanded text; a symlinked, oversized,
#     missing or badly named command is refused, and never listed.
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source=tests/integration/lib_auth.sh
. "$(dirname "$0")/lib_auth.sh"
# shellcheck source=tests/integration/lib_agent.sh
. "$(dirname "$0")/lib_agent.sh"
# shellcheck source=tests/integration/lib_tools.sh
. "$(dirname "$0")/lib_tools.sh"
cw_require_tools_stack

# Pending requests never expire while the test reads them.
CW_CONF[PERMISSION_TIMEOUT]=600
W=60
RUNTO=300
tools_stack_up
M=$$

# answer_req N JSON: answers the N-th permission.request of EV.
answer_req() {
	ev_wait permission.request "$1" "$W" || return 1
	perm_post "$SID" "$(ev_nth permission.request "$1" | jq -r .request_id)" "$2"
}
plan_block() {
	jq -cn --arg p "$1" --arg id "$2" \
		'{type: "tool_use", id: $id, name: "exit_plan_mode", input: {plan: $p}}'
}
# last_tr N: the tool_result blocks of request N's last message.
last_tr() {
	fake_req "$1" '[.body.messages[-1].content[] | select(.type == "tool_result") |
		{tool_use_id, content, is_error}]'
}
patch_session() {
	api_auth "/api/sessions/$1" -X PATCH -H 'Content-Type: application/json' --data-binary "$2"
}

# ---- 1. model switched mid-run ---------------------------------------------------------
session_new default || cw_bail "cannot create a session: $HTTP_STATUS $(cat "$BODY")"
api_auth /api/models
M0=$(json .default)
M1=$(jq -r --arg d "$M0" '[.models[].id | select(. != $d)][0]' "$BODY")
isnt "$M1" "" "1: GET /api/models offers another model than the default ($M0)"
run_bg "$SID" "$(blocks "$(bash_block "echo model-$M" "toolu_model_$M")")" "$RUNTO" ||
	cw_bail "cannot start a run: $HTTP_STATUS $(cat "$BODY")"
ev_wait permission.request 1 "$W"
patch_session "$SID" "$(jq -cn --arg m "$M1" '{model: $m}')"
is "$HTTP_STATUS $(json .model)" "200 $M1" "1: PATCH model while the run waits for an approval"
answer_req 1 '{"decision":"allow"}'
is "$HTTP_STATUS" 200 "1: the bash call approved"
run_bg_wait "$RUNTO"
is "$(ev_first "$EV" run.finished "$RUN_ID" | jq -r .stop_reason)" end_turn "1: the run finishes"
fake_requests
is "$(fake_req 1 .body.model)" "\"$M0\"" "1: the first request used the old model"
is "$(fake_req 2 .body.model)" "\"$M1\"" "1: the next request of the same run uses the new model"
is "$(fake_req 2 .error)" null "1: the fake accepted it"
MSGS=$(jq -c '.requests | length' "$FAKE_REQS")
is "$MSGS" 2 "1: two model requests"

# ---- 2. plan mode --------------------------------------------------------------------------
session_new plan || cw_bail "cannot create a plan session"
S2=$SID
PLAN="# Plan
1. Add parse_args() to main.c
2. Test it with tests/t_args.sh"
PID1=toolu_plan_a_$M
run_bg "$S2" "$(blocks "$(plan_block "$PLAN" "$PID1")")" "$RUNTO" || cw_bail "cannot start a plan run"
ev_wait permission.request 1 "$W"
REQ=$(ev_nth permission.request 1)
RID=$(printf '%s' "$REQ" | jq -r .request_id)
is "$(printf '%s' "$REQ" | jq -c '[.tool, .tool_use_id, .input.plan == $p]' --arg p "$PLAN")" \
	"[\"exit_plan_mode\",\"$PID1\",true]" "2: exit_plan_mode raised a permission request with the plan"
is "$(printf '%s' "$REQ" | jq -r .card)" plan "2: ...of card \"plan\""
is "$(printf '%s' "$REQ" | jq -r .summary)" "Approve the plan: Plan" "2: ...summary: its first line"
api_auth "/api/sessions/$S2/permissions"
is "$(jq -c --arg r "$RID" '[.pending[] | select(.request_id == $r) | .tool]' "$BODY")" '["exit_plan_mode"]' \
	"2: GET /permissions lists the plan request"
sse_read "$T/snap.jsonl" --session "$S2" --max-events 1 --timeout 10
is "$(jq -c 'select(.event == "snapshot") | [.data.pending_permissions[] | .tool]' "$T/snap.jsonl")" \
	'["exit_plan_mode"]' "2: the SSE snapshot's pending_permissions has it"
is "$(session_status "$S2")" waiting "2: the session waits"
fake_requests
SYS1=$(fake_req 1 '.body.system[0].text')
like "$SYS1" 'This session is in plan mode' "2: the plan-mode system prompt is sent"
like "$SYS1" 'call the `exit_plan_mode` tool' "2: ...and tells Claude to call exit_plan_mode"
is "$(fake_req 1 '.body.tools[] | select(.name == "exit_plan_mode") | [.input_schema.required, .input_schema.properties.plan.type]')" \
	'[["plan"],"string"]' "2: exit_plan_mode is declared with the {plan: string} schema"
TOOLS_PLAN=$(fake_req 1 .body.tools)
# mode checks before the answer
perm_post "$S2" "$RID" '{"decision":"deny","mode":"acceptEdits"}'
is "$HTTP_STATUS" 400 "2: mode with deny is 400"
perm_post "$S2" "$RID" '{"decision":"allow","mode":"bypassPermissions"}'
is "$HTTP_STATUS" 400 "2: mode bypassPermissions is 400 (acceptEdits or default only)"
perm_post "$S2" "$RID" '{"decision":"allow","mode":"acceptEdits","remember":true}'
is "$HTTP_STATUS $(jq -c '[.mode, .remember]' "$BODY")" '200 ["acceptEdits",false]' \
	"2: approved into acceptEdits (never remembered)"
run_bg_wait "$RUNTO"
is "$(ev_first "$EV" run.finished "$RUN_ID" | jq -r .stop_reason)" end_turn "2: the run continued and finished"
is "$(ev_first "$EV" permission.resolved "$RUN_ID" | jq -c '[.decision, .remember]')" '["allow",false]' \
	"2: permission.resolved allow"
api_auth "/api/sessions/$S2"
is "$(json .permission_mode)" acceptEdits "2: the session is in acceptEdits now"
api_auth /api/sessions
is "$(jq -r --arg s "$S2" '.sessions[] | select(.id == $s) | .permission_mode' "$BODY")" acceptEdits \
	"2: ... and the session list shows acceptEdits too (its stored summary was dropped)"
fake_requests
APPROVED="The user approved your plan. The session has left plan mode and is now in acceptEdits mode (your file edits are accepted without asking; commands still ask). Carry out the plan now."
is "$(last_tr 2)" "$(jq -cn --arg id "$PID1" --arg c "$APPROVED" '[{tool_use_id: $id, content: $c, is_error: null}]')" \
	"2: the next request carries the approval as the tool_result"
unlike "$(fake_req 2 '.body.system[0].text')" 'This session is in plan mode' \
	"2: ...and no plan-mode prompt any more"
is "$(fake_req 2 .body.tools)" "$TOOLS_PLAN" "2: the tools array is the same in both modes (byte-stable)"
is "$(jq -c --arg id "$PID1" 'select(.tool_use_id == $id) | [.is_error, .plan_approved]' "$TRS")" \
	'[false,true]' "2: tool.result: approved"

# Keep planning
session_new plan || cw_bail "cannot create a plan session"
S3=$SID
PID2=toolu_plan_b_$M
run_bg "$S3" "$(blocks "$(plan_block "Plan B" "$PID2")")" "$RUNTO" || cw_bail "cannot start a plan run"
answer_req 1 '{"decision":"deny","message":"add tests first"}'
is "$HTTP_STATUS" 200 "2: Keep planning (deny with a message)"
run_bg_wait "$RUNTO"
fake_requests
KEEP="The user did not approve the plan and wants you to keep planning; the session stays in plan mode. Their message: add tests first"
is "$(last_tr 2)" "$(jq -cn --arg id "$PID2" --arg c "$KEEP" '[{tool_use_id: $id, content: $c, is_error: true}]')" \
	"2: the next request carries an is_error tool_result with the message"
like "$(fake_req 2 '.body.system[0].text')" 'This session is in plan mode' "2: ...still in plan mode"
api_auth "/api/sessions/$S3"
is "$(json .permission_mode)" plan "2: the session stays in plan mode"

# Outside plan mode: refused at once
session_new default || cw_bail "cannot create a session"
PID3=toolu_plan_c_$M
run_bg "$SID" "$(blocks "$(plan_block "Plan C" "$PID3")")" "$RUNTO" || cw_bail "cannot start a run"
run_bg_wait "$RUNTO"
is "$(ev_count "$EV" permission.request "$RUN_ID")" 0 "2: outside plan mode nothing asks"
fake_requests
is "$(last_tr 2)" "$(jq -cn --arg id "$PID3" '[{tool_use_id: $id, content: "Error: exit_plan_mode is only for plan mode; this session is in default mode, so there is no plan to approve. Carry on with the task.", is_error: true}]')" \
	"2: ...the call gets an is_error tool_result"
# mode on an ordinary (bash) request
run_bg "$SID" "$(blocks "$(bash_block "echo x" "toolu_bash_mode_$M")")" "$RUNTO" || cw_bail "cannot start a run"
answer_req 1 '{"decision":"allow","mode":"acceptEdits"}'
is "$HTTP_STATUS" 400 "2: mode on a bash request is 400"
answer_req 1 '{"decision":"deny"}'
run_bg_wait "$RUNTO"

# ---- 3. /compact focus ---------------------------------------------------------------------
session_new default || cw_bail "cannot create a session"
S4=$SID
fake_reset
fake_script '{"turns":[{"text":"First answer."},{"text":"Second answer."},{"text":"SUMMARY focused."}]}'
run_msg "$S4" "first prompt" || diag "run 1: $SSE_END"
run_msg "$S4" "second prompt" || diag "run 2: $SSE_END"
MARK=$(events_mark "$S4")
api_auth "/api/sessions/$S4/compact" -X POST -H 'Content-Type: application/json' \
	--data-binary '{"focus":"the parser changes"}'
is "$HTTP_STATUS $(json .kind)" "202 compact" "3: POST /compact {focus} is 202"
RC=$(json .run_id)
sse_read "$T/cc.jsonl" --session "$S4" --last-event-id "$MARK" --until "$FINAL_EVENTS" --run-id "$RC" --timeout 30
is "$(ev_first "$T/cc.jsonl" run.finished "$RC" | jq -r .stop_reason)" compacted "3: compacted"
fake_requests
ASK="Summarize our conversation so far for your own future reference: the goals, decisions, files touched and their state, commands that mattered and their outcome, and open questions. Be complete but terse; this summary will replace the conversation.

Focus the summary on: the parser changes"
is "$(fake_req 3 '.body.messages[-1].content | if type == "string" then . else map(.text) | join("") end')" \
	"$(jq -cn --arg a "$ASK" '$a')" "3: the summary request carries the focus"
api_auth "/api/sessions/$S4/compact" -X POST -H 'Content-Type: application/json' --data-binary '{"focus":5}'
is "$HTTP_STATUS" 400 "3: a non-string focus is 400"

# ---- 4. /clear --------------------------------------------------------------------------------
FILES4=$(session_dir "$S4")/files
printf 'kept-%s\n' "$M" >"$FILES4/keep.txt"
MARK=$(events_mark "$S4")
api_auth "/api/sessions/$S4/clear" -X POST
is "$HTTP_STATUS $(json .kind)" "202 clear" "4: POST /clear is 202 (kind clear)"
RCL=$(json .run_id)
sse_read "$T/cl.jsonl" --session "$S4" --last-event-id "$MARK" --until "$FINAL_EVENTS" --run-id "$RCL" --timeout 30
is "$(ev_first "$T/cl.jsonl" run.finished "$RCL" | jq -r .stop_reason)" cleared "4: the clear run finishes (cleared)"
CL=$(ev_first "$T/cl.jsonl" cleared "$RCL")
is "$(printf '%s' "$CL" | jq -r '.cleared.messages_before')" 2 "4: a cleared event (2 messages before)"
ARCH=$(printf '%s' "$CL" | jq -r '.cleared.archived')
check "4: the old conversation is archived in .claude/$ARCH" \
	test -s "$(session_dir "$S4")/.claude/$ARCH"
is "$(jq -c '[(.messages | length), .messages[0].content[-1].text]' "$(session_dir "$S4")/.claude/$ARCH" 2>/dev/null)" \
	'[2,"second prompt"]' "4: ...with its messages"
get_history "$S4"
is "$(jq -c '[(.messages | length), .cleared.messages_before, .cleared.archived == $a]' --arg a "$ARCH" "$T/hist.json")" \
	'[0,2,true]' "4: GET /messages: empty, with the cleared marker"
is "$(cat "$FILES4/keep.txt")" "kept-$M" "4: the files are kept"
fake_reset
fake_script '{"turns":[{"text":"Fresh."}]}'
run_msg "$S4" "after clear"
fake_requests
is "$(fake_req 1 '[.body.messages[] | {role, text: (.content | if type == "string" then . else map(.text) | join("") end)}]')" \
	'[{"role":"user","text":"after clear"}]' "4: the next request's messages start fresh"
# 409 while a run is active (parked on an approval)
run_bg "$S4" "$(blocks "$(bash_block "echo busy" "toolu_busy_$M")")" "$RUNTO" || cw_bail "cannot start a run"
SID=$S4
ev_wait permission.request 1 "$W"
api_auth "/api/sessions/$S4/clear" -X POST
is "$HTTP_STATUS $(json .error.type)" "409 conflict" "4: /clear while a run is active is 409"
answer_req 1 '{"decision":"deny"}'
run_bg_wait "$RUNTO"
# The approvals' notices (anchored in the old conversation) go with it.
get_history "$S4"
NOTICES_BEFORE=$(jq '.notices // [] | length' "$T/hist.json")
MARK=$(events_mark "$S4")
api_auth "/api/sessions/$S4/clear" -X POST
RCL2=$(json .run_id)
sse_read "$T/cl2.jsonl" --session "$S4" --last-event-id "$MARK" --until "$FINAL_EVENTS" --run-id "$RCL2" --timeout 30
get_history "$S4"
is "$(jq -c --arg r "$RCL2" '[(.messages | length), ([.notices // [] | .[] | select(.run_id != $r)] | length)]' "$T/hist.json")" \
	'[0,0]' "4: a second /clear: no messages, and no notices of the old conversation (there were $NOTICES_BEFORE)"
check "4: ...they are archived next to it" sh -c "ls '$(session_dir "$S4")/.claude/' | grep -q '^notices-.*\.jsonl$'"
api_bearer invalid-token "/api/sessions/$S4/clear" -X POST
is "$HTTP_STATUS" 401 "4: /clear needs a login"

# ---- 5. custom commands ---------------------------------------------------------------------
session_new default || cw_bail "cannot create a session"
S5=$SID
CMDS=$(session_dir "$S5")/files/.claude/commands
mkdir -p "$CMDS"
cat >"$CMDS/review.md" <<'EOF'
---
description: Review a file for bugs
argument-hint: <path>
---
Please review $ARGUMENTS carefully.
Report bugs in $ARGUMENTS only.
EOF
printf '# Explain the build\nExplain how this project is built.\n' >"$CMDS/explain.md"
ln -s /etc/passwd "$CMDS/passwd.md"
ln -s review.md "$CMDS/alias.md"
head -c 20000 /dev/zero | tr '\0' 'x' >"$CMDS/big.md"
printf 'x\n' >"$CMDS/bad name.md"
mkfifo "$CMDS/fifo.md"
api_auth "/api/sessions/$S5/commands"
is "$HTTP_STATUS" 200 "5: GET /commands"
is "$(jq -c .commands "$BODY")" \
	'[{"name":"explain","description":"Explain the build","argument_hint":""},{"name":"review","description":"Review a file for bugs","argument_hint":"<path>"}]' \
	"5: lists review (frontmatter) and explain (first line); links, oversized, a FIFO and bad names are skipped"
fake_reset
fake_script '{"turns":[{"text":"Reviewed."}]}'
MARK=$(events_mark "$S5")
api_auth "/api/sessions/$S5/messages" -X POST -H 'Content-Type: application/json' \
	--data-binary '{"command":"review","arguments":"src/main.c"}'
is "$HTTP_STATUS" 202 "5: POST {command, arguments} is 202"
RCM=$(json .run_id)
sse_read "$T/cm.jsonl" --session "$S5" --last-event-id "$MARK" --until "$FINAL_EVENTS" --run-id "$RCM" --timeout 30
fake_requests
is "$(fake_req 1 '.body.messages[0].content | if type == "string" then . else map(.text) | join("") end')" \
	'"Please review src/main.c carefully.\nReport bugs in src/main.c only.\n"' \
	"5: the upstream request carries the expanded text (not the command)"
get_history "$S5"
is "$(jq -c '.messages[0].content | if type == "string" then . else map(.text) | join("") end' "$T/hist.json")" \
	'"Please review src/main.c carefully.\nReport bugs in src/main.c only.\n"' "5: the stored message is the expanded text"
cmd_post() {
	api_auth "/api/sessions/$S5/messages" -X POST -H 'Content-Type: application/json' --data-binary "$1"
}
cmd_post '{"command":"passwd"}'
is "$HTTP_STATUS" 400 "5: a command file that is a symlink (out) is refused (400)"
cmd_post '{"command":"alias"}'
is "$HTTP_STATUS" 400 "5: a symlink to another command is refused too"
cmd_post '{"command":"big"}'
is "$HTTP_STATUS" 413 "5: an oversized command file is 413"
cmd_post '{"command":"fifo"}'
is "$HTTP_STATUS" 400 "5: a FIFO is refused (400), without blocking"
cmd_post '{"command":"nope"}'
is "$HTTP_STATUS" 404 "5: an unknown command is 404"
cmd_post '{"command":"../review"}'
is "$HTTP_STATUS" 400 "5: a bad command name is 400"
cmd_post '{"command":"review","content":"x"}'
is "$HTTP_STATUS" 400 "5: command and content together is 400"
# The whole .claude directory as a link out: nothing is listed or read.
S5D=$(session_dir "$S5")/files
mv "$S5D/.claude" "$T/claude-moved"
ln -s "$T/claude-moved" "$S5D/.claude"
api_auth "/api/sessions/$S5/commands"
is "$HTTP_STATUS $(jq -c .commands "$BODY")" '200 []' "5: .claude as a symlink: no commands"
cmd_post '{"command":"review"}'
is "$HTTP_STATUS" 400 "5: ...and none expanded"
api_bearer invalid "/api/sessions/$S5/commands"
is "$HTTP_STATUS" 401 "5: GET /commands needs a login"

tap_done
