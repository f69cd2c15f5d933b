#!/usr/bin/env bash
# t_sessions.sh: the sessions API (create, list, read, patch, delete),
# workspace directories, templates, ownership and MAX_SESSIONS.
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source=tests/integration/lib_auth.sh
. "$(dirname "$0")/lib_auth.sh"
cw_require_tools python3 xxd
cw_require_admin

CW_CONF[MAX_SESSIONS]=4
CW_CONF[RATE_LIMIT_PER_MINUTE]=100000
CW_CONF[LOGIN_RATE_LIMIT_PER_MINUTE]=1000
WS=$T/workspace

# A template with a nested file, a dotfile and an executable.
TPL=$WS/shared/templates/hello
mkdir -p "$TPL/src/lib"
printf 'hello from the template\n' >"$TPL/README.md"
printf 'print("hi")\n' >"$TPL/src/lib/main.py"
printf 'secret=0\n' >"$TPL/.env.example"
printf '#!/bin/sh\necho run\n' >"$TPL/run.sh"
chmod 0755 "$TPL/run.sh"

cw_start_all || cw_bail "could not start redis + claude-web + nginx"
user_add alice alice-password-1 || cw_bail "user add alice: $(cat "$ADMIN_OUT")"
user_add bob bob-password-1 || cw_bail "user add bob"
user_add root root-password-1 admin || cw_bail "user add root"
login alice alice-password-1 || cw_bail "alice cannot log in"
A=$TOKEN
login bob bob-password-1 || cw_bail "bob cannot log in"
B=$TOKEN
login root root-password-1 || cw_bail "root cannot log in"
R=$TOKEN

# ajson TOKEN METHOD PATH JSON: a bearer request with a JSON body.
ajson() {
	api_bearer "$1" "$3" -X "$2" -H 'Content-Type: application/json' --data-binary "$4"
}

# ---- create ----------------------------------------------------------------------------
api_get /api/sessions -X POST
is "$HTTP_STATUS" 401 "POST /api/sessions without a token is 401"
api_get /api/sessions
is "$HTTP_STATUS" 401 "GET /api/sessions without a token is 401"

ajson "$A" POST /api/sessions '{}'
is "$HTTP_STATUS" 201 "POST /api/sessions {} is 201"
s1=$(json .id)
like "$s1" '^[0-9a-f]{32}$' "the session id is 32 hex characters"
is "$(header Location)" "/api/sessions/$s1" "Location header points at the new session"
is "$(jq -c 'keys' "$BODY")" \
	'["allowed_domains","created_at","id","last_activity","mcp_servers","model","network_policy","network_policy_max","owner","permission_mode","sandbox_network","status","template","title","updated_at"]' \
	"the session JSON has exactly the documented fields (no host path for a user)"
is "$(json .owner)/$(json .status)/$(json .permission_mode)" alice/idle/default \
	"defaults: owner is the caller, status idle, permission_mode default"
is "$(json .template)" null "no template: template is null"
like "$(json .title)" '.' "a default title is set"
like "$(json .model)" '.' "a default model is set"
like "$(json .created_at)" '^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:]{8}Z$' "created_at is an ISO time"
is "$(json .files_path)" null "a normal user never gets files_path (the host path)"
check "the session's files/ directory exists" dir_exists "$WS/sessions/session-$s1/files"
check "the session's .claude/ directory exists" dir_exists "$WS/sessions/session-$s1/.claude"
check "the session's metadata.json exists" file_exists "$WS/sessions/session-$s1/metadata.json"
is "$(jq -r '.id + " " + .owner' "$WS/sessions/session-$s1/metadata.json" 2>/dev/null)" "$s1 alice" \
	"metadata.json names the session and its owner"

ajson "$A" POST /api/sessions '{"title":"My project","model":"claude-opus-4-1","permission_mode":"plan","template":"hello"}'
is "$HTTP_STATUS" 201 "POST /api/sessions with every field is 201"
s2=$(json .id)
is "$(json .title)|$(json .model)|$(json .permission_mode)|$(json .template)" \
	"My project|claude-opus-4-1|plan|hello" "title, model, permission_mode and template are stored"
F2=$WS/sessions/session-$s2/files
is "$(cat "$F2/README.md" 2>/dev/null)" "hello from the template" "the template's files are copied into files/"
is "$(cat "$F2/src/lib/main.py" 2>/dev/null)" 'print("hi")' "nested template directories are copied"
check "template dotfiles are copied" file_exists "$F2/.env.example"
check "template executables stay executable" test -x "$F2/run.sh"
check "the template itself is untouched" file_exists "$TPL/README.md"

api_bearer "$A" /api/sessions -X POST
is "$HTTP_STATUS" 201 "POST /api/sessions without a body is 201"
s3=$(json .id)
isnt "$s3" "$s2" "every session gets a new id"

for m in default acceptEdits bypassPermissions; do
	ajson "$B" POST /api/sessions "{\"permission_mode\":\"$m\"}"
	is "$HTTP_STATUS/$(json .permission_mode)" "201/$m" "permission_mode $m is accepted"
	bs=$(json .id)
done
b_last=$bs

# ---- create: bad input -------------------------------------------------------------------
nb=$(find "$WS/sessions" -mindepth 1 -maxdepth 1 | wc -l)
ajson "$A" POST /api/sessions '{"template":"nosuch"}'
is "$HTTP_STATUS" 400 "an unknown template is 400"
like "$(json .error.message)" "template" "... naming the template field"
ajson "$A" POST /api/sessions '{"template":"../../../etc"}'
is "$HTTP_STATUS" 400 "a template name with ../ is 400"
ajson "$A" POST /api/sessions '{"template":"hello/../hello"}'
is "$HTTP_STATUS" 400 "a template name with a slash is 400"
ajson "$A" POST /api/sessions '{"permission_mode":"yolo"}'
is "$HTTP_STATUS" 400 "an invalid permission_mode is 400"
like "$(json .error.message)" "'permission_mode'" "... naming the permission_mode field"
ajson "$A" POST /api/sessions '{"permission_mode":1}'
is "$HTTP_STATUS" 400 "a numeric permission_mode is 400"
t201=$(printf 'x%.0s' $(seq 201))
ajson "$A" POST /api/sessions "{\"title\":\"$t201\"}"
is "$HTTP_STATUS" 400 "a 201-character title is 400"
like "$(json .error.message)" "'title'" "... naming the title field"
ajson "$A" POST /api/sessions '{"title":42}'
is "$HTTP_STATUS/$(json .error.message)" "400/field 'title' must be a string" "a numeric title is 400 naming the field"
ajson "$A" POST /api/sessions '{"title":'
is_json_error 400 "malformed JSON is a 400 JSON error"
api_bearer "$A" /api/sessions -X POST -H 'Content-Type: text/plain' --data-binary '{"title":"x"}'
is "$HTTP_STATUS" 415 "a non-JSON Content-Type is 415"
is "$(find "$WS/sessions" -mindepth 1 -maxdepth 1 | wc -l)" "$nb" "refused creations left no directories behind"

# ---- read ------------------------------------------------------------------------------------
api_bearer "$A" "/api/sessions/$s2"
is "$HTTP_STATUS/$(json .id)/$(json .title)" "200/$s2/My project" "GET /api/sessions/<id> returns the session"
api_bearer "$A" "/api/sessions/0123456789abcdef0123456789abcdef"
is_json_error 404 "GET of a missing session is a 404 JSON error"
api_bearer "$A" "/api/sessions/not-a-session-id"
is "$HTTP_STATUS" 404 "GET of a malformed id is 404"
api_bearer "$A" "/api/sessions/$(printf '%s' "$s2" | tr a-f A-F)"
is "$HTTP_STATUS" 404 "ids are lower-case hex: the upper-case spelling is 404"

# ---- list -----------------------------------------------------------------------------------
api_bearer "$A" /api/sessions
is "$HTTP_STATUS" 200 "GET /api/sessions is 200"
is "$(json '[.sessions[].id] | join(",")')" "$s3,$s2,$s1" "alice sees her sessions, newest first"
is "$(json .next_cursor)" null "next_cursor is null when everything fits"
is "$(json '[.sessions[].owner] | unique | join(",")')" alice "the list holds only the caller's sessions"

ids='' cursor='' pages=0 c_ok=1
while :; do
	api_bearer "$A" "/api/sessions?limit=1${cursor:+&cursor=$cursor}"
	[ "$HTTP_STATUS" = 200 ] || { c_ok=0; break; }
	[ "$(json '.sessions | length')" = 1 ] || c_ok=0
	ids="$ids${ids:+,}$(json '.sessions[0].id')"
	pages=$((pages + 1))
	cursor=$(json '.next_cursor // empty')
	[ -n "$cursor" ] && [ "$(json '.next_cursor | type')" != string ] && c_ok=0
	[ -z "$cursor" ] || [ "$pages" -ge 10 ] && break
done
is "$ids" "$s3,$s2,$s1" "paging with limit=1 and next_cursor walks every session once, newest first"
is "$pages/$c_ok" "3/1" "three pages of one session each; next_cursor is a string, then null"
api_bearer "$A" "/api/sessions?limit=2"
is "$(json '.sessions | length')/$(json '.next_cursor | type')" 2/string "limit=2: two sessions and a next_cursor"

for q in limit=0 limit=101 limit=abc limit=-1 cursor=bogus; do
	api_bearer "$A" "/api/sessions?$q"
	is "$HTTP_STATUS" 400 "GET /api/sessions?$q is 400"
done
api_bearer "$A" "/api/sessions?limit=100"
is "$HTTP_STATUS" 200 "limit=100 is allowed"

api_bearer "$A" "/api/sessions?all=1"
is_json_error 403 "?all=1 is 403 for a normal user"
api_bearer "$R" "/api/sessions?all=1"
is "$HTTP_STATUS" 200 "?all=1 is 200 for an admin"
is "$(json '[.sessions[].owner] | unique | join(",")')" alice,bob "an admin's ?all=1 lists every user's sessions"
is "$(json '.sessions | length')" 6 "?all=1 lists all six sessions"
api_bearer "$R" /api/sessions
is "$(json '.sessions | length')" 0 "without ?all=1 an admin sees only their own sessions"

# ---- another user's session --------------------------------------------------------------
api_bearer "$B" /api/sessions/0123456789abcdef0123456789abcdef
missing_msg=$(json .error.message)
api_bearer "$B" "/api/sessions/$s2"
is_json_error 404 "bob GETs alice's session: 404"
is "$(json .error.message)" "$missing_msg" "... with the same message as a missing session"
ajson "$B" PATCH "/api/sessions/$s2" '{"title":"pwned"}'
is "$HTTP_STATUS" 404 "bob PATCHes alice's session: 404"
api_bearer "$B" "/api/sessions/$s2" -X DELETE
is "$HTTP_STATUS" 404 "bob DELETEs alice's session: 404"
api_bearer "$A" "/api/sessions/$s2"
is "$HTTP_STATUS/$(json .title)" "200/My project" "alice's session still exists, unchanged"
check "alice's session directory still exists" dir_exists "$F2"

api_bearer "$R" "/api/sessions/$s2"
is "$HTTP_STATUS/$(json .owner)" 200/alice "an admin may GET anyone's session"
is "$(json .files_path)" "$WS/sessions/session-$s2/files" \
	"an admin (who may use code-server) gets files_path: WORKSPACE_PATH/sessions/session-<id>/files"
api_bearer "$R" "/api/sessions?all=1"
is "$(json '[.sessions[] | select(.files_path == null)] | length')" 0 "... in listings too"
api_bearer "$A" /api/sessions
is "$(json '[.sessions[] | select(has("files_path"))] | length')" 0 "a user's listing has no files_path"
ajson "$A" PATCH "/api/sessions/$s2" '{"title":"My project"}'
is "$HTTP_STATUS/$(json 'has("files_path")')" 200/false "nor has a PATCH answer"
ajson "$R" PATCH "/api/sessions/$s3" '{"title":"renamed by admin"}'
is "$HTTP_STATUS/$(json .title)/$(json .owner)" "200/renamed by admin/alice" "an admin may PATCH anyone's session (owner unchanged)"
api_bearer "$R" "/api/sessions/$b_last" -X DELETE
is "$HTTP_STATUS" 204 "an admin may DELETE anyone's session"
api_bearer "$B" "/api/sessions/$b_last"
is "$HTTP_STATUS" 404 "... and it is gone for its owner"

# ---- patch ------------------------------------------------------------------------------------
ajson "$A" PATCH "/api/sessions/$s1" '{"title":"Renamed","permission_mode":"acceptEdits"}'
is "$HTTP_STATUS" 200 "PATCH title + permission_mode is 200"
is "$(json .title)/$(json .permission_mode)" Renamed/acceptEdits "PATCH returns the updated session"
api_bearer "$A" "/api/sessions/$s1"
is "$(json .title)/$(json .permission_mode)" Renamed/acceptEdits "the change is stored"
is "$(jq -r .title "$WS/sessions/session-$s1/metadata.json" 2>/dev/null)" Renamed "metadata.json is updated"
ajson "$A" PATCH "/api/sessions/$s1" '{"model":"claude-haiku-4-5"}'
is "$HTTP_STATUS/$(json .model)/$(json .title)" 200/claude-haiku-4-5/Renamed "PATCH model alone keeps the title"
ajson "$A" PATCH "/api/sessions/$s1" '{}'
is_json_error 400 "PATCH with nothing to change is 400"
ajson "$A" PATCH "/api/sessions/$s1" '{"owner":"bob","status":"running"}'
is "$HTTP_STATUS" 400 "PATCH of read-only fields only is 400 (nothing to change)"
ajson "$A" PATCH "/api/sessions/$s1" '{"permission_mode":"root"}'
is "$HTTP_STATUS" 400 "PATCH with an invalid permission_mode is 400"
like "$(json .error.message)" "'permission_mode'" "... naming the field"
ajson "$A" PATCH "/api/sessions/$s1" "{\"title\":\"$t201\"}"
is "$HTTP_STATUS" 400 "PATCH with a 201-character title is 400"
like "$(json .error.message)" "'title'" "... naming the field"
t200=$(printf 'y%.0s' $(seq 200))
ajson "$A" PATCH "/api/sessions/$s1" "{\"title\":\"$t200\"}"
is "$HTTP_STATUS/$(json '.title | length')" 200/200 "a 200-character title is accepted"
# 150 characters of 'é' (300 bytes): the limit is in characters.
t150=$(python3 -c 'print("\u00e9" * 150)')
ajson "$A" PATCH "/api/sessions/$s1" "{\"title\":\"$t150\"}"
is "$HTTP_STATUS/$(json '.title | length')" 200/150 "a 150-character non-ASCII title is accepted (the limit counts characters)"
api_bearer "$A" "/api/sessions/$s1"
is "$(json .title)" "$t150" "the non-ASCII title round-trips"
# Titles are strictly valid UTF-8 (RFC 3629), sent as raw bytes or as \u escapes.
api_bearer "$A" "/api/sessions/$s1"
before=$(json .title)
for bad in 'c0af:overlong C0 AF' 'e080af:overlong E0 80 AF' 'eda080:surrogate ED A0 80' \
	'f4908080:above U+10FFFF (F4 90 80 80)' 'f5808080:an F5 byte' 'ff:an FF byte' \
	'80:a stray continuation byte' 'e282:a truncated sequence'; do
	hex=${bad%%:*} what=${bad#*:}
	printf '{"title":"a' >"$T/title.json"
	printf '%s' "$hex" | xxd -r -p >>"$T/title.json"
	printf 'b"}' >>"$T/title.json"
	api_bearer "$A" "/api/sessions/$s1" -X PATCH -H 'Content-Type: application/json' \
		--data-binary @"$T/title.json"
	is_json_error 400 "a title with $what is a 400 JSON error"
	api_bearer "$A" /api/sessions -X POST -H 'Content-Type: application/json' \
		--data-binary @"$T/title.json"
	is "$HTTP_STATUS" 400 "... also when creating a session"
done
for esc in '\ud800' '\udfff' '\ud800x' '\u0000'; do
	ajson "$A" PATCH "/api/sessions/$s1" "{\"title\":\"a${esc}b\"}"
	is_json_error 400 "a title with the escape $esc (lone surrogate / NUL) is a 400 JSON error"
done
api_bearer "$A" "/api/sessions/$s1"
is "$(json .title)" "$before" "refused titles left the title unchanged"
ajson "$A" PATCH "/api/sessions/$s1" '{"title":"\ud83d\ude00 \u00e9 \u4e2d \uffff"}'
is "$HTTP_STATUS/$(json .title)" "200/$(printf '\360\237\230\200 \303\251 \344\270\255 \357\277\277')" \
	"a valid surrogate pair, 2-, 3-byte characters and U+FFFF are accepted"
printf '{"title":"\xf4\x8f\xbf\xbf max"}' >"$T/title.json"
api_bearer "$A" "/api/sessions/$s1" -X PATCH -H 'Content-Type: application/json' \
	--data-binary @"$T/title.json"
is "$HTTP_STATUS" 200 "U+10FFFF (F4 8F BF BF), the highest code point, is accepted"
ajson "$A" PATCH "/api/sessions/$s1" "{\"title\":\"$t150\"}"

api_bearer "$A" "/api/sessions/$s1" -X PATCH -H 'Content-Type: text/plain' --data-binary '{"title":"x"}'
is "$HTTP_STATUS" 415 "PATCH with a non-JSON Content-Type is 415"
api_bearer "$A" "/api/sessions/$s1" -X PUT -H 'Content-Type: application/json' --data-binary '{"title":"x"}'
is "$HTTP_STATUS" 405 "PUT /api/sessions/<id> is 405"

# ---- delete and MAX_SESSIONS ---------------------------------------------------------------
# alice has 3 sessions; MAX_SESSIONS=4.
ajson "$A" POST /api/sessions '{"title":"fourth"}'
is "$HTTP_STATUS" 201 "alice's 4th session (MAX_SESSIONS=4) is 201"
s4=$(json .id)
ajson "$A" POST /api/sessions '{"title":"fifth"}'
is_json_error 409 "the session beyond MAX_SESSIONS is a 409 JSON error"
is "$(json .error.type)" session_limit "... with error type session_limit"
ajson "$B" POST /api/sessions '{}'
is "$HTTP_STATUS" 201 "MAX_SESSIONS is per user: bob can still create one"

# Something in the session's event log (a file written through the API).
api_bearer "$A" "/api/sessions/$s4/files/content?path=x.txt" -X PUT --data-binary 'x'
is "$(redis_cli exists "cw:{c}:events:$s4")" 1 "the session has an event log before the delete"
api_bearer "$A" "/api/sessions/$s4" -X DELETE
is "$HTTP_STATUS" 204 "DELETE /api/sessions/<id> is 204"
check "the session directory is removed" test ! -e "$WS/sessions/session-$s4"
is "$(redis_cli exists "cw:{c}:session:$s4" "cw:{c}:events:$s4" "cw:{c}:usage:session:$s4")" 0 \
	"its record and event log are gone from Redis"
api_bearer "$A" "/api/sessions/$s4"
is "$HTTP_STATUS" 404 "a deleted session is 404"
api_bearer "$A" "/api/sessions/$s4" -X DELETE
is "$HTTP_STATUS" 404 "deleting it again is 404"
api_bearer "$A" /api/sessions
is "$(json '[.sessions[].id] | index("'"$s4"'")')" null "the deleted session is no longer listed"
ajson "$A" POST /api/sessions '{"title":"after delete"}'
is "$HTTP_STATUS" 201 "after a delete, alice can create a session again"

api_bearer "$A" "/api/sessions/$s2" -X DELETE
is "$HTTP_STATUS" 204 "deleting the templated session is 204"
check "its files (copied from the template) are removed" test ! -e "$F2"
check "the template is still there" file_exists "$TPL/src/lib/main.py"

tap_done
