#!/usr/bin/env bash
# status.sh: prints running/stopped (with pid) for each component of the
# claude-web stack of STATE_DIR (default <repo>/var), and the /api/health
# answer when nginx is up. Exit 0 if every component runs, 3 otherwise
# (the LSB convention for "not running").
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

echo "state dir:  $STATE_DIR"
if [ "${external_redis:-0}" = 1 ]; then
	printf '%-11s external (REDIS_URL)\n' "redis:"
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

if [ -n "$https_port" ] && cw_running "$CW_NGINX_PIDFILE" nginx >/dev/null; then
	url="https://localhost:$https_port/"
	echo "url:        $url"
	body=$(curl -ks --max-time 5 -w '\n%{http_code}' "${url}api/health" 2>/dev/null || true)
	code=${body##*$'\n'}
	body=${body%$'\n'*}
	echo "health:     HTTP ${code:-000} ${body}"
fi
exit "$all"
