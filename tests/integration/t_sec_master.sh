#!/usr/bin/env bash
# t_sec_master.sh: issue 10, the master's part.
#   1. SIGHUP in the middle of a 15 s agent run (PROCESS_CONTROL_TIMEOUT=2):
#      the old runner finishes it (one request at the fake, one run.finished,
#      no run.resumed, the whole answer), takes no new job, then exits; a new
#      runner serves a new run meanwhile.
#   2. SIGQUIT in the middle of a run: the same, then the master exits 0.
#   3. A runner killed in the middle of a job: the master says so and hands
#      its record to the other runners; the run goes on at once, not after
#      RUN_LOCK_TTL (30 s).
#   4. Secrets given in the environment are in no process's environment
#      (master, every worker, before and after a reload), and a reload still
#      has them (Redis and the API work with the new generation).
#   5. The archive's tar child: only stdin/stdout/stderr of the worker, no
#      socket, no log, an environment of PATH alone.
#   6. Root outside a container is refused (exit 78) unless ALLOW_ROOT=1.
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source=tests/integration/lib_auth.sh
. "$(dirname "$0")/lib_auth.sh"
# shellcheck source=tests/integration/lib_agent.sh
. "$(dirname "$0")/lib_agent.sh"
cw_require_agent
AGENT_NO_TOOLS=1

# Unique secret values: whatever holds one of them is a leak.
API_KEY=sk-ant-test-$(openssl rand -hex 12)
ADMIN_PW=admin-pw-$(openssl rand -hex 12)
CW_CONF[RUNNER_WORKERS]=1
CW_CONF[PROCESS_CONTROL_TIMEOUT]=2
CW_CONF[RUN_LOCK_TTL]=30
CW_ENV[ADMIN_PASSWORD]=$ADMIN_PW
agent_stack_up
# fake_start set the key; ours is unique (the fake takes any).
CW_CONF[ANTHROPIC_API_KEY]=$API_KEY
cw_stop_app INT
cw_start_app || cw_bail "could not restart claude-web with the test key"
wait_for 10 pool_full runner 1 || diag "the runner pool did not fill up"

# A ~15 s streamed answer: 20 pieces, 0.6 s before each event.
SLOW_TEXT=$(printf 'Part %02d of a long answer. ' $(seq 1 20))
slow_turn() {
	jq -cn --arg s "$SLOW_TEXT" '{content: [{type: "text", text: $s, split: 28}], delay_ms: 600}'
}

# runner_of RUN: pid of the runner that started RUN (waits for the log line).
runner_of() {
	# shellcheck disable=SC2034 # read by the eval below
	RUNNER_OF_RUN=$1
	wait_for 10 eval '[ -n "$(runner_pid_for "$RUNNER_OF_RUN")" ]'
	runner_pid_for "$1"
}

# count_in_log REGEX: lines of the log since the mark that match.
count_in_log() {
	log_since | grep -cE -- "$1"
}

# run_events SID MARK RUN OUT: the run's events (after MARK) up to its final one.
run_events() {
	sse_read "$4" --session "$1" --last-event-id "$2" --until "$FINAL_EVENTS" --run-id "$3" --timeout 60
}

# answer_shown SID MARK RUN: the run's answer has begun (message.start is in
# its event stream), so a graceful stop now lets it finish on this runner;
# before that, a quitting runner gives the model call up and hands off.
answer_shown() {
	sse_read "$T/shown.jsonl" --session "$1" --last-event-id "$2" --until message.start \
		--run-id "$3" --timeout 15
	[ "$SSE_END" = until ]
}

# past MS: true once MS milliseconds have passed since $T0. This checks that
# nothing happens for a while (a kill that must not come), not an order.
past() {
	[ $(($(now_ms) - T0)) -gt "$1" ]
}

# ---- 1. SIGHUP during a run ------------------------------------------------------------------
fake_reset
fake_script "$(jq -cn --argjson slow "$(slow_turn)" '{turns: [$slow, {text: "Quick answer."}]}')"
new_session || cw_bail "cannot create a session: $HTTP_STATUS $(cat "$BODY")"
SID1=$SID
MARK1=$(events_mark "$SID1")
post_msg "$SID1" "a long answer please"
RUN1=$RUN_ID
is "$HTTP_STATUS" 202 "1: the slow run is queued"
check "1: the fake API is streaming the answer" fake_wait 1 0 10
check "1: ...and the answer has begun (message.start)" answer_shown "$SID1" "$MARK1" "$RUN1"
R1=$(runner_of "$RUN1")
like "$R1" '^[0-9]+$' "1: the runner of the run is known ($R1)"
log_mark
T0=$(now_ms)
kill -HUP "$MASTER_PID"
check "1: the reload completes" wait_for 15 eval '[ "$(count_in_log "\"msg\":\"reload complete")" -ge 1 ]'

new_runner() {
	local p
	for p in $(worker_pids runner); do
		[ "$p" != "$R1" ] && [ "$(worker_generation "$p")" = 2 ] && return 0
	done
	return 1
}
check "1: a runner of the new generation is running" wait_for 10 new_runner
# While the old runner still streams, a new run is served by the new one.
new_session || cw_bail "cannot create a second session"
SID2=$SID
run_msg "$SID2" "something quick" 30
is "$HTTP_STATUS $SSE_END" "202 until" "1: a new run during the drain finishes"
is "$(ev_text "$EV" "$RUN_ID")" "Quick answer." "1: ...with its answer"
isnt "$(runner_pid_for "$RUN_ID")" "$R1" "1: ...served by another runner than the draining one"
if run_final_in_redis "$SID1" "$RUN1"; then
	tap_fail "1: the slow run is still going when the quick one is done"
else
	tap_ok "1: the slow run is still going when the quick one is done"
fi
wait_for 10 past 3500
check "1: the old runner is alive after PROCESS_CONTROL_TIMEOUT (2 s)" eval '! pid_gone "$R1"'

run_events "$SID1" "$MARK1" "$RUN1" "$T/hup.jsonl"
is "$SSE_END" until "1: the slow run reaches its final event"
is "$(ev_count "$T/hup.jsonl" run.finished "$RUN1") $(ev_count "$T/hup.jsonl" run.error "$RUN1")" "1 0" \
	"1: exactly one run.finished, no run.error"
is "$(ev_count "$T/hup.jsonl" run.resumed "$RUN1")" 0 "1: no run.resumed (the run was never cut)"
is "$(ev_text "$T/hup.jsonl" "$RUN1")" "$SLOW_TEXT" "1: the whole answer, once"
wait_for 5 eval '[ "$(redis_final_count "$SID1" "$RUN1")" -ge 1 ]'
is "$(redis_final_count "$SID1" "$RUN1")" 1 "1: one final event in Redis"
is "$(fake_nreq)" 2 "1: the fake API got exactly two requests (one per run)"
check "1: the old runner exits after its run" wait_for 10 pid_gone "$R1"
exited=$(log_json "select(.msg == \"worker exited\" and .worker_pid == $R1) | .status" | tail -n 1)
is "$exited" '"exit 0"' "1: ...cleanly (exit 0)"
is "$(count_in_log 'ignored graceful quit|still busy after RUNNER_DRAIN_TIMEOUT|runner stopped reporting')" 0 \
	"1: the master never escalated against the draining runner"
done_line=$(grep -n "\"msg\":\"run done\".*\"run_id\":\"$RUN1\"" "$CW_LOG" | tail -n 1 | cut -d: -f1)
exit_line=$(grep -n "\"msg\":\"worker exited\".*\"worker_pid\":$R1," "$CW_LOG" | tail -n 1 | cut -d: -f1)
cmp_ok "${exit_line:-0}" -gt "${done_line:-999999}" "1: the runner exited after \"run done\""

# ---- 2. SIGQUIT during a run ----------------------------------------------------------------
fake_reset
fake_script "$(jq -cn --argjson slow "$(slow_turn)" '{turns: [$slow]}')"
wait_for 10 pool_full runner 1
SID=$SID1
MARK3=$(events_mark "$SID1")
post_msg "$SID1" "another long answer"
RUN3=$RUN_ID
is "$HTTP_STATUS" 202 "2: the slow run is queued"
check "2: the fake API is streaming the answer" fake_wait 1 0 10
check "2: ...and the answer has begun (message.start)" answer_shown "$SID1" "$MARK3" "$RUN3"
R3=$(runner_of "$RUN3")
log_mark
T0=$(now_ms)
kill -QUIT "$MASTER_PID"
check "2: the api socket goes away at once" wait_for 5 test ! -e "$API_SOCKET"
wait_for 10 past 3500
check "2: the runner is still at it after PROCESS_CONTROL_TIMEOUT (2 s)" eval '! pid_gone "$R3"'
check "2: ...and so is the master" master_alive
if wait_for 40 pid_gone "$MASTER_PID"; then
	tap_ok "2: the master exits once the run is done ($(($(now_ms) - T0)) ms after SIGQUIT)"
else
	tap_fail "2: the master exits once the run is done (within 40 s)"
fi
cw_stop_app INT 1
is "$MASTER_EXIT" 0 "2: the master exits with status 0"
check "2: the runner is gone too" pid_gone "$R3"
is "$(count_in_log 'ignored graceful quit|still busy after RUNNER_DRAIN_TIMEOUT')" 0 \
	"2: the master never escalated against the runner"
like "$(log_since | grep "\"msg\":\"run done\"")" "\"run_id\":\"$RUN3\".*\"status\":\"finished\"" \
	"2: the run finished before the stop (log: run done, finished)"
is "$(redis_final_count "$SID1" "$RUN3")" 1 "2: one final event in Redis"
is "$(fake_nreq)" 1 "2: the fake API got exactly one request"
cw_start_app || cw_bail "could not restart claude-web"
wait_for 10 pool_full runner 1
run_events "$SID1" "$MARK3" "$RUN3" "$T/quit.jsonl"
is "$(ev_count "$T/quit.jsonl" run.finished "$RUN3") $(ev_count "$T/quit.jsonl" run.resumed "$RUN3")" "1 0" \
	"2: one run.finished, no run.resumed"
is "$(ev_text "$T/quit.jsonl" "$RUN3")" "$SLOW_TEXT" "2: the whole answer"
is "$(fake_nreq)" 1 "2: no request to the fake after the restart either"

# ---- 3. a runner killed in the middle of a job --------------------------------------------
fake_reset
fake_script "$(jq -cn --argjson slow "$(slow_turn)" '{turns: [$slow], default: {text: "Done."}}')"
post_msg "$SID1" "this runner will die"
RUN4=$RUN_ID
check "3: the fake API is streaming the answer" fake_wait 1 0 10
R4=$(runner_of "$RUN4")
log_mark
T0=$(now_ms)
kill -KILL "$R4"
wait_for 5 pid_gone "$R4"
wait_for 5 eval 'log_since | grep -q "\"msg\":\"worker exited\".*\"worker_pid\":$R4,"'
line=$(log_since | grep '"msg":"runner gone in the middle of a job' | head -n 1)
like "$line" "\"session\":\"$SID1\"" "3: the master reports the dead runner's job (its session)"
if wait_for 60 run_final_in_redis "$SID1" "$RUN4"; then
	took=$(($(now_ms) - T0))
	tap_ok "3: the run ends after the kill ($took ms)"
	cmp_ok "$took" -lt 15000 "3: ...taken over at once, not after RUN_LOCK_TTL=30 s"
else
	tap_fail "3: the run ends after the kill (within 60 s)"
	tap_skip 1 "the run did not end"
fi
check "3: the dead runner's consumer left the jobs group" \
	wait_for 10 eval '! redis_cli XINFO CONSUMERS cw:{c}:jobs runners 2>/dev/null | grep -q -- "^$(hostname)-$R4-"' 

# ---- 4. no secret in any environment --------------------------------------------------------
# environ_leaks PID...: prints "pid:what" for each secret found.
SECRETS=("$API_KEY" "$ADMIN_PW" "${CW_CONF[SECRET_KEY]}" "$REDIS_PASSWORD")
environ_leaks() {
	local p s
	for p in "$@"; do
		[ -r "/proc/$p/environ" ] || continue
		for s in "${SECRETS[@]}"; do
			grep -aqF -- "$s" "/proc/$p/environ" && echo "$p:$(printf '%s' "$s" | head -c 12)..."
		done
		tr '\0' '\n' <"/proc/$p/environ" |
			grep -E '^(ANTHROPIC_API_KEY|ADMIN_PASSWORD|SECRET_KEY|REDIS_PASSWORD)=' |
			sed "s/=.*//; s/^/$p:name /"
	done
	return 0
}
all_pids() {
	echo "$MASTER_PID"
	all_children
}
wait_for 10 pool_full stream "${CW_CONF[STREAM_WORKERS]}"
like "$(tr '\0' '\n' <"/proc/$MASTER_PID/environ" | grep -c '^PATH=')" '^1$' \
	"4: the master was started with an environment (PATH is there)"
NWORKERS=$((CW_CONF[API_WORKERS] + CW_CONF[STREAM_WORKERS] + CW_CONF[RUNNER_WORKERS]))
wait_for 10 pool_full runner "${CW_CONF[RUNNER_WORKERS]}"
is "$(all_pids | grep -c .)" $((1 + NWORKERS)) "4: the master and its $NWORKERS workers are running"
# shellcheck disable=SC2046 # one pid per word
is "$(environ_leaks $(all_pids) | tr '\n' ' ')" "" \
	"4: no secret value or name in /proc/<pid>/environ of the master or any worker"
log_mark
kill -HUP "$MASTER_PID"
wait_for 15 eval '[ "$(count_in_log "\"msg\":\"reload complete")" -ge 1 ]'
gen_ok() {
	local p
	for p in $(all_children); do
		[ "$(worker_generation "$p")" = 2 ] || return 1
	done
	[ "$(all_children | grep -c .)" -eq "$NWORKERS" ]
}
check "4: after SIGHUP every worker is of the new generation" wait_for 15 gen_ok
# shellcheck disable=SC2046
is "$(environ_leaks $(all_pids) | tr '\n' ' ')" "" "4: ...and none of them has a secret either"
api_get /api/ready
is "$HTTP_STATUS" 200 "4: the new generation reaches Redis (REDIS_PASSWORD survived the reload)"
fake_reset
fake_script '{"turns":[{"text":"After the reload."}]}'
run_msg "$SID2" "after the reload" 30
is "$(ev_text "$EV" "$RUN_ID")" "After the reload." "4: a run after the reload works"
fake_requests
is "$(fake_req 1 '.headers["x-api-key"]')" "\"$API_KEY\"" \
	"4: ...with the API key from the environment (kept across the reload)"

# ---- 5. the archive's tar child ----------------------------------------------------------
FILES=${CW_CONF[WORKSPACE_PATH]}/sessions/session-$SID2/files
if [ -d "$FILES" ]; then
	head -c $((24 * 1024 * 1024)) /dev/urandom >"$FILES/big.bin"
	curl -4ks --http2 --limit-rate 100k --max-time 120 -o /dev/null \
		-H "Authorization: Bearer $TOKEN" "$BASE_URL/api/sessions/$SID2/archive" \
		</dev/null >/dev/null 2>&1 &
	DL=$!
	BG_PIDS+=("$DL")
	tar_pid() {
		local w p
		for w in $(worker_pids api); do
			for p in $(pgrep -P "$w" 2>/dev/null); do
				[ "$(cat "/proc/$p/comm" 2>/dev/null)" = tar ] && echo "$p"
			done
		done
	}
	if wait_for 15 eval '[ -n "$(tar_pid)" ]'; then
		TAR=$(tar_pid | head -n 1)
		tap_ok "5: an archive download runs tar ($TAR)"
		procs="$TAR $(pgrep -P "$TAR" | tr '\n' ' ')"
		bad=''
		for p in $procs; do
			for fd in /proc/"$p"/fd/*; do
				n=${fd##*/}
				l=$(readlink "$fd" 2>/dev/null) || continue
				case $l in
				pipe:* | /dev/null | "$FILES" | "$FILES"/*) ;;
				*) bad="$bad $p:$n=$l" ;;
				esac
			done
		done
		is "$(readlink /proc/"$TAR"/fd/0) $(readlink /proc/"$TAR"/fd/2)" "/dev/null /dev/null" \
			"5: tar's stdin and stderr are /dev/null"
		is "$bad" "" "5: tar and gzip hold only pipes, /dev/null and the session's files: no socket, no log"
		is "$(tr '\0' ' ' <"/proc/$TAR/environ")" "PATH=/usr/bin:/bin " "5: tar's environment is PATH alone"
		# shellcheck disable=SC2086
		is "$(environ_leaks $procs | tr '\n' ' ')" "" "5: no secret in tar's or gzip's environment"
	else
		tap_fail "5: an archive download runs tar"
		tap_skip 4 "no tar process seen"
	fi
	kill "$DL" 2>/dev/null
	wait "$DL" 2>/dev/null
	rm -f "$FILES/big.bin"
else
	tap_fail "5: the session's files directory exists ($FILES)"
	tap_skip 5 "no files directory"
fi

# ---- 6. root outside a container ----------------------------------------------------------
# bwrap shows claude-web this machine without the container markers
# (/.dockerenv, /run/.containerenv) and an empty environment.
root_check() { # root_check ENV... -> RC, ERR of `claude-web -t` as "not in a container"
	local -a b=() k
	local d
	for d in /*; do
		case $d in /.dockerenv | /proc | /dev | /run | /tmp | "$T") ;; *) [ -e "$d" ] && b+=(--ro-bind "$d" "$d") ;; esac
	done
	b+=(--tmpfs /run --proc /proc --dev /dev --tmpfs /tmp --bind "$T" "$T")
	# The checkout may itself live under /tmp (a fresh clone on CI).
	b+=(--ro-bind "$(dirname "$CLAUDE_WEB")" "$(dirname "$CLAUDE_WEB")" --unshare-pid --die-with-parent)
	k=(PATH="$PATH")
	for d in "${!CW_CONF[@]}"; do
		[ "$d" = ALLOW_ROOT ] || k+=("$d=${CW_CONF[$d]}")
	done
	ERR=$(env -i PATH="$PATH" bwrap "${b[@]}" env -i "${k[@]}" "$@" "$CLAUDE_WEB" "${ROOT_ARGS[@]}" 2>&1 </dev/null)
	RC=$?
}
if [ "$(id -u)" -ne 0 ]; then
	tap_skip 7 "not running as root"
elif ! command -v bwrap >/dev/null 2>&1 || ! env -i bwrap --ro-bind / / true 2>/dev/null; then
	tap_skip 7 "bubblewrap cannot run here"
else
	ROOT_ARGS=(-t)
	root_check
	is "$RC" 78 "6: as root outside a container, claude-web -t exits 78"
	like "$ERR" 'refusing to run as root.*container' "6: ...saying why"
	like "$ERR" 'ALLOW_ROOT=1' "6: ...and how to accept the risk"
	root_check ALLOW_ROOT=1
	is "$RC" 0 "6: with ALLOW_ROOT=1 the configuration is valid"
	root_check container=podman
	is "$RC" 0 "6: in a container (container=podman) root is fine"
	ROOT_ARGS=()
	cw_stop_app INT
	rm -f "$API_SOCKET" "$STREAM_SOCKET"
	root_check
	is "$RC" 78 "6: the server itself refuses too (exit 78)"
	check "6: ...before creating its sockets" test ! -e "$API_SOCKET"
fi

tap_done
