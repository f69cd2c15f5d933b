# shellcheck shell=bash
# tests/integration/lib_code.sh: helpers for the code-server test
# (t_code_server.sh). Source it after lib.sh (and lib_auth.sh).
#
# Install: cs_ensure_installed (installs code-server with
#          scripts/install-code-server.sh into CS_PREFIX when missing; prints
#          "1..0 # SKIP" and exits when that cannot be done because the npm
#          registry is unreachable). CS_PREFIX: CODE_SERVER_PREFIX, else the
#          default of scripts/start.sh (<repo>/var/code-server), so the ~2 min
#          install is shared with the stack and done once.
# Run:     cs_start (code-server on a free loopback port, user data and
#          extensions under $T/cs, folder $T/workspace/sessions; CS_PORT,
#          CS_PID, CS_URL), cs_stop, cs_healthy.
# nginx:   cs_nginx_enable / cs_nginx_disable: write / remove
#          $T/nginx/code-server.conf (how nginx.conf.in learns where
#          code-server is) and reload nginx (SIGHUP) if it runs.
#          nginx_reload: SIGHUP and wait until the new workers answer.
# HTTP:    ws_handshake PATH [HEADER...]: a WebSocket handshake through nginx
#          (TLS, HTTP/1.1, python3 raw socket) with the given extra header
#          lines; prints the status line's code (101 on success); the whole
#          response head in $T/ws.head.
# Browser: cs_playwright (NODE_PATH entry holding playwright-core: the UI's
#          static/node_modules, else installed once into CS_NODE_CACHE).

CS_PREFIX=${CODE_SERVER_PREFIX:-$TOP_SRCDIR/var/code-server}
CS_BIN=$CS_PREFIX/bin/code-server
CS_NODE_CACHE=${CS_NODE_CACHE:-${XDG_CACHE_HOME:-${HOME:-/root}/.cache}/claude-web/e2e-node}
CS_PORT=''
CS_PID=''
CS_URL=''
CS_SNIPPET=$T/nginx/code-server.conf

cs_ensure_installed() {
	local t0 rc=0
	if "$TOP_SRCDIR/scripts/install-code-server.sh" --check "$CS_PREFIX" >/dev/null 2>&1; then
		return 0
	fi
	if ! command -v npm >/dev/null 2>&1 || ! command -v node >/dev/null 2>&1; then
		printf '1..0 # SKIP code-server is not installed and node/npm are missing\n'
		exit 0
	fi
	if ! timeout 20 npm ping >/dev/null 2>&1; then
		printf '1..0 # SKIP code-server is not installed in %s and the npm registry is unreachable\n' "$CS_PREFIX"
		exit 0
	fi
	diag "installing code-server into $CS_PREFIX (about 2 minutes, once)"
	t0=$(now_ms)
	"$TOP_SRCDIR/scripts/install-code-server.sh" "$CS_PREFIX" >"$T/cs-install.out" 2>&1 || rc=$?
	if [ "$rc" -eq 69 ]; then
		printf '1..0 # SKIP the npm registry is unreachable: %s\n' "$(tail -n 1 "$T/cs-install.out")"
		exit 0
	fi
	[ "$rc" -eq 0 ] || cw_bail "scripts/install-code-server.sh failed ($rc): $(tail -n 5 "$T/cs-install.out" | tr '\n' ' ')"
	diag "code-server installed in $((($(now_ms) - t0) / 1000)) s"
}

cs_healthy() {
	curl -s --max-time 2 "$CS_URL/healthz" 2>/dev/null | grep -q '"status"'
}

# cs_start: code-server the way scripts/start.sh runs it (its own process
# group, a clean environment, a config file and settings of its own).
cs_start() {
	local attempt
	mkdir -p "$T/cs/data/User" "$T/cs/ext" "$T/cs/home" "$T/workspace/sessions"
	printf 'auth: none\ncert: false\n' >"$T/cs/config.yaml"
	printf '{"workbench.startupEditor": "none", "telemetry.telemetryLevel": "off", "update.mode": "none"}\n' \
		>"$T/cs/data/User/settings.json"
	# Up to 3 ports: another test may take the free port we picked first.
	for attempt in 1 2 3; do
		CS_PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
		CS_URL=http://127.0.0.1:$CS_PORT
		: >"$T/log/code-server.log"
		setsid env -i PATH="$PATH" HOME="$T/cs/home" LANG=C.UTF-8 \
			"$CS_BIN" --config "$T/cs/config.yaml" --auth none --bind-addr "127.0.0.1:$CS_PORT" \
			--disable-telemetry --disable-update-check --disable-workspace-trust \
			--disable-getting-started-override \
			--user-data-dir "$T/cs/data" --extensions-dir "$T/cs/ext" \
			"$T/workspace/sessions" </dev/null >>"$T/log/code-server.log" 2>&1 &
		CS_PID=$!
		# shellcheck disable=SC2016 # evaluated by wait_for
		wait_for 60 eval 'cs_healthy || pid_gone "$CS_PID"'
		cs_healthy && return 0
		cs_stop
		grep -q EADDRINUSE "$T/log/code-server.log" || break
		diag "code-server: port $CS_PORT was taken meanwhile (attempt $attempt)"
	done
	diag "code-server did not answer $CS_URL/healthz: $(tail -n 20 "$T/log/code-server.log")"
	return 1
}

# cs_stop: SIGTERM to code-server's process group (extension hosts too),
# SIGKILL to what is left.
cs_stop() {
	[ -n "$CS_PID" ] || return 0
	kill -TERM -- "-$CS_PID" 2>/dev/null
	wait_for 10 pid_gone "$CS_PID"
	kill -KILL -- "-$CS_PID" 2>/dev/null
	wait "$CS_PID" 2>/dev/null
	CS_PID=''
}

# lib.sh's cleanup kills single pids; code-server needs its group ended.
# shellcheck disable=SC2154 # cs_rc is set inside the trap
trap 'cs_rc=$?; cs_stop >/dev/null 2>&1; (exit $cs_rc); cw_cleanup' EXIT

# nginx_reload: SIGHUP the master; done when a request carries the new
# configuration's generation (the old workers are gone).
nginx_reload() {
	local old
	# shellcheck disable=SC2034 # used in the eval below
	old=$(pgrep -P "$NGINX_PID" | sort)
	kill -HUP "$NGINX_PID" 2>/dev/null || return 1
	# shellcheck disable=SC2016 # evaluated by wait_for
	wait_for 10 eval '[ -n "$(pgrep -P "$NGINX_PID")" ] && [ -z "$(comm -12 <(echo "$old") <(pgrep -P "$NGINX_PID" | sort))" ]'
}

cs_nginx_enable() {
	# shellcheck disable=SC2016 # $cw_code_server is nginx's
	printf '# written by tests/integration/lib_code.sh\nset $cw_code_server 127.0.0.1:%s;\n' "$CS_PORT" >"$CS_SNIPPET"
	[ -z "$NGINX_PID" ] || nginx_reload
}

cs_nginx_disable() {
	rm -f -- "$CS_SNIPPET"
	[ -z "$NGINX_PID" ] || nginx_reload
}

# ws_handshake PATH [HEADER...]: prints the status code of a WebSocket
# handshake through nginx (HTTP/1.1 over TLS), "000" when none came back.
ws_handshake() {
	python3 - "$HTTPS_PORT" "$1" "$T/ws.head" "${@:2}" <<'EOF'
import base64, os, socket, ssl, sys
port, path, out = int(sys.argv[1]), sys.argv[2], sys.argv[3]
extra = sys.argv[4:]
ctx = ssl.create_default_context()
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE
ctx.set_alpn_protocols(["http/1.1"])
head = b""
try:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
        with ctx.wrap_socket(raw, server_hostname="localhost") as s:
            key = base64.b64encode(os.urandom(16)).decode()
            req = ["GET %s HTTP/1.1" % path, "Host: localhost:%d" % port,
                   "Upgrade: websocket", "Connection: Upgrade",
                   "Sec-WebSocket-Key: " + key, "Sec-WebSocket-Version: 13"]
            req += extra
            s.sendall(("\r\n".join(req) + "\r\n\r\n").encode())
            while b"\r\n\r\n" not in head and len(head) < 65536:
                b = s.recv(4096)
                if not b:
                    break
                head += b
except Exception as e:  # reported as status 000
    head = head or ("error: %s" % e).encode()
open(out, "wb").write(head)
line = head.split(b"\r\n", 1)[0].split()
print(line[1].decode() if len(line) > 1 and line[0].startswith(b"HTTP/") else "000")
EOF
}

# cs_playwright: prints a directory to put in NODE_PATH that holds
# playwright-core (never a browser download: playwright-core has none).
cs_playwright() {
	local d
	for d in "$TOP_SRCDIR/static/node_modules" "$CS_NODE_CACHE/node_modules"; do
		if [ -f "$d/playwright-core/package.json" ]; then
			printf '%s\n' "$d"
			return 0
		fi
	done
	command -v npm >/dev/null 2>&1 || return 1
	mkdir -p "$CS_NODE_CACHE"
	timeout 180 npm install --no-audit --no-fund --prefer-offline --loglevel=error \
		--prefix "$CS_NODE_CACHE" playwright-core@1 >"$T/pw-install.out" 2>&1 || return 1
	[ -f "$CS_NODE_CACHE/node_modules/playwright-core/package.json" ] || return 1
	printf '%s\n' "$CS_NODE_CACHE/node_modules"
}
