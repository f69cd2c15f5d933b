#!/usr/bin/env bash
# start.sh: build (if needed) and start claude-web: redis, the claude-web
# master (FastCGI worker pools) and nginx (TLS), all private to STATE_DIR.
#
# Prints exactly "ready: https://localhost:<HTTPS_PORT>/" on stdout when
# /api/health answers 200; progress goes to stderr. Idempotent: if the stack
# of this STATE_DIR is already running it says so and exits 0.
#
# Environment (all optional):
#   STATE_DIR        state, logs, secrets, sockets      (default: <repo>/var)
#   HTTPS_PORT       TLS port                           (default: 8443)
#   HTTP_PORT        plain port, redirects to HTTPS     (default: 8080)
#   PUBLIC_HOST      host name clients use; plain HTTP redirects there
#                    (default: localhost; never taken from the request)
#   TLS_CERT/TLS_KEY use this certificate instead of a generated self-signed one
#   CLAUDE_WEB_BIN   use this binary instead of building build/claude-web
#   NGINX_WORKER_PROCESSES  (default: auto)
#   REDIS_MAXMEMORY  (default: 256mb)
#   SSE_MAX_CONN     concurrent SSE streams nginx admits (default: STREAM_WORKERS (2)
#                    x STREAM_MAX_CONNECTIONS (5000) of the env-file)
#   START_TIMEOUT    seconds to wait for /api/health     (default: 30)
#   REDIS_URL        if set, use that Redis and do not start a private one
#   CODE_SERVER      on|off: VS Code in the browser at /code/ (docs/code-server.md);
#                    default on when installed, else off; "on" installs it when
#                    missing (scripts/install-code-server.sh, ~2 min, once)
#   CODE_SERVER_PORT its loopback port                  (default: a free one)
#   CODE_SERVER_PREFIX where it is installed            (default: STATE_DIR/code-server)
#   ADMIN_USER       first admin created when no user exists   (default: admin)
#   ADMIN_PASSWORD   its password (or ADMIN_PASSWORD_FILE); else one is generated,
#                    printed once and saved in STATE_DIR/initial-admin-password
#   ALLOW_ROOT       as root outside a container start.sh sets ALLOW_ROOT=1 for
#                    claude-web (with a warning) unless this says otherwise
#   ...and every claude-web variable (docs/configuration.md), e.g.
#   ANTHROPIC_API_KEY, ENVIRONMENT, LOG_LEVEL, API_WORKERS: they are written
#   into STATE_DIR/run/generated.env, secrets as NAME_FILE paths under
#   STATE_DIR/secrets. redis, claude-web and nginx start with an empty
#   environment (PATH, HOME, locale, TZ, proxies and CA bundles only).
#
# The admin's settings: STATE_DIR/claude-web.local.env (created once as a
# commented template, never rewritten). Its values win over the environment
# and the defaults. claude-web reads STATE_DIR/claude-web.env, which is
# generated.env followed by claude-web.local.env (rewritten at every start
# and by scripts/reload.sh, which applies changes without a restart).
set -euo pipefail

CW_PROG=start
# shellcheck source=scripts/lib-common.sh
. "$(dirname "$0")/lib-common.sh"

case ${1:-} in
-h | --help)
	cw_usage "$0"
	exit 0
	;;
'') ;;
*) cw_die "unknown argument: $1 (try --help)" ;;
esac

cw_state_init
cw_env_init

# ---- the admin's settings (STATE_DIR/claude-web.local.env) ----------------------
# They win over our environment: the variables this script acts on are
# taken from it now; the others reach claude-web after generated.env.
if ! problems=$(cw_local_env_read "$CW_LOCAL_ENV_FILE"); then
	printf '%s\n' "$problems" | sed 's/^/  /' >&2
	cw_die "invalid $CW_LOCAL_ENV_FILE (see above)"
fi
cw_local_env_read "$CW_LOCAL_ENV_FILE"
for v in "${CW_LOCAL_NAMES[@]}"; do
	if [ -n "${!v+x}" ] && [ "${!v}" != "${CW_LOCAL[$v]}" ]; then
		cw_warn "$v from the environment is overridden by $CW_LOCAL_ENV_FILE"
	fi
	case " $(echo $CW_STACK_VARS $CW_START_CONFIG_VARS) " in
	*" $v "*) export "$v=${CW_LOCAL[$v]}" ;;
	esac
done
# What this script acts on, as given: reload.sh tells which changes need a restart.
start_settings=$(for v in $CW_STACK_VARS $CW_START_CONFIG_VARS; do
	[ -z "${!v+x}" ] || printf '%s=%s\n' "$v" "${!v}"
done)
HTTPS_PORT=${HTTPS_PORT:-8443}
HTTP_PORT=${HTTP_PORT:-8080}
START_TIMEOUT=${START_TIMEOUT:-30}
for v in HTTPS_PORT HTTP_PORT START_TIMEOUT; do
	case ${!v} in '' | *[!0-9]*) cw_die "$v must be a number, got '${!v}'" ;; esac
done
[ "$HTTPS_PORT" != "$HTTP_PORT" ] || cw_die "HTTPS_PORT and HTTP_PORT must differ"
PUBLIC_HOST=${PUBLIC_HOST:-localhost}
# It goes into nginx.conf verbatim: a host name, an IPv4 or a [IPv6] only.
[[ $PUBLIC_HOST =~ ^([A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?|\[[0-9A-Fa-f:.]+\])$ ]] ||
	cw_die "PUBLIC_HOST must be a host name, an IPv4 address or [IPv6], got '$PUBLIC_HOST'"
case $STATE_DIR in
*[[:space:]\"\'\;\{\}\$\\]*) cw_die "STATE_DIR must not contain spaces, quotes, ; { } \$ or \\: $STATE_DIR" ;;
esac
URL="https://localhost:$HTTPS_PORT/"

# ---- already running? --------------------------------------------------------
external_redis=0
[ -n "${REDIS_URL:-}" ] && external_redis=1

nginx_pid=$(cw_running "$CW_NGINX_PIDFILE" nginx || true)
master_pid=$(cw_running "$CW_MASTER_PIDFILE" claude-web || true)
redis_pid=$(cw_running "$CW_REDIS_PIDFILE" redis-server || true)
if [ -n "$nginx_pid" ] && [ -n "$master_pid" ] && { [ -n "$redis_pid" ] || [ "$external_redis" -eq 1 ]; }; then
	running_port=$HTTPS_PORT
	if [ -r "$CW_STACK_FILE" ]; then
		running_port=$(sed -n 's/^HTTPS_PORT=//p' "$CW_STACK_FILE")
	fi
	echo "already running: https://localhost:${running_port:-$HTTPS_PORT}/"
	exit 0
fi
if [ -n "$nginx_pid$master_pid$redis_pid" ]; then
	cw_warn "only part of the stack is running in $STATE_DIR; restarting it"
	STATE_DIR=$STATE_DIR "$CW_ROOT/scripts/stop.sh"
fi

# ---- dependencies ------------------------------------------------------------
if command -v dpkg-query >/dev/null 2>&1; then
	# Debian: check every package (libraries too), install only what is missing.
	if ! "$CW_ROOT/scripts/install-deps.sh" --check >/dev/null 2>&1; then
		cw_log "installing missing packages (scripts/install-deps.sh)"
		"$CW_ROOT/scripts/install-deps.sh"
	fi
else
	mapfile -t missing < <(cw_missing_cmds nginx redis-server redis-cli openssl curl)
	[ "${#missing[@]}" -eq 0 ] || cw_die "missing commands: ${missing[*]} (not Debian: install them yourself)"
fi

# ---- build -------------------------------------------------------------------
build_needed() {
	local bin=$1
	[ -x "$bin" ] || return 0
	[ -n "$(find "$CW_ROOT/fcgi-app" "$CW_ROOT/configure.ac" "$CW_ROOT/Makefile.am" \
		-newer "$bin" \( -name '*.[ch]' -o -name '*.ac' -o -name '*.am' -o -name '*.m4' \) \
		-print -quit 2>/dev/null)" ]
}
if [ -n "${CLAUDE_WEB_BIN:-}" ]; then
	BIN=$(cw_abspath "$CLAUDE_WEB_BIN")
	[ -x "$BIN" ] || cw_die "CLAUDE_WEB_BIN is not executable: $BIN"
else
	BUILD_DIR=$CW_ROOT/build
	BIN=$BUILD_DIR/claude-web
	if build_needed "$BIN"; then
		[ -f "$CW_ROOT/configure.ac" ] || cw_die "no configure.ac in $CW_ROOT"
		if [ ! -x "$CW_ROOT/configure" ]; then
			cw_log "autoreconf -fi"
			(cd "$CW_ROOT" && autoreconf -fi) || cw_die "autoreconf failed"
		fi
		mkdir -p "$BUILD_DIR"
		if [ ! -f "$BUILD_DIR/Makefile" ]; then
			cw_log "configuring in $BUILD_DIR"
			(cd "$BUILD_DIR" && ../configure -q) || cw_die "configure failed (see $BUILD_DIR/config.log)"
		fi
		cw_log "building claude-web (make -j2)"
		make -C "$BUILD_DIR" -j2 >&2 || cw_die "build failed"
		[ -x "$BIN" ] || cw_die "the build did not produce $BIN"
	fi
fi

# ---- the web UI: static/ (TypeScript, Vite) -> static/dist ----------------------
# Rebuilt when static/dist is missing or older than its sources. Without npm
# the previous build is served (or, with none, the placeholder static/index.html).
ui_build_needed() {
	local ui=$CW_ROOT/static
	[ -f "$ui/dist/index.html" ] || return 0
	[ -n "$(find "$ui/src" "$ui/public" "$ui/app.html" "$ui/package-lock.json" "$ui/vite.config.ts" \
		-newer "$ui/dist/index.html" -print -quit 2>/dev/null)" ]
}
if [ -f "$CW_ROOT/static/package.json" ] && ui_build_needed; then
	if command -v npm >/dev/null 2>&1; then
		if [ ! -f "$CW_ROOT/static/node_modules/.package-lock.json" ] ||
			[ "$CW_ROOT/static/package-lock.json" -nt "$CW_ROOT/static/node_modules/.package-lock.json" ]; then
			cw_log "installing the web UI's packages (static/: npm ci)"
			(cd "$CW_ROOT/static" && npm ci --no-audit --no-fund >&2) || cw_die "npm ci failed in static/"
		fi
		cw_log "building the web UI (static/: npm run build)"
		(cd "$CW_ROOT/static" && npm run build >&2) || cw_die "the web UI build failed (static/)"
	elif [ -f "$CW_ROOT/static/dist/index.html" ]; then
		cw_warn "npm not found: serving the existing (older) static/dist"
	else
		cw_warn "npm not found: the web UI cannot be built; only a placeholder page is served"
	fi
fi

# ---- directories, secrets, TLS -------------------------------------------------
umask 077
mkdir -p "$STATE_DIR" "$CW_RUN_DIR" "$CW_LOG_DIR" "$CW_SECRETS_DIR" "$CW_NGINX_DIR" \
	"$CW_REDIS_DIR" "$STATE_DIR/workspace/sessions" \
	"$STATE_DIR/workspace/shared/templates" "$STATE_DIR/workspace/shared/libraries"
chmod 0700 "$CW_SECRETS_DIR" "$CW_RUN_DIR"

# secret_file NAME: creates STATE_DIR/secrets/NAME (32 random bytes, hex) once.
secret_file() {
	local f=$CW_SECRETS_DIR/$1
	if [ ! -s "$f" ]; then
		cw_log "generating secret $f"
		openssl rand -hex 32 >"$f.tmp"
		chmod 0600 "$f.tmp"
		mv -f "$f.tmp" "$f"
	fi
	printf '%s\n' "$f"
}

if [ -n "${TLS_CERT:-}" ] || [ -n "${TLS_KEY:-}" ]; then
	if [ -z "${TLS_CERT:-}" ] || [ -z "${TLS_KEY:-}" ]; then
		cw_die "set both TLS_CERT and TLS_KEY, or neither"
	fi
	TLS_CERT=$(cw_abspath "$TLS_CERT")
	TLS_KEY=$(cw_abspath "$TLS_KEY")
	[ -r "$TLS_CERT" ] || cw_die "TLS_CERT not readable: $TLS_CERT"
	[ -r "$TLS_KEY" ] || cw_die "TLS_KEY not readable: $TLS_KEY"
else
	mkdir -p "$CW_TLS_DIR"
	TLS_CERT=$CW_TLS_DIR/cert.pem
	TLS_KEY=$CW_TLS_DIR/key.pem
	if [ ! -s "$TLS_CERT" ] || [ ! -s "$TLS_KEY" ]; then
		cw_log "generating a self-signed certificate for localhost in $CW_TLS_DIR"
		openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
			-days 825 -subj "/CN=localhost" \
			-addext "subjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1" \
			-addext "extendedKeyUsage=serverAuth" \
			-keyout "$TLS_KEY.tmp" -out "$TLS_CERT.tmp" >/dev/null 2>&1 ||
			cw_die "openssl could not generate a certificate"
		chmod 0600 "$TLS_KEY.tmp"
		chmod 0644 "$TLS_CERT.tmp"
		mv -f "$TLS_KEY.tmp" "$TLS_KEY"
		mv -f "$TLS_CERT.tmp" "$TLS_CERT"
	fi
fi

# ---- code-server: on or off, installed, port ----------------------------------------
CS_PREFIX=$(cw_abspath "${CODE_SERVER_PREFIX:-$STATE_DIR/code-server}")
CS_BIN=$CS_PREFIX/bin/code-server
CS_STATE=$STATE_DIR/code-server-data # user data, extensions, config
CS_PIDFILE=$CW_RUN_DIR/code-server.pid
CS_SNIPPET=$CW_NGINX_DIR/code-server.conf # turns /code/ on in nginx.conf.in
cs_installed=0
"$CW_ROOT/scripts/install-code-server.sh" --check "$CS_PREFIX" >/dev/null 2>&1 && cs_installed=1
case ${CODE_SERVER:-} in
on) cs_on=1 ;;
off) cs_on=0 ;;
'') cs_on=$cs_installed ;;
*) cw_die "CODE_SERVER must be on or off, got '$CODE_SERVER'" ;;
esac
if [ "$cs_on" -eq 1 ] && [ "$cs_installed" -eq 0 ]; then
	cw_log "CODE_SERVER=on: installing code-server into $CS_PREFIX (scripts/install-code-server.sh)"
	"$CW_ROOT/scripts/install-code-server.sh" "$CS_PREFIX" ||
		cw_die "code-server could not be installed (see above); start with CODE_SERVER=off to go without it"
fi
CS_PORT=''
if [ "$cs_on" -eq 1 ]; then
	if [ -n "${CODE_SERVER_PORT:-}" ]; then
		case $CODE_SERVER_PORT in '' | *[!0-9]*) cw_die "CODE_SERVER_PORT must be a number, got '$CODE_SERVER_PORT'" ;; esac
		CS_PORT=$CODE_SERVER_PORT
	else
		CS_PORT=$(cw_free_port) || cw_die "no free port for code-server; set CODE_SERVER_PORT"
	fi
fi

# ---- the env-file ----------------------------------------------------------------
# Values come from the environment when set there (the environment wins in
# claude-web anyway), else from defaults for this STATE_DIR.
API_SOCKET=$(cw_abspath "${API_SOCKET:-$CW_RUN_DIR/api.sock}")
STREAM_SOCKET=$(cw_abspath "${STREAM_SOCKET:-$CW_RUN_DIR/stream.sock}")
PID_FILE=$CW_MASTER_PIDFILE # status/stop rely on it: not overridable
CW_LOG_FILE=$(cw_abspath "${LOG_FILE:-$CW_LOG_DIR/claude-web.log}")
CW_WORKSPACE=$(cw_abspath "${WORKSPACE_PATH:-$STATE_DIR/workspace}")
MAX_FILE_SIZE=${MAX_FILE_SIZE:-10485760}
case $MAX_FILE_SIZE in '' | *[!0-9]*) cw_die "MAX_FILE_SIZE must be a number of bytes, got '$MAX_FILE_SIZE'" ;; esac

for s in "$API_SOCKET" "$STREAM_SOCKET" "$CW_REDIS_SOCKET"; do
	# sun_path is 108 bytes including the terminating NUL.
	[ "${#s}" -le 107 ] || cw_die "socket path too long (${#s} > 107 bytes): $s; use a shorter STATE_DIR"
done

# ---- secrets: files only -----------------------------------------------------------
for v in ANTHROPIC_API_KEY SECRET_KEY REDIS_PASSWORD REDIS_SENTINEL_PASSWORD; do
	case ${!v:-} in *$'\n'*) cw_die "$v must be one line" ;; esac
done
# claude-web gets its secrets as NAME_FILE paths, never in its environment
# (which it would pass to its workers): a value from our environment is
# written to STATE_DIR/secrets (0600) first.
# secret_from_env NAME FILE: writes $NAME to FILE when set; prints FILE then.
secret_from_env() {
	local name=$1 f=$2 val
	[ -n "${!name:-}" ] || return 1
	val=${!name}
	case $val in *$'\n'*) cw_die "$name must be one line" ;; esac
	(umask 077 && printf '%s\n' "$val" >"$f.tmp") && mv -f "$f.tmp" "$f"
	printf '%s\n' "$f"
}
if [ -n "${ANTHROPIC_API_KEY:-}" ]; then
	# Kept for later starts that do not have it in the environment.
	secret_from_env ANTHROPIC_API_KEY "$CW_SECRETS_DIR/anthropic_api_key" >/dev/null
fi
if [ "$external_redis" -eq 0 ] && [ -n "${REDIS_PASSWORD:-}${REDIS_PASSWORD_FILE:-}" ]; then
	cw_warn "REDIS_PASSWORD is for an external Redis (REDIS_URL); the private one has its own"
fi

# ---- root ---------------------------------------------------------------------------
# claude-web refuses to run as root outside a container unless ALLOW_ROOT=1
# (docs/security.md). This script is how a root operator says yes, unless
# ALLOW_ROOT is already set (ALLOW_ROOT=0 keeps the refusal).
allow_root=${ALLOW_ROOT:-}
if [ "$(id -u)" -eq 0 ] && [ -z "$allow_root" ]; then
	allow_root=1
	if ! cw_in_container; then
		cw_warn "running as root outside a container (ALLOW_ROOT=1 for claude-web; an escape from a worker or the tool sandbox would be root here). Prefer an unprivileged user; ALLOW_ROOT=0 makes claude-web refuse."
	fi
fi

# ---- the env-file ---------------------------------------------------------------
# The only configuration claude-web sees: it starts with an empty environment.
# Every claude-web variable set in our environment is copied to generated.env
# (secrets as NAME_FILE), after the defaults for this STATE_DIR; the admin's
# file follows it in claude-web.env and wins.
cw_local_env_template "$CW_LOCAL_ENV_FILE"
{
	echo "# Generated by scripts/start.sh on $(cw_now) from its defaults and environment;"
	echo "# rewritten at every start. Your settings go in $CW_LOCAL_ENV_FILE."
	echo "ENVIRONMENT=${ENVIRONMENT:-production}"
	echo "LOG_LEVEL=${LOG_LEVEL:-info}"
	echo "LOG_FILE=$CW_LOG_FILE"
	echo "PID_FILE=$PID_FILE"
	echo "API_SOCKET=$API_SOCKET"
	echo "STREAM_SOCKET=$STREAM_SOCKET"
	echo "WORKSPACE_PATH=$CW_WORKSPACE"
	echo "MAX_FILE_SIZE=$MAX_FILE_SIZE"
	echo "ALLOWED_ORIGINS=${ALLOWED_ORIGINS:-https://localhost:$HTTPS_PORT}"
	[ -z "$allow_root" ] || echo "ALLOW_ROOT=$allow_root"
	if [ "$external_redis" -eq 0 ]; then
		echo "REDIS_URL=unix://$CW_REDIS_SOCKET?db=0"
		echo "REDIS_PASSWORD_FILE=$(secret_file redis_password)"
	else
		echo "REDIS_URL=$REDIS_URL"
		if f=$(secret_from_env REDIS_PASSWORD "$CW_SECRETS_DIR/redis_password.env"); then
			echo "REDIS_PASSWORD_FILE=$f"
		elif [ -n "${REDIS_PASSWORD_FILE:-}" ]; then
			echo "REDIS_PASSWORD_FILE=$(cw_abspath "$REDIS_PASSWORD_FILE")"
		fi
		# The sentinels' own password (redis+sentinel://): a file as well.
		if f=$(secret_from_env REDIS_SENTINEL_PASSWORD "$CW_SECRETS_DIR/redis_sentinel_password.env"); then
			echo "REDIS_SENTINEL_PASSWORD_FILE=$f"
		elif [ -n "${REDIS_SENTINEL_PASSWORD_FILE:-}" ]; then
			echo "REDIS_SENTINEL_PASSWORD_FILE=$(cw_abspath "$REDIS_SENTINEL_PASSWORD_FILE")"
		fi
	fi
	if f=$(secret_from_env SECRET_KEY "$CW_SECRETS_DIR/secret_key.env"); then
		echo "SECRET_KEY_FILE=$f"
	elif [ -n "${SECRET_KEY_FILE:-}" ]; then
		echo "SECRET_KEY_FILE=$(cw_abspath "$SECRET_KEY_FILE")"
	else
		echo "SECRET_KEY_FILE=$(secret_file secret_key)"
	fi
	if [ -n "${ANTHROPIC_API_KEY:-}" ]; then
		echo "ANTHROPIC_API_KEY_FILE=$CW_SECRETS_DIR/anthropic_api_key"
	elif [ -n "${ANTHROPIC_API_KEY_FILE:-}" ]; then
		echo "ANTHROPIC_API_KEY_FILE=$(cw_abspath "$ANTHROPIC_API_KEY_FILE")"
	elif [ -s "$CW_SECRETS_DIR/anthropic_api_key" ]; then
		echo "ANTHROPIC_API_KEY_FILE=$CW_SECRETS_DIR/anthropic_api_key"
	fi
	if [ "$cs_on" -eq 1 ]; then
		echo "CODE_SERVER_URL=http://127.0.0.1:$CS_PORT"
	fi
	# The rest of our environment's claude-web variables, as they are.
	written=" ENVIRONMENT LOG_LEVEL LOG_FILE PID_FILE API_SOCKET STREAM_SOCKET WORKSPACE_PATH
		MAX_FILE_SIZE ALLOWED_ORIGINS ALLOW_ROOT REDIS_URL REDIS_PASSWORD SECRET_KEY
		ANTHROPIC_API_KEY CODE_SERVER_URL REDIS_SENTINEL_PASSWORD REDIS_SENTINEL_PASSWORD_FILE "
	while read -r v; do
		case $written in *[[:space:]]"$v"[[:space:]]*) continue ;; esac
		[ -n "${!v+x}" ] || continue
		case ${!v} in *$'\n'*) cw_die "$v must be one line" ;; esac
		printf '%s=%s\n' "$v" "${!v}"
	done < <(cw_config_vars)
} >"$CW_GEN_ENV_FILE.tmp"
chmod 0600 "$CW_GEN_ENV_FILE.tmp"
mv -f "$CW_GEN_ENV_FILE.tmp" "$CW_GEN_ENV_FILE"
cw_merge_env "$CW_GEN_ENV_FILE" "$CW_ENV_FILE"

printf '%s\n' "$start_settings" >"$CW_RUN_DIR/start-settings.env"
{
	echo "HTTPS_PORT=$HTTPS_PORT"
	echo "HTTP_PORT=$HTTP_PORT"
	echo "BIN=$BIN"
	echo "EXTERNAL_REDIS=$external_redis"
	echo "CODE_SERVER_PORT=$CS_PORT"
} >"$CW_STACK_FILE"

# ---- failure handling ---------------------------------------------------------------
started=0
on_exit() {
	local rc=$?
	if [ "$rc" -ne 0 ] && [ "$started" -eq 1 ]; then
		cw_log "start failed; stopping what was started"
		STATE_DIR=$STATE_DIR "$CW_ROOT/scripts/stop.sh" >/dev/null 2>&1 || true
	fi
	exit "$rc"
}
trap on_exit EXIT
fail() { # fail MESSAGE LOG...
	local msg=$1
	shift
	for f in "$@"; do cw_tail "$f"; done
	cw_die "$msg"
}

# ---- configuration check (before anything is started) ---------------------------------
master_err=$CW_LOG_DIR/claude-web.stderr
cw_log "checking the claude-web configuration ($CW_ENV_FILE)"
rc=0
problems=$(cw_clean_env "$BIN" --config "$CW_ENV_FILE" -t 2>&1) || rc=$?
if [ "$rc" -ne 0 ]; then
	printf '%s\n' "$problems" | sed 's/^/  /' >&2
	cw_log "invalid configuration (claude-web -t exited $rc)"
	[ "$rc" -eq 78 ] && exit 78
	exit 1
fi
# What nginx needs from it (the admin's file may set them).
MAX_FILE_SIZE=$(cw_envfile_get "$CW_ENV_FILE" MAX_FILE_SIZE) || MAX_FILE_SIZE=10485760
# Room for multipart framing and the other form fields.
MAX_BODY_SIZE=$((MAX_FILE_SIZE + 1048576))
SSE_MAX_CONN=${SSE_MAX_CONN:-$(($(cw_envfile_get "$CW_ENV_FILE" STREAM_WORKERS || echo 2) * \
	$(cw_envfile_get "$CW_ENV_FILE" STREAM_MAX_CONNECTIONS || echo 5000)))}
case $SSE_MAX_CONN in '' | *[!0-9]* | 0) cw_die "SSE_MAX_CONN must be a positive number, got '$SSE_MAX_CONN'" ;; esac

# ---- 0. ports ----------------------------------------------------------------
for p in "$HTTPS_PORT" "$HTTP_PORT"; do
	if cw_port_in_use "$p"; then
		cw_die "port $p is already in use (choose others with HTTPS_PORT / HTTP_PORT)"
	fi
done

# ---- 1. redis -----------------------------------------------------------------
if [ "$external_redis" -eq 0 ]; then
	cw_log "starting redis (socket $CW_REDIS_SOCKET)"
	redis_log=$CW_LOG_DIR/redis.log
	(
		REDIS_SOCKET=$CW_REDIS_SOCKET
		REDIS_DIR=$CW_REDIS_DIR
		REDIS_PIDFILE=$CW_REDIS_PIDFILE
		REDIS_LOG=$redis_log
		REDIS_PASSWORD=$(cat "$CW_SECRETS_DIR/redis_password")
		REDIS_MAXMEMORY=${REDIS_MAXMEMORY:-256mb}
		export REDIS_SOCKET REDIS_DIR REDIS_PIDFILE REDIS_LOG REDIS_PASSWORD REDIS_MAXMEMORY
		"$CW_ROOT/scripts/render-conf.sh" "$CW_ROOT/redis/redis.conf.in" "$CW_REDIS_CONF"
	) || cw_die "could not render the redis configuration"
	started=1
	rm -f -- "$CW_REDIS_SOCKET"
	setsid env -i "${CW_ENV_ARGS[@]}" redis-server "$CW_REDIS_CONF" </dev/null >>"$redis_log" 2>&1 &
	redis_launch=$!
	REDISCLI_AUTH=$(cat "$CW_SECRETS_DIR/redis_password")
	export REDISCLI_AUTH
	ok=0
	for _ in $(seq 1 100); do
		if [ -S "$CW_REDIS_SOCKET" ] &&
			[ "$(redis-cli -s "$CW_REDIS_SOCKET" ping 2>/dev/null)" = PONG ]; then
			ok=1
			break
		fi
		cw_alive "$redis_launch" || break
		sleep 0.1
	done
	unset REDISCLI_AUTH
	[ "$ok" -eq 1 ] || fail "redis did not start" "$redis_log"
	cw_log "redis: ready (pid $(cw_read_pid "$CW_REDIS_PIDFILE"))"
fi

# ---- 2. claude-web ------------------------------------------------------------------
cw_log "starting claude-web ($BIN)"
started=1
rm -f -- "$PID_FILE"
echo "=== scripts/start.sh $(date -u +%Y-%m-%dT%H:%M:%SZ) ===" >>"$master_err"
# An empty environment: the env-file is the whole configuration, secrets
# are files, and nothing of this shell (ADMIN_PASSWORD...) reaches a worker.
setsid env -i "${CW_ENV_ARGS[@]}" "$BIN" --config "$CW_ENV_FILE" </dev/null >>"$master_err" 2>&1 &
master_launch=$!
ok=0
for _ in $(seq 1 150); do
	if [ -n "$(cw_running "$PID_FILE" claude-web || true)" ] &&
		[ -S "$API_SOCKET" ] && [ -S "$STREAM_SOCKET" ]; then
		ok=1
		break
	fi
	cw_alive "$master_launch" || break
	sleep 0.1
done
if [ "$ok" -ne 1 ]; then
	if cw_alive "$master_launch"; then
		fail "claude-web started but did not write $PID_FILE and create its sockets within 15 s" \
			"$master_err" "$CW_LOG_FILE"
	fi
	fail "claude-web exited during startup" "$master_err" "$CW_LOG_FILE"
fi
cw_log "claude-web: running (pid $(cw_read_pid "$PID_FILE"))"
rm -f -- "$CW_CONFIG_STATUS"
cw_config_status_set "GENERATION=1" "LOADED_AT=$(cw_now)" \
	"CONFIG_SHA=$(sha256sum "$CW_ENV_FILE" | cut -c1-12)" \
	"LAST_RELOAD=none" "LAST_RELOAD_AT=" "LAST_RELOAD_DETAIL="

# ---- 2b. code-server --------------------------------------------------------------
# Loopback only, --auth none: nginx's auth_request is the only way in. Its
# own process group (setsid), so stop.sh also ends the extension hosts it
# forks. A clean environment: its terminals must not inherit this script's
# secrets (ANTHROPIC_API_KEY, SECRET_KEY...).
# cs_stop_group: stops the code-server of CS_PIDFILE and its process group
# (the same as in stop.sh).
cs_stop_group() {
	local pid
	if pid=$(cw_running "$CS_PIDFILE" code-server); then
		kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
		cw_wait_gone "$pid" 10 || true
		kill -KILL -- "-$pid" 2>/dev/null || true
		cw_wait_gone "$pid" 2 || true
	fi
	rm -f -- "$CS_PIDFILE"
}
rm -f -- "$CS_SNIPPET"
cs_stop_group # a leftover of an earlier start
if [ "$cs_on" -eq 1 ]; then
	cs_log=$CW_LOG_DIR/code-server.log
	cs_fail() {
		if [ "${CODE_SERVER:-}" = on ]; then
			fail "$1" "$cs_log"
		fi
		cw_tail "$cs_log"
		cw_warn "$1; going on without it (/code/ answers 503; CODE_SERVER=off silences this)"
		cs_stop_group
		rm -f -- "$CS_SNIPPET"
	}
	if cw_port_in_use "$CS_PORT"; then
		cs_fail "port $CS_PORT (CODE_SERVER_PORT) is already in use"
	else
		mkdir -p "$CS_STATE/user-data/User" "$CS_STATE/extensions"
		# Its config file: without one it writes ~/.config/code-server/config.yaml
		# with a password. Everything that matters is on the command line.
		printf 'auth: none\ncert: false\n' >"$CS_STATE/config.yaml"
		if [ ! -e "$CS_STATE/user-data/User/settings.json" ]; then
			cat >"$CS_STATE/user-data/User/settings.json" <<'JSON'
{
  "workbench.startupEditor": "none",
  "telemetry.telemetryLevel": "off",
  "update.mode": "none",
  "extensions.autoCheckUpdates": false,
  "extensions.autoUpdate": false,
  "workbench.enableExperiments": false
}
JSON
		fi
		cw_log "starting code-server (127.0.0.1:$CS_PORT, folder $CW_WORKSPACE/sessions)"
		echo "=== scripts/start.sh $(date -u +%Y-%m-%dT%H:%M:%SZ) ===" >>"$cs_log"
		setsid env -i PATH="$PATH" HOME="${HOME:-/root}" USER="$(id -un)" LOGNAME="$(id -un)" \
			SHELL="${SHELL:-/bin/bash}" LANG="${LANG:-C.UTF-8}" \
			"$CS_BIN" --config "$CS_STATE/config.yaml" --auth none \
			--bind-addr "127.0.0.1:$CS_PORT" --disable-telemetry --disable-update-check \
			--disable-workspace-trust --disable-getting-started-override \
			--user-data-dir "$CS_STATE/user-data" --extensions-dir "$CS_STATE/extensions" \
			"$CW_WORKSPACE/sessions" </dev/null >>"$cs_log" 2>&1 &
		cs_launch=$!
		echo "$cs_launch" >"$CS_PIDFILE"
		ok=0
		for _ in $(seq 1 300); do
			case $(curl -s --max-time 2 "http://127.0.0.1:$CS_PORT/healthz" 2>/dev/null || true) in
			*'"status"'*)
				ok=1
				break
				;;
			esac
			cw_alive "$cs_launch" || break
			sleep 0.2
		done
		if [ "$ok" -eq 1 ]; then
			# shellcheck disable=SC2016 # $cw_code_server is nginx's
			printf '# written by scripts/start.sh: code-server is on (see nginx.conf.in)\nset $cw_code_server 127.0.0.1:%s;\n' \
				"$CS_PORT" >"$CS_SNIPPET"
			cw_log "code-server: running (pid $cs_launch)"
		else
			cs_fail "code-server did not answer http://127.0.0.1:$CS_PORT/healthz"
		fi
	fi
fi

# ---- 3. nginx --------------------------------------------------------------------
if [ -d "$CW_ROOT/static/dist" ] && [ -f "$CW_ROOT/static/dist/index.html" ]; then
	STATIC_ROOT=$CW_ROOT/static/dist
else
	STATIC_ROOT=$CW_ROOT/static
fi
(
	NGINX_USER="$(id -un) $(id -gn)"
	NGINX_DIR=$CW_NGINX_DIR
	LOG_DIR=$CW_LOG_DIR
	export NGINX_USER NGINX_DIR LOG_DIR HTTP_PORT HTTPS_PORT TLS_CERT TLS_KEY \
		MAX_BODY_SIZE STATIC_ROOT API_SOCKET STREAM_SOCKET SSE_MAX_CONN PUBLIC_HOST
	cw_nginx_env_from "$CW_ENV_FILE"
	"$CW_ROOT/scripts/render-conf.sh" "$CW_ROOT/nginx/nginx.conf.in" "$CW_NGINX_CONF"
	# What scripts/reload.sh renders nginx.conf with again (one per line).
	for v in NGINX_USER NGINX_DIR LOG_DIR HTTP_PORT HTTPS_PORT TLS_CERT TLS_KEY \
		MAX_BODY_SIZE STATIC_ROOT API_SOCKET STREAM_SOCKET SSE_MAX_CONN PUBLIC_HOST; do
		printf '%s=%s\n' "$v" "${!v}"
	done >"$CW_RUN_DIR/nginx.env"
	printf 'NGINX_WORKER_PROCESSES=%s\n' "${NGINX_WORKER_PROCESSES:-auto}" >>"$CW_RUN_DIR/nginx.env"
) || cw_die "could not render the nginx configuration"

nginx_args=(-p "$CW_NGINX_DIR" -c "$CW_NGINX_CONF"
	-g "worker_processes ${NGINX_WORKER_PROCESSES:-auto};")
if [ "$(id -u)" -ne 0 ]; then
	# The user directive only works for root; drop it instead of warning.
	sed -i '/^user /d' "$CW_NGINX_CONF"
fi
nginx_test=$(cw_clean_env nginx "${nginx_args[@]}" -t 2>&1) ||
	{
		printf '%s\n' "$nginx_test" >&2
		fail "nginx configuration test failed ($CW_NGINX_CONF)"
	}
cw_log "starting nginx (https port $HTTPS_PORT, http port $HTTP_PORT)"
cw_clean_env nginx "${nginx_args[@]}" 2>>"$CW_LOG_DIR/nginx-error.log" ||
	fail "nginx failed to start" "$CW_LOG_DIR/nginx-error.log"

# ---- 4. wait for health ---------------------------------------------------------------
cw_log "waiting for ${URL}api/health (up to ${START_TIMEOUT}s)"
deadline=$((SECONDS + START_TIMEOUT))
body=''
code=''
while :; do
	code=$(curl -ks -o "$CW_RUN_DIR/health.json" -w '%{http_code}' --max-time 3 "${URL}api/health" 2>/dev/null || true)
	[ "$code" = 200 ] && break
	if [ -z "$(cw_running "$PID_FILE" claude-web || true)" ]; then
		fail "claude-web exited" "$master_err" "$CW_LOG_FILE"
	fi
	if [ -z "$(cw_running "$CW_NGINX_PIDFILE" nginx || true)" ]; then
		fail "nginx exited" "$CW_LOG_DIR/nginx-error.log"
	fi
	if [ "$SECONDS" -ge "$deadline" ]; then
		body=$(cat "$CW_RUN_DIR/health.json" 2>/dev/null || true)
		[ -n "$body" ] && printf 'last /api/health answer (HTTP %s): %s\n' "$code" "$body" >&2
		fail "not healthy after ${START_TIMEOUT}s" "$CW_LOG_FILE" "$master_err" "$CW_LOG_DIR/nginx-error.log"
	fi
	sleep 0.5
done
rm -f -- "$CW_RUN_DIR/health.json"

# ---- 5. first start: the initial admin -------------------------------------------
# When no user exists yet, create ADMIN_USER (default admin) with
# ADMIN_PASSWORD (or ADMIN_PASSWORD_FILE), else a generated password that is
# printed once and kept in STATE_DIR/initial-admin-password (mode 0600).
ADMIN_BIN="$(dirname -- "$BIN")/claude-web-admin"
if [ -x "$ADMIN_BIN" ] && user_list=$(cw_clean_env "$ADMIN_BIN" --config "$CW_ENV_FILE" user list 2>/dev/null) &&
	[ "$(printf '%s\n' "$user_list" | sed -n '2,$p' | grep -c .)" -eq 0 ]; then
	admin_name=${ADMIN_USER:-admin}
	admin_pw=${ADMIN_PASSWORD:-}
	if [ -z "$admin_pw" ] && [ -n "${ADMIN_PASSWORD_FILE:-}" ]; then
		admin_pw=$(head -n 1 -- "$ADMIN_PASSWORD_FILE")
	fi
	generated=0
	if [ -z "$admin_pw" ]; then
		admin_pw=$(openssl rand -base64 24 | tr -dc 'A-Za-z0-9' | head -c 20)
		generated=1
	fi
	if printf '%s\n' "$admin_pw" | cw_clean_env "$ADMIN_BIN" --config "$CW_ENV_FILE" user add "$admin_name" --role admin >/dev/null; then
		if [ "$generated" -eq 1 ]; then
			( umask 077 && printf '%s\n' "$admin_pw" >"$STATE_DIR/initial-admin-password" )
			chmod 600 "$STATE_DIR/initial-admin-password"
			cw_log "created the first admin user '$admin_name' with password: $admin_pw"
			cw_log "(saved in $STATE_DIR/initial-admin-password; change it with: claude-web-admin user passwd $admin_name)"
		else
			cw_log "created the first admin user '$admin_name' (password from ADMIN_PASSWORD)"
		fi
	else
		cw_log "warning: could not create the first admin user '$admin_name' (see above)"
	fi
	unset admin_pw
fi

started=0
echo "ready: $URL"
