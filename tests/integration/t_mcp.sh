#!/usr/bin/env bash
# t_mcp.sh: MCP servers (issue 13), as the admin configures them and a
# person uses them. A real MCP server from the npm registry
# (@modelcontextprotocol/server-everything, installed by
# scripts/install-mcp.sh into MCP_DIR) runs with node over stdio INSIDE the
# session's sandbox; hostile servers (hang, flood, a 2 MiB line, dying, a
# listing that never answers) are a tiny python MCP server of this test,
# given as argv (python3 -c). The fake Anthropic API plays Claude: the
# exact upstream tools array carries mcp__everything__echo with the
# server's schema; a call asks permission, approved → the server's text is
# the tool_result of the next request, denied → nothing runs; remembered
# grants are per tool; an image result becomes an image block; the URL
# connector sends mcp_servers + the beta header and keeps the
# mcp_tool_use / mcp_tool_result blocks in the history; bad configuration
# exits 78; unknown server names are 400; no command, env value or token
# reaches the API or the log.
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source=tests/integration/lib_auth.sh
. "$(dirname "$0")/lib_auth.sh"
# shellcheck source=tests/integration/lib_agent.sh
. "$(dirname "$0")/lib_agent.sh"
# shellcheck source=tests/integration/lib_tools.sh
. "$(dirname "$0")/lib_tools.sh"
cw_require_tools_stack

W=60
RUNTO=120
ENV_MARK=EnvSeCrEt$(openssl rand -hex 8)
TOKEN_MARK=TokSeCrEt$(openssl rand -hex 8)

# ---- the real server: installed once (MCP_DIR), else into this test's directory -------------
MCP_DIR=${CW_TEST_MCP_DIR:-/opt/claude-web/mcp}
EVERY=node_modules/@modelcontextprotocol/server-everything/dist/index.js
if [ ! -r "$MCP_DIR/$EVERY" ]; then
	MCP_DIR=$T/mcp
	diag "installing server-everything into $MCP_DIR (scripts/install-mcp.sh)"
	timeout 300 "$TOP_SRCDIR/scripts/install-mcp.sh" --dir "$MCP_DIR" >"$T/log/install-mcp.log" 2>&1 ||
		diag "install-mcp.sh failed: $(tail -n 3 "$T/log/install-mcp.log")"
fi
HAVE_EVERY=0
[ -r "$MCP_DIR/$EVERY" ] && command -v node >/dev/null 2>&1 && HAVE_EVERY=1

# ---- the hostile/fake server: python, newline-delimited JSON-RPC on stdio ------------------
read -r -d '' PYSRV <<'PYEOF'
import sys, json, os, time
mode = sys.argv[1]
PNG = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
def out(o):
    sys.stdout.write(json.dumps(o) + "\n"); sys.stdout.flush()
while True:
    line = sys.stdin.readline()
    if not line:
        break
    m = json.loads(line); mid = m.get("id"); meth = m.get("method")
    if meth == "initialize":
        out({"jsonrpc": "2.0", "id": mid, "result": {"protocolVersion": "2025-06-18", "capabilities": {"tools": {}}, "serverInfo": {"name": "pyfake", "version": "1"}}})
    elif meth == "tools/list":
        if mode == "hanglist":
            time.sleep(600)
        out({"jsonrpc": "2.0", "id": mid, "result": {"tools": [
            {"name": "touch", "description": "Creates a file in the workspace", "inputSchema": {"type": "object", "properties": {"name": {"type": "string"}}, "required": ["name"]}},
            {"name": "img", "description": "Returns an image", "inputSchema": {"type": "object", "properties": {}}},
            {"name": "bad name!", "inputSchema": {"type": "object"}},
            {"name": "noschema"}]}})
    elif meth == "tools/call":
        p = m["params"]; a = p.get("arguments") or {}
        if mode == "hangcall":
            time.sleep(600)
        if mode == "flood":
            while True:
                sys.stdout.write("x" * 65536 + "\n")
        if mode == "bigline":
            sys.stdout.write("{" + "x" * (2 * 1024 * 1024)); sys.stdout.flush(); time.sleep(600)
        if mode == "die":
            sys.stderr.write("fatal: the fake server gave up\n"); sys.exit(3)
        if p["name"] == "touch":
            open("/workspace/" + os.path.basename(a["name"]), "w").write("called with " + os.environ.get("FAKE_SECRET", "")[:3] + "\n")
            out({"jsonrpc": "2.0", "id": mid, "result": {"content": [{"type": "text", "text": "created " + a["name"] + " in " + os.getcwd()}]}})
        elif p["name"] == "img" and a.get("bad"):
            # base64 of text that is no PNG; not base64 at all; no data
            out({"jsonrpc": "2.0", "id": mid, "result": {"content": [{"type": "text", "text": "bad pixels"},
                {"type": "image", "mimeType": "image/png", "data": "aGVsbG8gd29ybGQ="},
                {"type": "image", "mimeType": "image/png", "data": "not base64!!"},
                {"type": "image", "mimeType": "image/png"}]}})
        elif p["name"] == "img":
            out({"jsonrpc": "2.0", "id": mid, "result": {"content": [{"type": "text", "text": "a pixel"}, {"type": "image", "mimeType": "image/png", "data": PNG}]}})
        else:
            out({"jsonrpc": "2.0", "id": mid, "error": {"code": -32602, "message": "unknown tool"}})
PYEOF
PNG=iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==

py_server() {	# py_server NAME MODE [ENV_JSON]
	jq -cn --arg n "$1" --arg s "$PYSRV" --arg m "$2" --argjson e "${3:-null}" \
		'{name: $n, type: "stdio", command: ["python3", "-c", $s, $m]} + (if $e then {env: $e} else {} end)'
}

# ---- 1. bad configuration: exit 78, every problem, no secret printed --------------------------
run_cw() {
	ERR=$(CW_TIMEOUT=10 cw_app_cmd "$@" 2>&1 </dev/null)
	RC=$?
}
CW_CONF[SECRET_KEY]=$(openssl rand -hex 20)
BAD=$T/mcp-bad.json
printf '{"servers": [' >"$BAD"
{
	printf '{"name": "Bad Name", "type": "stdio", "command": ["x"]},'
	printf '{"name": "dup", "type": "stdio", "command": ["x"]},'
	printf '{"name": "dup", "type": "stdio", "command": ["x"]},'
	printf '{"name": "nocmd", "type": "stdio"},'
	printf '{"name": "plain", "type": "url", "url": "http://mcp.example.test/"},'
	printf '{"name": "typo", "type": "stdio", "command": ["x"], "enabled": true},'
	printf '{"name": "notoken", "type": "url", "url": "https://mcp.example.test/", "authorization_token_file": "%s/absent"},' "$T"
	printf '{"name": "badenv", "type": "stdio", "command": ["x"], "env": {"1BAD": "%s"}},' "$ENV_MARK"
	printf '{"name": "badtpl", "type": "stdio", "command": ["x"], "templates": ["../etc"]}'
} >>"$BAD"
printf ']}\n' >>"$BAD"
CW_CONF[MCP_SERVERS_FILE]=$BAD
run_cw -t
is "$RC" 78 "bad MCP_SERVERS_FILE: exit 78"
P=$(printf '%s\n' "$ERR" | grep '^claude-web: config: MCP_SERVERS_FILE:')
is "$(printf '%s\n' "$P" | grep -c .)" 8 "bad MCP_SERVERS_FILE: the 8 problems (a duplicate once), one line each"
for want in 'servers\[0\]: "name" must be' 'server "dup": the name is used twice' \
	'server "nocmd": "command" must be an array' 'server "plain": "url" must be an https://' \
	'server "typo": unknown field "enabled"' 'server "notoken": authorization_token_file: cannot read' \
	'server "badenv": env "1BAD"' 'server "badtpl": "templates" must be a list of at most 16 template names'; do
	like "$P" "$want" "bad MCP_SERVERS_FILE names the problem: $want"
done
unlike "$ERR" "$ENV_MARK" "bad MCP_SERVERS_FILE: an env value is never printed"
printf '{"servers": [' >"$BAD"
printf '{"name": "x", "type": "stdio", "command": ["x"]}' >>"$BAD"
run_cw -t
is "$RC" 78 "MCP_SERVERS_FILE that is not JSON: exit 78"
like "$ERR" "MCP_SERVERS_FILE: .* is not valid JSON" "... and says so"
CW_CONF[MCP_SERVERS_FILE]=$T/absent.json
run_cw -t
is "$RC" 78 "MCP_SERVERS_FILE missing: exit 78"
like "$ERR" "MCP_SERVERS_FILE: cannot read" "... and says so"

# ---- the stack ------------------------------------------------------------------------------
printf '%s\n' "$TOKEN_MARK" >"$T/mcp-token"
GOOD=$T/mcp-servers.json
{
	printf '{"servers": ['
	if [ "$HAVE_EVERY" = 1 ]; then
		jq -cn --arg p "$MCP_DIR/$EVERY" \
			'{name: "everything", type: "stdio", command: ["node", $p, "stdio"], enabled_by_default: true}'
		printf ','
	fi
	py_server py ok "$(jq -cn --arg v "$ENV_MARK" '{FAKE_SECRET: $v}')"; printf ','
	py_server hang hangcall; printf ','
	py_server flood flood; printf ','
	py_server bigline bigline; printf ','
	py_server die die; printf ','
	py_server hanglist hanglist; printf ','
	py_server tplsrv ok | jq -c '. + {templates: ["mcptpl"]}'; printf ','
	jq -cn --arg f "$T/mcp-token" \
		'{name: "remote", type: "url", url: "https://mcp.example.test/mcp", authorization_token_file: $f}'
	printf ']}\n'
} >"$GOOD"
CW_CONF[MCP_SERVERS_FILE]=$GOOD
CW_CONF[MCP_DIR]=$MCP_DIR
CW_CONF[MCP_TIMEOUT]=10
CW_CONF[PERMISSION_TIMEOUT]=600
# node (V8) aborts under the bash tests' 1 GiB of address space: the default.
CW_CONF[SANDBOX_MEMORY_MB]=4096
tools_stack_up

# ---- 2. GET /api/mcp/servers: names, types, tools; no command, env or token ----------------
api_auth /api/mcp/servers
is "$HTTP_STATUS" 200 "GET /api/mcp/servers: 200"
SERVERS=$(cat "$BODY")
is "$(json '[.servers[].name] | join(",")')" \
	"$([ "$HAVE_EVERY" = 1 ] && printf 'everything,')py,hang,flood,bigline,die,hanglist,tplsrv,remote" \
	"the servers, in configuration order"
is "$(json '.servers[] | select(.name == "py") | .tools')" null \
	"py: not listed yet (the API never starts a server)"
like "$(json '.servers[] | select(.name == "py") | .error')" "not listed yet: the tools are listed when a run" \
	"... and the listing says when it will be"
is "$(json '.servers[] | select(.name == "remote") | [.type, (.tools == null)] | join(",")')" "url,true" \
	"remote: type url, its tools are Anthropic's to list"
unlike "$SERVERS" "python3|$ENV_MARK|$TOKEN_MARK|mcp.example.test|\"command\"|\"env\"" \
	"no command, env value, token or URL in the listing"
# Two people's pages load at once while hanglist (its listing never answers)
# is not listed: neither waits for it (MCP_TIMEOUT is 10 s), nor does
# /api/live; no server was started for them.
conc_get() {	# conc_get N PATH: time_total (s) to $T/conc-N.t, body to $T/conc-N.json
	curl -4ks --max-time 30 -o "$T/conc-$1.json" -w '%{time_total}' \
		-H "Authorization: Bearer $TOKEN" "$BASE_URL$2" >"$T/conc-$1.t" 2>/dev/null
}
conc_get 1 /api/mcp/servers &
P1=$!
conc_get 2 /api/mcp/servers &
P2=$!
conc_get 3 /api/live &
P3=$!
wait "$P1" "$P2" "$P3"
for n in 1 2; do
	cmp_ok "$(awk '{ printf "%d", $1 * 1000 }' "$T/conc-$n.t")" -lt 3000 \
		"concurrent GET /api/mcp/servers #$n answers at once (< 3 s; MCP_TIMEOUT is 10 s)"
	like "$(jq -r '.servers[] | select(.name == "hanglist") | .error' "$T/conc-$n.json" 2>/dev/null)" \
		"not listed yet" "... hanglist: not listed yet"
done
cmp_ok "$(awk '{ printf "%d", $1 * 1000 }' "$T/conc-3.t")" -lt 3000 "/api/live meanwhile answers at once"
is "$(find "${CW_CONF[WORKSPACE_PATH]}/.mcp" -maxdepth 1 \( -name 'probe-*' -o -name '*.json' -o -name '*.failed' \) 2>/dev/null | grep -c .)" 0 \
	"the API started no server to list it"

# ---- 3. sessions: defaults, PATCH, 400 for unknown names ------------------------------------
session_new default || cw_bail "session: $HTTP_STATUS $(cat "$BODY")"
is "$(jq -c .mcp_servers "$BODY")" "$([ "$HAVE_EVERY" = 1 ] && echo '["everything"]' || echo '[]')" \
	"a new session has the servers enabled_by_default"
S1=$SID
api_auth "/api/sessions/$S1" -X PATCH -H 'Content-Type: application/json' --data-binary '{"mcp_servers": ["nope"]}'
is "$HTTP_STATUS" 400 "PATCH mcp_servers with an unknown name: 400"
like "$(json .error.message)" "no MCP server named 'nope'" "... naming it"
api_auth "/api/sessions/$S1" -X PATCH -H 'Content-Type: application/json' --data-binary '{"mcp_servers": "py"}'
is "$HTTP_STATUS" 400 "PATCH mcp_servers not an array: 400"
api_auth /api/sessions -X POST -H 'Content-Type: application/json' --data-binary '{"mcp_servers": ["py", "ghost"]}'
is "$HTTP_STATUS" 400 "POST /api/sessions with an unknown server: 400"
# A server the admin enabled for a template: on in sessions made from it only.
mkdir -p "$T/workspace/shared/templates/mcptpl"
printf 'from the template\n' >"$T/workspace/shared/templates/mcptpl/README.md"
api_auth /api/sessions -X POST -H 'Content-Type: application/json' --data-binary '{"template": "mcptpl"}'
is "$HTTP_STATUS" 201 "a session from a template whose server is enabled for it: 201"
is "$(jq -c '.mcp_servers | index("tplsrv") != null' "$BODY")" true "... has the template's server (templates in MCP_SERVERS_FILE)"
api_auth "/api/sessions/$S1"
is "$(jq -c '.mcp_servers | index("tplsrv") != null' "$BODY")" false "a session made without the template does not"
api_auth /api/sessions -X POST -H 'Content-Type: application/json' --data-binary '{"template": "mcptpl", "mcp_servers": []}'
is "$(jq -c .mcp_servers "$BODY")" '[]' "mcp_servers given at creation wins over the template's servers"
ENABLE='["py"]'
[ "$HAVE_EVERY" = 1 ] && ENABLE='["py", "everything", "py"]'
api_auth "/api/sessions/$S1" -X PATCH -H 'Content-Type: application/json' \
	--data-binary "$(jq -cn --argjson e "$ENABLE" '{mcp_servers: $e}')"
is "$HTTP_STATUS" 200 "PATCH mcp_servers: 200"
is "$(jq -c .mcp_servers "$BODY")" "$([ "$HAVE_EVERY" = 1 ] && echo '["everything","py"]' || echo '["py"]')" \
	"stored in configuration order, each once"
api_auth "/api/sessions/$S1"
is "$(jq -c .mcp_servers "$BODY")" "$([ "$HAVE_EVERY" = 1 ] && echo '["everything","py"]' || echo '["py"]')" \
	"GET shows them"

mcp_block() {	# mcp_block TOOL INPUT_JSON
	jq -cn --arg n "$1" --argjson in "$2" --arg id "$(next_tool_id)" \
		'{type: "tool_use", id: $id, name: $n, input: $in}'
}
req_of() {	# req_of N: the N-th permission.request's data in EV
	ev_nth permission.request "$1"
}
answer() {	# answer N JSON
	ev_wait permission.request "$1" "$W" || return 1
	perm_post "$SID" "$(req_of "$1" | jq -r .request_id)" "$2"
}
last_result() {	# last_result N FILTER: over the tool_result blocks of request N's last message
	fake_req "$1" ".body.messages[-1].content | map(select(.type == \"tool_result\")) | $2"
}

# ---- 4. the real server: declared with its schema, asks, approved → its text ----------------
SID=$S1
if [ "$HAVE_EVERY" = 1 ]; then
	run_bg "$SID" "$(blocks "$(mcp_block mcp__everything__echo '{"message":"hello from t_mcp"}')")" "$RUNTO" ||
		diag "run_bg: $HTTP_STATUS $(cat "$BODY")"
	ev_wait permission.request 1 "$W"
	is "$(req_of 1 | jq -r .tool)" mcp__everything__echo "the call asks permission (class network)"
	like "$(req_of 1 | jq -r .summary)" '^everything: echo \{"message":"hello from t_mcp"\}' \
		"the approval card says server, tool and input"
	fake_requests
	is "$(fake_req 1 '.body.tools | map(select(.name == "mcp__everything__echo")) | length')" 1 \
		"the upstream tools array holds mcp__everything__echo"
	# shellcheck disable=SC2016 # "$schema" is the JSON key, not an expansion
	is "$(fake_req 1 '.body.tools[] | select(.name == "mcp__everything__echo") | .input_schema')" \
		'{"$schema":"http://json-schema.org/draft-07/schema#","type":"object","properties":{"message":{"type":"string","description":"Message to echo"}},"required":["message"]}' \
		"... with the server's input schema"
	is "$(fake_req 1 '.body.tools[] | select(.name == "mcp__everything__echo") | .description')" \
		'"Echoes back the input string"' "... and its description"
	is "$(fake_req 1 '[.body.tools[].name | select(startswith("mcp__py__"))] | join(",")')" \
		'"mcp__py__img,mcp__py__noschema,mcp__py__touch"' "py's tools declared too, by name (invalid names left out)"
	is "$(fake_req 1 '.body.tools[] | select(.name == "mcp__py__noschema") | .input_schema')" '{"type":"object"}' \
		"a tool without a schema gets an empty object schema"
	is "$(fake_req 1 '.body | has("mcp_servers")')" false "no url server enabled: no mcp_servers in the request"
	answer 1 '{"decision": "allow"}'
	is "$HTTP_STATUS" 200 "approved"
	run_bg_wait "$RUNTO"
	is "$(ev_first "$EV" run.finished | jq -r .stop_reason 2>/dev/null)" end_turn "the run finished"
	is "$(trj .content)" "Echo: hello from t_mcp" "tool.result: the server's answer"
	is "$(trj .card)" mcp "tool.result: card mcp"
	fake_requests
	is "$(last_result 2 '.[0].content')" '"Echo: hello from t_mcp"' \
		"the next upstream request carries the MCP text as the tool_result"
	is "$(fake_req 2 '.body.tools')" "$(fake_req 1 '.body.tools')" "the declarations are byte-stable across turns"
else
	tap_skip 14 "server-everything could not be installed (npm registry)"
fi

# ---- 5. denied → not called; approved with remember → runs in /workspace, per tool ----------
FILES=$(session_dir "$S1")/files
run_bg "$SID" "$(blocks "$(mcp_block mcp__py__touch '{"name":"denied.txt"}')")" "$RUNTO"
answer 1 '{"decision": "deny", "message": "not that file"}'
run_bg_wait "$RUNTO"
check "denied: the server was never called (no file)" test ! -e "$FILES/denied.txt"
is "$(trj .is_error)" true "denied: the tool_result is an error"
fake_requests
like "$(last_result 2 '.[0].content')" "not that file" "denied: Claude reads the deny message"

run_bg "$SID" "$(blocks "$(mcp_block mcp__py__touch '{"name":"made.txt"}')")" "$RUNTO"
answer 1 '{"decision": "allow", "remember": true}'
run_bg_wait "$RUNTO"
check "approved: the server ran in the session's workspace (the file is in files/)" test -f "$FILES/made.txt"
is "$(cat "$FILES/made.txt" 2>/dev/null)" "called with ${ENV_MARK:0:3}" "the configured env reached the server"
is "$(trj .content)" "created made.txt in /workspace" "the result text; cwd /workspace"

run_bg "$SID" "$(blocks "$(mcp_block mcp__py__touch '{"name":"again.txt"}')" "$(mcp_block mcp__py__img '{}')")" "$RUNTO"
ev_wait permission.request 1 "$W"
is "$(req_of 1 | jq -r .tool)" mcp__py__img "remembered per tool: touch ran without asking, img asks"
answer 1 '{"decision": "allow"}'
run_bg_wait "$RUNTO"
check "the remembered tool ran" test -f "$FILES/again.txt"
fake_requests
is "$(last_result 2 '.[1].content | map(.type) | join(",")')" '"text,image"' \
	"an image result: a text block and an image block"
is "$(last_result 2 '.[1].content[1].source')" \
	"$(jq -cn --arg d "$PNG" '{type: "base64", media_type: "image/png", data: $d}')" "... the server's PNG"
run_bg "$SID" "$(blocks "$(mcp_block mcp__py__img '{"bad":true}')")" "$RUNTO"
answer 1 '{"decision": "allow"}'
run_bg_wait "$RUNTO"
is "$(ev_first "$EV" run.finished | jq -r .stop_reason 2>/dev/null)" end_turn "a result with bad images: the run finishes"
fake_requests
is "$(last_result 2 '.[0].content | type')" '"string"' \
	"bad images (not PNG bytes, not base64, no data) never reach Claude: no image block"
like "$(last_result 2 '.[0].content')" \
	'^"bad pixels\\n\[image omitted \(image/png\): [^]]+\]\\n\[image omitted \(image/png\): [^]]+\]\\n\[image omitted \(image/png\): it has no data\]"$' \
	"... each is a note in the text saying why"
is "$(trj .images)" null "... and tool.result counts no images"

# ---- 6. hostile servers are bounded ----------------------------------------------------------
session_new bypassPermissions || cw_bail "session: $HTTP_STATUS"
S2=$SID
api_auth "/api/sessions/$S2" -X PATCH -H 'Content-Type: application/json' \
	--data-binary '{"mcp_servers": ["hang", "flood", "bigline", "die", "hanglist"]}'
is "$HTTP_STATUS" 200 "hostile servers enabled"
T0=$(now_ms)
tools_run "$S2" "$(blocks "$(mcp_block mcp__hang__touch '{"name":"h"}')" "$(mcp_block mcp__flood__touch '{"name":"f"}')" \
	"$(mcp_block mcp__bigline__touch '{"name":"b"}')" "$(mcp_block mcp__die__touch '{"name":"d"}')")" "$RUNTO"
T1=$(now_ms)
is "$SSE_END" until "the run with four hostile calls ends"
like "$(trn 1 .content)" "did not answer within 10 s \(MCP_TIMEOUT\); it was stopped" "a server that hangs: stopped at MCP_TIMEOUT"
like "$(trn 2 .content)" "wrote more than 8 MiB; it was stopped" "a server that floods: stopped at 8 MiB"
like "$(trn 3 .content)" "larger than 1024 KiB; it was stopped" "a 2 MiB message: stopped at 1 MiB"
like "$(trn 4 .content)" "exited \(status 3\) before it answered: fatal: the fake server gave up" \
	"a server that dies: its last words"
is "$(sed -n 's/.*/x/p' "$TRS" | grep -c x)" 4 "four results"
cmp_ok "$((T1 - T0))" -lt 90000 "bounded in time (< 90 s)"
is "$(host_procs 'hangcall|bigline' | grep -c .)" 0 "no server process left behind"
fake_requests
is "$(fake_req 1 '[.body.tools[].name | select(startswith("mcp__hanglist"))] | length')" 0 \
	"a server whose listing hangs offers no tools (the run goes on)"

# ---- 6b. the listing after runs listed the servers --------------------------------------------
T0=$(now_ms)
api_auth /api/mcp/servers
T1=$(now_ms)
is "$(json '.servers[] | select(.name == "py") | .tools | join(",")')" "touch,img,noschema" \
	"after a run: py's tools (an invalid name left out)"
like "$(json '.servers[] | select(.name == "hanglist") | .error')" "did not answer within 10 s.*listing again in [0-9]+ s" \
	"a failed listing (a run's) is shown and remembered for a minute, not retried at once"
cmp_ok "$((T1 - T0))" -lt 5000 "... so the listing answers at once"
unlike "$(cat "$BODY")" "python3|$ENV_MARK|$TOKEN_MARK|mcp.example.test|\"command\"|\"env\"" \
	"no command, env value, token or URL in the listing"
is "$(find "${CW_CONF[WORKSPACE_PATH]}/.mcp" -maxdepth 1 -name 'probe-*' 2>/dev/null | grep -c .)" 0 \
	"the listings' probe workspaces are removed"
is "$(find "${CW_CONF[WORKSPACE_PATH]}/.mcp" -maxdepth 1 -name 'py-*.json' 2>/dev/null | grep -c .)" 1 \
	"a listing is cached per configuration (WORKSPACE_PATH/.mcp/<name>-<hash>.json)"
if [ "$HAVE_EVERY" = 1 ]; then
	like "$(json '.servers[] | select(.name == "everything") | .tools | join(",")')" '(^|,)echo(,|$)' \
		"everything (node over stdio in the sandbox) lists echo"
else
	tap_skip 1 "server-everything could not be installed (npm registry)"
fi

# ---- 7. the URL connector: mcp_servers + beta header, blocks kept in the history -----------
session_new default || cw_bail "session: $HTTP_STATUS"
S3=$SID
api_auth "/api/sessions/$S3" -X PATCH -H 'Content-Type: application/json' --data-binary '{"mcp_servers": ["remote"]}'
fake_reset
fake_script "$(jq -cn '{turns: [{content: [
	{type: "text", text: "Asking the remote server."},
	{type: "mcp_tool_use", id: "mcptoolu_01", name: "lookup", server_name: "remote", input: {q: "weather"}},
	{type: "mcp_tool_result", tool_use_id: "mcptoolu_01", is_error: false, content: [{type: "text", text: "sunny"}]},
	{type: "text", text: "It is sunny."}]}, {text: "ok"}]}')"
run_msg "$S3" "what is the weather" 60
is "$SSE_END" until "a run with the connector finishes"
is "$(ev_first "$EV" tool.use | jq -r '[.name, .card] | join(",")')" "mcp__remote__lookup,mcp" \
	"live: the remote call is a tool.use named mcp__remote__lookup, card mcp"
is "$(ev_first "$EV" tool.result | jq -r '[.content, .is_error] | join(",")')" "sunny,false" \
	"live: its result is the server's text"
fake_requests
is "$(fake_req 1 .body.mcp_servers)" \
	"$(jq -cn --arg t "$TOKEN_MARK" '[{type: "url", url: "https://mcp.example.test/mcp", name: "remote", authorization_token: $t}]')" \
	"the request carries mcp_servers with the token"
like "$(fake_req 1 '.headers["anthropic-beta"]' | jq -r .)" "mcp-client-2025-04-04" "... and the beta header"
is "$(fake_req 1 '[.body.tools[].name | select(startswith("mcp__"))] | length')" 0 "no client-side declarations for it"
run_msg "$S3" "and tomorrow?" 60
fake_requests
is "$(fake_req 2 '.body.messages[1].content | map(.type) | join(",")')" '"text,mcp_tool_use,mcp_tool_result,text"' \
	"the next request sends the blocks back in order"
is "$(fake_req 2 '.body.messages[1].content[1] | {id, name, server_name, input}')" \
	'{"id":"mcptoolu_01","name":"lookup","server_name":"remote","input":{"q":"weather"}}' "mcp_tool_use kept whole"
is "$(fake_req 2 '.body.messages[1].content[2].content[0].text')" '"sunny"' "mcp_tool_result kept whole"
get_history "$S3"
is "$(jq -c '[.messages[] | select(.role == "assistant") | .content[]? | .type] | map(select(startswith("mcp_")))' "$T/hist.json")" \
	'["mcp_tool_use","mcp_tool_result"]' "the history shows them (the UI redraws them)"

# ---- 7b. approving a plan writes only the permission mode ------------------------------------
# A PATCH (title, MCP servers) made while the plan waits for approval is
# kept: the switch out of plan mode (by the API and again by the runner)
# writes permission_mode alone, never the whole record read earlier.
session_new plan || cw_bail "session: $HTTP_STATUS"
S4=$SID
run_bg "$S4" "$(blocks "$(jq -cn --arg id "$(next_tool_id)" \
	'{type: "tool_use", id: $id, name: "exit_plan_mode", input: {plan: "Plan\n1. do it"}}')")" "$RUNTO"
ev_wait permission.request 1 "$W"
api_auth "/api/sessions/$S4" -X PATCH -H 'Content-Type: application/json' \
	--data-binary '{"title": "Renamed while planning", "mcp_servers": ["py"]}'
is "$HTTP_STATUS" 200 "plan pending: PATCH title and mcp_servers"
answer 1 '{"decision": "allow", "mode": "acceptEdits"}'
is "$(jq -r .mode "$BODY")" acceptEdits "the plan is approved into acceptEdits"
run_bg_wait "$RUNTO"
api_auth "/api/sessions/$S4"
is "$(jq -c '[.permission_mode, .title, .mcp_servers]' "$BODY")" '["acceptEdits","Renamed while planning",["py"]]' \
	"the session left plan mode and kept the PATCH made meanwhile"

# ---- 8. secrets ----------------------------------------------------------------------------
unlike "$(cat "$T"/log/claude-web*.log 2>/dev/null)" "$ENV_MARK|$TOKEN_MARK" \
	"neither the env value nor the token is ever logged"

tap_done
