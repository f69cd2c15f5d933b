#!/usr/bin/env bash
# t_keepalive.sh: issue 14, kept-alive FastCGI connections to the api pool.
# nginx keeps connections to the api workers open (GET/HEAD, upstream
# cw_api_keep); each worker serves several of them from one poll loop.
#   1. Kept connections are really kept: after a burst of GETs, idle
#      connections to the api socket stay established, and the workers keep
#      answering (the pinning of research §0.3 — cached connections holding
#      every worker while new ones queue — does not happen).
#   2. A slow request does not hold the requests nginx sends on its worker's
#      other kept connections: while one GET sleeps in each api worker,
#      plain GETs keep being answered.
#   3. Workers recycled at MAX_REQUESTS, killed with -9, or replaced by a
#      reload drop their kept connections without a single failed GET or
#      POST for the clients.
#   4. POSTs never ride a kept connection (nginx could not safely retry
#      them): the app sees them on fresh connections and they succeed.
#   5. Silent local connections to the api socket cannot take every slot.
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"
cw_require_tools ss jq

CW_CONF[MAX_REQUESTS]=40
cw_start_all || cw_bail "could not start redis + claude-web + nginx"

# burst N PARALLEL PATH [CURL ARGS...]: PARALLEL clients, each sending N
# requests on one keep-alive connection to nginx; prints the status codes
# that were not 200, one per line (nothing when all succeeded).
burst() {
	local n=$1 par=$2 path=$3 j
	shift 3
	for ((j = 0; j < par; j++)); do
		(
			for ((i = 0; i < n; i++)); do
				printf 'url = "%s%s"\noutput = "/dev/null"\nwrite-out = "%%{http_code}\\n"\n' \
					"$BASE_URL" "$path"
			done | curl -4ks --max-time 60 "$@" -K - 2>/dev/null
		) >"$T/burst.$j" &
	done
	wait
	cat "$T"/burst.* | grep -v '^200$' || true
	rm -f "$T"/burst.*
}

# kept_conns: nginx's established unix connections (to the api pool: no
# event stream is open in this test).
kept_conns() {
	local p n=0
	for p in $(pgrep -P "$NGINX_PID"); do
		n=$((n + $(ss -xpH 2>/dev/null | grep -c "ESTAB.*\"nginx\",pid=$p,")))
	done
	echo "$n"
}

# ---- 1. kept, and still serving --------------------------------------------------
bad=$(burst 30 8 /api/live)
is "$bad" "" "240 GETs from 8 clients at once: all 200"
check "idle kept-alive connections to the api socket stay open after the burst" \
	wait_for 5 eval '[ "$(kept_conns)" -gt 0 ]'
diag "kept connections after the burst: $(kept_conns)"
# A fresh client right after: not stuck behind cached connections.
CURL_MAX_TIME=5 api_get /api/live
is "$HTTP_STATUS" 200 "a fresh request after the burst is answered (no worker is pinned)"

# ---- 2. a slow request does not hold its worker's other connections ------------
# One sleeping GET per api worker: every worker is busy with a slow request.
for k in 1 2; do
	curl -4ks --max-time 30 -o /dev/null -w '%{http_code}' \
		"$BASE_URL/api/debug/sleep?ms=6000" >"$T/slow.$k" 2>/dev/null &
	eval "slow_pid_$k=$!"
done
# GETs sent meanwhile: nginx's kept connections to the sleeping workers
# are shed (their requests retried on new connections), and the new
# connections wait in the listen queue until a worker is free: slow, but
# none may be lost.
bad=$(burst 5 4 /api/live)
is "$bad" "" "GETs sent while every api worker sleeps in a slow request are not lost (all 200)"
for k in 1 2; do
	v=slow_pid_$k
	wait "${!v}"
	is "$(cat "$T/slow.$k")" 200 "slow request $k finished with 200"
done

# One worker asleep, the other free: GETs must not wait for the sleeper.
curl -4ks --max-time 30 -o /dev/null -w '%{http_code}' \
	"$BASE_URL/api/debug/sleep?ms=8000" >"$T/slow.3" 2>/dev/null &
slow3=$!
bad=$(burst 20 4 /api/live)
is "$bad" "" "80 GETs while one worker sleeps: all 200"
check "...and all of them were answered before the sleeping request finished" kill -0 "$slow3"
wait "$slow3"
is "$(cat "$T/slow.3")" 200 "the sleeping request itself finished with 200"

# ---- 3. recycling, kill -9 and reload drop kept connections safely -------------
log_mark
bad=$(burst 60 6 /api/live)
is "$bad" "" "360 GETs across MAX_REQUESTS=40 recycling: all 200"
recycled=$(log_since | jq -cR 'fromjson? | select(.msg == "recycling worker after max requests")' 2>/dev/null | wc -l)
cmp_ok "$recycled" -ge 2 "workers were recycled meanwhile ($recycled times)"

( for _ in 1 2 3 4 5 6; do
	v=$(worker_pids api | head -n 1)
	[ -z "$v" ] || kill -KILL "$v"
	sleep 0.2
done ) &
killer=$!
bad=$(burst 40 4 /api/live)
wait "$killer"
is "$bad" "" "160 GETs while api workers are killed with -9: all 200 (nginx retries a request that failed on a cached connection)"

kill -HUP "$(master_pid)"
bad=$(burst 40 4 /api/live)
is "$bad" "" "160 GETs across a reload (SIGHUP, a new generation): all 200"

# ---- 4. POSTs take fresh connections -----------------------------------------------
# An unauthenticated POST /api/sessions answers 401 JSON: the app saw it.
# 40 of them during recycling: none may fail with 502.
bad=$(burst 10 4 /api/sessions -X POST -H 'Content-Type: application/json' --data-binary '{}' |
	grep -v '^401$' || true)
is "$bad" "" "POSTs during recycling are answered by the app (401), never 502"

# ---- 5. silent local connections cannot take every slot -------------------------
# A local process opens 300 connections to the api socket and says nothing
# (more than the 2 x 128 slots): a worker closes a connection that brings no
# request, so requests through nginx keep being answered.
python3 - "$API_SOCKET" "$T/silent.ready" <<'PY' &
import socket, sys, time
socks = []
for _ in range(300):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(sys.argv[1])
    socks.append(s)
open(sys.argv[2], "w").close()
time.sleep(20)
PY
silent=$!
wait_for 10 test -e "$T/silent.ready"
bad=$(burst 5 2 /api/sessions -X POST -H 'Content-Type: application/json' --data-binary '{}' |
	grep -v '^401$' || true)
is "$bad" "" "with 300 silent local connections open, POSTs (fresh connections) are answered"
bad=$(burst 5 2 /api/live)
is "$bad" "" "...and so are GETs"
kill "$silent" 2>/dev/null
wait "$silent" 2>/dev/null

tap_done
