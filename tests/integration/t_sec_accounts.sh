#!/usr/bin/env bash
# t_sec_accounts.sh: issue 10, accounts. (13) tokens die with the account
# state they were issued for: a password change, disable, delete and
# re-create, "sign out everywhere" (POST /api/auth/logout-all and
# claude-web-admin user logout-all) end every earlier token, through
# /api/auth/me, /api/auth/check (code-server), the API and the event stream.
# (15) failed logins lock a (user, address) pair with a doubling lockout, and
# slow the account down everywhere without ever blocking it: the right
# password from a clean address gets in while an attacker hammers the
# account, the admin's included. Client addresses are loopback addresses:
# curl --interface 127.0.0.N makes nginx see REMOTE_ADDR 127.0.0.N.
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source=tests/integration/lib_auth.sh
. "$(dirname "$0")/lib_auth.sh"
cw_require_tools python3
cw_require_admin

CW_CONF[LOGIN_RATE_LIMIT_PER_MINUTE]=100000
CW_CONF[RATE_LIMIT_PER_MINUTE]=100000
CW_CONF[LOGIN_MAX_FAILURES]=3
# Far longer than any wait below (OWNER_WAIT): whoever gets in did not wait
# a lockout out.
CW_CONF[LOGIN_LOCKOUT_SECONDS]=120
CW_CONF[LOGIN_LOCKOUT_MAX_SECONDS]=3600
CW_CONF[LOGIN_SLOWDOWN_MAX_SECONDS]=2
# Open event streams re-check their token at every ping.
CW_CONF[SSE_PING_INTERVAL]=1
SLOW_CAP=${CW_CONF[LOGIN_SLOWDOWN_MAX_SECONDS]}
# How long the owner may take to get in: the slowdown cap plus a generous
# margin for a loaded machine, and far below the 120 s of a lockout.
OWNER_WAIT=40
cw_start_all || cw_bail "could not start redis + claude-web + nginx"

for u in alice bob carol dave erin fred; do
	user_add "$u" "$u-password-1" || cw_bail "user add $u failed: $(cat "$ADMIN_OUT")"
done
user_add root root-password-1 admin || cw_bail "user add root failed: $(cat "$ADMIN_OUT")"

HS256='{"alg":"HS256","typ":"JWT"}'
XRW=(-H 'X-Requested-With: XMLHttpRequest')
gen_of() {
	redis_cli HGET "cw:{c}:user:$1" gen 2>/dev/null
}
# me_status TOKEN: the status of GET /api/auth/me with TOKEN (bearer).
me_status() {
	api_bearer "$1" /api/auth/me
	printf '%s\n' "$HTTP_STATUS"
}
# token_dead DESC TOKEN: refused by /api/auth/me (bearer and cookie),
# /api/auth/check (code-server's gate) and the sessions API.
token_dead() {
	local desc=$1 tok=$2 a b c d m
	api_bearer "$tok" /api/auth/me
	a=$HTTP_STATUS
	m=$(json .error.message)
	api_cookie "$tok" /api/auth/me
	b=$HTTP_STATUS
	api_bearer "$tok" /api/auth/check
	c=$HTTP_STATUS
	api_bearer "$tok" /api/sessions
	d=$HTTP_STATUS
	is "$a $b $c $d" "401 401 401 401" "$desc (me bearer/cookie, check, sessions: 401)" ||
		diag "me said: $m"
}

# ==== 13. tokens outlive account changes ==========================================
# ---- passwd ----------------------------------------------------------------------
login alice alice-password-1 || cw_bail "alice cannot log in"
A1=$TOKEN
login alice alice-password-1
A2=$TOKEN
is "$(me_status "$A1") $(me_status "$A2")" "200 200" "13: alice's two tokens work before the password change"
admin_pw alice-password-2 user passwd alice
is "$ADMIN_RC" 0 "13: claude-web-admin user passwd alice"
token_dead "13: after passwd alice's first token is dead" "$A1"
token_dead "13: ... and so is her second" "$A2"
api_bearer "$A1" /api/auth/me
like "$(json .error.message)" 'signed out' "13: the 401 says the token was signed out"
login alice alice-password-2
is "$HTTP_STATUS" 200 "13: the new password logs in"
is "$(me_status "$TOKEN")" 200 "13: ... and its token works"

# ---- disable / enable ------------------------------------------------------------------
login fred fred-password-1 || cw_bail "fred cannot log in"
F1=$TOKEN
cw_admin user disable fred
token_dead "13: a disabled user's token is dead" "$F1"
cw_admin user enable fred
token_dead "13: ... and stays dead after enable (disable signed fred out everywhere)" "$F1"
login fred fred-password-1
is "$(me_status "$TOKEN")" 200 "13: after enable fred logs in again with a new token"

# ---- delete, then re-create the same name ------------------------------------------------
login bob bob-password-1 || cw_bail "bob cannot log in"
B1=$TOKEN
old_gen=$(gen_of bob)
like "$old_gen" '^[0-9a-f]{32}$' "13: the user record has a 32-hex token generation"
is "$(jwt_part "$B1" 1 | jq -r .gen)" "$old_gen" "13: the login token carries it as the claim gen"
api_bearer "$B1" /api/sessions -X POST
is "$HTTP_STATUS" 201 "13: bob creates a session"
cw_admin user del bob
is "$ADMIN_RC" 0 "13: user del bob"
admin_pw bob-password-1 user add bob
is "$ADMIN_RC" 0 "13: user add bob again (same name, same password)"
isnt "$(gen_of bob)" "$old_gen" "13: the re-created bob has a new token generation"
token_dead "13: the deleted bob's token is dead for the re-created bob" "$B1"
now=$(now_s)
forged=$(jwt_forge "$HS256" "{\"sub\":\"bob\",\"jti\":\"$(openssl rand -hex 16)\",\"gen\":\"$old_gen\",\"iat\":$now,\"exp\":$((now + 600))}")
token_dead "13: a fresh token carrying the deleted bob's generation is dead too" "$forged"
login bob bob-password-1
is "$(me_status "$TOKEN")" 200 "13: the new bob logs in and his token works"
api_bearer "$TOKEN" /api/sessions
is "$(json '.sessions | length')" 0 "13: ... and sees none of the old bob's sessions"

# ---- sign out everywhere (API) -------------------------------------------------------------
login carol carol-password-1 || cw_bail "carol cannot log in"
C1=$TOKEN
login carol carol-password-1 --interface 127.0.0.2
C2=$TOKEN
api_bearer "$C2" /api/sessions -X POST
CS=$(json .id)
isnt "$CS" "" "13: carol has a session"
# The other device has the session's event stream open.
curl -4ks -N --max-time 120 -H "Authorization: Bearer $C2" -H 'Accept: text/event-stream' \
	"$BASE_URL/api/sessions/$CS/events" >"$T/stream.out" 2>/dev/null &
SPID=$!
BG_PIDS+=("$SPID")
check "13: the other device's event stream is open (snapshot received)" \
	wait_for 30 grep -q '^event: snapshot' "$T/stream.out"
api_get /api/auth/logout-all
is "$HTTP_STATUS" 405 "13: GET /api/auth/logout-all is 405"
api_get /api/auth/logout-all -X POST
is "$HTTP_STATUS" 401 "13: logout-all without a token is 401"
api_cookie "$C1" /api/auth/logout-all -X POST -H "Origin: https://localhost:$HTTPS_PORT"
is "$HTTP_STATUS" 403 "13: cookie logout-all without X-Requested-With is 403 (no cross-site sign-out)"
is "$(me_status "$C1") $(me_status "$C2")" "200 200" "13: ... and signed nobody out"
api_cookie "$C1" /api/auth/logout-all -X POST "${XRW[@]}" -H "Origin: https://localhost:$HTTPS_PORT"
is "$HTTP_STATUS" 204 "13: POST /api/auth/logout-all (cookie, same origin) is 204"
like "$(header Set-Cookie)" '^cw_token=;.*Max-Age=0' "13: ... and clears the cookie"
token_dead "13: sign out everywhere: the token that asked is dead" "$C1"
token_dead "13: sign out everywhere: the other device's token is dead" "$C2"
t0=$(now_ms)
if wait_for 60 pid_gone "$SPID"; then
	tap_ok "13: ... and its open event stream ends ($(($(now_ms) - t0)) ms, pings every 1 s)"
else
	tap_fail "13: ... and its open event stream ends" "still open after 60 s: $(tail -c 300 "$T/stream.out")"
fi
api_bearer "$C2" "/api/sessions/$CS/events"
is "$HTTP_STATUS" 401 "13: the other device cannot open the event stream any more"
api_bearer "$C2" "/api/sessions/$CS/events" -H 'Last-Event-ID: 0-0'
is "$HTTP_STATUS" 401 "13: ... nor resume it"
login carol carol-password-1
C3=$TOKEN
is "$(me_status "$C3")" 200 "13: carol signs in again afterwards"
api_bearer "$C3" /api/auth/logout-all -X POST
is "$HTTP_STATUS" 204 "13: logout-all with a bearer token is 204"
token_dead "13: ... and ends that token too" "$C3"

# ---- sign out everywhere (admin CLI) ----------------------------------------------------------
login dave dave-password-1 || cw_bail "dave cannot log in"
D1=$TOKEN
cw_admin user logout-all dave
is "$ADMIN_RC" 0 "13: claude-web-admin user logout-all dave exits 0"
token_dead "13: ... and dave's token is dead" "$D1"
login dave dave-password-1
is "$(me_status "$TOKEN")" 200 "13: dave can sign in again"
cw_admin user logout-all nobody
is "$ADMIN_RC" 1 "13: user logout-all of an unknown user exits 1"
is "$(redis_cli EXISTS cw:{c}:user:nobody)" 0 "13: ... and does not create it"

# ---- a record from before token generations ---------------------------------------------------
redis_cli HDEL cw:{c}:user:erin gen >/dev/null
now=$(now_s)
legacy=$(jwt_forge "$HS256" "{\"sub\":\"erin\",\"jti\":\"$(openssl rand -hex 16)\",\"iat\":$now,\"exp\":$((now + 600))}")
token_dead "13: a token without gen (issued before generations) is dead" "$legacy"
login erin erin-password-1
is "$HTTP_STATUS" 200 "13: a user whose record has no generation can log in"
like "$(gen_of erin)" '^[0-9a-f]{32}$' "13: ... and the login gave the record one"
is "$(me_status "$TOKEN")" 200 "13: ... that the new token carries"

# ==== 15. lockout by (user, address), slowdown per user ================================================
# login_until_in NAME PASSWORD SECONDS [CURL ARGS]: logs in, waiting out 429s
# (polling is harmless: a refused attempt is not a failure). FIRST_* describe
# the first answer, IN_MS the time until the 200.
LUI=()
lui_try() {
	[ "$HTTP_STATUS" = 200 ] && return 0
	login "${LUI[@]}"
	[ "$HTTP_STATUS" = 200 ]
}
login_until_in() {
	local secs=$3 t0
	LUI=("$1" "$2" "${@:4}")
	t0=$(now_ms)
	login "${LUI[@]}"
	FIRST_STATUS=$HTTP_STATUS
	FIRST_RA=$(header Retry-After)
	FIRST_MSG=$(json '.error.message // empty')
	wait_for "$secs" lui_try
	IN_MS=$(($(now_ms) - t0))
	[ "$HTTP_STATUS" = 200 ]
}

# ---- the admin, attacked from one address --------------------------------------------------------
st=''
for i in 1 2 3; do
	login root "wrong-$i" --interface 127.0.0.2
	st="$st$HTTP_STATUS "
done
is "$st" "401 401 401 " "15: three wrong passwords for root from 127.0.0.2 are 401"
login root root-password-1 --interface 127.0.0.2
is "$HTTP_STATUS" 429 "15: then the right password from 127.0.0.2 is 429 (that pair is locked)"
like "$(json .error.message)" 'from this address' "15: ... saying it is this address that is locked out"
ra=$(header Retry-After)
cmp_ok "$ra" -gt $((SLOW_CAP)) "15: ... for the pair lockout (Retry-After $ra s, LOGIN_LOCKOUT_SECONDS 120)"
cmp_ok "$ra" -le 120 "15: ... at most LOGIN_LOCKOUT_SECONDS"
if login_until_in root root-password-1 $OWNER_WAIT; then
	tap_ok "15: the right password from another address (127.0.0.1) gets in (${IN_MS} ms)"
else
	tap_fail "15: the right password from another address (127.0.0.1) gets in" \
		"last: $HTTP_STATUS $(cat "$BODY"); first: $FIRST_STATUS '$FIRST_MSG' Retry-After $FIRST_RA"
fi
if [ "$FIRST_STATUS" = 429 ]; then
	like "$FIRST_MSG" 'slowed down' "15: its first try may be slowed down, never locked out"
	cmp_ok "$FIRST_RA" -le "$SLOW_CAP" "15: ... by at most LOGIN_SLOWDOWN_MAX_SECONDS ($FIRST_RA s)"
else
	is "$FIRST_STATUS" 200 "15: its first try is served at once"
	tap_ok "15: (no slowdown to bound)"
fi
login root root-password-1 --interface 127.0.0.2
is "$HTTP_STATUS" 429 "15: the attacker's address stays locked after the owner's login"

# ---- the admin, hammered from many addresses while the owner logs in ----------------------------
STOP=$T/hammer.stop
rm -f "$STOP"
hammer() {
	local n=$1 i=0
	while [ ! -e "$STOP" ]; do
		i=$((i + 1))
		curl -4ks --max-time 10 -o /dev/null -w '%{http_code}\n' \
			--interface "127.0.0.$n" \
			-H 'Content-Type: application/json' \
			--data-binary "{\"username\":\"root\",\"password\":\"guess-$n-$i\"}" \
			"$BASE_URL/api/auth/login" >>"$T/hammer.$n" 2>/dev/null
	done
}
HPIDS=()
for n in 10 11 12 13; do
	hammer "$n" &
	HPIDS+=("$!")
	BG_PIDS+=("$!")
done
# The attack is under way: the account has failures from several addresses.
fails_at_least() {
	local f
	f=$(redis_cli GET cw:{c}:loginfail:user:root 2>/dev/null)
	[ "${f:-0}" -ge "$1" ]
}
check "15: the hammer produces failures for root from several addresses" wait_for 30 fails_at_least 6
if login_until_in root root-password-1 $OWNER_WAIT --interface 127.0.0.3; then
	tap_ok "15: while the hammer runs the owner gets in from a clean address (${IN_MS} ms)"
else
	tap_fail "15: while the hammer runs the owner gets in from a clean address" \
		"last: $HTTP_STATUS $(cat "$BODY"); first: $FIRST_STATUS '$FIRST_MSG' Retry-After $FIRST_RA"
fi
is "$FIRST_STATUS" 429 "15: the owner's first try was slowed down (the account is under attack)"
like "$FIRST_MSG" 'slowed down' "15: ... a slowdown, not a lockout"
cmp_ok "$FIRST_RA" -le "$SLOW_CAP" "15: ... of at most LOGIN_SLOWDOWN_MAX_SECONDS ($FIRST_RA s)"
is "$(me_status "$TOKEN")" 200 "15: the owner's token works"
touch "$STOP"
for p in "${HPIDS[@]}"; do
	wait "$p" 2>/dev/null
done
codes=$(cat "$T"/hammer.* 2>/dev/null | sort | uniq -c | awk '{ printf "%s:%s ", $2, $1 }')
diag "hammer answers: $codes"
is "$(cat "$T"/hammer.* | grep -vc -e '^401$' -e '^429$')" 0 "15: the hammer only ever got 401 or 429"
cmp_ok "$(cat "$T"/hammer.* | grep -c '^429$')" -gt 0 "15: ... and was slowed down or locked out"
cmp_ok "$(cat "$T"/hammer.* | grep -c '^401$')" -le 60 "15: ... after few checked guesses"

# ---- the pair lockout doubles -----------------------------------------------------------------------
# A second stack setting with a short first lockout, so the doubling can be
# waited for: 2 s, then 4 s, then 8 s.
cw_stop_app INT
CW_CONF[LOGIN_LOCKOUT_SECONDS]=2
CW_CONF[LOGIN_LOCKOUT_MAX_SECONDS]=6
cw_start_app || cw_bail "could not restart claude-web"
st=''
for i in 1 2 3; do
	login alice "wrong-$i" --interface 127.0.0.4
	st="$st$HTTP_STATUS "
done
is "$st" "401 401 401 " "15: alice from 127.0.0.4: three failures"
login alice alice-password-2 --interface 127.0.0.4
is "$HTTP_STATUS/$(json .error.message | grep -c 'from this address')" 429/1 "15: ... then locked"
PAIR=cw:{c}:loginfail:pair:alice:127.0.0.4
# The lock's length as the server recorded it (the Retry-After depends on
# when the test asks).
lock_len() {
	redis_cli HGET "$PAIR" lock 2>/dev/null
}
is "$(lock_len)" 2 "15: the first lockout is LOGIN_LOCKOUT_SECONDS (2 s)"
ra1=$(header Retry-After)
cmp_ok "$ra1" -le 2 "15: ... and Retry-After says at most that ($ra1 s)"
# next_failure: one wrong password that is checked (401) once the lock and
# any slowdown have run out.
next_failure() {
	login alice wrong-again --interface 127.0.0.4
	[ "$HTTP_STATUS" = 401 ]
}
t0=$(now_ms)
check "15: after the lockout one more wrong password is checked" wait_for 20 next_failure
cmp_ok $(($(now_ms) - t0)) -ge $(((ra1 - 1) * 1000)) "15: ... not before the lockout ran out"
is "$(lock_len)" 4 "15: that failure locks the pair again for twice as long (4 s)"
login alice alice-password-2 --interface 127.0.0.4
is "$HTTP_STATUS" 429 "15: ... refusing even the right password from 127.0.0.4"
cmp_ok "$(header Retry-After)" -le 4 "15: ... Retry-After at most 4"
check "15: after the second lockout one more wrong password is checked" wait_for 20 next_failure
is "$(lock_len)" 6 "15: the third lockout would be 8 s: capped at LOGIN_LOCKOUT_MAX_SECONDS (6)"
if login_until_in alice alice-password-2 $OWNER_WAIT --interface 127.0.0.5; then
	tap_ok "15: meanwhile alice gets in from another address (${IN_MS} ms)"
else
	tap_fail "15: meanwhile alice gets in from another address" "last: $HTTP_STATUS $(cat "$BODY")"
fi

tap_done
