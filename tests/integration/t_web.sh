#!/usr/bin/env bash
# t_web.sh: issue 13, the web. The Anthropic server tools web_search and
# web_fetch, passed through per session by its network policy (off |
# allowlist | on), bound per role by the administrator; their blocks (with
# encrypted_content and cited text) stored in the history and sent back
# unchanged; the events the UI draws; pause_turn; the cost of searches; and
# the sandbox's network following the same policy (SANDBOX_NETWORK the
# server-wide bound).
#
# Every upstream request is checked as the fake Anthropic API recorded it:
# the server tool declarations exactly, the anthropic-beta header, the
# history sent back.
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source=tests/integration/lib_auth.sh
. "$(dirname "$0")/lib_auth.sh"
# shellcheck source=tests/integration/lib_agent.sh
. "$(dirname "$0")/lib_agent.sh"
# shellcheck source=tests/integration/lib_tools.sh
. "$(dirname "$0")/lib_tools.sh"
cw_require_tools_stack
trap cw_cleanup EXIT

# ---- 0. the configuration: bad values are refused at start (exit 78), each named ---------
ERR=$(env -i PATH="$PATH" NETWORK_POLICY_MAX_USER=maybe NETWORK_DEFAULT_POLICY=allowlist \
	NETWORK_DEFAULT_ALLOWED_DOMAINS='docs.example.com,https://bad.example' WEB_SEARCH_MAX_USES=0 \
	WEB_FETCH_MAX_USES=101 "$CLAUDE_WEB" -t 2>&1)
RC=$?
is "$RC" 78 "0: invalid network settings: claude-web -t exits 78"
like "$ERR" 'NETWORK_POLICY_MAX_USER: "maybe" is not off\|allowlist\|on' "0: ... naming NETWORK_POLICY_MAX_USER"
like "$ERR" "NETWORK_DEFAULT_ALLOWED_DOMAINS: 'https://bad.example' is not a hostname" "0: ... and the bad default domain"
like "$ERR" 'WEB_SEARCH_MAX_USES: 0 is out of range 1\.\.100' "0: ... and WEB_SEARCH_MAX_USES"
like "$ERR" 'WEB_FETCH_MAX_USES: 101 is out of range 0\.\.100' "0: ... and WEB_FETCH_MAX_USES"
ERR=$(env -i PATH="$PATH" NETWORK_DEFAULT_POLICY=allowlist "$CLAUDE_WEB" -t 2>&1)
like "$ERR" 'NETWORK_DEFAULT_POLICY=allowlist needs NETWORK_DEFAULT_ALLOWED_DOMAINS' "0: a default allowlist without domains is refused"

# Users may have the allowlist at most, admins everything.
CW_CONF[NETWORK_POLICY_MAX_USER]=allowlist
CW_CONF[NETWORK_POLICY_MAX_ADMIN]=on
CW_CONF[NETWORK_DEFAULT_POLICY]=off
CW_CONF[WEB_SEARCH_MAX_USES]=3
CW_CONF[SANDBOX_TIMEOUT]=20
NET_ON=0
if [ -x /usr/bin/pasta ] && [ "$(id -u)" = 0 ]; then
	# "on" gets the network of SANDBOX_NETWORK=on only where that works.
	CW_CONF[SANDBOX_NETWORK]=on
	NET_ON=1
fi
tools_stack_up
user_add boss boss-password-1 admin || cw_bail "admin add: $(cat "$ADMIN_OUT")"
ANN_TOKEN=$TOKEN
login boss boss-password-1 || cw_bail "boss cannot log in"
BOSS_TOKEN=$TOKEN
TOKEN=$ANN_TOKEN

# patch SID JSON: PATCH /api/sessions/SID as the current $TOKEN.
patch() {
	api_auth "/api/sessions/$1" -X PATCH -H 'Content-Type: application/json' --data-binary "$2"
}

# web_tools N: the server tool declarations of request N (from the last
# fake_requests), one compact JSON array.
web_tools() {
	fake_req "$1" '[.body.tools[] | select((.type // "") | test("^web_"))]'
}

# ---- 1. the policy of a session: defaults, bounds, validation -----------------------
session_new bypassPermissions || cw_bail "cannot create a session: $HTTP_STATUS $(cat "$BODY")"
is "$(json '[.network_policy, .allowed_domains, .network_policy_max, .sandbox_network] | tostring')" \
	'["off",[],"allowlist",false]' "1: a new session: network_policy off (NETWORK_DEFAULT_POLICY), no domains, the user's bound is allowlist"
patch "$SID" '{"network_policy":"on"}'
is_json_error 403 "1: a user asking for 'on' above NETWORK_POLICY_MAX_USER=allowlist: 403"
like "$(json .error.message)" "NETWORK_POLICY_MAX_USER=allowlist" "1: ... and the error says which bound"
api_auth /api/sessions -X POST -H 'Content-Type: application/json' --data-binary '{"network_policy":"on"}'
is_json_error 403 "1: creating a session with 'on' as a user: 403"
patch "$SID" '{"network_policy":"sometimes"}'
is_json_error 400 "1: an unknown policy: 400"
patch "$SID" '{"network_policy":"allowlist"}'
is_json_error 400 "1: allowlist without domains: 400"
like "$(json .error.message)" "allowed_domains" "1: ... naming allowed_domains"
for bad in '"https://example.com"' '"*.example.com"' '"10.0.0.1"' '"example.com/docs"' '"localhost"' \
	'"ex ample.com"' '"-x.example.com"' '42' '"exa\u0000mple.com"'; do
	patch "$SID" "{\"network_policy\":\"allowlist\",\"allowed_domains\":[$bad]}"
	[ "$HTTP_STATUS" = 400 ] || tap_fail "1: allowed_domains [$bad] refused with 400" "got $HTTP_STATUS $(cat "$BODY")"
done
tap_ok "1: invalid domains (scheme, wildcard, IP address, path, one label, space, leading dash, not a string, NUL) are 400"
patch "$SID" "$(jq -cn '{allowed_domains: [range(0; 33) | "d\(.).example.com"]}')"
is_json_error 400 "1: more than 32 domains: 400"
patch "$SID" '{"network_policy":"allowlist","allowed_domains":["Docs.Example.COM","example.org","docs.example.com"]}'
is "$HTTP_STATUS $(json '[.network_policy, .allowed_domains] | tostring')" \
	'200 ["allowlist",["docs.example.com","example.org"]]' "1: allowlist with domains: lowercased, duplicates dropped"
api_auth "/api/sessions/$SID"
is "$(json '[.network_policy, .allowed_domains, .sandbox_network] | tostring')" \
	'["allowlist",["docs.example.com","example.org"],false]' "1: GET shows it; the sandbox has no network under allowlist"

# ---- 2. allowlist: the declarations, a search, its blocks and events ------------------
SEARCH_ID=srvtoolu_01Web$RANDOM
ENC="Eo8BCkYIBxgCKkA$(openssl rand -hex 24)/+==\u00e9é"
SEARCH_BLOCKS=$(jq -cn --arg id "$SEARCH_ID" --arg enc "$ENC" '[
	{type: "text", text: "Let me search."},
	{type: "server_tool_use", id: $id, name: "web_search", input: {query: "claude-web docs"}},
	{type: "web_search_tool_result", tool_use_id: $id, content: [
		{type: "web_search_result", url: "https://docs.example.com/a", title: "Doc A",
		 encrypted_content: $enc, page_age: "2 days ago"},
		{type: "web_search_result", url: "https://example.org/b", title: "Page B",
		 encrypted_content: ("B" + $enc), page_age: null}]},
	{type: "text", text: "Claude-web is documented in doc A.", citations: [
		{type: "web_search_result_location", url: "https://docs.example.com/a", title: "Doc A",
		 encrypted_index: "EpABCkYIBxgC", cited_text: "claude-web is a web version of Claude Code"}]}]')
fake_reset
fake_script "$(jq -cn --argjson c "$SEARCH_BLOCKS" '{turns: [{content: $c,
	usage: {input_tokens: 1000, output_tokens: 100, server_tool_use: {web_search_requests: 1}}},
	{text: "Still here."}]}')"
run_msg "$SID" "search the web" 30 || diag "run: $SSE_END $HTTP_STATUS"
fake_requests
is "$(web_tools 1)" '[{"type":"web_fetch_20250910","name":"web_fetch","max_uses":5,"allowed_domains":["docs.example.com","example.org"],"citations":{"enabled":true},"max_content_tokens":25000},{"type":"web_search_20250305","name":"web_search","max_uses":3,"allowed_domains":["docs.example.com","example.org"]}]' \
	"2: allowlist: web_search and web_fetch declared with allowed_domains and max_uses (WEB_SEARCH_MAX_USES)"
is "$(fake_req 1 '.headers["anthropic-beta"]')" '"web-fetch-2025-09-10"' "2: ... and the request carries anthropic-beta: web-fetch-2025-09-10"
is "$(fake_req 1 '[.body.tools[] | .name] | (index("web_fetch") > index("bash"))')" true \
	"2: the server tools come after the client tools (byte-stable order)"
is "$(jq -c 'select(.event == "tool.use") | .data | {id, name, input, server, card}' "$EV")" \
	"{\"id\":\"$SEARCH_ID\",\"name\":\"web_search\",\"input\":{\"query\":\"claude-web docs\"},\"server\":true,\"card\":\"web\"}" \
	"2: event tool.use for the search (server: true, card web), input from the streamed JSON"
is "$(jq -c 'select(.event == "tool.result") | .data | {tool_use_id, name, server, is_error, content, results}' "$EV")" \
	"{\"tool_use_id\":\"$SEARCH_ID\",\"name\":\"web_search\",\"server\":true,\"is_error\":false,\"content\":\"2 results\",\"results\":[{\"url\":\"https://docs.example.com/a\",\"title\":\"Doc A\",\"page_age\":\"2 days ago\"},{\"url\":\"https://example.org/b\",\"title\":\"Page B\"}]}" \
	"2: event tool.result: the results' urls, titles and ages"
unlike "$(cat "$EV")" 'encrypted_content|Eo8BCkYIBxgCKkA' "2: no encrypted content in any event"
is "$(jq -c 'select(.event == "text.citations") | .data | {index, citations}' "$EV")" \
	'{"index":3,"citations":[{"type":"web_search_result_location","url":"https://docs.example.com/a","title":"Doc A","cited_text":"claude-web is a web version of Claude Code"}]}' \
	"2: event text.citations for the cited text block"
is "$(jq -c 'select(.event == "message.stop") | .data.usage | [.web_search_requests, (.cost_usd > 0.01)]' "$EV")" \
	'[1,true]' "2: message.stop usage counts the search, and its cost includes \$0.01 for it"
is "$(ev_count "$EV" run.finished)" 1 "2: the run finished (end_turn: Anthropic ran the tool, nothing here did)"
get_history "$SID"
is "$(jq -c '.messages[-1].content' "$T/hist.json")" "$(printf '%s' "$SEARCH_BLOCKS" | jq -c .)" \
	"2: the history holds the answer's blocks exactly (server_tool_use, the result with encrypted_content, the cited text)"
api_auth "/api/sessions/$SID"
is "$(json '.usage.web_search_requests')" 1 "2: the session's usage counts one search"

# The next turn sends them back unchanged.
run_msg "$SID" "and now?" 30 || diag "run 2: $SSE_END"
fake_requests
is "$(fake_req 2 '.body.messages[1].content')" "$(printf '%s' "$SEARCH_BLOCKS" | jq -c .)" \
	"2: the next request sends the blocks back exactly as they came (same keys, same order, encrypted_content)"
is "$(fake_req 2 '.body.messages[1].content[2].content[0].encrypted_content')" "$(jq -cn --arg e "$ENC" '$e')" \
	"2: encrypted_content byte for byte"

# ---- 3. errors, web_fetch, pause_turn ------------------------------------------------
FETCH_ID=srvtoolu_01Fetch$RANDOM
ERR_ID=srvtoolu_01Err$RANDOM
fake_reset
fake_script "$(jq -cn --arg f "$FETCH_ID" --arg e "$ERR_ID" '{turns: [
	{content: [
		{type: "server_tool_use", id: $e, name: "web_search", input: {query: "too many"}},
		{type: "web_search_tool_result", tool_use_id: $e, content: {type: "web_search_tool_result_error", error_code: "max_uses_exceeded"}},
		{type: "server_tool_use", id: $f, name: "web_fetch", input: {url: "https://docs.example.com/a"}},
		{type: "web_fetch_tool_result", tool_use_id: $f, content: {type: "web_fetch_result", url: "https://docs.example.com/a",
			retrieved_at: "2026-12-02T10:00:00Z", content: {type: "document", source: {type: "text", media_type: "text/plain", data: "Doc A text"}, title: "Doc A"}}}],
	 stop_reason: "pause_turn"},
	{text: "Done after the pause."}]}')"
run_msg "$SID" "fetch it" 30 || diag "run 3: $SSE_END"
fake_requests
is "$(fake_nreq)" 2 "3: pause_turn: the paused answer is sent back at once (a second request, no new prompt)"
is "$(fake_req 2 '[.body.messages[-1].role, (.body.messages[-1].content | map(.type))]')" \
	'["assistant",["server_tool_use","web_search_tool_result","server_tool_use","web_fetch_tool_result"]]' \
	"3: ... ending with the paused assistant message"
is "$(jq -c "select(.event == \"tool.result\" and .data.tool_use_id == \"$ERR_ID\") | .data | [.is_error, .error_code]" "$EV")" \
	'[true,"max_uses_exceeded"]' "3: a search error (web_search_tool_result_error) is a failed tool.result with its error_code"
is "$(jq -c "select(.event == \"tool.result\" and .data.tool_use_id == \"$FETCH_ID\") | .data | [.name, .url, .title, .is_error]" "$EV")" \
	'["web_fetch","https://docs.example.com/a","Doc A",false]' "3: a fetch: tool.result with the page's url and title"
get_history "$SID"
is "$(jq -c '[.messages[-1].role, (.messages[-1].content | map(.type))]' "$T/hist.json")" \
	'["assistant",["server_tool_use","web_search_tool_result","server_tool_use","web_fetch_tool_result","text"]]' \
	"3: the continuation joined the paused message (one assistant message in the history)"
is "$(ev_count "$EV" run.finished)" 1 "3: one run.finished"

# ---- 4. off: no web tools, no beta header; the sandbox has no network ---------------------
patch "$SID" '{"network_policy":"off"}'
is "$HTTP_STATUS $(json .network_policy)" "200 off" "4: PATCH back to off"
fake_reset
fake_script '{"turns":[{"text":"Offline answer."}]}'
run_msg "$SID" "no web now" 30 || diag "run 4: $SSE_END"
fake_requests
is "$(web_tools 1)" '[]' "4: off: no server tool in the request"
is "$(fake_req 1 '.headers["anthropic-beta"] // "none"')" '"none"' "4: ... and no anthropic-beta header"
is "$(fake_req 1 '.body.messages[1].content | map(.type) | tostring')" \
	'"[\"text\",\"server_tool_use\",\"web_search_tool_result\",\"text\"]"' \
	"4: the earlier server tool blocks stay in the history sent"

ROUTE_PROBE=$(
	cat <<'EOF'
awk '$2 == "00000000" { d = 1 } END { print (d ? "default-route" : "no-route") }' /proc/net/route
python3 -c 'import socket
s = socket.socket(); s.settimeout(3)
try:
    s.connect(("192.0.2.1", 80)); print("connected")
except OSError as e:
    print("connect-errno", e.errno)'
EOF
)
bash1 "$SID" "$ROUTE_PROBE" 30
like "$(trj .stdout)" 'no-route' "4: off: the sandbox has no default route"
like "$(trj .stdout)" 'connect-errno 101' "4: off: a connection fails at once (ENETUNREACH)"
patch "$SID" '{"network_policy":"allowlist"}'
bash1 "$SID" "$ROUTE_PROBE" 30
like "$(trj .stdout)" 'no-route' "4: allowlist: the sandbox still has no network (no per-domain filter there)"

# ---- 5. on: admins only here; unrestricted tools; the sandbox network -------------------
TOKEN=$BOSS_TOKEN
session_new bypassPermissions || cw_bail "boss cannot create a session"
BSID=$SID
patch "$BSID" '{"network_policy":"on"}'
is "$HTTP_STATUS $(json '[.network_policy, .network_policy_max, .sandbox_network] | tostring')" \
	"200 [\"on\",\"on\",$([ "$NET_ON" = 1 ] && echo true || echo false)]" \
	"5: an admin may choose on (NETWORK_POLICY_MAX_ADMIN=on); sandbox_network says what the sandbox gets"
fake_reset
fake_script '{"turns":[{"text":"Online."}]}'
run_msg "$BSID" "hello" 30 || diag "run 5: $SSE_END"
fake_requests
is "$(web_tools 1)" '[{"type":"web_fetch_20250910","name":"web_fetch","max_uses":5,"citations":{"enabled":true},"max_content_tokens":25000},{"type":"web_search_20250305","name":"web_search","max_uses":3}]' \
	"5: on: web_search and web_fetch without allowed_domains"
if [ "$NET_ON" = 1 ]; then
	bash1 "$BSID" "$ROUTE_PROBE; grep -c '^nameserver 169.254.0.53' /etc/resolv.conf" 30
	like "$(trj .stdout)" 'default-route' "5: on with SANDBOX_NETWORK=on: the sandbox has a default route (pasta)"
	like "$(trj .stdout)" '(^|[^0-9])1$' "5: ... and DNS through pasta's forwarder"
	if getent hosts deb.debian.org >/dev/null 2>&1; then
		bash1 "$BSID" 'getent hosts deb.debian.org >/dev/null; echo getent=$?' 30
		like "$(trj .stdout)" 'getent=0' "5: ... a name resolves inside"
	else
		tap_skip 1 "the host itself cannot resolve deb.debian.org"
	fi
	# The same user's other session, off: no network although SANDBOX_NETWORK=on.
	session_new bypassPermissions || cw_bail "second boss session"
	bash1 "$SID" "$ROUTE_PROBE" 30
	like "$(trj .stdout)" 'no-route' "5: an off session of the same admin has none (the policy, not the server, decides)"
	# The server-wide switch is the upper bound.
	cw_stop_app INT
	CW_CONF[SANDBOX_NETWORK]=off
	if cw_start_app && wait_for 10 pool_full runner "${CW_CONF[RUNNER_WORKERS]:-1}"; then
		api_auth "/api/sessions/$BSID"
		is "$(json '[.network_policy, .sandbox_network] | tostring')" '["on",false]' \
			"5: SANDBOX_NETWORK=off: the session stays 'on' but sandbox_network is false"
		bash1 "$BSID" "$ROUTE_PROBE" 30
		like "$(trj .stdout)" 'no-route' "5: ... and its sandbox has no network"
	else
		tap_fail "5: claude-web restarted with SANDBOX_NETWORK=off"
	fi
else
	tap_skip 6 "SANDBOX_NETWORK=on needs root and pasta here"
fi

# ---- 6. the owner's bound applies to runs too ---------------------------------------------
# An admin sets ann's session to 'on'? Only up to the admin's bound; the run
# still uses at most ann's (allowlist).
TOKEN=$ANN_TOKEN
session_new || cw_bail "ann session"
ASID=$SID
TOKEN=$BOSS_TOKEN
patch "$ASID" '{"network_policy":"on"}'
is "$HTTP_STATUS" 200 "6: an admin may set a user's session to on"
TOKEN=$ANN_TOKEN
fake_reset
fake_script '{"turns":[{"text":"Bounded."}]}'
run_msg "$ASID" "hello" 30 || diag "run 6: $SSE_END"
fake_requests
is "$(fake_req 1 '[.body.tools[] | select((.type // "") | test("^web_"))]')" '[]' \
	"6: ... but the run uses at most the owner's bound: no domains listed, so no web tools at all"

tap_done
