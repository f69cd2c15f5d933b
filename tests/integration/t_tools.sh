#!/usr/bin/env bash
# t_tools.sh: the tool registry as Claude and the person see it, through real
# runs with the fake model calling tools:
#   1. the tools declared upstream (the exact declarations of the editor,
#      bash, glob and grep; the same bytes in every request: prompt caching);
#   2. glob: ripgrep in the sandbox, paths relative to /workspace, newest
#      first, at most 100 with a note; never asks (class read); card search;
#   3. grep: files_with_matches / content / count, -i, -n, context, glob and
#      type filters, head_limit, the 250-line and 30 kB caps; model input
#      can inject neither shell syntax nor rg options; paths stay inside;
#   4. an unknown tool fails closed: an is_error result, nothing runs,
#      nobody is asked;
#   5. remembered grants are per tool (the editor's grant does not cover
#      bash, a bash grant does not cover the editor);
#   6. plan mode: view, glob and grep run without asking, `ls` asks and runs
#      once approved, edits are denied with a text that promises no switch;
#   7. the editor's view of an image file returns an image block to Claude.
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source=tests/integration/lib_auth.sh
. "$(dirname "$0")/lib_auth.sh"
# shellcheck source=tests/integration/lib_agent.sh
. "$(dirname "$0")/lib_agent.sh"
# shellcheck source=tests/integration/lib_tools.sh
. "$(dirname "$0")/lib_tools.sh"
cw_require_tools_stack
if [ ! -x /usr/bin/rg ]; then
	printf '1..0 # SKIP ripgrep (/usr/bin/rg) is not installed (scripts/install-deps.sh)\n'
	exit 0
fi

CW_CONF[PERMISSION_TIMEOUT]=600
CW_CONF[SANDBOX_TIMEOUT]=20
CW_CONF[SANDBOX_OUTPUT_LIMIT]=1000000
CW_CONF[SANDBOX_FILE_SIZE_MB]=16
W=60
RUNTO=300
tools_stack_up
M=$$

tool_block() {	# tool_block NAME INPUT_JSON [ID]
	jq -cn --arg n "$1" --argjson in "$2" --arg id "${3:-$(next_tool_id)}" \
		'{type: "tool_use", id: $id, name: $n, input: $in}'
}
req_ids() {
	jq -r 'select(.event == "permission.request") | .data.tool_use_id' "$EV" 2>/dev/null
}
answer() {	# answer N JSON
	ev_wait permission.request "$1" "$W" || return 1
	perm_post "$SID" "$(ev_nth permission.request "$1" | jq -r .request_id)" "$2"
}

# ---- 1. declarations ---------------------------------------------------------------
session_new bypassPermissions || cw_bail "cannot create a session: $HTTP_STATUS $(cat "$BODY")"
S1=$SID
FILES=$(session_dir "$S1")/files
NREQ0=$(fake_nreq)
# The workspace: a few files with known modification times, and 120 more.
# shellcheck disable=SC2016 # expanded by bash in the sandbox
bash1 "$S1" 'mkdir -p src/sub gen docs .hidden .git &&
printf "hello world\nsecond line\n" > a.c && touch -d "2020-01-01 00:00:01" a.c &&
printf "Hello there\nint main;\nhello again\n" > src/b.c && touch -d "2021-01-01 00:00:01" src/b.c &&
printf "x\n" > src/sub/c.c && touch -d "2022-01-01 00:00:01" src/sub/c.c &&
printf "hello hidden\n" > .hidden/h.c && touch -d "2019-01-01 00:00:01" .hidden/h.c &&
printf "hello git\n" > .git/g.c &&
printf "# hello docs\n" > docs/readme.md && touch -d "2018-01-01 00:00:01" docs/readme.md &&
for i in $(seq 1 120); do printf "match %d\n" $i > gen/f$i.txt; touch -d "@$((1262304000 + i * 60))" gen/f$i.txt; done &&
for i in $(seq 1 400); do echo "needle $i"; done > gen/many.log &&
for i in $(seq 1 200); do printf "wide %0400d\n" $i; done > gen/wide.log &&
touch -d "2000-01-01" gen/many.log gen/wide.log && echo ok' 60
is "$(trj .stdout)" ok "1: the test workspace is made"
fake_requests
N=$(fake_nreq)
TOOLS1=$(fake_req "$((NREQ0 + 1))" '.body.tools')
TOOLS2=$(fake_req "$N" '.body.tools')
is "$TOOLS2" "$TOOLS1" "1: the tools array is byte-identical in every request of a run (prompt caching)"
is "$(printf '%s' "$TOOLS1" | jq -c '[.[].name][0:4]')" '["str_replace_based_edit_tool","bash","glob","grep"]' \
	"1: declared in registry order: editor, bash, glob, grep"
is "$(printf '%s' "$TOOLS1" | jq -c '.[0:2]')" \
	'[{"type":"text_editor_20250728","name":"str_replace_based_edit_tool","max_characters":16000},{"type":"bash_20250124","name":"bash"}]' \
	"1: text_editor_20250728 and bash_20250124 declared exactly as before"
GLOB_SCHEMA='{"type":"object","properties":{"pattern":{"type":"string","description":"The glob pattern to match files against"},"path":{"type":"string","description":"The directory to search in (under /workspace). Omit it to search the whole project."}},"required":["pattern"],"additionalProperties":false}'
is "$(printf '%s' "$TOOLS1" | jq -c '.[2] | [keys_unsorted, .input_schema]')" \
	"[[\"name\",\"description\",\"input_schema\"],$GLOB_SCHEMA]" "1: glob: a custom tool {name, description, input_schema} with the schema"
like "$(printf '%s' "$TOOLS1" | jq -r '.[2].description')" 'most recently modified first' "1: glob's description says the order"
is "$(printf '%s' "$TOOLS1" | jq -c '.[3].input_schema | [.required, (.properties | keys_unsorted), .properties.output_mode.enum]')" \
	'[["pattern"],["pattern","path","glob","type","output_mode","-i","-n","-A","-B","-C","multiline","head_limit"],["content","files_with_matches","count"]]' \
	"1: grep: the parameters of Claude Code's Grep"
is "$(printf '%s' "$TOOLS1" | jq -c '[.[] | select(.name == "glob" or .name == "grep") | has("type")]')" '[false,false]' \
	"1: glob and grep are custom tools (no type)"
# The exact declarations of glob and grep (name, description, input_schema), as sent.
DECL_GLOB_GREP=$(cat <<'JSON'
[{"name":"glob","description":"Fast file pattern matching in the session's project (/workspace).\n- Supports glob patterns like \"**/*.js\" or \"src/**/*.ts\"\n- Returns matching file paths relative to /workspace, most recently modified first (at most 100)\n- Use it to find files by name; use grep to search their contents\n- Files ignored by .gitignore and the .git directory are skipped","input_schema":{"type":"object","properties":{"pattern":{"type":"string","description":"The glob pattern to match files against"},"path":{"type":"string","description":"The directory to search in (under /workspace). Omit it to search the whole project."}},"required":["pattern"],"additionalProperties":false}},{"name":"grep","description":"A powerful search tool built on ripgrep, over the session's project (/workspace).\n- Supports full regex syntax (e.g. \"log.*Error\", \"function\\\\s+\\\\w+\")\n- Filter files with the glob parameter (e.g. \"*.js\", \"**/*.tsx\") or the type parameter (e.g. \"js\", \"py\", \"rust\")\n- Output modes: \"content\" shows matching lines, \"files_with_matches\" shows only file paths (default), \"count\" shows match counts\n- Pattern syntax is ripgrep's: literal braces need escaping (use `interface\\\\{\\\\}` to find `interface{}`)\n- Patterns match within single lines unless multiline is true\n- Results are relative to /workspace and capped (250 lines, 30 kB); use head_limit, path or glob to narrow them","input_schema":{"type":"object","properties":{"pattern":{"type":"string","description":"The regular expression pattern to search for in file contents"},"path":{"type":"string","description":"File or directory to search in (under /workspace). Defaults to the whole project."},"glob":{"type":"string","description":"Glob pattern to filter files (e.g. \"*.js\", \"*.{ts,tsx}\")"},"type":{"type":"string","description":"File type to search (rg --type), e.g. js, py, rust, go, java"},"output_mode":{"type":"string","enum":["content","files_with_matches","count"],"description":"Output mode: \"content\" shows matching lines (supports -A/-B/-C context, -n line numbers, head_limit), \"files_with_matches\" shows file paths (supports head_limit), \"count\" shows match counts (supports head_limit). Defaults to \"files_with_matches\"."},"-i":{"type":"boolean","description":"Case insensitive search"},"-n":{"type":"boolean","description":"Show line numbers in output (content mode). Defaults to true."},"-A":{"type":"number","description":"Number of lines to show after each match (content mode)"},"-B":{"type":"number","description":"Number of lines to show before each match (content mode)"},"-C":{"type":"number","description":"Number of lines to show before and after each match (content mode)"},"multiline":{"type":"boolean","description":"Enable multiline mode where . matches newlines and patterns can span lines. Default: false."},"head_limit":{"type":"number","description":"Limit output to the first N lines/entries. At most 250."}},"required":["pattern"],"additionalProperties":false}}]
JSON
)
is "$(printf '%s' "$TOOLS1" | jq -c 'map(select(.name == "glob" or .name == "grep"))')" "$DECL_GLOB_GREP" \
	"1: glob and grep are declared exactly (description and schema)"
session_mode "$S1" default || cw_bail "cannot switch to default"

# ---- 2. glob -----------------------------------------------------------------------------
G1=toolu_glob1_$M
tools_run "$S1" "$(blocks "$(tool_block glob '{"pattern":"**/*.c"}' "$G1")")"
is "$SSE_END" until "2: the glob run finished"
is "$(ev_count "$EV" permission.request)" 0 "2: glob never asks (class read) in default mode"
is "$(ev_first "$EV" tool.use "$RUN_ID" | jq -r '.card')" search "2: tool.use carries card search"
is "$(trj .card)" search "2: tool.result carries card search"
is "$(trj .is_error)" false "2: glob succeeded"
is "$(trj .content)" "src/sub/c.c
src/b.c
a.c
.hidden/h.c" "2: paths relative to /workspace, newest first, hidden files in, .git out"
is "$(trj '.results | tojson')" '["src/sub/c.c","src/b.c","a.c",".hidden/h.c"]' "2: tool.result lists the results for the card"
is "$(trj .pattern)" '**/*.c' "2: ... and the pattern"
fake_requests
N=$(fake_nreq)
is "$(fake_req "$N" '.body.messages[-1].content[0] | [.type, .tool_use_id, .content, (.is_error // false)]')" \
	"$(jq -cn --arg id "$G1" '["tool_result", $id, "src/sub/c.c\nsrc/b.c\na.c\n.hidden/h.c", false]')" \
	"2: Claude gets the same list as the tool_result"
get_history "$S1"
is "$(jq -c --arg id "$G1" '.tool_details[$id] | [.card, .results]' "$T/hist.json")" \
	'["search",["src/sub/c.c","src/b.c","a.c",".hidden/h.c"]]' "2: GET messages keeps the card and the results for reloads"

tools_run "$S1" "$(blocks "$(tool_block glob '{"pattern":"*.c","path":"/workspace/src"}')" \
	"$(tool_block glob '{"pattern":"*.txt","path":"gen"}')" \
	"$(tool_block glob '{"pattern":"*","path":"/etc"}')" \
	"$(tool_block glob '{"pattern":"*","path":"src/../../.."}')" \
	"$(tool_block glob '{"pattern":"*.none"}')" \
	"$(tool_block glob '{"path":"src"}')")"
is "$(trn 1 .content)" "src/sub/c.c
src/b.c" "2: path /workspace/src: only that directory, still relative to /workspace"
is "$(trn 2 .content | head -n 3 | tr '\n' ' ')" "gen/f120.txt gen/f119.txt gen/f118.txt " "2: gen: newest first"
is "$(trn 2 .content | grep -c '^gen/')" 100 "2: at most 100 paths"
like "$(trn 2 .content | tail -n 1)" 'truncated: showing the 100 most recently modified of 120 files' "2: ... with a note saying what was left out"
is "$(trn 2 '[.total, .truncated, (.results | length)] | @text')" '[120,true,100]' "2: tool.result: total 120, truncated, 100 results"
is "$(trn 3 .is_error)" true "2: a path outside /workspace is an error"
like "$(trn 3 .content)" 'outside the project' "2: ... saying why"
is "$(trn 4 .is_error)" true "2: a path climbing out with .. is an error"
is "$(trn 5 '[.is_error, .content] | @text')" '[false,"No files found"]' "2: no match: 'No files found'"
is "$(trn 6 .is_error)" true "2: a missing pattern is an error"

# ---- 3. grep -----------------------------------------------------------------------------
PWN='x'"'"'; touch /workspace/pwned-'$M'; echo '"'"'y'
tools_run "$S1" "$(blocks "$(tool_block grep '{"pattern":"hello"}')" \
	"$(tool_block grep '{"pattern":"hello","output_mode":"content","-i":true,"glob":"*.c"}')" \
	"$(tool_block grep '{"pattern":"hello","output_mode":"count","path":"src"}')" \
	"$(tool_block grep '{"pattern":"main","output_mode":"content","-C":1,"-n":false,"type":"c"}')" \
	"$(tool_block grep '{"pattern":"needle","output_mode":"content","head_limit":3}')" \
	"$(tool_block grep '{"pattern":"needle","output_mode":"content"}')" \
	"$(tool_block grep '{"pattern":"wide","output_mode":"content"}')" \
	"$(tool_block grep "$(jq -cn --arg p "$PWN" '{pattern: $p, output_mode: "content"}')")" \
	"$(tool_block grep '{"pattern":"--files"}')" \
	"$(tool_block grep '{"pattern":"(unclosed"}')" \
	"$(tool_block grep '{"pattern":"x","type":"c; touch /workspace/t"}')" \
	"$(tool_block grep '{"pattern":"x","output_mode":"lines"}')")" 60
is "$(ev_count "$EV" permission.request)" 0 "3: grep never asks (class read)"
is "$(trn 1 .content)" "Found 4 files
src/b.c
a.c
.hidden/h.c
docs/readme.md" "3: files_with_matches (default): 'Found N files', newest first, .git skipped"
is "$(trn 2 .content)" ".hidden/h.c:1:hello hidden
a.c:1:hello world
src/b.c:1:Hello there
src/b.c:3:hello again" "3: content, -i, glob *.c: path:line:text (line numbers by default)"
is "$(trn 3 .content)" "src/b.c:1" "3: count in path src"
is "$(trn 4 .content)" "src/b.c-Hello there
src/b.c:int main;
src/b.c-hello again" "3: -C 1 with -n false and type c: context lines, no numbers"
is "$(trn 5 .content | head -n 3 | tr '\n' ' ')" "gen/many.log:1:needle 1 gen/many.log:2:needle 2 gen/many.log:3:needle 3 " "3: head_limit 3: the first three lines"
like "$(trn 5 .content | tail -n 1)" 'truncated: showing 3 of 400 lines' "3: ... and a note"
is "$(trn 6 .content | grep -c '^gen/many.log:')" 250 "3: at most 250 lines"
like "$(trn 6 .content | tail -n 1)" 'truncated: showing 250 of 400 lines' "3: ... with a note"
is "$(trn 6 '[.total, .truncated] | @text')" '[400,true]' "3: tool.result: total 400, truncated"
cmp_ok "$(trn 7 .content | wc -c)" -le 31000 "3: at most about 30 kB of output ($(trn 7 .content | wc -c) bytes)"
like "$(trn 7 .content | tail -n 1)" 'truncated: showing [0-9]+ of 200 lines \(30 kB\)' "3: ... with a note naming the byte cap"
is "$(trn 8 '[.is_error, .content] | @text')" '[false,"No matches found"]' "3: a pattern with quotes and ; is searched for, not run"
check "3: ... and no command ran" test ! -e "$FILES/pwned-$M"
is "$(trn 9 '[.is_error, .content] | @text')" '[false,"No files found"]' "3: a pattern like --files is a pattern, not an rg option"
is "$(trn 10 .is_error)" true "3: a bad regex is an error"
like "$(trn 10 .content)" 'regex parse error' "3: ... with rg's message"
is "$(trn 11 .is_error)" true "3: a type that is not a type name is refused"
check "3: ... and nothing ran" test ! -e "$FILES/t"
is "$(trn 12 .is_error)" true "3: an unknown output_mode is an error"

# ---- 4. unknown tools fail closed -----------------------------------------------------------
U1=toolu_unknown_$M
tools_run "$S1" "$(blocks "$(tool_block no_such_tool '{"command":"touch /workspace/unknown-ran"}' "$U1")" \
	"$(tool_block web_search '{"query":"x"}')")"
is "$SSE_END" until "4: the run finished without waiting"
is "$(ev_count "$EV" permission.request)" 0 "4: nobody was asked"
is "$(trn 1 '[.tool_use_id, .is_error] | @text')" "[\"$U1\",true]" "4: an unknown tool's result is an error"
like "$(trn 1 .content)" 'unknown tool: no_such_tool' "4: ... saying 'unknown tool'"
is "$(trn 1 .card)" generic "4: ... shown on a generic card"
is "$(trn 2 .is_error)" true "4: a tool not in the session's set (web_search with the network off) is unknown too"
check "4: nothing ran" test ! -e "$FILES/unknown-ran"
fake_requests
N=$(fake_nreq)
is "$(fake_req "$N" '.body.messages[-1].content[0] | [.tool_use_id, .is_error]')" "[\"$U1\",true]" \
	"4: Claude gets an is_error tool_result for it"

# ---- 5. remembered grants are per tool ------------------------------------------------------
session_new default || cw_bail "cannot create a session"
S5=$SID
F5=$(session_dir "$S5")/files
run_bg "$S5" "$(blocks "$(editor_block '{"command":"create","path":"/workspace/r.txt","file_text":"one\n"}' "toolu_ed1_$M")" \
	"$(bash_block 'ls' "toolu_ls1_$M")")" "$RUNTO"
answer 1 '{"decision":"allow","remember":true}'
answer 2 '{"decision":"allow","remember":true}'
run_bg_wait "$W"
is "$(req_ids | tr '\n' ' ')" "toolu_ed1_$M toolu_ls1_$M " "5: the editor and bash each asked once"
run_bg "$S5" "$(blocks "$(editor_block '{"command":"create","path":"/workspace/r2.txt","file_text":"two\n"}' "toolu_ed2_$M")" \
	"$(bash_block 'ls -la' "toolu_ls2_$M")" \
	"$(bash_block 'touch made-by-bash' "toolu_touch_$M")")" "$RUNTO"
answer 1 '{"decision":"deny"}'
run_bg_wait "$W"
is "$(req_ids | tr '\n' ' ')" "toolu_touch_$M " "5: the remembered editor and 'ls' grants covered their tools; another program asked"
is "$(cat "$F5/r2.txt" 2>/dev/null)" two "5: the edit ran on the editor's grant"
check "5: the editor's grant did not cover bash: touch did not run" test ! -e "$F5/made-by-bash"
session_new default || cw_bail "cannot create a session"
S5b=$SID
run_bg "$S5b" "$(blocks "$(bash_block 'ls' "toolu_ls3_$M")")" "$RUNTO"
answer 1 '{"decision":"allow","remember":true}'
run_bg_wait "$W"
run_bg "$S5b" "$(blocks "$(editor_block '{"command":"create","path":"/workspace/e.txt","file_text":"e\n"}' "toolu_ed3_$M")")" "$RUNTO"
ev_wait permission.request 1 "$W"
is "$(req_ids | tr '\n' ' ')" "toolu_ed3_$M " "5: a bash grant does not cover the editor: the edit asked"
is "$(ev_nth permission.request 1 | jq -r .card)" editor "5: permission.request carries the editor card"
answer 1 '{"decision":"deny"}'
run_bg_wait "$W"

# ---- 6. plan mode --------------------------------------------------------------------------
session_new plan || cw_bail "cannot create a plan session"
S6=$SID
F6=$(session_dir "$S6")/files
api_auth "/api/sessions/$S6/files/content?path=plan.txt" -X PUT --data-binary "plan-content-$M"
run_bg "$S6" "$(blocks "$(editor_block '{"command":"view","path":"/workspace/plan.txt"}')" \
	"$(tool_block glob '{"pattern":"*.txt"}')" \
	"$(tool_block grep '{"pattern":"plan-content","output_mode":"content"}')" \
	"$(bash_block 'ls' "toolu_planls_$M")" \
	"$(editor_block '{"command":"create","path":"/workspace/p.txt","file_text":"x"}')")" "$RUNTO"
ev_wait permission.request 1 "$W"
is "$(req_ids | tr '\n' ' ')" "toolu_planls_$M " "6: plan: only ls asked (view, glob, grep did not)"
answer 1 '{"decision":"allow"}'
run_bg_wait "$W"
like "$(trn 1 .content)" "plan-content-$M" "6: view ran"
is "$(trn 2 .content)" plan.txt "6: glob ran"
is "$(trn 3 .content)" "plan.txt:1:plan-content-$M" "6: grep ran"
is "$(trn 4 '[.is_error, .stdout] | @text')" '[false,"plan.txt"]' "6: the approved ls ran (plan mode forbids changing, not looking)"
is "$(trn 5 .is_error)" true "6: an edit is denied in plan mode"
like "$(trn 5 .content)" 'plan mode' "6: ... saying plan mode"
unlike "$(trn 5 .content)" 'switch modes' "6: ... promising no mode switch"
check "6: ... and not made" test ! -e "$F6/p.txt"

# ---- 7. the editor's view of an image ------------------------------------------------------
session_mode "$S1" bypassPermissions || cw_bail "cannot switch to bypass"
PNG_B64='iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8DwHwAFBQIAX8jx0gAAAABJRU5ErkJggg=='
bash1 "$S1" "mkdir -p img && printf %s '$PNG_B64' | base64 -d > img/dot.png && printf 'GIF89a-not-really-but-magic' > img/fake.gif &&
head -c 6000000 /dev/zero | (printf '\\x89PNG\\r\\n\\x1a\\n'; cat) > img/big.png && printf '\\x89PNG\\r\\n\\x1a\\nabc' > img/png-in-name.txt && echo ok" 30
is "$(trj .stdout)" ok "7: the images are made"
I1=toolu_img_$M
tools_run "$S1" "$(blocks "$(editor_block '{"command":"view","path":"/workspace/img/dot.png"}' "$I1")" \
	"$(editor_block '{"command":"view","path":"/workspace/img/big.png"}')")"
is "$(trn 1 .is_error)" false "7: viewing a PNG works"
like "$(trn 1 .content)" 'image/png' "7: the tool.result text names the media type"
is "$(trn 1 .card)" editor "7: ... on the editor card"
fake_requests
N=$(fake_nreq)
is "$(fake_req "$N" '.body.messages[-1].content[0] | [.tool_use_id, .content]')" \
	"$(jq -cn --arg id "$I1" --arg d "$PNG_B64" '[$id, [{type: "image", source: {type: "base64", media_type: "image/png", data: $d}}]]')" \
	"7: the next request holds the image block (base64 of the file) in the tool_result"
is "$(trn 2 .is_error)" true "7: an image over 5 MB is refused"
like "$(trn 2 .content)" '5 MB' "7: ... naming the cap"
is "$(fake_req "$N" '.body.messages[-1].content[1].content | type')" '"string"' "7: ... as a text result"
tools_run "$S1" "$(blocks "$(editor_block '{"command":"view","path":"/workspace/img/fake.gif"}')" \
	"$(editor_block '{"command":"view","path":"/workspace/img/png-in-name.txt"}')" \
	"$(editor_block '{"command":"view","path":"/workspace/img/dot.png","view_range":[1,2]}')")"
fake_requests
N=$(fake_nreq)
is "$(fake_req "$N" '.body.messages[-1].content[0].content[0].source.media_type')" '"image/gif"' \
	"7: the media type comes from the magic bytes (GIF)"
is "$(fake_req "$N" '.body.messages[-1].content[1].content[0].source.media_type')" '"image/png"' \
	"7: ... not from the name (a PNG named .txt)"
is "$(trn 3 .is_error)" true "7: view_range on an image is an error"

tap_done
