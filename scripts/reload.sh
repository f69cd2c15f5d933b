#!/usr/bin/env bash
# reload.sh: applies a changed configuration to the running claude-web stack
# of STATE_DIR (default <repo>/var) without a restart.
#
#   scripts/reload.sh            check, then apply
#   scripts/reload.sh --check    check only (nothing changes)
#
# Your settings live in STATE_DIR/claude-web.local.env (start.sh creates it
# once and never rewrites it; docs/configuration.md). This script
#   1. checks it (syntax, with file:line) and merges it after start.sh's
#      part (STATE_DIR/run/generated.env) into a candidate env-file,
#   2. checks the candidate with `claude-web -t` and renders nginx.conf from
#      it (client_max_body_size follows MAX_FILE_SIZE; SSE_MAX_CONN and
#      PUBLIC_HOST may change too) into a temporary file checked by `nginx -t`,
#   3. only then applies both: the candidate becomes STATE_DIR/claude-web.env,
#      SIGHUP to the claude-web master (a new worker generation; the old one
#      drains), the new nginx.conf and SIGHUP to nginx.
# It prints the outcome on stdout ("reloaded: ..."), every problem on stderr,
# and records the generation and the result in STATE_DIR/run/config-status
# (scripts/status.sh shows them).
#
# Exit status: 0 applied (or, with --check, valid); 1 refused: something is
# invalid, nothing was changed and the running configuration keeps serving;
# 3 the stack is not running. The environment of this script is not read:
# settings come from the files above only. Ports, TLS, sockets, REDIS_URL,
# WORKSPACE_PATH, LOG_FILE, REDIS_MAXMEMORY, NGINX_WORKER_PROCESSES and
# code-server need a restart (scripts/stop.sh && scripts/start.sh); a change
# to one of them is reported as such.
set -euo pipefail

CW_PROG=reload
# shellcheck source=scripts/lib-common.sh
. "$(dirname "$0")/lib-common.sh"

check_only=0
case ${1:-} in
-h | --help)
	cw_usage "$0"
	exit 0
	;;
-n | --check) check_only=1 ;;
'') ;;
*)
	cw_log "unknown argument: $1 (try --help)"
	exit 2
	;;
esac

cw_state_init
cw_env_init

master_pid=$(cw_running "$CW_MASTER_PIDFILE" claude-web) || {
	cw_log "claude-web is not running in $STATE_DIR (scripts/start.sh starts it)"
	exit 3
}
nginx_pid=$(cw_running "$CW_NGINX_PIDFILE" nginx) || {
	cw_log "nginx is not running in $STATE_DIR (scripts/stop.sh && scripts/start.sh)"
	exit 3
}
for f in "$CW_GEN_ENV_FILE" "$CW_STACK_FILE" "$CW_RUN_DIR/nginx.env" "$CW_RUN_DIR/start-settings.env"; do
	[ -r "$f" ] || cw_die "$f is missing: this stack was started by an older start.sh; restart it once (scripts/stop.sh && scripts/start.sh)"
done
BIN=$(sed -n 's/^BIN=//p' "$CW_STACK_FILE")
[ -x "$BIN" ] || cw_die "the claude-web binary of this stack is gone: $BIN"

# One reload at a time.
exec 9>"$CW_RUN_DIR/reload.lock"
flock -n 9 || cw_die "another reload.sh is running in $STATE_DIR"

candidate=$CW_RUN_DIR/claude-web.env.new
nginx_new=$CW_NGINX_DIR/nginx.conf.new
cleanup() { rm -f -- "$candidate" "$candidate.tmp" "$nginx_new"; }
trap cleanup EXIT

gen=$(cw_config_status_get GENERATION || true)
gen=${gen:-1}

# refuse SUMMARY [PROBLEM...]: prints the problems, records the refusal,
# exits 1. Nothing has been changed when this is called.
refuse() {
	local summary=$1 p
	shift
	for p in "$@"; do
		printf '  %s\n' "$p" >&2
	done
	cw_log "refused: $summary"
	cw_log "nothing was changed: the running configuration (generation $gen) keeps serving"
	if [ "$check_only" -eq 0 ]; then
		cw_config_status_set "LAST_RELOAD=refused" "LAST_RELOAD_AT=$(cw_now)" \
			"LAST_RELOAD_DETAIL=$summary${1:+: $(printf '%s; ' "$@" | sed 's/; $//')}"
	fi
	exit 1
}

# ---- 1. the admin's file --------------------------------------------------------
if ! problems=$(cw_local_env_read "$CW_LOCAL_ENV_FILE"); then
	mapfile -t lines <<<"$problems"
	refuse "invalid $CW_LOCAL_ENV_FILE" "${lines[@]}"
fi
cw_local_env_read "$CW_LOCAL_ENV_FILE"

# The settings start.sh acted on (those need a restart), and what nginx.conf
# was rendered with.
declare -A started=() ngx=()
while IFS='=' read -r k v; do
	[ -n "$k" ] && started[$k]=$v
done <"$CW_RUN_DIR/start-settings.env"
while IFS='=' read -r k v; do
	[ -n "$k" ] && ngx[$k]=$v
done <"$CW_RUN_DIR/nginx.env"
known=" $(cw_config_vars | tr '\n' ' ') $(echo $CW_STACK_VARS) "
restart_vars=" $(echo $CW_STACK_VARS $CW_START_CONFIG_VARS) "
for v in "${CW_LOCAL_NAMES[@]}"; do
	case $known in
	*" $v "*) ;;
	*" ${v%_FILE} "*) ;;
	*)
		cw_warn "$CW_LOCAL_ENV_FILE: $v is not a claude-web or start.sh setting (ignored)"
		continue
		;;
	esac
	case " $CW_RELOADABLE_STACK_VARS " in *" $v "*) continue ;; esac
	case $restart_vars in
	*" $v "*)
		if [ "${started[$v]-}" != "${CW_LOCAL[$v]}" ]; then
			cw_warn "$v=${CW_LOCAL[$v]} is not what this stack started with: it needs a restart (scripts/stop.sh && scripts/start.sh)"
		fi
		;;
	esac
done

# ---- 2. claude-web -t on the merged configuration --------------------------------
cw_merge_env "$CW_GEN_ENV_FILE" "$candidate"
rc=0
problems=$(cw_clean_env "$BIN" --config "$candidate" -t 2>&1) || rc=$?
if [ "$rc" -ne 0 ]; then
	# Say where each bad value comes from; the candidate's name means nothing
	# to the admin.
	lines=()
	while IFS= read -r l; do
		case $l in *"invalid configuration in environment and"*) continue ;; esac
		l=${l#claude-web: }
		name=$(sed -n 's/^config: \([A-Z][A-Z0-9_]*\): .*/\1/p' <<<"$l")
		if [ -n "$name" ]; then
			if [ -n "${CW_LOCAL[$name]+x}${CW_LOCAL[${name}_FILE]+x}" ]; then
				l="$l (set in $CW_LOCAL_ENV_FILE)"
			else
				l="$l (from start.sh: $CW_GEN_ENV_FILE)"
			fi
		fi
		lines+=("${l//$candidate/$CW_ENV_FILE}")
	done <<<"$problems"
	refuse "invalid configuration (claude-web -t exited $rc)" "${lines[@]}"
fi

# ---- 3. nginx.conf rendered from it, nginx -t -------------------------------------
max_file=$(cw_envfile_get "$candidate" MAX_FILE_SIZE) || max_file=10485760
case $max_file in '' | *[!0-9]*) refuse "MAX_FILE_SIZE must be a number of bytes, got '$max_file'" ;; esac
sse=${CW_LOCAL[SSE_MAX_CONN]-${ngx[SSE_MAX_CONN]}}
case $sse in '' | *[!0-9]* | 0) refuse "SSE_MAX_CONN must be a positive number, got '$sse'" ;; esac
public_host=${CW_LOCAL[PUBLIC_HOST]-${ngx[PUBLIC_HOST]}}
[[ $public_host =~ ^([A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?|\[[0-9A-Fa-f:.]+\])$ ]] ||
	refuse "PUBLIC_HOST must be a host name, an IPv4 address or [IPv6], got '$public_host'"
nginx_workers=${ngx[NGINX_WORKER_PROCESSES]:-auto}
rc=0
problems=$(
	while IFS='=' read -r k v; do
		[ -n "$k" ] && export "$k=$v"
	done <"$CW_RUN_DIR/nginx.env"
	export MAX_BODY_SIZE=$((max_file + 1048576)) SSE_MAX_CONN=$sse PUBLIC_HOST=$public_host
	cw_nginx_env_from "$candidate"
	"$CW_ROOT/scripts/render-conf.sh" "$CW_ROOT/nginx/nginx.conf.in" "$nginx_new" 2>&1
) || rc=$?
[ "$rc" -eq 0 ] || refuse "could not render nginx.conf" "$problems"
if [ "$(id -u)" -ne 0 ]; then
	sed -i '/^user /d' "$nginx_new" # as in start.sh: only root may switch users
fi
nginx_args=(-p "$CW_NGINX_DIR" -g "worker_processes $nginx_workers;")
rc=0
problems=$(cw_clean_env nginx "${nginx_args[@]}" -c "$nginx_new" -t 2>&1) || rc=$?
if [ "$rc" -ne 0 ]; then
	mapfile -t lines < <(printf '%s\n' "$problems" | grep -v 'test is successful\|syntax is ok')
	refuse "nginx -t failed on the new nginx.conf" "${lines[@]}"
fi

if [ "$check_only" -eq 1 ]; then
	echo "valid: $CW_LOCAL_ENV_FILE and the nginx.conf it makes pass claude-web -t and nginx -t (nothing applied)"
	exit 0
fi

# ---- 4. apply: claude-web --------------------------------------------------------------
log_file=$(cw_envfile_get "$CW_ENV_FILE" LOG_FILE) || log_file=$CW_LOG_DIR/claude-web.stderr
log_size() { stat -c %s -- "$log_file" 2>/dev/null || echo 0; }
# log_since OFFSET: the master's log lines written after OFFSET.
log_since() { tail -c +"$(($1 + 1))" -- "$log_file" 2>/dev/null || true; }

cp -p -- "$CW_ENV_FILE" "$CW_RUN_DIR/claude-web.env.old"
mark=$(log_size)
mv -f -- "$candidate" "$CW_ENV_FILE"
kill -HUP "$master_pid" || {
	cp -p -- "$CW_RUN_DIR/claude-web.env.old" "$CW_ENV_FILE"
	refuse "could not signal the claude-web master (pid $master_pid)"
}
outcome=''
new_gen=''
for _ in $(seq 1 100); do
	out=$(log_since "$mark")
	if grep -q '"msg":"reload refused' <<<"$out"; then
		outcome=refused
		break
	fi
	new_gen=$(grep '"msg":"starting new generation"' <<<"$out" |
		sed -n 's/.*"generation":\([0-9]*\).*/\1/p' | tail -n 1)
	if [ -n "$new_gen" ]; then
		outcome=ok
		break
	fi
	cw_alive "$master_pid" || break
	sleep 0.1
done
if [ "$outcome" = refused ]; then
	# claude-web -t passed, yet the master refused (the environment it
	# started with, a file that changed meanwhile...): put the old file back.
	cp -p -- "$CW_RUN_DIR/claude-web.env.old" "$CW_ENV_FILE"
	mapfile -t lines < <(log_since "$mark" | grep '"msg":"reload refused' |
		sed -n 's/.*"problem":"\(.*\)".*/\1/p')
	refuse "the claude-web master refused the new configuration" "${lines[@]}"
fi
if [ -z "$outcome" ]; then
	cw_alive "$master_pid" || cw_die "the claude-web master (pid $master_pid) exited during the reload; see $log_file"
	# LOG_LEVEL above info hides "starting new generation"; no refusal came.
	cw_warn "the master did not log its new generation within 10 s (LOG_LEVEL above info?); assuming it applied the configuration"
	new_gen=$((gen + 1))
fi
# The new generation accepts once the old one is told to drain (the master
# waits at most 5 s for it; a loaded box may take longer to log it).
retired=0
[ "$outcome" = ok ] && for _ in $(seq 1 200); do
	if log_since "$mark" | grep -q '"msg":"reload complete'; then
		retired=1
		break
	fi
	cw_alive "$master_pid" || break
	sleep 0.1
done
[ "$retired" -eq 1 ] || [ "$outcome" != ok ] ||
	cw_warn "the old claude-web workers were not retired within 20 s; they may still answer with the old configuration"

# ---- 5. apply: nginx -----------------------------------------------------------------
old_workers=" $(pgrep -P "$nginx_pid" | tr '\n' ' ') "
mv -f -- "$nginx_new" "$CW_NGINX_CONF"
kill -HUP "$nginx_pid" || cw_die "could not signal nginx (pid $nginx_pid); claude-web runs generation $new_gen"
# Done when a worker of the new configuration runs and no old worker still
# accepts: nginx forks the new workers first and only then tells the old ones
# to quit; an old worker renames itself "worker process is shutting down" in
# the same step that closes its listening sockets (it may still finish open
# requests and streams, with the old configuration, after that).
nginx_ok=0
for _ in $(seq 1 100); do
	new_seen=0
	old_accepting=0
	for p in $(pgrep -P "$nginx_pid" || true); do
		case $old_workers in
		*" $p "*)
			title=$(tr '\0' ' ' <"/proc/$p/cmdline" 2>/dev/null || true)
			case $title in
			'' | *"shutting down"*) ;;
			*"worker process"*) old_accepting=1 ;;
			esac
			;;
		*) new_seen=1 ;;
		esac
	done
	if [ "$new_seen" -eq 1 ] && [ "$old_accepting" -eq 0 ]; then
		nginx_ok=1
		break
	fi
	sleep 0.1
done
[ "$nginx_ok" -eq 1 ] || cw_warn "nginx did not switch to the new configuration within 10 s (an old worker still accepts); see $CW_LOG_DIR/nginx-error.log"

sha=$(sha256sum "$CW_ENV_FILE" | cut -c1-12)
detail="claude-web generation $new_gen, nginx client_max_body_size $((max_file + 1048576)) (MAX_FILE_SIZE $max_file)"
cw_config_status_set "GENERATION=$new_gen" "LOADED_AT=$(cw_now)" "CONFIG_SHA=$sha" \
	"LAST_RELOAD=ok" "LAST_RELOAD_AT=$(cw_now)" "LAST_RELOAD_DETAIL=$detail"
echo "reloaded: $detail, config $sha"
