#!/usr/bin/env bash
# stop.sh: stops the claude-web stack of STATE_DIR (default <repo>/var):
# nginx (SIGQUIT: finish in-flight requests), code-server (its whole process
# group, SIGTERM then SIGKILL after 10 s), then the claude-web master
# (SIGQUIT: graceful; SIGINT, the fast stop, after STOP_TIMEOUT, default
# 15 s), then redis (SIGTERM: flushes the AOF and saves). Idempotent:
# stopping a stopped stack succeeds.
#
# On SIGQUIT (or SIGTERM) a runner hands its run off at the next step
# boundary: another runner (of another replica, or of this one after the
# next start) goes on from there. STOP_TIMEOUT bounds the wait for that
# boundary; a run cut off is resumed, its interrupted step redone.
#
# Open SSE streams keep a gracefully quitting nginx alive, so nginx gets
# NGINX_STOP_TIMEOUT seconds (default 10) before SIGTERM.
set -euo pipefail

CW_PROG=stop
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
STOP_TIMEOUT=${STOP_TIMEOUT:-15}
NGINX_STOP_TIMEOUT=${NGINX_STOP_TIMEOUT:-10}

if [ ! -d "$STATE_DIR" ]; then
	cw_log "nothing to stop: $STATE_DIR does not exist"
	exit 0
fi

cw_stop nginx "$CW_NGINX_PIDFILE" QUIT "$NGINX_STOP_TIMEOUT"

# code-server (started by start.sh in its own process group): SIGTERM to the
# group, SIGKILL to what is left after 10 s, the extension hosts it forked
# included. /code/ goes off with the snippet nginx.conf.in includes.
cs_pidfile=$CW_RUN_DIR/code-server.pid
if cs_pid=$(cw_running "$cs_pidfile" code-server); then
	cw_log "code-server: stopping (pid $cs_pid and its process group, SIGTERM)"
	kill -TERM -- "-$cs_pid" 2>/dev/null || kill -TERM "$cs_pid" 2>/dev/null || true
	cw_wait_gone "$cs_pid" 10 || cw_warn "code-server: still running after 10s; sending SIGKILL"
	kill -KILL -- "-$cs_pid" 2>/dev/null || true
	cw_wait_gone "$cs_pid" 2 || true
	cw_log "code-server: stopped"
else
	cw_log "code-server: not running"
fi
rm -f -- "$cs_pidfile" "$CW_NGINX_DIR/code-server.conf"
cw_stop claude-web "$CW_MASTER_PIDFILE" QUIT "$STOP_TIMEOUT" INT
cw_stop redis-server "$CW_REDIS_PIDFILE" TERM 30

# Sockets a crashed process may have left behind (each server unlinks its own
# on a clean exit; a stale one would only confuse the next start's checks).
for s in "$CW_RUN_DIR"/*.sock; do
	[ -S "$s" ] && rm -f -- "$s"
done
exit 0
