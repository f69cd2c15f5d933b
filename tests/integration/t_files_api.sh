#!/usr/bin/env bash
# t_files_api.sh: the files API of a session, through nginx, as the web UI
# uses it: write (201/200, ETag, If-Match 412, 413 above MAX_FILE_SIZE),
# read (bytes, safe Content-Type, ETag, If-None-Match 304), list, mkdir,
# move, delete, the .tar.gz archive (extracted and compared), traversal
# attempts (../, %2e%2e, absolute paths, NUL, symlinks) that must never
# leave files/, a file.changed event on the SSE stream, and Claude's edit
# log with revert (edits made by real runs with the fake model).
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source=tests/integration/lib_auth.sh
. "$(dirname "$0")/lib_auth.sh"
# shellcheck source=tests/integration/lib_agent.sh
. "$(dirname "$0")/lib_agent.sh"
# shellcheck source=tests/integration/lib_tools.sh
. "$(dirname "$0")/lib_tools.sh"
cw_require_tools_stack

# A request stuck on a FIFO (section 10) must not hold a worker for a minute.
CW_CONF[REQUEST_TIMEOUT]=10
tools_stack_up
MFS=${CW_CONF[MAX_FILE_SIZE]}
ANN=$TOKEN
user_add bob bob-password-1 || cw_bail "user add bob: $(cat "$ADMIN_OUT")"
login bob bob-password-1 || cw_bail "bob cannot log in"
BOB=$TOKEN
TOKEN=$ANN
session_new bypassPermissions || cw_bail "cannot create a session: $HTTP_STATUS $(cat "$BODY")"
SDIR=$(session_dir "$SID")
FILES=$SDIR/files
M=$$

uri() { jq -rn --arg p "$1" '$p | @uri'; }
# fput PATH FILE|-  [CURL ARGS]: PUT raw bytes (FILE, or stdin with -).
fput() {
	local p=$1 f=$2
	shift 2
	api_auth "/api/sessions/$SID/files/content?path=$(uri "$p")" -X PUT \
		-H 'Content-Type: application/octet-stream' --data-binary "@$f" "$@"
}
fget() {
	local p=$1
	shift
	api_auth "/api/sessions/$SID/files/content?path=$(uri "$p")" "$@"
}
fpost() {
	api_auth "/api/sessions/$SID/files/$1" -X POST -H 'Content-Type: application/json' \
		--data-binary "$2"
}

# ---- 1. write and read ---------------------------------------------------------------
printf 'hello\n' >"$T/a1"
fput a.txt "$T/a1"
is "$HTTP_STATUS" 201 "1: PUT of a new file is 201"
E1=$(json '.etag // empty')
isnt "$E1" "" "1: the answer carries the etag"
is "$(header ETag)" "$E1" "1: ... also as the ETag header"
is "$(json .size)" 6 "1: ... and the size"
is "$(cat "$FILES/a.txt")" hello "1: the file is in the session's files/"
fget a.txt
is "$HTTP_STATUS" 200 "1: GET content is 200"
check "1: the bytes come back unchanged" cmp -s "$BODY" "$T/a1"
like "$HTTP_CT" '^text/plain' "1: a text file is text/plain"
is "$(header ETag)" "$E1" "1: GET's ETag equals PUT's"
like "$(header Content-Security-Policy)" 'sandbox' "1: served with a sandboxing CSP"
fget a.txt -H "If-None-Match: $E1"
is "$HTTP_STATUS" 304 "1: If-None-Match with the current ETag is 304"
is "$(wc -c <"$BODY")" 0 "1: ... without a body"
fget a.txt -H 'If-None-Match: "nope"'
is "$HTTP_STATUS" 200 "1: If-None-Match with another ETag is 200"

printf 'hello again\n' >"$T/a2"
sleep 0.01
fput a.txt "$T/a2"
is "$HTTP_STATUS" 200 "1: PUT over an existing file is 200"
E2=$(json '.etag // empty')
isnt "$E2" "$E1" "1: the etag changed"
fget a.txt -H "If-None-Match: $E1"
is "$HTTP_STATUS" 200 "1: the old ETag no longer gives 304"
check "1: the new content is served" cmp -s "$BODY" "$T/a2"

printf 'lost update\n' >"$T/a3"
fput a.txt "$T/a3" -H "If-Match: $E1"
is_json_error 412 "1: PUT with a stale If-Match is a 412 JSON error"
check "1: the file was not overwritten" cmp -s "$FILES/a.txt" "$T/a2"
fput a.txt "$T/a3" -H "If-Match: $E2"
is "$HTTP_STATUS" 200 "1: PUT with the current If-Match is 200"
check "1: ... and wrote" cmp -s "$FILES/a.txt" "$T/a3"
fput never.txt "$T/a3" -H "If-Match: $E2"
is "$HTTP_STATUS" 412 "1: If-Match on a file that does not exist is 412"
check "1: ... and nothing was created" test ! -e "$FILES/never.txt"

# ---- 2. content types ---------------------------------------------------------------------
printf '<html><script>alert(1)</script></html>\n' >"$T/h"
fput page.html "$T/h"
fget page.html
like "$HTTP_CT" '^text/plain' "2: an .html file is served as text/plain, never text/html"
printf '<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>\n' >"$T/s"
fput pic.svg "$T/s"
fget pic.svg
unlike "$HTTP_CT" 'svg|html|xml|javascript' "2: an .svg is not served as a scriptable type ($HTTP_CT)"
printf 'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==' |
	base64 -d >"$T/p.png"
fput dot.png "$T/p.png"
fget dot.png
is "$HTTP_CT" image/png "2: a .png is image/png"
check "2: the PNG bytes come back unchanged" cmp -s "$BODY" "$T/p.png"
head -c 3000 /dev/urandom >"$T/bin"
printf '\0' >>"$T/bin"
fput data.bin "$T/bin"
fget data.bin
unlike "$HTTP_CT" '^text/html' "2: binary data is not text/html ($HTTP_CT)"
check "2: binary bytes round-trip" cmp -s "$BODY" "$T/bin"

# ---- 3. size limit ------------------------------------------------------------------------------
head -c "$MFS" /dev/zero | tr '\0' x >"$T/max"
fput max.txt "$T/max"
is "$HTTP_STATUS" 201 "3: a file of exactly MAX_FILE_SIZE ($MFS) is accepted"
head -c $((MFS + 1)) /dev/zero | tr '\0' x >"$T/over"
fput over.txt "$T/over"
is_json_error 413 "3: one byte more is a 413 JSON error"
check "3: nothing was written" test ! -e "$FILES/over.txt"

# ---- 4. mkdir, list, move, delete --------------------------------------------------------------
fpost mkdir '{"path":"d1"}'
is "$HTTP_STATUS" 201 "4: mkdir is 201"
fpost mkdir '{"path":"d1"}'
is_json_error 409 "4: mkdir of an existing directory is 409"
fpost mkdir '{"path":"/workspace/d1/d2"}'
is "$HTTP_STATUS" 201 "4: mkdir with a /workspace/... path is 201"
check "4: d1/d2 exists on disk" test -d "$FILES/d1/d2"
printf 'inner\n' >"$T/in"
fput d1/in.txt "$T/in"
is "$HTTP_STATUS" 201 "4: PUT into a subdirectory"

api_auth "/api/sessions/$SID/files?path="
is "$HTTP_STATUS" 200 "4: listing the root is 200"
is "$(json .path)" "" "4: path is the root"
is "$(json '[.entries[].name] | join(",")')" "$(cd "$FILES" && LC_ALL=C ls -1A | paste -sd, -)" \
	"4: entries are the files on disk, sorted"
is "$(json '.entries[] | select(.name == "d1") | .type')" directory "4: d1 is a directory"
is "$(json '.entries[] | select(.name == "a.txt") | "\(.type) \(.size)"')" "file 12" "4: a.txt is a file of 12 bytes"
like "$(json '.entries[] | select(.name == "a.txt") | .mtime')" '^[0-9]{4}-[0-9]{2}-[0-9]{2}T' "4: entries have an mtime"
api_auth "/api/sessions/$SID/files?path=d1"
is "$(json '[.entries[] | "\(.name):\(.type)"] | join(",")')" "d2:directory,in.txt:file" "4: listing d1"
api_auth "/api/sessions/$SID/files?path=nope"
is "$HTTP_STATUS" 404 "4: listing a missing directory is 404"

fpost move '{"from":"a.txt","to":"d1/moved.txt"}'
is "$HTTP_STATUS" 200 "4: move is 200"
fget a.txt
is "$HTTP_STATUS" 404 "4: the old path is gone"
fget d1/moved.txt
check "4: the new path has the content" cmp -s "$BODY" "$T/a3"
printf 'c\n' >"$T/c"
fput c.txt "$T/c"
fpost move '{"from":"c.txt","to":"d1/in.txt"}'
is_json_error 409 "4: moving onto an existing file is 409"
check "4: both files are unchanged" eval "cmp -s '$FILES/c.txt' '$T/c' && cmp -s '$FILES/d1/in.txt' '$T/in'"
fpost move '{"from":"missing.txt","to":"x.txt"}'
is "$HTTP_STATUS" 404 "4: moving a missing file is 404"

fget c.txt -X DELETE
is "$HTTP_STATUS" 204 "4: DELETE is 204"
check "4: the file is gone" test ! -e "$FILES/c.txt"
fget c.txt -X DELETE
is "$HTTP_STATUS" 404 "4: DELETE again is 404"
fpost mkdir '{"path":"tree"}'
fpost mkdir '{"path":"tree/sub"}'
fput tree/sub/f.txt "$T/c"
fget tree -X DELETE
is "$HTTP_STATUS" 204 "4: DELETE of a directory tree is 204"
check "4: the tree is gone" test ! -e "$FILES/tree"
fget "" -X DELETE
is "$HTTP_STATUS" 400 "4: the root cannot be deleted"
check "4: files/ is still there" test -d "$FILES"

# ---- 5. the archive: a round trip ---------------------------------------------------------------
fpost mkdir '{"path":"emptyd"}'
fput "with space.txt" "$T/a1"
fput "ünï.txt" "$T/a2"
api_auth "/api/sessions/$SID/archive"
cp "$BODY" "$T/arch.tgz"
is "$HTTP_STATUS" 200 "5: GET /archive is 200"
is "$HTTP_CT" application/gzip "5: application/gzip"
like "$(header Content-Disposition)" 'attachment; filename=".*\.tar\.gz"' "5: offered as a .tar.gz download"
mkdir -p "$T/x"
check "5: it is a valid .tar.gz" tar -xzf "$T/arch.tgz" -C "$T/x"
DIFF=$(diff -r "$T/x" "$FILES" 2>&1)
is "$DIFF" "" "5: the extracted tree equals files/ (names, contents, empty dirs)"
check "5: the empty directory is in it" test -d "$T/x/emptyd"
LIST=$(tar -tzf "$T/arch.tgz" 2>&1)
like "$LIST" 'd1/in\.txt' "5: the listing has the files"
unlike "$LIST" 'metadata.json|history|\.claude' "5: only files/, nothing of the session's internals"

# ---- 6. traversal attempts ------------------------------------------------------------------------
SECRETS='root:x:0:0|"owner"|"messages"'
for q in '../metadata.json' 'd1/../../metadata.json' '%2e%2e/metadata.json' '%2e%2e%2fmetadata.json' \
	'..%2f..%2f..%2f..%2fetc%2fpasswd' '/workspace/../metadata.json' '/../../../../etc/passwd' \
	'....//metadata.json' '%252e%252e/metadata.json' '/etc/passwd' 'd1/%2e%2e/%2e%2e/metadata.json'; do
	api_auth "/api/sessions/$SID/files/content?path=$q"
	like "$HTTP_STATUS" '^(400|403|404)$' "6: GET path=$q -> $HTTP_STATUS"
	unlike "$(head -c 3000 "$BODY")" "$SECRETS" "6: path=$q returns nothing from outside files/"
done
api_auth "/api/sessions/$SID/files/content?path=/etc/passwd"
is "$HTTP_STATUS" 404 "6: /etc/passwd means files/etc/passwd: 404"
api_auth "/api/sessions/$SID/files/content?path=a%00.png"
is "$HTTP_STATUS" 400 "6: a NUL byte in the path is 400"
api_auth "/api/sessions/$SID/files/content?path=d1/moved.txt%00"
is "$HTTP_STATUS" 400 "6: a trailing NUL is 400"
api_auth "/api/sessions/$SID/files?path=.."
is "$HTTP_STATUS" 400 "6: listing .. is 400"
api_auth "/api/sessions/$SID/files?path=/"
is "$(json '[.entries[].name] | join(",")')" "$(cd "$FILES" && LC_ALL=C ls -1A | paste -sd, -)" \
	"6: listing / lists files/ (absolute paths are relative to files/)"
api_auth "/api/sessions/$SID/files?path=/etc"
is "$HTTP_STATUS" 404 "6: listing /etc is 404"
fput ../evil_$M.txt "$T/c"
is "$HTTP_STATUS" 400 "6: PUT ../x is 400"
fput /tmp/cw_abs_$M "$T/c"
like "$HTTP_STATUS" '^(400|403|404)$' "6: PUT /tmp/... is not written to the host's /tmp ($HTTP_STATUS)"
check "6: nothing escaped (session dir, WORKSPACE_PATH, /tmp)" eval \
	"[ ! -e '$SDIR/evil_$M.txt' ] && [ ! -e '$(dirname "$SDIR")/evil_$M.txt' ] && [ ! -e /tmp/cw_abs_$M ]"
fpost mkdir "{\"path\":\"../newdir_$M\"}"
is "$HTTP_STATUS" 400 "6: mkdir ../x is 400"
fpost move '{"from":"../metadata.json","to":"stolen.json"}'
is "$HTTP_STATUS" 400 "6: move from ../ is 400"
fpost move "{\"from\":\"d1/in.txt\",\"to\":\"../../in_$M.txt\"}"
is "$HTTP_STATUS" 400 "6: move to ../../ is 400"
check "6: neither moved" eval "[ ! -e '$FILES/stolen.json' ] && [ -f '$FILES/d1/in.txt' ] && [ -f '$SDIR/metadata.json' ]"
api_auth "/api/sessions/$SID/edits/revert" -X POST -H 'Content-Type: application/json' \
	--data-binary '{"path":"../metadata.json"}'
is "$HTTP_STATUS" 400 "6: revert of ../ is 400"

# Symlinks planted on the host side (as a command in the sandbox could).
ln -s /etc/passwd "$FILES/hostpw"
ln -s / "$FILES/hostroot"
ln -s ../metadata.json "$FILES/meta"
for p in hostpw hostroot/etc/passwd meta /workspace/hostroot/etc/hostname; do
	fget "$p"
	like "$HTTP_STATUS" '^(403|404)$' "6: GET through the symlink $p -> $HTTP_STATUS"
	unlike "$(head -c 3000 "$BODY")" "$SECRETS" "6: ... never the target's content"
done
api_auth "/api/sessions/$SID/files?path=hostroot"
like "$HTTP_STATUS" '^(403|404)$' "6: listing through a symlink to / is refused"
api_auth "/api/sessions/$SID/files?path="
is "$(json '.entries[] | select(.name == "hostpw") | .type')" symlink "6: the listing shows the link as a symlink"
fput meta "$T/c"
like "$HTTP_STATUS" '^(403|404)$' "6: PUT onto a symlink that leads outside is refused"
check "6: the session's metadata.json is intact" grep -q '"owner"' "$SDIR/metadata.json"
fget hostpw -X DELETE
is "$HTTP_STATUS" 204 "6: DELETE of the link is 204"
check "6: the link is gone, its target is not" eval "[ ! -L '$FILES/hostpw' ] && [ -s /etc/passwd ]"
rm -f "$FILES/hostroot" "$FILES/meta"

# ---- 7. other users and no token -------------------------------------------------------------------
TOKEN=$BOB
fget d1/in.txt
is "$HTTP_STATUS" 404 "7: another user cannot read the session's files (404)"
fput bob.txt "$T/c"
is "$HTTP_STATUS" 404 "7: ... nor write"
api_auth "/api/sessions/$SID/archive"
is "$HTTP_STATUS" 404 "7: ... nor download the archive"
TOKEN=$ANN
check "7: nothing was written by bob" test ! -e "$FILES/bob.txt"
api_get "/api/sessions/$SID/files/content?path=d1/in.txt"
is "$HTTP_STATUS" 401 "7: without a token: 401"

# ---- 8. file.changed on the SSE stream ------------------------------------------------------------
EV=$T/fc.jsonl
sse_bg "$EV" --session "$SID" --until file.changed --timeout 10
ev_wait snapshot 1 5
fput "watched_$M.txt" "$T/a1"
wait_for 10 pid_gone "$SSE_BG_PID"
FC=$(ev_nth file.changed 1)
is "$(printf '%s' "$FC" | jq -r '[.path, .source, .change] | join(" ")')" "/workspace/watched_$M.txt api created" \
	"8: a PUT emits file.changed {path, source api, change created} on the SSE stream"

# ---- 9. Claude's edit log and revert ---------------------------------------------------------------
printf "print('v1')\n" >"$T/v1"
fput code.py "$T/v1"
tools_run "$SID" "$(blocks \
	"$(editor_block '{"command":"str_replace","path":"/workspace/code.py","old_str":"v1","new_str":"v2"}')" \
	"$(editor_block '{"command":"str_replace","path":"/workspace/code.py","old_str":"v2","new_str":"v3"}')" \
	"$(editor_block '{"command":"create","path":"/workspace/made.py","file_text":"x = 1\n"}')")"
is "$(jq -r '.is_error' "$TRS" | tr '\n' ' ')" "false false false " "9: three edits by Claude succeeded"
is "$(cat "$FILES/code.py")" "print('v3')" "9: code.py is at v3"
like "$(jq -c 'select(.event == "file.changed") | .data' "$EV")" 'code\.py' "9: editor edits emit file.changed"
api_auth "/api/sessions/$SID/edits"
is "$HTTP_STATUS" 200 "9: GET /edits is 200"
is "$(json '[.edits[] | select(.reverts == null) | "\(.rel):\(.created)"] | join(",")')" \
	"code.py:false,code.py:false,made.py:true" "9: the edit log lists the three edits, in order"
is "$(json '[.edits[].tool_use_id] | map(select(. != null and . != "")) | length')" 3 "9: each names its tool_use_id"
RV() {
	api_auth "/api/sessions/$SID/edits/revert" -X POST -H 'Content-Type: application/json' \
		--data-binary "$(jq -cn --arg p "$1" '{path: $p}')"
}
RV code.py
is "$HTTP_STATUS" 200 "9: revert code.py is 200"
is "$(cat "$FILES/code.py")" "print('v2')" "9: the last edit was undone (v2)"
RV /workspace/code.py
is "$HTTP_STATUS" 200 "9: revert again (path as /workspace/...)"
is "$(cat "$FILES/code.py")" "print('v1')" "9: back to the content before Claude (v1)"
RV code.py
is_json_error 404 "9: a third revert: nothing left, 404"
is "$(cat "$FILES/code.py")" "print('v1')" "9: ... and the file stays at v1"
RV made.py
is "$HTTP_STATUS" 200 "9: revert of a file Claude created is 200"
check "9: ... it deletes the file" test ! -e "$FILES/made.py"
RV made.py
is "$HTTP_STATUS" 404 "9: again: 404"
RV d1/in.txt
is "$HTTP_STATUS" 404 "9: revert of a file Claude never edited is 404"

# ---- 10. things that are not regular files ---------------------------------------------------------
fget d1
is_json_error 409 "10: GET content of a directory is a 409 JSON error"
# A FIFO (mkfifo in the sandbox is enough) must not hang the request.
mkfifo "$FILES/pipe"
api_auth "/api/sessions/$SID/files?path="
is "$(json '.entries[] | select(.name == "pipe") | .type')" other "10: a FIFO is listed as type other"
T0=$(now_ms)
CURL_MAX_TIME=4 fget pipe
T1=$(now_ms)
like "$HTTP_STATUS" '^(403|409|415)$' "10: GET content of a FIFO is refused ($HTTP_STATUS)"
cmp_ok $((T1 - T0)) -lt 2000 "10: ... at once, not when a request timeout kills the worker ($((T1 - T0)) ms)"
# Release a worker that may be blocked opening the FIFO.
timeout 2 bash -c "echo > '$FILES/pipe'" 2>/dev/null
rm -f "$FILES/pipe"
api_get /api/live
is "$HTTP_STATUS" 200 "10: the API still answers"

tap_done
