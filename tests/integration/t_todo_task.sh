#!/usr/bin/env bash
# t_todo_task.sh: issue 13's todo_write and task (sub-agent) tools, through
# real runs with the fake model calling them.
#   1. todo_write: declared with its schema, never asks, stored in
#      .claude/todos.json, announced as todos.updated, served by GET
#      …/todos and GET …/sessions/<id>; the tool_result Claude gets back.
#   2. bad todo_write input: an error tool_result saying why; nothing stored,
#      no event.
#   3. task: the child's request has its own messages (the prompt, not the
#      parent's history), the sub-agent system prompt, the model and a
#      subset of the tools (no task, no todo_write); a read call runs, a call
#      that would need a person is denied inside the child with a message;
#      the child's events carry parent_tool_use_id; its final text is the
#      parent's tool_result; usage adds up (run, session); the steps are kept
#      for a reload; the history holds only the parent's messages.
#   4. bad task input (no prompt) and an explore sub-agent (no bash; an edit
#      denied); the child cannot call task itself.
#   5. cancel while the child streams: both end (run.cancelled within ~1 s,
#      the upstream transfer stopped, the task's result says cancelled).
#   6. a runner killed while the child runs: the run is resumed and the task
#      call is reported interrupted, as any tool call.
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source=tests/integration/lib_auth.sh
. "$(dirname "$0")/lib_auth.sh"
# shellcheck source=tests/integration/lib_agent.sh
. "$(dirname "$0")/lib_agent.sh"
# shellcheck source=tests/integration/lib_tools.sh
. "$(dirname "$0")/lib_tools.sh"
cw_require_tools_stack

# What a sub-agent is given, as a jq filter over the parent's request: its
# tools minus task, todo_write, exit_plan_mode (internal), server tools and
# MCP tools, each declared exactly as for the parent; explore: also no bash.
CHILD_DECL='[.body.tools[] | select(.name != "task" and .name != "todo_write" and .name != "exit_plan_mode"
	and ((.type // "") | test("^web_") | not) and (.name | startswith("mcp__") | not))]'
EXPLORE_DECL="$CHILD_DECL"' | map(select(.name != "bash"))'

CW_CONF[RUNNER_WORKERS]=2
tools_stack_up
session_new || cw_bail "cannot create a session: $HTTP_STATUS $(cat "$BODY")"
S1=$SID

# one_turn BLOCKS_JSON [USAGE_JSON]: a turn that calls the tools in BLOCKS_JSON.
turn_with() {
	jq -cn --argjson b "$1" --argjson u "${2:-null}" \
		'{content: $b} + (if $u == null then {} else {usage: $u} end)'
}
todo_block() {
	jq -cn --argjson in "$1" --arg id "$2" '{type: "tool_use", id: $id, name: "todo_write", input: $in}'
}
task_block() {
	jq -cn --argjson in "$1" --arg id "$2" '{type: "tool_use", id: $id, name: "task", input: $in}'
}
# tr_of ID: the data of the tool.result event of tool_use ID in $EV.
tr_of() {
	jq -c --arg id "$1" 'select(.event == "tool.result" and .data.tool_use_id == $id) | .data' "$EV" | head -n 1
}

# ---- 1. todo_write -------------------------------------------------------------------
TODOS='[{"content":"Read the code","status":"completed","activeForm":"Reading the code"},
	{"content":"Fix the bug","status":"in_progress","activeForm":"Fixing the bug","id":"fix"},
	{"content":"Run the tests","status":"pending"}]'
TODOS=$(jq -c . <<<"$TODOS")
fake_reset
fake_script "$(jq -cn --argjson t1 "$(turn_with "[{\"type\":\"text\",\"text\":\"Planning.\"},$(todo_block "{\"todos\":$TODOS}" toolu_todo1)]")" \
	'{turns: [$t1, {text: "Planned."}]}')"
run_msg "$S1" "plan the work"
R1=$RUN_ID
is "$SSE_END $(ev_first "$EV" run.finished "$R1" | jq -r .stop_reason)" "until end_turn" "1: the run finished"
is "$(ev_count "$EV" permission.request "$R1")" 0 "1: todo_write never asks (internal class)"
TU=$(ev_first "$EV" todos.updated "$R1")
is "$(printf '%s' "$TU" | jq -c .todos)" "$TODOS" "1: todos.updated carries the list"
is "$(printf '%s' "$TU" | jq -r .tool_use_id)" toolu_todo1 "1: ...and the call's id"
cmp_ok "$(ev_pos "$EV" todos.updated "$R1")" -lt "$(ev_pos "$EV" tool.result "$R1")" "1: todos.updated comes before the tool.result"
TR=$(tr_of toolu_todo1)
is "$(trj .is_error)" false "1: the tool.result is not an error"
is "$(trj .content)" "The todo list is saved: 3 items (1 completed, 1 in progress, 1 pending). Keep it current: mark each item completed as soon as it is done." \
	"1: the tool.result content"
is "$(trj .todos | jq -c .)" "$TODOS" "1: the tool.result detail has the list (for the card after a reload)"
is "$(jq -c .todos "$(session_dir "$S1")/.claude/todos.json")" "$TODOS" "1: .claude/todos.json holds the list"
api_auth "/api/sessions/$S1/todos"
is "$HTTP_STATUS $(jq -c .todos "$BODY")" "200 $TODOS" "1: GET …/todos returns the list"
cmp_ok "$(json .updated_at)" -ge "$(($(date +%s) - 60))" "1: ...with updated_at"
api_auth "/api/sessions/$S1"
is "$(jq -c .todos "$BODY")" "$TODOS" "1: GET …/sessions/<id> includes the list"
fake_requests
DECL=$(fake_req 1 '.body.tools[] | select(.name == "todo_write")')
is "$(printf '%s' "$DECL" | jq -c 'keys')" '["description","input_schema","name"]' "1: todo_write is declared as a custom tool"
is "$(printf '%s' "$DECL" | jq -c '.input_schema')" \
	'{"type":"object","properties":{"todos":{"type":"array","description":"The whole updated list (replaces the previous one)","items":{"type":"object","properties":{"content":{"type":"string","minLength":1,"description":"The task, imperative: Run the tests"},"status":{"type":"string","enum":["pending","in_progress","completed"]},"activeForm":{"type":"string","description":"Present continuous, shown while in progress: Running the tests"},"id":{"type":"string"}},"required":["content","status"],"additionalProperties":false}}},"required":["todos"],"additionalProperties":false}' \
	"1: todo_write's input_schema"
like "$(printf '%s' "$DECL" | jq -r .description)" '^Keep a structured task list for this session' "1: todo_write's description"
is "$(fake_req 2 '.body.messages[-1].content | map(del(.cache_control))')" \
	'[{"type":"tool_result","tool_use_id":"toolu_todo1","content":"The todo list is saved: 3 items (1 completed, 1 in progress, 1 pending). Keep it current: mark each item completed as soon as it is done."}]' \
	"1: the next request carries exactly that tool_result"
is "$(fake_req 2 .error)" null "1: the fake accepted it"
# Someone else's session: 404 like a missing one.
user_add bob bob-password-1 >/dev/null 2>&1
ANN=$TOKEN
login bob bob-password-1 || cw_bail "bob cannot log in"
BOB=$TOKEN
TOKEN=$ANN
api_bearer "$BOB" "/api/sessions/$S1/todos"
is "$HTTP_STATUS" 404 "1: another user's GET …/todos is 404"
api_auth "/api/sessions/nosuchsession0000/todos"
is "$HTTP_STATUS" 404 "1: a missing session's todos are 404"
# A new session has an empty list.
session_new || cw_bail "cannot create a session"
S0=$SID
api_auth "/api/sessions/$S0/todos"
is "$HTTP_STATUS $(jq -c . "$BODY")" '200 {"todos":[],"updated_at":null}' "1: a new session's list is empty"
SID=$S1

# /clear starts a fresh context: the old list goes with it (in a session of its own).
session_new || cw_bail "cannot create a session"
SC=$SID
fake_reset
fake_script "$(jq -cn --argjson t1 "$(turn_with "[$(todo_block "{\"todos\":$TODOS}" toolu_todoc)]")" \
	'{turns: [$t1, {text: "Listed."}]}')"
run_msg "$SC" "make a list"
api_auth "/api/sessions/$SC/todos"
is "$(jq -c '.todos | length' "$BODY")" 3 "1: a second session has its list"
MARK=$(events_mark "$SC")
api_auth "/api/sessions/$SC/clear" -X POST
RCL=$(json .run_id)
sse_read "$T/clear.jsonl" --session "$SC" --last-event-id "$MARK" --until "$FINAL_EVENTS" --run-id "$RCL" --timeout 20
is "$(ev_first "$T/clear.jsonl" todos.updated "$RCL" | jq -c .todos)" '[]' "1: /clear empties the todo list (todos.updated [])"
api_auth "/api/sessions/$SC/todos"
is "$(jq -c .todos "$BODY")" '[]' "1: ...and GET …/todos is empty"
SID=$S1

# ---- 2. bad todo_write input ---------------------------------------------------------
MANY=$(jq -cn '[range(101) | {content: "item \(.)", status: "pending"}]')
LONG=$(head -c 1100 /dev/zero | tr '\0' 'x')
B1=$(todo_block '{"todos":[{"content":"x","status":"done"}]}' toolu_bad1)
B2=$(todo_block "{\"todos\":$MANY}" toolu_bad2)
B3=$(todo_block "$(jq -cn --arg l "$LONG" '{todos: [{content: $l, status: "pending"}]}')" toolu_bad3)
B4=$(todo_block '{"todos":[{"content":"  ","status":"pending"}]}' toolu_bad4)
B5=$(todo_block '{"items":[]}' toolu_bad5)
B6=$(todo_block '{"todos":[{"content":"x","status":"pending","priority":"high"}]}' toolu_bad6)
fake_reset
fake_script "$(jq -cn --argjson t1 "$(turn_with "[$B1,$B2,$B3,$B4,$B5,$B6]")" '{turns: [$t1, {text: "ok"}]}')"
run_msg "$S1" "break the list"
R2=$RUN_ID
is "$SSE_END" until "2: the run finished"
is "$(ev_count "$EV" todos.updated "$R2")" 0 "2: no todos.updated for bad input"
for pair in \
	'toolu_bad1|Error: the todo list was not changed: todos[0].status must be pending, in_progress or completed, not '"'"'done'"'"'.' \
	'toolu_bad2|Error: the todo list was not changed: the list has 101 items; at most 100 are allowed: merge or drop finished ones.' \
	'toolu_bad3|Error: the todo list was not changed: todos[0].content is 1100 bytes long; at most 1024 are allowed.' \
	'toolu_bad4|Error: the todo list was not changed: todos[0].content must not be empty.' \
	'toolu_bad5|Error: the todo list was not changed: unknown field '"'"'items'"'"': the input has only '"'"'todos'"'"'.' \
	'toolu_bad6|Error: the todo list was not changed: todos[0]: unknown field '"'"'priority'"'"' (allowed: content, status, activeForm, id).'; do
	id=${pair%%|*}
	TR=$(tr_of "$id")
	is "$(trj .is_error) $(trj .content)" "true ${pair#*|}" "2: $id: an error result saying why"
done
is "$(jq -c .todos "$(session_dir "$S1")/.claude/todos.json")" "$TODOS" "2: the stored list is unchanged"
fake_requests
is "$(fake_req 2 '[.body.messages[-1].content[] | select(.is_error == true) | .tool_use_id] | length')" 6 \
	"2: the six errors go back to Claude as is_error tool_results"

# ---- 3. task: a sub-agent -------------------------------------------------------------
session_new || cw_bail "cannot create a session"
S3=$SID
printf 'hello notes\nsecond line\n' >"$(session_dir "$S3")/files/notes.txt"
PROMPT3='Read /workspace/notes.txt and report its first line.'
TASK3=$(task_block "$(jq -cn --arg p "$PROMPT3" '{description: "Read the notes", prompt: $p}')" toolu_task3)
VIEW3=$(editor_block '{"command":"view","path":"/workspace/notes.txt"}' toolu_child_view)
BASH3=$(bash_block 'touch /workspace/created-by-child' toolu_child_bash)
FINAL3='The first line is: hello notes'
fake_reset
fake_script "$(jq -cn \
	--argjson t1 "$(turn_with "[{\"type\":\"text\",\"text\":\"Delegating.\"},$TASK3]" '{"input_tokens":10,"output_tokens":5}')" \
	--argjson t2 "$(turn_with "[{\"type\":\"text\",\"text\":\"Reading.\"},$VIEW3,$BASH3]" '{"input_tokens":100,"output_tokens":10}')" \
	--arg f "$FINAL3" '{turns: [$t1, $t2,
		{text: $f, usage: {input_tokens: 120, output_tokens: 20}},
		{text: "The sub-agent says: hello notes.", usage: {input_tokens: 30, output_tokens: 8}}]}')"
UIN0=$(redis_cli HGET "cw:{c}:usage:user:ann" input_tokens)
run_msg "$S3" "what is in the notes?"
R3=$RUN_ID
is "$SSE_END $(ev_first "$EV" run.finished "$R3" | jq -r .stop_reason)" "until end_turn" "3: the run finished"
fake_requests
is "$(jq '.requests | length' "$FAKE_REQS")" 4 "3: four model calls: parent, child, child, parent"
is "$(jq -c '[.requests[].error]' "$FAKE_REQS")" '[null,null,null,null]' "3: the fake accepted every request"
# The child's first request: its own context.
is "$(fake_req 2 '.body.messages')" \
	"$(jq -cn --arg p "$PROMPT3" '[{role: "user", content: [{type: "text", text: $p, cache_control: {type: "ephemeral"}}]}]')" \
	"3: the child's messages are the prompt only (not the parent's history)"
like "$(fake_req 2 '.body.system[0].text')" '^"You are a sub-agent of Claude in claude-web' "3: the child has the sub-agent system prompt"
is "$(fake_req 2 '.body.system[0].cache_control')" '{"type":"ephemeral"}' "3: ...with cache_control"
is "$(fake_req 2 '[.body.model, .body.max_tokens, .body.stream]')" "$(fake_req 1 '[.body.model, .body.max_tokens, .body.stream]')" \
	"3: same model, max_tokens, stream as the parent"
is "$(fake_req 2 '.body | keys')" '["max_tokens","messages","model","stream","system","tools"]' "3: the child's request fields"
PT=$(fake_req 1 '[.body.tools[].name]')
CT=$(fake_req 2 '[.body.tools[].name]')
diag "3: parent tools $PT; child tools $CT"
is "$(printf '%s' "$PT" | jq -c 'map(select(. == "task" or . == "todo_write"))')" '["todo_write","task"]' "3: the parent declares todo_write and task"
is "$(fake_req 2 '.body.tools')" "$(fake_req 1 "$CHILD_DECL")" \
	"3: the child declares the subset (no task, no todo_write), exactly as the parent does"
is "$(printf '%s' "$CT" | jq -c 'map(select(. == "task" or . == "todo_write" or . == "bash" or . == "str_replace_based_edit_tool"))')" \
	'["str_replace_based_edit_tool","bash"]' "3: ...with the editor and bash"
# The child's second request: the tool round trip inside the child.
is "$(fake_req 3 '[.body.messages[].role]')" '["user","assistant","user"]' "3: the child's 2nd request: prompt, its answer, its results"
is "$(fake_req 3 '[.body.messages[1].content[] | .type]')" '["text","tool_use","tool_use"]' "3: ...its own tool calls"
like "$(fake_req 3 '.body.messages[2].content[0] | select(.tool_use_id == "toolu_child_view") | .content')" 'hello notes' \
	"3: the view (read class) ran inside the child"
is "$(fake_req 3 '.body.messages[2].content[1] | [.tool_use_id, .is_error, .content]')" \
	'["toolu_child_bash",true,"Permission denied: this call needs the user'"'"'s approval, and a sub-agent cannot ask for it. Do not retry it; say in your final report what you need, so the main agent can ask the user from the main conversation."]' \
	"3: bash (would ask in default mode) is denied inside the child, with the reason"
check "3: the denied command did not run" test ! -e "$(session_dir "$S3")/files/created-by-child"
is "$(ev_count "$EV" permission.request "$R3")" 0 "3: nobody was asked"
# The parent's next request: the child's report as the task's tool_result.
is "$(fake_req 4 '[.body.messages[].role]')" '["user","assistant","user"]' "3: the parent's 2nd request has only the parent's messages"
is "$(fake_req 4 '.body.messages[2].content | map(del(.cache_control))')" \
	"$(jq -cn --arg f "$FINAL3" '[{type: "tool_result", tool_use_id: "toolu_task3", content: $f}]')" \
	"3: the child's final text is the task's tool_result"
# Events.
is "$(jq -r --arg r "$R3" 'select(.data.run_id == $r and .data.parent_tool_use_id == "toolu_task3") | .event' "$EV" | grep -v delta | tr '\n' ' ')" \
	"message.start tool.use tool.use message.stop tool.result tool.result message.start message.stop " \
	"3: the child's events, each with parent_tool_use_id"
is "$(jq -r --arg r "$R3" 'select(.data.run_id == $r and .data.parent_tool_use_id == "toolu_task3" and .event == "text.delta") | .data.text' "$EV" | tr -d '\n')" \
	"Reading.$FINAL3" "3: the child's text deltas carry parent_tool_use_id"
is "$(jq -r --arg r "$R3" 'select(.data.run_id == $r and .event == "message.start" and (.data | has("parent_tool_use_id") | not)) | .event' "$EV" | grep -c .)" 2 \
	"3: the parent's own message.start events have no parent_tool_use_id"
TR=$(tr_of toolu_task3)
is "$(trj '[.is_error, .content, .name]' | jq -c .)" "$(jq -cn --arg f "$FINAL3" '[false, $f, "task"]')" "3: the task's tool.result"
is "$(trj '[.subagent.steps[] | .type + ":" + (.name // .text)]' | jq -c .)" \
	"$(jq -cn --arg f "$FINAL3" '["text:Reading.", "tool:str_replace_based_edit_tool", "tool:bash", "text:" + $f]')" \
	"3: the result keeps the child's steps (for the card after a reload)"
is "$(trj '.subagent.steps[2].result | [.is_error, .denied]' | jq -c .)" '[true,true]' "3: ...the denied step marked denied"
is "$(trj '.subagent.usage | [.input_tokens, .output_tokens]' | jq -c .)" '[220,30]' "3: the child's own usage"
is "$(trj '[.subagent.turns, .subagent.description, .subagent.subagent_type]' | jq -c .)" '[2,"Read the notes","general-purpose"]' \
	"3: turns, description, type"
is "$(ev_first "$EV" run.finished "$R3" | jq -c '.usage | [.input_tokens, .output_tokens]')" '[260,43]' \
	"3: the run's usage counts the child's calls"
api_auth "/api/sessions/$S3"
is "$(jq -c '[.usage.input_tokens, .usage.output_tokens]' "$BODY")" '[260,43]' "3: so does the session's"
is "$(($(redis_cli HGET "cw:{c}:usage:user:ann" input_tokens) - ${UIN0:-0}))" 260 "3: and the user's"
get_history "$S3"
is "$(jq -c '[.messages[].role]' "$T/hist.json")" '["user","assistant","user","assistant"]' "3: the history holds only the parent's messages"
is "$(jq -c '.tool_details.toolu_task3.subagent.steps | length' "$T/hist.json")" 4 "3: GET …/messages returns the steps for a reload"

# ---- 4. bad input, explore, no recursion ---------------------------------------------
BAD4=$(task_block '{"description":"no prompt"}' toolu_task4a)
fake_reset
fake_script "$(jq -cn --argjson t1 "$(turn_with "[$BAD4]")" '{turns: [$t1, {text: "ok"}]}')"
run_msg "$S3" "bad task"
TR=$(tr_of toolu_task4a)
is "$(trj '[.is_error, .content]' | jq -c .)" \
	"[true,\"Error: the sub-agent was not started: 'prompt' is required: the complete task for the sub-agent.\"]" \
	"4: a task without prompt is an error result"
is "$(fake_nreq)" 2 "4: ...and no child request was made"
EXP4=$(task_block '{"description":"Look around","prompt":"List what is there.","subagent_type":"explore"}' toolu_task4b)
EDIT4=$(editor_block '{"command":"create","path":"/workspace/x.txt","file_text":"x"}' toolu_child_edit)
REC4=$(task_block '{"description":"again","prompt":"recurse"}' toolu_child_task)
fake_reset
fake_script "$(jq -cn --argjson t1 "$(turn_with "[$EXP4]")" --argjson t2 "$(turn_with "[$EDIT4,$REC4]")" \
	'{turns: [$t1, $t2, {text: "Nothing to see."}, {text: "ok"}]}')"
run_msg "$S3" "explore"
fake_requests
is "$(fake_req 2 '.body.tools')" "$(fake_req 1 "$EXPLORE_DECL")" "4: an explore sub-agent has the read tools, no bash"
is "$(fake_req 2 '[.body.tools[].name] | index("bash")')" null "4: ...no bash"
is "$(fake_req 3 '.body.messages[2].content | map([.tool_use_id, .is_error, .content])')" \
	'[["toolu_child_edit",true,"Permission denied: an explore sub-agent only reads; report what should be changed instead."],["toolu_child_task",true,"Error: the sub-agent has no tool named task."]]' \
	"4: its edit is denied; calling task from the child fails closed"
check "4: the edit did not happen" test ! -e "$(session_dir "$S3")/files/x.txt"
TR=$(tr_of toolu_task4b)
is "$(trj '[.is_error, .content, .subagent.subagent_type]' | jq -c .)" '[false,"Nothing to see.","explore"]' "4: the explore report"

# ---- 5. cancel while the child streams -----------------------------------------------
session_new || cw_bail "cannot create a session"
S5=$SID
TASK5=$(task_block '{"description":"Slow","prompt":"Take your time."}' toolu_task5)
LONG5=$(printf 'Child piece %02d. ' $(seq 1 60))
fake_reset
fake_script "$(jq -cn --argjson t1 "$(turn_with "[$TASK5]")" --arg l "$LONG5" \
	'{turns: [$t1, {text: $l, delay_ms: 100}]}')"
MARK=$(events_mark "$S5")
post_msg "$S5" "start a slow sub-agent"
R5=$RUN_ID
EV=$T/ev5.jsonl
sse_bg "$EV" --session "$S5" --last-event-id "$MARK" --until "$FINAL_EVENTS" --run-id "$R5" --timeout 30
C5=$SSE_BG_PID
check "5: the child streams (text.delta with parent_tool_use_id)" wait_for 15 eval \
	"[ \$(jq -r 'select(.event == \"text.delta\" and .data.parent_tool_use_id == \"toolu_task5\") | .event' '$EV' | grep -c .) -ge 3 ]"
T0=$(now_ms)
api_auth "/api/sessions/$S5/cancel" -X POST
is "$HTTP_STATUS" 202 "5: POST cancel is 202"
wait_for 10 pid_gone "$C5"
MS5=$(($(now_ms) - T0))
is "$(ev_types "$EV" "$R5" | grep -E '^run\.(finished|error|cancelled)$' | tr '\n' ' ')" "run.cancelled " "5: the run ends cancelled"
cmp_ok "$MS5" -le 1500 "5: within ~1 s of the cancel (${MS5} ms)"
TR=$(tr_of toolu_task5)
is "$(trj '[.is_error, .content]' | jq -c .)" '[true,"The sub-agent was stopped: the run was cancelled."]' "5: the task's result says it was stopped"
fake_wait 2 2 10
fake_stats
is "$(jq '.requests' "$FAKE_STATS")" 2 "5: no further model call (neither child nor parent)"
is "$(jq -r '.per_request[1] | "\(.client_disconnected) \(.bytes_sent < .bytes_total)"' "$FAKE_STATS")" "true true" \
	"5: the child's transfer was stopped early"
fake_script '{"turns":[{"text":"Fresh."}]}'
run_msg "$S5" "go on"
is "$SSE_END $(ev_text "$EV" "$RUN_ID")" "until Fresh." "5: a new message afterwards works"
fake_requests
is "$(fake_req 3 '[.body.messages[].role]')" '["user","assistant","user"]' "5: ...its request carries the cancelled task's result and the prompt"
is "$(fake_req 3 .error)" null "5: ...and the fake accepts it"

# ---- 6. a runner killed during the child ---------------------------------------------
session_new || cw_bail "cannot create a session"
S6=$SID
TASK6=$(task_block '{"description":"Held","prompt":"Wait."}' toolu_task6)
fake_reset
fake_script "$(jq -cn --argjson t1 "$(turn_with "[$TASK6]")" \
	'{turns: [$t1, {text: "Held child answer.", hold: {gate: "child6", after_events: 4, timeout: 60}}, {text: "Recovered."}]}')"
MARK=$(events_mark "$S6")
post_msg "$S6" "hold the child"
R6=$RUN_ID
EV=$T/ev6.jsonl
sse_bg "$EV" --session "$S6" --last-event-id "$MARK" --until "$FINAL_EVENTS" --run-id "$R6" --timeout 60
C6=$SSE_BG_PID
check "6: the child's stream waits at the gate" wait_for 15 fake_held 1
RP=$(runner_pid_for "$R6")
isnt "$RP" "" "6: the runner of the run is known"
kill -9 "$RP" 2>/dev/null
wait_for 30 pid_gone "$C6"
is "$(ev_types "$EV" "$R6" | grep -E '^run\.(finished|error|cancelled)$' | tr '\n' ' ')" "run.finished " "6: the run finishes once"
is "$(ev_first "$EV" run.resumed "$R6" | jq -r .redo)" tools "6: run.resumed redoes the tools step"
TR=$(tr_of toolu_task6)
like "$(trj .content)" '^Error: this tool call was interrupted' "6: the task call is reported interrupted"
is "$(ev_text "$EV" "$R6" | sed 's/^.*Recovered/Recovered/')" Recovered. "6: the parent goes on"
fake_release child6

tap_done
