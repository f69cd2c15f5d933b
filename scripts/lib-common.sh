# shellcheck shell=bash
# Shared helpers for scripts/*.sh and bench/bench.sh. Source it; do not run it.
#
# After sourcing:
#   CW_ROOT   absolute path of the repository
#   cw_state_init  sets STATE_DIR (absolute) and the derived CW_* paths below

CW_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
CW_PROG=${CW_PROG:-${0##*/}}

# nginx lives in /usr/sbin, which is not on a normal user's PATH on Debian.
case ":$PATH:" in *:/usr/sbin:*) ;; *) PATH=$PATH:/usr/sbin:/sbin ;; esac

cw_log() { printf '%s: %s\n' "$CW_PROG" "$*" >&2; }
cw_warn() { printf '%s: warning: %s\n' "$CW_PROG" "$*" >&2; }
cw_die() {
	printf '%s: error: %s\n' "$CW_PROG" "$*" >&2
	exit 1
}

# cw_abspath PATH: absolute form of PATH (need not exist), relative to $PWD.
cw_abspath() {
	case $1 in
	/*) printf '%s\n' "$1" ;;
	*) printf '%s/%s\n' "$PWD" "${1#./}" ;;
	esac
}

# Paths of one stack instance. STATE_DIR defaults to <repo>/var.
# shellcheck disable=SC2034 # used by the scripts that source this file
cw_state_init() {
	STATE_DIR=$(cw_abspath "${STATE_DIR:-$CW_ROOT/var}")
	STATE_DIR=${STATE_DIR%/}
	CW_RUN_DIR=$STATE_DIR/run
	CW_LOG_DIR=$STATE_DIR/log
	CW_SECRETS_DIR=$STATE_DIR/secrets
	CW_TLS_DIR=$STATE_DIR/tls
	CW_NGINX_DIR=$STATE_DIR/nginx
	CW_REDIS_DIR=$STATE_DIR/redis
	CW_ENV_FILE=$STATE_DIR/claude-web.env             # what claude-web reads (merged)
	CW_LOCAL_ENV_FILE=$STATE_DIR/claude-web.local.env # the admin's; never rewritten
	CW_GEN_ENV_FILE=$STATE_DIR/run/generated.env      # start.sh's part of CW_ENV_FILE
	CW_CONFIG_STATUS=$STATE_DIR/run/config-status     # generation, last reload
	CW_STACK_FILE=$CW_RUN_DIR/stack.env # ports etc. recorded by start.sh
	CW_NGINX_CONF=$CW_NGINX_DIR/nginx.conf
	CW_NGINX_PIDFILE=$CW_NGINX_DIR/nginx.pid
	CW_REDIS_CONF=$CW_REDIS_DIR/redis.conf
	CW_REDIS_PIDFILE=$CW_RUN_DIR/redis.pid
	CW_REDIS_SOCKET=$CW_RUN_DIR/redis.sock
	CW_MASTER_PIDFILE=$CW_RUN_DIR/claude-web.pid
}

# cw_read_pid FILE: prints the pid in FILE (digits only) or nothing.
cw_read_pid() {
	local pid=''
	[ -r "$1" ] || return 0
	read -r pid <"$1" 2>/dev/null || true
	case $pid in
	'' | *[!0-9]*) return 0 ;;
	esac
	printf '%s\n' "$pid"
}

# cw_alive PID: true if PID exists and is not a zombie. (A zombie whose
# parent has exited lingers until init reaps it, which some inits, e.g. in
# containers and microVMs, do only every few seconds.)
cw_alive() {
	local stat=''
	kill -0 "$1" 2>/dev/null || return 1
	stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
	stat=${stat##*) }
	[ "${stat%% *}" != Z ]
}

# cw_pid_is PID NAME: true if PID is alive and is NAME (by comm or argv),
# so a recycled pid from a stale pid file is not mistaken for ours.
cw_pid_is() {
	local pid=$1 name=$2 comm='' cmd=''
	[ -n "$pid" ] && cw_alive "$pid" || return 1
	read -r comm <"/proc/$pid/comm" 2>/dev/null || true
	case $comm in *"$name"*) return 0 ;; esac
	cmd=$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null || true)
	case $cmd in *"$name"*) return 0 ;; esac
	return 1
}

# cw_running PIDFILE NAME: prints the pid and succeeds if it is running.
cw_running() {
	local pid
	pid=$(cw_read_pid "$1")
	if [ -n "$pid" ] && cw_pid_is "$pid" "$2"; then
		printf '%s\n' "$pid"
		return 0
	fi
	return 1
}

# cw_wait_gone PID SECONDS: waits for PID to exit; false on timeout.
cw_wait_gone() {
	local pid=$1 i=0 n=$(($2 * 10))
	while cw_alive "$pid"; do
		[ "$i" -ge "$n" ] && return 1
		sleep 0.1
		i=$((i + 1))
	done
	return 0
}

# cw_stop NAME PIDFILE GRACE_SIGNAL GRACE_SECONDS [FORCE_SIGNAL]: graceful
# signal, then FORCE_SIGNAL (default SIGTERM; claude-web's fast stop is
# SIGINT), then SIGKILL. Removes the pid file. Idempotent.
cw_stop() {
	local name=$1 pidfile=$2 sig=$3 grace=$4 force=${5:-TERM} pid
	if ! pid=$(cw_running "$pidfile" "$name"); then
		rm -f -- "$pidfile"
		cw_log "$name: not running"
		return 0
	fi
	cw_log "$name: stopping (pid $pid, SIG$sig)"
	kill -s "$sig" "$pid" 2>/dev/null || true
	if ! cw_wait_gone "$pid" "$grace"; then
		cw_warn "$name: still running after ${grace}s; sending SIG$force"
		kill -s "$force" "$pid" 2>/dev/null || true
		if ! cw_wait_gone "$pid" 5; then
			cw_warn "$name: still running; sending SIGKILL"
			kill -s KILL "$pid" 2>/dev/null || true
			cw_wait_gone "$pid" 2 || true
		fi
	fi
	rm -f -- "$pidfile"
	cw_log "$name: stopped"
}

# cw_tail FILE [LINES]: prints the end of a log file to stderr, framed.
cw_tail() {
	local f=$1 n=${2:-30}
	if [ -s "$f" ]; then
		printf -- '----- last %s lines of %s -----\n' "$n" "$f" >&2
		tail -n "$n" -- "$f" >&2
		printf -- '-----\n' >&2
	fi
}

# cw_port_in_use PORT: true if something listens on 127.0.0.1:PORT.
cw_port_in_use() {
	(exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# cw_free_port: prints a random TCP port that nothing listens on, below the
# kernel's ephemeral range (ip_local_port_range): a port in that range can be
# taken as the source port of any outgoing connection before our server binds
# it (seen in CI: nginx's bind() failed with EADDRINUSE).
cw_free_port() {
	local p i lo=32768 span
	read -r lo _ </proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || lo=32768
	span=$((lo - 10000))
	[ "$span" -ge 1000 ] || span=20000
	for i in $(seq 1 200); do
		p=$((10000 + (RANDOM * 32768 + RANDOM) % span))
		if ! cw_port_in_use "$p"; then
			printf '%s\n' "$p"
			return 0
		fi
		: "$i"
	done
	return 1
}

# cw_missing_cmds CMD...: prints the commands that are not on PATH.
cw_missing_cmds() {
	local c
	for c in "$@"; do
		command -v "$c" >/dev/null 2>&1 || printf '%s\n' "$c"
	done
}

# cw_usage FILE: prints the comment block at the top of FILE (after the
# shebang, up to the first line that is not a comment) as its help text.
cw_usage() {
	awk 'NR == 1 { next } /^#/ { sub(/^# ?/, ""); print; next } { exit }' "$1"
}

# ---- what the daemons see of our environment -------------------------------------
# Daemons (redis, claude-web, nginx, claude-web-admin) start with `env -i`
# plus only these variables when they are set: the shell's secrets
# (ANTHROPIC_API_KEY, ADMIN_PASSWORD, ...) would otherwise sit in
# /proc/<pid>/environ of every process. Proxies and CA bundles are for
# libcurl (the Anthropic API); *SAN_OPTIONS for sanitizer builds.
CW_PASS_ENV="PATH HOME LANG LC_ALL TZ http_proxy https_proxy HTTP_PROXY HTTPS_PROXY
	no_proxy NO_PROXY all_proxy ALL_PROXY SSL_CERT_FILE SSL_CERT_DIR CURL_CA_BUNDLE
	ASAN_OPTIONS UBSAN_OPTIONS LSAN_OPTIONS"

# cw_env_init: sets CW_ENV_ARGS, the NAME=VALUE words for `env -i`.
cw_env_init() {
	local v
	CW_ENV_ARGS=()
	for v in $CW_PASS_ENV; do
		[ -n "${!v+x}" ] && CW_ENV_ARGS+=("$v=${!v}")
	done
	return 0
}

# cw_clean_env CMD...: runs CMD with only the CW_PASS_ENV variables.
cw_clean_env() {
	env -i "${CW_ENV_ARGS[@]}" "$@"
}

# cw_config_vars: every variable claude-web reads, from fcgi-app/config.c
# (the names passed to its getters), one per line.
cw_config_vars() {
	grep -oE '(get_ll|get_int|get_str|lookup|lookup_secret)\(&?ef, "[A-Z][A-Z0-9_]*"' \
		"$CW_ROOT/fcgi-app/config.c" | sed -E 's/.*"([A-Z0-9_]+)"$/\1/' | sort -u
}

# cw_in_container: true inside docker, podman, nspawn/LXC or Kubernetes
# (the same test as claude-web's refusal to run as root elsewhere).
cw_in_container() {
	[ -e /.dockerenv ] || [ -e /run/.containerenv ] || [ -n "${container+x}" ] ||
		[ -n "${KUBERNETES_SERVICE_HOST+x}" ] ||
		tr '\0' '\n' </proc/1/environ 2>/dev/null | grep -q '^container='
}

# ---- the admin's env-file (STATE_DIR/claude-web.local.env) -------------------------
# Parsed here with claude-web's own rules (fcgi-app/config.c envfile_read):
# KEY=VALUE lines, blank lines and '#' comments skipped, an optional
# "export " prefix, blanks around the key and the value trimmed, a value in
# matching single or double quotes unwrapped (no escapes). Never sourced.

# Variables start.sh itself acts on: their value in the admin file wins over
# the environment *before* start.sh uses them. They need a restart to change
# (reload.sh says so), except those in CW_RELOADABLE_STACK_VARS.
# shellcheck disable=SC2034 # used by start.sh and reload.sh
CW_STACK_VARS="HTTPS_PORT HTTP_PORT PUBLIC_HOST TLS_CERT TLS_KEY SSE_MAX_CONN
	NGINX_WORKER_PROCESSES REDIS_MAXMEMORY START_TIMEOUT CODE_SERVER CODE_SERVER_PORT
	CODE_SERVER_PREFIX ADMIN_USER"
# shellcheck disable=SC2034
CW_START_CONFIG_VARS="REDIS_URL API_SOCKET STREAM_SOCKET LOG_FILE WORKSPACE_PATH ALLOW_ROOT"
# shellcheck disable=SC2034
CW_RELOADABLE_STACK_VARS="PUBLIC_HOST SSE_MAX_CONN"

# cw_local_env_read FILE: fills CW_LOCAL (NAME -> unwrapped value),
# CW_LOCAL_NAMES (names in file order, each once; the last assignment wins)
# and CW_LOCAL_LINES ("NAME=VALUE" as written, for claude-web to parse
# again). A missing FILE is an empty one. Prints "FILE:LINE: problem" for
# each bad line and returns 1 if there is one.
declare -gA CW_LOCAL=()
cw_local_env_read() {
	local f=$1 line k v n=0 bad=0
	CW_LOCAL=()
	CW_LOCAL_NAMES=()
	CW_LOCAL_LINES=()
	[ -e "$f" ] || return 0
	if [ ! -r "$f" ] || [ -d "$f" ]; then
		printf '%s: cannot read it\n' "$f"
		return 1
	fi
	while IFS= read -r line || [ -n "$line" ]; do
		n=$((n + 1))
		line=${line%$'\r'}
		line=${line#"${line%%[!$' \t']*}"}
		case $line in '' | '#'*) continue ;; esac
		case $line in 'export '*) line=${line#export } ;; esac
		case $line in
		*=*) ;;
		*)
			printf '%s:%s: expected KEY=VALUE\n' "$f" "$n"
			bad=1
			continue
			;;
		esac
		k=${line%%=*}
		k=${k%"${k##*[!$' \t']}"}
		if [[ ! $k =~ ^[A-Za-z_][A-Za-z0-9_]*$ ]]; then
			printf '%s:%s: invalid variable name\n' "$f" "$n"
			bad=1
			continue
		fi
		v=${line#*=}
		v=${v#"${v%%[!$' \t']*}"}
		v=${v%"${v##*[!$' \t']}"}
		CW_LOCAL_LINES+=("$k=$v")
		if [ "${#v}" -ge 2 ]; then
			case $v in
			\"*\" | \'*\') v=${v:1:${#v}-2} ;;
			esac
		fi
		[ -n "${CW_LOCAL[$k]+x}" ] || CW_LOCAL_NAMES+=("$k")
		CW_LOCAL[$k]=$v
	done <"$f"
	return "$bad"
}

# cw_envfile_get FILE NAME: the value of NAME in an env-file written by
# cw_merge_env (last assignment, quotes unwrapped); fails when unset.
cw_envfile_get() {
	local v
	v=$(sed -n "s/^$2=//p" "$1" | tail -n 1)
	[ -n "$v" ] || return 1
	if [ "${#v}" -ge 2 ]; then
		case $v in \"*\" | \'*\') v=${v:1:${#v}-2} ;; esac
	fi
	printf '%s\n' "$v"
}

# cw_nginx_env_from ENVFILE: exports the settings nginx.conf.in is rendered
# with that live in claude-web's env-file (render-conf.sh derives the real-IP
# and upstream lines from them); unset when the file does not set them.
CW_NGINX_FROM_ENV="TRUSTED_PROXIES FASTCGI_API_SERVERS FASTCGI_STREAM_SERVERS API_LISTEN STREAM_LISTEN"
cw_nginx_env_from() {
	local v val
	for v in $CW_NGINX_FROM_ENV; do
		if val=$(cw_envfile_get "$1" "$v"); then
			export "$v=$val"
		else
			unset "$v"
		fi
	done
}

# cw_merge_env GENERATED OUT: writes OUT (0600, atomically): GENERATED, then
# the admin's lines (CW_LOCAL_LINES, from cw_local_env_read), which win
# since claude-web takes the last assignment of a name.
cw_merge_env() {
	cw_merge_env_print "$1" >"$2.tmp"
	chmod 0600 "$2.tmp"
	mv -f -- "$2.tmp" "$2"
}

# cw_merge_env_print GENERATED: what cw_merge_env writes, on stdout.
cw_merge_env_print() {
	local gen=$1 l
	{
		echo "# Written by scripts/start.sh and scripts/reload.sh: do not edit, it is rewritten."
		echo "# Your settings go in $CW_LOCAL_ENV_FILE (docs/configuration.md)."
		echo "# claude-web starts with an empty environment: this file is its whole configuration."
		echo "# ---- generated by scripts/start.sh (its defaults and environment) ----"
		grep -v '^#' -- "$gen" || true
		echo "# ---- $CW_LOCAL_ENV_FILE (wins: the last assignment counts) ----"
		for l in "${CW_LOCAL_LINES[@]}"; do
			printf '%s\n' "$l"
		done
	}
}

# cw_local_env_template FILE: creates the admin's file (comments only), once.
cw_local_env_template() {
	[ -e "$1" ] && return 0
	(
		umask 077
		cat >"$1.tmp" <<EOF
# claude-web.local.env: your settings for the claude-web of $STATE_DIR.
# scripts/start.sh and scripts/reload.sh read this file and never rewrite it.
# It wins over start.sh's defaults and over the environment start.sh runs in.
#
# KEY=VALUE lines ('#' comments, optional "export ", optional quotes): any
# variable of docs/configuration.md, and start.sh's HTTPS_PORT, HTTP_PORT,
# PUBLIC_HOST, TLS_CERT, TLS_KEY, SSE_MAX_CONN, REDIS_MAXMEMORY,
# NGINX_WORKER_PROCESSES, CODE_SERVER... Secrets: prefer NAME_FILE=/path (0600).
#
# Apply a change with scripts/reload.sh (make reload): it checks everything
# first and keeps the running configuration when something is wrong. Ports,
# TLS, sockets, REDIS_URL, WORKSPACE_PATH, LOG_FILE, REDIS_MAXMEMORY and
# code-server need a restart (scripts/stop.sh && scripts/start.sh).
#
# Examples:
# MAX_FILE_SIZE=52428800
# API_WORKERS=8
# LOG_LEVEL=debug
EOF
	) && mv -f -- "$1.tmp" "$1"
}

# cw_config_status_set KEY=VALUE...: updates STATE_DIR/run/config-status
# (what status.sh shows), keeping its other keys.
cw_config_status_set() {
	local kv keep f=$CW_CONFIG_STATUS
	keep=$(printf '%s\n' "$@" | sed 's/=.*//' | paste -sd'|')
	{
		if [ -r "$f" ]; then grep -vE "^($keep)=" -- "$f" || true; fi
		for kv in "$@"; do
			printf '%s\n' "${kv//$'\n'/; }"
		done
	} >"$f.tmp"
	mv -f -- "$f.tmp" "$f"
}

# cw_config_status_get KEY: a value from STATE_DIR/run/config-status.
cw_config_status_get() {
	[ -r "$CW_CONFIG_STATUS" ] || return 1
	sed -n "s/^$1=//p" "$CW_CONFIG_STATUS" | tail -n 1
}

# cw_now: the time, as the logs write it.
cw_now() { date -u +%Y-%m-%dT%H:%M:%SZ; }

# ---- redis-cli against REDIS_URL ---------------------------------------------------
# cw_pct_decode S: S with its %XX escapes decoded (REDIS_URL's user and password).
cw_pct_decode() {
	local s=${1//\\/\\\\}
	printf '%b' "${s//%/\\x}"
}

# cw_redis_hostport SPEC DEFPORT: "host[:port]" or "[v6][:port]" -> "HOST PORT".
cw_redis_hostport() {
	local s=$1 h p=$2
	case $s in
	\[*\]:*) h=${s%]:*} h=${h#[} p=${s##*]:} ;;
	\[*\]) h=${s#[} h=${h%]} ;;
	*:*:*) return 1 ;;
	*:*) h=${s%:*} p=${s##*:} ;;
	*) h=$s ;;
	esac
	[ -n "$h" ] || return 1
	case $p in '' | *[!0-9]*) return 1 ;; esac
	printf '%s %s\n' "$h" "$p"
}

# cw_redis_target URL: how redis-cli reaches the Redis of a REDIS_URL, parsed
# like claude-web does (fcgi-app/redisurl.c, docs/redis.md). Sets CW_RCLI_ARGS
# (-s SOCK | -h HOST -p PORT, then -n DB and --user USER), CW_RCLI_PASS (the
# URL's password, percent-decoded; give it to redis-cli as REDISCLI_AUTH,
# never on the command line), CW_RCLI_DB, CW_RCLI_KIND (unix|tcp|sentinel),
# CW_RCLI_SOCK (unix), CW_RCLI_MASTER (sentinel: "host:port" found). For
# redis+sentinel:// it asks the sentinels in order (3 s each; password from
# REDIS_SENTINEL_PASSWORD or REDIS_SENTINEL_PASSWORD_FILE) for the master.
# Fails with CW_RCLI_ERR set (never holding the password).
# shellcheck disable=SC2034 # CW_RCLI_* are for the callers
cw_redis_target() {
	local url=$1 rest auth='' user='' hosts path='' db=0 master hp h p s out spw=''
	CW_RCLI_ARGS=() CW_RCLI_PASS='' CW_RCLI_DB=0 CW_RCLI_KIND='' CW_RCLI_SOCK=''
	CW_RCLI_MASTER='' CW_RCLI_ERR=''
	case $url in
	unix://*)
		rest=${url#unix://}
		case $rest in *\?db=*) db=${rest##*\?db=} rest=${rest%%\?*} ;; esac
		case $rest in /*) ;; *) CW_RCLI_ERR="unix:// needs an absolute path" && return 1 ;; esac
		CW_RCLI_KIND=unix CW_RCLI_SOCK=$rest
		CW_RCLI_ARGS=(-s "$rest")
		;;
	rediss://* | rediss+sentinel://*)
		CW_RCLI_ERR="rediss:// (TLS) is not supported: run a stunnel client and point REDIS_URL at its local port (docs/redis.md)"
		return 1
		;;
	redis://* | redis+sentinel://*)
		CW_RCLI_KIND=tcp rest=${url#redis://}
		case $url in redis+sentinel://*) CW_RCLI_KIND=sentinel rest=${url#redis+sentinel://} ;; esac
		# The userinfo runs to the last '@' (like claude-web).
		case $rest in *@*) auth=${rest%@*} rest=${rest##*@} ;; esac
		case $auth in
		'') ;;
		*:*) user=$(cw_pct_decode "${auth%%:*}") CW_RCLI_PASS=$(cw_pct_decode "${auth#*:}") ;;
		*) user=$(cw_pct_decode "$auth") ;;
		esac
		hosts=${rest%%/*}
		case $rest in */*) path=${rest#*/} ;; esac
		if [ "$CW_RCLI_KIND" = tcp ]; then
			db=${path:-0}
			hp=$(cw_redis_hostport "$hosts" 6379) || {
				CW_RCLI_ERR="bad host[:port] in REDIS_URL (an IPv6 address goes in brackets: [::1]:6379)"
				return 1
			}
			read -r h p <<<"$hp"
			CW_RCLI_ARGS=(-h "$h" -p "$p")
		else
			master=${path%%/*}
			case $path in */*) db=${path#*/} ;; esac
			db=${db:-0}
			[ -n "$master" ] || {
				CW_RCLI_ERR="redis+sentinel:// needs the master's name: .../MASTER[/db]"
				return 1
			}
			if [ -n "${REDIS_SENTINEL_PASSWORD:-}" ]; then
				spw=$REDIS_SENTINEL_PASSWORD
			elif [ -n "${REDIS_SENTINEL_PASSWORD_FILE:-}" ]; then
				spw=$(head -n 1 -- "$REDIS_SENTINEL_PASSWORD_FILE") || {
					CW_RCLI_ERR="cannot read REDIS_SENTINEL_PASSWORD_FILE $REDIS_SENTINEL_PASSWORD_FILE"
					return 1
				}
			fi
			CW_RCLI_ERR="no sentinel of REDIS_URL answered for master $master"
			for s in ${hosts//,/ }; do
				hp=$(cw_redis_hostport "$s" 26379) || {
					CW_RCLI_ERR="bad sentinel host[:port] in REDIS_URL: $s"
					return 1
				}
				read -r h p <<<"$hp"
				if [ -n "$spw" ]; then
					out=$(REDISCLI_AUTH=$spw timeout 3 redis-cli --no-auth-warning -h "$h" -p "$p" \
						SENTINEL get-master-addr-by-name "$master" 2>/dev/null) || continue
				else
					out=$(env -u REDISCLI_AUTH timeout 3 redis-cli -h "$h" -p "$p" \
						SENTINEL get-master-addr-by-name "$master" 2>/dev/null) || continue
				fi
				out=$(printf '%s\n' "$out" | tr -d '\r' | head -n 2 | tr '\n' ' ')
				read -r h p <<<"$out"
				case $p in '' | *[!0-9]*) continue ;; esac
				CW_RCLI_ERR='' CW_RCLI_ARGS=(-h "$h" -p "$p")
				case $h in *:*) CW_RCLI_MASTER="[$h]:$p" ;; *) CW_RCLI_MASTER="$h:$p" ;; esac
				break
			done
			[ -z "$CW_RCLI_ERR" ] || return 1
		fi
		;;
	*)
		CW_RCLI_ERR="expected redis://[user:password@]host[:port][/db], unix:///path[?db=N] or redis+sentinel://host[:port],.../MASTER[/db]"
		return 1
		;;
	esac
	case $db in '' | *[!0-9]*)
		CW_RCLI_ERR="REDIS_URL: the database must be a number"
		return 1
		;;
	esac
	CW_RCLI_DB=$db
	CW_RCLI_ARGS+=(-n "$db")
	[ -z "$user" ] || CW_RCLI_ARGS+=(--user "$user")
	return 0
}

# cw_redis_url_safe URL: URL with its password masked, for messages.
cw_redis_url_safe() {
	printf '%s\n' "$1" | sed -E 's#^([a-z+]+://)([^:@/]*:).*@#\1\2***@#'
}
