# shellcheck shell=bash
# tests/integration/lib.sh: shared harness for the integration tests.
# Source it from a t_*.sh; do not run it.
#
# It builds a private stack in a fresh temporary directory: a self-signed TLS
# certificate, Redis on a unix socket, the claude-web master and nginx, with
# the production templates (redis/redis.conf.in, nginx/nginx.conf.in) rendered
# by scripts/render-conf.sh. Nothing outside the temporary directory is
# touched; ports are picked free at random.
#
# Environment (set by `make check`): CLAUDE_WEB (the binary), TOP_SRCDIR,
# TOP_BUILDDIR. When run by hand, CLAUDE_WEB defaults to build/claude-web.
# Set CW_KEEP=1 to keep the temporary directory even when every test passed.
#
# TAP:  tap_ok DESC | tap_fail DESC [DIAG...] | check DESC CMD... |
#       is GOT WANT DESC | isnt GOT UNWANTED DESC | like GOT ERE DESC |
#       unlike GOT ERE DESC | cmp_ok A OP B DESC | diag MSG | tap_skip N WHY |
#       tap_done (prints the plan and exits 0; failures are "not ok" lines).
# Stack: cw_start_all, cw_stop_all, cw_start_redis, cw_stop_redis,
#       cw_start_app, cw_stop_app [SIGNAL], cw_start_nginx, cw_stop_nginx.
# Config of claude-web: CW_CONF[KEY]=VALUE before cw_start_app. With
#       CW_CONF_MODE=file the settings go to the env-file $CW_ENV_FILE, passed
#       with --config (so SIGHUP re-reads it); CW_ENV[KEY]=VALUE are passed in
#       the environment in every mode (the environment wins over the file).
# HTTP: api_get PATH [CURL ARGS...] (also for any /path, and any method via
#       -X) sets HTTP_STATUS, HTTP_CT, HTTP_VERSION, HTTP_TIME and writes the
#       body to $BODY and headers to $HDRS; header NAME prints a header value;
#       json FILTER runs jq on $BODY.
# Processes: master_pid, worker_pids POOL, all_children, log_json FILTER,
#       wait_for SECONDS CMD..., now_ms, log_mark / log_since (lines logged
#       after the mark).

set -u

# nginx lives in /usr/sbin, which is not on a normal user's PATH on Debian.
case ":$PATH:" in *:/usr/sbin:*) ;; *) PATH=$PATH:/usr/sbin:/sbin ;; esac

TOP_SRCDIR=${TOP_SRCDIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
TOP_BUILDDIR=${TOP_BUILDDIR:-$TOP_SRCDIR/build}
CLAUDE_WEB=${CLAUDE_WEB:-$TOP_BUILDDIR/claude-web}

# ---- TAP -------------------------------------------------------------------
TAP_N=0
TAP_FAILED=0

diag() {
	local line
	while IFS= read -r line; do
		printf '# %s\n' "$line"
	done <<<"$*"
}

tap_ok() {
	TAP_N=$((TAP_N + 1))
	printf 'ok %d - %s\n' "$TAP_N" "$1"
}

tap_fail() {
	TAP_N=$((TAP_N + 1))
	TAP_FAILED=$((TAP_FAILED + 1))
	printf 'not ok %d - %s\n' "$TAP_N" "$1"
	shift
	[ $# -gt 0 ] && diag "$*"
	return 0
}

# tap_skip N WHY: N skipped tests.
tap_skip() {
	local i
	for ((i = 0; i < $1; i++)); do
		TAP_N=$((TAP_N + 1))
		printf 'ok %d # SKIP %s\n' "$TAP_N" "$2"
	done
}

# check DESC CMD...: ok when CMD succeeds. Returns CMD's status.
check() {
	local desc=$1
	shift
	if "$@"; then
		tap_ok "$desc"
		return 0
	fi
	tap_fail "$desc" "command failed: $*"
	return 1
}

is() {
	if [ "$1" = "$2" ]; then
		tap_ok "$3"
		return 0
	fi
	tap_fail "$3" "got:      '$1'
expected: '$2'"
	return 1
}

isnt() {
	if [ "$1" != "$2" ]; then
		tap_ok "$3"
		return 0
	fi
	tap_fail "$3" "got '$1', expected anything else"
	return 1
}

like() {
	if printf '%s' "$1" | grep -Eq -- "$2"; then
		tap_ok "$3"
		return 0
	fi
	tap_fail "$3" "got:        '$(printf '%s' "$1" | head -c 2000)'
expected to match: $2"
	return 1
}

unlike() {
	if ! printf '%s' "$1" | grep -Eq -- "$2"; then
		tap_ok "$3"
		return 0
	fi
	tap_fail "$3" "got:            '$(printf '%s' "$1" | head -c 2000)'
expected NOT to match: $2"
	return 1
}

# cmp_ok A OP B DESC: integer comparison (OP: -lt -le -eq -ne -ge -gt).
cmp_ok() {
	local a=$1 op=$2 b=$3
	case $a in '' | *[!0-9-]*) a=-999999999 ;; esac
	if test "$a" "$op" "$b"; then
		tap_ok "$4"
		return 0
	fi
	tap_fail "$4" "got $1, expected $op $3"
	return 1
}

# tap_done: a last check that claude-web wrote no sanitizer report (ASan,
# UBSan, LSan builds) to its stderr, the plan, then exit 0 (the EXIT trap
# cleans up).
tap_done() {
	local f=$T/claude-web.stderr
	if [ -s "$f" ] && grep -Eq 'Sanitizer|runtime error:' "$f"; then
		tap_fail "claude-web wrote no sanitizer report" "$(grep -E -A12 'Sanitizer|runtime error:' "$f" | head -n 60)"
	else
		tap_ok "claude-web wrote no sanitizer report"
	fi
	printf '1..%d\n' "$TAP_N"
	exit 0
}

# cw_bail MSG: the stack could not be set up; nothing else can be tested.
cw_bail() {
	TAP_FAILED=$((TAP_FAILED + 1))
	printf 'Bail out! %s\n' "$1"
	exit 0
}

# cw_require_tools: prints "1..0 # SKIP" and exits when something is missing.
cw_require_tools() {
	local t missing=''
	for t in nginx redis-server redis-cli curl openssl jq "$@"; do
		command -v "$t" >/dev/null 2>&1 || missing="$missing $t"
	done
	if [ -n "$missing" ]; then
		printf '1..0 # SKIP missing:%s\n' "$missing"
		exit 0
	fi
	if [ ! -x "$CLAUDE_WEB" ]; then
		printf '1..0 # SKIP claude-web binary not found: %s\n' "$CLAUDE_WEB"
		exit 0
	fi
}

# ---- time and polling --------------------------------------------------------
now_ms() {
	local t
	t=$(date +%s%N)
	printf '%s\n' $((t / 1000000))
}

# wait_for SECONDS CMD...: polls CMD every 0.1 s; 0 as soon as it succeeds.
wait_for() {
	local deadline
	deadline=$(($(now_ms) + $(awk -v s="$1" 'BEGIN { printf "%d", s * 1000 }')))
	shift
	while :; do
		"$@" && return 0
		[ "$(now_ms)" -ge "$deadline" ] && return 1
		sleep 0.1
	done
}

# pid_gone PID: PID does not exist or is a zombie (exited, not yet reaped).
pid_gone() {
	local st=''
	[ -n "$1" ] || return 0
	[ -r "/proc/$1/stat" ] || return 0
	st=$(sed 's/^.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f1)
	[ -z "$st" ] || [ "$st" = Z ] || [ "$st" = X ]
}

# ---- temporary directory and cleanup -----------------------------------------
# Short paths: unix socket paths must fit in 107 bytes.
T=$(mktemp -d "${TMPDIR:-/tmp}/cwit.XXXXXX") || {
	echo "Bail out! mktemp failed"
	exit 0
}
chmod 0755 "$T"
mkdir -p "$T/run" "$T/log" "$T/nginx" "$T/redis" "$T/tls" "$T/workspace"
BODY=$T/body
HDRS=$T/headers
CW_LOG=$T/log/claude-web.log
CW_ENV_FILE=$T/claude-web.env
CW_PID_FILE=$T/run/claude-web.pid
API_SOCKET=$T/run/api.sock
STREAM_SOCKET=$T/run/stream.sock
REDIS_SOCKET=$T/run/redis.sock
REDIS_PIDFILE=$T/run/redis.pid
REDIS_CONF=$T/redis/redis.conf
NGINX_CONF=$T/nginx/nginx.conf
NGINX_ERRLOG=$T/log/nginx-error.log
MASTER_PID=''
REDIS_PID=''
NGINX_PID=''
BG_PIDS=()

cw_cleanup() {
	local rc=$? pid
	trap - EXIT INT TERM
	for pid in "${BG_PIDS[@]}"; do
		kill "$pid" 2>/dev/null
	done
	cw_stop_nginx >/dev/null 2>&1
	cw_stop_app INT >/dev/null 2>&1
	cw_stop_redis >/dev/null 2>&1
	if [ ! -d "$T" ]; then
		diag "the test directory $T was removed by something else during the test"
	elif [ "$TAP_FAILED" -gt 0 ] || [ "${CW_KEEP:-0}" = 1 ]; then
		local f
		{
			echo "kept the test directory: $T"
			for f in "$CW_LOG" "$T/claude-web.stderr" "$NGINX_ERRLOG" \
				"$T/log/nginx-access.log" "$T/log/redis.log"; do
				[ -s "$f" ] || continue
				echo "---- last lines of $f"
				tail -n 25 "$f"
			done
		} | sed 's/^/# /'
	else
		rm -rf "$T"
	fi
	exit "$rc"
}
trap cw_cleanup EXIT
trap 'exit 1' INT TERM

# ---- ports, secrets, TLS -------------------------------------------------------
# Two distinct free TCP ports below the kernel's ephemeral range (a port in
# it can become the source port of an outgoing connection before nginx binds
# it: EADDRINUSE), each checked by binding it.
cw_free_ports() {
	if command -v python3 >/dev/null 2>&1 &&
		python3 -c 'import random, socket
try:
    lo = int(open("/proc/sys/net/ipv4/ip_local_port_range").read().split()[0])
except Exception:
    lo = 32768
hi = lo if lo - 10000 >= 1000 else 30000
got = []
while len(got) < 2:
    p = random.randrange(10000, hi)
    if p in got:
        continue
    s = socket.socket()
    try:
        s.bind(("0.0.0.0", p))
        got.append(p)
    except OSError:
        pass
    finally:
        s.close()
print(got[0], got[1])' 2>/dev/null; then
		return 0
	fi
	# Fallback: random ports below 30000 (under the ephemeral range) not in
	# /proc/net/tcp{,6}.
	local p q used
	used=$(awk 'NR > 1 { split($2, a, ":"); print strtonum("0x" a[2]) }' \
		/proc/net/tcp /proc/net/tcp6 2>/dev/null | sort -u)
	while :; do
		p=$((10000 + RANDOM % 20000))
		q=$((10000 + RANDOM % 20000))
		[ "$p" != "$q" ] || continue
		printf '%s\n' "$used" | grep -qx -e "$p" -e "$q" && continue
		echo "$p $q"
		return 0
	done
}
read -r HTTPS_PORT HTTP_PORT <<<"$(cw_free_ports)"

REDIS_PASSWORD=$(openssl rand -hex 24)
TLS_CERT=$T/tls/cert.pem
TLS_KEY=$T/tls/key.pem
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
	-days 2 -subj "/CN=localhost" \
	-addext "subjectAltName=DNS:localhost,IP:127.0.0.1" \
	-keyout "$TLS_KEY" -out "$TLS_CERT" >"$T/openssl.out" 2>&1 ||
	cw_bail "openssl could not generate a certificate: $(cat "$T/openssl.out")"

BASE_URL=https://localhost:$HTTPS_PORT

# ---- claude-web configuration --------------------------------------------------
declare -A CW_CONF=(
	[SECRET_KEY]=$(openssl rand -hex 20)
	[ENVIRONMENT]=development
	[DEBUG]=true
	[LOG_LEVEL]=debug
	[LOG_FILE]=$CW_LOG
	[PID_FILE]=$CW_PID_FILE
	[WORKSPACE_PATH]=$T/workspace
	[API_SOCKET]=$API_SOCKET
	[STREAM_SOCKET]=$STREAM_SOCKET
	[REDIS_URL]=unix://$REDIS_SOCKET
	[REDIS_PASSWORD]=$REDIS_PASSWORD
	[API_WORKERS]=2
	[STREAM_WORKERS]=2
	[RUNNER_WORKERS]=1
	[MAX_FILE_SIZE]=65536
	# The suite reads pool sizes from /api/health as the host's own monitor
	# would (t_health.sh checks the default: details for admins only).
	[HEALTH_DETAILS]=local
	# The suite runs as root on CI VMs: the explicit opt-in (docs/security.md).
	[ALLOW_ROOT]=1
)
declare -A CW_ENV=()
CW_CONF_MODE='env'

# cw_fixed_runner_pool WORKERS: the KEY=VALUE lines that keep the runner pool
# at WORKERS runners (RUNNER_MAX=WORKERS, RUNNER_MIN_SPARE=0,
# RUNNER_MAX_SPARE=WORKERS: it can neither grow nor shrink), unless the test
# set RUNNER_MAX, RUNNER_MIN_SPARE or RUNNER_MAX_SPARE itself (t_pool.sh).
# The pool is dynamic since issue 11; most tests count runners.
cw_fixed_runner_pool() {
	local k
	for k in RUNNER_MAX RUNNER_MIN_SPARE RUNNER_MAX_SPARE; do
		[ -z "${CW_CONF[$k]+set}" ] && [ -z "${CW_ENV[$k]+set}" ] || return 0
	done
	printf 'RUNNER_MAX=%s\nRUNNER_MIN_SPARE=0\nRUNNER_MAX_SPARE=%s\n' "$1" "$1"
}

# cw_write_env_file [FILE]: writes CW_CONF as KEY=VALUE lines.
# shellcheck disable=SC2120 # FILE is optional
cw_write_env_file() {
	local f=${1:-$CW_ENV_FILE} k
	{
		echo "# written by tests/integration/lib.sh"
		for k in "${!CW_CONF[@]}"; do
			printf '%s=%s\n' "$k" "${CW_CONF[$k]}"
		done
		cw_fixed_runner_pool "${CW_CONF[RUNNER_WORKERS]:-2}"
	} >"$f.tmp" && mv -f "$f.tmp" "$f"
}

# cw_app_cmd ARGS...: runs claude-web in the configured clean environment
# (nothing inherited from the caller but PATH and HOME). CW_TIMEOUT=SECONDS
# kills it after that long; CW_EXEC=1 execs it (for background starts).
cw_app_cmd() {
	local -a envv=(PATH="$PATH" HOME="${HOME:-/root}")
	local k
	if [ "$CW_CONF_MODE" = env ]; then
		for k in "${!CW_CONF[@]}"; do
			envv+=("$k=${CW_CONF[$k]}")
		done
		# Fixed runner pool (cw_fixed_runner_pool); the env-file has its own.
		while read -r k; do
			envv+=("$k")
		done < <(cw_fixed_runner_pool "${CW_ENV[RUNNER_WORKERS]:-${CW_CONF[RUNNER_WORKERS]:-2}}")
	elif [ -n "${CW_ENV[RUNNER_WORKERS]+set}" ]; then
		while read -r k; do
			envv+=("$k")
		done < <(cw_fixed_runner_pool "${CW_ENV[RUNNER_WORKERS]}")
	fi
	for k in "${!CW_ENV[@]}"; do
		envv+=("$k=${CW_ENV[$k]}")
	done
	if [ "$CW_CONF_MODE" = file ]; then
		cw_write_env_file
		set -- --config "$CW_ENV_FILE" "$@"
	fi
	if [ "${CW_EXEC:-0}" = 1 ]; then
		exec env -i "${envv[@]}" "$CLAUDE_WEB" "$@"
	fi
	if [ -n "${CW_TIMEOUT:-}" ]; then
		timeout -s KILL "$CW_TIMEOUT" env -i "${envv[@]}" "$CLAUDE_WEB" "$@"
		return
	fi
	env -i "${envv[@]}" "$CLAUDE_WEB" "$@"
}

# ---- redis -------------------------------------------------------------------
redis_cli() {
	REDISCLI_AUTH=$REDIS_PASSWORD redis-cli -s "$REDIS_SOCKET" "$@"
}

redis_pong() {
	[ "$(redis_cli ping 2>/dev/null)" = PONG ]
}

cw_render_redis() {
	REDIS_SOCKET=$REDIS_SOCKET REDIS_DIR=$T/redis REDIS_PIDFILE=$REDIS_PIDFILE \
		REDIS_LOG=$T/log/redis.log REDIS_PASSWORD=$REDIS_PASSWORD \
		REDIS_MAXMEMORY=64mb \
		"$TOP_SRCDIR/scripts/render-conf.sh" "$TOP_SRCDIR/redis/redis.conf.in" \
		"$REDIS_CONF"
}

cw_start_redis() {
	[ -s "$REDIS_CONF" ] || cw_render_redis || return 1
	redis-server "$REDIS_CONF" >>"$T/log/redis.stdout" 2>&1 &
	REDIS_PID=$!
	wait_for 10 redis_pong || {
		diag "redis did not answer PING"
		return 1
	}
}

# cw_stop_redis [SIGNAL]: default SIGTERM (a clean shutdown).
# shellcheck disable=SC2120 # SIGNAL is optional
cw_stop_redis() {
	[ -n "$REDIS_PID" ] || return 0
	kill -CONT "$REDIS_PID" 2>/dev/null
	kill -"${1:-TERM}" "$REDIS_PID" 2>/dev/null
	wait_for 10 pid_gone "$REDIS_PID" ||
		kill -KILL "$REDIS_PID" 2>/dev/null
	wait "$REDIS_PID" 2>/dev/null
	REDIS_PID=''
}

# ---- claude-web ----------------------------------------------------------------
master_pid() {
	printf '%s\n' "$MASTER_PID"
}

# all_children: pids of the master's children (workers).
all_children() {
	[ -n "$MASTER_PID" ] || return 0
	pgrep -P "$MASTER_PID" 2>/dev/null
	return 0
}

# log_json FILTER: jq over the JSON log, skipping anything that is not JSON.
log_json() {
	[ -r "$CW_LOG" ] || return 0
	jq -cR "fromjson? | $1" "$CW_LOG" 2>/dev/null
}

# log_mark; ...; log_since: the log lines written after the mark.
log_mark() {
	LOG_MARK=$(wc -c <"$CW_LOG" 2>/dev/null || echo 0)
}
log_since() {
	tail -c +$((${LOG_MARK:-0} + 1)) "$CW_LOG" 2>/dev/null
}

# worker_pids POOL: live children of the master that were spawned for POOL
# (from the "worker spawned" debug lines; the last record of a pid wins).
worker_pids() {
	local pool=$1 kids map pid
	kids=$(all_children)
	[ -n "$kids" ] || return 0
	map=$(log_json 'select(.msg == "worker spawned") | "\(.worker_pid) \(.worker_pool) \(.generation)"' |
		tr -d '"' | awk '{ p[$1] = $2 } END { for (k in p) print k, p[k] }')
	for pid in $kids; do
		printf '%s\n' "$map" | awk -v pid="$pid" -v pool="$pool" \
			'$1 == pid && $2 == pool { print pid }'
	done
}

# worker_generation PID: the generation PID was spawned for.
worker_generation() {
	log_json "select(.msg == \"worker spawned\" and .worker_pid == $1) | .generation" | tail -n 1
}

# pool_count POOL: number of live workers of POOL.
pool_count() {
	worker_pids "$1" | grep -c .
}

cw_sockets_up() {
	[ -S "$API_SOCKET" ] && [ -S "$STREAM_SOCKET" ]
}

# pool_full POOL N: N live workers that have started up (logged "worker started").
pool_full() {
	local pids n=0 pid
	pids=$(worker_pids "$1")
	for pid in $pids; do
		grep -q "\"msg\":\"worker started\",\"pid\":$pid," "$CW_LOG" 2>/dev/null && n=$((n + 1))
	done
	[ "$n" -eq "$2" ]
}

# cw_start_app [ARGS...]: starts the master in the background and waits until
# its sockets exist and the api pool is complete.
cw_start_app() {
	local want=${CW_ENV[API_WORKERS]:-${CW_CONF[API_WORKERS]:-4}}
	# exec, so that $! is the master itself.
	{
		CW_EXEC=1
		cw_app_cmd "$@"
	} >>"$T/claude-web.stderr" 2>&1 &
	MASTER_PID=$!
	if ! wait_for 10 cw_sockets_up; then
		diag "claude-web sockets did not appear; stderr:
$(tail -n 20 "$T/claude-web.stderr")"
		return 1
	fi
	wait_for 10 pool_full api "$want" || {
		diag "the api pool did not reach $want workers"
		return 1
	}
}

master_alive() {
	[ -n "$MASTER_PID" ] && ! pid_gone "$MASTER_PID"
}

# cw_stop_app [SIGNAL [TIMEOUT]]: stops the master (default SIGINT: the fast stop) and waits.
# Returns 1 if it had to be killed.
cw_stop_app() {
	local sig=${1:-INT} timeout=${2:-10} kids rc=0
	[ -n "$MASTER_PID" ] || return 0
	kids=$(all_children)
	kill -"$sig" "$MASTER_PID" 2>/dev/null
	if ! wait_for "$timeout" pid_gone "$MASTER_PID"; then
		kill -KILL "$MASTER_PID" 2>/dev/null
		rc=1
	fi
	wait "$MASTER_PID" 2>/dev/null
	# shellcheck disable=SC2034 # for the tests: the master's exit status
	MASTER_EXIT=$?
	# Workers get SIGTERM from PR_SET_PDEATHSIG; make sure nothing lingers.
	# shellcheck disable=SC2086
	[ -z "$kids" ] || kill -KILL $kids 2>/dev/null
	MASTER_PID=''
	return $rc
}

# ---- nginx -------------------------------------------------------------------
cw_render_nginx() {
	local mfs=${CW_ENV[MAX_FILE_SIZE]:-${CW_CONF[MAX_FILE_SIZE]:-10485760}}
	# Same headroom as scripts/start.sh: multipart framing and other fields.
	MAX_BODY_SIZE=$((mfs + 1048576))
	NGINX_USER="$(id -un) $(id -gn)" NGINX_DIR=$T/nginx LOG_DIR=$T/log \
		HTTP_PORT=$HTTP_PORT HTTPS_PORT=$HTTPS_PORT TLS_CERT=$TLS_CERT \
		TLS_KEY=$TLS_KEY MAX_BODY_SIZE=$MAX_BODY_SIZE PUBLIC_HOST=localhost \
		STATIC_ROOT=$CW_STATIC_ROOT API_SOCKET=$API_SOCKET \
		STREAM_SOCKET=$STREAM_SOCKET \
		SSE_MAX_CONN=${CW_SSE_MAX_CONN:-${CW_CONF[STREAM_WORKERS]:-2}} \
		TRUSTED_PROXIES=${CW_CONF[TRUSTED_PROXIES]:-} \
		API_LISTEN=${CW_CONF[API_LISTEN]:-} STREAM_LISTEN=${CW_CONF[STREAM_LISTEN]:-} \
		FASTCGI_API_SERVERS=${CW_CONF[FASTCGI_API_SERVERS]:-} \
		FASTCGI_STREAM_SERVERS=${CW_CONF[FASTCGI_STREAM_SERVERS]:-} \
		"$TOP_SRCDIR/scripts/render-conf.sh" "$TOP_SRCDIR/nginx/nginx.conf.in" \
		"$NGINX_CONF"
}

nginx_up() {
	curl -4ks -o /dev/null "$BASE_URL/__nginx_ceiling" 2>/dev/null
}

cw_start_nginx() {
	local _attempt
	for _attempt in 1 2 3; do
		cw_render_nginx || return 1
		if ! nginx -t -q -p "$T/nginx" -c "$NGINX_CONF" -e "$NGINX_ERRLOG" \
			>"$T/nginx-t.out" 2>&1; then
			diag "nginx -t failed: $(cat "$T/nginx-t.out")"
			return 1
		fi
		nginx -p "$T/nginx" -c "$NGINX_CONF" -e "$NGINX_ERRLOG" -g 'daemon off;' \
			>>"$T/log/nginx.stdout" 2>&1 &
		NGINX_PID=$!
		wait_for 10 eval 'nginx_up || pid_gone "$NGINX_PID"'
		nginx_up && return 0
		cw_stop_nginx
		# Another process took one of the ports since we picked them: retry.
		grep -q 'Address already in use' "$NGINX_ERRLOG" 2>/dev/null || break
		read -r HTTPS_PORT HTTP_PORT <<<"$(cw_free_ports)"
		BASE_URL=https://localhost:$HTTPS_PORT
		: >"$NGINX_ERRLOG"
	done
	diag "nginx did not come up: $(tail -n 5 "$NGINX_ERRLOG" 2>/dev/null)"
	return 1
}

cw_stop_nginx() {
	[ -n "$NGINX_PID" ] || return 0
	kill -QUIT "$NGINX_PID" 2>/dev/null
	wait_for 10 pid_gone "$NGINX_PID" ||
		kill -KILL "$NGINX_PID" 2>/dev/null
	wait "$NGINX_PID" 2>/dev/null
	NGINX_PID=''
}

cw_start_all() {
	cw_start_redis || return 1
	cw_start_app "$@" || return 1
	cw_start_nginx || return 1
}

cw_stop_all() {
	cw_stop_nginx
	cw_stop_app INT
	cw_stop_redis
}

# ---- HTTP --------------------------------------------------------------------
# api_get PATH [CURL ARGS...]: one HTTP/2 request over TLS through nginx.
# The UI nginx serves: the built bundle when there is one (as start.sh does).
if [ -f "${TOP_SRCDIR:-.}/static/dist/index.html" ]; then
	CW_STATIC_ROOT=$TOP_SRCDIR/static/dist
else
	CW_STATIC_ROOT=${TOP_SRCDIR:-.}/static
fi

api_get() {
	local path=$1 out
	shift
	: >"$BODY"
	: >"$HDRS"
	out=$(curl -4ks --http2 --path-as-is --max-time "${CURL_MAX_TIME:-15}" \
		-o "$BODY" -D "$HDRS" \
		-w '%{http_code} %{http_version} %{time_total} %{content_type}' \
		"$@" "$BASE_URL$path" 2>/dev/null)
	# shellcheck disable=SC2034 # HTTP_VERSION, HTTP_TIME: for the tests
	read -r HTTP_STATUS HTTP_VERSION HTTP_TIME HTTP_CT <<<"$out"
	HTTP_STATUS=${HTTP_STATUS:-000}
	HTTP_CT=${HTTP_CT:-}
}

# header NAME: value of response header NAME from the last api_get.
header() {
	awk -v n="$(printf '%s' "$1" | tr '[:upper:]' '[:lower:]')" '
		{ sub(/\r$/, "") }
		index(tolower($0), n ":") == 1 { v = substr($0, length(n) + 2); sub(/^[ \t]+/, "", v); print v; exit }
	' "$HDRS"
}

# json FILTER: jq -r FILTER over the last body ("" when it is not JSON).
json() {
	jq -r "$1" "$BODY" 2>/dev/null
}

# is_json_error STATUS DESC: the last response is STATUS with a JSON
# {"error":{"type":...,"message":...}} body and a JSON content type.
is_json_error() {
	local st=$1 desc=$2 t
	t=$(json '.error.type // empty')
	if [ "$HTTP_STATUS" = "$st" ] && [ -n "$t" ] &&
		[ "$(json '.error.message | type')" = string ] &&
		printf '%s' "$HTTP_CT" | grep -q '^application/json'; then
		tap_ok "$desc"
		return 0
	fi
	tap_fail "$desc" "status $HTTP_STATUS (want $st), content-type '$HTTP_CT', body: $(head -c 300 "$BODY")"
	return 1
}
