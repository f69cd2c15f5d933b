#!/usr/bin/env bash
# t_sessions_list.sh: GET /api/sessions on its fast path (the page is one
# script, the index and the stored summaries, in the authentication's round
# trip; scripts by EVALSHA, JSON written straight into the response): a list
# read right after each kind of write shows the new value (PATCH of the
# title, mode and network policy, a run's status, an automatic title, a
# delete), it keeps working after a Redis restart and after SCRIPT FLUSH
# (-NOSCRIPT → EVAL), revoked, disabled, deleted and rate-limited callers
# are refused with nothing of the list, 200 sessions page correctly with
# the cursor, and a list item has the same fields and values as
# GET /api/sessions/<id>. Summaries: stored by a list, dropped by a write,
# rebuilt when of another layout or damaged.
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source=tests/integration/lib_auth.sh
. "$(dirname "$0")/lib_auth.sh"
# shellcheck source=tests/integration/lib_agent.sh
. "$(dirname "$0")/lib_agent.sh"
cw_require_agent

CW_CONF[MAX_SESSIONS]=250
CW_CONF[TITLE_MODEL]=claude-haiku-4-5
AGENT_NO_TOOLS=1
W=30
agent_stack_up
ANN=$TOKEN

ajson() {
	api_bearer "$1" "$3" -X "$2" -H 'Content-Type: application/json' --data-binary "$4"
}
# item SID [TOKEN]: the list's item for SID (jq -c), "" when absent.
item() {
	api_bearer "${2:-$ANN}" /api/sessions
	[ "$HTTP_STATUS" = 200 ] || return 0
	jq -c --arg s "$1" '.sessions[] | select(.id == $s)' "$BODY"
}
# field SID NAME: one field of SID's list item.
field() {
	item "$1" | jq -r ".$2"
}
field_is() {
	[ "$(field "$1" "$2")" = "$3" ]
}

# ---- the item is the session's JSON ---------------------------------------------------
new_session || cw_bail "cannot create a session"
S=$SID
api_bearer "$ANN" "/api/sessions/$S"
jq -c 'del(.usage, .todos)' "$BODY" >"$T/one.json"
is "$(item "$S")" "$(cat "$T/one.json")" \
	"a list item has the fields and values of GET /api/sessions/<id> (without usage, todos)"
is "$(field "$S" title)/$(field "$S" status)" "New session/idle" "a new session is listed idle with its default title"

# ---- writes that return, then a list read --------------------------------------------
ajson "$ANN" PATCH "/api/sessions/$S" '{"title":"Renamed \"quoted\" \\ päth\t1"}'
is "$HTTP_STATUS" 200 "PATCH title is 200"
is "$(field "$S" title)" "$(printf 'Renamed "quoted" \\ päth\t1')" \
	"the list right after PATCH title shows the new title (escapes and UTF-8 intact)"
ajson "$ANN" PATCH "/api/sessions/$S" '{"permission_mode":"plan"}'
is "$(field "$S" permission_mode)" plan "the list right after PATCH permission_mode shows plan"
ajson "$ANN" PATCH "/api/sessions/$S" '{"network_policy":"allowlist","allowed_domains":["example.com","docs.example.org"]}'
is "$HTTP_STATUS" 200 "PATCH network_policy allowlist is 200"
is "$(field "$S" network_policy)/$(item "$S" | jq -c .allowed_domains)" \
	'allowlist/["example.com","docs.example.org"]' \
	"the list right after PATCH network_policy shows the policy and its domains"
ajson "$ANN" PATCH "/api/sessions/$S" '{"network_policy":"off"}'
is "$(field "$S" network_policy)" off "... and after the next PATCH, off"
api_bearer "$ANN" "/api/sessions/$S"
jq -c 'del(.usage, .todos)' "$BODY" >"$T/one.json"
is "$(item "$S")" "$(cat "$T/one.json")" "after the PATCHes the item still equals the session's JSON"

# ---- a run: its status while it runs, then idle and an automatic title -----------------
new_session || cw_bail "cannot create a session"
S2=$SID
fake_reset
fake_script '{"turns":[{"text":"Held answer.","hold":"g1"},{"text":"Listed automatic title"}]}'
post_msg "$S2" "hello there"
is "$HTTP_STATUS" 202 "a run starts (202)"
check "the list shows the run's status (running) while the run is held" \
	wait_for "$W" field_is "$S2" status running
fake_release g1
check "the list shows idle once the run ended" wait_for "$W" field_is "$S2" status idle
check "the list shows the automatic title once it is set" \
	wait_for "$W" field_is "$S2" title "Listed automatic title"
api_bearer "$ANN" "/api/sessions/$S2"
want="$(json .title)/$(json .status)"
is "$(field "$S2" title)/$(field "$S2" status)" "$want" \
	"the list and GET /api/sessions/<id> agree after the run"

# ---- stored summaries: a page is one read ---------------------------------------------
api_bearer "$ANN" /api/sessions
is "$(redis_cli HEXISTS 'cw:{c}:summaries' "$S2")" 1 \
	"after a list, the session's summary is stored (the next page reads it alone)"
like "$(redis_cli HGET 'cw:{c}:summaries' "$S2")" '^S1[0-9]+:ann' "... in the S1 layout, owner first"
ajson "$ANN" PATCH "/api/sessions/$S2" '{"title":"Summary dropped"}'
is "$(redis_cli HEXISTS 'cw:{c}:summaries' "$S2")" 0 "a PATCH drops the summary in the same step"
is "$(field "$S2" title)" "Summary dropped" "... and the next list shows the new title"
redis_cli HSET 'cw:{c}:summaries' "$S2" 'S0 from another version' >/dev/null
is "$(field "$S2" title)" "Summary dropped" \
	"a summary of another layout is built again from the record, not shown or skipped"
like "$(redis_cli HGET 'cw:{c}:summaries' "$S2")" '^S1' "... and stored again"
redis_cli HSET 'cw:{c}:summaries' "$S2" 'S1garbage' >/dev/null
api_bearer "$ANN" /api/sessions
is "$HTTP_STATUS/$(jq '.sessions | length' "$BODY")" 200/1 \
	"a damaged summary leaves only that session out of the page, never a half-read item"
is "$(field "$S2" title)" "Summary dropped" "the page after that builds it again and lists the session"

# ---- delete ----------------------------------------------------------------------------
new_session || cw_bail "cannot create a session"
S3=$SID
isnt "$(item "$S3")" "" "a new session is listed"
api_bearer "$ANN" "/api/sessions/$S3" -X DELETE
is "$HTTP_STATUS" 204 "DELETE is 204"
is "$(item "$S3")" "" "the list right after DELETE does not show the session"
is "$(redis_cli HEXISTS 'cw:{c}:summaries' "$S3")" 0 "... and its summary is gone"

# ---- scripts flushed, then Redis restarted ------------------------------------------------
redis_cli SCRIPT FLUSH >/dev/null
api_bearer "$ANN" /api/sessions
is "$HTTP_STATUS/$(jq '.sessions | length' "$BODY")" 200/2 \
	"after SCRIPT FLUSH the list works (-NOSCRIPT: the script is sent again)"
ajson "$ANN" PATCH "/api/sessions/$S" '{"title":"After flush"}'
is "$HTTP_STATUS/$(field "$S" title)" "200/After flush" \
	"after SCRIPT FLUSH a PATCH (a script) works and the list shows it"
log_mark
redis_cli SCRIPT FLUSH >/dev/null
api_bearer "$ANN" /api/sessions
is "$(log_since | grep -c NOSCRIPT || true)" 0 "a -NOSCRIPT is not logged as an error"

redis_cli SAVE >/dev/null
cw_stop_redis TERM
cw_start_redis || cw_bail "could not restart redis"
list_ok() {
	api_bearer "$ANN" /api/sessions
	[ "$HTTP_STATUS" = 200 ]
}
check "after a Redis restart the list answers 200 again" wait_for "$W" list_ok
is "$(field "$S" title)/$(field "$S2" title)" "After flush/Summary dropped" \
	"after the restart the list shows the stored sessions"

# ---- refused callers get nothing of the list ---------------------------------------------
user_add eve eve-password-1 || cw_bail "user add eve"
login eve eve-password-1 || cw_bail "eve cannot log in"
EVE=$TOKEN
TOKEN=$EVE
new_session || cw_bail "eve cannot create a session"
api_bearer "$EVE" /api/sessions
is "$HTTP_STATUS/$(jq '.sessions | length' "$BODY")" 200/1 "eve lists her one session"
redis_cli SET 'cw:{c}:rl:api:eve' 1000000000 EX 60 >/dev/null
api_bearer "$EVE" /api/sessions
is "$HTTP_STATUS/$(json .error.type)" 429/rate_limited "over the rate limit: 429"
like "$(header Retry-After)" '^[0-9]+$' "... with Retry-After"
is "$(jq 'has("sessions")' "$BODY")" false "... and no list"
redis_cli DEL 'cw:{c}:rl:api:eve' >/dev/null
api_bearer "$EVE" /api/auth/logout -X POST
is "$HTTP_STATUS" 204 "eve logs out (the token is revoked)"
api_bearer "$EVE" /api/sessions
is "$HTTP_STATUS/$(json .error.message)" "401/invalid token: revoked" \
	"a revoked token: 401 invalid token: revoked"
is "$(jq 'has("sessions")' "$BODY")" false "... and no list"
login eve eve-password-1 || cw_bail "eve cannot log in again"
EVE=$TOKEN
cw_admin user disable eve
is "$ADMIN_RC" 0 "claude-web-admin user disable eve"
api_bearer "$EVE" /api/sessions
is "$HTTP_STATUS" 401 "a disabled user's token: 401"
like "$(json .error.message)" '^invalid token: ' "... invalid token: (why)"
is "$(jq 'has("sessions")' "$BODY")" false "... and no list"
user_add fay fay-password-1 || cw_bail "user add fay"
login fay fay-password-1 || cw_bail "fay cannot log in"
FAY=$TOKEN
cw_admin user delete fay
api_bearer "$FAY" /api/sessions
is "$HTTP_STATUS/$(json .error.message)" "401/invalid token: account no longer exists" \
	"a deleted user's token: 401 account no longer exists"
api_bearer "$FAY" "/api/sessions?limit=0"
is "$HTTP_STATUS" 401 "a deleted user with a bad query: still 401 first"
api_bearer "$ANN" "/api/sessions?limit=0"
is "$HTTP_STATUS" 400 "a bad limit: 400"
api_bearer "$ANN" "/api/sessions?all=1"
is "$HTTP_STATUS" 403 "?all=1 for a user: 403"

# ---- 200 sessions: pages and the cursor ---------------------------------------------------
user_add many many-password-1 || cw_bail "user add many"
login many many-password-1 || cw_bail "many cannot log in"
MANY=$TOKEN
for i in $(seq 1 200); do
	printf 'url = "%s/api/sessions"\noutput = "/dev/null"\n' "$BASE_URL"
done | curl -ks -K - -X POST -H "Authorization: Bearer $MANY" \
	-H 'Content-Type: application/json' --data-binary '{}' || true
is "$(redis_cli ZCARD 'cw:{c}:user_sessions:many')" 200 "many has 200 sessions"
# walk_pages QUERY JQ OUT MAX: follows next_cursor from GET /api/sessions?QUERY
# (at most MAX pages), appending JQ of each page to OUT; sets pages.
walk_pages() {
	local cursor='' sep
	: >"$3"
	pages=0
	while :; do
		sep=${1:+&}
		api_bearer "$MANY" "/api/sessions?$1${cursor:+${sep}cursor=$cursor}"
		[ "$HTTP_STATUS" = 200 ] || break
		pages=$((pages + 1))
		jq -r "$2" "$BODY" >>"$3"
		cursor=$(json '.next_cursor // empty')
		[ -n "$cursor" ] && [ "$pages" -lt "$4" ] || break
	done
}
walk_pages limit=100 '.sessions[] | [.created_at, .id] | @tsv' "$T/ids" 5
is "$pages" 2 "limit=100: two pages"
is "$(wc -l <"$T/ids")/$(cut -f2 "$T/ids" | sort -u | wc -l)" 200/200 \
	"the pages hold all 200 sessions, each once"
redis_cli ZREVRANGE 'cw:{c}:user_sessions:many' 0 -1 >"$T/want"
is "$(cut -f2 "$T/ids" | tr '\n' ' ')" "$(tr '\n' ' ' <"$T/want")" "... newest first"
walk_pages '' '.sessions[].id' "$T/ids20" 20
is "$pages/$(sort -u "$T/ids20" | wc -l)" 10/200 "the default page (20) walks all 200 in 10 pages"
is "$(tr '\n' ' ' <"$T/ids20")" "$(tr '\n' ' ' <"$T/want")" "... in the same order"

# A session in the middle of a delete (its record already renamed away, the
# index entry not yet removed) is left out of its page, and the pages after
# it still come: the page is cut by index position, not by what was shown.
gone=$(sed -n 2p "$T/want")
redis_cli RENAME "cw:{c}:session:$gone" "cw:{c}:deleting:$gone" >/dev/null
redis_cli HDEL 'cw:{c}:summaries' "$gone" >/dev/null
api_bearer "$MANY" "/api/sessions?limit=3"
is "$HTTP_STATUS/$(json '.sessions | length')/$(json '.sessions[1].id')" \
	"200/2/$(sed -n 3p "$T/want")" "a session being deleted is left out of its page"
cursor=$(json '.next_cursor // empty')
isnt "$cursor" "" "... and the page still has a next_cursor"
api_bearer "$MANY" "/api/sessions?limit=3&cursor=$cursor"
is "$(json '.sessions[0].id')" "$(sed -n 4p "$T/want")" "... that starts right after the page's last position"
walk_pages '' '.sessions[].id' "$T/ids20" 20
is "$pages/$(sort -u "$T/ids20" | wc -l)" 10/199 "the 20-session pages still walk the other 199 (10 pages)"
redis_cli RENAME "cw:{c}:deleting:$gone" "cw:{c}:session:$gone" >/dev/null

tap_done
