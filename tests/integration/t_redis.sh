#!/usr/bin/env bash
# t_redis.sh: readiness follows Redis, liveness does not; claude-web
# reconnects on its own when Redis comes back, and a hung Redis (SIGSTOP)
# makes probes fail fast instead of wedging the workers.
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"
cw_require_tools

ms_of() { awk -v t="$1" 'BEGIN { printf "%d", t * 1000 }'; }

status_is() {
	api_get "$1"
	[ "$HTTP_STATUS" = "$2" ]
}

# all_status PATH CODE: CODE for PATH on every api worker (a few requests
# in a row, so each worker's own connection is exercised).
all_status() {
	local i
	for ((i = 0; i < 4; i++)); do
		status_is "$1" "$2" || return 1
	done
}

cw_start_all || cw_bail "could not start redis + claude-web + nginx"
api_get /api/ready
is "$HTTP_STATUS" 200 "ready is 200 with Redis up"
master=$MASTER_PID
workers=$(worker_pids api | sort | tr '\n' ' ')

# ---- Redis stopped ------------------------------------------------------------------
cw_stop_redis TERM
check "redis has stopped" test ! -S "$REDIS_SOCKET"

api_get /api/ready
is_json_error 503 "Redis down: /api/ready is a 503 JSON error"
is "$(json .status)" not_ready "Redis down: /api/ready says not_ready"
like "$(json .error.message)" 'Redis' "Redis down: the ready error says Redis is not reachable"
api_get /api/ready
is "$HTTP_STATUS" 503 "Redis down: /api/ready stays 503 (second worker / second try)"
api_get /api/health
is "$HTTP_STATUS" 503 "Redis down: /api/health is 503"
is "$(json .status)" degraded "Redis down: health status is degraded"
is "$(json .checks.redis.status)" down "Redis down: checks.redis.status is down"
like "$(json .checks.redis.error)" '.' "Redis down: checks.redis.error explains why"
is "$(json .checks.pools.api.live)" 2 "Redis down: the worker pools are still reported"
api_get /api/live
is "$HTTP_STATUS" 200 "Redis down: /api/live is still 200"
cmp_ok "$(ms_of "$HTTP_TIME")" -lt 500 "Redis down: /api/live answers at once"
check "Redis down: the master is still running" master_alive
is "$(worker_pids api | sort | tr '\n' ' ')" "$workers" "Redis down: no api worker crashed or restarted"

# ---- Redis back: recovery without restarting claude-web -------------------------------------
cw_start_redis || cw_bail "could not restart redis"
t0=$(now_ms)
if wait_for 3 all_status /api/ready 200; then
	tap_ok "Redis back: /api/ready is 200 again ($(($(now_ms) - t0)) ms)"
else
	tap_fail "Redis back: /api/ready is 200 again within 3 s" "last: $HTTP_STATUS $(cat "$BODY")"
fi
if wait_for 3 all_status /api/health 200; then
	tap_ok "Redis back: /api/health is 200 again"
else
	tap_fail "Redis back: /api/health is 200 again within 3 s" "last: $HTTP_STATUS $(cat "$BODY")"
fi
is "$(json .status)" healthy "Redis back: health is healthy"
is "$(json .checks.redis.status)" ok "Redis back: checks.redis.status is ok"
is "$MASTER_PID" "$master" "Redis back: same claude-web master (no restart)"
is "$(worker_pids api | sort | tr '\n' ' ')" "$workers" "Redis back: same api workers (they reconnected)"

# ---- Redis hung (SIGSTOP): fail fast, no wedge --------------------------------------------
kill -STOP "$REDIS_PID"
api_get /api/ready
is_json_error 503 "Redis hung: /api/ready is a 503 JSON error"
cmp_ok "$(ms_of "$HTTP_TIME")" -lt 1500 "Redis hung: /api/ready answers within 1.5 s ($(ms_of "$HTTP_TIME") ms)"
api_get /api/ready
is "$HTTP_STATUS" 503 "Redis hung: a second /api/ready is 503 too"
cmp_ok "$(ms_of "$HTTP_TIME")" -lt 1500 "Redis hung: the second /api/ready also within 1.5 s ($(ms_of "$HTTP_TIME") ms)"
api_get /api/health
is "$HTTP_STATUS" 503 "Redis hung: /api/health is 503"
cmp_ok "$(ms_of "$HTTP_TIME")" -lt 1500 "Redis hung: /api/health answers within 1.5 s ($(ms_of "$HTTP_TIME") ms)"
api_get /api/live
is "$HTTP_STATUS" 200 "Redis hung: /api/live is still 200"
cmp_ok "$(ms_of "$HTTP_TIME")" -lt 500 "Redis hung: /api/live answers at once ($(ms_of "$HTTP_TIME") ms)"
kill -CONT "$REDIS_PID"
t0=$(now_ms)
if wait_for 3 all_status /api/ready 200; then
	tap_ok "Redis resumed (SIGCONT): /api/ready is 200 again ($(($(now_ms) - t0)) ms)"
else
	tap_fail "Redis resumed (SIGCONT): /api/ready is 200 again within 3 s" "last: $HTTP_STATUS $(cat "$BODY")"
fi
api_get /api/health
is "$HTTP_STATUS" 200 "Redis resumed: /api/health is 200"
is "$(worker_pids api | sort | tr '\n' ' ')" "$workers" "Redis resumed: same api workers throughout"

tap_done
