#!/usr/bin/env bash
# bench/peer_fastapi/run-peer.sh: the FastAPI peer stack (Redis + uvicorn +
# nginx with TLS and a kept-alive upstream), private to a temporary directory
# and on free ports, for bench/compare.sh.
#
#   run-peer.sh start USER:N [USER:N ...]   prints PEER_DIR=... PEER_URL=...
#                                           PEER_REDIS_PORT=... on stdout
#   run-peer.sh stop PEER_DIR               stops it and removes PEER_DIR
#
# Users get the password in $PEER_DIR/password. Environment: PEER_WORKERS (2
# uvicorn worker processes), NGINX_WORKER_PROCESSES (auto), TMPDIR.
# Needs Debian's python3-fastapi python3-uvicorn python3-redis python3-jwt
# python3-uvloop python3-httptools (scripts/install-deps.sh --bench),
# redis-server, nginx, openssl and curl. Based on the designers'
# ../shared/bench/peer_fastapi/run-peer.sh (fixed ports, no cleanup of a
# failed start); same nginx and uvicorn settings.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
PY=/usr/bin/python3 # Debian's python3, where the python3-* packages are

die() { echo "run-peer: $*" >&2; exit 1; }

# pid_of FILE: the pid in FILE, if that process is alive.
pid_of() { local p; p=$(cat "$1" 2>/dev/null) || return 1; [ -n "$p" ] && kill -0 "$p" 2>/dev/null && echo "$p"; }

# wait_gone PID SECONDS
wait_gone() { local _; for _ in $(seq 1 $(($2 * 10))); do kill -0 "$1" 2>/dev/null || return 0; sleep 0.1; done; return 1; }

stop() {
	local D=$1 p c
	[ -d "$D" ] && [ -f "$D/peer.stamp" ] || die "not a peer directory: $D"
	if p=$(pid_of "$D/nginx.pid"); then
		kill -QUIT "$p" 2>/dev/null || true
		wait_gone "$p" 5 || kill -KILL "$p" 2>/dev/null || true
	fi
	if p=$(pid_of "$D/uv.pid"); then
		c=$(pgrep -P "$p" || true)
		kill -TERM "$p" 2>/dev/null || true
		wait_gone "$p" 10 || kill -KILL "$p" $c 2>/dev/null || true
		for x in $c; do wait_gone "$x" 2 || kill -KILL "$x" 2>/dev/null || true; done
	fi
	if p=$(pid_of "$D/redis.pid"); then
		kill -TERM "$p" 2>/dev/null || true
		wait_gone "$p" 5 || kill -KILL "$p" 2>/dev/null || true
	fi
	rm -rf -- "$D"
}

free_port() {
	"$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

case ${1:-} in
stop) stop "${2:?run-peer.sh stop PEER_DIR}"; exit 0 ;;
start) shift ;;
*) die "usage: run-peer.sh start USER:N... | stop PEER_DIR" ;;
esac
[ $# -gt 0 ] || set -- admin:20
"$PY" -c 'import fastapi, uvicorn, redis, jwt, uvloop, httptools' 2>/dev/null ||
	die "missing python3 packages: run scripts/install-deps.sh --bench"

D=$(mktemp -d "${TMPDIR:-/tmp}/cwpeer.XXXXXX")
touch "$D/peer.stamp"
on_exit() {
	local rc=$?
	[ "$rc" -eq 0 ] && return
	echo "run-peer: start failed, logs:" >&2
	tail -n 20 "$D"/*.log >&2 2>/dev/null
	stop "$D"
}
trap on_exit EXIT
RPORT=$(free_port) APORT=$(free_port) PORT=$(free_port)
openssl rand -hex 12 >"$D/password"
SECRET=$(openssl rand -hex 32)

redis-server --port "$RPORT" --bind 127.0.0.1 --save '' --appendonly no --daemonize yes \
	--pidfile "$D/redis.pid" --logfile "$D/redis.log" --dir "$D" >/dev/null
for _ in $(seq 50); do redis-cli -p "$RPORT" ping 2>/dev/null | grep -q PONG && break; sleep 0.1; done
"$PY" "$HERE/seed_redis.py" "redis://127.0.0.1:$RPORT/0" "$(cat "$D/password")" "$@" >"$D/seed.log"

# Its own session (as nginx and redis daemonize): a Ctrl-C meant for the
# bench must not kill the peer under it; "stop" ends it.
(cd "$HERE" && SECRET_KEY=$SECRET REDIS_URL=redis://127.0.0.1:$RPORT/0 exec setsid "$PY" -m uvicorn app:app \
	--host 127.0.0.1 --port "$APORT" --workers "${PEER_WORKERS:-2}" --log-level warning \
	</dev/null >"$D/uv.log" 2>&1) &
echo $! >"$D/uv.pid"

openssl req -x509 -newkey rsa:2048 -nodes -subj /CN=localhost -days 1 \
	-keyout "$D/k.pem" -out "$D/c.pem" 2>/dev/null
cat >"$D/nginx.conf" <<CONF
worker_processes ${NGINX_WORKER_PROCESSES:-auto}; daemon on; pid $D/nginx.pid; error_log $D/err.log;
events { worker_connections 4096; }
http { access_log off;
  client_body_temp_path $D/tmp; proxy_temp_path $D/tmp; fastcgi_temp_path $D/tmp;
  uwsgi_temp_path $D/tmp; scgi_temp_path $D/tmp;
  upstream app { server 127.0.0.1:$APORT; keepalive 32; }
  server { listen 127.0.0.1:$PORT ssl http2; ssl_certificate $D/c.pem; ssl_certificate_key $D/k.pem;
    location / { proxy_http_version 1.1; proxy_set_header Connection ""; proxy_pass http://app; } } }
CONF
mkdir -p "$D/tmp"
nginx -p "$D" -c "$D/nginx.conf" -e "$D/err.log" 2>>"$D/err.log" || die "nginx did not start"
ok=0
for _ in $(seq 100); do
	if curl -skf "https://localhost:$PORT/api/live" >/dev/null 2>&1; then ok=1; break; fi
	pid_of "$D/uv.pid" >/dev/null || break
	sleep 0.2
done
[ "$ok" = 1 ] || die "the peer does not answer /api/live"
echo "PEER_DIR=$D PEER_URL=https://localhost:$PORT PEER_REDIS_PORT=$RPORT PEER_CAFILE=$D/c.pem"
