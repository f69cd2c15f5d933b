#!/usr/bin/env bash
# t_health.sh: the probes and the static SPA, over TLS + HTTP/2 through nginx,
# with the production nginx template.
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"
cw_require_tools

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

# The pools may still be starting their stream/runner workers.
health_ok() {
	api_get /api/health
	[ "$HTTP_STATUS" = 200 ]
}
wait_for 5 health_ok
is "$HTTP_STATUS" 200 "GET /api/health is 200"
is "$(json .status)" healthy "health status is healthy"
is "$(json .checks.redis.status)" ok "health: checks.redis.status is ok"
is "$(json '.checks.redis.latency_ms | type')" number "health: redis latency is reported"
is "$(json .checks.disk.status)" ok "health: checks.disk.status is ok"
is "$(json .checks.disk.path)" "$T/workspace" "health: checks.disk.path is WORKSPACE_PATH"
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

tap_done
