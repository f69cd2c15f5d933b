#!/usr/bin/env bash
# tests/e2e/run.sh: the browser end-to-end tests of the web UI.
#
# Builds the UI (static/dist) when it is missing or older than its sources,
# starts a private stack with the integration harness (tests/integration/
# lib.sh: redis, claude-web, nginx on free ports, the fake Anthropic API of
# tests/mock) serving static/dist, creates a user, then runs e2e.mjs in
# headless Chromium (Debian's chromium, driven by playwright-core from
# static/node_modules; never a downloaded browser).
#
# Output: TAP. Exit 0 all passed, 1 a failure, 77 skipped (no chromium, node
# or binaries). Screenshots go to tests/e2e/artifacts/ (gitignored).
#
# Environment:
#   CLAUDE_WEB / CLAUDE_WEB_ADMIN  binaries (default: build-test/ if built, else build/)
#   CHROMIUM        browser binary (default /usr/bin/chromium)
#   E2E_NO_BUILD=1  do not (re)build static/dist
#   E2E_DIST=DIR    serve this built UI instead of static/dist (build it yourself: npx vite build --outDir DIR)
#   E2E_BENCH=0     skip the benchmark (bundle size, 500-message render time)
#   E2E_ONLY=queue  only these parts of e2e.mjs (comma-separated: desktop, phone, queue, bench)
#   E2E_HOLD=1      start the stack, print its URL and user, and wait (for manual testing)
#   CW_KEEP=1       keep the temporary directory
set -u

E2E_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$E2E_DIR/../.." && pwd)
STATIC=$ROOT/static
DIST=${E2E_DIST:-$STATIC/dist}
ARTIFACTS=$E2E_DIR/artifacts
CHROMIUM=${CHROMIUM:-/usr/bin/chromium}

# Binaries: the newer of build-test/ (the check section of scripts/test.sh
# builds it) and build/ (scripts/start.sh builds it).
if [ -z "${CLAUDE_WEB:-}" ]; then
	for d in "$ROOT/build-test" "$ROOT/build"; do
		if [ -x "$d/claude-web" ] && [ -x "$d/claude-web-admin" ] &&
			{ [ -z "${CLAUDE_WEB:-}" ] || [ "$d/claude-web" -nt "$CLAUDE_WEB" ]; }; then
			CLAUDE_WEB=$d/claude-web
			CLAUDE_WEB_ADMIN=$d/claude-web-admin
		fi
	done
	export CLAUDE_WEB CLAUDE_WEB_ADMIN
fi
export TOP_SRCDIR=$ROOT
export TOP_BUILDDIR=${TOP_BUILDDIR:-$(dirname "${CLAUDE_WEB:-$ROOT/build/claude-web}")}

skip() {
	printf '1..0 # SKIP %s\n' "$1"
	exit 77
}
command -v node >/dev/null 2>&1 || skip "node not found"
command -v npm >/dev/null 2>&1 || skip "npm not found"
[ -x "$CHROMIUM" ] || skip "no $CHROMIUM (apt-get install chromium)"
[ -n "${CLAUDE_WEB:-}" ] && [ -x "$CLAUDE_WEB" ] || skip "claude-web is not built (build-test/ or build/)"

# ---- the UI build ------------------------------------------------------------------
if [ ! -d "$STATIC/node_modules/playwright-core" ]; then
	echo "# npm ci (static/)"
	(cd "$STATIC" && npm ci --no-audit --no-fund >&2) || {
		echo "Bail out! npm ci failed in static/"
		exit 1
	}
fi
if [ "${E2E_NO_BUILD:-0}" != 1 ]; then
	if [ ! -f "$DIST/index.html" ] ||
		[ -n "$(find "$STATIC/src" "$STATIC/app.html" "$STATIC/public" "$STATIC/package-lock.json" \
			"$STATIC/vite.config.ts" -newer "$DIST/index.html" -print -quit 2>/dev/null)" ]; then
		echo "# npm run build (static/)"
		(cd "$STATIC" && npm run build >&2) || {
			echo "Bail out! the UI build failed"
			exit 1
		}
	fi
fi
[ -f "$DIST/index.html" ] || {
	echo "Bail out! $DIST/index.html is missing"
	exit 1
}

# ---- the stack -----------------------------------------------------------------------
# shellcheck source=tests/integration/lib.sh
. "$ROOT/tests/integration/lib.sh"
# shellcheck source=tests/integration/lib_auth.sh
. "$ROOT/tests/integration/lib_auth.sh"
# shellcheck source=tests/integration/lib_agent.sh
. "$ROOT/tests/integration/lib_agent.sh"

# nginx serves the built UI (the harness picks static/dist when it exists;
# say so explicitly).
CW_STATIC_ROOT=$DIST
# A setup failure is a failure here (the harness's Bail out exits 0).
cw_bail() {
	TAP_FAILED=$((TAP_FAILED + 1))
	printf 'Bail out! %s\n' "$1"
	exit 1
}

cw_require_agent
CW_CONF[RUNNER_WORKERS]=2
CW_CONF[STREAM_WORKERS]=6
CW_CONF[MAX_FILE_SIZE]=1048576
# Event streams end every few seconds: the browser must reconnect (with
# Last-Event-ID) in the middle of the long streamed answers, losing nothing.
CW_CONF[SSE_MAX_DURATION]=4
# Everyone may open VS Code here, so the browser user sees the link.
CW_CONF[CODE_SERVER_ROLE]=user
# MCP (parts/mcp.mjs): a small stdio server, python3 -c, run in the sandbox.
jq -n --rawfile s "$E2E_DIR/parts/mcp_server.py" \
	'{servers: [{name: "notes", type: "stdio", command: ["python3", "-c", $s]},
		{name: "remote", type: "url", url: "https://mcp.example.test/mcp"}]}' >"$T/mcp-servers.json"
CW_CONF[MCP_SERVERS_FILE]=$T/mcp-servers.json
agent_stack_up
# A session template (WORKSPACE_PATH/shared/templates/<name>).
mkdir -p "$T/workspace/shared/templates/starter/docs"
printf '# Starter template\n' >"$T/workspace/shared/templates/starter/README.md"
printf 'notes\n' >"$T/workspace/shared/templates/starter/docs/notes.txt"
# The browser is a second client of the same user.
E2E_USER=ann
E2E_PASS=ann-password-1

if [ "${E2E_HOLD:-0}" = 1 ]; then
	cat <<EOF
# stack up: $BASE_URL  (user $E2E_USER / $E2E_PASS)
# fake Anthropic: $FAKE_URL   (POST \$FAKE_URL/_fake/script)
# temp dir: $T ; stop with Ctrl-C
EOF
	printf 'BASE_URL=%s\nFAKE_URL=%s\nT=%s\n' "$BASE_URL" "$FAKE_URL" "$T" >"${E2E_HOLD_FILE:-/dev/null}"
	while :; do
		sleep 3600 &
		wait $!
	done
fi

mkdir -p "$ARTIFACTS"
rc=0
BASE_URL=$BASE_URL FAKE_URL=$FAKE_URL E2E_USER=$E2E_USER E2E_PASS=$E2E_PASS \
	ARTIFACTS=$ARTIFACTS CHROMIUM=$CHROMIUM STATIC_DIR=$STATIC E2E_TMP=$T \
	E2E_BENCH=${E2E_BENCH:-1} \
	timeout -k 10 900 node "$E2E_DIR/e2e.mjs" || rc=$?
if [ "$rc" -ne 0 ]; then
	TAP_FAILED=$((TAP_FAILED + 1))
	[ "$rc" -eq 124 ] && echo "# e2e.mjs timed out after 900 s"
	exit 1
fi
exit 0
