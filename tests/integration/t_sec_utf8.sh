#!/usr/bin/env bash
# t_sec_utf8.sh: issue 10, items 6 and 7. A session must never die because
# of what is stored in it.
#   1. Request bodies whose strings are not strictly valid UTF-8 (raw bytes:
#      overlongs, surrogates, > U+10FFFF, F5..FF, truncated; and unpaired
#      \ud800 / \udc00 escapes, which json-c alone turns into U+FFFD) get a
#      400 JSON error naming the problem, and nothing is stored or queued.
#   2. File names that are not valid UTF-8 after percent-decoding: 400.
#   3. An old history.json with invalid UTF-8 and a tool call nobody answered
#      (the save after a tool failed): the next message repairs it on load;
#      what the (fake) Messages API receives alternates roles, answers every
#      tool_use first thing in the next user turn and is valid UTF-8, and the
#      run finishes. The same for a hole and an orphan in the middle.
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source=tests/integration/lib_auth.sh
. "$(dirname "$0")/lib_auth.sh"
# shellcheck source=tests/integration/lib_agent.sh
. "$(dirname "$0")/lib_agent.sh"
cw_require_agent
AGENT_NO_TOOLS=1

agent_stack_up
new_session || cw_bail "cannot create a session: $HTTP_STATUS $(cat "$BODY")"
SDIR=$T/workspace/sessions/session-$SID
HIST=$SDIR/.claude/history.json

# post_raw PATH FILE: POST the bytes of FILE as JSON.
post_raw() {
	api_bearer "$TOKEN" "$1" -X POST -H 'Content-Type: application/json' \
		--data-binary "@$2"
}

# valid_utf8 FILE: the file is strictly valid UTF-8 (Python's decoder is).
valid_utf8() {
	python3 -c 'import sys; open(sys.argv[1], "rb").read().decode("utf-8")' "$1" 2>/dev/null
}

# ---- 1. request bodies ---------------------------------------------------------
# name|printf format of the body (bytes as \x escapes)
CASES=(
	'overlong C0 AF|{"content":"a \xc0\xaf b"}|overlong'
	'overlong E0 80 AF|{"content":"\xe0\x80\xaf"}|overlong'
	'surrogate ED A0 80|{"content":"x\xed\xa0\x80"}|surrogate'
	'U+110000 (F4 90 80 80)|{"content":"\xf4\x90\x80\x80"}|above U\+10FFFF'
	'F5 lead|{"content":"\xf5\x80\x80\x80"}|above U\+10FFFF'
	'FF byte|{"content":"\xff"}|never occurs'
	'5-byte sequence|{"content":"\xf8\x88\x80\x80\x80"}|5- or 6-byte'
	'truncated E2 82|{"content":"ab\xe2\x82"}|truncated'
	'bad bytes in a text block|{"content":[{"type":"text","text":"\xc0\xaf"}]}|content\[0\]\.text'
	'bad bytes in a key|{"content":"ok","\xc0\xaf":1}|a key'
	'lone \ud800 escape|{"content":"a\\ud800b"}|surrogate escape \(\\ud800\)'
	'lone \udc00 escape|{"content":"\\udc00"}|surrogate escape'
	'\ud800 then \u0041|{"content":"\\ud800\\u0041"}|surrogate escape'
)
NREQ0=$(fake_nreq)
for c in "${CASES[@]}"; do
	name=${c%%|*}
	rest=${c#*|}
	fmt=${rest%|*}
	want=${rest##*|}
	# shellcheck disable=SC2059 # the format is the test vector
	printf "$fmt" >"$T/body.json"
	post_raw "/api/sessions/$SID/messages" "$T/body.json"
	is_json_error 400 "1: $name: 400 JSON"
	like "$(json .error.message)" "not valid UTF-8.*$want" "1: $name: the message names it ($(json .error.message))"
done
check "1: the error bodies themselves are valid UTF-8" valid_utf8 "$BODY"
is "$(redis_cli GET "cw:{c}:active:$SID")" "" "1: no run was queued"
is "$(redis_cli XLEN cw:{c}:jobs)" 0 "1: the job queue is empty"
is "$(fake_nreq)" "$NREQ0" "1: nothing reached the Messages API"
check "1: no history was written" eval "[ ! -e '$HIST' ]"

printf '{"title":"t\xed\xa0\x80"}' >"$T/body.json"
api_bearer "$TOKEN" /api/sessions -X POST -H 'Content-Type: application/json' \
	--data-binary "@$T/body.json"
is_json_error 400 "1: a session title with a surrogate: 400"
printf '{"title":"\\udfff"}' >"$T/body.json"
api_bearer "$TOKEN" "/api/sessions/$SID" -X PATCH -H 'Content-Type: application/json' \
	--data-binary "@$T/body.json"
is_json_error 400 "1: renaming to a lone \\udfff escape: 400"

# Valid text, including a surrogate pair written as escapes, is accepted whole.
fake_script '{"turns":[{"text":"fine"}]}'
printf '{"content":"caf\xc3\xa9 \\ud83d\\ude00 \xf4\x8f\xbf\xbf"}' >"$T/body.json"
MARK=$(events_mark "$SID")
post_raw "/api/sessions/$SID/messages" "$T/body.json"
is "$HTTP_STATUS" 202 "1: valid UTF-8 with U+10FFFF and an escaped pair: 202"
RUN_ID=$(json '.run_id // empty')
sse_read "$T/ok.jsonl" --last-event-id "$MARK" --until "$FINAL_EVENTS" --run-id "$RUN_ID"
is "$(ev_count "$T/ok.jsonl" run.finished "$RUN_ID")" 1 "1: ...and its run finishes"
fake_requests
is "$(jq -r '.requests[-1].body.messages[0].content | if type == "string" then . else .[0].text end' "$FAKE_REQS" |
	od -An -tx1 | tr -d ' \n')" "$(printf 'caf\xc3\xa9 \xf0\x9f\x98\x80 \xf4\x8f\xbf\xbf\n' | od -An -tx1 | tr -d ' \n')" \
	"1: ...sent to the API byte for byte"

# ---- 2. file names ---------------------------------------------------------------
for q in '%C0%AF' 'a%ED%A0%80.txt' 'dir/%FF' '%F4%90%80%80' 'x%E2%82'; do
	api_bearer "$TOKEN" "/api/sessions/$SID/files/content?path=$q" -X PUT \
		-H 'Content-Type: application/octet-stream' --data-binary 'data'
	is_json_error 400 "2: PUT path=$q: 400"
	like "$(json .error.message)" 'not valid UTF-8' "2: ...because of UTF-8"
done
api_bearer "$TOKEN" "/api/sessions/$SID/files/content?path=%C0%AF"
is_json_error 400 "2: GET content of an overlong name: 400"
api_bearer "$TOKEN" "/api/sessions/$SID/files?path=%ED%A0%80"
is_json_error 400 "2: listing a surrogate-named directory: 400"
api_bearer "$TOKEN" "/api/sessions/$SID/files/content?path=%C0%AF" -X DELETE
is_json_error 400 "2: DELETE of an overlong name: 400"
printf '{"path":"\xc0\xaf"}' >"$T/body.json"
post_raw "/api/sessions/$SID/files/mkdir" "$T/body.json"
is_json_error 400 "2: mkdir with invalid UTF-8: 400"
is "$(find "$SDIR/files" -mindepth 1 | wc -l)" 0 "2: nothing was created in files/"
api_bearer "$TOKEN" "/api/sessions/$SID/files/content?path=caf%C3%A9.txt" -X PUT \
	-H 'Content-Type: application/octet-stream' --data-binary 'data'
is "$HTTP_STATUS" 201 "2: a valid UTF-8 name (café.txt) is fine"

# ---- 3. a dead session comes back ------------------------------------------------
# What the history of a session looks like after the save that follows a tool
# call failed (disk full), written by an older version that stored bad bytes.
wait_for 10 eval '[ -z "$(redis_cli GET "cw:{c}:active:$SID")" ]'
printf '{"version":1,"runs":["r-old"],"messages":[{"role":"user","content":"caf\xc3\xa9 \xc0\xaf and \xed\xa0\x80 please"},{"role":"assistant","content":[{"type":"text","text":"Looking \xff"},{"type":"tool_use","id":"toolu_A","name":"bash","input":{"command":"ls"}},{"type":"tool_use","id":"toolu_B","name":"bash","input":{"command":"pwd"}}]}]}' >"$HIST"
if valid_utf8 "$HIST"; then tap_fail "3: the planted history has invalid UTF-8"; else tap_ok "3: the planted history has invalid UTF-8"; fi

get_history "$SID"
is "$HTTP_STATUS" 200 "3: GET messages of the damaged session: 200"
check "3: ...valid UTF-8" valid_utf8 "$T/hist.json"
is "$(jq -c '[.messages[] | .role]' "$T/hist.json")" '["user","assistant","user"]' \
	"3: ...with a user turn answering the tool calls"

fake_reset
fake_script '{"turns":[{"text":"Back in business."}]}'
run_msg "$SID" "are you still there?"
is "$HTTP_STATUS $SSE_END" "202 until" "3: a new message to the session is accepted and ends"
is "$(ev_count "$EV" run.finished "$RUN_ID") $(ev_count "$EV" run.error "$RUN_ID")" "1 0" \
	"3: run.finished, no run.error ($(ev_first "$EV" run.error "$RUN_ID"))"
is "$(ev_text "$EV" "$RUN_ID")" "Back in business." "3: ...with the scripted answer"
fake_requests
is "$(jq '.requests | length' "$FAKE_REQS")" 1 "3: one request reached the API"
is "$(fake_req 1 '[.body.messages[] | .role]')" '["user","assistant","user"]' \
	"3: roles alternate"
is "$(fake_req 1 '.body.messages[2].content | map(.type)')" \
	'["tool_result","tool_result","text"]' "3: the results come first, then the new prompt"
is "$(fake_req 1 '.body.messages[2].content | map(.tool_use_id // .text)')" \
	'["toolu_A","toolu_B","are you still there?"]' "3: ...one per tool_use, in order"
is "$(fake_req 1 '.body.messages[2].content[0] | [.is_error, (.content | test("interrupted"))]')" \
	'[true,true]' "3: ...each an error saying the call was interrupted"
is "$(jq -r '.requests[0].body.messages[0].content | if type == "string" then . else .[0].text end' "$FAKE_REQS")" \
	"$(printf 'caf\xc3\xa9 \xef\xbf\xbd\xef\xbf\xbd and \xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd please')" \
	"3: the bad bytes reached the API as U+FFFD (one per maximal bad subpart)"
is "$(jq -r '.requests[0].body.messages[1].content[0].text' "$FAKE_REQS")" \
	"$(printf 'Looking \xef\xbf\xbd')" "3: ...in the assistant's text too"
is "$(jq -r '.per_request[0].status' <(curl -s "$FAKE_URL/_fake/stats"))" 200 \
	"3: the API accepted the request (200)"
check "3: the history saved afterwards is valid UTF-8" valid_utf8 "$HIST"
is "$(jq -c '[.messages[] | .role]' "$HIST")" '["user","assistant","user","assistant"]' \
	"3: ...and alternates"

# A hole in the middle (a user turn without the results) and an orphan result.
printf '%s' '{"version":1,"runs":[],"messages":[
 {"role":"user","content":"q1"},
 {"role":"assistant","content":[{"type":"tool_use","id":"toolu_X","name":"bash","input":{"command":"true"}}]},
 {"role":"user","content":"q2"},
 {"role":"assistant","content":"a2"},
 {"role":"user","content":[{"type":"tool_result","tool_use_id":"toolu_GONE","content":"old"},{"type":"text","text":"q3"}]},
 {"role":"assistant","content":"a3"},
 {"role":"assistant","content":"a3 again"}]}' >"$HIST"
fake_reset
fake_script '{"turns":[{"text":"Middle repaired."}]}'
run_msg "$SID" "q4"
is "$(ev_count "$EV" run.finished "$RUN_ID") $(ev_count "$EV" run.error "$RUN_ID")" "1 0" \
	"3m: a history with a hole in the middle: run.finished, no run.error ($(ev_first "$EV" run.error "$RUN_ID"))"
fake_requests
is "$(fake_req 1 '[.body.messages[] | .role] | join(",")')" '"user,assistant,user,assistant,user,assistant,user"' \
	"3m: roles alternate (two assistant turns merged)"
is "$(fake_req 1 '.body.messages[2].content | map(.type)')" '["tool_result","text"]' \
	"3m: the missing result is added before q2"
is "$(fake_req 1 '.body.messages[4].content | map(.type)')" '["text"]' \
	"3m: the orphan result is gone"
is "$(fake_req 1 '.body.messages[5].content | map(.text)')" '["a3","a3 again"]' \
	"3m: the assistant turns in a row are one"

tap_done
