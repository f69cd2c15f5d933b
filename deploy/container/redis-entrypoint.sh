#!/bin/bash
# claude-web-redis-entrypoint [ping]: renders redis/redis.conf.in for a
# container (TCP 6379 on every address instead of the unix socket, the log
# on stdout, data in /data) and execs redis-server. "ping": the health check
# (PONG with the password, exit 0).
#
#   REDIS_PASSWORD_FILE  file holding the password (required: the port is
#                        reachable from the container network)
#   REDIS_MAXMEMORY      (256mb)
set -euo pipefail

die() {
	printf 'claude-web-redis-entrypoint: error: %s\n' "$*" >&2
	exit 1
}

[ -n "${REDIS_PASSWORD_FILE:-}" ] || die "REDIS_PASSWORD_FILE is not set"
[ -r "$REDIS_PASSWORD_FILE" ] || die "REDIS_PASSWORD_FILE=$REDIS_PASSWORD_FILE is not readable by uid $(id -u)"
pw=$(head -n 1 -- "$REDIS_PASSWORD_FILE" | tr -d '\r')
[ -n "$pw" ] || die "REDIS_PASSWORD_FILE is empty"
case $pw in *[[:space:]\"\\]*) die "the Redis password must not contain blanks, quotes or backslashes" ;; esac

if [ "${1:-}" = ping ]; then
	[ "$(REDISCLI_AUTH=$pw redis-cli -h 127.0.0.1 -p 6379 ping 2>/dev/null)" = PONG ]
	exit
fi

conf=/tmp/redis.conf
(
	export REDIS_PASSWORD=$pw REDIS_MAXMEMORY=${REDIS_MAXMEMORY:-256mb} REDIS_DIR=/data \
		REDIS_SOCKET=/tmp/unused.sock REDIS_PIDFILE=/tmp/redis.pid REDIS_LOG=/dev/null
	umask 077
	/usr/share/claude-web/scripts/render-conf.sh /usr/share/claude-web/redis/redis.conf.in "$conf"
) || die "could not render redis.conf"
# The container's variant: TCP on every address, no unix socket, log to stdout.
sed -i -e 's/^port 0$/port 6379/' -e '/^unixsocket/d' -e 's/^logfile .*/logfile ""/' "$conf"
printf 'bind * -::*\n' >>"$conf"
unset pw REDIS_PASSWORD_FILE
exec redis-server "$conf"
