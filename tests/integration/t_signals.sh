#!/usr/bin/env bash
# t_signals.sh: the master's signals, as an operator uses them:
#   SIGHUP  reload without dropping a request (and refuse a bad config)
#   SIGUSR1 reopen the log file (logrotate); a storm of them under load
#           drops no request (libfcgi's accept used to close a connection
#           when a signal interrupted it: nginx answered 502)
#   SIGQUIT graceful stop: in-flight requests complete
#   SIGTERM graceful too (what Kubernetes and systemd send): /api/ready says
#           503 "draining" while the pools serve STOP_DRAIN_DELAY longer
#   SIGINT  fast stop
# The configuration comes from an env-file (--config) so SIGHUP re-reads it.
# Nothing here depends on the machine's speed: the load runs until the
# events it spans have happened, and in-flight requests are seen in flight
# (an api worker asleep in nanosleep) before a signal is sent.
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"
cw_require_tools

CW_CONF_MODE='file'

# ---- load generator: LOAD_JOBS loops of curl, 10 requests per connection ----------
LOAD_JOBS=3
load_start() {
	local j
	rm -f "$T/load.stop" "$T"/load.*.codes
	for ((j = 0; j < LOAD_JOBS; j++)); do
		(
			args=()
			for ((k = 0; k < 10; k++)); do
				args+=(-o /dev/null "$BASE_URL/api/live")
			done
			while [ ! -e "$T/load.stop" ]; do
				curl -4ks --http2 --max-time 10 -w '%{http_code}\n' "${args[@]}" \
					>>"$T/load.$j.codes" 2>/dev/null
			done
		) </dev/null >/dev/null 2>&1 &
		BG_PIDS+=($!)
	done
}
# load_count: responses received so far.
load_count() {
	cat "$T"/load.*.codes 2>/dev/null | grep -c .
}
load_stop() {
	local p
	touch "$T/load.stop"
	for p in "${BG_PIDS[@]}"; do
		wait "$p" 2>/dev/null
	done
	BG_PIDS=()
}

health_api() {
	api_get /api/health
	[ "$(json .checks.pools.api.live)" = "$1" ] && [ "$(json .checks.pools.api.expected)" = "$1" ]
}

# sleeping_api_worker: a worker is inside /api/debug/sleep (nanosleep; only
# that handler sleeps so). All children: the log with the "worker spawned"
# lines may have been rotated away.
sleeping_api_worker() {
	local p w s
	for p in $(all_children); do
		w=$(cat "/proc/$p/wchan" 2>/dev/null)
		s=$(cut -d' ' -f1 "/proc/$p/syscall" 2>/dev/null)
		case $w:$s in *nanosleep*:* | *:35 | *:230) return 0 ;; esac
	done
	return 1
}

# reloads_done N: the log has N "reload complete" lines since the mark.
reloads_done() {
	[ "$(log_since | grep -c '"msg":"reload complete')" -ge "$1" ]
}

all_gen() {
	local p g
	for p in $(all_children); do
		g=$(worker_generation "$p")
		[ "$g" = "$1" ] || return 1
	done
	return 0
}

cw_start_all || cw_bail "could not start redis + claude-web + nginx"
# The env-file really is the source of the settings.
like "$(tr '\0' ' ' <"/proc/$MASTER_PID/cmdline")" "--config $CW_ENV_FILE" "claude-web runs with --config (env-file)"

# ---- SIGHUP under load: no request fails -----------------------------------------------
gen1_pids=$(all_children | sort | tr '\n' ' ')
log_mark
load_start
wait_for 10 eval '[ "$(load_count)" -ge 10 ]' || diag "the load generator is slow to start"
# A slow request on an old worker must survive the reload (graceful drain).
(
	curl -4ks --http2 --max-time 30 -o "$T/hup-slow.body" -w '%{http_code}' \
		"$BASE_URL/api/debug/sleep?ms=3000" >"$T/hup-slow.code" 2>/dev/null
) </dev/null >/dev/null 2>&1 &
hup_slow=$!
wait_for 10 sleeping_api_worker || diag "the slow request was not seen in flight"
kill -HUP "$MASTER_PID"
wait_for 15 reloads_done 1 || diag "the first reload did not complete"
n0=$(load_count)
kill -HUP "$MASTER_PID"
wait_for 15 reloads_done 2 || diag "the second reload did not complete"
# Keep the load on until the old generations have drained.
wait_for 20 all_gen 3 || diag "old workers are still there"
wait_for 10 eval '[ "$(load_count)" -ge $((n0 + 10)) ]'
load_stop
wait "$hup_slow"
is "$(cat "$T/hup-slow.code")" 200 "a slow request in flight during SIGHUP completes with 200"
is "$(jq -r .slept_ms "$T/hup-slow.body" 2>/dev/null)" 3000 "the slow request got its full response"
total=$(load_count)
bad=$(cat "$T"/load.*.codes | grep -vc '^200$')
diag "SIGHUP under load: $total requests, $bad not 200"
cmp_ok "$total" -ge 30 "the load generator ran across both reloads ($total requests)"
is "$bad" 0 "no request failed across two SIGHUP reloads (non-200: $(cat "$T"/load.*.codes | grep -v '^200$' | sort | uniq -c | tr '\n' ' '))"

is "$(log_since | grep -c '"msg":"reload complete')" 2 "log: \"reload complete\" after each SIGHUP"
if wait_for 12 all_gen 3; then
	tap_ok "after the reloads every worker belongs to the new generation (3)"
else
	tap_fail "after the reloads every worker belongs to the new generation (3)" "children: $(all_children | tr '\n' ' ')"
fi
gen3_pids=$(all_children | sort | tr '\n' ' ')
common=$(comm -12 <(printf '%s\n' $gen1_pids | sort) <(printf '%s\n' $gen3_pids | sort) | tr '\n' ' ')
is "$common" "" "no worker of the first generation survives the reload"
is "$(printf '%s\n' $gen3_pids | grep -c .)" 5 "the new generation is complete (2 api + 2 stream + 1 runner)"
wait_for 10 health_api 2
is "$(json .status)" healthy "health is healthy after the reloads"
unlike "$(log_since | grep '"msg":"worker exited"')" '"level":"warning"' "draining old workers is not logged as crashes"

# ---- SIGHUP with a new setting: it takes effect ------------------------------------------
CW_CONF[API_WORKERS]=3
cw_write_env_file
kill -HUP "$MASTER_PID"
if wait_for 15 health_api 3; then
	tap_ok "reload applies a changed API_WORKERS (health: api live 3, expected 3)"
else
	tap_fail "reload applies a changed API_WORKERS (health: api live 3, expected 3)" "$(cat "$BODY")"
fi

# ---- SIGHUP with an invalid config: refused, old workers keep serving ---------------------
wait_for 20 all_gen 4
before=$(all_children | sort | tr '\n' ' ')
log_mark
CW_CONF[LOG_LEVEL]=bogus
cw_write_env_file
kill -HUP "$MASTER_PID"
wait_for 10 eval 'log_since | grep -q "reload refused"'
refused=$(log_since | grep '"msg":"reload refused')
like "$refused" '"level":"error"' "log: an invalid config on SIGHUP is refused (error line)"
like "$refused" 'LOG_LEVEL' "log: the refusal names the bad variable (LOG_LEVEL)"
# The refusal is logged after the master decided: no new generation follows.
is "$(all_children | sort | tr '\n' ' ')" "$before" "after a refused reload the same workers keep running"
unlike "$(log_since)" '"msg":"starting new generation"' "no new generation is started for a refused reload"
api_get /api/live
is "$HTTP_STATUS" 200 "requests succeed after a refused reload"
check "the master is still running after a refused reload" master_alive
CW_CONF[LOG_LEVEL]=debug
cw_write_env_file

# ---- SIGUSR1: reopen the log file ---------------------------------------------------------
mv "$CW_LOG" "$CW_LOG.1"
kill -USR1 "$MASTER_PID"
if wait_for 10 eval '[ -s "$CW_LOG" ]'; then
	tap_ok "SIGUSR1: a new log file appears after the old one was moved away"
else
	tap_fail "SIGUSR1: a new log file appears after the old one was moved away"
fi
like "$(cat "$CW_LOG" 2>/dev/null)" '"msg":"log reopened"' "the new log file has the master's \"log reopened\" line"
for ((i = 0; i < 20; i++)); do api_get /api/live; done
n=$(grep -c '"msg":"request"' "$CW_LOG" 2>/dev/null)
cmp_ok "$n" -ge 15 "workers log requests to the new file ($n of 20 request lines)"
old_size=$(wc -c <"$CW_LOG.1")
n0=$(grep -c '"msg":"request"' "$CW_LOG" 2>/dev/null)
for ((i = 0; i < 10; i++)); do api_get /api/live; done
is "$(wc -c <"$CW_LOG.1")" "$old_size" "the moved-away log file no longer grows"
is "$(($(grep -c '"msg":"request"' "$CW_LOG") - n0))" 10 "all 10 later requests are logged in the new file"

# ---- SIGUSR1 storm under load: no request fails ---------------------------------------------
log_mark
load_start
wait_for 10 eval '[ "$(load_count)" -ge 10 ]'
for ((i = 0; i < 300; i++)); do
	kill -USR1 "$MASTER_PID"
	sleep 0.01
done
n0=$(load_count)
wait_for 10 eval '[ "$(load_count)" -ge $((n0 + 10)) ]'
load_stop
total=$(load_count)
bad=$(cat "$T"/load.*.codes | grep -vc '^200$')
diag "SIGUSR1 storm: $total requests, $bad not 200"
is "$bad" 0 "no request failed during 300 SIGUSR1 under load (non-200: $(cat "$T"/load.*.codes | grep -v '^200$' | sort | uniq -c | tr '\n' ' '))"
# nginx may log a kept-alive connection that a worker shut down while a
# request was slow (worker.c sheds its other kept connections): nginx
# retried those requests on another connection, so none failed (above).
diag "connections closed under nginx (retried): $(grep -c 'while sending request to upstream\|prematurely closed' "$NGINX_ERRLOG")"
check "the master is still running after the storm" master_alive

# ---- SIGQUIT: graceful stop, the in-flight request completes -----------------------------
kids=$(all_children | tr '\n' ' ')
(
	curl -4ks --http2 --max-time 30 -o "$T/slow.body" -w '%{http_code}' \
		"$BASE_URL/api/debug/sleep?ms=5000" >"$T/slow.code" 2>/dev/null
) </dev/null >/dev/null 2>&1 &
slow=$!
wait_for 10 sleeping_api_worker || diag "the slow request was not seen in flight"
t0=$(now_ms)
kill -QUIT "$MASTER_PID"
wait_for 5 test ! -e "$API_SOCKET"
api_get /api/live
like "$HTTP_STATUS" '^(502|503)$' "during a graceful stop new requests are refused (502/503), not queued"
cmp_ok "$(awk -v t="$HTTP_TIME" 'BEGIN { printf "%d", t * 1000 }')" -lt 3000 "the refusal is immediate (< 3 s, not queued behind the 5 s request)"
is_json_error "$HTTP_STATUS" "the refusal during a graceful stop is JSON"
wait "$slow"
is "$(cat "$T/slow.code")" 200 "SIGQUIT: the in-flight slow request completes with 200"
is "$(jq -r .slept_ms "$T/slow.body" 2>/dev/null)" 5000 "SIGQUIT: the slow request got its full response"
if wait_for 10 pid_gone "$MASTER_PID"; then
	tap_ok "SIGQUIT: the master exits after the request ($(($(now_ms) - t0)) ms after the signal)"
else
	tap_fail "SIGQUIT: the master exits after the request (within 10 s)"
fi
gone=1
for p in $kids; do pid_gone "$p" || gone=0; done
is "$gone" 1 "SIGQUIT: no orphan workers are left"
check "SIGQUIT: the api socket is removed" test ! -e "$API_SOCKET"
check "SIGQUIT: the stream socket is removed" test ! -e "$STREAM_SOCKET"
check "SIGQUIT: the pid file is removed" test ! -e "$CW_PID_FILE"
like "$(tail -n 3 "$CW_LOG")" '"msg":"master exiting"' "SIGQUIT: log ends with \"master exiting\""
cw_stop_app INT 1
is "$MASTER_EXIT" 0 "SIGQUIT: the master exits with status 0"

# ---- SIGTERM: graceful, /api/ready says "draining" for STOP_DRAIN_DELAY ------------------
CW_CONF[API_WORKERS]=2
CW_CONF[STOP_DRAIN_DELAY]=3
cw_start_app || cw_bail "could not restart claude-web"
api_get /api/ready
is "$HTTP_STATUS" 200 "claude-web restarted, ready"
kids=$(all_children | tr '\n' ' ')
(
	curl -4ks --http2 --max-time 30 -o "$T/slow3.body" -w '%{http_code}' \
		"$BASE_URL/api/debug/sleep?ms=4000" >"$T/slow3.code" 2>/dev/null
) </dev/null >/dev/null 2>&1 &
slow=$!
wait_for 10 sleeping_api_worker || diag "the slow request was not seen in flight"
t0=$(now_ms)
log_mark
kill -TERM "$MASTER_PID"
ready_draining() {
	api_get /api/ready
	[ "$HTTP_STATUS" = 503 ] && [ "$(json .status)" = draining ]
}
check "SIGTERM: /api/ready answers 503 {\"status\":\"draining\"} once the stop begins" wait_for 5 ready_draining
is "$(json .error.type)" draining "SIGTERM: ...with a JSON error naming it"
api_get /api/live
is "$HTTP_STATUS" 200 "SIGTERM: during STOP_DRAIN_DELAY the instance still serves (/api/live 200)"
like "$(log_since | jq -R 'fromjson? | select(.msg | startswith("graceful stop")) | .drain_delay_s' 2>/dev/null)" '^3$' \
	"SIGTERM: the master logs a graceful stop with the drain delay"
wait "$slow"
is "$(cat "$T/slow3.code")" 200 "SIGTERM: the in-flight slow request completes with 200"
if wait_for 20 pid_gone "$MASTER_PID"; then
	tap_ok "SIGTERM: the master exits after the drain and the request ($(($(now_ms) - t0)) ms after the signal)"
else
	tap_fail "SIGTERM: the master exits after the drain and the request (within 20 s)"
fi
gone=1
for p in $kids; do pid_gone "$p" || gone=0; done
is "$gone" 1 "SIGTERM: no orphan workers are left"
check "SIGTERM: the api socket is removed" test ! -e "$API_SOCKET"
cw_stop_app INT 1
is "$MASTER_EXIT" 0 "SIGTERM: the master exits with status 0"
unset 'CW_CONF[STOP_DRAIN_DELAY]'

# ---- SIGINT: fast stop ----------------------------------------------------------------------
cw_start_app || cw_bail "could not restart claude-web"
api_get /api/live
is "$HTTP_STATUS" 200 "claude-web restarted"
kids=$(all_children | tr '\n' ' ')
(
	curl -4ks --http2 --max-time 40 -o /dev/null -w '%{http_code}' \
		"$BASE_URL/api/debug/sleep?ms=30000" >"$T/slow2.code" 2>/dev/null
) </dev/null >/dev/null 2>&1 &
slow=$!
wait_for 10 sleeping_api_worker || diag "the slow request was not seen in flight"
t0=$(now_ms)
kill -INT "$MASTER_PID"
if wait_for 5 pid_gone "$MASTER_PID"; then
	tap_ok "SIGINT: the master exits at once even with a 30 s request in flight ($(($(now_ms) - t0)) ms)"
else
	tap_fail "SIGINT: the master exits at once even with a 30 s request in flight (within 5 s)"
fi
gone=1
for p in $kids; do pid_gone "$p" || gone=0; done
is "$gone" 1 "SIGINT: all workers are gone"
check "SIGINT: the api socket is removed" test ! -e "$API_SOCKET"
wait "$slow"
like "$(cat "$T/slow2.code")" '^(502|504)$' "SIGINT: the in-flight request is cut off (502/504), not left hanging"
cw_stop_app INT 1
is "$MASTER_EXIT" 0 "SIGINT: the master exits with status 0"

tap_done
