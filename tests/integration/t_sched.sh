#!/usr/bin/env bash
# t_sched.sh: issue 11, the run scheduler (docs/scheduler.md) seen from the
# API, the event logs and the metrics. Messages queue behind a session's run
# (state "session", GET messages lists them, DELETE removes one before it
# starts, SESSION_QUEUE_MAX); runs waiting for a runner hear their place
# (run.queued ahead, run.queue_position counting down); one user's long queue
# does not hold another user back (MAX_RUNS_PER_USER, fairness); metrics count
# parked and queued runs; admins list and cancel anyone's runs. Finally, with
# four runners, one user never holds more than MAX_RUNS_PER_USER of them while
# another user's run starts at once.
#
# Parked runs are in t_sched_park.sh. Runs that must hold a runner while the
# test looks have their model answer wait at a gate of the fake ("hold" turns,
# opened by fake_release), so nothing depends on the machine's speed; the
# order of things is judged by the events' ids (Redis server milliseconds) read
# from every session's event log in Redis. Waits are deadlines (wait_for),
# never sleeps.
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source=tests/integration/lib_auth.sh
. "$(dirname "$0")/lib_auth.sh"
# shellcheck source=tests/integration/lib_agent.sh
. "$(dirname "$0")/lib_agent.sh"
cw_require_agent
# No tool ever runs here (the parked calls of section 8 are cancelled).
AGENT_NO_TOOLS=1

CW_CONF[RUNNER_WORKERS]=2
CW_CONF[RUNNER_MAX]=2
# A fixed pool: it neither grows nor shrinks.
CW_CONF[RUNNER_MIN_SPARE]=0
CW_CONF[RUNNER_MAX_SPARE]=2
CW_CONF[MAX_RUNS_PER_USER]=2
CW_CONF[SESSION_QUEUE_MAX]=2
CW_CONF[PERMISSION_TIMEOUT]=3600
CW_CONF[MAX_SESSIONS]=100
# Deadline for things that happen promptly on an idle machine.
W=30
# Deadline for a run that should start at once but may start late.
W2=60
# How long a run with a free runner and a free slot may wait to start.
START_MS=3000
agent_stack_up
declare -A TOK=()
TOK[ann]=$TOKEN
for u in bob cat dan; do
	user_add "$u" "$u-password-1" || cw_bail "user add $u: $(cat "$ADMIN_OUT")"
	login "$u" "$u-password-1" || cw_bail "$u cannot log in"
	TOK[$u]=$TOKEN
done
user_add root root-password-1 admin || cw_bail "user add root: $(cat "$ADMIN_OUT")"
login root root-password-1 || cw_bail "root cannot log in"
TOK[root]=$TOKEN
# as USER: the following requests are USER's.
as() {
	TOKEN=${TOK[$1]}
}

# ---- helpers ------------------------------------------------------------------------------
api_auth() {
	local p=$1
	shift
	api_get "$p" -H "Authorization: Bearer $TOKEN" "$@"
}
# evs SID: the session's events from Redis into $T/evs.SID.jsonl; prints the path.
evs() {
	redis_events "$1" "$T/evs.$1.jsonl"
	printf '%s\n' "$T/evs.$1.jsonl"
}
# has_ev SID TYPE RUN: the session's log holds a TYPE event of RUN.
has_ev() {
	[ "$(ev_count "$(evs "$1")" "$2" "$3")" -ge 1 ]
}
# finals SID RUN: the run's final events, space-separated.
finals() {
	ev_types "$(evs "$1")" "$2" | grep -E '^run\.(finished|error|cancelled)$' | tr '\n' ' '
}
has_final() {
	[ -n "$(finals "$1" "$2")" ]
}
# qd SID RUN FILTER: jq -r FILTER over the run's run.queued data.
qd() {
	ev_first "$(evs "$1")" run.queued "$2" | jq -r "$3" 2>/dev/null
}
# ms SID TYPE RUN: server milliseconds of the run's first TYPE event.
ms() {
	ev_ms "$(evs "$1")" "$2" "$3"
}
# final_ms SID RUN: milliseconds of the run's final event.
final_ms() {
	jq -r --arg r "$2" 'select(.data.run_id? == $r and (.event | test("^run\\.(finished|error|cancelled)$"))) | .id' \
		"$(evs "$1")" | head -n 1 | cut -d- -f1
}
# new_sess: a session of the current user (-> SID).
new_sess() {
	new_session || cw_bail "cannot create a session: $HTTP_STATUS $(cat "$BODY")"
}
# post SID TEXT: post_msg, bail unless 202.
post() {
	post_msg "$1" "$2"
	[ "$HTTP_STATUS" = 202 ] || diag "POST $1 '$2': $HTTP_STATUS $(cat "$BODY")"
}
# script_held GATE... : the next model answers wait at these gates (one each,
# in order) until fake_release; later answers take about 8 x 50 ms.
script_held() {
	local g t=''
	fake_reset
	for g in "$@"; do
		t="$t${t:+,}$(jq -cn --arg g "$g" '{text: ("held at " + $g), hold: $g}')"
	done
	fake_script "{\"turns\":[$t],\"default\":{\"text\":\"slow reply\",\"delay_ms\":50}}"
}
# all_final SID:RUN...: every run has its final event.
all_final() {
	local x
	for x in "$@"; do
		has_final "${x%%:*}" "${x#*:}" || return 1
	done
}
# text_of: jq: a content (string or blocks) as its text.
TEXT_OF='if type == "string" then . else (map(select(.type == "text") | .text) | join("")) end'
# prompts: the user prompts of the history in $BODY, one per line.
prompts() {
	jq -r ".messages[] | select(.role == \"user\") | .content | $TEXT_OF | select(. != \"\")" "$BODY" 2>/dev/null
}
metrics_are() { # parked ready user session
	metrics_fetch || return 1
	printf '%s\n' "$METRICS" | grep -q '^claude_web_runs_parked ' || return 1
	[ "$(metric claude_web_runs_parked) $(metric 'claude_web_runs_queued{state="ready"}') $(metric 'claude_web_runs_queued{state="user"}') $(metric 'claude_web_runs_queued{state="session"}')" = "$*" ]
}

# ---- 6. a message behind the session's run ------------------------------------------------
# The first run's answer waits at a gate until the checks are done.
as ann
script_held s6
new_sess
S6=$SID
post "$S6" "first prompt"
R1=$RUN_ID
is "$(json '[.status, .state] | join(" ")')" "queued ready" "6: the first message: 202 status queued, state ready"
check "6: the first run starts" wait_for "$W" has_ev "$S6" run.started "$R1"
wait_for "$W" fake_held 1 || diag "6: the first answer is not held at the fake"
post "$S6" "second prompt"
R2=$RUN_ID
is "$HTTP_STATUS" 202 "6: a second message while the first runs is accepted (202, not 409)"
is "$(json '[.status, .state, .session_id, .kind] | join(" ")')" "queued session $S6 message" \
	"6: ... status queued, state session (behind the session's run)"
like "$(json .ahead)" '^[0-9]+$' "6: ... with a number ahead ($(json .ahead))"
post "$S6" "third prompt"
R3=$RUN_ID
is "$HTTP_STATUS $(json .state)" "202 session" "6: a third message queues too"
post_msg "$S6" "fourth prompt"
is "$HTTP_STATUS" 409 "6: more than SESSION_QUEUE_MAX (2) waiting: 409"
like "$(json '.error.type // .error')" conflict "6: ... error conflict"
is "$(qd "$S6" "$R2" '[.state, .kind] | join(" ")')" "session message" "6: run.queued {state session} in the event log"
api_auth "/api/sessions/$S6/messages"
is "$HTTP_STATUS" 200 "6: GET messages is 200"
is "$(json '[.queued[].run_id] | join(" ")')" "$R2 $R3" "6: GET messages lists both queued messages, oldest first"
is "$(json ".queued[0] | [(.content | $TEXT_OF), .state, .kind] | join(\"|\")")" "second prompt|session|message" \
	"6: ... with content, state and kind"
is "$(json '.queued[0] | [(.ahead | type), (.created_at | type)] | join(" ")')" "number number" "6: ... ahead and created_at"
unlike "$(prompts)" 'second prompt' "6: a queued prompt is not in the history before it starts"
api_auth "/api/sessions/$S6/runs/$R3" -X DELETE
is "$HTTP_STATUS" 200 "6: DELETE of a queued run is 200"
is "$(json '[.run_id, .status] | join(" ")')" "$R3 removed" "6: ... {run_id, status removed}"
is "$(finals "$S6" "$R3")" "run.cancelled " "6: the removed run is closed with one run.cancelled"
is "$(ev_first "$(evs "$S6")" run.cancelled "$R3" | jq -r .reason)" removed "6: ... reason removed"
api_auth "/api/sessions/$S6/runs/$R1" -X DELETE
is "$HTTP_STATUS" 409 "6: DELETE of the started run is 409"
api_auth "/api/sessions/$S6/runs/$(openssl rand -hex 16)" -X DELETE
is "$HTTP_STATUS" 404 "6: DELETE of an unknown run is 404"
as bob
api_auth "/api/sessions/$S6/runs/$R2" -X DELETE
is "$HTTP_STATUS" 404 "6: another user cannot remove it (404)"
as ann
api_auth "/api/sessions/$S6/messages"
is "$(json '[.queued[].run_id] | join(" ")')" "$R2" "6: GET messages lists only the remaining queued message"
is "$(finals "$S6" "$R1")" "" "6: (the first run was still running all along)"
fake_release s6
check "6: the first run finishes" wait_for "$W" has_final "$S6" "$R1"
# The queued message goes ahead when the first run ends (W2: long enough to
# tell a late start from none).
check "6: the queued message runs after the first" wait_for "$W2" has_final "$S6" "$R2"
F=$(evs "$S6")
is "$(finals "$S6" "$R1")$(finals "$S6" "$R2")" "run.finished run.finished " "6: both runs finish, one final event each"
GAP=$(($(ms "$S6" run.started "$R2") - $(ms "$S6" run.finished "$R1")))
cmp_ok "$GAP" -ge 0 "6: the second started after the first finished"
cmp_ok "$GAP" -le "$START_MS" "6: ... at once: $GAP ms after (limit $START_MS ms)"
is "$(ev_count "$F" run.started "$R3")" 0 "6: the removed run never started"
api_auth "/api/sessions/$S6/messages"
is "$(prompts | tr '\n' '|')" "first prompt|second prompt|" "6: the history has both prompts in order, not the removed one"
is "$(json '.queued | length')" 0 "6: nothing queued any more"

# ---- 7. place in the queue ------------------------------------------------------------------
# ann's two runs hold both runners (their answers wait at gates); bob's two
# and then cat's wait for a runner. One gate opens: one runner serves bob's
# two runs, then cat's.
script_held a1 a2
declare -a S7=() R7=()
as ann
for i in 1 2; do
	new_sess
	post "$SID" "ann $i"
	S7+=("$SID")
	R7+=("$RUN_ID")
done
check "7: ann's two runs hold the two runners" wait_for "$W" eval \
	'has_ev "${S7[0]}" run.started "${R7[0]}" && has_ev "${S7[1]}" run.started "${R7[1]}" && fake_held 2'
as bob
for i in 1 2; do
	new_sess
	post "$SID" "bob $i"
	S7+=("$SID")
	R7+=("$RUN_ID")
done
is "$(json '[.state, .ahead] | join(" ")')" "ready 1" "7: bob's second run: state ready, ahead 1 (his first)"
as cat
new_sess
SC7=$SID
post "$SC7" "cat waits"
RC7=$RUN_ID
is "$(json '[.state, .ahead] | join(" ")')" "ready 2" "7: cat's run waits for a runner: state ready, ahead 2 (bob's two)"
is "$(qd "$SC7" "$RC7" '[.state, .ahead] | join(" ")')" "ready 2" "7: run.queued {state ready, ahead 2}"
fake_release a1
check "7: cat's run starts" wait_for "$W" has_ev "$SC7" run.started "$RC7"
fake_release a2
F=$(evs "$SC7")
POSITIONS=$(jq -r --arg r "$RC7" 'select(.data.run_id? == $r) |
	select(.event == "run.queue_position" or .event == "run.started") |
	if .event == "run.started" then "started" else (.data.ahead | tostring) end' "$F" | tr '\n' ' ')
diag "7: cat: run.queued ahead 2, then: $POSITIONS"
is "$POSITIONS" "1 0 started " "7: run.queue_position ahead 1, then 0, then run.started"
is "$(jq -r --arg r "$RC7" 'select(.data.run_id? == $r and .event == "run.queue_position") | .data.state' "$F" | sort -u)" ready \
	"7: ... each with state ready"
check "7: all five runs finish" wait_for "$W" all_final "${S7[0]}:${R7[0]}" "${S7[1]}:${R7[1]}" \
	"${S7[2]}:${R7[2]}" "${S7[3]}:${R7[3]}" "$SC7:$RC7"

# ---- 4. fairness: ann's ten runs do not hold bob back -----------------------------------------
# ann's first two runs hold the runners until bob has queued.
script_held f1 f2
declare -a S4=() R4=()
as ann
for i in $(seq 1 10); do
	new_sess
	S4+=("$SID")
done
for i in $(seq 0 9); do
	post "${S4[$i]}" "ann run $((i + 1))"
	R4+=("$RUN_ID")
done
wait_for "$W" fake_held 2 || diag "4: ann's first two answers are not held"
as bob
new_sess
SB4=$SID
post "$SB4" "bob run"
RB4=$RUN_ID
is "$HTTP_STATUS $(json .state)" "202 ready" "4: bob's run, queued after ann's ten, waits only for a runner (state ready)"
cmp_ok "$(json .ahead)" -le 1 "4: ... ahead $(json .ahead), not ann's queue"
is "$(qd "$SB4" "$RB4" '[.state, .ahead] | join(" ")')" "ready $(json .ahead)" "4: run.queued says the same"
n_user=0
for i in $(seq 2 9); do
	[ "$(qd "${S4[$i]}" "${R4[$i]}" .state)" = user ] && n_user=$((n_user + 1))
done
is "$n_user" 8 "4: ann's runs 3..10 were queued with state user (MAX_RUNS_PER_USER 2)"
AHEADS=$(for i in $(seq 2 9); do qd "${S4[$i]}" "${R4[$i]}" .ahead; done | tr '\n' ' ')
is "$(printf '%s' "$AHEADS" | awk '{ for (i = 2; i <= NF; i++) if ($i <= $(i - 1)) { print "no"; exit } print "yes" }')" yes \
	"4: ... each with more ahead than the one before ($AHEADS)"
cmp_ok "$(printf '%s' "$AHEADS" | awk '{ print $NF }')" -ge 7 "4: ... ann's tenth with at least 7 ahead"
fake_release f1 f2
check "4: bob's run starts" wait_for "$W" has_ev "$SB4" run.started "$RB4"
all=()
for i in $(seq 0 9); do all+=("${S4[$i]}:${R4[$i]}"); done
check "4: all eleven runs finish" wait_for 60 all_final "${all[@]}" "$SB4:$RB4"
BS=$(ms "$SB4" run.started "$RB4")
after=0
for i in $(seq 0 9); do
	[ "$(ms "${S4[$i]}" run.started "${R4[$i]}")" -gt "$BS" ] && after=$((after + 1))
done
cmp_ok "$after" -ge 7 "4: bob's run started before $after of ann's ten (at least 7: within one slot of ann's running runs)"
nfin=0
for x in "${all[@]}" "$SB4:$RB4"; do
	[ "$(finals "${x%%:*}" "${x#*:}")" = "run.finished " ] && nfin=$((nfin + 1))
done
is "$nfin" 11 "4: each of the eleven runs has exactly one final event, run.finished"

# ---- 8 + 9. metrics of parked and queued runs; admin list and cancel ------------------------------
# ann parks two runs (bash asks in default mode); bob's first two runs hold
# the runners (gates), two more wait for his slots, one waits behind his
# first session's run.
fake_reset
fake_script "$(jq -cn '{turns: [range(2) | {content: [{type: "tool_use", id: "toolu_sched_\(.)_\(now | floor)", name: "bash", input: {command: "echo never"}}]}]}')"
declare -a SP=() RP=()
as ann
for i in 1 2; do
	new_sess
	post "$SID" "ann parks $i"
	SP+=("$SID")
	RP+=("$RUN_ID")
done
check "8: ann's two runs park" wait_for "$W" eval \
	'has_ev "${SP[0]}" run.parked "${RP[0]}" && has_ev "${SP[1]}" run.parked "${RP[1]}"'
script_held b1 b2
declare -a SB=() RB=()
as bob
for i in 1 2 3 4; do
	new_sess
	post "$SID" "bob long $i"
	SB+=("$SID")
	RB+=("$RUN_ID")
done
post "${SB[0]}" "bob behind his first run"
RBQ=$RUN_ID
is "$(json .state)" session "8: bob's message behind his running run: state session"
check "8: bob's first two runs are running" wait_for "$W" eval \
	'has_ev "${SB[0]}" run.started "${RB[0]}" && has_ev "${SB[1]}" run.started "${RB[1]}" && fake_held 2'
if wait_for 10 metrics_are 2 0 2 1; then
	tap_ok "8: /api/metrics: claude_web_runs_parked 2, claude_web_runs_queued ready 0, user 2, session 1"
else
	tap_fail "8: /api/metrics: claude_web_runs_parked 2, claude_web_runs_queued ready 0, user 2, session 1" \
		"$(printf '%s\n' "$METRICS" | grep -E '^claude_web_(runs|runners)')"
fi
is "$(metric 'claude_web_runs{state="parked"}')" 2 "8: claude_web_runs{state=\"parked\"} 2"
is "$(metric 'claude_web_runners{state="busy"}')" 2 "8: claude_web_runners{state=\"busy\"} 2"

as root
api_auth /api/admin/runs
is "$HTTP_STATUS" 200 "9: GET /api/admin/runs as admin is 200"
cp "$BODY" "$T/admin_runs.json"
is "$(jq -r --arg r "${RP[0]}" '.runs[] | select(.run_id == $r) | [.session_id, .user, .kind, .status] | join(" ")' "$T/admin_runs.json")" \
	"${SP[0]} ann message waiting" "9: it lists ann's parked run: session, user ann, kind, status waiting"
is "$(jq -r --arg r "${RB[0]}" '.runs[] | select(.run_id == $r) | [.user, .status, (.started_at | type)] | join(" ")' "$T/admin_runs.json")" \
	"bob running number" "9: ... and bob's running run (status running, started_at)"
like "$(jq -r --arg r "${RB[2]}" '.runs[] | select(.run_id == $r) | [.user, .status, .state] | join(" ")' "$T/admin_runs.json")" \
	'^bob queued (user|waiting)$' "9: ... and bob's waiting run (status queued, state user)"
like "$(jq -r --arg r "$RBQ" '.runs[] | select(.run_id == $r) | .state' "$T/admin_runs.json")" '^(session|behind)$' \
	"9: ... and the run behind bob's session (state session)"
is "$(jq -r --arg r "$R1" '[.runs[] | select(.run_id == $r)] | length' "$T/admin_runs.json")" 0 \
	"9: finished runs are not listed"
as bob
api_auth /api/admin/runs
is "$HTTP_STATUS" 403 "9: a normal user gets 403 for GET /api/admin/runs"
api_auth "/api/admin/runs/${RP[0]}/cancel" -X POST
is "$HTTP_STATUS" 403 "9: ... and for POST /api/admin/runs/{run_id}/cancel"
is "$(finals "${SP[0]}" "${RP[0]}")" "" "9: ... which cancelled nothing"
as root
api_auth "/api/admin/runs/${RB[0]}/cancel" -X POST
like "$HTTP_STATUS" '^20[02]$' "9: the admin cancels bob's running run ($HTTP_STATUS)"
check "9: bob's run ends" wait_for "$W" has_final "${SB[0]}" "${RB[0]}"
is "$(finals "${SB[0]}" "${RB[0]}")" "run.cancelled " "9: ... with one run.cancelled"
api_auth "/api/admin/runs/${RP[0]}/cancel" -X POST
like "$HTTP_STATUS" '^20[02]$' "9: the admin cancels ann's parked run ($HTTP_STATUS)"
check "9: ann's parked run ends" wait_for "$W" has_final "${SP[0]}" "${RP[0]}"
is "$(finals "${SP[0]}" "${RP[0]}")" "run.cancelled " "9: ... with one run.cancelled"
api_auth "/api/admin/runs/$R1/cancel" -X POST
is "$HTTP_STATUS" 409 "9: cancelling a finished run is 409"
api_auth "/api/admin/runs/$(openssl rand -hex 16)/cancel" -X POST
like "$HTTP_STATUS" '^40[49]$' "9: cancelling an unknown run is refused ($HTTP_STATUS)"
as ann
api_auth "/api/sessions/${SP[1]}/cancel" -X POST
like "$HTTP_STATUS" '^20[02]$' "8: ann cancels her other parked run"
fake_release b1 b2
check "8: bob's remaining runs finish" wait_for "$W2" all_final "${SB[1]}:${RB[1]}" "${SB[2]}:${RB[2]}" \
	"${SB[3]}:${RB[3]}" "${SB[0]}:$RBQ" "${SP[1]}:${RP[1]}"
is "$(finals "${SB[0]}" "$RBQ")" "run.finished " "9: the message behind the cancelled run went ahead and finished"
GAP=$(($(ms "${SB[0]}" run.started "$RBQ") - $(final_ms "${SB[0]}" "${RB[0]}")))
cmp_ok "$GAP" -le "$START_MS" "9: ... starting $GAP ms after the cancel's run.cancelled (limit $START_MS ms)"
if wait_for "$W" metrics_are 0 0 0 0; then
	tap_ok "8: when everything has ended, the parked and queued metrics are 0"
else
	tap_fail "8: when everything has ended, the parked and queued metrics are 0" \
		"$(printf '%s\n' "$METRICS" | grep -E '^claude_web_(runs|runners)')"
fi

# ---- 5. per-user cap with four runners ----------------------------------------------------------
cw_stop_app INT
CW_CONF[RUNNER_WORKERS]=4
CW_CONF[RUNNER_MAX]=4
CW_CONF[RUNNER_MAX_SPARE]=4
cw_start_app || cw_bail "could not restart claude-web with four runners"
wait_for 10 pool_full runner 4 || diag "5: the runner pool did not reach 4"
script_held d1 d2
declare -a S5=() R5=()
as dan
for i in 1 2 3 4; do
	new_sess
	S5+=("$SID")
done
as cat
new_sess
SC5=$SID
as dan
for i in 0 1 2 3; do
	post "${S5[$i]}" "dan run $((i + 1))"
	R5+=("$RUN_ID")
done
check "5: dan's first two runs run (their answers held)" wait_for "$W" fake_held 2
as cat
post "$SC5" "cat run"
RC5=$RUN_ID
check "5: cat's run starts" wait_for "$W" has_ev "$SC5" run.started "$RC5"
Q=$(ms "$SC5" run.queued "$RC5")
S=$(ms "$SC5" run.started "$RC5")
cmp_ok "$((S - Q))" -le "$START_MS" "5: cat's run started $((S - Q)) ms after run.queued (limit $START_MS ms)"
check "5: ... and finishes while dan's two hold their runners" wait_for "$W" has_final "$SC5" "$RC5"
is "$(qd "${S5[2]}" "${R5[2]}" .state) $(qd "${S5[3]}" "${R5[3]}" .state)" "user user" \
	"5: dan's third and fourth runs were queued with state user"
is "$(ev_count "$(evs "${S5[2]}")" run.started "${R5[2]}") $(ev_count "$(evs "${S5[3]}")" run.started "${R5[3]}")" "0 0" \
	"5: ... and have not started although two runners are idle"
as root
api_auth /api/admin/runs
is "$(json '[.runs[] | select(.user == "dan") | .status] | sort | join(" ")')" "queued queued running running" \
	"5: GET /api/admin/runs: two of dan's runs running, two queued"
fake_release d1 d2
check "5: dan's four runs finish" wait_for "$W" all_final "${S5[0]}:${R5[0]}" "${S5[1]}:${R5[1]}" \
	"${S5[2]}:${R5[2]}" "${S5[3]}:${R5[3]}"
# The most of dan's runs running at once: +1 at run.started, -1 at the final
# event (a final event sorts before a start in the same millisecond).
MAXRUN=$(for i in 0 1 2 3; do
	printf '%s 1\n' "$(ms "${S5[$i]}" run.started "${R5[$i]}")"
	printf '%s 0\n' "$(final_ms "${S5[$i]}" "${R5[$i]}")"
done | sort -n -k1,1 -k2,2 | awk '{ n += ($2 == 1) ? 1 : -1; if (n > m) m = n } END { print m + 0 }')
is "$MAXRUN" 2 "5: dan never had more than MAX_RUNS_PER_USER (2) runs running at once"
nfin=0
for i in 0 1 2 3; do
	[ "$(finals "${S5[$i]}" "${R5[$i]}")" = "run.finished " ] && nfin=$((nfin + 1))
done
is "$nfin" 4 "5: each of dan's runs finished once"

tap_done
