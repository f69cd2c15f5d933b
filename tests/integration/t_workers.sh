#!/usr/bin/env bash
# t_workers.sh: the master keeps the api pool alive: crashed workers are
# replaced, workers are recycled after MAX_REQUESTS, a crash loop is slowed
# down (and recovers), and a request over REQUEST_TIMEOUT is killed. The
# bounds leave room for a loaded machine: what they tell apart (a respawn
# at once vs a backoff, a kill at the timeout vs a finished request) is
# further apart than any scheduling delay.
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"
cw_require_tools

# seq_requests N PATH: N sequential requests; prints the non-200 count.
seq_requests() {
	local n=$1 path=$2 i bad=0 code
	for ((i = 0; i < n; i++)); do
		code=$(curl -4ks --http2 --max-time 10 -o /dev/null -w '%{http_code}' "$BASE_URL$path")
		[ "$code" = 200 ] || bad=$((bad + 1))
	done
	echo "$bad"
}

new_api_pid() {
	local p
	for p in $(worker_pids api); do
		case " $old " in *" $p "*) ;; *) return 0 ;; esac
	done
	return 1
}

health_api_live() {
	api_get /api/health
	[ "$(json .checks.pools.api.live)" = "$1" ]
}

# ---- 1. kill -9 an api worker: replaced at once ------------------------------------
CW_CONF[REQUEST_TIMEOUT]=2
cw_start_all || cw_bail "could not start redis + claude-web + nginx"

old=$(worker_pids api | tr '\n' ' ')
victim=${old%% *}
is "$(printf '%s\n' $old | grep -c .)" 2 "two api workers are running"
t0=$(now_ms)
kill -KILL "$victim"
if wait_for 5 new_api_pid; then
	tap_ok "a replacement api worker appears at once after kill -9 ($(($(now_ms) - t0)) ms)"
else
	tap_fail "a replacement api worker appears at once after kill -9 (within 5 s)" "api workers: $(worker_pids api | tr '\n' ' ')"
fi
wait_for 10 pool_full api 2
is "$(pool_count api)" 2 "the api pool is back to 2 workers"
unlike " $(worker_pids api | tr '\n' ' ') " " $victim " "the killed worker is gone"
is "$(seq_requests 50 /api/live)" 0 "50 sequential requests after the kill all succeed"
like "$(log_json 'select(.msg == "worker exited" and .level == "warning") | .status' | tail -n 1)" 'signal 9' "the crash is logged as a warning (signal 9)"

# ---- 2. request timeout -------------------------------------------------------------
old=$(worker_pids api | tr '\n' ' ')
t0=$(now_ms)
CURL_MAX_TIME=40 api_get '/api/debug/sleep?ms=30000'
el=$(($(now_ms) - t0))
like "$HTTP_STATUS" '^(502|504)$' "a request over REQUEST_TIMEOUT=2 s fails with 502/504"
is_json_error "$HTTP_STATUS" "the timed-out request gets a JSON error body"
cmp_ok "$el" -lt 10000 "the 30 s request is cut off near the 2 s timeout (took $el ms)"
cmp_ok "$el" -ge 1900 "the request ran for about REQUEST_TIMEOUT before being killed ($el ms)"
line=$(log_json 'select(.msg == "request timeout: killing worker")' | tail -n 1)
like "$line" '"route":"/api/debug/sleep"' "log: \"request timeout: killing worker\" names the route"
like "$line" '"limit_ms":2000' "log: the timeout line has limit_ms 2000"
wait_for 10 pool_full api 2
is "$(pool_count api)" 2 "the api pool is back to full after the timeout kill"
api_get /api/live
is "$HTTP_STATUS" 200 "requests succeed after the timeout kill"
api_get '/api/debug/sleep?ms=500'
is "$HTTP_STATUS" 200 "a request under the timeout (500 ms) still succeeds"
api_get /api/health
is "$(json .status)" healthy "health is healthy after the timeout kill"

# ---- 3. max_requests recycling -----------------------------------------------------
cw_stop_app INT
CW_CONF[API_WORKERS]=1
CW_CONF[MAX_REQUESTS]=5
cw_start_app || cw_bail "could not restart claude-web"
first=$(worker_pids api)
is "$(printf '%s\n' $first | grep -c .)" 1 "one api worker with API_WORKERS=1"
log_mark
is "$(seq_requests 12 /api/live)" 0 "12 sequential requests with MAX_REQUESTS=5: none failed"
after=$(worker_pids api)
isnt "$after" "$first" "the api worker pid changed (recycled)"
n=$(log_since | grep -c '"msg":"recycling worker after max requests"')
cmp_ok "$n" -ge 2 "log: \"recycling worker after max requests\" (x$n for 12 requests)"
exited=$(log_since | jq -cR 'fromjson? | select(.msg == "worker exited" and .worker_pool == "api")' | tail -n 1)
like "$exited" '"status":"exit 0"' "a recycled worker exits with status 0"
like "$exited" '"level":"info"' "a recycled worker is not logged as a crash"
unlike "$(log_since)" 'crash loop' "recycling is not mistaken for a crash loop"

# ---- 4. crash loop ---------------------------------------------------------------------
cw_stop_app INT
CW_CONF[API_WORKERS]=2
CW_CONF[MAX_REQUESTS]=0
cw_start_app || cw_bail "could not restart claude-web"
log_mark
# kill_api: kills every api worker; counts in $kills.
kills=0
kill_api() {
	local p
	for p in $(worker_pids api); do
		kill -KILL "$p" 2>/dev/null && kills=$((kills + 1))
	done
}
crash_loop_logged() {
	log_since | grep -q '"msg":"crash loop'
}
# Kill until the master notices the loop (5 crashes in 10 s)...
deadline=$(($(now_ms) + 30000))
while [ "$(now_ms)" -lt "$deadline" ] && ! crash_loop_logged; do
	kill_api
	sleep 0.05
done
like "$(log_since | grep '"level":"error"')" '"msg":"crash loop' "log: an error line about the crash loop"
like "$(log_since | grep '"msg":"crash loop' | head -n 1)" '"worker_pool":"api"' "the crash loop line names the api pool"
# ...then keep killing for 5 s: with the backoff (1 s, doubling) only a few
# respawns fit; without it one every tick (200 ms) for each of 2 workers.
s0=$(log_since | grep '"msg":"worker spawned"' | grep -c '"worker_pool":"api"')
t1=$(now_ms)
while [ $(($(now_ms) - t1)) -lt 5000 ]; do
	kill_api
	sleep 0.05
done
stopped_killing=$(now_ms)
spawns=$(($(log_since | grep '"msg":"worker spawned"' | grep -c '"worker_pool":"api"') - s0))
diag "crash loop: $kills kills; $spawns api spawns in the 5 s after the loop was detected"
cmp_ok "$spawns" -le 8 "respawns are throttled: $spawns api spawns in 5 s (unthrottled: ~50)"
cmp_ok "$(log_since | grep '"msg":"worker spawned"' | grep -c '"worker_pool":"api"')" -ge 4 \
	"workers were respawned while being killed"
is "$(log_since | grep '"msg":"crash loop' | grep -c '"worker_pool":"stream"')" 0 "the stream pool is not affected by the api crash loop"
if wait_for 45 health_api_live 2; then
	tap_ok "after the killing stops the api pool recovers ($(($(now_ms) - stopped_killing)) ms)"
else
	tap_fail "after the killing stops the api pool recovers (within 45 s: the backoff is at most 30 s)" "health: $(cat "$BODY")"
fi
api_get /api/live
is "$HTTP_STATUS" 200 "requests succeed after the crash loop"
check "the master survived the crash loop" master_alive

tap_done
