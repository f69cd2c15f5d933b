#!/usr/bin/env bash
# t_limits.sh: the per-address login rate limit and the per-user API rate
# limit, shared by all api workers through Redis.
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source=tests/integration/lib_auth.sh
. "$(dirname "$0")/lib_auth.sh"
cw_require_tools python3
cw_require_admin

CW_CONF[API_WORKERS]=3
CW_CONF[RATE_LIMIT_PER_MINUTE]=30
CW_CONF[LOGIN_RATE_LIMIT_PER_MINUTE]=6
# Keep the per-user failure lockout out of the way (t_auth.sh tests it).
CW_CONF[LOGIN_MAX_FAILURES]=100
cw_start_all || cw_bail "could not start redis + claude-web + nginx"
user_add alice alice-password-1 || cw_bail "user add alice: $(cat "$ADMIN_OUT")"
user_add bob bob-password-1 || cw_bail "user add bob"
OTHER=$(other_local_addr)
[ -n "$OTHER" ] && via_addr "$OTHER"

metrics_fetch
rl_login0=$(metric 'rate_limited_total{scope="login"}')
rl_api0=$(metric 'rate_limited_total{scope="api"}')

# ---- login attempts per client address ------------------------------------------------
# LOGIN_RATE_LIMIT_PER_MINUTE=6: six attempts (right or wrong) from 127.0.0.1,
# then the seventh is refused even with the right password.
st=''
for i in 1 2 3; do
	login alice "wrong-password-$i"
	st="$st$HTTP_STATUS "
	login bob bob-password-1
	st="$st$HTTP_STATUS "
done
is "$st" "401 200 401 200 401 200 " "the first LOGIN_RATE_LIMIT_PER_MINUTE (6) attempts from one address are served"
login alice alice-password-1
is_json_error 429 "the 7th login attempt within a minute is a 429 JSON error, even with the right password"
is "$(json .error.type)" rate_limited "... with error type rate_limited"
is "$(json '.token // empty')" "" "... and no token"
retry=$(header Retry-After)
cmp_ok "$retry" -ge 1 "the 429 carries Retry-After >= 1"
cmp_ok "$retry" -le 60 "Retry-After is at most 60 s"
login nosuchuser whatever-password
is "$HTTP_STATUS" 429 "the limit covers unknown user names too"

if [ -n "$OTHER" ]; then
	login alice alice-password-1 "${VIA[@]}"
	is "$HTTP_STATUS" 200 "a login from another client address ($OTHER) is still served: the limit is per address"
	A=$TOKEN
	login bob bob-password-1 "${VIA[@]}"
	B=$TOKEN
else
	tap_skip 1 "no non-loopback IPv4 address on this host"
	redis_cli --no-auth-warning DEL cw:{c}:rl:login:127.0.0.1 >/dev/null
	login alice alice-password-1
	A=$TOKEN
	login bob bob-password-1
	B=$TOKEN
fi
{ [ -n "$A" ] && [ -n "$B" ]; } || cw_bail "could not log in alice and bob for the API limit"

metrics_fetch
is "$(($(metric 'rate_limited_total{scope="login"}') - rl_login0))" 2 \
	'rate_limited_total{scope="login"} counts the two refused logins'

# ---- API requests per user, across workers ---------------------------------------------------
# RATE_LIMIT_PER_MINUTE=30 with 3 api workers: 40 concurrent requests, exactly
# 30 served in total whichever worker took them.
log_mark
codes=$(burst 40 8 /api/sessions -H "Authorization: Bearer $A")
n200=$(printf '%s\n' "$codes" | grep -c '^200$')
n429=$(printf '%s\n' "$codes" | grep -c '^429$')
is "$n200" 30 "40 concurrent requests by alice: exactly RATE_LIMIT_PER_MINUTE (30) are 200"
is "$n429" 10 "... and the other 10 are 429"

burst_lines() {
	log_since | jq -cR 'fromjson? | select(.msg == "request" and .route == "/api/sessions")'
}
all_logged() {
	[ "$(burst_lines | grep -c .)" -ge 40 ]
}
wait_for 5 all_logged
pids=$(burst_lines | jq -r .pid | sort -u | grep -c .)
pids200=$(burst_lines | jq -r 'select(.status == 200) | .pid' | sort -u | grep -c .)
cmp_ok "$pids" -ge 2 "the burst was served by several api workers ($pids distinct pids)"
cmp_ok "$pids200" -ge 2 "several workers ($pids200) served the 30 allowed requests: the count is shared, not per worker"
is "$(burst_lines | jq -r 'select(.status == 429)' | jq -s length)" 10 "the log has the 10 refused requests with status 429"

api_bearer "$A" /api/sessions
is_json_error 429 "alice's next request is a 429 JSON error"
is "$(json .error.type)" rate_limited "... with error type rate_limited"
retry=$(header Retry-After)
cmp_ok "$retry" -ge 1 "the API 429 carries Retry-After >= 1"
cmp_ok "$retry" -le 60 "the API Retry-After is at most 60 s"
api_bearer "$A" /api/sessions -X POST
is "$HTTP_STATUS" 429 "writes are limited too (POST /api/sessions is 429)"
api_bearer "$A" /api/auth/me
is "$HTTP_STATUS" 429 "GET /api/auth/me is limited too"
api_bearer "$B" /api/sessions
is "$HTTP_STATUS" 200 "bob is not affected: the limit is per user"
api_bearer "$A" /api/auth/check
is "$HTTP_STATUS/$(header X-User)" 204/alice "/api/auth/check (nginx auth_request) is not rate limited"

metrics_fetch
is "$(($(metric 'rate_limited_total{scope="api"}') - rl_api0))" 13 \
	'rate_limited_total{scope="api"} counts every refused API request (10 + 3)'

tap_done
