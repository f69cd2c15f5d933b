#!/usr/bin/env bash
# t_sched_park.sh: issue 11, parked runs (docs/scheduler.md). A run whose tool
# call waits for a person lets its runner go (run.parked, status "waiting"),
# so with a fixed pool of two runners and four parked runs a third user's run
# starts at once; answering continues each parked run exactly once. A parked
# run survives a restart of the whole stack (Redis, claude-web, nginx) and
# continues when answered; cancelling it closes the request and ends it with
# one run.cancelled; nobody answering denies the call after
# PERMISSION_TIMEOUT and the run finishes once.
#
# Events are read from the sessions' event logs in Redis (many sessions at
# once); times are the events' ids (Redis server milliseconds). The
# PERMISSION_TIMEOUT of the first sections is an hour: a runner held by a
# waiting run would block the third user for that long, far beyond any wait
# of this test. Waits are deadlines (wait_for), never sleeps.
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source=tests/integration/lib_auth.sh
. "$(dirname "$0")/lib_auth.sh"
# shellcheck source=tests/integration/lib_agent.sh
. "$(dirname "$0")/lib_agent.sh"
# shellcheck source=tests/integration/lib_tools.sh
. "$(dirname "$0")/lib_tools.sh"
cw_require_tools_stack

PT=3600
PT_SHORT=3
CW_CONF[PERMISSION_TIMEOUT]=$PT
CW_CONF[RUNNER_WORKERS]=2
CW_CONF[RUNNER_MAX]=2
# A fixed pool: it neither grows nor shrinks.
CW_CONF[RUNNER_MIN_SPARE]=0
CW_CONF[RUNNER_MAX_SPARE]=2
CW_CONF[MAX_RUNS_PER_USER]=2
# Deadline for things that happen promptly on an idle machine.
W=30
# How long the third user's run may wait for a runner (it should be ~0).
START_MS=3000
M=$$
tools_stack_up
declare -A TOK=()
TOK[ann]=$TOKEN
for u in bob cat; do
	user_add "$u" "$u-password-1" || cw_bail "user add $u: $(cat "$ADMIN_OUT")"
	login "$u" "$u-password-1" || cw_bail "$u cannot log in"
	TOK[$u]=$TOKEN
done
# as USER: the following requests are USER's.
as() {
	TOKEN=${TOK[$1]}
}

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
# evd SID TYPE RUN FILTER: jq -r FILTER over the data of the first TYPE event of RUN.
evd() {
	ev_first "$(evs "$1")" "$2" "$3" | jq -r "$4" 2>/dev/null
}
# pending_rid SID: request_id of the session's first pending permission request.
pending_rid() {
	api_auth "/api/sessions/$1/permissions"
	json '.pending[0].request_id // empty'
}
status_is() {
	[ "$(session_status "$1")" = "$2" ]
}
# tool_result_text SID TOOL_USE_ID: the history's tool_result content for that call.
tool_result_text() {
	api_auth "/api/sessions/$1/messages"
	jq -r --arg id "$2" '[.messages[] | select(.role == "user") | .content |
		if type == "array" then .[] else empty end |
		select(.type == "tool_result" and .tool_use_id == $id) | .content |
		if type == "string" then . else map(.text // "") | join("") end] | join("|")' "$BODY" 2>/dev/null
}
# park_turns N: the next N model turns each call bash (echo parked-<i>), later
# turns answer "done".
park_turns() {
	local i t=''
	fake_reset
	for ((i = 1; i <= $1; i++)); do
		t="$t${t:+,}$(jq -cn --arg c "echo parked-$i-$M" --arg id "toolu_park_${i}_$M$RANDOM" \
			'{content: [{type: "text", text: "Let me run it."},
				{type: "tool_use", id: $id, name: "bash", input: {command: $c}}]}')"
	done
	fake_script "{\"turns\":[$t],\"default\":{\"text\":\"done\"}}"
}
# busy_runners N: /api/metrics shows N busy runners.
busy_runners() {
	metrics_fetch && printf '%s\n' "$METRICS" | grep -q '^claude_web_runners{state="busy"} ' &&
		[ "$(metric 'claude_web_runners{state="busy"}')" = "$1" ]
}

# ---- 1. parked runs free their runners ----------------------------------------------------
# ann and bob each start two runs that ask before running bash: all four park.
park_turns 4
declare -a PS=() PR=() PU=()
for u in ann bob; do
	as "$u"
	for i in 1 2; do
		session_new default || cw_bail "cannot create a session: $HTTP_STATUS $(cat "$BODY")"
		post_msg "$SID" "please run a command ($u $i)"
		[ "$HTTP_STATUS" = 202 ] || cw_bail "POST message: $HTTP_STATUS $(cat "$BODY")"
		PS+=("$SID")
		PR+=("$RUN_ID")
		PU+=("$u")
	done
done
n_parked=0
for k in 0 1 2 3; do
	wait_for "$W" has_ev "${PS[$k]}" run.parked "${PR[$k]}" && n_parked=$((n_parked + 1))
done
is "$n_parked" 4 "1: all four runs (two users, two runs each, two runners) parked: run.parked in each event log"
ok=0
for k in 0 1 2 3; do
	as "${PU[$k]}"
	f=$(evs "${PS[$k]}")
	pr=$(ev_first "$f" permission.request "${PR[$k]}" | jq -r .request_id)
	pk=$(ev_first "$f" run.parked "${PR[$k]}" | jq -r '[.request_id, .reason] | join(" ")')
	[ "$pk" = "$pr permission" ] && [ "$(ev_pos "$f" permission.request "${PR[$k]}")" -lt "$(ev_pos "$f" run.parked "${PR[$k]}")" ] &&
		ok=$((ok + 1))
	[ "$ok" = $((k + 1)) ] || diag "1: ${PS[$k]}: permission.request $pr, run.parked '$pk'"
done
is "$ok" 4 "1: each run.parked {request_id of its permission.request, reason permission} follows the request"
ok=0
for k in 0 1 2 3; do
	as "${PU[$k]}"
	wait_for 5 status_is "${PS[$k]}" waiting && ok=$((ok + 1))
done
is "$ok" 4 "1: GET /api/sessions/{id} says status waiting for the four parked sessions"
check "1: no runner is busy while the four runs are parked" wait_for 10 busy_runners 0
# The parked run is visible over SSE too (not only in Redis).
as "${PU[0]}"
sse_read "$T/sse_park.jsonl" --session "${PS[0]}" --last-event-id 0-0 --until run.parked \
	--run-id "${PR[0]}" --timeout "$W"
is "$SSE_END" until "1: an SSE client of the session receives run.parked"

# cat's run starts although four runs wait for a person and the pool has two runners.
as cat
session_new default || cw_bail "cannot create cat's session"
SC=$SID
T0=$(now_ms)
post_msg "$SC" "hello from cat"
RC=$RUN_ID
is "$HTTP_STATUS" 202 "1: cat's message is accepted"
if wait_for "$W" has_ev "$SC" run.started "$RC"; then
	WALL=$(($(now_ms) - T0))
	F=$(evs "$SC")
	Q=$(ev_ms "$F" run.queued "$RC")
	S=$(ev_ms "$F" run.started "$RC")
	cmp_ok "$((S - Q))" -le "$START_MS" \
		"1: cat's run started $((S - Q)) ms after run.queued (server time; limit ${START_MS} ms, PERMISSION_TIMEOUT is ${PT} s)"
	diag "1: POST to run.started seen by polling: $WALL ms"
	is "$(ev_first "$F" run.queued "$RC" | jq -r .state)" ready "1: cat's run.queued state is ready (no slot to wait for)"
else
	tap_fail "1: cat's run started while four runs were parked (no run.started within ${W} s)" \
		"events: $(ev_types "$(evs "$SC")" | tr '\n' ' ')"
	tap_skip 1 "cat's run did not start"
fi
wait_for "$W" has_final "$SC" "$RC"
is "$(finals "$SC" "$RC")" "run.finished " "1: cat's run finishes (one run.finished)"

# Answer the four requests: each run continues, runs its command and finishes once.
ok_cont=0 ok_res=0 ok_fin=0 ok_hist=0 ok_tool=0
for k in 0 1 2 3; do
	as "${PU[$k]}"
	rid=$(pending_rid "${PS[$k]}")
	perm_post "${PS[$k]}" "$rid" '{"decision":"allow"}'
	[ "$HTTP_STATUS" = 200 ] || diag "1: answer ${PS[$k]}/$rid: $HTTP_STATUS $(cat "$BODY")"
done
for k in 0 1 2 3; do
	as "${PU[$k]}"
	s=${PS[$k]} r=${PR[$k]}
	wait_for "$W" has_final "$s" "$r"
	f=$(evs "$s")
	[ "$(finals "$s" "$r")" = "run.finished " ] && ok_fin=$((ok_fin + 1))
	[ "$(ev_count "$f" run.continued "$r") $(ev_first "$f" run.continued "$r" | jq -r .reason)" = "1 answered" ] &&
		ok_cont=$((ok_cont + 1))
	[ "$(ev_first "$f" permission.resolved "$r" | jq -r .decision)" = allow ] &&
		[ "$(ev_pos "$f" run.continued "$r")" -lt "$(ev_pos "$f" permission.resolved "$r")" ] && ok_res=$((ok_res + 1))
	tu=$(ev_first "$f" permission.request "$r" | jq -r .tool_use_id)
	word=$(ev_first "$f" permission.request "$r" | jq -r '.input.command | sub("^echo "; "")')
	[ "$(jq -r --arg id "$tu" 'select(.event == "tool.result" and .data.tool_use_id == $id) | .data.stdout' "$f")" = "$word" ] &&
		ok_tool=$((ok_tool + 1))
	hist_txt=$(tool_result_text "$s" "$tu")
	case $hist_txt in *"$word"*) ok_hist=$((ok_hist + 1)) ;; *) diag "1: $s history tool_result for $tu: '$hist_txt'" ;; esac
	[ "$ok_fin" = $((k + 1)) ] || diag "1: $s finals: '$(finals "$s" "$r")'; events: $(ev_types "$f" "$r" | tr '\n' ' ')"
done
is "$ok_fin" 4 "1: each answered run ends with exactly one final event, run.finished"
is "$ok_cont" 4 "1: each has one run.continued {reason answered}"
is "$ok_res" 4 "1: ... followed by permission.resolved {decision allow}"
is "$ok_tool" 4 "1: each approved command ran after the answer (tool.result stdout)"
is "$ok_hist" 4 "1: each run's tool result is in the session's history"

# ---- 3a. cancel while parked ------------------------------------------------------------------
as ann
session_new default || cw_bail "cannot create a session"
S3=$SID
park_turns 1
post_msg "$S3" "a command to cancel"
R3=$RUN_ID
check "3: the run parks" wait_for "$W" has_ev "$S3" run.parked "$R3"
RID3=$(pending_rid "$S3")
api_auth "/api/sessions/$S3/cancel" -X POST
like "$HTTP_STATUS" '^20[02]$' "3: POST cancel of a parked run is accepted ($HTTP_STATUS)"
is "$(json .run_id)" "$R3" "3: ... naming the parked run"
wait_for "$W" has_final "$S3" "$R3"
is "$(finals "$S3" "$R3")" "run.cancelled " "3: the parked run ends with one run.cancelled"
F=$(evs "$S3")
is "$(ev_first "$F" run.continued "$R3" | jq -r .reason)" cancelled "3: run.continued {reason cancelled}"
is "$(ev_first "$F" permission.resolved "$R3" | jq -r '[.request_id, .decision] | join(" ")')" "$RID3 cancelled" \
	"3: permission.resolved {decision cancelled} closes the request"
api_auth "/api/sessions/$S3/permissions"
is "$(json '.pending | length')" 0 "3: nothing pending after the cancel"
perm_post "$S3" "$RID3" '{"decision":"allow"}'
is "$HTTP_STATUS" 409 "3: answering the closed request is 409"
check "3: the session is idle" wait_for "$W" status_is "$S3" idle
is "$(jq -r 'select(.event == "tool.result") | .data.stdout // empty' "$F")" "" "3: the command did not run"
fake_reset
fake_script '{"turns":[{"text":"after the cancel"}]}'
post_msg "$S3" "the next message"
R3B=$RUN_ID
is "$HTTP_STATUS" 202 "3: the next message is accepted"
wait_for "$W" has_final "$S3" "$R3B"
is "$(finals "$S3" "$R3B")" "run.finished " "3: ... and finishes"
is "$(ev_text "$(evs "$S3")" "$R3B")" "after the cancel" "3: ... with the model's answer"

# ---- 2. restart while parked ------------------------------------------------------------------
as bob
session_new default || cw_bail "cannot create a session"
S2=$SID
park_turns 1
post_msg "$S2" "a command across a restart"
R2=$RUN_ID
check "2: the run parks" wait_for "$W" has_ev "$S2" run.parked "$R2"
RID2=$(pending_rid "$S2")
isnt "$RID2" "" "2: its request is pending ($RID2)"
cw_stop_all
check "2: redis, claude-web and nginx stopped" eval '[ -z "$MASTER_PID$REDIS_PID$NGINX_PID" ]'
cw_start_all || cw_bail "could not restart the stack"
wait_for 10 pool_full runner 2 || diag "2: the runner pool did not fill up after the restart"
for u in ann bob cat; do
	login "$u" "$u-password-1" || diag "2: $u cannot log in after the restart"
	TOK[$u]=$TOKEN
done
as bob
is "$(session_status "$S2")" waiting "2: after the restart the session still says waiting"
is "$(pending_rid "$S2")" "$RID2" "2: ... with the same pending request"
is "$(finals "$S2" "$R2")" "" "2: the run has no final event yet"
perm_post "$S2" "$RID2" '{"decision":"allow"}'
is "$HTTP_STATUS" 200 "2: the request is answered after the restart"
wait_for "$W" has_final "$S2" "$R2"
F=$(evs "$S2")
is "$(finals "$S2" "$R2")" "run.finished " "2: the run continues and finishes: exactly one final event"
is "$(ev_count "$F" run.continued "$R2") $(ev_first "$F" run.continued "$R2" | jq -r .reason)" "1 answered" \
	"2: one run.continued {reason answered}"
is "$(ev_count "$F" permission.resolved "$R2") $(ev_first "$F" permission.resolved "$R2" | jq -r .decision)" "1 allow" \
	"2: one permission.resolved {decision allow}"
is "$(jq -r 'select(.event == "tool.result") | .data.stdout' "$F")" "parked-1-$M" "2: the command ran once"
check "2: the session is idle again" wait_for "$W" status_is "$S2" idle
is "$(redis_final_count "$S2" "$R2")" 1 "2: the event log holds one final event for the run"

# ---- 3b. nobody answers: the parked run continues as denied ----------------------------------
cw_stop_app INT
CW_CONF[PERMISSION_TIMEOUT]=$PT_SHORT
cw_start_app || cw_bail "could not restart claude-web with PERMISSION_TIMEOUT=$PT_SHORT"
wait_for 10 pool_full runner 2 || diag "3: the runner pool did not fill up"
as cat
session_new default || cw_bail "cannot create a session"
S4=$SID
park_turns 1
post_msg "$S4" "a command nobody approves"
R4=$RUN_ID
check "3: the run parks" wait_for "$W" has_ev "$S4" run.parked "$R4"
wait_for "$((W + PT_SHORT))" has_final "$S4" "$R4"
F=$(evs "$S4")
is "$(finals "$S4" "$R4")" "run.finished " "3: unanswered, the parked run finishes once (run.finished)"
is "$(ev_first "$F" run.continued "$R4" | jq -r .reason)" expired "3: run.continued {reason expired}"
is "$(ev_first "$F" permission.resolved "$R4" | jq -r .decision)" expired "3: permission.resolved {decision expired}"
REQ_MS=$(ev_ms "$F" permission.request "$R4")
RES_MS=$(ev_ms "$F" permission.resolved "$R4")
cmp_ok "$((RES_MS - REQ_MS))" -ge "$((PT_SHORT * 1000 - 1000))" \
	"3: ... about PERMISSION_TIMEOUT ($PT_SHORT s) after the request ($((RES_MS - REQ_MS)) ms)"
TRX=$(jq -c 'select(.event == "tool.result") | .data' "$F" | head -n 1)
is "$(printf '%s' "$TRX" | jq -r .is_error)" true "3: the call's result is an error"
like "$(printf '%s' "$TRX" | jq -r .content)" 'nobody approved' "3: ... saying nobody approved it"
is "$(printf '%s' "$TRX" | jq -r '.stdout // ""')" "" "3: the command did not run"
api_auth "/api/sessions/$S4/permissions"
is "$(json '.pending | length')" 0 "3: nothing pending after the expiry"
check "3: the session is idle" wait_for "$W" status_is "$S4" idle

tap_done
