#!/usr/bin/env bash
# t_attach.sh: what a message carries besides its text (issue 13). @-mentioned
# files ("attachments") reach Claude as a text block with their path and
# content; image blocks reach it byte for byte; bad images (wrong magic, wrong
# type, bad base64, oversize, too many), links, FIFOs, directories, binary
# and oversized files are refused with a 400 naming the block and nothing is
# queued; the @ menu's file search ranks, caps and never follows links;
# images (a person's, or the editor's view of one) never grow the
# conversation past 20 MiB.
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source=tests/integration/lib_auth.sh
. "$(dirname "$0")/lib_auth.sh"
# shellcheck source=tests/integration/lib_agent.sh
. "$(dirname "$0")/lib_agent.sh"
cw_require_agent base64 head
AGENT_NO_TOOLS=1

CW_CONF[RUNNER_WORKERS]=1
agent_stack_up
new_session || cw_bail "cannot create a session: $HTTP_STATUS $(cat "$BODY")"
FILES=${CW_CONF[WORKSPACE_PATH]}/sessions/session-$SID/files
SDIR=${FILES%/files}
mkdir -p "$FILES/src" "$FILES/docs"
printf 'int main(void) { return 0; }\n' >"$FILES/src/a.c"
printf 'no newline at the end' >"$FILES/docs/n.txt"

# msg JSON: POST it as the body of /messages; RUN_ID on 202.
msg() {
	printf '%s' "$1" >"$T/msg.json"
	api_bearer "$TOKEN" "/api/sessions/$SID/messages" -X POST \
		-H 'Content-Type: application/json' --data-binary "@$T/msg.json"
	RUN_ID=$(json '.run_id // empty')
}
# run_json JSON: msg, then wait for the run's final event.
run_json() {
	local mark
	mark=$(events_mark "$SID")
	msg "$1"
	EV_N=$((EV_N + 1))
	EV=$T/ev.$EV_N.jsonl
	: >"$EV"
	[ "$HTTP_STATUS" = 202 ] || return 1
	sse_read "$EV" --session "$SID" --last-event-id "$mark" --until "$FINAL_EVENTS" \
		--run-id "$RUN_ID" --timeout 20
	[ "$SSE_END" = until ]
}

# ---- 1. @-mentioned files -------------------------------------------------------
fake_script '{"turns":[{"text":"It returns 0."}]}'
run_json '{"content":"what does @src/a.c do? and @docs/n.txt","attachments":[{"path":"src/a.c"},{"path":"/workspace/docs/n.txt"},{"path":"src/a.c"}]}'
is "$HTTP_STATUS $SSE_END" "202 until" "1: a message with two attachments (one named twice) runs"
fake_requests
WANT1=$(jq -cn '[{role: "user", content: [
	{type: "text", text: "<attached_file path=\"src/a.c\">\nint main(void) { return 0; }\n</attached_file>"},
	{type: "text", text: "<attached_file path=\"docs/n.txt\">\nno newline at the end\n</attached_file>"},
	{type: "text", text: "what does @src/a.c do? and @docs/n.txt"}]}]')
# Upstream, the last block carries the cache breakpoint (agent.c), nothing else differs.
is "$(fake_req 1 '.body.messages')" "$(jq -c '.[0].content[-1].cache_control = {type: "ephemeral"}' <<<"$WANT1")" \
	"1: upstream: each file once as a text block with its path and content, then the text"
is "$(fake_req 1 '.error')" null "1: ...and the fake accepts the request"
get_history "$SID"
is "$(jq -c '.messages[0:1]' "$T/hist.json")" "$WANT1" "1: the history stores the same user message"

# ---- 2. an image, byte for byte -------------------------------------------------
# A 1x1 PNG (real header and chunks).
PNG_B64=iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==
IMG=$(jq -cn --arg d "$PNG_B64" '{type: "image", source: {type: "base64", media_type: "image/png", data: $d}}')
fake_script '{"turns":[{"text":"A single pixel."}]}'
run_json "$(jq -cn --argjson i "$IMG" '{content: [$i, {type: "text", text: "what is this?"}]}')"
is "$HTTP_STATUS $SSE_END" "202 until" "2: a message with a PNG block runs"
fake_requests
WANT2=$(jq -cn --argjson i "$IMG" '{role: "user", content: [$i, {type: "text", text: "what is this?"}]}')
is "$(fake_req 2 '.body.messages[2]')" "$(jq -c '.content[-1].cache_control = {type: "ephemeral"}' <<<"$WANT2")" \
	"2: upstream: the image block exactly as sent, then the text"
is "$(jq -r '.requests[1].body.messages[2].content[0].source.data' "$FAKE_REQS" | base64 -d | od -An -tx1 -N8 | tr -d ' \n')" \
	89504e470d0a1a0a "2: ...its data decodes to the PNG bytes"
get_history "$SID"
is "$(jq -c '.messages[2]' "$T/hist.json")" "$WANT2" \
	"2: the history stores the image block as sent (the transcript redraws it after a reload)"
# Images and attachments together; the other image types by their magic.
JPG=$(printf '\377\330\377\340\000\020JFIF\000' | base64 -w0)
GIF=$(printf 'GIF89a\001\000\001\000\000\000\000;' | base64 -w0)
WEBP=$(printf 'RIFF\032\000\000\000WEBPVP8L\015\000\000\000' | base64 -w0)
fake_script '{"turns":[{"text":"Three more."}]}'
run_json "$(jq -cn --arg j "$JPG" --arg g "$GIF" --arg w "$WEBP" '{content: [
	{type: "image", source: {type: "base64", media_type: "image/jpeg", data: $j}},
	{type: "image", source: {type: "base64", media_type: "image/gif", data: $g}},
	{type: "image", source: {type: "base64", media_type: "image/webp", data: $w}},
	{type: "text", text: "and these, with @src/a.c"}], attachments: [{path: "src/a.c"}]}')"
is "$HTTP_STATUS $SSE_END" "202 until" "2: JPEG, GIF and WebP blocks with an attachment run"
fake_requests
is "$(fake_req 3 '.body.messages[4].content | map(.type + ":" + (.source.media_type // (.text | .[0:29]))) | join(" ")')" \
	'"text:<attached_file path=\"src/a.c\" image:image/jpeg image:image/gif image:image/webp text:and these, with @src/a.c"' \
	"2: upstream: the file first, then the images and the text in the order sent"

# ---- 3. refused: 400 naming the block, nothing queued ----------------------------
NREQ=$(fake_nreq)
# bad JSON BODY REGEX DESC: 400 whose message matches REGEX.
bad() {
	msg "$1"
	is "$HTTP_STATUS" 400 "3: $3 → 400"
	like "$(json .error.message)" "$2" "3: ...the message says why ($(json .error.message | cut -c1-90))"
}
img() { jq -cn --arg t "$1" --arg d "$2" '{type: "image", source: {type: "base64", media_type: $t, data: $d}}'; }
with() { jq -cn --argjson i "$1" '{content: [{type: "text", text: "look"}, $i]}'; }
bad "$(with "$(img image/png "$JPG")")" "content\[1\].*not a PNG image" "a JPEG declared as image/png"
bad "$(with "$(img image/jpeg "$PNG_B64")")" "content\[1\].*not a JPEG image" "a PNG declared as image/jpeg"
bad "$(with "$(img image/bmp "$PNG_B64")")" "content\[1\]\.source\.media_type" "image/bmp"
bad "$(with "$(img image/png 'iVBORw0KGgo!AAAA')")" "content\[1\]\.source\.data.*base64" "a '!' in the base64"
bad "$(with "$(img image/png 'iVBORw0KGgoAAA')")" "content\[1\]\.source\.data.*multiple of 4" "unpadded base64"
bad "$(with "$(img image/png 'iVBO Rw0KGgo')")" "content\[1\]\.source\.data.*alphabet" "whitespace in the base64"
bad "$(with '{"type":"image","source":{"type":"url","url":"https://example.com/a.png"}}')" "content\[1\]" "an image by URL"
{ printf '\211PNG\r\n\032\n'; head -c $((5 * 1024 * 1024 - 7)) /dev/zero; } | base64 -w0 >"$T/big.b64"
jq -cn --rawfile d "$T/big.b64" '{content: [{type: "text", text: "big"},
	{type: "image", source: {type: "base64", media_type: "image/png", data: ($d | rtrimstr("\n"))}}]}' >"$T/big.json"
bad "$(cat "$T/big.json")" "content\[1\].*5242881 bytes" "an image of 5 MiB + 1 byte"
SIX=$(jq -cn --argjson i "$IMG" '{content: (([range(6)] | map($i)) + [{type: "text", text: "six"}])}')
bad "$SIX" "content\[5\].*at most 5 images" "six images"
{ printf '{"content":"'; head -c $((10 * 1024 * 1024)) /dev/zero | tr '\0' a; printf '"}'; } >"$T/huge.json"
api_bearer "$TOKEN" "/api/sessions/$SID/messages" -X POST -H 'Content-Type: application/json' \
	--data-binary "@$T/huge.json"
is "$HTTP_STATUS $(json .error.message | cut -c1-27)" "413 request body is larger than" \
	"3: a body above 10 MiB → 413 (bounded)"

# Attachments that are not plain files of the session.
ln -s a.c "$FILES/src/link.c"
ln -s src "$FILES/srclink"
ln -s /etc/passwd "$FILES/pw"
mkfifo "$FILES/pipe"
head -c 1000 /dev/urandom >"$FILES/bin.dat"
printf 'a\0b\n' >"$FILES/nul.txt"
head -c $((100 * 1024 + 1)) /dev/zero | tr '\0' x >"$FILES/big.txt"
att() { jq -cn --arg p "$1" '{content: "see", attachments: [{path: "src/a.c"}, {path: $p}]}'; }
bad "$(att src/link.c)" "attachments\[1\].*src/link.c is a symbolic link" "a symlink to a file of the session"
bad "$(att srclink/a.c)" "attachments\[1\].*srclink/a.c is a symbolic link" "a path through a symlinked directory"
bad "$(att pw)" "attachments\[1\].*pw is a symbolic link" "a symlink to /etc/passwd"
T0=$(now_ms)
bad "$(att pipe)" "attachments\[1\].*pipe is not a regular file" "a FIFO"
cmp_ok "$(($(now_ms) - T0))" -lt 3000 "3: ...answered at once (the FIFO never blocks)"
bad "$(att src)" "attachments\[1\].*src is not a regular file" "a directory"
bad "$(att ../metadata.json)" "attachments\[1\]\.path" "../metadata.json (outside files/)"
bad "$(att /etc/passwd)" "attachments\[1\].*no such file: etc/passwd" "/etc/passwd (taken as files/etc/passwd)"
bad "$(att bin.dat)" "attachments\[1\].*bin.dat is not a text file" "a binary file"
bad "$(att nul.txt)" "attachments\[1\].*nul.txt is not a text file" "a file with a NUL byte"
bad "$(att big.txt)" "attachments\[1\].*big.txt is larger than 102400 bytes" "a file of 100 kB + 1 byte"
bad "$(att nothing.c)" "attachments\[1\].*no such file: nothing.c" "a missing file"
bad '{"content":"x","attachments":[{"path":"src/a.c"},{"path":"docs/n.txt"},{"path":"1"},{"path":"2"},{"path":"3"},{"path":"4"}]}' \
	"'attachments' may name at most 5" "six attachments"
bad '{"content":"x","attachments":"src/a.c"}' "'attachments' must be an array" "attachments as a string"
bad '{"content":"x","attachments":[{"file":"src/a.c"}]}' "attachments\[0\]' must be" "an attachment without a path"
api_bearer "$TOKEN" "/api/sessions/$SID/messages"
is "$(jq -c '.queued | length' "$BODY")" 0 "3: nothing was queued by any refused message"
is "$(find "$SDIR/.claude/inbox" -type f 2>/dev/null | wc -l | tr -d ' ')" 0 "3: ...and the inbox is empty"
is "$(fake_nreq)" "$NREQ" "3: ...and nothing reached the Anthropic API"
is "$(jq '.messages | length' "$BODY")" 6 "3: the history is unchanged (three prompts, three answers)"

# ---- 4. the file search of the @ menu ----------------------------------------
mkdir -p "$FILES/lib/a/t/t/a/c" "$FILES/node_modules/x" "$FILES/.git" "$FILES/deep"
: >"$FILES/src/attach.c"
: >"$FILES/docs/attach-notes.md"
: >"$FILES/lib/a/t/t/a/c/h.c"
: >"$FILES/node_modules/x/attach.js"
: >"$FILES/.git/attach"
ln -s /etc "$FILES/etclink"
search() { api_bearer "$TOKEN" "/api/sessions/$SID/files/search?$1"; }
search 'q=attach'
is "$HTTP_STATUS" 200 "4: GET files/search?q=attach is 200"
is "$(jq -c '[.results[].path]' "$BODY")" '["src/attach.c","docs/attach-notes.md","lib/a/t/t/a/c/h.c"]' \
	"4: best first: the name match, the longer name match, then the scattered subsequence"
is "$(jq -c '[.query, .truncated]' "$BODY")" '["attach",false]' "4: ...with the query, not truncated"
search 'q=ATT&limit=1'
is "$(jq -c '[.results[].path]' "$BODY")" '["src/attach.c"]' "4: case-insensitive; limit=1 gives one result"
search 'q=passwd'
is "$(jq -c '.results' "$BODY")" '[]' "4: nothing through a symlinked directory (etclink → /etc)"
search 'q=link'
is "$(jq -c '[.results[].path]' "$BODY")" '[]' "4: symlinks are never results (src/link.c, srclink, pw, etclink)"
search 'q=pipe'
is "$(jq -c '.results' "$BODY")" '[]' "4: nor FIFOs"
search ''
is "$(jq -c '.results | length' "$BODY")" 8 "4: no query: every regular file outside .git and node_modules"
is "$(json '.results[0].path')" big.txt "4: ...shortest paths first, then by name"
for q in 'limit=0' 'limit=101' 'limit=abc' 'limit=-1' 'limit=' "q=$(head -c 300 /dev/zero | tr '\0' a)" 'q=%ff'; do
	search "$q"
	is "$HTTP_STATUS $(json .error.message | cut -c1-18)" \
		"400 $(case $q in limit*) echo "query parameter 'l";; *) echo "query parameter 'q";; esac)" \
		"4: ?$(printf '%s' "$q" | cut -c1-20) → 400 naming the parameter"
done
api_bearer "$TOKEN" "/api/sessions/nope/files/search?q=a"
is "$HTTP_STATUS" 404 "4: an unknown session → 404"

# A match spread thin (each letter 22 characters after the last, all in the
# directory's name) still matches: it scored below zero once and vanished.
X21=xxxxxxxxxxxxxxxxxxxxx
SPREAD="a${X21}b${X21}c${X21}d${X21}e${X21}"
mkdir -p "$FILES/$SPREAD"
: >"$FILES/$SPREAD/notes.txt"
search 'q=abcde'
is "$(jq -c '[.results[].path]' "$BODY")" "[\"$SPREAD/notes.txt\"]" \
	"4: a path matching only with wide gaps is found (?q=abcde)"
search 'q=abcdenotes'
is "$(jq -c '[.results[].path]' "$BODY")" "[\"$SPREAD/notes.txt\"]" "4: ...and with its file name"

# Bounded: 25000 entries are more than the walk looks at.
python3 - "$FILES/deep" <<'EOF'
import os, sys
for i in range(25000):
    open(os.path.join(sys.argv[1], "f%05d.txt" % i), "w").close()
EOF
T0=$(now_ms)
search 'q=zzzz'
MS=$(($(now_ms) - T0))
is "$HTTP_STATUS $(jq -c .truncated "$BODY")" "200 true" "4: a tree of 25000 files: the walk stops at its cap (truncated: true)"
cmp_ok "$MS" -lt 3000 "4: ...and answers within its budget (${MS} ms)"

# ---- 5. images cannot grow a conversation past what one request may carry ---------
new_session || cw_bail "cannot create a second session"
{ printf '\211PNG\r\n\032\n'; head -c $((4 * 1024 * 1024 - 8)) /dev/zero; } | base64 -w0 >"$T/4m.b64"
big_msg() {
	jq -cn --rawfile d "$T/4m.b64" --arg t "$1" '{content: [
		{type: "image", source: {type: "base64", media_type: "image/png", data: ($d | rtrimstr("\n"))}},
		{type: "text", text: $t}]}'
}
# Images cost few tokens: the usage says so (else the fake's bytes/4 estimate would compact).
U='"usage":{"input_tokens":3000,"output_tokens":5}'
fake_script "{\"turns\":[{\"text\":\"one\",$U},{\"text\":\"two\",$U},{\"text\":\"three\",$U},{\"text\":\"text only\",$U}]}"
for i in 1 2 3; do
	run_json "$(big_msg "image $i")"
	is "$HTTP_STATUS $SSE_END" "202 until" "5: a message with a 4 MiB image ($i of 3) runs"
done
fake_requests
BIGGEST=$(jq '[.requests[].body_bytes] | max' "$FAKE_REQS")
cmp_ok "$BIGGEST" -gt $((16 * 1000 * 1000)) "5: the third request carries all three images ($BIGGEST bytes)"
NREQ=$(fake_nreq)
msg "$(big_msg "image 4")"
is "$HTTP_STATUS" 413 "5: a fourth one would pass 20 MiB of conversation → 413"
like "$(json .error.message)" "already holds [0-9]+ kB.*pass 20 MB.*/compact" "5: ...saying why and what to do"
api_bearer "$TOKEN" "/api/sessions/$SID/messages"
is "$(jq '.queued | length' "$BODY")" 0 "5: ...and nothing was queued"
run_json '{"content":"a text-only message still goes"}'
is "$HTTP_STATUS $SSE_END" "202 until" "5: a message without images is not held back by that rule"
is "$(fake_nreq)" "$((NREQ + 1))" "5: ...one more request upstream, none for the refused one"

# ---- 6. nor can images from tools (the editor's view of an image) --------------
# Each view of a 4.5 MiB PNG adds 6 MiB of base64 to the conversation: three
# fit under 20 MiB, a fourth would not, so it comes back as an is_error text.
new_session || cw_bail "cannot create a third session"
F6=${CW_CONF[WORKSPACE_PATH]}/sessions/session-$SID/files
mkdir -p "$F6"
{ printf '\211PNG\r\n\032\n'; head -c $((4608 * 1024 - 8)) /dev/zero; } >"$F6/big.png"
printf '%s' "$PNG_B64" | base64 -d >"$F6/dot.png"
view() { jq -cn --arg id "$1" --arg p "$2" \
	'{type: "tool_use", id: $id, name: "str_replace_based_edit_tool", input: {command: "view", path: $p}}'; }
# tool_results N FILTER: over the tool.result events of the last run (1-based).
tool_results() { jq -s -c ".[$1 - 1] | $2" <(jq -c 'select(.event == "tool.result") | .data' "$EV"); }
M=$$
V="$(view "toolu_v1_$M" /workspace/big.png),$(view "toolu_v2_$M" /workspace/big.png),$(view "toolu_v3_$M" /workspace/big.png),$(view "toolu_v4_$M" /workspace/big.png)"
fake_reset
fake_script "{\"turns\":[{\"content\":[{\"type\":\"text\",\"text\":\"Looking.\"},$V],$U},{\"text\":\"seen\",$U}]}"
run_json '{"content":"look at big.png four times"}'
is "$HTTP_STATUS $SSE_END" "202 until" "6: a run viewing a 4.5 MiB PNG four times in one turn ends"
is "$(tool_results 1 .is_error) $(tool_results 3 .is_error)" "false false" "6: the third view still fits (18 MiB of images)"
is "$(tool_results 4 .is_error)" true "6: the fourth view is an error result"
like "$(tool_results 4 .content)" "image was not sent.*already holds [0-9]+ kB.*pass 20 MB.*/compact.*/clear" \
	"6: ...saying why, and that the user can /compact or /clear"
fake_requests
is "$(fake_req 2 '.body.messages[-1].content | map([.tool_use_id, .is_error, (.content | if type == "array" then map(.type + ":" + .source.media_type + ":" + (.source.data | length | tostring)) else (.[0:26]) end)])')" \
	"$(jq -cn --arg m "$M" '[[1, null, ["image:image/png:6291456"]], [2, null, ["image:image/png:6291456"]],
		[3, null, ["image:image/png:6291456"]], [4, true, "Error: the image was not s"]]
		| map(.[0] = "toolu_v\(.[0])_\($m)")')" \
	"6: upstream: three image results, the fourth a text error without the image"
cmp_ok "$(fake_req 2 .body_bytes)" -lt $((20 * 1024 * 1024 + 100000)) "6: ...so the request stays small enough ($(fake_req 2 .body_bytes) bytes)"
is "$(fake_req 2 .error)" null "6: ...and the fake accepts it"
# The next run: the history now holds those images; a big view is refused,
# a tiny one still fits.
fake_reset
fake_script "{\"turns\":[{\"content\":[$(view "toolu_v5_$M" /workspace/big.png),$(view "toolu_v6_$M" /workspace/dot.png)],$U},{\"text\":\"ok\",$U}]}"
run_json '{"content":"once more, and the dot"}'
is "$HTTP_STATUS $SSE_END" "202 until" "6: a later run viewing both images ends"
is "$(tool_results 1 .is_error) $(tool_results 2 .is_error)" "true false" \
	"6: the big image is refused (the history already holds 18 MiB), the 1x1 PNG is not"
fake_requests
is "$(fake_req 2 '.body.messages[-1].content | map(.content | if type == "array" then .[0].source.data else .[0:26] end)')" \
	"$(jq -cn --arg d "$PNG_B64" '["Error: the image was not s", $d]')" "6: upstream: the error text, then the dot's image"

tap_done
