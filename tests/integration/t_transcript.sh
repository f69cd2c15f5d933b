#!/usr/bin/env bash
# t_transcript.sh: the durable transcript, as a person sees it after the
# fact: automatic titles (the title call's exact upstream body, the title
# set and announced with session.updated, its usage counted; a title the
# user chose is never replaced; TITLE_MODEL=off derives it locally),
# search over titles and message texts (never another user's sessions),
# the notices GET …/messages returns (approvals with who/decision/remember/
# message, expiry, a stop with who stopped it, a run error, an upstream
# retry; who answered when two answer at once; a full notices file rotated)
# and the export as Markdown and JSON (images as their type and size),
# one search at a time per user, and /clear's archives capped at 3.
#
# One runner (the default pool here) takes jobs one after the other, and
# titles a session right after that session's run: a later run's title
# proves an earlier session's turn to be titled (or not) has passed.
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source=tests/integration/lib_auth.sh
. "$(dirname "$0")/lib_auth.sh"
# shellcheck source=tests/integration/lib_agent.sh
. "$(dirname "$0")/lib_agent.sh"
# shellcheck source=tests/integration/lib_tools.sh
. "$(dirname "$0")/lib_tools.sh"
cw_require_tools_stack

CW_CONF[PERMISSION_TIMEOUT]=600
CW_CONF[TITLE_MODEL]=claude-haiku-4-5
W=60
RUNTO=300
tools_stack_up
ANN=$TOKEN
user_add bob bob-password-1 || cw_bail "user add bob: $(cat "$ADMIN_OUT")"
login bob bob-password-1 || cw_bail "bob cannot log in"
BOB=$TOKEN
TOKEN=$ANN
M=$$

HEAD='Reply with a 3-7 word title for the conversation below, in the language of the user'"'"'s message. Reply with the title only: no quotes, no trailing period.'

title_of() {
	api_bearer "${2:-$ANN}" "/api/sessions/$1"
	json '.title // empty'
}
titled() {
	[ "$(title_of "$1")" != "New session" ]
}
# notices SID: GET …/messages' notices into $T/notices.json.
notices() {
	api_bearer "${2:-$ANN}" "/api/sessions/$1/messages"
	jq -c '.notices' "$BODY" >"$T/notices.json"
}

# ---- 1. the title call: its exact body, the title, session.updated, usage -------
new_session || cw_bail "cannot create a session"
S1=$SID
P1="Please fix the login bug in auth.c. It fails on empty passwords."
A1="The check for an empty password was missing; I added it."
fake_reset
fake_script "$(jq -cn --arg a "$A1" '{turns: [{text: $a}, {text: "Fix login bug for empty passwords"}]}')"
MARK1=$(events_mark "$S1")
run_msg "$S1" "$P1" 30 || diag "run 1: $SSE_END"
RUN1=$RUN_ID
check "1: the session got a title after its first answer" wait_for "$W" titled "$S1"
is "$(title_of "$S1")" "Fix login bug for empty passwords" "1: ... the model's answer"
fake_requests
is "$(jq '.requests | length' "$FAKE_REQS")" 2 "1: two upstream calls: the answer, then the title"
EXP=$(jq -cn --arg c "$HEAD"$'\n\n<user>\n'"$P1"$'\n</user>\n<assistant>\n'"$A1"$'\n</assistant>' \
	'{model: "claude-haiku-4-5", max_tokens: 30, messages: [{role: "user", content: $c}], stream: true}')
is "$(fake_req 2 '.body' | jq -cS .)" "$(printf '%s' "$EXP" | jq -cS .)" \
	"1: the title call's exact body (small model, max_tokens 30, the first prompt and answer)"
redis_events "$S1" "$T/s1.events"
is "$(jq -r 'select(.event == "session.updated") | .data.title' "$T/s1.events")" \
	"Fix login bug for empty passwords" "1: session.updated {title} is in the session's event log"
is "$(jq -r 'select(.event == "session.updated") | .data.title_source' "$T/s1.events")" auto \
	"1: ... with title_source auto"
RUN_OUT=$(jq -r --arg r "$RUN1" 'select(.event == "run.finished" and .data.run_id == $r) | .data.usage.output_tokens' "$EV")
api_bearer "$ANN" "/api/sessions/$S1"
cmp_ok "$(json .usage.output_tokens)" -gt "${RUN_OUT:-0}" \
	"1: the session's usage counts the title call too ($(json .usage.output_tokens) > run's ${RUN_OUT:-?})"
: "$MARK1"

# ---- 2. a title the user chose is never replaced --------------------------------
api_bearer "$ANN" /api/sessions -X POST -H 'Content-Type: application/json' --data-binary '{"title":"Chosen at creation"}'
S2=$(json .id)
new_session || cw_bail "cannot create a session"
S3=$SID
api_bearer "$ANN" "/api/sessions/$S3" -X PATCH -H 'Content-Type: application/json' --data-binary '{"title":"Renamed by ann"}'
is "$HTTP_STATUS" 200 "2: PATCH renames a session"
new_session || cw_bail "cannot create a session"
S4=$SID
fake_reset
fake_script '{"turns": [{"text": "answer two"}, {"text": "answer three"}, {"text": "answer four"}, {"text": "Barrier session title"}]}'
run_msg "$S2" "hello from two" 30 || diag "run S2: $SSE_END"
run_msg "$S3" "hello from three" 30 || diag "run S3: $SSE_END"
run_msg "$S4" "hello from four" 30 || diag "run S4: $SSE_END"
check "2: a later default-titled session is titled (the runner passed the others)" wait_for "$W" titled "$S4"
is "$(title_of "$S2")" "Chosen at creation" "2: a title given at creation stays"
is "$(title_of "$S3")" "Renamed by ann" "2: a title set with PATCH stays"
is "$(fake_nreq)" 4 "2: one title call in all (for the default-titled session only)"
is "$(fake_req 4 '.body.model')" '"claude-haiku-4-5"' "2: ... and that call is the title call"
api_bearer "$ANN" "/api/sessions/$S1" -X PATCH -H 'Content-Type: application/json' --data-binary '{"title":"Login fixes"}'
is "$(title_of "$S1")" "Login fixes" "2: an automatic title can be renamed"

# ---- 3. notices: allow (remembered), deny with a message -------------------------
session_new default || cw_bail "cannot create a session"
S5=$SID
BA=toolu_allow_$M
BD=toolu_deny_$M
run_bg "$S5" "$(blocks "$(bash_block "echo allowed-$M" "$BA")" "$(bash_block "printf denied-$M" "$BD")")" "$RUNTO" ||
	cw_bail "cannot start a run: $HTTP_STATUS $(cat "$BODY")"
RUN5=$RUN_ID
ev_wait permission.request 1 "$W"
perm_post "$S5" "$(ev_nth permission.request 1 | jq -r .request_id)" '{"decision":"allow","remember":true}'
is "$HTTP_STATUS" 200 "3: allow (remember) answered"
ev_wait permission.request 2 "$W"
perm_post "$S5" "$(ev_nth permission.request 2 | jq -r .request_id)" '{"decision":"deny","message":"not now, please"}'
is "$HTTP_STATUS" 200 "3: deny with a message answered"
run_bg_wait "$RUNTO" || diag "run 5 ended: $SSE_END"
is "$(ev_nth permission.resolved 1 | jq -r .by)" ann "3: the live permission.resolved names who answered"
notices "$S5"
is "$(jq -r --arg t "$BA" '[.[] | select(.event == "permission.request" and .tool_use_id == $t)][0] | [.tool, .by, (.summary | test("allowed-"))] | @tsv' "$T/notices.json")" \
	"$(printf 'bash\tann\ttrue')" "3: GET messages' notices: the request (tool, who asked, summary)"
R=$(jq -c --arg t "$BA" '[.[] | select(.event == "permission.resolved" and .tool_use_id == $t)][0]' "$T/notices.json")
is "$(printf '%s' "$R" | jq -r '[.decision, .remember, .by] | @tsv')" "$(printf 'allow\ttrue\tann')" \
	"3: ... the allow: decision, remembered, who"
like "$(printf '%s' "$R" | jq -r .at)" '^20[0-9][0-9]-[0-9][0-9]-[0-9][0-9]T' "3: ... and when (ISO time)"
R=$(jq -c --arg t "$BD" '[.[] | select(.event == "permission.resolved" and .tool_use_id == $t)][0]' "$T/notices.json")
is "$(printf '%s' "$R" | jq -r '[.decision, .message, .by] | @tsv')" "$(printf 'deny\tnot now, please\tann')" \
	"3: ... the deny: decision, the message, who"
is "$(jq -r '[.[] | select(.event == "run.continued")] | length' "$T/notices.json")" 2 \
	"3: ... the two continuations after parking"
is "$(jq -r --arg r "$RUN5" '[.[] | select(.event == "run.finished" and .run_id == $r)][0].stop_reason' "$T/notices.json")" end_turn \
	"3: ... the run's end"
api_bearer "$ANN" "/api/sessions/$S5/messages"
NMSG=$(json '.messages | length')
is "$(jq -r --arg r "$RUN5" '[.[] | select(.event == "run.finished" and .run_id == $r)][0].anchor | "\(.msg) \(.block)"' "$T/notices.json")" \
	"$((NMSG - 1)) 1" "3: ... anchored after the history's last message"
check "3: the notices are ordered (request before its resolution)" test \
	"$(jq -r --arg t "$BD" 'to_entries | map(select(.value.tool_use_id == $t)) | map(.key) | . == sort' "$T/notices.json")" = true

# ---- 3b. the owner and an admin answer at once: the answer that counted is recorded --
user_add root2 root2-password-1 admin || cw_bail "user add root2: $(cat "$ADMIN_OUT")"
login root2 root2-password-1 || cw_bail "root2 cannot log in"
ADM=$TOKEN
TOKEN=$ANN
session_new default || cw_bail "cannot create a session"
S5B=$SID
BR=toolu_race_$M
run_bg "$S5B" "$(blocks "$(bash_block "echo race-$M" "$BR")")" "$RUNTO" ||
	cw_bail "cannot start a run: $HTTP_STATUS $(cat "$BODY")"
ev_wait permission.request 1 "$W"
RQ=$(ev_nth permission.request 1 | jq -r .request_id)
RACE_PIDS=()
for who in "ann $ANN allow" "root2 $ADM deny"; do
	read -r WN WT WD <<<"$who"
	curl -4ks --http2 --max-time 15 -o "$T/race.$WN.json" -w '%{http_code}' \
		-H "Authorization: Bearer $WT" -H 'Content-Type: application/json' \
		--data-binary "{\"decision\":\"$WD\"}" \
		"$BASE_URL/api/sessions/$S5B/permissions/$RQ" >"$T/race.$WN.code" &
	RACE_PIDS+=("$!")
done
wait "${RACE_PIDS[@]}"
CODES="$(cat "$T/race.ann.code") $(cat "$T/race.root2.code")"
like "$CODES" '^(200 409|409 200)$' "3b: two answers at once: one counts (200), the other is a 409 ($CODES)"
WIN=ann WDEC=allow
[ "$(cat "$T/race.root2.code")" = 200 ] && WIN=root2 WDEC=deny
run_bg_wait "$RUNTO" || diag "run 5b ended: $SSE_END"
is "$(ev_nth permission.resolved 1 | jq -r '[.by, .decision] | @tsv')" "$(printf '%s\t%s' "$WIN" "$WDEC")" \
	"3b: the live permission.resolved names the one whose answer counted ($WIN)"
notices "$S5B"
is "$(jq -r --arg t "$BR" '[.[] | select(.event == "permission.resolved" and .tool_use_id == $t)][0] | [.by, .decision] | @tsv' "$T/notices.json")" \
	"$(printf '%s\t%s' "$WIN" "$WDEC")" "3b: ... and so do the stored notices"

# ---- 4. a stop (who stopped it), an error, a retry -------------------------------
new_session || cw_bail "cannot create a session"
S6=$SID
fake_reset
fake_script "$(jq -cn --arg s "$(printf 'a long answer, streamed slowly. %.0s' $(seq 1 40))" '{turns: [{text: $s, delay_ms: 100}]}')"
MARK=$(events_mark "$S6")
post_msg "$S6" "start and be stopped"
RUN6=$RUN_ID
EV=$T/ev.s6.jsonl
: >"$EV"
sse_bg "$EV" --session "$S6" --last-event-id "$MARK" --until "$FINAL_EVENTS" --run-id "$RUN6" --timeout 60
ev_wait text.delta 1 "$W"
api_bearer "$ANN" "/api/sessions/$S6/cancel" -X POST
is "$HTTP_STATUS" 202 "4: cancel while the answer streams"
run_bg_wait 60 || diag "run 6: $SSE_END"
is "$(jq -r 'select(.event == "run.cancelled") | .data.by' "$EV")" ann "4: the live run.cancelled names who stopped it"
notices "$S6"
is "$(jq -r --arg r "$RUN6" '[.[] | select(.event == "run.cancelled" and .run_id == $r)][0].by' "$T/notices.json")" ann \
	"4: the stop is in the notices, with who stopped it"
fake_reset
fake_script '{"turns": [{"fault": {"type": "http", "status": 400, "message": "prompt is broken on purpose"}}]}'
run_msg "$S6" "this one fails" 30 || diag "run error: $SSE_END"
RUN7=$RUN_ID
notices "$S6"
R=$(jq -c --arg r "$RUN7" '[.[] | select(.event == "run.error" and .run_id == $r)][0]' "$T/notices.json")
is "$(printf '%s' "$R" | jq -r .type)" invalid_request_error "4: the run error is in the notices (type)"
like "$(printf '%s' "$R" | jq -r .message)" "broken on purpose" "4: ... and its message"
fake_reset
fake_script '{"turns": [{"fault": {"type": "http", "status": 529}}, {"text": "fine after a retry"}]}'
run_msg "$S6" "this one is retried" 30 || diag "run retry: $SSE_END"
RUN8=$RUN_ID
notices "$S6"
R=$(jq -c --arg r "$RUN8" '[.[] | select(.event == "run.retrying" and .run_id == $r)][0]' "$T/notices.json")
is "$(printf '%s' "$R" | jq -r .attempt)" 1 "4: the upstream retry is in the notices (attempt)"
cmp_ok "$(printf '%s' "$R" | jq -r '.delay_ms // -1')" -ge 0 "4: ... with its wait"
is "$(jq -r --arg r "$RUN8" '[.[] | select(.run_id == $r) | .event] | join(",")' "$T/notices.json")" \
	"run.retrying,run.finished" "4: ... then the run's end, in order"

# ---- 5. search: titles and message texts, only one's own ------------------------
api_bearer "$ANN" "/api/sessions?q=EMPTY%20PASSWORDS"
is "$HTTP_STATUS" 200 "5: search answers 200"
is "$(json '[.sessions[].id] | index("'"$S1"'") != null')" true "5: a message text finds its session (case-insensitive)"
is "$(json '.sessions[] | select(.id == "'"$S1"'") | .match.in')" message "5: ... matched in a message"
like "$(json '.sessions[] | select(.id == "'"$S1"'") | .match.snippet')" "empty passwords" "5: ... with a snippet of the text"
api_bearer "$ANN" "/api/sessions?q=chosen%20AT"
is "$(json '[.sessions[] | select(.match.in == "title") | .id] | join(",")')" "$S2" "5: a title finds its session"
api_bearer "$BOB" /api/sessions -X POST -H 'Content-Type: application/json' --data-binary '{"title":"bob on empty passwords"}'
SB=$(json .id)
api_bearer "$BOB" "/api/sessions?q=empty%20passwords"
is "$(json '[.sessions[].id] | join(",")')" "$SB" "5: another user finds only their own session"
api_bearer "$ANN" "/api/sessions?q=empty%20passwords&all=1"
is_json_error 403 "5: all=1 is for admins"
api_bearer "$ANN" "/api/sessions?q="
is_json_error 400 "5: an empty query is a 400"

# one search per user at a time: a second one meanwhile is a 429 (Retry-After: 1)
is "$(redis_cli EXISTS "cw:{c}:search:ann")" 0 "5: a finished search leaves no lock behind"
redis_cli SET "cw:{c}:search:ann" other-search PX 5000 >/dev/null
api_bearer "$ANN" "/api/sessions?q=empty%20passwords"
is_json_error 429 "5: a search while another of the same user's runs is a 429"
is "$(header retry-after)" 1 "5: ... with Retry-After: 1"
like "$(json .error.message)" "another search" "5: ... and says why"
api_bearer "$BOB" "/api/sessions?q=empty%20passwords"
is "$HTTP_STATUS" 200 "5: ... another user's search still runs"
redis_cli DEL "cw:{c}:search:ann" >/dev/null
api_bearer "$ANN" "/api/sessions?q=empty%20passwords"
is "$HTTP_STATUS" 200 "5: once the other search is done, searching works again"

# ---- 6. export ------------------------------------------------------------------
api_bearer "$ANN" "/api/sessions/$S5/export?format=md"
is "$HTTP_STATUS" 200 "6: export as Markdown"
is "$(header content-disposition)" "attachment; filename=\"session-$S5.md\"" "6: ... as an attachment"
like "$HTTP_CT" '^text/markdown' "6: ... text/markdown"
MD=$(cat "$BODY")
like "$MD" '^# ' "6: ... starts with the title"
like "$MD" '## User' "6: ... the person's messages"
like "$MD" 'Tool call `bash`' "6: ... the tool calls"
like "$MD" "echo allowed-$M" "6: ... with their input"
like "$MD" "allowed-$M" "6: ... and results"
like "$MD" 'Result\*\* \(exit code 0\):' "6: ... with the command's exit code"
like "$MD" 'Allowed by ann \(remembered' "6: ... the approval: who, remembered"
like "$MD" 'Denied by ann: “not now, please”' "6: ... the denial with its message"
like "$MD" 'Usage: [0-9]+ input tokens' "6: ... the usage"
api_bearer "$ANN" "/api/sessions/$S6/export?format=md"
like "$(cat "$BODY")" 'Stopped\*\* by ann' "6: the Markdown names the stop and who stopped it"
like "$(cat "$BODY")" 'Error\*\* \(invalid_request_error\)' "6: ... and the error"
api_bearer "$ANN" "/api/sessions/$S5/export?format=json"
is "$HTTP_STATUS" 200 "6: export as JSON"
is "$(header content-disposition)" "attachment; filename=\"session-$S5.json\"" "6: ... as an attachment"
cp "$BODY" "$T/export.json"
api_bearer "$ANN" "/api/sessions/$S5/messages"
is "$(jq -c .messages "$T/export.json")" "$(jq -c .messages "$BODY")" "6: ... messages as stored"
is "$(jq -c .notices "$T/export.json")" "$(jq -c .notices "$BODY")" "6: ... the notices"
is "$(jq -r '.tool_details | has("'"$BA"'")' "$T/export.json")" true "6: ... the tool details"
is "$(jq -r '.session.id' "$T/export.json")" "$S5" "6: ... the session"
cmp_ok "$(jq -r '.usage.input_tokens' "$T/export.json")" -gt 0 "6: ... the usage"
api_bearer "$BOB" "/api/sessions/$S5/export?format=md"
is_json_error 404 "6: another user's session is 404"
api_bearer "$ANN" "/api/sessions/$S5/export?format=xml"
is_json_error 400 "6: an unknown format is a 400"

# an image's data is left out of the JSON export (its type and size stay)
new_session || cw_bail "cannot create a session"
SI=$SID
PNG_B64=iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==
fake_reset
fake_script '{"turns": [{"text": "A single pixel."}]}'
api_bearer "$ANN" "/api/sessions/$SI/messages" -X POST -H 'Content-Type: application/json' --data-binary \
	"$(jq -cn --arg d "$PNG_B64" '{content: [{type: "image", source: {type: "base64", media_type: "image/png", data: $d}}, {type: "text", text: "what is this?"}]}')"
is "$HTTP_STATUS" 202 "6: a message with an image runs"
RUNI=$(json .run_id)
sse_read "$T/img.jsonl" --session "$SI" --until "$FINAL_EVENTS" --run-id "$RUNI" --timeout 30
api_bearer "$ANN" "/api/sessions/$SI/export?format=json"
is "$HTTP_STATUS" 200 "6: a session with an image exports as JSON"
is "$(jq -c '.messages[0].content[0]' "$BODY")" \
	"$(jq -cn --argjson n "${#PNG_B64}" '{type: "image", source: {type: "base64", media_type: "image/png", omitted_bytes: $n}}')" \
	"6: ... the image as its type and size, without its data"
is "$(jq -c '.messages[0].content[1]' "$BODY")" '{"type":"text","text":"what is this?"}' "6: ... the text beside it as stored"
api_bearer "$ANN" "/api/sessions/$SI/messages"
is "$(json '.messages[0].content[0].source.data')" "$PNG_B64" "6: ... while the history keeps the image"

# ---- 7. TITLE_MODEL=off: local titles; an expired approval ----------------------
cw_stop_app INT
CW_CONF[TITLE_MODEL]=off
CW_CONF[PERMISSION_TIMEOUT]=3
CW_CONF[RUN_LOCK_TTL]=2
cw_start_app || cw_bail "could not restart claude-web"
wait_for 10 pool_full runner 1 || diag "the runner pool did not fill up"
new_session || cw_bail "cannot create a session"
S7=$SID
fake_reset
fake_script '{"turns": [{"text": "sure"}]}'
run_msg "$S7" "  Refactor the   parser module. Then add tests for it." 30 || diag "run 7: $SSE_END"
check "7: TITLE_MODEL=off: a local title" wait_for "$W" titled "$S7"
is "$(title_of "$S7")" "Refactor the parser module" "7: ... the first sentence, whitespace collapsed"
is "$(fake_nreq)" 1 "7: ... and no title call upstream"
new_session || cw_bail "cannot create a session"
S8=$SID
fake_reset
fake_script '{"turns": [{"text": "ok"}]}'
run_msg "$S8" "Ünïcödé wörds everywhere in this very long first line that keeps going past fifty characters" 30 ||
	diag "run 8: $SSE_END"
wait_for "$W" titled "$S8"
T8=$(title_of "$S8")
is "$T8" "Ünïcödé wörds everywhere in this very long first" "7: a long first line is cut on a word boundary (≤ 50 characters, UTF-8 intact)"
session_new default || cw_bail "cannot create a session"
S9=$SID
BE=toolu_expire_$M
tools_run "$S9" "$(blocks "$(bash_block "echo expire-$M" "$BE")")" 60 || diag "run 9: $SSE_END"
notices "$S9"
R=$(jq -c --arg t "$BE" '[.[] | select(.event == "permission.resolved" and .tool_use_id == $t)][0]' "$T/notices.json")
is "$(printf '%s' "$R" | jq -r '.decision')" expired "7: an expired request is in the notices as expired"
is "$(printf '%s' "$R" | jq -r '.by // "none"')" none "7: ... answered by nobody"

# ---- 8. a runner killed mid-answer: the resume is in the notices -------------------
has_text_delta() {
	redis_cli XRANGE "cw:{c}:events:$1" - + 2>/dev/null | grep -A2 -x 'text.delta' | grep -q "$2"
}
new_session || cw_bail "cannot create a session"
S10=$SID
fake_reset
fake_script "$(jq -cn --arg s "$(printf 'Slow piece %02d. ' $(seq 1 30))" \
	'{turns: [{text: $s, delay_ms: 150}, {text: "Answer after the takeover."}]}')"
MARK=$(events_mark "$S10")
post_msg "$S10" "survive a crash"
R10=$RUN_ID
check "8: the run streams text" wait_for 20 has_text_delta "$S10" "$R10"
VICTIM=$(runner_pid_for "$R10")
kill -KILL "$VICTIM" 2>/dev/null
check "8: its runner is killed" wait_for 5 pid_gone "$VICTIM"
sse_read "$T/k10.jsonl" --session "$S10" --last-event-id "$MARK" --until "$FINAL_EVENTS" --run-id "$R10" --timeout 60
is "$SSE_END" until "8: the run ends after another runner took it over"
notices "$S10"
R=$(jq -c --arg r "$R10" '[.[] | select(.event == "run.resumed" and .run_id == $r)][0]' "$T/notices.json")
is "$(printf '%s' "$R" | jq -r '[.redo, .discarded_text] | @tsv')" "$(printf 'message\ttrue')" \
	"8: the resume is in the notices (the message redone, its partial text discarded)"
is "$(jq -r --arg r "$R10" '[.[] | select(.run_id == $r) | .event] | join(",")' "$T/notices.json")" \
	"run.resumed,run.finished" "8: ... before the run's end"

# ---- 9. a full notices file is rotated, not dropped; requests keep the summary only --
session_new default || cw_bail "cannot create a session"
S11=$SID
ND="$(session_dir "$S11")/.claude"
mkdir -p "$ND"
PAD=$(printf 'x%.0s' $(seq 1 900))
for i in $(seq 1 1150); do
	printf '{"event":"run.removed","run_id":"filler-%04d","pad":"%s","at":"2026-01-01T00:00:00.000Z","anchor":{"msg":-1,"block":0}}\n' "$i" "$PAD"
done >"$ND/notices.jsonl"
cmp_ok "$(stat -c %s "$ND/notices.jsonl")" -gt $((1024 * 1024 - 2000)) "9: the notices file is (nearly) full: $(stat -c %s "$ND/notices.jsonl") bytes"
BX=toolu_rot_$M
LONG=$(printf 'echo rot-%s' "$M"; printf ' word%.0s' $(seq 1 300))
tools_run "$S11" "$(blocks "$(bash_block "$LONG" "$BX")")" 60 || diag "run 11: $SSE_END"
check "9: the full file was rotated to notices.1.jsonl" test -s "$ND/notices.1.jsonl"
notices "$S11"
R=$(jq -c --arg t "$BX" '[.[] | select(.event == "permission.request" and .tool_use_id == $t)][0]' "$T/notices.json")
is "$(printf '%s' "$R" | jq -r '.tool')" bash "9: a request after the file filled up is still in the notices"
is "$(printf '%s' "$R" | jq -r 'has("input")')" false "9: ... without the tool's input (the history has it)"
cmp_ok "$(printf '%s' "$R" | jq -r '.summary | utf8bytelength')" -le 512 "9: ... with its summary capped at 512 bytes"
like "$(printf '%s' "$R" | jq -r '.summary')" "^Run a command: echo rot-$M word" "9: ... the summary's start"
is "$(jq -r --arg t "$BX" '[.[] | select(.event == "permission.resolved" and .tool_use_id == $t)][0].decision' "$T/notices.json")" expired \
	"9: ... and its resolution (a reload does not show it as failed)"
is "$(jq -r '[.[] | select(.event == "run.removed")] | last | .run_id' "$T/notices.json")" filler-1150 \
	"9: the loader reads the rotated file too (the newest older records)"

# ---- 10. /clear keeps the 3 newest archives; the rotated notices go with the old conversation --
# clear_s SID: a /clear run, to its end; ARCH: the archive's name.
clear_s() {
	local mark rc
	mark=$(events_mark "$1")
	api_bearer "$ANN" "/api/sessions/$1/clear" -X POST
	rc=$(json .run_id)
	sse_read "$T/clr.jsonl" --session "$1" --last-event-id "$mark" --until "$FINAL_EVENTS" --run-id "$rc" --timeout 30
	ARCH=$(ev_first "$T/clr.jsonl" cleared "$rc" | jq -r '.cleared.archived')
}
clear_s "$S11"
ARCH1=$ARCH
check "10: /clear archived the conversation ($ARCH1)" test -s "$ND/$ARCH1"
check "10: ... the rotated notices are gone with it" test ! -e "$ND/notices.1.jsonl"
notices "$S11"
is "$(jq -r '[.[] | select(.event == "run.removed")] | length' "$T/notices.json")" 0 "10: ... and no longer in the notices"
for i in 2 3 4; do
	fake_reset
	fake_script "$(jq -cn --arg t "answer $i" '{turns: [{text: $t}]}')"
	run_msg "$S11" "prompt $i before a clear" 30 || diag "run 10.$i: $SSE_END"
	clear_s "$S11"
done
is "$(find "$ND" -maxdepth 1 -name 'history-*.json' | wc -l | tr -d ' ')" 3 "10: after 4 clears, 3 archived conversations are kept"
check "10: ... the oldest went" test ! -e "$ND/$ARCH1"
check "10: ... the newest stayed" test -s "$ND/$ARCH"
cmp_ok "$(find "$ND" -maxdepth 1 -name 'notices-*.jsonl' | wc -l | tr -d ' ')" -le 3 "10: ... and at most 3 archived notices"

tap_done
