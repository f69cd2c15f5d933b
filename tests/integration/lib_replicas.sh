# shellcheck shell=bash
# tests/integration/lib_replicas.sh: two claude-web replica stacks behind the
# shipped load balancer (deploy/lb/nginx-lb.conf.in), as an operator runs
# them. Source it after lib.sh, lib_auth.sh and lib_agent.sh.
#
# Shared by the replicas: one Redis on loopback TCP (REDIS_URL, password),
# one SECRET_KEY_FILE, one WORKSPACE_PATH, the fake Anthropic API. Each
# replica is made by scripts/start.sh on its own STATE_DIR ($T/A, $T/B: its
# own run dir, sockets, ports, logs and nginx) and stopped by scripts/stop.sh.
#
# Setup:   rep_redis_up (REDIS_TCP_PORT, REDIS_URL_TCP), rep_ports NAME
#          (REP_PORT[NAME], REP_HTTP[NAME], REP_ID[NAME] = its INSTANCE_ID),
#          rep_start NAME (start.sh),
#          rep_stop NAME (stop.sh; its stderr in $T/NAME.stop), rep_stop_ms
#          NAME (when its master logged the start of its last stop, ms),
#          rep_kill9 NAME (SIGKILL of the master and all its
#          workers at once), rep_lb_up (render-lb.sh + nginx; LB_PORT, LB_URL),
#          rep_user NAME PASSWORD (claude-web-admin through replica A's config).
# Balancer: lb_mark, lb_served NAME, lb_uses NAME (it sends requests to NAME
#          again since the mark).
# Targets: A, B (a replica's own nginx) or LB. on TARGET CMD...: runs CMD
#          (api_get, login, api_bearer, sse_read...) against TARGET.
# Logs:    rep_log NAME (path), rep_json NAME FILTER (jq over its JSON log),
#          rep_owner RUN (the replica whose runner logged "run started" for
#          RUN last: A or B).
# REP_ENV: extra KEY=VALUE settings for every replica (before rep_start).

REPLICAS=(A B)
declare -A REP_PORT=() REP_HTTP=() REP_ID=()
REP_ENV=()
REP_SHARED=$T/shared
REDIS_TCP_PORT=''
REDIS_URL_TCP=''
LB_PORT=''
LB_URL=''
LB_PID=''
LB_DIR=$T/lb
REP_ADMIN_PW=admin-pw-$(openssl rand -hex 8)
mkdir -p "$REP_SHARED/workspace/sessions" "$REP_SHARED/workspace/shared/templates" \
	"$REP_SHARED/workspace/shared/libraries" "$LB_DIR"
openssl rand -hex 32 >"$REP_SHARED/secret_key"
chmod 0600 "$REP_SHARED/secret_key"

# ---- the shared Redis on loopback TCP --------------------------------------------
# The production template (unix socket for redis_cli) plus a TCP listener on
# 127.0.0.1 for the replicas: requirepass as always.
rep_redis_up() {
	cw_render_redis || return 1
	read -r REDIS_TCP_PORT _ <<<"$(cw_free_ports)"
	printf '\n# lib_replicas.sh: the replicas reach Redis over TCP\nport %s\nbind 127.0.0.1\n' \
		"$REDIS_TCP_PORT" >>"$REDIS_CONF"
	REDIS_URL_TCP=redis://127.0.0.1:$REDIS_TCP_PORT/0
	cw_start_redis
}

# ---- replicas ------------------------------------------------------------------------
# shellcheck disable=SC2153 # FAKE_URL: set by lib_agent.sh's fake_start
# rep_script NAME SCRIPT: scripts/SCRIPT for replica NAME, in the environment
# an operator would give it (stdout and stderr in $T/NAME.out / .err).
rep_script() {
	local name=$1 script=$2
	env -i PATH="$PATH" HOME="${HOME:-/root}" LANG=C.UTF-8 \
		STATE_DIR="$T/$name" CLAUDE_WEB_BIN="$CLAUDE_WEB" \
		HTTPS_PORT="${REP_PORT[$name]}" HTTP_PORT="${REP_HTTP[$name]}" \
		TLS_CERT="$TLS_CERT" TLS_KEY="$TLS_KEY" CODE_SERVER=off \
		NGINX_WORKER_PROCESSES=1 START_TIMEOUT=60 STOP_TIMEOUT=30 \
		ADMIN_PASSWORD="$REP_ADMIN_PW" \
		INSTANCE_ID="${REP_ID[$name]}" \
		REDIS_URL="$REDIS_URL_TCP" REDIS_PASSWORD="$REDIS_PASSWORD" \
		SECRET_KEY_FILE="$REP_SHARED/secret_key" \
		WORKSPACE_PATH="$REP_SHARED/workspace" \
		TRUSTED_PROXIES=127.0.0.1 \
		ALLOWED_ORIGINS="$LB_URL" \
		ANTHROPIC_BASE_URL="$FAKE_URL" ANTHROPIC_API_KEY=sk-ant-test \
		LOG_LEVEL=debug \
		"${REP_ENV[@]}" \
		"$TOP_SRCDIR/scripts/$script"
}

# rep_ports NAME: picks replica NAME's ports and INSTANCE_ID (once).
rep_ports() {
	local a b used
	[ -z "${REP_PORT[$1]:-}" ] || return 0
	# shellcheck disable=SC2153 # HTTP_PORT: lib.sh's
	used=" ${REP_PORT[*]} ${REP_HTTP[*]} $LB_PORT $REDIS_TCP_PORT $HTTPS_PORT $HTTP_PORT "
	while :; do
		read -r a b <<<"$(cw_free_ports)"
		case $used in *" $a "* | *" $b "*) continue ;; esac
		break
	done
	REP_PORT[$1]=$a
	REP_HTTP[$1]=$b
	REP_ID[$1]=rep-$1-$$
}

# rep_start NAME: start.sh for replica NAME (rep_ports first when run in a
# subshell, e.g. to start several at once).
rep_start() {
	local name=$1 rc=0
	rep_ports "$name"
	rep_script "$name" start.sh >"$T/$name.out" 2>"$T/$name.err" || rc=$?
	[ "$rc" -eq 0 ] || diag "start.sh of replica $name exited $rc: $(tail -n 15 "$T/$name.err")"
	return $rc
}

# rep_stop NAME: stop.sh for replica NAME (its stderr in $T/NAME.stop).
rep_stop() {
	rep_script "$1" stop.sh >/dev/null 2>"$T/$1.stop"
}

# iso_ms ISO-TIME: milliseconds since the epoch ("" if unparsable).
iso_ms() {
	date -d "$1" +%s%3N 2>/dev/null
}

# rep_stop_ms NAME: when replica NAME's master began its last stop (ms,
# from its own log line: "graceful stop...", "fast stop"...).
rep_stop_ms() {
	local ts
	ts=$(rep_json "$1" 'select(.pool == "master" and (.msg | test("^(graceful|fast) stop"))) | .ts' |
		tail -n 1 | tr -d '"')
	[ -n "$ts" ] && iso_ms "$ts"
}

# rep_master NAME: pid of replica NAME's claude-web master ("" if none).
rep_master() {
	local pid=''
	[ -r "$T/$1/run/claude-web.pid" ] && read -r pid <"$T/$1/run/claude-web.pid"
	[ -n "$pid" ] && ! pid_gone "$pid" && printf '%s\n' "$pid"
}

# rep_kill9 NAME: SIGKILL to replica NAME's master and every worker at once
# (a machine that dies); its nginx stays and answers 502.
rep_kill9() {
	local m kids
	m=$(rep_master "$1")
	[ -n "$m" ] || return 1
	kids=$(pgrep -P "$m" | tr '\n' ' ')
	# shellcheck disable=SC2086 # one pid per word
	kill -KILL "$m" $kids 2>/dev/null
	# shellcheck disable=SC2086
	wait_for 5 eval "pid_gone $m $(for k in $kids; do printf '&& pid_gone %s ' "$k"; done)"
}

rep_log() {
	printf '%s\n' "$T/$1/log/claude-web.log"
}

# rep_json NAME FILTER: jq over replica NAME's JSON log.
rep_json() {
	[ -r "$(rep_log "$1")" ] || return 0
	jq -cR "fromjson? | $2" "$(rep_log "$1")" 2>/dev/null
}

# rep_owner RUN: A or B, the replica that started RUN last ("" if none).
rep_owner() {
	local best='' bt='' n t
	for n in "${REPLICAS[@]}"; do
		t=$(rep_json "$n" "select(.msg == \"run started\" and .run_id == \"$1\") | .ts" | tail -n 1)
		[ -n "$t" ] || continue
		if [ -z "$bt" ] || [[ $t > $bt ]]; then
			bt=$t
			best=$n
		fi
	done
	printf '%s\n' "$best"
}

# rep_user NAME PASSWORD [ROLE]: a user, made with claude-web-admin against
# the shared Redis (replica A's configuration).
rep_user() {
	local -a role=()
	[ -z "${3:-}" ] || role=(--role "$3")
	env -i PATH="$PATH" HOME="${HOME:-/root}" "$ADMIN_BIN" --config "$T/A/claude-web.env" \
		user add "$1" "${role[@]}" <<<"$2" >"$ADMIN_OUT" 2>&1
}

# ---- the load balancer ---------------------------------------------------------------
rep_lb_render() {
	LB_REPLICAS="127.0.0.1:${REP_PORT[A]} 127.0.0.1:${REP_PORT[B]}" \
		LB_LISTEN=127.0.0.1:$LB_PORT LB_TLS_CERT=$TLS_CERT LB_TLS_KEY=$TLS_KEY \
		LB_NGINX_DIR=$LB_DIR LB_LOG_DIR=$LB_DIR LB_MAX_FILE_SIZE=10485760 \
		LB_REPLICA_CA=$TLS_CERT LB_REPLICA_NAME=localhost \
		"$TOP_SRCDIR/scripts/render-lb.sh" "$LB_DIR/nginx-lb.conf"
}

lb_up() {
	curl -4ks -o /dev/null --max-time 2 "$LB_URL/__lb_live" 2>/dev/null
}

# rep_lb_up: renders the template (the replicas' certificate verified, as
# recommended) and starts nginx in the foreground
# (LB_PID). LB_PORT is picked before the replicas start (their
# ALLOWED_ORIGINS name it).
rep_lb_up() {
	rep_lb_render >"$T/lb.render" 2>&1 || {
		diag "render-lb.sh failed: $(cat "$T/lb.render")"
		return 1
	}
	nginx -t -q -p "$LB_DIR" -c "$LB_DIR/nginx-lb.conf" >"$T/lb-t.out" 2>&1 || {
		diag "nginx -t of the load balancer failed: $(cat "$T/lb-t.out")"
		return 1
	}
	nginx -p "$LB_DIR" -c "$LB_DIR/nginx-lb.conf" -g 'daemon off;' >>"$LB_DIR/lb.stdout" 2>&1 &
	LB_PID=$!
	wait_for 10 lb_up || {
		diag "the load balancer did not come up: $(tail -n 5 "$LB_DIR/lb-error.log" 2>/dev/null)"
		return 1
	}
}

# lb_mark; ...; lb_served NAME: the balancer passed a request to replica
# NAME that it answered with 200 since the mark (the balancer counts it as
# up again: it leaves a failed replica alone for fail_timeout).
lb_mark() {
	LB_MARK=$(grep -c . "$LB_DIR/lb-access.log" 2>/dev/null)
}
lb_served() {
	tail -n +$((${LB_MARK:-0} + 1)) "$LB_DIR/lb-access.log" 2>/dev/null |
		jq -e --arg u "127.0.0.1:${REP_PORT[$1]}" \
			'select(.status == 200 and (.upstream | split(", ") | last) == $u)' >/dev/null 2>&1
}
# lb_uses NAME: one /api/live through the balancer, then lb_served NAME.
lb_uses() {
	curl -4ks -o /dev/null --max-time 5 "$LB_URL/api/live" 2>/dev/null
	lb_served "$1"
}

rep_lb_down() {
	[ -n "$LB_PID" ] || return 0
	kill -TERM "$LB_PID" 2>/dev/null
	wait_for 10 pid_gone "$LB_PID" || kill -KILL "$LB_PID" 2>/dev/null
	wait "$LB_PID" 2>/dev/null
	LB_PID=''
}

# on TARGET CMD...: CMD with BASE_URL and HTTPS_PORT of TARGET (A, B or LB).
on() {
	local target=$1 HTTPS_PORT BASE_URL
	shift
	case $target in
	LB) HTTPS_PORT=$LB_PORT ;;
	*) HTTPS_PORT=${REP_PORT[$target]} ;;
	esac
	# shellcheck disable=SC2034 # read by api_get, inside CMD
	BASE_URL=https://localhost:$HTTPS_PORT
	"$@"
}

# ---- cleanup ---------------------------------------------------------------------------
rep_exit() {
	local rc=$? n f pid
	# Background clients: the subshells' own children first (curl, python).
	for pid in "${BG_PIDS[@]}"; do
		pkill -P "$pid" 2>/dev/null
	done
	for n in "${REPLICAS[@]}"; do
		[ -d "$T/$n" ] || continue
		STOP_TIMEOUT=5 rep_script "$n" stop.sh >/dev/null 2>&1
	done
	rep_lb_down
	if [ "$TAP_FAILED" -gt 0 ] || [ "${CW_KEEP:-0}" = 1 ]; then
		for n in "${REPLICAS[@]}"; do
			for f in "$T/$n/log/claude-web.log" "$T/$n/log/claude-web.stderr" \
				"$T/$n/log/nginx-error.log" "$T/$n.err"; do
				[ -s "$f" ] || continue
				diag "---- last lines of $f"
				diag "$(tail -n 15 "$f")"
			done
		done
		[ -s "$LB_DIR/lb-error.log" ] && diag "---- $LB_DIR/lb-error.log
$(tail -n 15 "$LB_DIR/lb-error.log")"
	fi
	(exit "$rc")
	cw_cleanup
}
trap rep_exit EXIT

# rep_sanitizers: the replicas' stderr where tap_done looks for sanitizer
# reports.
rep_sanitizers() {
	local n
	for n in "${REPLICAS[@]}"; do
		cat "$T/$n/log/claude-web.stderr" 2>/dev/null
	done >>"$T/claude-web.stderr"
}
