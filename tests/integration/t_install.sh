#!/usr/bin/env bash
# t_install.sh: the bare-metal install (issue 12, docs/operations.md "systemd").
# `make install DESTDIR=...` from the build directory lays out the expected
# tree without root; `make uninstall` removes it again. The systemd units pass
# `systemd-analyze verify` with no warning at all, sysusers.d and tmpfiles.d
# make the users and directories in a scratch root, logrotate accepts its
# config and really rotates. Then the installed files run the way the units
# run them (same helper, same command lines; paths moved into the test
# directory, no systemd needed): the installed claude-web checks the example
# env-file with -t, Redis says READY=1 on NOTIFY_SOCKET (Type=notify), the
# stack answers through nginx, a reload (ExecReload=) re-renders nginx so the
# body limit follows MAX_FILE_SIZE, a bad value fails the reload while the old
# configuration keeps serving, logrotate's rotation is followed by SIGUSR1
# reopening the logs, and SIGQUIT (KillSignal=) stops the master cleanly.
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"
cw_require_tools make

[ -f "$TOP_BUILDDIR/Makefile" ] || {
	printf '1..0 # SKIP no Makefile in %s\n' "$TOP_BUILDDIR"
	exit 0
}

# ---- make install DESTDIR ---------------------------------------------------------
D=$T/destdir
if make -C "$TOP_BUILDDIR" install DESTDIR="$D" >"$T/install.log" 2>&1; then
	tap_ok "make install DESTDIR=... works (as $(id -un))"
else
	tap_fail "make install DESTDIR=... works" "$(tail -n 30 "$T/install.log")"
fi
pfx=$D/usr/local
for f in bin/claude-web bin/claude-web-admin libexec/claude-web/claude-web-prepare \
	share/claude-web/scripts/render-conf.sh; do
	check "installed and executable: \$prefix/$f" test -x "$pfx/$f"
done
for f in share/claude-web/nginx/nginx.conf.in share/claude-web/redis/redis.conf.in \
	share/claude-web/static/index.html lib/systemd/system/claude-web.service \
	lib/systemd/system/claude-web-redis.service lib/systemd/system/claude-web-nginx.service \
	lib/tmpfiles.d/claude-web.conf lib/sysusers.d/claude-web.conf \
	etc/logrotate.d/claude-web etc/claude-web/claude-web.env.example \
	share/doc/claude-web/operations.md; do
	check "installed: \$prefix/$f" test -s "$pfx/$f"
done
if [ -f "$TOP_SRCDIR/static/dist/index.html" ]; then
	n_src=$(cd "$TOP_SRCDIR/static/dist" && find . -type f | wc -l)
	n_dst=$(cd "$pfx/share/claude-web/static" && find . -type f | wc -l)
	is "$n_dst" "$n_src" "the built web UI (static/dist) is installed whole"
fi
left=$(grep -l '@[a-z_]*@' "$pfx"/lib/systemd/system/*.service "$pfx/libexec/claude-web/claude-web-prepare" \
	"$pfx/etc/logrotate.d/claude-web" "$pfx/etc/claude-web/claude-web.env.example" 2>/dev/null)
is "$left" "" "no @placeholder@ is left in the installed units, helper, logrotate and env files"
like "$(grep '^ExecStart=' "$pfx/lib/systemd/system/claude-web.service")" \
	"^ExecStart=/usr/local/bin/claude-web --config /usr/local/etc/claude-web/claude-web.env$" \
	"the unit runs the installed binary with the installed env-file (paths from configure)"
check "nothing is installed outside DESTDIR's prefix" \
	test "$(find "$D" -mindepth 1 -maxdepth 2 | sed "s|^$D||" | sort | tr '\n' ' ')" = "/usr /usr/local "

if make -C "$TOP_BUILDDIR" uninstall DESTDIR="$D" >"$T/uninstall.log" 2>&1; then
	is "$(find "$D" -type f | sed "s|^$D||" | head -n 5)" "" "make uninstall DESTDIR=... removes every installed file"
else
	tap_fail "make uninstall DESTDIR=... works" "$(tail -n 20 "$T/uninstall.log")"
fi

# ---- a real prefix: the units point at files that exist -----------------------------
P=$T/p
make -C "$TOP_BUILDDIR" install prefix="$P" >"$T/install2.log" 2>&1 ||
	cw_bail "make install prefix=$P failed: $(tail -n 20 "$T/install2.log")"
UNITS=$P/lib/systemd/system
PREPARE=$P/libexec/claude-web/claude-web-prepare

# ---- systemd-analyze verify -----------------------------------------------------------
if command -v systemd-analyze >/dev/null 2>&1; then
	for u in claude-web claude-web-redis claude-web-nginx; do
		out=$(cd "$UNITS" && systemd-analyze verify --man=no "./$u.service" 2>&1)
		rc=$?
		is "$rc:$out" "0:" "systemd-analyze verify $u.service: exit 0 and not one warning"
	done
	# verify exits 0 on an unknown key: the empty output above is what counts.
	sed 's/^KillMode=mixed/KillMode=mixd/' "$UNITS/claude-web.service" >"$T/bad.service"
	like "$(cd "$T" && systemd-analyze verify --man=no ./bad.service 2>&1)" "kill mode" \
		"(systemd-analyze verify does report a bad value, so silence means clean)"
	for u in claude-web claude-web-nginx claude-web-redis; do
		exp=$(systemd-analyze security --offline=yes "$UNITS/$u.service" 2>/dev/null |
			sed -n 's/.*exposure level for .*: \([0-9.]*\) .*/\1/p')
		diag "systemd-analyze security $u.service: exposure $exp"
	done
else
	tap_skip 4 "systemd-analyze not installed (Debian package systemd)"
fi
CWU=$UNITS/claude-web.service
check "claude-web.service stops with SIGQUIT (graceful)" grep -qx 'KillSignal=SIGQUIT' "$CWU"
check "... sent to the master only (KillMode=mixed)" grep -qx 'KillMode=mixed' "$CWU"
# shellcheck disable=SC2016 # $MAINPID is systemd's
check "... reloads with SIGHUP" grep -qx 'ExecReload=/bin/kill -HUP $MAINPID' "$CWU"
check "... after claude-web -t" grep -qxE 'ExecReload=[^ ]*/claude-web --config [^ ]* -t' "$CWU"
drain=$(sed -n 's/^RUNNER_DRAIN_TIMEOUT=//p' "$P/etc/claude-web/claude-web.env.example")
stop=$(sed -n 's/^TimeoutStopSec=//p' "$UNITS/claude-web.service")
cmp_ok "$stop" -gt "$((drain + 10))" "TimeoutStopSec ($stop) exceeds the example's RUNNER_DRAIN_TIMEOUT ($drain) + PROCESS_CONTROL_TIMEOUT"
for d in ProtectKernelTunables ProtectKernelLogs ProtectProc ProcSubset RestrictNamespaces \
	PrivateUsers MemoryDenyWriteExecute ProtectControlGroups PrivateDevices SystemCallFilter; do
	check "claude-web.service does not set $d= (it would break the bubblewrap sandbox)" \
		test "$(grep -c "^$d=" "$CWU")" = 0
done

# ---- sysusers.d and tmpfiles.d in a scratch root -------------------------------------------
R=$T/root
mkdir -p "$R/etc"
if command -v systemd-sysusers >/dev/null 2>&1 && command -v systemd-tmpfiles >/dev/null 2>&1; then
	systemd-sysusers --root="$R" "$P/lib/sysusers.d/claude-web.conf" >"$T/sysusers.out" 2>&1
	is "$?" 0 "systemd-sysusers accepts sysusers.d/claude-web.conf"
	check "... and creates the claude-web user (no login shell)" \
		grep -qE '^claude-web:x:[0-9]+:[0-9]+:[^:]*:/var/lib/claude-web:/usr/sbin/nologin$' "$R/etc/passwd"
	check "... and claude-web-nginx, member of the claude-web group (the FastCGI sockets)" \
		grep -qE '^claude-web:x:[0-9]+:claude-web-nginx$' "$R/etc/group"
	systemd-tmpfiles --root="$R" --create "$P/lib/tmpfiles.d/claude-web.conf" >"$T/tmpfiles.out" 2>&1
	is "$?" 0 "systemd-tmpfiles --create accepts tmpfiles.d/claude-web.conf"
	uid=$(awk -F: '$1 == "claude-web" { print $3 }' "$R/etc/passwd")
	nuid=$(awk -F: '$1 == "claude-web-nginx" { print $3 }' "$R/etc/passwd")
	is "$(stat -c '%a %u' "$R/run/claude-web")" "750 $uid" "/run/claude-web: 0750, owned by claude-web"
	is "$(stat -c '%a %u' "$R/var/lib/claude-web/secrets")" "700 $uid" "/var/lib/claude-web/secrets: 0700, claude-web"
	is "$(stat -c '%a %u' "$R/var/lib/claude-web-nginx")" "700 $nuid" "/var/lib/claude-web-nginx: 0700, claude-web-nginx"
else
	tap_skip 7 "systemd-sysusers/systemd-tmpfiles not installed (Debian package systemd)"
fi

# ---- the installed binary checks the example env-file --------------------------------------
# The example with its system paths moved into $T (what claude-web-prepare
# and the units would use on a real system).
S=$T/sys
mkdir -p "$S/state" "$S/run" "$S/log" "$S/nginx" "$S/nginxlog"
chmod 0750 "$S/run"
ENVF=$S/claude-web.env
sed -e "s|/var/lib/claude-web|$S/state|g" -e "s|/run/claude-web|$S/run|g" \
	-e "s|/var/log/claude-web|$S/log|g" \
	-e "s|^HTTPS_PORT=.*|HTTPS_PORT=$HTTPS_PORT|" -e "s|^HTTP_PORT=.*|HTTP_PORT=$HTTP_PORT|" \
	"$P/etc/claude-web/claude-web.env.example" >"$ENVF"
# The suite runs as root on CI VMs: the explicit opt-in (docs/security.md).
{
	[ "$(id -u)" -ne 0 ] || echo "ALLOW_ROOT=1"
	echo "API_WORKERS=2"
	echo "STREAM_WORKERS=2"
	echo "RUNNER_WORKERS=1"
} >>"$ENVF"
export CW_CONFIG=$ENVF CW_STATE_DIR=$S/state CW_RUN_DIR=$S/run CW_LOG_DIR=$S/log \
	CW_NGINX_DIR=$S/nginx CW_NGINX_LOG_DIR=$S/nginxlog
IBIN=$P/bin/claude-web
out=$(env -i PATH=/usr/bin:/bin "$IBIN" --config "$ENVF" -t 2>&1)
is "$?" 78 "the installed claude-web -t refuses the example before the first start (no secret yet)"
like "$out" "SECRET_KEY" "... naming the missing SECRET_KEY_FILE"
"$PREPARE" app >"$T/prepare-app.out" 2>&1
is "$?" 0 "claude-web-prepare app (ExecStartPre=) creates the missing secrets"
is "$(stat -c '%a' "$S/state/secrets/secret_key" 2>/dev/null):$(wc -c <"$S/state/secrets/secret_key" 2>/dev/null)" \
	"600:65" "... SECRET_KEY_FILE: 0600, 32 random bytes in hex"
check "... REDIS_PASSWORD_FILE too" test -s "$S/state/secrets/redis_password"
sk=$(cat "$S/state/secrets/secret_key")
"$PREPARE" app >/dev/null 2>&1
is "$(cat "$S/state/secrets/secret_key")" "$sk" "... and never replaces an existing secret"
out=$(env -i PATH=/usr/bin:/bin "$IBIN" --config "$ENVF" -t 2>&1)
is "$?:$out" "0:claude-web: configuration $ENVF is valid" "the installed claude-web -t accepts the example env-file"

# ---- the units' commands, without systemd ---------------------------------------------------
# claude-web-redis.service: ExecStartPre= then Type=notify.
"$PREPARE" redis >"$T/prepare-redis.out" 2>&1
is "$?" 0 "claude-web-prepare redis renders redis.conf"
is "$(stat -c '%a' "$S/run/redis.conf")" 600 "... mode 0600 (it holds the password)"
check "... the socket is REDIS_URL's path" grep -qx "unixsocket \"$S/run/redis.sock\"" "$S/run/redis.conf"
NOTIFY=$T/notify.sock
python3 - "$NOTIFY" >"$T/notify.out" 2>&1 <<'PY' &
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
s.settimeout(15)
try:
    while True:
        d = s.recv(4096).decode()
        print(d, flush=True)
        if "READY=1" in d:
            break
except socket.timeout:
    print("timeout", flush=True)
PY
BG_PIDS+=($!)
wait_for 10 test -S "$NOTIFY"
ex=$(sed -n 's/^ExecStart=//p' "$UNITS/claude-web-redis.service")
like "$ex" "^/usr/bin/redis-server /run/claude-web/redis.conf --supervised systemd --daemonize no$" \
	"claude-web-redis.service runs redis-server --supervised systemd"
NOTIFY_SOCKET=$NOTIFY setsid redis-server "$S/run/redis.conf" --supervised systemd --daemonize no \
	</dev/null >"$T/redis.out" 2>&1 &
SREDIS=$!
BG_PIDS+=("$SREDIS")
wait_for 10 grep -q 'READY=1' "$T/notify.out"
like "$(cat "$T/notify.out")" "READY=1" "Redis tells systemd it is ready (Type=notify works with this redis-server)"

# claude-web.service
setsid env -i PATH=/usr/bin:/bin "$IBIN" --config "$ENVF" </dev/null >"$T/claude-web.stderr" 2>&1 &
SMASTER=$!
BG_PIDS+=("$SMASTER")
wait_for 15 test -S "$S/run/stream.sock"
check "the installed claude-web starts from the example env-file (sockets in the run directory)" \
	test -S "$S/run/api.sock" -a -S "$S/run/stream.sock"
is "$(cat "$S/run/claude-web.pid" 2>/dev/null)" "$SMASTER" "... its PID_FILE is the main pid"

# claude-web-nginx.service
"$PREPARE" nginx >"$T/prepare-nginx.out" 2>&1
is "$?" 0 "claude-web-prepare nginx renders nginx.conf and passes nginx -t" || diag "$(cat "$T/prepare-nginx.out")"
check "... with a self-signed certificate when TLS_CERT/TLS_KEY are unset" test -s "$S/nginx/tls/cert.pem"
like "$(cat "$S/nginx/nginx.conf")" "client_max_body_size 11534336;" "... client_max_body_size = MAX_FILE_SIZE + 1 MiB"
ngx=$(sed -n 's/^ExecStart=//p' "$UNITS/claude-web-nginx.service")
like "$ngx" '^/usr/sbin/nginx -p /var/lib/claude-web-nginx -c /var/lib/claude-web-nginx/nginx.conf -e /var/log/claude-web-nginx/nginx-error.log -g "daemon off;"$' \
	"claude-web-nginx.service runs nginx in the foreground"
setsid nginx -p "$S/nginx" -c "$S/nginx/nginx.conf" -e "$S/nginxlog/nginx-error.log" -g "daemon off;" \
	</dev/null >"$T/nginx.out" 2>&1 &
SNGINX=$!
BG_PIDS+=("$SNGINX")
url=https://localhost:$HTTPS_PORT
curl_s() { curl -sk --resolve "localhost:$HTTPS_PORT:127.0.0.1" --max-time 5 "$@"; }
wait_for 10 sh -c "curl -sk --resolve localhost:$HTTPS_PORT:127.0.0.1 -o /dev/null --max-time 2 $url/api/live"
is "$(curl_s -o "$BODY" -w '%{http_code}' "$url/api/health")" 200 "the installed stack answers /api/health through nginx"
is "$(jq -r .checks.redis.status "$BODY" 2>/dev/null)" ok "... with its Redis"
is "$(curl_s -o "$BODY" -w '%{http_code}' "$url/")" 200 "... and serves the installed web UI"
check "... the installed index.html" cmp -s "$BODY" "$P/share/claude-web/static/index.html"

# ---- reload (ExecReload=): MAX_FILE_SIZE reaches nginx -------------------------------------
big=$(head -c 1500000 /dev/zero | tr '\0' a)
printf '%s' "$big" >"$T/big"
isnt "$(curl_s -o /dev/null -w '%{http_code}' -X PUT --data-binary @"$T/big" "$url/api/x")" 413 \
	"before the reload nginx lets a 1.5 MB body through (MAX_FILE_SIZE=10485760)"
sed -i 's/^MAX_FILE_SIZE=.*/MAX_FILE_SIZE=262144/' "$ENVF"
reload_app() { env -i PATH=/usr/bin:/bin "$IBIN" --config "$ENVF" -t >"$T/reload-t.out" 2>&1 && kill -HUP "$SMASTER"; }
reload_nginx() { "$PREPARE" nginx >"$T/reload-nginx.out" 2>&1 && kill -HUP "$SNGINX"; }
check "reload: claude-web -t, SIGHUP (ExecReload= of claude-web.service)" reload_app
check "reload: re-render + nginx -t, SIGHUP (ExecReload= of claude-web-nginx.service)" reload_nginx
like "$(cat "$S/nginx/nginx.conf")" "client_max_body_size 1310720;" "... nginx's body limit follows the new MAX_FILE_SIZE"
wait_for 10 sh -c "[ \"\$(curl -sk --resolve localhost:$HTTPS_PORT:127.0.0.1 -o /dev/null -w '%{http_code}' --max-time 3 -X PUT --data-binary @$T/big $url/api/x)\" = 413 ]"
is "$(curl_s -o "$BODY" -w '%{http_code}' -X PUT --data-binary @"$T/big" "$url/api/x")" 413 \
	"... a 1.5 MB body is now refused by nginx (413)"
sed -i 's/^MAX_FILE_SIZE=.*/MAX_FILE_SIZE=lots/' "$ENVF"
reload_app
isnt "$?" 0 "a reload with an invalid value fails (claude-web -t: ExecReload= stops there)"
reload_nginx
isnt "$?" 0 "... and nginx's reload fails too (its configuration is not replaced)"
like "$(cat "$S/nginx/nginx.conf")" "client_max_body_size 1310720;" "... the rendered nginx.conf is the last good one"
is "$(curl_s -o /dev/null -w '%{http_code}' "$url/api/health")" 200 "... and the stack keeps serving"
sed -i 's/^MAX_FILE_SIZE=.*/MAX_FILE_SIZE=10485760/' "$ENVF"

# ---- logrotate -------------------------------------------------------------------------------
LR=$P/etc/logrotate.d/claude-web
like "$(cat "$LR")" "systemctl kill --kill-whom=main --signal=USR1 claude-web.service" \
	"logrotate tells the claude-web master only (SIGUSR1 reopens LOG_FILE)"
like "$(cat "$LR")" "systemctl kill --kill-whom=main --signal=USR1 claude-web-nginx.service" \
	"... and the nginx master (SIGUSR1)"
if command -v logrotate >/dev/null 2>&1; then
	me=$(id -un)
	mg=$(id -gn)
	# The config as installed, with this machine's users (claude-web does not exist here).
	sed -e "s/^\(\s*su \)claude-web-nginx claude-web-nginx/\1$me $mg/" -e "s/^\(\s*su \)claude-web claude-web/\1$me $mg/" \
		-e "s/^\(\s*create [0-7]* \)claude-web-nginx claude-web-nginx/\1$me $mg/" \
		-e "s/^\(\s*create [0-7]* \)claude-web claude-web/\1$me $mg/" "$LR" >"$T/lr-d.conf"
	out=$(logrotate -d -s "$T/lr-d.state" "$T/lr-d.conf" 2>&1)
	is "$?" 0 "logrotate -d accepts the installed config"
	unlike "$out" "error" "... without an error" || diag "$out"
	# A real rotation of the test stack's logs, the signals sent to its pids.
	sed -e "s|/var/log/claude-web-nginx/|$S/nginxlog/|" -e "s|/var/log/claude-web/|$S/log/|" \
		-e "s|systemctl kill --kill-whom=main --signal=USR1 claude-web.service|kill -USR1 $SMASTER|" \
		-e "s|systemctl kill --kill-whom=main --signal=USR1 claude-web-nginx.service|kill -USR1 $SNGINX|" \
		"$T/lr-d.conf" >"$T/lr.conf"
	curl_s -o /dev/null "$url/api/health"
	logrotate -f -s "$T/lr.state" "$T/lr.conf" >"$T/lr.out" 2>&1
	is "$?" 0 "logrotate -f rotates the logs" || diag "$(cat "$T/lr.out")"
	check "... claude-web.log.1 and nginx-access.log.1 exist" test -s "$S/log/claude-web.log.1" -a -s "$S/nginxlog/nginx-access.log.1"
	sleep 0.5
	curl_s -o /dev/null -H 'X-Test: after-rotate' "$url/api/health"
	wait_for 5 test -s "$S/nginxlog/nginx-access.log"
	check "after the rotation nginx writes to the new nginx-access.log" test -s "$S/nginxlog/nginx-access.log"
	wait_for 5 grep -q 'log reopened' "$S/log/claude-web.log"
	check "... and claude-web to the new claude-web.log (\"log reopened\")" grep -q 'log reopened' "$S/log/claude-web.log"
else
	tap_skip 6 "logrotate not installed (Debian package logrotate)"
fi

# ---- stop: KillSignal=SIGQUIT ------------------------------------------------------------
kill -QUIT "$SNGINX"
kill -QUIT "$SMASTER"
wait_for 20 pid_gone "$SMASTER"
check "SIGQUIT (KillSignal=) stops the master" pid_gone "$SMASTER"
wait "$SMASTER" 2>/dev/null
is "$?" 0 "... with exit status 0 (systemd sees a clean stop)"
check "... and it removed its sockets and pid file" test ! -e "$S/run/api.sock" -a ! -e "$S/run/claude-web.pid"
kill -TERM "$SREDIS" 2>/dev/null
wait_for 10 pid_gone "$SREDIS"

tap_done
