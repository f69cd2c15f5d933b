#!/usr/bin/env bash
# t_health.sh: the probes and the static SPA, over TLS + HTTP/2 through nginx,
# with the production nginx template. /api/health tells anonymous callers
# and ordinary users only up/down; the details (version, paths, pools,
# latency) are for admins.
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source=tests/integration/lib_auth.sh
. "$(dirname "$0")/lib_auth.sh"
cw_require_tools
cw_require_admin

# The default: health details for admins only (lib.sh sets "local").
unset 'CW_CONF[HEALTH_DETAILS]'
cw_start_all || cw_bail "could not start redis + claude-web + nginx"

# ---- /api/live ---------------------------------------------------------------
api_get /api/live
is "$HTTP_STATUS" 200 "GET /api/live is 200"
is "$(json .status)" alive 'GET /api/live says {"status":"alive"}'
like "$HTTP_CT" '^application/json' "/api/live has a JSON content type"
is "$HTTP_VERSION" 2 "HTTP/2 is negotiated over TLS"
like "$(header Cache-Control)" 'no-store' "API responses are not cacheable (Cache-Control: no-store)"

# Security headers (nginx, `always`) on API responses...
like "$(header Strict-Transport-Security)" 'max-age=[1-9]' "Strict-Transport-Security is set"
like "$(header Content-Security-Policy)" "default-src 'self'" "Content-Security-Policy is set"
is "$(header X-Content-Type-Options)" nosniff "X-Content-Type-Options: nosniff"
like "$(header X-Frame-Options)" '^(DENY|SAMEORIGIN)$' "X-Frame-Options is set"
rid=$(header X-Request-ID)
like "$rid" '^[0-9a-f]{32}$' "X-Request-ID header carries nginx's request id"

# ...and the same request in the JSON log: the only /api/live request so far.
find_request_line() {
	line=$(log_json 'select(.msg == "request" and .route == "/api/live")' | head -n 1)
	[ -n "$line" ]
}
line=''
wait_for 3 find_request_line
like "$line" '"msg":"request"' "the JSON log has a \"request\" line for /api/live"
is "$(printf '%s' "$line" | jq -r .request_id)" "$rid" "the log line's request_id is nginx's request id (X-Request-ID)"
is "$(printf '%s' "$line" | jq -r .method)" GET "the request log line has method GET"
is "$(printf '%s' "$line" | jq -r .status)" 200 "the request log line has status 200"
is "$(printf '%s' "$line" | jq -r '.duration_ms | type')" number "the request log line has a numeric duration_ms"
is "$(printf '%s' "$line" | jq -r .pool)" api "the request was served by the api pool"
is "$(printf '%s' "$line" | jq -r .level)" info "a 200 request is logged at level info"

# Two requests never share an id.
api_get /api/live
isnt "$(header X-Request-ID)" "$rid" "every request gets its own request id"

# ---- /api/ready, /api/health ---------------------------------------------------
api_get /api/ready
is "$HTTP_STATUS" 200 "GET /api/ready is 200"
is "$(json .status)" ready "GET /api/ready says ready"
is "$(jq -c . "$BODY")" '{"status":"ready"}' "GET /api/ready says nothing else"

# The pools may still be starting their stream/runner workers.
health_ok() {
	api_get /api/health
	[ "$HTTP_STATUS" = 200 ]
}
wait_for 5 health_ok
is "$HTTP_STATUS" 200 "GET /api/health is 200"
is "$(json .status)" healthy "health status is healthy"
is "$(json .checks.redis.status)" ok "health: checks.redis.status is ok"
is "$(json .checks.disk.status)" ok "health: checks.disk.status is ok"
is "$(json .checks.pools.status)" ok "health: checks.pools.status is ok"
is "$(json .checks.code_server.status)" disabled "health: checks.code_server.status is disabled"
# Anonymous: the verdict only, nothing about what runs where.
is "$(json '[paths(type != "object" and type != "array") | map(tostring) | join(".")] | sort | join(" ")')" \
	"checks.code_server.critical checks.code_server.status checks.disk.status checks.pools.status checks.redis.status status" \
	"anonymous health: only the status and each component's status"
unlike "$(cat "$BODY")" "$T|workspace|version|latency|live|expected|free_bytes|uptime" \
	"anonymous health: no version, paths, pool sizes, latency or uptime"

# An ordinary user sees the same; an admin sees the details.
user_add ursula ursula-password-1 || cw_bail "user add ursula: $(cat "$ADMIN_OUT")"
user_add root root-password-1 admin || cw_bail "user add root: $(cat "$ADMIN_OUT")"
login ursula ursula-password-1 || cw_bail "ursula cannot log in"
api_bearer "$TOKEN" /api/health
is "$HTTP_STATUS/$(json .status)" 200/healthy "a user's health request is 200 healthy"
unlike "$(cat "$BODY")" "$T|workspace|version|latency|live|expected|free_bytes|uptime" \
	"a user (not admin) gets no details either"
api_bearer "garbage.token.here" /api/health
is "$HTTP_STATUS/$(json .status)" 200/healthy "a bad token still gets the anonymous health (a probe never sees 401)"
unlike "$(cat "$BODY")" "$T|version" "... without details"
login root root-password-1 || cw_bail "root cannot log in"
ADMIN=$TOKEN
api_bearer "$ADMIN" /api/health
is "$HTTP_STATUS/$(json .status)" 200/healthy "an admin's health request is 200 healthy"
is "$(json '.checks.redis.latency_ms | type')" number "admin health: redis latency is reported"
is "$(json .checks.disk.path)" "$T/workspace" "admin health: checks.disk.path is WORKSPACE_PATH"
is "$(json '.checks.disk.free_bytes | type')" number "admin health: free bytes are reported"
api_cookie "$ADMIN" /api/health
is "$(json .checks.disk.path)" "$T/workspace" "admin health with the cookie: details too"
api_bearer "$ADMIN" /api/health
is "$(json .checks.pools.api.live)" 2 "health: pools.api.live == API_WORKERS (2)"
is "$(json .checks.pools.api.expected)" 2 "health: pools.api.expected == 2"
is "$(json .checks.pools.stream.live)" 2 "health: pools.stream.live == STREAM_WORKERS (2)"
is "$(json .checks.pools.runner.live)" 1 "health: pools.runner.live == RUNNER_WORKERS (1)"
is "$(json .environment)" development "health reports the environment"
like "$(json .version)" '^[0-9]' "health reports the version"

# HEAD works like GET, without a body.
api_get /api/live -I
is "$HTTP_STATUS" 200 "HEAD /api/live is 200"

# ---- plain HTTP redirects to HTTPS -----------------------------------------------
out=$(curl -4s -o /dev/null -w '%{http_code} %{redirect_url}' \
	"http://localhost:$HTTP_PORT/api/live?x=1" 2>/dev/null)
is "${out%% *}" 301 "plain HTTP answers 301"
is "${out#* }" "https://localhost:$HTTPS_PORT/api/live?x=1" "the redirect goes to the same URL over HTTPS"
out=$(curl -4s -o /dev/null -w '%{redirect_url}' -H 'Host: evil.example' \
	"http://127.0.0.1:$HTTP_PORT/api/live?x=1" 2>/dev/null)
is "$out" "https://localhost:$HTTPS_PORT/api/live?x=1" \
	"the redirect goes to the configured host (PUBLIC_HOST), not the request's Host"

# ---- static SPA --------------------------------------------------------------------
api_get /
is "$HTTP_STATUS" 200 "GET / is 200"
like "$HTTP_CT" '^text/html' "GET / is HTML"
if cmp -s "$BODY" "$CW_STATIC_ROOT/index.html"; then
	tap_ok "GET / serves static/index.html"
else
	tap_fail "GET / serves static/index.html" "body: $(head -c 300 "$BODY")"
fi
like "$(header Content-Security-Policy)" "default-src 'self'" "static pages carry the security headers too"
is "$(header Strict-Transport-Security)" "max-age=31536000" "static pages carry HSTS"

api_get /sessions/abc
is "$HTTP_STATUS" 200 "an SPA path (/sessions/abc) is 200"
if cmp -s "$BODY" "$CW_STATIC_ROOT/index.html"; then
	tap_ok "an SPA path serves index.html (client-side routing)"
else
	tap_fail "an SPA path serves index.html (client-side routing)" "body: $(head -c 300 "$BODY")"
fi

# The first script index.html loads (the bundle, or the placeholder's app.js).
SCRIPT=$(grep -o '<script[^>]*src="[^"]*"' "$CW_STATIC_ROOT/index.html" | head -n 1 | sed 's/.*src="//; s/"$//')
case $SCRIPT in /*) ;; *) SCRIPT="/$SCRIPT" ;; esac
api_get "$SCRIPT"
is "$HTTP_STATUS" 200 "static assets are served ($SCRIPT)"
like "$HTTP_CT" '^application/javascript' "$SCRIPT has a JavaScript content type"

# ---- HEALTH_DETAILS=local: loopback clients see the details too ---------------------
cw_stop_app INT
CW_CONF[HEALTH_DETAILS]=local
cw_start_app || cw_bail "could not restart claude-web with HEALTH_DETAILS=local"
wait_for 10 health_ok
is "$(json .checks.disk.path)" "$T/workspace" "HEALTH_DETAILS=local: a loopback client sees the details without a token"
api_get /api/health --interface 127.0.0.2
is "$(json '.checks.pools.api.expected')" 2 "HEALTH_DETAILS=local: ... from any 127.x address"
OTHER=$(other_local_addr)
if [ -n "$OTHER" ]; then
	api_get /api/health --interface "$OTHER"
	is "$HTTP_STATUS/$(json .status)" 200/healthy "HEALTH_DETAILS=local: a client at $OTHER gets the health"
	unlike "$(cat "$BODY")" "$T|version|expected" "HEALTH_DETAILS=local: ... without details (not loopback)"
else
	tap_skip 2 "no non-loopback address on this host"
fi
cw_stop_app INT
CW_CONF[HEALTH_DETAILS]=everyone
CW_TIMEOUT=10 cw_app_cmd -t >"$T/t.out" 2>&1
is "$?" 78 "HEALTH_DETAILS=everyone is refused (exit 78)"
like "$(cat "$T/t.out")" 'HEALTH_DETAILS' "... naming the setting"

tap_done
