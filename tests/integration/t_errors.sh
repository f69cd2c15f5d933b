#!/usr/bin/env bash
# t_errors.sh: every error under /api is JSON, whether claude-web or nginx
# produced it, including when claude-web is down.
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"
cw_require_tools

CW_CONF[MAX_FILE_SIZE]=65536
cw_start_all || cw_bail "could not start redis + claude-web + nginx"

# ---- claude-web's own errors -----------------------------------------------------
api_get /api/nope
is_json_error 404 "GET /api/nope is a 404 JSON error"
is "$(json .error.type)" not_found "404 error type is not_found"
like "$(json .error.request_id)" '^[0-9a-f]{32}$' "the error body carries the request id"
is "$(json .error.request_id)" "$(header X-Request-ID)" "the body's request_id matches the X-Request-ID header"
like "$(header Content-Security-Policy)" "default-src" "error responses carry the security headers"

api_get /api
is_json_error 404 "GET /api (no trailing slash) is a 404 JSON error, not the SPA"

api_get /api/live -X POST -H 'Content-Type: application/json' --data '{}'
is_json_error 405 "POST /api/live is a 405 JSON error"
is "$(json .error.type)" method_not_allowed "405 error type is method_not_allowed"
like "$(header Allow)" '(^|[ ,])GET([ ,]|$)' "405 has an Allow header listing GET"
unlike "$(header Allow)" 'POST' "the Allow header does not list POST"

api_get /api/live -X DELETE
is_json_error 405 "DELETE /api/live is a 405 JSON error"

api_get /api/live -X BREW
like "$HTTP_STATUS" '^(400|405|501)$' "an unknown method (BREW) is refused"
is_json_error "$HTTP_STATUS" "an unknown method gets a JSON error body"

# Malformed paths: nginx may refuse them itself; either way the answer is JSON.
api_get '/api/li%zzve'
is_json_error 400 "a bad percent-escape (/api/li%zzve) is a 400 JSON error"
api_get '/api/live%00'
is_json_error 400 "an encoded NUL (/api/live%00) is a 400 JSON error"
api_get '/api/a%2Fb'
like "$HTTP_STATUS" '^(400|404)$' "an encoded slash (/api/a%2Fb) is refused"
is_json_error "$HTTP_STATUS" "an encoded slash gets a JSON error body"
api_get '/api/debug/sleep?ms=abc'
is_json_error 400 "a bad query parameter (/api/debug/sleep?ms=abc) is a 400 JSON error"

long=$(head -c 3000 /dev/zero | tr '\0' 'a')
api_get "/api/$long"
like "$HTTP_STATUS" '^(400|404|414)$' "a 3000-byte path is refused"
is_json_error "$HTTP_STATUS" "a 3000-byte path gets a JSON error body"

# ---- request body limit (nginx client_max_body_size from MAX_FILE_SIZE) ----------------
# The rendered nginx.conf must follow MAX_FILE_SIZE (plus the same 1 MiB
# headroom as scripts/start.sh), not a hard-coded value.
limit=$(sed -n 's/^[[:space:]]*client_max_body_size[[:space:]]*\([0-9]*\);.*/\1/p' "$NGINX_CONF" | head -n 1)
is "$limit" "$MAX_BODY_SIZE" "nginx client_max_body_size follows MAX_FILE_SIZE (65536 + 1 MiB)"

head -c $((MAX_BODY_SIZE + 4096)) /dev/zero >"$T/big.bin"
api_get /api/live -X POST -H 'Content-Type: application/octet-stream' --data-binary "@$T/big.bin"
is_json_error 413 "a body larger than the limit is a 413 JSON error (not nginx's HTML page)"
is "$(json .error.type)" request_too_large "413 error type is request_too_large"
unlike "$(cat "$BODY")" '<html' "the 413 body is not HTML"

# Same over HTTP/1.1 with Expect: 100-continue (what curl does for large uploads).
api_get /api/live --http1.1 -X POST -H 'Content-Type: application/octet-stream' --data-binary "@$T/big.bin"
is_json_error 413 "413 is JSON over HTTP/1.1 too"

head -c 1000 /dev/zero >"$T/small.bin"
api_get /api/live -X POST -H 'Content-Type: application/octet-stream' --data-binary "@$T/small.bin"
is "$HTTP_STATUS" 405 "a small body passes nginx and reaches claude-web (405 from the app)"

# ---- claude-web down: nginx errors are JSON too -----------------------------------
check "claude-web stops on SIGTERM" cw_stop_app TERM
for p in /api/live /api/health /api/nope; do
	api_get "$p"
	like "$HTTP_STATUS" '^(502|503)$' "with claude-web down, GET $p is 502/503"
	is_json_error "$HTTP_STATUS" "with claude-web down, GET $p is a JSON error"
	unlike "$(cat "$BODY")" '<html' "with claude-web down, GET $p is not HTML"
done
api_get /api/live -X POST --data '{}'
is_json_error "$HTTP_STATUS" "with claude-web down, POST /api/live is a JSON error"
cmp_ok "$(awk -v t="$HTTP_TIME" 'BEGIN { printf "%d", t * 1000 }')" -lt 2000 "with claude-web down, the error comes at once (< 2 s)"

# Static pages do not depend on claude-web.
api_get /
is "$HTTP_STATUS" 200 "with claude-web down, / still serves the SPA"

tap_done
