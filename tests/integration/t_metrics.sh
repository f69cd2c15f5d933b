#!/usr/bin/env bash
# t_metrics.sh: GET /api/metrics (Prometheus text): who may read it, which
# families it has (claude_web_*, the unprefixed names as deprecated aliases
# with the same values, build_info), that the exposition is well-formed, and
# that the counters move by exactly what was done. Runs, the Anthropic API
# and event streams: t_metrics_ops.sh.
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source=tests/integration/lib_auth.sh
. "$(dirname "$0")/lib_auth.sh"
# shellcheck source=tests/integration/lib_metrics.sh
. "$(dirname "$0")/lib_metrics.sh"
cw_require_tools python3
cw_require_admin

CW_CONF[API_WORKERS]=2
CW_CONF[STREAM_WORKERS]=2
CW_CONF[RUNNER_WORKERS]=1
CW_CONF[LOGIN_RATE_LIMIT_PER_MINUTE]=1000
CW_CONF[RATE_LIMIT_PER_MINUTE]=100000
CW_CONF[INSTANCE_ID]=metrics-box-1
cw_start_all || cw_bail "could not start redis + claude-web + nginx"
user_add alice alice-password-1 || cw_bail "user add alice: $(cat "$ADMIN_OUT")"
login alice alice-password-1 || cw_bail "alice cannot log in"
A=$TOKEN
OTHER=$(other_local_addr)
[ -n "$OTHER" ] && via_addr "$OTHER"

# ---- access ------------------------------------------------------------------------
metrics_fetch
is "$HTTP_STATUS" 200 "GET /api/metrics from loopback is 200"
like "$HTTP_CT" '^text/plain; *version=0\.0\.4' "Content-Type is the Prometheus text format (text/plain; version=0.0.4)"
# The families every release had, now claude_web_*; the old names stay one
# release as aliases.
OLD_FAMILIES='http_requests_total counter
http_request_duration_seconds histogram
active_sessions gauge
workers gauge
worker_restarts_total counter
worker_crashes_total counter
request_timeouts_total counter
redis_errors_total counter
rate_limited_total counter
login_failures_total counter
logins_total counter
metrics_dropped_total counter'
while read -r fam type; do
	like "$METRICS" "^# TYPE claude_web_$fam $type$" "metrics declare: # TYPE claude_web_$fam $type"
done <<<"$OLD_FAMILIES"
for fam in 'claude_web_runs_total counter' 'claude_web_runs_resumed_total counter' \
	'claude_web_runs_continued_total counter' 'claude_web_run_duration_seconds histogram' \
	'claude_web_run_queue_wait_seconds histogram' 'claude_web_anthropic_requests_total counter' \
	'claude_web_anthropic_errors_total counter' 'claude_web_anthropic_retries_total counter' \
	'claude_web_anthropic_tokens_total counter' 'claude_web_event_streams gauge' \
	'claude_web_build_info gauge' 'claude_web_start_time_seconds gauge' \
	'claude_web_runners gauge' 'claude_web_runs_queue_depth gauge'; do
	like "$METRICS" "^# TYPE $fam$" "metrics declare: # TYPE $fam"
done
like "$METRICS" 'claude_web_rate_limited_total\{scope="api"\} [0-9]+' 'claude_web_rate_limited_total has scope="api"'
like "$METRICS" 'claude_web_rate_limited_total\{scope="login"\} [0-9]+' 'claude_web_rate_limited_total has scope="login"'
like "$METRICS" 'claude_web_worker_restarts_total\{pool="api"\} [0-9]+' 'claude_web_worker_restarts_total has pool="api"'
bad=$(printf '%s\n' "$METRICS" | grep -v '^#' | grep -v '^$' |
	grep -Ev '^[a-zA-Z_:][a-zA-Z0-9_:]*(\{[a-zA-Z_][a-zA-Z0-9_]*="[^"]*"(,[a-zA-Z_][a-zA-Z0-9_]*="[^"]*")*\})? [0-9.eE+-]+$' | head -n 3)
is "$bad" "" "every sample line is well-formed Prometheus text"
is "$(metrics_lint)" "" "the exposition passes the strict format check (HELP/TYPE once per family, contiguous families, valid names and escapes, no duplicate series, counters end in _total, histograms cumulative with +Inf == _count)"
is "$(metrics_families '' | grep -v '^claude_web_' | sort | tr '\n' ' ')" \
	"$(printf '%s\n' "$OLD_FAMILIES" | cut -d' ' -f1 | sort | tr '\n' ' ')" \
	"every family is claude_web_* except the deprecated aliases of the old names"

# ---- aliases ----------------------------------------------------------------------
# alias_lines PREFIX: the sample lines of the old families under PREFIX, without it.
alias_lines() {
	local fam type
	while read -r fam type; do
		printf '%s\n' "$METRICS" | grep -E "^$1$fam(_bucket|_sum|_count)?[{ ]" | sed "s/^$1//"
	done <<<"$OLD_FAMILIES"
}
alias_help_ok() {
	local fam type
	while read -r fam type; do
		printf '%s\n' "$METRICS" | grep -qxF "# HELP $fam Deprecated alias of claude_web_$fam (removed in the next release)." ||
			{ diag "no deprecation HELP for $fam"; return 1; }
		printf '%s\n' "$METRICS" | grep -qxF "# TYPE $fam $type" ||
			{ diag "no TYPE $type for $fam"; return 1; }
	done <<<"$OLD_FAMILIES"
}
check "each old name has HELP \"Deprecated alias of claude_web_X\" and its old TYPE" alias_help_ok
metrics_fetch
is "$(alias_lines '')" "$(alias_lines claude_web_)" \
	"every alias sample has the same labels and value as its claude_web_ sample (same scrape)"
cmp_ok "$(alias_lines '' | wc -l)" -ge 20 "... and there are samples to compare ($(alias_lines '' | wc -l))"

# ---- build_info --------------------------------------------------------------------
api_get /api/health
version=$(json '.version // empty')
metrics_fetch
like "$(printf '%s\n' "$METRICS" | grep -c '^claude_web_build_info{')" '^1$' "one claude_web_build_info sample"
like "$METRICS" "^claude_web_build_info\\{version=\"${version//./\\.}\",instance_id=\"metrics-box-1\",curl=\"[0-9.]+[^\"]*\",hiredis=\"[0-9]+\\.[0-9]+\\.[0-9]+\",json_c=\"[0-9.]+\"\\} 1$" \
	"claude_web_build_info{version=\"$version\" (as /api/health), instance_id=\"metrics-box-1\" (INSTANCE_ID), curl, hiredis, json_c} 1"
cmp_ok "$(metric claude_web_start_time_seconds | cut -d. -f1)" -le "$(now_s)" "claude_web_start_time_seconds is in the past"
cmp_ok "$(metric claude_web_start_time_seconds | cut -d. -f1)" -ge "$(($(now_s) - 3600))" "... and this stack started it (within the hour)"

sum_workers() {
	local pool=$1 s=0 st v
	for st in starting idle busy quitting; do
		v=$(metric "claude_web_workers{pool=\"$pool\",state=\"$st\"}")
		s=$((s + v))
	done
	echo "$s"
}
is "$(sum_workers api)" 2 'claude_web_workers{pool="api",...} add up to API_WORKERS (2)'
is "$(sum_workers stream)" 2 'claude_web_workers{pool="stream",...} add up to STREAM_WORKERS (2)'
cmp_ok "$(metric 'claude_web_workers{pool="api",state="busy"}')" -ge 1 'the worker serving /api/metrics counts as busy'

if [ -n "$OTHER" ]; then
	api_get /api/metrics "${VIA[@]}"
	is "$HTTP_STATUS" 403 "GET /api/metrics from a non-loopback client ($OTHER) is 403"
	unlike "$(cat "$BODY")" 'http_requests_total' "... and shows no metrics"
	rid=$(header X-Request-ID)
	sleep 0.3
	is "$(log_json "select(.msg == \"request\" and .request_id == \"$rid\") | .route")" "" \
		"nginx refuses it itself (allow/deny): the request never reaches the app"
else
	tap_skip 3 "no non-loopback IPv4 address on this host"
fi

# The app checks REMOTE_ADDR too (talking FastCGI to the api socket directly).
fcgi_metrics() {
	env -i REQUEST_METHOD=GET REQUEST_URI=/api/metrics SCRIPT_NAME=/api/metrics \
		SERVER_PROTOCOL=HTTP/1.1 GATEWAY_INTERFACE=CGI/1.1 REMOTE_ADDR="$1" \
		REQUEST_ID=fcgi-test cgi-fcgi -bind -connect "$API_SOCKET" 2>/dev/null |
		head -n 1 | tr -d '\r'
}
if command -v cgi-fcgi >/dev/null 2>&1; then
	like "$(fcgi_metrics 127.0.0.1)" '^Status: 200' "app: REMOTE_ADDR 127.0.0.1 gets the metrics (FastCGI direct)"
	like "$(fcgi_metrics 203.0.113.7)" '^Status: 403' "app: REMOTE_ADDR 203.0.113.7 (public) is refused by the app itself"
	like "$(fcgi_metrics 10.1.2.3)" '^Status: 200' "app: REMOTE_ADDR 10.1.2.3 (internal network, e.g. a Prometheus host) gets the metrics"
else
	tap_skip 3 "cgi-fcgi (libfcgi-bin) not installed"
fi

# ---- claude_web_login_failures_total -------------------------------------------------
metrics_fetch
f0=$(metric claude_web_login_failures_total)
fa0=$(metric login_failures_total)
l0=$(metric claude_web_logins_total)
login alice wrong-password-1
login alice wrong-password-2
login nosuchuser whatever-pass
login alice alice-password-1
metrics_fetch
is "$(($(metric claude_web_login_failures_total) - f0))" 3 "3 failed logins raise claude_web_login_failures_total by exactly 3"
is "$(($(metric claude_web_logins_total) - l0))" 1 "the successful login does not count as a failure (claude_web_logins_total +1)"
is "$(($(metric login_failures_total) - fa0))" 3 "the deprecated alias login_failures_total moves with it (+3)"
c0=$(metric 'claude_web_http_requests_total{method="POST",route="/api/auth/login",status="401"}')
login alice wrong-password-3
metrics_fetch
is "$(($(metric 'claude_web_http_requests_total{method="POST",route="/api/auth/login",status="401"}') - c0))" 1 \
	'claude_web_http_requests_total{method="POST",route="/api/auth/login",status="401"} +1 per failed login'

# ---- route templates ----------------------------------------------------------------------------
K='claude_web_http_requests_total{method="GET",route="/api/sessions/:id",status="200"}'
H='claude_web_http_request_duration_seconds_count{route="/api/sessions/:id"}'
K404='claude_web_http_requests_total{method="GET",route="/api/sessions/:id",status="404"}'
metrics_fetch
act0=$(metric claude_web_active_sessions)
api_bearer "$A" /api/sessions -X POST
sid=$(json .id)
[ "$HTTP_STATUS" = 201 ] || cw_bail "cannot create a session: $HTTP_STATUS $(cat "$BODY")"
metrics_fetch
is "$(($(metric claude_web_active_sessions) - act0))" 1 "claude_web_active_sessions goes up by 1 for a new session"
k0=$(metric "$K")
h0=$(metric "$H")
n0=$(metric "$K404")
api_bearer "$A" "/api/sessions/$sid"
api_bearer "$A" "/api/sessions/$sid"
api_bearer "$A" /api/sessions/0123456789abcdef0123456789abcdef
metrics_fetch
is "$(($(metric "$K") - k0))" 2 "GET a session twice: the /api/sessions/:id 200 counter goes up by exactly 2"
is "$(($(metric "$H") - h0))" 3 "the /api/sessions/:id latency histogram counted the 3 requests"
is "$(($(metric "$K404") - n0))" 1 "a missing session counts under the same template with status 404"
api_get "/api/nosuch/$sid/thing"
is "$HTTP_STATUS" 404 "an unknown endpoint is 404"
metrics_fetch
unlike "$METRICS" '[0-9a-f]{32}' "no 32-hex id appears anywhere in the metrics"
unlike "$METRICS" 'route="/api/sessions/[0-9a-f]' "no raw session path is used as a route label"
unlike "$METRICS" 'route="/api/nosuch' "unknown paths are not used as labels"
cmp_ok "$(metric 'claude_web_http_requests_total{method="GET",route="(not_found)",status="404"}')" -ge 1 \
	'unknown endpoints count under route="(not_found)"'

# The histogram is cumulative and +Inf equals _count.
hist_ok() {
	printf '%s\n' "$METRICS" | awk -v r="$1" '
		index($0, "claude_web_http_request_duration_seconds_bucket{route=\"" r "\",") == 1 {
			if ($2 + 0 < prev) bad = 1; prev = $2 + 0
			if ($0 ~ /le="\+Inf"/) inf = $2 + 0
		}
		index($0, "claude_web_http_request_duration_seconds_count{route=\"" r "\"}") == 1 { cnt = $2 + 0 }
		END { exit !(bad == 0 && cnt > 0 && inf == cnt) }'
}
check "the /api/sessions/:id histogram buckets are cumulative and +Inf == _count" hist_ok /api/sessions/:id

api_bearer "$A" "/api/sessions/$sid" -X DELETE
metrics_fetch
is "$(($(metric claude_web_active_sessions) - act0))" 0 "claude_web_active_sessions goes back down when the session is deleted"

# ---- worker_restarts_total ------------------------------------------------------------------------
r0=$(metric 'claude_web_worker_restarts_total{pool="api"}')
victim=$(worker_pids api | head -n 1)
if [ -n "$victim" ]; then
	kill -KILL "$victim"
	wait_for 10 pool_full api 2
	restarted() {
		metrics_fetch && [ "$(metric 'claude_web_worker_restarts_total{pool="api"}')" -gt "$r0" ]
	}
	wait_for 10 restarted
	is "$(($(metric 'claude_web_worker_restarts_total{pool="api"}') - r0))" 1 \
		'killing an api worker raises claude_web_worker_restarts_total{pool="api"} by 1'
	is "$(sum_workers api)" 2 "the api pool is back to API_WORKERS"
else
	tap_fail "killing an api worker raises worker_restarts_total" "no api worker pid found"
	tap_fail "the api pool is back to API_WORKERS" "no api worker pid found"
fi

# ---- claude_web_redis_errors_total ---------------------------------------------------
metrics_fetch
e0=$(metric claude_web_redis_errors_total)
cw_stop_redis
api_bearer "$A" /api/auth/me
is_json_error 503 "with Redis down an authenticated request is a 503 JSON error"
metrics_fetch
is "$HTTP_STATUS" 200 "/api/metrics still answers with Redis down"
cmp_ok "$(metric claude_web_redis_errors_total)" -gt "$e0" "claude_web_redis_errors_total goes up when Redis is down"
cw_start_redis || cw_bail "redis did not restart"
back() {
	api_bearer "$A" /api/auth/me
	[ "$HTTP_STATUS" = 200 ]
}
wait_for 10 back
is "$HTTP_STATUS" 200 "after Redis is back the same token works again"

tap_done
