#!/usr/bin/env bash
# t_code_server.sh: VS Code in the browser (code-server) behind nginx at /code/.
#
# A real code-server 4.96.4 (installed by scripts/install-code-server.sh when
# missing: ~2 min once; SKIP when the npm registry is unreachable), run the
# way scripts/start.sh runs it; nginx guards /code/ with auth_request to
# /api/auth/check. Checks: /code/ is a JSON 503 while code-server is off;
# logged out, with a forged, expired, alg:none or revoked token -> redirect to
# the login page, never served; an admin gets the workbench (code-server's
# own CSP, not the server-wide one), its assets and a WebSocket upgrade (101;
# a foreign Origin is refused); what reaches code-server (prefix stripped, no
# cw_token cookie, no Authorization, Host with port); a user without the role
# gets 403 and /api/auth/me says can_use_code_server false; CODE_SERVER_ROLE=
# user lets them in; /api/health reports code-server (non-critical); headless
# Chromium opens a session's folder and lists the file the agent created
# there (screenshot in tests/e2e/artifacts/); code-server down -> JSON 502.
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source=tests/integration/lib_auth.sh
. "$(dirname "$0")/lib_auth.sh"
# shellcheck source=tests/integration/lib_agent.sh
. "$(dirname "$0")/lib_agent.sh"
# shellcheck source=tests/integration/lib_code.sh
. "$(dirname "$0")/lib_code.sh"

cw_require_agent
cs_ensure_installed

T0=$(now_ms)
ARTIFACTS=${E2E_ARTIFACTS:-$TOP_SRCDIR/tests/e2e/artifacts}

cs_start || cw_bail "code-server did not start"
CW_CONF[CODE_SERVER_URL]=$CS_URL
agent_stack_up # fake Anthropic API, redis, claude-web, nginx; user ann (role user)
ANN_TOKEN=$TOKEN
user_add boss boss-password-1 admin || cw_bail "user add boss: $(cat "$ADMIN_OUT")"
login boss boss-password-1 || cw_bail "boss cannot log in"
BOSS_TOKEN=$TOKEN
ORIGIN="Origin: https://localhost:$HTTPS_PORT"

# ---- 1. off: no NGINX_DIR/code-server.conf ------------------------------------------
api_cookie "$BOSS_TOKEN" /code/
is_json_error 503 "off: /code/ is a JSON 503"
is "$(json .error.message)" "code-server is not enabled" "off: the message says so"

cs_nginx_enable || cw_bail "nginx did not reload with $CS_SNIPPET"

# ---- 2. logged out -------------------------------------------------------------------
api_get /code/
is "$HTTP_STATUS" 302 "logged out: /code/ redirects"
is "$(header location)" "/login?next=/code/" "logged out: to the login page, coming back to /code/"
F=/x/sessions/session-1/files
api_get "/code/?folder=$F"
is "$(header location)" "/login?next=/code/?folder=$F" "logged out: next keeps the folder"
api_get /code/stable-x/static/out/vs/code/browser/workbench/workbench.js
is "$HTTP_STATUS" 302 "logged out: assets redirect too"
api_get "//evil.example/../code/?folder=$F"
is "$HTTP_STATUS:$(header location)" "302:/login?next=/code/" \
	"logged out: a non-canonical URI is sent back to plain /code/ (no open redirect)"
api_get /code
is "$HTTP_STATUS:$(header location)" "301:/code/" "/code redirects to /code/"
is "$(ws_handshake /code/ "$ORIGIN")" 302 "logged out: a WebSocket handshake is refused (302)"

# ---- 3. bad tokens ---------------------------------------------------------------------
now=$(now_s)
pay=$(jwt_part "$BOSS_TOKEN" 1)
hdr=$(jwt_part "$BOSS_TOKEN" 0)
# shellcheck disable=SC2034 # used as ${!kind}
forged=$(jwt_forge "$hdr" "$pay" "not-the-server-key")
# shellcheck disable=SC2034
expired=$(jwt_forge "$hdr" "$(printf '%s' "$pay" | jq -c --argjson n "$now" '.iat = $n - 7200 | .exp = $n - 3600')")
# shellcheck disable=SC2034
none=$(jwt_forge '{"alg":"none","typ":"JWT"}' "$pay" "" none)
for kind in forged expired none; do
	api_cookie "${!kind}" /code/
	is "$HTTP_STATUS:$(header location)" "302:/login?next=/code/" "$kind token (cookie): redirected to login"
done
api_bearer "$forged" /code/
is "$HTTP_STATUS" 302 "forged token (bearer): redirected to login"
api_get /code/ -H "Cookie: cw_token=garbage"
is "$HTTP_STATUS" 302 "garbage cookie: redirected to login"
is "$(ws_handshake /code/ "$ORIGIN" "Cookie: cw_token=$forged")" 302 "forged token: no WebSocket"

# A revoked token (logout) no longer opens /code/.
login boss boss-password-1 || cw_bail "boss cannot log in again"
gone=$TOKEN
api_cookie "$gone" "/code/?folder=$F"
is "$HTTP_STATUS" 200 "a second token works before logout"
api_bearer "$gone" /api/auth/logout -X POST
is "$HTTP_STATUS" 204 "logout"
api_cookie "$gone" "/code/?folder=$F"
is "$HTTP_STATUS" 302 "after logout the token is refused"

# ---- 4. admin ----------------------------------------------------------------------------
api_cookie "$BOSS_TOKEN" /api/auth/me
is "$(json .can_use_code_server)" true "admin: /api/auth/me can_use_code_server true"

api_cookie "$BOSS_TOKEN" /code/
is "$HTTP_STATUS" 302 "admin: /code/ is code-server's redirect to its folder"
like "$(header location)" '^\./\?folder=' "admin: ... a relative one (./?folder=)"
api_cookie "$BOSS_TOKEN" "/code/?folder=$T/workspace/sessions"
is "$HTTP_STATUS" 200 "admin: the workbench loads through nginx"
like "$HTTP_CT" '^text/html' "admin: as HTML"
check "admin: it is VS Code's workbench" grep -q 'vscode-workbench-web-configuration' "$BODY"
csp=$(grep -i '^content-security-policy:' "$HDRS" | tr -d '\r')
like "$csp" "script-src 'self' 'unsafe-eval'" "admin: code-server's own CSP reaches the browser"
unlike "$csp" "frame-ancestors 'none'" "admin: the server-wide CSP is not added on /code/"
like "$(header strict-transport-security)" 'max-age=' "admin: HSTS is still sent"
is "$(header x-frame-options)" SAMEORIGIN "admin: frames from this origin only (webviews)"
is "$(header x-content-type-options)" nosniff "admin: nosniff"
wb=$(grep -o '\./stable-[0-9a-f]*/static/out/vs/code/browser/workbench/workbench\.js' "$BODY" | head -n 1)
isnt "$wb" "" "admin: the page names its workbench.js"
api_cookie "$BOSS_TOKEN" "/code/${wb#./}"
is "$HTTP_STATUS" 200 "admin: workbench.js loads through nginx"
like "$HTTP_CT" 'javascript' "admin: ... as JavaScript"
WS_PATH="/code/?reconnectionToken=$(openssl rand -hex 8)&reconnection=false&skipWebSocketFrames=false"
is "$(ws_handshake "$WS_PATH" "$ORIGIN" "Cookie: cw_token=$BOSS_TOKEN")" 101 "admin: WebSocket upgrade to /code/ (101)"
is "$(ws_handshake "$WS_PATH" "Origin: https://evil.example" "Cookie: cw_token=$BOSS_TOKEN")" 403 \
	"admin: a handshake from a foreign Origin is refused by code-server (Host is forwarded)"

# ---- 5. what code-server gets: an echo server in its place ---------------------------------
ECHO_PORT_FILE=$T/echo.port
python3 - "$ECHO_PORT_FILE" >>"$T/log/echo.log" 2>&1 <<'EOF' &
import http.server, json, sys
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        b = json.dumps({"path": self.path, "headers": {k.lower(): v for k, v in self.headers.items()}}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(b)))
        self.end_headers()
        self.wfile.write(b)
    def log_message(self, *a):
        pass
s = http.server.HTTPServer(("127.0.0.1", 0), H)
open(sys.argv[1], "w").write(str(s.server_address[1]))
s.serve_forever()
EOF
ECHO_PID=$!
BG_PIDS+=("$ECHO_PID")
if wait_for 10 test -s "$ECHO_PORT_FILE"; then
	real_port=$CS_PORT
	CS_PORT=$(cat "$ECHO_PORT_FILE")
	cs_nginx_enable
	api_get "/code/a%20b/%E2%82%AC?x=%2F&y=1" \
		-H "Cookie: theme=dark; cw_token=$BOSS_TOKEN; lang=en" -H "Authorization: Bearer $BOSS_TOKEN"
	is "$HTTP_STATUS" 200 "echo: proxied"
	is "$(json .path)" "/a%20b/%E2%82%AC?x=%2F&y=1" "echo: /code prefix stripped, path and query intact"
	is "$(json '.headers.cookie')" "theme=dark; lang=en" "echo: the cw_token cookie is removed, the others kept"
	is "$(json '.headers.authorization // "none"')" none "echo: no Authorization header"
	is "$(json '.headers.host')" "localhost:$HTTPS_PORT" "echo: Host is the browser's, with the port"
	is "$(json '.headers["x-forwarded-proto"]')" https "echo: X-Forwarded-Proto https"
	is "$(json '.headers.connection')" close "echo: no Upgrade for a plain request"
	api_get "/code/?only=1" -H "Cookie: cw_token=$BOSS_TOKEN"
	is "$(json '.headers.cookie // "none"')" none "echo: a lone cw_token cookie: no Cookie header at all"
	CS_PORT=$real_port
	cs_nginx_enable
else
	tap_fail "echo server did not start" "$(cat "$T/log/echo.log")"
fi

# ---- 6. a user without the role ------------------------------------------------------------
api_cookie "$ANN_TOKEN" /api/auth/me
is "$(json .can_use_code_server)" false "user: /api/auth/me can_use_code_server false"
api_cookie "$ANN_TOKEN" "/code/?folder=$T/workspace/sessions"
is_json_error 403 "user: /code/ is a JSON 403"
like "$(json .error.message)" 'admin' "user: ... saying it is for admin accounts"
api_cookie "$ANN_TOKEN" "/code/${wb#./}"
is "$HTTP_STATUS" 403 "user: assets are 403 too"
is "$(ws_handshake "$WS_PATH" "$ORIGIN" "Cookie: cw_token=$ANN_TOKEN")" 403 "user: no WebSocket (403)"
# The role check must see the path nginx matched, not the raw request line.
for p in "//code/" "/%63ode/" "/x/../code/" "/code/./"; do
	api_cookie "$ANN_TOKEN" "$p?folder=$T/workspace/sessions"
	is "$HTTP_STATUS" 403 "user: $p is 403 too"
done
api_cookie "$ANN_TOKEN" "/code/?folder=$T/workspace/sessions" -H "X-Original-URI: /api/sessions"
is "$HTTP_STATUS" 403 "user: a client's own X-Original-URI header changes nothing"

# ---- 7. health -------------------------------------------------------------------------------
api_get /api/health
is "$(json .checks.code_server.status)" ok "health: code_server ok"
is "$(json .checks.code_server.critical)" false "health: ... non-critical"

# ---- 8. headless Chromium: the file the agent created, in the explorer ----------------------
TOKEN=$BOSS_TOKEN
api_bearer "$TOKEN" /api/sessions -X POST -H 'Content-Type: application/json' \
	--data-binary '{"title":"vscode","permission_mode":"acceptEdits"}'
SID=$(json '.id // empty')
FILES=$(json '.files_path // empty')
is "$HTTP_STATUS" 201 "admin: a session (acceptEdits)"
like "$FILES" '^/' "the session has an absolute files_path"
FNAME=made-by-claude-$(openssl rand -hex 3).md
fake_reset
fake_script "$(jq -cn --arg p "/workspace/$FNAME" '{turns: [
	{content: [{type: "text", text: "Creating the file."},
		{type: "tool_use", id: "toolu_cs_create_1", name: "str_replace_based_edit_tool",
		 input: {command: "create", path: $p, file_text: "# hello from the agent\n"}}]},
	{text: "done"}]}')" || diag "fake_script failed"
run_msg "$SID" "please create the file" 30
check "the agent's run finished" test "$SSE_END" = until
check "the agent created $FNAME in the session's files" test -f "$FILES/$FNAME"

if ! command -v chromium >/dev/null 2>&1 && [ ! -x "${CHROMIUM:-/usr/bin/chromium}" ]; then
	tap_skip 7 "chromium is not installed (Debian package chromium)"
elif ! PW=$(cs_playwright); then
	tap_skip 7 "playwright-core is not available (npm install failed: $(tail -n 1 "$T/pw-install.out" 2>/dev/null))"
else
	SHOT=$ARTIFACTS/code-server-explorer.png
	rm -f -- "$SHOT"
	b0=$(now_ms)
	res=$(NODE_PATH=$PW E2E_TIMEOUT_MS=120000 E2E_EXPECT_TEXT="hello from the agent" timeout 180 node \
		"$TOP_SRCDIR/tests/e2e/code_server_explorer.cjs" "$BASE_URL" "$BOSS_TOKEN" \
		"$FILES" "$FNAME" "$SHOT" 2>"$T/log/e2e.stderr")
	diag "chromium: $((($(now_ms) - b0) / 1000)) s: $res"
	is "$(printf '%s' "$res" | jq -r .found)" true "chromium: $FNAME is listed in VS Code's explorer" ||
		diag "$(tail -n 20 "$T/log/e2e.stderr")"
	is "$(printf '%s' "$res" | jq -r .opened)" true "chromium: opened, its text shows in the editor"
	is "$(printf '%s' "$res" | jq -r '.csp_violations | length')" 0 "chromium: no CSP violation"
	is "$(printf '%s' "$res" | jq -r '.external_requests | length')" 0 "chromium: no request leaves the origin"
	cmp_ok "$(printf '%s' "$res" | jq -r '.websockets | length')" -ge 1 "chromium: the workbench opened a WebSocket"
	cmp_ok "$(printf '%s' "$res" | jq -r '.ws_frames')" -ge 1 "chromium: ... and got frames over it"
	check "chromium: screenshot saved ($SHOT)" test -s "$SHOT"
fi

# ---- 9. CODE_SERVER_ROLE=user ------------------------------------------------------------------
cw_stop_app INT
CW_CONF[CODE_SERVER_ROLE]=user
cw_start_app || cw_bail "claude-web did not restart with CODE_SERVER_ROLE=user"
api_cookie "$ANN_TOKEN" /api/auth/me
is "$(json .can_use_code_server)" true "CODE_SERVER_ROLE=user: can_use_code_server true for a user"
api_cookie "$ANN_TOKEN" "/code/?folder=$T/workspace/sessions"
is "$HTTP_STATUS" 200 "CODE_SERVER_ROLE=user: a user gets the workbench"

# ---- 10. code-server down ------------------------------------------------------------------------
cs_stop
api_cookie "$BOSS_TOKEN" "/code/?folder=$T/workspace/sessions"
is_json_error 502 "code-server down: /code/ is a JSON 502"
api_get /api/health
is "$HTTP_STATUS" 200 "code-server down: /api/health is still 200 (non-critical)"
is "$(json .checks.code_server.status)" down "code-server down: health says down"

diag "t_code_server: $((($(now_ms) - T0) / 1000)) s after the install check"
tap_done
