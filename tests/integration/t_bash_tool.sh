#!/usr/bin/env bash
# t_bash_tool.sh: the bash tool as Claude and the person see it, through real
# runs with the fake model calling bash (bypassPermissions, nothing asks):
# the tool.result fields (stdout, stderr, exit_code, duration_ms, timed_out,
# truncated_bytes, cwd) and the content Claude gets back (stdout, stderr,
# "Exit code: N"); each command in a fresh sandbox while the working
# directory persists (also across runs) until {"restart": true}; the output
# cap (SANDBOX_OUTPUT_LIMIT) and the timeout (SANDBOX_TIMEOUT).
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source=tests/integration/lib_auth.sh
. "$(dirname "$0")/lib_auth.sh"
# shellcheck source=tests/integration/lib_agent.sh
. "$(dirname "$0")/lib_agent.sh"
# shellcheck source=tests/integration/lib_tools.sh
. "$(dirname "$0")/lib_tools.sh"
cw_require_tools_stack

CW_CONF[SANDBOX_TIMEOUT]=2
CW_CONF[SANDBOX_OUTPUT_LIMIT]=2000
tools_stack_up
session_new bypassPermissions || cw_bail "cannot create a session: $HTTP_STATUS $(cat "$BODY")"
FILES=$(session_dir "$SID")/files
M=$$

# ---- 1. stdout, stderr, exit code --------------------------------------------------
bash1 "$SID" 'echo out-line; echo err-line >&2; exit 3'
is "$SSE_END" until "1: the run finished"
is "$(ev_types "$EV" "$RUN_ID" | grep -E '^tool\.(use|result)$' | tr '\n' ' ')" "tool.use tool.result " \
	"1: tool.use comes before tool.result"
is "$(trj .name)" bash "1: tool.result names the bash tool"
is "$(trj .stdout)" out-line "1: stdout"
is "$(trj .stderr)" err-line "1: stderr"
is "$(trj .exit_code)" 3 "1: exit_code 3"
is "$(trj .content)" "out-line
err-line
Exit code: 3" "1: content is stdout, then stderr, then 'Exit code: 3'"
is "$(trj .timed_out)" false "1: timed_out false"
is "$(trj .truncated_bytes)" 0 "1: truncated_bytes 0"
is "$(trj .cwd)" /workspace "1: cwd /workspace"
is "$(trj '.duration_ms | type')" number "1: duration_ms is a number"
cmp_ok "$(trj '.duration_ms | floor')" -lt 2000 "1: duration_ms is plausible ($(trj .duration_ms))"
# What Claude gets back is the same text, in the next request.
fake_requests
is "$(fake_req 2 '.body.messages[-1].content[0] | {type, tool_use_id, content}')" \
	"$(jq -cn --arg id "$(trj .tool_use_id)" --arg c "$(trj .content)" '{type: "tool_result", tool_use_id: $id, content: $c}')" \
	"1: the next request to Claude carries the same content as a tool_result"
like "$(ev_first "$EV" file.changed "$RUN_ID")" '"tool":"bash"' "1: a bash call emits file.changed (tool bash)"
# A reloaded page rebuilds the card from GET messages: the details are kept.
get_history "$SID"
is "$(jq -c --arg id "$(trj .tool_use_id)" '.tool_details[$id] | [.stdout, .stderr, .exit_code]' "$T/hist.json")" \
	'["out-line","err-line",3]' "1: GET messages keeps the call's stdout, stderr and exit code for reloads"

bash1 "$SID" 'printf "just out\n"'
is "$(trj .content)" "just out" "1: exit 0: content is just stdout, no exit-code line"
is "$(trj .exit_code)" 0 "1: exit_code 0"
is "$(trj .is_error)" false "1: is_error false"

tools_run "$SID" "$(blocks "$(jq -cn '{type: "tool_use", id: "toolu_empty1", name: "bash", input: {command: ""}}')")"
is "$(trj .is_error)" true "1: an empty command is an error"
like "$(trj .content)" 'no command' "1: ... saying there is no command"

# ---- 2. a fresh sandbox per command; the working directory persists -------------------
tools_run "$SID" "$(blocks \
	"$(bash_block 'mkdir -p sub/deeper && cd sub && export FOO=exported && echo $$ > /tmp/pidfile && touch made-in-sub')" \
	"$(bash_block 'pwd; echo "FOO=${FOO:-unset}"; cat /tmp/pidfile 2>/dev/null || echo "no /tmp/pidfile"')")"
is "$(trn 1 .cwd)" /workspace/sub "2: after 'cd sub' the result's cwd is /workspace/sub"
is "$(trn 2 .stdout)" "/workspace/sub
FOO=unset
no /tmp/pidfile" "2: next call: pwd is /workspace/sub, but no env var and no /tmp file survive"
check "2: the file made in sub/ is in the session's files on the host" test -f "$FILES/sub/made-in-sub"

bash1 "$SID" 'pwd'
is "$(trj .stdout)" /workspace/sub "2: the working directory persists into the next run"

bash1 "$SID" 'cd deeper; exit 0'
is "$(trj .cwd)" /workspace/sub/deeper "2: cd then exit still records the new cwd"
bash1 "$SID" 'pwd'
is "$(trj .stdout)" /workspace/sub/deeper "2: ... and it is used by the next call"

tools_run "$SID" "$(blocks "$(restart_block)" "$(bash_block 'pwd')")"
is "$(trn 1 .content)" "tool has been restarted." "2: restart answers 'tool has been restarted.'"
is "$(trn 1 .is_error)" false "2: restart is not an error"
is "$(trn 2 .stdout)" /workspace "2: after a restart the cwd is /workspace again"

# The directory it stood in disappears (deleted through the files API).
bash1 "$SID" 'mkdir -p gone && cd gone && pwd'
is "$(trj .cwd)" /workspace/gone "2: now in /workspace/gone"
api_auth "/api/sessions/$SID/files/content?path=gone" -X DELETE
is "$HTTP_STATUS" 204 "2: gone/ deleted through the files API"
bash1 "$SID" 'pwd'
is "$(trj .stdout)" /workspace "2: a vanished cwd falls back to /workspace"
is "$(trj .exit_code)" 0 "2: ... without failing the command"

# ---- 3. the output cap -----------------------------------------------------------------
bash1 "$SID" 'head -c 5000 /dev/zero | tr "\0" a; head -c 3000 /dev/zero | tr "\0" b >&2'
OUT=$(trj .stdout)
is "${#OUT}" 2000 "3: stdout is capped at SANDBOX_OUTPUT_LIMIT (2000 bytes)"
ERR=$(trj .stderr)
is "${#ERR}" 2000 "3: stderr is capped at SANDBOX_OUTPUT_LIMIT too"
is "$(trj .truncated_bytes)" 4000 "3: truncated_bytes counts what was dropped (3000 + 1000)"
like "$(trj .content)" '\[output truncated: 3000 more bytes of stdout' "3: content notes the dropped stdout bytes"
like "$(trj .content)" '\[output truncated: 1000 more bytes of stderr' "3: content notes the dropped stderr bytes"
like "$(trj .content)" '^a{2000}' "3: content starts with the kept stdout"

bash1 "$SID" 'seq 1 100000 | tail -n 1; yes | head -c 100000 >/dev/null; echo fine'
is "$(trj .stdout)" "100000
fine" "3: output under the cap is untouched (pipes inside do not count)"

# ---- 4. the timeout ------------------------------------------------------------------------
T0=$(now_ms)
bash1 "$SID" "echo before; sleep 3${M}1; echo after-sleep"
T1=$(now_ms)
is "$(trj .is_error)" true "4: a command past SANDBOX_TIMEOUT is an error"
like "$(trj .content)" 'timed out' "4: content says it timed out"
like "$(trj .content)" '^before' "4: the output before the timeout is kept"
unlike "$(trj .content)" after-sleep "4: nothing printed after the sleep"
is "$(trj .timed_out)" true "4: timed_out true"
D=$(trj '.duration_ms | floor')
cmp_ok "$D" -ge 1900 "4: duration_ms reaches the 2 s timeout ($D)"
cmp_ok "$D" -lt 3500 "4: and not much more"
cmp_ok $((T1 - T0)) -lt 8000 "4: the whole run took $((T1 - T0)) ms"
is "$(host_procs "sleep 3${M}1")" "" "4: no process survives the timeout"
bash1 "$SID" 'echo still-works'
is "$(trj .stdout)" still-works "4: the next command runs normally"

bash1 "$SID" 'yes'
is "$(trj .is_error)" true "3: endless output (yes) is stopped: an error"
like "$(trj .content)" 'output exceeded' "3: ... saying the output was too much"
cmp_ok "$(trj '.duration_ms | floor')" -lt 1900 "3: ... before the timeout"
cmp_ok "$(trj .truncated_bytes)" -gt 1000000 "3: truncated_bytes counts the dropped output"

# ---- 5. several calls in one turn, in order -----------------------------------------------------
tools_run "$SID" "$(blocks "$(bash_block 'echo one > order.txt')" "$(bash_block 'echo two >> order.txt')" "$(bash_block 'cat order.txt')")"
is "$(jq -r '.tool_use_id' "$TRS" | grep -c .)" 3 "5: three calls, three tool.results"
is "$(trn 3 .stdout)" "one
two" "5: they ran in order"
api_auth "/api/sessions/$SID/files/content?path=order.txt"
is "$(cat "$BODY")" "one
two" "5: the files API sees what the commands wrote"

# ---- 6. output that is not UTF-8 ------------------------------------------------------------
# Claude's API only takes UTF-8 JSON: bytes from a command (or a file the
# editor shows) must not poison the run, nor the session's history.
session_new bypassPermissions || cw_bail "cannot create a session"
S6=$SID
script_tools "$(blocks "$(bash_block 'printf "abc\377\376def\n\303(xyz\n"')")"
is "$(msg_final "$S6" "binary please")" run.finished "6: a command printing non-UTF-8 bytes: the run finishes"
fake_requests
is "$(fake_req 2 .error)" null "6: the tool_result sent to Claude is valid UTF-8 JSON"
like "$(fake_req 2 '.body.messages[-1].content[0].content')" 'abc.*def' "6: ... keeping the readable text"
fake_reset
fake_script '{"turns":[{"text":"still here"}]}'
is "$(msg_final "$S6" "next")" run.finished "6: the session still works on the next message"

# The output cap must not cut a UTF-8 character in two either: 1000 x "€"
# (3 bytes each) capped at 2000 bytes.
session_new bypassPermissions || cw_bail "cannot create a session"
script_tools "$(blocks "$(bash_block "python3 -c 'print(\"\\u20ac\" * 1000)'")")"
is "$(msg_final "$SID" "euros")" run.finished "6: output capped in the middle of a UTF-8 character: the run finishes"
fake_requests
is "$(fake_req 2 .error)" null "6: ... and Claude gets valid UTF-8 JSON"

session_new bypassPermissions || cw_bail "cannot create a session"
S7=$SID
printf 'first line\n\377\376 latin-1 caf\351\n' >"$T/bad.txt"
api_auth "/api/sessions/$S7/files/content?path=bad.txt" -X PUT --data-binary "@$T/bad.txt"
script_tools "$(blocks "$(editor_block '{"command":"view","path":"/workspace/bad.txt"}')")"
is "$(msg_final "$S7" "view it")" run.finished "6: the editor viewing a non-UTF-8 file: the run finishes"
fake_requests
is "$(fake_req 2 .error)" null "6: ... and Claude gets valid UTF-8 JSON"

tap_done
