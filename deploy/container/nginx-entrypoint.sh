#!/bin/bash
# claude-web-nginx-entrypoint: the nginx container's entry point (under tini).
# Renders nginx/nginx.conf.in with scripts/render-conf.sh (the same template
# and renderer as scripts/start.sh), makes a self-signed certificate at the
# first start unless one is given, runs nginx in the foreground and keeps its
# upstreams in step with the app containers' addresses.
#
# Environment (all optional):
#   FASTCGI_API_SERVERS     host:port list of the app containers' api pools
#   FASTCGI_STREAM_SERVERS  ... and their stream pools (both, or neither).
#                           Host names (compose service names) are resolved
#                           here to every address they have (all replicas)
#                           and again every RESOLVE_INTERVAL seconds: a
#                           change re-renders nginx.conf and reloads nginx.
#                           Unset: the unix sockets API_SOCKET/STREAM_SOCKET
#                           (default /run/claude-web/{api,stream}.sock) on a
#                           volume shared with one app container.
#   RESOLVE_INTERVAL        seconds between look-ups (10; 0: only at start)
#   UPSTREAM_WAIT           seconds to wait at start for the names (120)
#   HTTP_PORT, HTTPS_PORT   ports inside the container (8080, 8443); publish
#                           them as the same numbers (the HTTP redirect and
#                           ALLOWED_ORIGINS name them)
#   PUBLIC_HOST             host name clients use (localhost)
#   TLS_CERT_FILE, TLS_KEY_FILE  certificate and key (e.g. compose secrets);
#                           else a self-signed one for PUBLIC_HOST is made
#                           once in /var/lib/claude-web-nginx/tls (a volume)
#   MAX_FILE_SIZE           the app's upload limit (10485760); nginx allows
#                           1 MiB more for the form around it
#   SSE_MAX_CONN            open event streams nginx admits (STREAM_WORKERS
#                           (2) x STREAM_MAX_CONNECTIONS (5000) x the
#                           number of stream servers)
#   TRUSTED_PROXIES         load balancers in front of this nginx (their
#                           X-Forwarded-For and X-Request-ID are believed)
#   CODE_SERVER_UPSTREAM    host:port of code-server: turns /code/ on
#   NGINX_WORKER_PROCESSES  (auto)
# Signals: SIGQUIT (the image's STOPSIGNAL) graceful stop, SIGTERM/SIGINT
# fast stop, SIGHUP re-render and reload.
set -euo pipefail

log() { printf 'claude-web-nginx-entrypoint: %s\n' "$*" >&2; }
die() {
	log "error: $*"
	exit 1
}

share=/usr/share/claude-web
state=/var/lib/claude-web-nginx
template=$share/nginx/nginx.conf.in
export NGINX_DIR=$state/nginx LOG_DIR=/var/log/claude-web STATIC_ROOT=$share/static
export HTTP_PORT=${HTTP_PORT:-8080} HTTPS_PORT=${HTTPS_PORT:-8443} PUBLIC_HOST=${PUBLIC_HOST:-localhost}
conf=$NGINX_DIR/nginx.conf
mkdir -p "$NGINX_DIR" "$state/tls"

for v in HTTP_PORT HTTPS_PORT; do
	case ${!v} in '' | *[!0-9]*) die "$v must be a number, got '${!v}'" ;; esac
done
[[ $PUBLIC_HOST =~ ^([A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?|\[[0-9A-Fa-f:.]+\])$ ]] ||
	die "PUBLIC_HOST must be a host name, an IPv4 address or [IPv6], got '$PUBLIC_HOST'"
MAX_FILE_SIZE=${MAX_FILE_SIZE:-10485760}
case $MAX_FILE_SIZE in '' | *[!0-9]*) die "MAX_FILE_SIZE must be a number of bytes" ;; esac
export MAX_BODY_SIZE=$((MAX_FILE_SIZE + 1048576))

if [ "$(id -u)" -eq 0 ]; then
	export NGINX_USER="www-data www-data"
else
	NGINX_USER="$(id -un 2>/dev/null || id -u) $(id -gn 2>/dev/null || id -g)"
	export NGINX_USER
fi

# ---- TLS ---------------------------------------------------------------------------
if [ -n "${TLS_CERT_FILE:-}${TLS_KEY_FILE:-}" ]; then
	[ -n "${TLS_CERT_FILE:-}" ] && [ -n "${TLS_KEY_FILE:-}" ] ||
		die "set both TLS_CERT_FILE and TLS_KEY_FILE, or neither"
	[ -r "$TLS_CERT_FILE" ] || die "TLS_CERT_FILE not readable: $TLS_CERT_FILE"
	[ -r "$TLS_KEY_FILE" ] || die "TLS_KEY_FILE not readable: $TLS_KEY_FILE"
	export TLS_CERT=$TLS_CERT_FILE TLS_KEY=$TLS_KEY_FILE
else
	export TLS_CERT=$state/tls/cert.pem TLS_KEY=$state/tls/key.pem
	if [ ! -s "$TLS_CERT" ] || [ ! -s "$TLS_KEY" ]; then
		log "making a self-signed certificate for $PUBLIC_HOST in $state/tls"
		san="DNS:localhost,IP:127.0.0.1,IP:::1"
		case $PUBLIC_HOST in
		localhost) ;;
		\[*) san="$san,IP:${PUBLIC_HOST:1:${#PUBLIC_HOST}-2}" ;;
		*[!0-9.]*) san="$san,DNS:$PUBLIC_HOST" ;;
		*) san="$san,IP:$PUBLIC_HOST" ;;
		esac
		(
			umask 077
			openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
				-days 825 -subj "/CN=$PUBLIC_HOST" -addext "subjectAltName=$san" \
				-addext "extendedKeyUsage=serverAuth" \
				-keyout "$TLS_KEY.tmp" -out "$TLS_CERT.tmp" >/dev/null 2>&1
		) || die "openssl could not make a certificate"
		chmod 0644 "$TLS_CERT.tmp"
		mv -f "$TLS_KEY.tmp" "$TLS_KEY"
		mv -f "$TLS_CERT.tmp" "$TLS_CERT"
	fi
fi

# ---- upstreams ------------------------------------------------------------------------
# resolve LIST: "addr:port" for every address of every host:port in LIST
# (comma or space separated), sorted; fails when a name has no address.
resolve() {
	local w host port addrs a
	for w in $(printf '%s\n' "$1" | tr ',' ' '); do
		port=${w##*:}
		host=${w%:*}
		case $port in '' | *[!0-9]*) die "\"$w\" is not host:port" ;; esac
		case $host in
		\[*\]) printf '%s\n' "$w" ;;
		*[!0-9.]*)
			addrs=$(getent ahosts "$host" 2>/dev/null | awk '{ print $1 }' | sort -u) || return 1
			[ -n "$addrs" ] || return 1
			for a in $addrs; do
				case $a in *:*) printf '[%s]:%s\n' "$a" "$port" ;; *) printf '%s:%s\n' "$a" "$port" ;; esac
			done
			;;
		*) printf '%s\n' "$w" ;;
		esac
	done | sort -u
}

# upstreams: sets API_ADDRS and STREAM_ADDRS (resolved); fails if a name
# does not resolve.
upstreams() {
	API_ADDRS=$(resolve "$FASTCGI_API_SERVERS") && [ -n "$API_ADDRS" ] &&
		STREAM_ADDRS=$(resolve "$FASTCGI_STREAM_SERVERS") && [ -n "$STREAM_ADDRS" ]
}

tcp=0 API_ADDRS='' STREAM_ADDRS=''
if [ -n "${FASTCGI_API_SERVERS:-}${FASTCGI_STREAM_SERVERS:-}" ]; then
	[ -n "${FASTCGI_API_SERVERS:-}" ] && [ -n "${FASTCGI_STREAM_SERVERS:-}" ] ||
		die "set both FASTCGI_API_SERVERS and FASTCGI_STREAM_SERVERS, or neither"
	grep -q '@NGINX_API_SERVERS@' "$template" ||
		die "this image's nginx.conf.in has no upstream lists (FASTCGI_*_SERVERS); use the shared socket volume"
	tcp=1
	deadline=$((SECONDS + ${UPSTREAM_WAIT:-120}))
	until upstreams; do
		[ "$SECONDS" -lt "$deadline" ] ||
			die "no address for FASTCGI_API_SERVERS='$FASTCGI_API_SERVERS' / FASTCGI_STREAM_SERVERS='$FASTCGI_STREAM_SERVERS' after ${UPSTREAM_WAIT:-120}s"
		sleep 1
	done
else
	export API_SOCKET=${API_SOCKET:-/run/claude-web/api.sock}
	export STREAM_SOCKET=${STREAM_SOCKET:-/run/claude-web/stream.sock}
fi
code_addr=''
code_server() {
	code_addr=''
	[ -n "${CODE_SERVER_UPSTREAM:-}" ] || return 0
	code_addr=$(resolve "$CODE_SERVER_UPSTREAM" 2>/dev/null | head -n 1) || code_addr=''
}
code_server

# render: writes nginx.conf from the current addresses and checks it.
render() {
	local n a out
	if [ "$tcp" -eq 1 ]; then
		NGINX_API_SERVERS='' NGINX_STREAM_SERVERS='' n=0
		for a in $API_ADDRS; do NGINX_API_SERVERS+="server $a; "; done
		for a in $STREAM_ADDRS; do
			NGINX_STREAM_SERVERS+="server $a max_fails=0; "
			n=$((n + 1))
		done
		export NGINX_API_SERVERS NGINX_STREAM_SERVERS
		# render-conf.sh derives nothing from these once NGINX_* are set.
		unset API_LISTEN STREAM_LISTEN
		export API_SOCKET=unused STREAM_SOCKET=unused
	else
		n=1
	fi
	export SSE_MAX_CONN=${SSE_MAX_CONN_SET:-$((${STREAM_WORKERS:-2} * ${STREAM_MAX_CONNECTIONS:-5000} * n))}
	rm -f -- "$NGINX_DIR/code-server.conf"
	if [ -n "$code_addr" ]; then
		# shellcheck disable=SC2016 # $cw_code_server is nginx's
		printf '# written by claude-web-nginx-entrypoint (CODE_SERVER_UPSTREAM)\nset $cw_code_server %s;\n' \
			"$code_addr" >"$NGINX_DIR/code-server.conf"
	fi
	"$share/scripts/render-conf.sh" "$template" "$conf.new" || return 1
	[ "$(id -u)" -eq 0 ] || sed -i '/^user /d' "$conf.new"
	if ! out=$(nginx -q -t -p "$NGINX_DIR" -c "$conf.new" -g "worker_processes 1;" 2>&1); then
		printf '%s\n' "$out" >&2
		return 1
	fi
	mv -f -- "$conf.new" "$conf"
}
SSE_MAX_CONN_SET=${SSE_MAX_CONN:-}
render || die "the rendered nginx.conf is invalid (see above)"
if [ "$tcp" -eq 1 ]; then
	log "upstreams: api $(echo $API_ADDRS); stream $(echo $STREAM_ADDRS)"
fi

# ---- run ---------------------------------------------------------------------------------
nginx -p "$NGINX_DIR" -c "$conf" -g "daemon off; worker_processes ${NGINX_WORKER_PROCESSES:-auto};" &
nginx_pid=$!
log "nginx started (pid $nginx_pid; https port $HTTPS_PORT, http port $HTTP_PORT)"

stopping=0
trap 'stopping=1; kill -QUIT "$nginx_pid" 2>/dev/null || true' QUIT
trap 'stopping=1; kill -TERM "$nginx_pid" 2>/dev/null || true' TERM INT
reload_now=0
trap 'reload_now=1' HUP

interval=${RESOLVE_INTERVAL:-10}
case $interval in '' | *[!0-9]*) interval=10 ;; esac
while kill -0 "$nginx_pid" 2>/dev/null && [ "$stopping" -eq 0 ]; do
	if [ "$interval" -gt 0 ]; then
		sleep "$interval" &
	else
		sleep 3600 &
	fi
	wait $! 2>/dev/null || true
	[ "$stopping" -eq 0 ] || break
	old="$API_ADDRS|$STREAM_ADDRS|$code_addr"
	if [ "$tcp" -eq 1 ] && [ "$interval" -gt 0 ]; then
		save_api=$API_ADDRS save_stream=$STREAM_ADDRS
		upstreams || { API_ADDRS=$save_api STREAM_ADDRS=$save_stream; }
	fi
	[ "$interval" -gt 0 ] && code_server
	if [ "$reload_now" -eq 1 ] || [ "$old" != "${API_ADDRS:-}|${STREAM_ADDRS:-}|$code_addr" ]; then
		reload_now=0
		if render; then
			log "reloading nginx (api $(echo ${API_ADDRS:-sockets}); stream $(echo ${STREAM_ADDRS:-sockets}); code-server ${code_addr:-off})"
			kill -HUP "$nginx_pid" 2>/dev/null || true
		else
			log "warning: the new nginx.conf is invalid; keeping the running one"
		fi
	fi
done
rc=0
wait "$nginx_pid" || rc=$?
exit "$rc"
