#!/usr/bin/env bash
# t_jwt.sh: which tokens the API accepts. Tokens are forged with python3's
# stdlib (hmac/hashlib/base64) from the test's SECRET_KEY; a correctly forged
# token is accepted first, so every rejection below is about the one thing
# that differs.
# Times come from the server's clock (srv_now), fetched right before a token
# whose acceptance depends on it, so a slow machine cannot push a token
# across the leeway between crafting it and sending it.
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source=tests/integration/lib_auth.sh
. "$(dirname "$0")/lib_auth.sh"
cw_require_tools python3
cw_require_admin

CW_CONF[LOGIN_RATE_LIMIT_PER_MINUTE]=1000
cw_start_all || cw_bail "could not start redis + claude-web + nginx"

for u in alice bob dave erin; do
	user_add "$u" "$u-password-1" || cw_bail "user add $u failed: $(cat "$ADMIN_OUT")"
done
user_add root root-password-1 admin || cw_bail "user add root failed"

HS256='{"alg":"HS256","typ":"JWT"}'
# srv_now: the server's time (the Date header nginx sends; whole seconds,
# never ahead of the clock the app reads).
srv_now() {
	local d
	api_get /api/live
	d=$(header Date)
	date -u -d "$d" +%s 2>/dev/null || now_s
}
# gen_of USER: the user's token generation, as the record holds it.
gen_of() {
	redis_cli HGET "cw:{c}:user:$1" gen 2>/dev/null
}
now=$(srv_now)
# claims SUB [EXTRA JSON FIELDS]: a valid payload (exp in 10 minutes) with
# the user's current token generation.
claims() {
	printf '{"sub":"%s","jti":"%s","gen":"%s","iat":%d,"exp":%d%s}' "$1" \
		"$(openssl rand -hex 16)" "$(gen_of "$1")" "$now" $((now + 600)) "${2:+,$2}"
}

# rejected DESC TOKEN: /api/auth/me answers 401 with a JSON error, and
# /api/auth/check 401 too.
rejected() {
	local desc=$1 tok=$2 a b
	api_bearer "$tok" /api/auth/me
	a=$HTTP_STATUS
	b=$(json .error.type)
	api_bearer "$tok" /api/auth/check
	if [ "$a" = 401 ] && [ -n "$b" ] && [ "$HTTP_STATUS" = 401 ]; then
		tap_ok "$desc"
	else
		tap_fail "$desc" "me: $a (error type '$b'), check: $HTTP_STATUS; token: $tok"
	fi
}
accepted() {
	local desc=$1 tok=$2
	api_bearer "$tok" /api/auth/me
	if [ "$HTTP_STATUS" = 200 ] && [ "$(json .username)" = "${3:-alice}" ]; then
		tap_ok "$desc"
	else
		tap_fail "$desc" "status $HTTP_STATUS body $(head -c 300 "$BODY"); token: $tok"
	fi
}

# ---- the positive controls ---------------------------------------------------------
good=$(jwt_forge "$HS256" "$(claims alice)")
accepted "a token forged with HS256 and SECRET_KEY is accepted (bearer)" "$good"
api_cookie "$good" /api/auth/me
is "$HTTP_STATUS/$(json .username)" 200/alice "... and as the cw_token cookie"
accepted "a header without typ is fine" "$(jwt_forge '{"alg":"HS256"}' "$(claims alice)")"
login alice alice-password-1 || cw_bail "alice cannot log in"
real=$TOKEN
accepted "a token from /api/auth/login is accepted" "$real"
api_get /api/auth/me -H "Authorization: bearer $real"
is "$HTTP_STATUS" 200 "the Bearer scheme is case-insensitive"

# ---- algorithm confusion ---------------------------------------------------------------
p=$(claims alice)
rejected 'alg "none" with an empty signature is 401' "$(jwt_forge '{"alg":"none","typ":"JWT"}' "$p" '' none)"
rejected 'alg "none" with a signature part is 401' "$(jwt_forge '{"alg":"none","typ":"JWT"}' "$p" '' junk)"
rejected 'alg "None" is 401' "$(jwt_forge '{"alg":"None"}' "$p" '' junk)"
rejected 'alg HS512 signed with the correct key is 401' "$(jwt_forge '{"alg":"HS512","typ":"JWT"}' "$p" "${CW_CONF[SECRET_KEY]}" sha512)"
rejected 'alg HS384 signed with the correct key is 401' "$(jwt_forge '{"alg":"HS384","typ":"JWT"}' "$p" "${CW_CONF[SECRET_KEY]}" sha384)"
rejected 'alg RS256 header (HMAC-signed with the key: key confusion) is 401' "$(jwt_forge '{"alg":"RS256","typ":"JWT"}' "$p")"
rejected 'alg RS256 header with a junk signature is 401' "$(jwt_forge '{"alg":"RS256","typ":"JWT"}' "$p" '' junk)"
rejected 'a header without alg is 401' "$(jwt_forge '{"typ":"JWT"}' "$p")"
rejected 'alg "hs256" (wrong case) is 401' "$(jwt_forge '{"alg":"hs256"}' "$p")"

# ---- signature ---------------------------------------------------------------------------
rejected "HS256 signed with another key is 401" "$(jwt_forge "$HS256" "$p" 'another-secret-key-0123456789abcdef0123')"
# Flip one character in the middle of the signature (the last character
# carries padding bits and may decode to the same bytes).
sig=$(printf '%s' "$good" | cut -d. -f3)
mid=${sig:10:1}
if [ "$mid" = A ]; then rep=B; else rep=A; fi
bad_sig="$(printf '%s' "$good" | cut -d. -f1-2).${sig:0:10}$rep${sig:11}"
rejected "a token with one signature character changed is 401" "$bad_sig"
rejected "a token without its signature is 401" "$(printf '%s' "$good" | cut -d. -f1-2)."
rejected "a token with the signature cut off is 401" "$(printf '%s' "$good" | cut -d. -f1-2)"

# Tampered payload: alice's real token with sub changed to root (an admin),
# original signature kept.
h_real=$(printf '%s' "$real" | cut -d. -f1)
s_real=$(printf '%s' "$real" | cut -d. -f3)
p_root=$(jwt_part "$real" 1 | jq -c '.sub = "root"')
p_root_b64=$(printf '%s' "$p_root" | base64 -w0 | tr '+/' '-_' | tr -d '=')
rejected "alice's token with sub changed to root (signature kept) is 401" "$h_real.$p_root_b64.$s_real"
p_long=$(jwt_part "$real" 1 | jq -c '.exp += 86400')
p_long_b64=$(printf '%s' "$p_long" | base64 -w0 | tr '+/' '-_' | tr -d '=')
rejected "alice's token with exp extended by a day (signature kept) is 401" "$h_real.$p_long_b64.$s_real"

# ---- claims ------------------------------------------------------------------------------
j=$(openssl rand -hex 16)
ga=$(gen_of alice)
G="\"gen\":\"$ga\""
rejected "a token without exp is 401" "$(jwt_forge "$HS256" "{\"sub\":\"alice\",\"jti\":\"$j\",$G,\"iat\":$now}")"
rejected "a token with exp as a string is 401" "$(jwt_forge "$HS256" "{\"sub\":\"alice\",\"jti\":\"$j\",$G,\"iat\":$now,\"exp\":\"$((now + 600))\"}")"
# Expiry relative to the server's clock, read just before: a token 60 s
# past exp is beyond the 30 s leeway however slow the machine; one 5 s
# past exp stays inside it unless this one request takes 25 s.
now=$(srv_now)
rejected "a token expired 60 s ago (beyond the 30 s leeway) is 401" \
	"$(jwt_forge "$HS256" "{\"sub\":\"alice\",\"jti\":\"$j\",$G,\"iat\":$((now - 700)),\"exp\":$((now - 60))}")"
rejected "a token expired an hour ago is 401" \
	"$(jwt_forge "$HS256" "{\"sub\":\"alice\",\"jti\":\"$j\",$G,\"iat\":$((now - 7200)),\"exp\":$((now - 3600))}")"
now=$(srv_now)
accepted "a token expired 5 s ago (within the 30 s leeway) is accepted" \
	"$(jwt_forge "$HS256" "{\"sub\":\"alice\",\"jti\":\"$j\",$G,\"iat\":$((now - 600)),\"exp\":$((now - 5))}")"
now=$(srv_now)
rejected "a token with nbf 10 minutes in the future is 401" "$(jwt_forge "$HS256" "$(claims alice "\"nbf\":$((now + 600))")")"
accepted "a token with nbf in the past is accepted" "$(jwt_forge "$HS256" "$(claims alice "\"nbf\":$((now - 10))")")"
rejected "a token without sub is 401" "$(jwt_forge "$HS256" "{\"jti\":\"$j\",$G,\"iat\":$now,\"exp\":$((now + 600))}")"
rejected "a token without jti (cannot be revoked) is 401" "$(jwt_forge "$HS256" "{\"sub\":\"alice\",$G,\"iat\":$now,\"exp\":$((now + 600))}")"
# The token generation: a token must carry the account's current one.
rejected "a token without gen (the account's token generation) is 401" \
	"$(jwt_forge "$HS256" "{\"sub\":\"alice\",\"jti\":\"$j\",\"iat\":$now,\"exp\":$((now + 600))}")"
rejected "a token with another gen is 401" \
	"$(jwt_forge "$HS256" "{\"sub\":\"alice\",\"jti\":\"$j\",\"gen\":\"$(openssl rand -hex 16)\",\"iat\":$now,\"exp\":$((now + 600))}")"
rejected "a token with gen as a number is 401" \
	"$(jwt_forge "$HS256" "{\"sub\":\"alice\",\"jti\":\"$j\",\"gen\":1,\"iat\":$now,\"exp\":$((now + 600))}")"
rejected "a token with another user's gen is 401" \
	"$(jwt_forge "$HS256" "{\"sub\":\"alice\",\"jti\":\"$j\",\"gen\":\"$(gen_of bob)\",\"iat\":$now,\"exp\":$((now + 600))}")"
like "$(jwt_part "$real" 1 | jq -r .gen)" '^[0-9a-f]{32}$' "a login token carries the account's gen (32 hex)"
is "$(jwt_part "$real" 1 | jq -r .gen)" "$ga" "... equal to the user record's gen"
rejected "a token for a user that never existed is 401" "$(jwt_forge "$HS256" "$(claims nosuchuser)")"
rejected "garbage in the Authorization header is 401" "garbage"
rejected "a four-part token is 401" "$good.AAAA"
api_get /api/auth/me -H "Authorization: Basic $(printf 'alice:alice-password-1' | base64)"
is "$HTTP_STATUS" 401 "HTTP Basic credentials are not accepted"

# ---- users deleted or disabled after issue -------------------------------------------------
login dave dave-password-1
dave_tok=$TOKEN
dave_forged=$(jwt_forge "$HS256" "$(claims dave)")
accepted "dave's token works before his account is deleted" "$dave_tok" dave
cw_admin user del dave
is "$ADMIN_RC" 0 "claude-web-admin user del dave"
rejected "the token of a deleted user is 401" "$dave_tok"
rejected "a freshly forged, valid token for the deleted user is 401" "$dave_forged"
api_cookie "$dave_tok" /api/auth/me
is "$HTTP_STATUS" 401 "... also as a cookie"
# Re-creating the name gives a new account, with a new token generation:
# the deleted account's tokens stay dead (t_sec_accounts.sh has more).
admin_pw dave-password-1 user add dave
is "$ADMIN_RC" 0 "user add dave again (same name, same password)"
rejected "the deleted dave's token is 401 for the re-created dave" "$dave_tok"
rejected "... and so is the token forged for the deleted dave" "$dave_forged"

login erin erin-password-1
erin_tok=$TOKEN
cw_admin user disable erin
is "$ADMIN_RC" 0 "claude-web-admin user disable erin"
rejected "the token of a disabled user is 401" "$erin_tok"
api_bearer "$erin_tok" /api/sessions -X POST
is "$HTTP_STATUS" 401 "a disabled user cannot create sessions with an old token"
cw_admin user enable erin
rejected "after user enable the old token stays refused (disable signed erin out everywhere)" "$erin_tok"
login erin erin-password-1
accepted "erin logs in again and the new token works" "$TOKEN" erin

# ---- revocation by logout -------------------------------------------------------------------
login bob bob-password-1
bob_tok=$TOKEN
api_bearer "$bob_tok" /api/auth/logout -X POST
is "$HTTP_STATUS" 204 "POST /api/auth/logout is 204"
rejected "a token revoked by logout is 401" "$bob_tok"
api_cookie "$bob_tok" /api/sessions
is "$HTTP_STATUS" 401 "the revoked token is refused as a cookie on /api/sessions"
# The revocation is by jti: the same jti in a re-signed token is revoked too.
bob_jti=$(jwt_part "$bob_tok" 1 | jq -r .jti)
rejected "a newly forged token reusing the revoked jti is 401" \
	"$(jwt_forge "$HS256" "{\"sub\":\"bob\",\"jti\":\"$bob_jti\",\"gen\":\"$(gen_of bob)\",\"iat\":$now,\"exp\":$((now + 600))}")"
login bob bob-password-1
accepted "bob can log in again and use the new token" "$TOKEN" bob

# The token is looked up in Redis, not cached per worker: every api worker
# refuses it (several requests, so that more than one worker answers).
codes=''
for i in 1 2 3 4 5 6; do
	api_bearer "$bob_tok" /api/auth/me
	codes="$codes$HTTP_STATUS "
done
is "$codes" "401 401 401 401 401 401 " "the revoked token is refused by every worker"

tap_done
