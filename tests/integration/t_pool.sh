#!/usr/bin/env bash
# t_pool.sh: issue 11, the dynamic runner pool (php-fpm pm = dynamic; the
# master sizes it from the scoreboard: docs/decisions.md). With
# RUNNER_WORKERS=1 RUNNER_MIN_SPARE=0 RUNNER_MAX_SPARE=1 RUNNER_MAX=4
# RUNNER_IDLE_GRACE=2:
#   1. a burst of slow runs from three users (MAX_RUNS_PER_USER=2 each)
#      grows the pool above one runner and never above RUNNER_MAX, every run
#      finishing with run.finished;
#   2. idle again, it shrinks back to RUNNER_MAX_SPARE idle runners, one
#      retirement per grace period at most, retired runners exit cleanly and
#      are not replaced;
#   3. after a reload (SIGHUP) that starts 4 runners, the pool shrinks around
#      a runner busy in a long run: that runner is never retired and its run
#      finishes with run.finished; then the pool is back to one runner.
# The pool is watched through /api/metrics (claude_web_runners*), the
# master's "runner pool grows/shrinks" log lines and the runner processes.
# Waits are deadlines (wait_for), never sleeps.
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source=tests/integration/lib_auth.sh
. "$(dirname "$0")/lib_auth.sh"
# shellcheck source=tests/integration/lib_agent.sh
. "$(dirname "$0")/lib_agent.sh"
cw_require_agent
AGENT_NO_TOOLS=1

MAXR=4
CW_CONF[RUNNER_WORKERS]=1
CW_CONF[RUNNER_MIN_SPARE]=0
CW_CONF[RUNNER_MAX_SPARE]=1
CW_CONF[RUNNER_MAX]=$MAXR
CW_CONF[RUNNER_IDLE_GRACE]=2
CW_CONF[MAX_RUNS_PER_USER]=2
CW_CONF[MAX_SESSIONS]=100
# Section 3 reloads with a changed env-file.
CW_CONF_MODE='file'
# How long a run of the burst takes at the fake API (time to first byte).
SLOW_MS=4000
agent_stack_up
declare -A TOK=()
TOK[ann]=$TOKEN
for u in bob cat; do
	user_add "$u" "$u-password-1" || cw_bail "user add $u: $(cat "$ADMIN_OUT")"
	login "$u" "$u-password-1" || cw_bail "$u cannot log in"
	TOK[$u]=$TOKEN
done

# ---- helpers ------------------------------------------------------------------------------
# run_finished SID RUN: the run's final event in the log is run.finished.
run_finished() {
	redis_cli XRANGE "cw:{c}:events:$1" - + 2>/dev/null |
		grep -A2 -x -F 'run.finished' | grep -q "\"run_id\":\"$2\""
}

# runs_final: every run in RUNS ("SID RUN" lines) has its final event.
runs_final() {
	local sid run
	while read -r sid run; do
		run_final_in_redis "$sid" "$run" || return 1
	done <<<"$RUNS"
}

# The most runner processes and the highest target seen by sample.
PEAK=0
PEAK_TARGET=0
sample() {
	local n t
	n=$(pool_count runner)
	[ "$n" -gt "$PEAK" ] && PEAK=$n
	metrics_fetch || return 0
	t=$(metric claude_web_runners_target)
	[ "$t" -gt "$PEAK_TARGET" ] && PEAK_TARGET=$t
	return 0
}

# pool_is LIVE IDLE BUSY TARGET: the runner processes and the metrics say so
# ("-" skips a field).
pool_is() {
	metrics_fetch || return 1
	{ [ "$1" = - ] || [ "$(pool_count runner)" -eq "$1" ]; } &&
		{ [ "$2" = - ] || [ "$(metric 'claude_web_runners{state="idle"}')" -eq "$2" ]; } &&
		{ [ "$3" = - ] || [ "$(metric 'claude_web_runners{state="busy"}')" -eq "$3" ]; } &&
		{ [ "$4" = - ] || [ "$(metric claude_web_runners_target)" -eq "$4" ]; }
}

# log_lines MSG [FILTER]: jq FILTER (default .) over the master's MSG lines.
log_lines() {
	log_json "select(.msg == \"$1\") | ${2:-.}"
}

# ms of a log line's ts ("2026-01-02T03:04:05.678Z").
TS_MS='((.ts[0:19] + "Z" | fromdate) * 1000 + (.ts[20:23] | tonumber))'

# ---- 0. the pool at rest ------------------------------------------------------------------
metrics_fetch
for fam in 'claude_web_runners gauge' 'claude_web_runners_target gauge' \
	'claude_web_runner_spawns_total counter' 'claude_web_runner_retirements_total counter'; do
	like "$METRICS" "(^|$(printf '\n'))# TYPE $fam($(printf '\n')|\$)" "0: metrics declare # TYPE $fam"
done
check "0: one idle runner, target 1 (RUNNER_WORKERS)" wait_for 10 pool_is 1 1 0 1
api_get /api/health
is "$(json .checks.pools.runner.expected)/$(json .checks.pools.runner.live)" 1/1 \
	"0: health: pools.runner expected 1, live 1"

# ---- 1. a burst grows the pool, never above RUNNER_MAX ------------------------------------
fake_script "$(jq -cn --argjson d "$SLOW_MS" '{turns: [], default: {text: "A slow answer.", headers_delay_ms: $d}}')" ||
	cw_bail "the fake API refused the script"
log_mark
RUNS=''
n_ok=0
for u in ann bob cat; do
	TOKEN=${TOK[$u]}
	for i in 1 2; do
		new_session || cw_bail "$u cannot create a session: $HTTP_STATUS $(cat "$BODY")"
		post_msg "$SID" "burst $u $i"
		[ "$HTTP_STATUS" = 202 ] && [ -n "$RUN_ID" ] && n_ok=$((n_ok + 1))
		RUNS+="$SID $RUN_ID"$'\n'
	done
done
RUNS=${RUNS%$'\n'}
is "$n_ok" 6 "1: six runs queued by three users (202 each)"
check "1: the pool grows above one runner" wait_for 40 eval 'sample; [ "$PEAK" -ge 2 ]'
if wait_for 90 eval 'sample; runs_final'; then
	tap_ok "1: all six runs end"
else
	tap_fail "1: all six runs end" "$(redis_cli KEYS 'cw:{c}:run:*' | head -n 3)"
fi
nfin=0
while read -r sid run; do
	run_finished "$sid" "$run" && nfin=$((nfin + 1))
done <<<"$RUNS"
is "$nfin" 6 "1: ...each with run.finished"
diag "1: peak $PEAK runner processes, peak target $PEAK_TARGET"
cmp_ok "$PEAK" -ge 2 "1: more than one runner process during the burst ($PEAK)"
cmp_ok "$PEAK" -le "$MAXR" "1: never more than RUNNER_MAX ($MAXR) runner processes ($PEAK)"
cmp_ok "$PEAK_TARGET" -le "$MAXR" "1: the target never exceeds RUNNER_MAX ($PEAK_TARGET)"
grows=$(log_since | jq -cR 'fromjson? | select(.msg == "runner pool grows")')
cmp_ok "$(printf '%s\n' "$grows" | grep -c .)" -ge 1 "1: the master logged the growth (runner pool grows)"
is "$(printf '%s\n' "$grows" | jq -s '[.[] | select(.live > 4 or .target > 4)] | length')" 0 \
	"1: no growth line says live or target above RUNNER_MAX"
is "$(printf '%s\n' "$grows" | jq -r 'select(.reason != "backlog") | .reason' | sort -u | tr '\n' ' ')" "" \
	"1: every growth was for the backlog (RUNNER_MIN_SPARE=0)"
metrics_fetch
cmp_ok "$(metric claude_web_runner_spawns_total)" -ge 1 "1: claude_web_runner_spawns_total counts the growth"

# ---- 2. idle again: back to RUNNER_MAX_SPARE idle runners -----------------------------------
if wait_for 60 pool_is 1 1 0 1; then
	tap_ok "2: idle, the pool shrinks back to one runner (idle 1 <= RUNNER_MAX_SPARE, target 1)"
else
	tap_fail "2: idle, the pool shrinks back to one runner (idle 1 <= RUNNER_MAX_SPARE, target 1)" \
		"runners $(pool_count runner), $(printf '%s\n' "$METRICS" | grep '^claude_web_runner' | tr '\n' ' ')"
fi
shrinks=$(log_since | jq -cR 'fromjson? | select(.msg == "runner pool shrinks")')
nshrink=$(printf '%s\n' "$shrinks" | grep -c .)
spawned=$(log_since | jq -cR 'fromjson? | select(.msg == "runner pool grows") | .spawned' | awk '{ s += $1 } END { print s + 0 }')
is "$nshrink" "$spawned" "2: every runner the burst added retired again ($spawned added, $nshrink retired)"
gap=$(printf '%s\n' "$shrinks" | jq -s "[.[] | $TS_MS] | [range(1; length) as \$i | .[\$i] - .[\$i - 1]] | min // 99999")
cmp_ok "$gap" -ge 1900 "2: at most one retirement per RUNNER_IDLE_GRACE (closest two ${gap} ms apart)"
bad=''
for pid in $(printf '%s\n' "$shrinks" | jq -r .worker_pid); do
	st=$(log_lines "worker exited" "select(.worker_pid == $pid) | .status")
	[ "$st" = '"exit 0"' ] || bad="$bad $pid:$st"
done
is "$bad" "" "2: each retired runner exited cleanly (exit 0)"
metrics_fetch
is "$(metric claude_web_runner_retirements_total)" "$nshrink" "2: claude_web_runner_retirements_total counts them"
is "$(metric 'worker_restarts_total{pool="runner"}')" 0 "2: a retirement is not a restart: none was replaced"
api_get /api/health
is "$(json .checks.pools.runner.expected)/$(json .checks.pools.runner.live)" 1/1 \
	"2: health: pools.runner expected 1, live 1 again"

# ---- 3. reload to 4 runners, a busy runner is never retired -------------------------------
fake_reset
fake_script '{"turns": [{"text": "A long answer.", "headers_delay_ms": 10000}], "default": {"text": "Quick."}}' ||
	cw_bail "the fake API refused the script"
log_mark
CW_CONF[RUNNER_WORKERS]=4
cw_write_env_file
kill -HUP "$MASTER_PID"
gen=''
new_gen_full() {
	gen=$(log_since | jq -rR 'fromjson? | select(.msg == "starting new generation") | .generation' | tail -n 1)
	[ -n "$gen" ] || return 1
	[ "$(log_since | jq -R "fromjson? | select(.msg == \"worker started\" and .pool == \"runner\")" 2>/dev/null |
		jq -s length)" -ge 4 ]
}
check "3: the reload starts 4 runners (RUNNER_WORKERS=4)" wait_for 15 new_gen_full
# The dynamic pool may already be shrinking the new generation (one idle
# runner per RUNNER_IDLE_GRACE), so health's target is 4 plus what the master
# logged since the reload: read it between two identical log counts.
pool_moves() {
	log_since | jq -R 'fromjson? | if .msg == "runner pool grows" then .spawned elif .msg == "runner pool shrinks" then -1 else empty end' 2>/dev/null |
		awk '{ s += $1 } END { print s + 0 }'
}
health_target=''
health_target_is_logged() {
	local before after
	before=$(pool_moves)
	api_get /api/health
	health_target=$(json .checks.pools.runner.expected)
	after=$(pool_moves)
	[ "$before" = "$after" ] && [ "$health_target" = $((4 + before)) ]
}
check "3: health: pools.runner expected is 4 after the reload, less the retirements logged since" \
	wait_for 10 health_target_is_logged
TOKEN=${TOK[ann]}
new_session || cw_bail "cannot create a session: $HTTP_STATUS $(cat "$BODY")"
post_msg "$SID" "a long one"
is "$HTTP_STATUS" 202 "3: a long run is queued"
LONG=$RUN_ID
LSID=$SID
check "3: a runner takes it" wait_for 10 eval '[ -n "$(runner_pid_for "$LONG")" ]'
BUSY_PID=$(runner_pid_for "$LONG")
if wait_for 20 pool_is 2 1 1 2; then
	tap_ok "3: the pool shrinks around the busy runner (2 runners: 1 busy, 1 idle; target 2)"
else
	tap_fail "3: the pool shrinks around the busy runner (2 runners: 1 busy, 1 idle; target 2)" \
		"runners $(pool_count runner), $(printf '%s\n' "$METRICS" | grep '^claude_web_runner' | tr '\n' ' ')"
fi
check "3: the busy runner ($BUSY_PID) is still there" eval '! pid_gone "$BUSY_PID"'
RETIRED=$(log_since | jq -rR 'fromjson? | select(.msg == "runner pool shrinks") | .worker_pid' | tr '\n' ' ')
cmp_ok "$(printf '%s\n' $RETIRED | grep -c .)" -ge 2 "3: idle runners retired meanwhile ($RETIRED)"
unlike " $RETIRED " " $BUSY_PID " "3: the busy runner is not among the retired"
check "3: the long run ends" wait_for 30 run_final_in_redis "$LSID" "$LONG"
check "3: ...with run.finished" run_finished "$LSID" "$LONG"
if wait_for 20 pool_is 1 1 0 1; then
	tap_ok "3: idle again, back to one runner"
else
	tap_fail "3: idle again, back to one runner" \
		"runners $(pool_count runner), $(printf '%s\n' "$METRICS" | grep '^claude_web_runner' | tr '\n' ' ')"
fi
is "$(log_since | jq -rR 'fromjson? | select(.msg == "worker exited" and .worker_pool == "runner" and .level != "info") | .worker_pid' | tr '\n' ' ')" "" \
	"3: no runner exit was a crash"
api_get /api/health
is "$(json .status)" healthy "3: health is healthy"

tap_done
