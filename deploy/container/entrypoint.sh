#!/bin/bash
# claude-web-entrypoint [COMMAND...]: the app container's entry point (under
# tini). With no command, or "claude-web ...": prepares the workspace,
# creates the first admin when no user exists yet (ADMIN_USER, default
# admin; password from ADMIN_PASSWORD_FILE, a compose secret; skipped when
# that is unset), then execs claude-web, which reads its whole configuration
# from the environment (secrets as NAME_FILE). Anything else is executed as
# given (claude-web-admin user list, bash...).
#
# ENTRYPOINT_REDIS_WAIT  seconds to wait for Redis before the admin step (60)
set -euo pipefail

log() { printf 'claude-web-entrypoint: %s\n' "$*" >&2; }

if [ $# -eq 0 ]; then
	set -- claude-web
fi
case $1 in
claude-web | /usr/bin/claude-web) ;;
*) exec "$@" ;;
esac

ws=${WORKSPACE_PATH:-/app/workspace}
mkdir -p "$ws/sessions" "$ws/shared/templates" "$ws/shared/libraries" ||
	log "warning: cannot create the directories of WORKSPACE_PATH=$ws (is the volume writable by uid $(id -u)?)"

# The configuration as claude-web sees it, checked before anything else.
if ! problems=$(claude-web -t 2>&1); then
	printf '%s\n' "$problems" >&2
	log "invalid configuration (claude-web -t); not starting"
	exit 78
fi

# ---- the first admin ------------------------------------------------------------
# Several replicas may race here: a second "user add" fails with "exists",
# which is fine. The password never reaches claude-web's environment.
if [ -n "${ADMIN_PASSWORD_FILE:-}" ]; then
	if [ ! -r "$ADMIN_PASSWORD_FILE" ]; then
		log "warning: ADMIN_PASSWORD_FILE=$ADMIN_PASSWORD_FILE is not readable by uid $(id -u); no first admin"
	else
		deadline=$((SECONDS + ${ENTRYPOINT_REDIS_WAIT:-60}))
		while ! users=$(claude-web-admin user list 2>/dev/null); do
			if [ "$SECONDS" -ge "$deadline" ]; then
				log "warning: Redis did not answer within ${ENTRYPOINT_REDIS_WAIT:-60}s; no first admin"
				users=''
				break
			fi
			sleep 1
		done
		if [ -n "$users" ] && [ "$(printf '%s\n' "$users" | sed -n '2,$p' | grep -c .)" -eq 0 ]; then
			name=${ADMIN_USER:-admin}
			if head -n 1 -- "$ADMIN_PASSWORD_FILE" |
				claude-web-admin user add "$name" --role admin >/dev/null 2>&1; then
				log "created the first admin user '$name' (password from ADMIN_PASSWORD_FILE)"
			else
				log "the first admin user '$name' was not created (another replica may have made it)"
			fi
		fi
	fi
fi
unset ADMIN_PASSWORD_FILE ADMIN_USER ENTRYPOINT_REDIS_WAIT

exec "$@"
