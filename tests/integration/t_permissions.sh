#!/usr/bin/env bash
# t_permissions.sh: approving tool calls, as the person sees it. Real runs
# with the fake model calling tools; the test plays the person through the
# API: permission.request events, status "waiting", the SSE snapshot's
# pending_permissions, GET /permissions, allow / deny (+ message) /
# remember (bash prefixes, only for commands made of literal words: never a
# compound command, an expansion, quoting or a glob), expiry after
# PERMISSION_TIMEOUT, 409 / 404 / 400 answers, cancel while waiting, and
# the four modes: default, acceptEdits, plan, bypassPermissions.
#
# Independent of machine speed: requests are read while pending with a
# PERMISSION_TIMEOUT no loaded machine reaches (600 s); only the expiry
# section restarts claude-web with a short one and judges it by the server's
# own timestamps (event ids, expires_at). Waits are deadlines, not sleeps.
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source=tests/integration/lib_auth.sh
. "$(dirname "$0")/lib_auth.sh"
# shellcheck source=tests/integration/lib_agent.sh
. "$(dirname "$0")/lib_agent.sh"
# shellcheck source=tests/integration/lib_tools.sh
. "$(dirname "$0")/lib_tools.sh"
cw_require_tools_stack

# Pending requests must not expire while the test reads them, however slow
# the machine: 600 s. The expiry section (8) restarts with PT_SHORT.
CW_CONF[PERMISSION_TIMEOUT]=600
PT=${CW_CONF[PERMISSION_TIMEOUT]}
PT_SHORT=3
# Deadlines for things that happen promptly on an idle machine.
W=60
# The SSE reader of a background run lives as long as its run may wait for
# the test's answers.
RUNTO=300
tools_stack_up
ANN=$TOKEN
user_add bob bob-password-1 || cw_bail "user add bob: $(cat "$ADMIN_OUT")"
login bob bob-password-1 || cw_bail "bob cannot log in"
BOB=$TOKEN
TOKEN=$ANN
M=$$

# req N FILTER: jq -r FILTER over the N-th permission.request of EV.
req() {
	ev_nth permission.request "$1" | jq -r "$2"
}
# answer N JSON: answers the N-th permission.request of EV (after waiting for it).
answer() {
	ev_wait permission.request "$1" "$W" || return 1
	perm_post "$SID" "$(req "$1" .request_id)" "$2"
}
# req_ids: the tool_use_ids that asked, in order, one line each.
req_ids() {
	jq -r 'select(.event == "permission.request") | .data.tool_use_id' "$EV" 2>/dev/null
}

# ---- 1. default: view is allowed, bash asks; waiting, snapshot, allow ------------------------
session_new default || cw_bail "cannot create a session: $HTTP_STATUS $(cat "$BODY")"
S1=$SID
FILES=$(session_dir "$S1")/files
is "$(json .permission_mode)" default "1: a new session with permission_mode default"
api_auth "/api/sessions/$S1/files/content?path=hello.txt" -X PUT --data-binary "hello-content-$M"
BID=toolu_bash_$M
run_bg "$S1" "$(blocks "$(editor_block '{"command":"view","path":"/workspace/hello.txt"}')" \
	"$(bash_block "echo allowed-$M > ran.txt; cat ran.txt" "$BID")")" "$RUNTO" ||
	cw_bail "cannot start a run: $HTTP_STATUS $(cat "$BODY")"
ev_wait permission.request 1 "$W"
REQ=$(ev_nth permission.request 1)
RID=$(req 1 .request_id)
isnt "$RID" "" "1: bash asked: permission.request with a request_id"
is "$(req 1 .tool_use_id)" "$BID" "1: the request is for the bash call (the view did not ask)"
is "$(req 1 .tool)" bash "1: tool bash"
is "$(req 1 .input.command)" "echo allowed-$M > ran.txt; cat ran.txt" "1: input is the call's input"
like "$(req 1 .summary)" "allowed-$M" "1: the summary shows the command"
NOW=$(date +%s)
EXP=$(req 1 .expires_at)
cmp_ok "$EXP" -ge $((NOW + 1)) "1: expires_at is in the future ($EXP, now $NOW)"
cmp_ok "$EXP" -le $((NOW + PT + 1)) "1: expires_at is about PERMISSION_TIMEOUT ($PT s) away"
like "$(jq -r 'select(.event == "tool.result") | .data.content' "$EV" | head -n 3)" "hello-content-$M" \
	"1: the view ran at once and showed the file"
is "$(session_status "$S1")" waiting "1: the session's status is waiting"
sse_read "$T/snap1.jsonl" --session "$S1" --until snapshot --timeout "$W"
SNAP=$(head -n 1 "$T/snap1.jsonl")
is "$(printf '%s' "$SNAP" | jq -r .event)" snapshot "1: a new SSE connection starts with a snapshot"
is "$(printf '%s' "$SNAP" | jq -r '[.data.pending_permissions[].request_id] | join(",")')" "$RID" \
	"1: the snapshot lists the pending request (a reloaded page can answer it)"
is "$(printf '%s' "$SNAP" | jq -r '.data.pending_permissions[0].input.command')" "echo allowed-$M > ran.txt; cat ran.txt" \
	"1: ... with its input"
is "$(printf '%s' "$SNAP" | jq -r '.data.status')" waiting "1: the snapshot's status is waiting"
api_auth "/api/sessions/$S1/permissions"
is "$HTTP_STATUS" 200 "1: GET /permissions is 200"
is "$(json '[.pending[].request_id] | join(",")')" "$RID" "1: GET /permissions lists the request"
is "$(json '.pending[0] | [.tool, .tool_use_id, (.expires_at | type)] | join(" ")')" "bash $BID number" \
	"1: ... with tool, tool_use_id and expires_at"
check "1: the command has not run yet" test ! -e "$FILES/ran.txt"
# Another user can neither see nor answer it.
TOKEN=$BOB
api_auth "/api/sessions/$S1/permissions"
is "$HTTP_STATUS" 404 "1: another user cannot list the session's requests (404)"
perm_post "$S1" "$RID" '{"decision":"allow"}'
is "$HTTP_STATUS" 404 "1: another user cannot answer (404)"
TOKEN=$ANN
perm_post "$S1" "$RID" '{"decision":"maybe"}'
is "$HTTP_STATUS" 400 "1: decision 'maybe' is 400"
perm_post "$S1" "$RID" '{"decision":"allow"}'
is "$HTTP_STATUS" 200 "1: allow is 200"
is "$(json .decision)" allow "1: the answer echoes the decision"
run_bg_wait "$W"
is "$SSE_END" until "1: the run finished after the answer"
is "$(ev_nth permission.resolved 1 | jq -r '[.request_id, .decision] | join(" ")')" "$RID allow" \
	"1: permission.resolved {request_id, decision allow}"
is "$(trn 2 .stdout)" "allowed-$M" "1: the allowed command ran"
check "1: its file exists" test -f "$FILES/ran.txt"
is "$(session_status "$S1")" idle "1: the session is idle again"
api_auth "/api/sessions/$S1/permissions"
is "$(json '.pending | length')" 0 "1: nothing pending any more"
perm_post "$S1" "$RID" '{"decision":"deny"}'
is "$HTTP_STATUS" 409 "1: answering it again is 409"
perm_post "$S1" "0123456789abcdef01234567" '{"decision":"allow"}'
is "$HTTP_STATUS" 404 "1: an unknown request id is 404"

# ---- 2. deny with a message ------------------------------------------------------------------
EID=toolu_create_$M
run_bg "$S1" "$(blocks "$(editor_block '{"command":"create","path":"/workspace/new.txt","file_text":"x\n"}' "$EID")")" "$RUNTO"
ev_wait permission.request 1 "$W"
is "$(req 1 '[.tool, .tool_use_id] | join(" ")')" "str_replace_based_edit_tool $EID" "2: an edit asks in default mode"
like "$(req 1 .summary)" 'new\.txt' "2: the summary names the file"
answer 1 '{"decision":"deny","message":"use another name, '"$M"'"}'
is "$HTTP_STATUS" 200 "2: deny is 200"
run_bg_wait "$W"
is "$(ev_nth permission.resolved 1 | jq -r .decision)" deny "2: permission.resolved decision deny"
is "$(trj .is_error)" true "2: the tool_result is an error"
like "$(trj .content)" "use another name, $M" "2: ... carrying the person's message"
is "$(trj .denied)" true "2: tool.result marks it denied"
check "2: the file was not created" test ! -e "$FILES/new.txt"
fake_requests
like "$(fake_req 2 '.body.messages[-1].content[0] | select(.is_error == true) | .content')" "use another name, $M" \
	"2: Claude receives the denial and the message as an is_error tool_result"

# ---- 3. remember: the tool (editor) or the bash prefix, never compound commands ---------------
G1=toolu_g1_$M
G2=toolu_g2_$M
run_bg "$S1" "$(blocks "$(bash_block 'git status' "$G1")" "$(bash_block 'ls -la' "$G2")" \
	"$(editor_block '{"command":"create","path":"/workspace/r.txt","file_text":"one\n"}')")" "$RUNTO"
answer 1 '{"decision":"allow","remember":true}'
is "$HTTP_STATUS" 200 "3: allow + remember for 'git status'"
is "$(json .remember)" true "3: the answer echoes remember"
answer 2 '{"decision":"allow","remember":true}'
answer 3 '{"decision":"allow","remember":true}'
run_bg_wait "$W"
is "$(ev_nth permission.resolved 1 | jq -r .remember)" true "3: permission.resolved says remember"
is "$(req_ids | wc -l)" 3 "3: three calls, three questions the first time"

declare -A CALL=(
	[rides1]='git status --short'
	[rides2]='ls /workspace'
	[rides3]='ls -1 --color=never /workspace/hello.txt'
	[sub]='git log -1'
	[semi]='git status; echo chained'
	[and]='git status && echo and'
	[pipe]='git status | cat'
	[subst]='git status $(echo x)'
	[tick]='ls `id -u`'
	[redir]='git status > out.txt'
	[newline]='git status
echo second'
	[procsub]='ls <(touch procsub.txt)'
	[prefix]='lsblk'
	[promptexp]='ls ${x:=$'"'"'\x24(touch /workspace/PWNED)'"'"'}${x@P}'
	[var]='ls $HOME'
	[ansic]='ls $'"'"'\x2e'"'"
	[glob]='ls *'
	[qmark]='ls hello.tx?'
	[bracket]='ls [h]ello.txt'
	[brace]='ls {hello,x}.txt'
	[tilde]='ls ~'
	[squote]="ls 'hello.txt'"
	[dquote]='ls "hello.txt"'
	[bslash]='ls \hello.txt'
	[hash]='ls #x'
	[paren]='ls (x)'
	[cr]=$'ls x\r'
)
ORDER="rides1 rides2 rides3 sub semi and pipe subst tick redir newline procsub prefix"
ORDER="$ORDER promptexp var ansic glob qmark bracket brace tilde squote dquote bslash hash paren cr"
ASK_EXPECTED="sub semi and pipe subst tick redir newline procsub prefix promptexp var ansic glob qmark bracket brace tilde squote dquote bslash hash paren cr "
B=()
for k in $ORDER; do
	B+=("$(bash_block "${CALL[$k]}" "toolu_${k}_$M")")
done
B+=("$(editor_block '{"command":"str_replace","path":"/workspace/r.txt","old_str":"one","new_str":"two"}' "toolu_ed_$M")")
run_bg "$S1" "$(blocks "${B[@]}")" "$RUNTO"
# Deny every question as it comes, so the run moves on.
n_ask=$(printf '%s' "$ASK_EXPECTED" | wc -w)
for ((i = 1; i <= n_ask; i++)); do
	answer "$i" '{"decision":"deny"}' || break
done
run_bg_wait "$W"
ASKED=$(req_ids | sed "s/^toolu_//; s/_$M\$//" | tr '\n' ' ')
is "$ASKED" "$ASK_EXPECTED" \
	"3: after the grants only literal commands of the granted program ran; the other subcommand, compound commands, expansions, quoting, globs and another program asked"
check "3: 'ls <(touch ...)' did not run a second command on the 'ls' grant" test ! -e "$FILES/procsub.txt"
check "3: 'ls \${x:=\$'\\x24(touch ...)'}\${x@P}' (prompt expansion) did not run on the 'ls' grant" test ! -e "$FILES/PWNED"
is "$(jq -r 'select(.event == "tool.result" and .data.tool_use_id == "toolu_rides1_'"$M"'") | .data.is_error' "$EV")" false \
	"3: 'git status --short' ran on the 'git status' grant"
like "$(jq -r 'select(.event == "tool.result" and .data.tool_use_id == "toolu_rides2_'"$M"'") | .data.stdout' "$EV")" '^hello\.txt$' \
	"3: 'ls /workspace' ran on the 'ls' grant"
like "$(jq -r 'select(.event == "tool.result" and .data.tool_use_id == "toolu_rides3_'"$M"'") | .data.stdout' "$EV")" 'hello\.txt' \
	"3: 'ls -1 --color=never /workspace/hello.txt' (literal words with - = /) ran on the 'ls' grant"
is "$(jq -r 'select(.event == "tool.result" and .data.tool_use_id == "toolu_ed_'"$M"'") | .data.is_error' "$EV")" false \
	"3: an edit ran on the remembered editor grant"
is "$(cat "$FILES/r.txt")" two "3: ... and changed the file"
check "3: the denied redirect did not write out.txt" test ! -e "$FILES/out.txt"

session_new default || cw_bail "cannot create a session"
S3=$SID
run_bg "$S3" "$(blocks "$(bash_block 'git status')")" "$RUNTO"
ev_wait permission.request 1 "$W"
is "$(req 1 .input.command)" "git status" "3: grants are per session: a new session asks again"
answer 1 '{"decision":"deny"}'
run_bg_wait "$W"

# ---- 4. acceptEdits: edits run, bash asks ------------------------------------------------------
session_new acceptEdits || cw_bail "cannot create an acceptEdits session"
S4=$SID
run_bg "$S4" "$(blocks "$(editor_block '{"command":"create","path":"/workspace/ae.txt","file_text":"accepted\n"}')" \
	"$(bash_block 'echo ae-ran' "toolu_ae_$M")")" "$RUNTO"
ev_wait permission.request 1 "$W"
is "$(req_ids | tr '\n' ' ')" "toolu_ae_$M " "4: acceptEdits: only bash asked"
is "$(cat "$(session_dir "$S4")/files/ae.txt" 2>/dev/null)" accepted "4: the edit was made without asking"
answer 1 '{"decision":"deny","message":"no commands"}'
run_bg_wait "$W"
is "$(trn 2 .is_error)" true "4: the denied bash call is an error"

# ---- 5. plan: view without asking, edits denied, commands ask (looking is not changing) ----------
session_new plan || cw_bail "cannot create a plan session"
S5=$SID
api_auth "/api/sessions/$S5/files/content?path=plan.txt" -X PUT --data-binary "plan-content-$M"
run_bg "$S5" "$(blocks "$(editor_block '{"command":"view","path":"/workspace/plan.txt"}')" \
	"$(editor_block '{"command":"create","path":"/workspace/p2.txt","file_text":"x"}')" \
	"$(bash_block "ls /workspace" "toolu_planls_$M")")" "$RUNTO"
ev_wait permission.request 1 "$W"
is "$(req_ids | tr '\n' ' ')" "toolu_planls_$M " "5: only the command asked (view and the denied create did not)"
answer 1 '{"decision":"allow"}'
run_bg_wait "$W"
is "$(ev_count "$EV" permission.request)" 1 "5: one question in all"
like "$(trn 1 .content)" "plan-content-$M" "5: view works in plan mode"
is "$(trn 2 .is_error)" true "5: create is an error in plan mode"
like "$(trn 2 .content)" 'plan mode' "5: ... mentioning plan mode"
unlike "$(trn 2 .content)" 'switch modes' "5: ... and promising no mode switch the user cannot make"
is "$(trn 3 .is_error)" false "5: the approved ls ran in plan mode"
like "$(trn 3 .stdout)" 'plan\.txt' "5: ... and listed the workspace"
check "5: the edit did not happen" test ! -e "$(session_dir "$S5")/files/p2.txt"

# ---- 6. PATCH the mode; bypassPermissions: nothing asks, still sandboxed ----------------------------
api_auth "/api/sessions/$S5" -X PATCH -H 'Content-Type: application/json' --data-binary '{"permission_mode":"yolo"}'
is "$HTTP_STATUS" 400 "6: an unknown permission_mode is 400"
check "6: PATCH permission_mode bypassPermissions" session_mode "$S5" bypassPermissions
tools_run "$S5" "$(blocks "$(editor_block '{"command":"create","path":"/workspace/p2.txt","file_text":"made\n"}')" \
	"$(bash_block "id -u; touch /usr/cw_bypass_$M 2>&1 || echo usr-refused")")"
is "$(ev_count "$EV" permission.request)" 0 "6: bypassPermissions: nothing asked"
is "$(cat "$(session_dir "$S5")/files/p2.txt" 2>/dev/null)" made "6: the edit was made"
like "$(trn 2 .stdout)" '^1000' "6: bash ran, as uid 1000 in the sandbox"
like "$(trn 2 .stdout)" 'usr-refused' "6: ... still unable to write /usr"
check "6: PATCH back to plan" session_mode "$S5" plan
editor1 "$S5" '{"command":"create","path":"/workspace/p6.txt","file_text":"no"}'
like "$(trj .content)" 'plan mode' "6: the mode change applies to the next call"

# ---- 7. cancel while waiting ------------------------------------------------------------------------
SID=$S1
run_bg "$S1" "$(blocks "$(bash_block "echo c > cancelled.txt")")" "$RUNTO"
ev_wait permission.request 1 "$W"
RID=$(req 1 .request_id)
T0=$(now_ms)
api_auth "/api/sessions/$S1/cancel" -X POST
is "$HTTP_STATUS" 202 "7: cancel while waiting is accepted"
run_bg_wait "$W"
T1=$(now_ms)
is "$(ev_types "$EV" "$RUN_ID" | tail -n 1)" run.cancelled "7: the run ends with run.cancelled"
# The request had 600 s to go: ending within the deadline W is the cancel.
cmp_ok $((T1 - T0)) -lt $((W * 1000)) "7: promptly ($((T1 - T0)) ms), not at the permission timeout (${PT} s)"
is "$(ev_nth permission.resolved 1 | jq -r .decision)" cancelled "7: permission.resolved decision cancelled"
check "7: the command did not run" test ! -e "$FILES/cancelled.txt"
api_auth "/api/sessions/$S1/permissions"
is "$(json '.pending | length')" 0 "7: nothing pending after the cancel"
perm_post "$S1" "$RID" '{"decision":"allow"}'
is "$HTTP_STATUS" 409 "7: answering a cancelled request is 409"
wait_for "$W" eval '[ "$(session_status "$S1")" = idle ]'
is "$(session_status "$S1")" idle "7: the session is idle"

# ---- 8. nobody answers: expiry -------------------------------------------------------------------
# claude-web again with a short PERMISSION_TIMEOUT (Redis, nginx and the
# token stay). Judged by the server's clock: the event ids are Redis stream
# ids (milliseconds), expires_at is the server's deadline.
cw_stop_app INT
CW_CONF[PERMISSION_TIMEOUT]=$PT_SHORT
cw_start_app || cw_bail "could not restart claude-web with PERMISSION_TIMEOUT=$PT_SHORT"
run_bg "$S1" "$(blocks "$(bash_block "echo late > late.txt")")" "$RUNTO"
ev_wait permission.request 1 "$W"
RID=$(req 1 .request_id)
ev_wait permission.resolved 1 "$W"
is "$(ev_nth permission.resolved 1 | jq -r .decision)" expired "8: unanswered, the request expires"
ev_ms() {
	jq -r --arg t "$1" 'select(.event == $t) | .id' "$EV" | head -n 1 | cut -d- -f1
}
REQ_MS=$(ev_ms permission.request)
RES_MS=$(ev_ms permission.resolved)
EXP=$(req 1 .expires_at)
CREATED=$(redis_cli HGET "cw:{c}:perm:$S1:$RID" created_at)
is "$EXP" "$((CREATED + PT_SHORT))" "8: expires_at is the request's created_at + PERMISSION_TIMEOUT ($PT_SHORT s)"
cmp_ok "$RES_MS" -ge "$((EXP * 1000))" "8: ... and it expired not before expires_at (resolved $((RES_MS - EXP * 1000)) ms after it)"
cmp_ok "$((RES_MS - REQ_MS))" -ge "$((PT_SHORT * 1000 - 1000))" "8: ... about PERMISSION_TIMEOUT after the request ($((RES_MS - REQ_MS)) ms)"
cmp_ok "$((RES_MS - EXP * 1000))" -le "$((W * 1000))" "8: ... and not long after it"
run_bg_wait "$W"
is "$(trj .is_error)" true "8: an expired request is a denial (is_error)"
like "$(trj .content)" 'nobody approved' "8: ... saying nobody approved it in time"
check "8: the command did not run" test ! -e "$FILES/late.txt"
perm_post "$S1" "$RID" '{"decision":"allow"}'
is "$HTTP_STATUS" 409 "8: answering after the expiry is 409"
api_auth "/api/sessions/$S1/permissions"
is "$(json '.pending | length')" 0 "8: nothing pending after the expiry"

tap_done
