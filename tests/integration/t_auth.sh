#!/usr/bin/env bash
# t_auth.sh: login, logout, /api/auth/me, /api/auth/check, per-user login
# lockout and CSRF rules, through nginx over TLS.
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source=tests/integration/lib_auth.sh
. "$(dirname "$0")/lib_auth.sh"
cw_require_tools python3
cw_require_admin

CW_CONF[ALLOWED_ORIGINS]='https://app.example.com, https://other.example.org'
CW_CONF[LOGIN_MAX_FAILURES]=4
CW_CONF[LOGIN_LOCKOUT_SECONDS]=4
# The per-address limit has its own test (t_limits.sh).
CW_CONF[LOGIN_RATE_LIMIT_PER_MINUTE]=1000
CW_CONF[SESSION_TIMEOUT]=900

cw_start_all || cw_bail "could not start redis + claude-web + nginx"

for u in alice carol dave erin mallory; do
	user_add "$u" "$u-password-1" || cw_bail "user add $u failed: $(cat "$ADMIN_OUT")"
done
user_add root root-password-1 admin || cw_bail "user add root failed: $(cat "$ADMIN_OUT")"

# ---- successful login ------------------------------------------------------------
t0=$(now_s)
login alice alice-password-1
is "$HTTP_STATUS" 200 "login with the right password is 200"
like "$HTTP_CT" '^application/json' "login answers JSON"
like "$TOKEN" '^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$' "login returns a three-part JWT in .token"
is "$(json .token_type)" Bearer "token_type is Bearer"
is "$(json .expires_in)" 900 "expires_in is SESSION_TIMEOUT (900)"
like "$(json .expires_at)" '^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z$' "expires_at is an ISO-8601 UTC time"
exp_at=$(date -u -d "$(json .expires_at)" +%s 2>/dev/null || echo 0)
cmp_ok "$((exp_at - t0))" -ge 898 "expires_at is about SESSION_TIMEOUT from now (lower bound)"
cmp_ok "$((exp_at - t0))" -le 903 "expires_at is about SESSION_TIMEOUT from now (upper bound)"
is "$(jq -c '.user | keys' "$BODY" 2>/dev/null)" \
	'["can_use_code_server","created_at","disabled","last_login","role","username"]' \
	"user object has username, role, created_at, last_login, disabled, can_use_code_server"
is "$(json .user.username)/$(json .user.role)/$(json .user.disabled)" alice/user/false \
	"user object: username alice, role user, not disabled"
like "$(json .user.created_at)" '^[0-9]{4}-.*Z$' "user.created_at is an ISO time"
like "$(json .user.last_login)" '^[0-9]{4}-.*Z$' "user.last_login is set by this login"

cookie=$(header Set-Cookie)
like "$cookie" "^cw_token=$TOKEN;" "Set-Cookie carries the same token as cw_token"
like "$cookie" '; *HttpOnly(;|$)' "the cookie is HttpOnly"
like "$cookie" '; *Secure(;|$)' "the cookie is Secure"
like "$cookie" '; *SameSite=Strict(;|$)' "the cookie is SameSite=Strict"

hdr=$(jwt_part "$TOKEN" 0)
pay=$(jwt_part "$TOKEN" 1)
is "$(printf '%s' "$hdr" | jq -r .alg)" HS256 "JWT header alg is HS256"
is "$(printf '%s' "$pay" | jq -r .sub)" alice "JWT sub is the user name"
like "$(printf '%s' "$pay" | jq -r .jti)" '^.{16,}$' "JWT has a jti"
is "$(printf '%s' "$pay" | jq -r '.exp - .iat')" 900 "JWT exp - iat == SESSION_TIMEOUT"
cmp_ok "$(printf '%s' "$pay" | jq -r '.iat')" -ge "$t0" "JWT iat is now"
# The signature is HS256 with SECRET_KEY: re-signing the same header and
# payload with the key gives the same token.
resigned=$(jwt_forge "$hdr" "$pay")
is "$(printf '%s' "$resigned" | cut -d. -f3)" "$(printf '%s' "$TOKEN" | cut -d. -f3)" \
	"the JWT is signed with HMAC-SHA256 and SECRET_KEY"

alice_tok=$TOKEN
login alice alice-password-1
alice_tok2=$TOKEN
isnt "$alice_tok2" "$alice_tok" "a second login issues a different token"
isnt "$(jwt_part "$alice_tok2" 1 | jq -r .jti)" "$(jwt_part "$alice_tok" 1 | jq -r .jti)" \
	"every token has its own jti"

# ---- /api/auth/me and /api/auth/check ----------------------------------------------
api_bearer "$alice_tok" /api/auth/me
is "$HTTP_STATUS" 200 "GET /api/auth/me with a bearer token is 200"
is "$(json .username)/$(json .role)/$(json .disabled)" alice/user/false "/api/auth/me returns the user"
unlike "$(cat "$BODY")" 'password|scrypt' "/api/auth/me does not leak the password hash"
api_cookie "$alice_tok" /api/auth/me
is "$HTTP_STATUS/$(json .username)" 200/alice "GET /api/auth/me with the cw_token cookie is 200"
api_get /api/auth/me
is_json_error 401 "GET /api/auth/me without a token is a 401 JSON error"
api_bearer "not.a.token" /api/auth/me
is "$HTTP_STATUS" 401 "GET /api/auth/me with garbage in Authorization is 401"

api_bearer "$alice_tok" /api/auth/check
is "$HTTP_STATUS" 204 "GET /api/auth/check with a valid token is 204"
is "$(header X-User)" alice "/api/auth/check sets X-User"
is "$(header X-User-Role)" user "/api/auth/check sets X-User-Role"
api_cookie "$alice_tok" /api/auth/check
is "$HTTP_STATUS/$(header X-User)" 204/alice "/api/auth/check accepts the cookie"
login root root-password-1
root_tok=$TOKEN
api_bearer "$root_tok" /api/auth/check
is "$HTTP_STATUS/$(header X-User)/$(header X-User-Role)" 204/root/admin "/api/auth/check: X-User-Role admin for an admin"
api_get /api/auth/check
is "$HTTP_STATUS" 401 "GET /api/auth/check without a token is 401"
is "$(header X-User)" "" "no X-User header on a failed check"

# ---- failed logins: one generic message --------------------------------------------
login alice wrong-password-1
is_json_error 401 "wrong password is a 401 JSON error"
is "$(json .error.message)" "invalid username or password" "wrong password: generic message"
is "$(header Set-Cookie)" "" "no cookie on a failed login"
is "$(json '.token // empty')" "" "no token on a failed login"
login nosuchuser whatever-password
is "$HTTP_STATUS/$(json .error.message)" "401/invalid username or password" "unknown user: 401 with the same message"
cw_admin user disable mallory
is "$ADMIN_RC" 0 "claude-web-admin user disable mallory"
login mallory mallory-password-1
is "$HTTP_STATUS/$(json .error.message)" "401/invalid username or password" "disabled user with the right password: 401 with the same message"
login Alice alice-password-1
is "$HTTP_STATUS" 401 "user names are case-sensitive (Alice is not alice)"

# ---- malformed requests ----------------------------------------------------------------
post_json /api/auth/login '{"username":"alice","password":'
is_json_error 400 "malformed JSON is a 400 JSON error"
post_json /api/auth/login '{"password":"alice-password-1"}'
is "$HTTP_STATUS/$(json .error.message)" "400/field 'username' is required" "missing username: 400 naming the field"
post_json /api/auth/login '{"username":"alice"}'
is "$HTTP_STATUS/$(json .error.message)" "400/field 'password' is required" "missing password: 400 naming the field"
post_json /api/auth/login '{"username":"alice","password":12345678}'
is "$HTTP_STATUS/$(json .error.message)" "400/field 'password' must be a string" "numeric password: 400 naming the field"
post_json /api/auth/login '{"username":["alice"],"password":"alice-password-1"}'
is "$HTTP_STATUS" 400 "array username: 400"
like "$(json .error.message)" "'username'" "array username: the message names the field"
post_json /api/auth/login '["alice","alice-password-1"]'
is "$HTTP_STATUS" 400 "a JSON array body is 400"
api_get /api/auth/login -X POST -H 'Content-Type: text/plain' \
	--data-binary "$(login_body alice alice-password-1)"
is_json_error 415 "Content-Type text/plain is a 415 JSON error"
api_get /api/auth/login -X POST -H 'Content-Type: application/x-www-form-urlencoded' \
	--data-binary 'username=alice&password=alice-password-1'
is "$HTTP_STATUS" 415 "a form-encoded login is 415"
api_get /api/auth/login -X POST -H 'Content-Type: application/json'
is "$HTTP_STATUS" 400 "an empty login body is 400"
api_get /api/auth/login
is "$HTTP_STATUS" 405 "GET /api/auth/login is 405"

# ---- per-(user, address) lockout -------------------------------------------------------------
# LOGIN_MAX_FAILURES=4: four failures, then even the right password is refused
# from that address (other addresses: t_sec_accounts.sh).
st=''
for i in 1 2 3 4; do
	login carol "wrong-$i-password"
	st="$st$HTTP_STATUS "
done
is "$st" "401 401 401 401 " "carol: the first LOGIN_MAX_FAILURES wrong passwords are 401"
t_locked=$(now_ms)
login carol carol-password-1
is_json_error 429 "carol: after LOGIN_MAX_FAILURES failures the right password is 429"
is "$(json .error.type)" rate_limited "the lockout error type is rate_limited"
like "$(json .error.message)" 'from this address' "the lockout message says it is for this address"
retry=$(header Retry-After)
cmp_ok "$retry" -ge 1 "the lockout has a Retry-After header (>= 1)"
cmp_ok "$retry" -le 4 "Retry-After is at most LOGIN_LOCKOUT_SECONDS"
is "$(json '.token // empty')" "" "no token while locked out"
login dave dave-password-1
is "$HTTP_STATUS" 200 "another user (dave) can still log in: the lockout is per user"
# Polling is harmless: refused attempts are not failures.
carol_in() {
	login carol carol-password-1
	[ "$HTTP_STATUS" = 200 ]
}
wait_for $((${retry:-4} + 10)) carol_in
is "$HTTP_STATUS" 200 "carol can log in again after LOGIN_LOCKOUT_SECONDS"
cmp_ok $(($(now_ms) - t_locked)) -ge $(((${retry:-4} - 1) * 1000)) "... and not before the lockout ran out"

# A successful login clears the failure count.
st=''
for i in 1 2 3; do
	login erin "wrong-$i-password"
	st="$st$HTTP_STATUS "
done
login erin erin-password-1
st="$st$HTTP_STATUS "
for i in 4 5 6; do
	login erin "wrong-$i-password"
	st="$st$HTTP_STATUS "
done
login erin erin-password-1
st="$st$HTTP_STATUS"
is "$st" "401 401 401 200 401 401 401 200" "a successful login resets the per-user failure count"

# ---- logout ------------------------------------------------------------------------------------
login dave dave-password-1
dave_a=$TOKEN
login dave dave-password-1
dave_b=$TOKEN
api_bearer "$dave_a" /api/auth/logout -X POST
is "$HTTP_STATUS" 204 "POST /api/auth/logout is 204"
like "$(header Set-Cookie)" '^cw_token=;.*Max-Age=0' "logout clears the cw_token cookie"
api_bearer "$dave_a" /api/auth/me
is_json_error 401 "the logged-out token is refused by /api/auth/me"
api_cookie "$dave_a" /api/auth/me
is "$HTTP_STATUS" 401 "the logged-out token is refused as a cookie too"
api_bearer "$dave_a" /api/auth/check
is "$HTTP_STATUS" 401 "the logged-out token fails /api/auth/check"
api_bearer "$dave_a" /api/auth/logout -X POST
is "$HTTP_STATUS" 401 "logging out twice with the same token is 401"
api_bearer "$dave_b" /api/auth/me
is "$HTTP_STATUS" 200 "logout revokes only that token: dave's other token still works"
api_get /api/auth/logout -X POST
is "$HTTP_STATUS" 401 "logout without a token is 401"

# ---- CORS ------------------------------------------------------------------------------------------
# acx: every Access-Control-* response header of the last request, lower-cased.
acx() {
	tr -d '\r' <"$HDRS" | grep -i '^access-control-' | tr '[:upper:]' '[:lower:]'
}
vary() {
	tr -d '\r' <"$HDRS" | grep -i '^vary:' | tr '\n' ' '
}
api_bearer "$alice_tok2" /api/auth/me -H 'Origin: https://app.example.com'
is "$HTTP_STATUS" 200 "CORS: a request from a listed Origin is served"
is "$(header Access-Control-Allow-Origin)" https://app.example.com "CORS: Access-Control-Allow-Origin echoes the listed Origin"
is "$(header Access-Control-Allow-Credentials)" true "CORS: Access-Control-Allow-Credentials: true"
like "$(vary)" '[Oo]rigin' "CORS: Vary: Origin"
api_bearer "$alice_tok2" /api/auth/me -H 'Origin: https://other.example.org'
is "$(header Access-Control-Allow-Origin)" https://other.example.org "CORS: the second listed Origin is echoed too"

api_get /api/sessions -X OPTIONS -H 'Origin: https://app.example.com' \
	-H 'Access-Control-Request-Method: POST' \
	-H 'Access-Control-Request-Headers: content-type, x-requested-with'
is "$HTTP_STATUS" 204 "CORS preflight from a listed Origin is 204"
is "$(header Access-Control-Allow-Origin)" https://app.example.com "preflight: Access-Control-Allow-Origin echoes the Origin"
is "$(header Access-Control-Allow-Credentials)" true "preflight: Access-Control-Allow-Credentials: true"
like "$(header Access-Control-Allow-Methods)" 'POST' "preflight: Access-Control-Allow-Methods includes POST"
like "$(header Access-Control-Allow-Methods)" 'PATCH' "preflight: Access-Control-Allow-Methods includes PATCH"
like "$(header Access-Control-Allow-Methods)" 'DELETE' "preflight: Access-Control-Allow-Methods includes DELETE"
allow_h=$(header Access-Control-Allow-Headers | tr '[:upper:]' '[:lower:]')
like "$allow_h" 'content-type' "preflight: Access-Control-Allow-Headers includes Content-Type"
like "$allow_h" 'x-requested-with' "preflight: Access-Control-Allow-Headers includes X-Requested-With"
like "$allow_h" 'authorization' "preflight: Access-Control-Allow-Headers includes Authorization"
api_get /api/sessions/0123456789abcdef0123456789abcdef -X OPTIONS -H 'Origin: https://app.example.com' \
	-H 'Access-Control-Request-Method: DELETE'
is "$HTTP_STATUS/$(header Access-Control-Allow-Origin)" 204/https://app.example.com "preflight for DELETE on a session URL is 204 (no auth needed)"

api_bearer "$alice_tok2" /api/auth/me -H 'Origin: https://evil.example.net'
is "$HTTP_STATUS" 200 "CORS: a request from an unlisted Origin is still answered (the browser enforces)"
is "$(acx)" "" "CORS: an unlisted Origin gets no Access-Control-* headers at all"
api_bearer "$alice_tok2" /api/auth/me -H 'Origin: https://app.example.com.evil.net'
is "$(acx)" "" "CORS: a look-alike Origin (listed one as a prefix) gets no Access-Control-* headers"
api_bearer "$alice_tok2" /api/auth/me
is "$(acx)" "" "CORS: no Origin, no Access-Control-* headers"
api_get /api/sessions -X OPTIONS -H 'Origin: https://evil.example.net' \
	-H 'Access-Control-Request-Method: POST'
is "$HTTP_STATUS" 403 "CORS preflight from an unlisted Origin is 403"
is "$(acx)" "" "... with no Access-Control-* headers"

# ---- CSRF: cookie-authenticated state changes --------------------------------------------------
XRW=(-H 'X-Requested-With: XMLHttpRequest')
nsess() {
	api_bearer "$alice_tok" /api/sessions
	json '.sessions | length'
}
n0=$(nsess)
api_cookie "$alice_tok" /api/sessions -X POST -H 'Origin: https://app.example.com'
is_json_error 403 "cookie POST without X-Requested-With is 403"
is "$(json .error.type)" permission_error "... with error type permission_error"
api_cookie "$alice_tok" /api/sessions -X POST "${XRW[@]}"
is "$HTTP_STATUS/$(json .error.type)" 403/permission_error "cookie POST with X-Requested-With but no Origin is 403"
api_cookie "$alice_tok" /api/sessions -X POST "${XRW[@]}" -H 'Origin: https://evil.example.net'
is "$HTTP_STATUS/$(json .error.type)" 403/permission_error "cookie POST from an unlisted Origin is 403"
api_cookie "$alice_tok" /api/sessions -X POST "${XRW[@]}" -H 'Origin: https://app.example.com.evil.net'
is "$HTTP_STATUS" 403 "cookie POST from a look-alike Origin (prefix of a listed one) is 403"
api_cookie "$alice_tok" /api/sessions -X POST "${XRW[@]}" -H 'Origin: null'
is "$HTTP_STATUS" 403 "cookie POST with Origin: null is 403"
api_cookie "$alice_tok" /api/sessions -X POST "${XRW[@]}" -H "Origin: http://localhost:$HTTPS_PORT"
is "$HTTP_STATUS" 403 "cookie POST from http://<host> (not https) is 403"
api_cookie "$alice_tok" /api/sessions -X POST "${XRW[@]}" -H "Origin: http://localhost"
is "$HTTP_STATUS" 403 "cookie POST from http://localhost (plain-HTTP origin) is 403"
is "$(nsess)" "$n0" "refused cross-site POSTs created no session"

api_cookie "$alice_tok" /api/sessions -X POST "${XRW[@]}" -H 'Origin: https://app.example.com'
is "$HTTP_STATUS" 201 "cookie POST with X-Requested-With and a listed Origin is 201"
sid=$(json .id)
api_cookie "$alice_tok" /api/sessions -X POST "${XRW[@]}" -H 'Origin: https://other.example.org'
is "$HTTP_STATUS" 201 "the second ALLOWED_ORIGINS entry is accepted too"
api_cookie "$alice_tok" /api/sessions -X POST "${XRW[@]}" -H "Origin: https://localhost:$HTTPS_PORT"
is "$HTTP_STATUS" 201 "cookie POST from the site's own origin (https://<Host>, what a browser sends) is 201"
[ "$HTTP_STATUS" = 201 ] || diag "body: $(cat "$BODY")"

api_cookie "$alice_tok" "/api/sessions/$sid" -X PATCH -H 'Content-Type: application/json' \
	--data-binary '{"title":"csrf"}' -H 'Origin: https://app.example.com'
is "$HTTP_STATUS/$(json .error.type)" 403/permission_error "cookie PATCH without X-Requested-With is 403"
api_cookie "$alice_tok" "/api/sessions/$sid" -X PATCH -H 'Content-Type: application/json' \
	--data-binary '{"title":"csrf"}' "${XRW[@]}" -H 'Origin: https://app.example.com'
is "$HTTP_STATUS/$(json .title)" 200/csrf "cookie PATCH with X-Requested-With and a listed Origin is 200"
api_cookie "$alice_tok" "/api/sessions/$sid" -X DELETE "${XRW[@]}" -H 'Origin: https://evil.example.net'
is "$HTTP_STATUS" 403 "cookie DELETE from an unlisted Origin is 403"
api_bearer "$alice_tok" "/api/sessions/$sid"
is "$HTTP_STATUS" 200 "... and the session still exists"
api_cookie "$alice_tok" /api/auth/logout -X POST
is "$HTTP_STATUS" 403 "cookie logout without X-Requested-With/Origin is 403 (no forced logout)"
api_cookie "$alice_tok" "/api/sessions/$sid"
is "$HTTP_STATUS" 200 "cookie GET needs no CSRF headers"
api_bearer "$alice_tok" /api/sessions -X POST
is "$HTTP_STATUS" 201 "bearer POST without X-Requested-With or Origin is 201 (exempt)"
api_bearer "$alice_tok" "/api/sessions/$sid" -X DELETE -H 'Origin: https://evil.example.net'
is "$HTTP_STATUS" 204 "bearer DELETE with an unlisted Origin is 204 (exempt)"
api_cookie "$alice_tok" /api/auth/logout -X POST "${XRW[@]}" -H 'Origin: https://app.example.com'
is "$HTTP_STATUS" 204 "cookie logout with X-Requested-With and a listed Origin is 204"
api_bearer "$alice_tok" /api/auth/me
is "$HTTP_STATUS" 401 "... and that token is now revoked"

tap_done
