#!/usr/bin/env bash
# status.sh: prints running/stopped (with pid) for each component of the
# claude-web stack of STATE_DIR (default <repo>/var), and the /api/health
# answer when nginx is up; while claude-web runs, its configuration
# generation, the last reload's result (scripts/reload.sh) and whether
# STATE_DIR/claude-web.local.env has changes not applied yet. Exit 0 if
# every component runs, 3 otherwise (the LSB convention for "not running").
set -euo pipefail

CW_PROG=status
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
https_port='' external_redis=0
if [ -r "$CW_STACK_FILE" ]; then
	https_port=$(sed -n 's/^HTTPS_PORT=//p' "$CW_STACK_FILE")
	external_redis=$(sed -n 's/^EXTERNAL_REDIS=//p' "$CW_STACK_FILE")
fi

all=0
report() { # report LABEL PIDFILE NAME
	local pid
	if pid=$(cw_running "$2" "$3"); then
		local extra=''
		if [ "$3" = claude-web ]; then
			extra=", $(pgrep -c -P "$pid" 2>/dev/null || echo 0) workers"
		fi
		printf '%-11s running (pid %s%s)\n' "$1:" "$pid" "$extra"
	else
		printf '%-11s stopped\n' "$1:"
		all=3
	fi
}

# external_redis_status: "URL (password masked): PING ok|failed", with the
# master the sentinels name for redis+sentinel://; in a subshell, since
# lib-backup.sh dies on an unusable REDIS_URL.
external_redis_status() (
	# shellcheck source=scripts/lib-backup.sh
	. "$CW_ROOT/scripts/lib-backup.sh"
	CWB_ENV_FILE=''
	if ! err=$( (cwb_resolve) 2>&1 >/dev/null); then
		printf '%s\n' "${err#"$CW_PROG: error: "}" | head -n 1
		exit 0
	fi
	cwb_resolve 2>/dev/null
	how=$(cwb_url_safe)
	[ -z "$CW_RCLI_MASTER" ] || how="$how: master $CW_RCLI_MASTER"
	if [ "$(REDISCLI_AUTH=$CWB_REDIS_PASSWORD timeout 3 redis-cli --no-auth-warning "${CWB_RCLI[@]}" PING 2>/dev/null)" = PONG ]; then
		echo "$how, PING ok"
	else
		echo "$how, PING failed"
	fi
)

echo "state dir:  $STATE_DIR"
if [ "${external_redis:-0}" = 1 ]; then
	printf '%-11s external %s\n' "redis:" "$(external_redis_status)"
else
	report redis "$CW_REDIS_PIDFILE" redis-server
fi
report claude-web "$CW_MASTER_PIDFILE" claude-web
report nginx "$CW_NGINX_PIDFILE" nginx
# code-server is optional: "off" (not started: CODE_SERVER=off or not
# installed) does not make the status fail; started but dead does.
if [ -e "$CW_NGINX_DIR/code-server.conf" ] || [ -e "$CW_RUN_DIR/code-server.pid" ]; then
	report code-server "$CW_RUN_DIR/code-server.pid" code-server
else
	printf '%-11s off\n' "code-server:"
fi

# The configuration: generation, the last reload, changes not applied yet.
if cw_running "$CW_MASTER_PIDFILE" claude-web >/dev/null && [ -r "$CW_CONFIG_STATUS" ]; then
	gen=$(cw_config_status_get GENERATION)
	sha=$(cw_config_status_get CONFIG_SHA)
	echo "config:     generation ${gen:-?} since $(cw_config_status_get LOADED_AT) ($CW_ENV_FILE, sha256 ${sha:-?})"
	last=$(cw_config_status_get LAST_RELOAD)
	case $last in
	none | '') echo "reload:     none since the start" ;;
	*) echo "reload:     $last at $(cw_config_status_get LAST_RELOAD_AT): $(cw_config_status_get LAST_RELOAD_DETAIL)" ;;
	esac
	if [ -r "$CW_GEN_ENV_FILE" ]; then
		if ! cw_local_env_read "$CW_LOCAL_ENV_FILE" >/dev/null; then
			echo "pending:    $CW_LOCAL_ENV_FILE has errors (scripts/reload.sh --check lists them)"
		elif [ "$(cw_merge_env_print "$CW_GEN_ENV_FILE" | sha256sum | cut -c1-12)" != "$sha" ]; then
			echo "pending:    $CW_LOCAL_ENV_FILE changed since it was loaded (scripts/reload.sh applies it)"
		fi
	fi
fi

if [ -n "$https_port" ] && cw_running "$CW_NGINX_PIDFILE" nginx >/dev/null; then
	url="https://localhost:$https_port/"
	echo "url:        $url"
	body=$(curl -ks --max-time 5 -w '\n%{http_code}' "${url}api/health" 2>/dev/null || true)
	code=${body##*$'\n'}
	body=${body%$'\n'*}
	echo "health:     HTTP ${code:-000} ${body}"
fi
exit "$all"
