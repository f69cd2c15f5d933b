#!/usr/bin/env bash
# bench/compare.sh [OUTFILE]
#
# claude-web beside the FastAPI peer (bench/peer_fastapi/: the original
# design's stack, FastAPI + uvicorn + redis-py + PyJWT behind nginx with TLS
# and a kept-alive upstream), both started here, side by side, with the same
# number of app processes (API_WORKERS, 2) and the same data:
#   - user m000 ... m<USERS-1> (100) with SESSIONS (20) sessions each,
#   - user u200 with BIG_SESSIONS (200) sessions.
# claude-web: users with claude-web-admin user add, sessions with POST
# /api/sessions; the peer: its own Redis keys (peer_fastapi/seed_redis.py).
# Every token comes from POST /api/auth/login on its stack. Before measuring,
# each user's GET /api/sessions must answer 200 with a full page (20) on
# both stacks.
#
# Then, for each route, ROUNDS (3) alternated runs of
#   wrk -t2 -c32 -d10s --latency   (2 s warm-up before each)
# over HTTPS: ours, peer, ours, peer... (and GET /__nginx_ceiling, nginx's
# own `return 200` on our nginx, alternated with /api/live). Routes:
#   live        GET /api/live
#   sessions    GET /api/sessions, Bearer token of m000 (20 sessions)
#   sessions200 GET /api/sessions, Bearer token of u200 (200 sessions; the
#               answer is still the first page of 20)
#   users100    GET /api/sessions, each request with the next of the 100
#               users' tokens (a generated wrk Lua script)
# It reports each run, then per route the median req/s, p50 and p99 (with
# the range over the rounds), the ratio ours/peer and the targets of issue
# 14 (met / NOT met); the Redis commands per request of both stacks (INFO
# deltas over 200 sequential requests); and, beside each run, "others": the
# cores other work on the machine kept busy meanwhile (not either stack, not
# wrk).
#
# Environment: ROUNDS (3), ROUTES ("live sessions sessions200 users100"),
# THREADS (2), CONNECTIONS (32), DURATION (10s), WARMUP (2s), API_WORKERS (2;
# the peer gets as many uvicorn workers), USERS (100), SESSIONS (20),
# BIG_SESSIONS (200), CLAUDE_WEB_BIN (default build/claude-web, built by
# start.sh), QUIET_WAIT / QUIET_CORES (as bench.sh), KEEP_STATE=1 keeps the
# temporary directories; PERF=1 adds one uncounted run of ours per route
# under perf record -a -g, reported into OUTFILE-perf-ROUTE.txt. Any
# claude-web variable passes through.
# Both stacks are stopped and their directories removed on exit, error or
# interrupt.
set -euo pipefail

CW_PROG=compare
# shellcheck source=scripts/lib-common.sh
. "$(dirname "$0")/../scripts/lib-common.sh"

case ${1:-} in
-h | --help)
	cw_usage "$0"
	exit 0
	;;
esac
outfile=${1:-}
[ -z "$outfile" ] || outfile=$(cw_abspath "$outfile")

ROUNDS=${ROUNDS:-3}
ROUTES=${ROUTES:-live sessions sessions200 users100}
THREADS=${THREADS:-2}
CONNECTIONS=${CONNECTIONS:-32}
DURATION=${DURATION:-10s}
WARMUP=${WARMUP:-2s}
USERS=${USERS:-100}
SESSIONS=${SESSIONS:-20}
BIG_SESSIONS=${BIG_SESSIONS:-200}
: "${API_WORKERS:=2}"
export API_WORKERS
PEER_WORKERS=$API_WORKERS
export PEER_WORKERS

[ -z "$(cw_missing_cmds wrk)" ] || "$CW_ROOT/scripts/install-deps.sh" --bench
/usr/bin/python3 -c 'import fastapi, uvicorn, redis, jwt, uvloop, httptools' 2>/dev/null ||
	"$CW_ROOT/scripts/install-deps.sh" --bench
[ -z "$(cw_missing_cmds python3 jq curl redis-cli wrk)" ] || cw_die "needs python3, jq, curl, redis-cli and wrk"

STATE_DIR=$(mktemp -d "${TMPDIR:-/tmp}/cwcmp.XXXXXX")
export STATE_DIR
cw_state_init
HTTPS_PORT=$(cw_free_port) || cw_die "no free port"
HTTP_PORT=$(cw_free_port) || cw_die "no free port"
while [ "$HTTP_PORT" = "$HTTPS_PORT" ]; do HTTP_PORT=$(cw_free_port); done
export HTTPS_PORT HTTP_PORT
# Every wrk request counts against the per-user limit; 100 logins at once.
: "${RATE_LIMIT_PER_MINUTE:=1000000}"
: "${LOGIN_RATE_LIMIT_PER_MINUTE:=1000000}"
: "${MAX_SESSIONS:=$((BIG_SESSIONS + 10))}"
: "${ANTHROPIC_API_KEY:=sk-bench-not-a-real-key}"
: "${TITLE_MODEL:=off}"
export RATE_LIMIT_PER_MINUTE LOGIN_RATE_LIMIT_PER_MINUTE MAX_SESSIONS ANTHROPIC_API_KEY TITLE_MODEL

PEER_DIR='' wrk_pid='' peer_login_pid=''
cleanup() {
	local rc=$?
	trap - INT TERM
	[ -z "$wrk_pid" ] || kill "$wrk_pid" 2>/dev/null || true
	[ -z "$peer_login_pid" ] || kill "$peer_login_pid" 2>/dev/null || true
	[ -z "$PEER_DIR" ] || "$CW_ROOT/bench/peer_fastapi/run-peer.sh" stop "$PEER_DIR" >/dev/null 2>&1 || true
	STATE_DIR=$STATE_DIR "$CW_ROOT/scripts/stop.sh" >/dev/null 2>&1 || true
	if [ "${KEEP_STATE:-0}" = 1 ] || [ "$rc" -ne 0 ]; then
		cw_log "claude-web state kept in $STATE_DIR (remove it when done)"
	else
		rm -rf -- "$STATE_DIR"
	fi
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

sample_busy() { # sample_busy SECONDS: cores busy machine-wide
	local b0
	b0=$(awk 'NR == 1 { b = 0; for (i = 2; i <= 9; i++) if (i != 5 && i != 6) b += $i; print b }' /proc/stat)
	sleep "$1"
	awk -v b0="$b0" -v hz="$(getconf CLK_TCK)" -v s="$1" 'NR == 1 { b = 0
		for (i = 2; i <= 9; i++) if (i != 5 && i != 6) b += $i
		printf "%.2f", (b - b0) / hz / s }' /proc/stat
}
if [ "${QUIET_WAIT:-0}" -gt 0 ]; then
	quiet_until=$((SECONDS + QUIET_WAIT))
	while :; do
		bg_busy=$(sample_busy 3)
		awk -v b="$bg_busy" -v q="${QUIET_CORES:-0.3}" 'BEGIN { exit !(b < q) }' && break
		[ "$SECONDS" -lt "$quiet_until" ] || { cw_warn "machine still busy ($bg_busy cores); running anyway"; break; }
		cw_log "waiting for a quiet machine: $bg_busy cores busy"
	done
fi
bg_load=$(cut -d' ' -f1-3 /proc/loadavg)
bg_busy=$(sample_busy 2)

# ---- the two stacks ----------------------------------------------------------------
users=()
for i in $(seq 0 $((USERS - 1))); do users+=("$(printf 'm%03d' "$i")"); done
all_users=$(IFS=,; echo "${users[*]},u200")
many_users=$(IFS=,; echo "${users[*]}")

cw_log "starting claude-web in $STATE_DIR (https port $HTTPS_PORT, $API_WORKERS api workers)"
t_start=$SECONDS
# A free port may be taken by other work before nginx binds it: new ports, twice.
for attempt in 1 2 3; do
	"$CW_ROOT/scripts/start.sh" >/dev/null && break
	grep -q 'Address already in use' "$CW_LOG_DIR/nginx-error.log" 2>/dev/null && [ "$attempt" -lt 3 ] ||
		cw_die "scripts/start.sh failed (logs in $CW_LOG_DIR)"
	cw_warn "a port was taken meanwhile; starting again on new ports"
	: >"$CW_LOG_DIR/nginx-error.log"
	HTTPS_PORT=$(cw_free_port) HTTP_PORT=$(cw_free_port)
	export HTTPS_PORT HTTP_PORT
done
BASE=https://localhost:$HTTPS_PORT
BIN=$(sed -n 's/^BIN=//p' "$CW_STACK_FILE")
ADMIN_BIN=$(dirname "$BIN")/claude-web-admin
CAFILE=${TLS_CERT:-$CW_TLS_DIR/cert.pem}

cw_log "starting the FastAPI peer ($PEER_WORKERS uvicorn workers)"
peer_specs=()
for u in "${users[@]}"; do peer_specs+=("$u:$SESSIONS"); done
peer_specs+=("u200:$BIG_SESSIONS")
peer_out=$("$CW_ROOT/bench/peer_fastapi/run-peer.sh" start "${peer_specs[@]}") ||
	peer_out=$("$CW_ROOT/bench/peer_fastapi/run-peer.sh" start "${peer_specs[@]}") || cw_die "the peer did not start"
PEER_DIR=$(sed -n 's/.*PEER_DIR=\([^ ]*\).*/\1/p' <<<"$peer_out")
PEER_URL=$(sed -n 's/.*PEER_URL=\([^ ]*\).*/\1/p' <<<"$peer_out")
PEER_REDIS_PORT=$(sed -n 's/.*PEER_REDIS_PORT=\([^ ]*\).*/\1/p' <<<"$peer_out")
PEER_CAFILE=$(sed -n 's/.*PEER_CAFILE=\([^ ]*\).*/\1/p' <<<"$peer_out")
[ -n "$PEER_DIR" ] && [ -n "$PEER_URL" ] || cw_die "run-peer.sh said: $peer_out"

# Seeding retries a 502/503 answer (logged in client.err, counted in the report).
client() { python3 "$CW_ROOT/bench/cmp_client.py" "$@" 2> >(tee -a "$STATE_DIR/client.err" >&2); }

# The peer's logins (scrypt) meanwhile, in the background.
client login --base "$PEER_URL" --cafile "$PEER_CAFILE" --password "$(cat "$PEER_DIR/password")" \
	--users "$all_users" --out "$PEER_DIR/tokens.json" &
peer_login_pid=$!
cw_log "claude-web: adding ${#users[@]} + 1 users, logging them in, creating" \
	"$((USERS * SESSIONS + BIG_SESSIONS)) sessions through the API"
pw=$(openssl rand -hex 12)
for u in "${users[@]}" u200; do
	printf '%s\n' "$pw" | "$ADMIN_BIN" --config "$CW_ENV_FILE" user add "$u" >/dev/null ||
		cw_die "claude-web-admin user add $u failed"
done
client login --base "$BASE" --cafile "$CAFILE" --password "$pw" --users "$all_users" \
	--out "$STATE_DIR/tokens.json"
client sessions --base "$BASE" --cafile "$CAFILE" --tokens "$STATE_DIR/tokens.json" \
	--users "$many_users" --count "$SESSIONS"
client sessions --base "$BASE" --cafile "$CAFILE" --tokens "$STATE_DIR/tokens.json" \
	--users u200 --count "$BIG_SESSIONS"
wait "$peer_login_pid" || cw_die "logging the peer's users in failed"
peer_login_pid=''
setup_seconds=$((SECONDS - t_start))

# Both answer 200 with a full page for every user, before anything is measured.
declare -A bytes
for side in ours peer; do
	if [ "$side" = ours ]; then b=$BASE c=$CAFILE t=$STATE_DIR/tokens.json; else
		b=$PEER_URL c=$PEER_CAFILE t=$PEER_DIR/tokens.json; fi
	bytes[$side.sessions]=$(client check --base "$b" --cafile "$c" --tokens "$t" --users "$many_users" \
		--expect "$SESSIONS" | jq -r .bytes) || cw_die "$side: GET /api/sessions check failed"
	bytes[$side.sessions200]=$(client check --base "$b" --cafile "$c" --tokens "$t" --users u200 \
		--expect 20 | jq -r .bytes) || cw_die "$side: GET /api/sessions (u200) check failed"
	client lua --tokens "$t" --users m000 --path /api/sessions --out "$STATE_DIR/$side.sessions.lua"
	client lua --tokens "$t" --users u200 --path /api/sessions --out "$STATE_DIR/$side.sessions200.lua"
	client lua --tokens "$t" --users "$many_users" --path /api/sessions --out "$STATE_DIR/$side.users100.lua"
done
cw_log "checked: every user's GET /api/sessions answers 200 with 20 sessions on both stacks" \
	"(ours ${bytes[ours.sessions]} bytes, peer ${bytes[peer.sessions]} bytes)"

# ---- measuring -------------------------------------------------------------------------
to_ms() {
	awk -v v="$1" 'BEGIN { n = v + 0
		if (v ~ /us$/) n /= 1000; else if (v ~ /ms$/) n = n; else if (v ~ /m$/) n *= 60000
		else if (v ~ /s$/) n *= 1000
		printf "%.3f", n }'
}

procmem_cpu() { # procmem_cpu SECONDS EXTRA_PID...: JSON
	local secs=$1 p
	shift
	local -a extra=()
	for p in "$@"; do extra+=(--extra "$p"); done
	python3 "$CW_ROOT/bench/procmem.py" cpu --seconds "$secs" \
		--master "$(cw_read_pid "$CW_MASTER_PIDFILE")" \
		--api-socket "$(sed -n 's/^API_SOCKET=//p' "$CW_ENV_FILE")" \
		--stream-socket "$(sed -n 's/^STREAM_SOCKET=//p' "$CW_ENV_FILE")" \
		--nginx "$(cw_read_pid "$CW_NGINX_PIDFILE")" --redis "$(cw_read_pid "$CW_REDIS_PIDFILE")" \
		--peer "$(cat "$PEER_DIR/nginx.pid")" --peer "$(cat "$PEER_DIR/uv.pid")" \
		--peer "$(cat "$PEER_DIR/redis.pid")" "${extra[@]}" 2>/dev/null || echo '{}'
}

# run_wrk ROUTE SIDE URL [LUA]: one measured run; appends
# "route side round rps p50 p99 others errors" to $STATE_DIR/runs.
round=0
run_wrk() {
	local route=$1 side=$2 url=$3 out rps p50 p99 non2xx sockerr cpu secs
	local -a script=()
	[ -z "${4:-}" ] || script=(-s "$4")
	wrk -t"$THREADS" -c"$CONNECTIONS" -d"$WARMUP" "${script[@]}" "$url" >/dev/null 2>&1 || true
	cw_log "round $round: $route $side: wrk -t$THREADS -c$CONNECTIONS -d$DURATION --latency ${script[*]} $url"
	wrk -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" --latency "${script[@]}" "$url" \
		>"$STATE_DIR/wrk.out" 2>&1 &
	wrk_pid=$!
	secs=$(awk -v d="$DURATION" 'BEGIN { n = d + 0; if (d ~ /m$/) n *= 60
		n -= 1; if (n < 0.5) n = 0.5; print n }')
	cpu=$(procmem_cpu "$secs" "$wrk_pid")
	wait "$wrk_pid" || cw_die "wrk failed: $(cat "$STATE_DIR/wrk.out")"
	wrk_pid=''
	out=$(cat "$STATE_DIR/wrk.out")
	rps=$(awk '/^Requests\/sec:/ { print $2 }' <<<"$out")
	p50=$(awk '$1 == "50%" { print $2 }' <<<"$out")
	p99=$(awk '$1 == "99%" { print $2 }' <<<"$out")
	non2xx=$(awk '/Non-2xx or 3xx responses:/ { print $NF }' <<<"$out")
	sockerr=$(awk '/Socket errors:/ { sub(/.*Socket errors: */, ""); gsub(/ /, ""); print }' <<<"$out")
	[ -n "$rps" ] && [ -n "$p50" ] && [ -n "$p99" ] || cw_die "cannot parse wrk output: $out"
	printf '%s %s %s %s %s %s %s %s\n' "$route" "$side" "$round" "$rps" "$(to_ms "$p50")" \
		"$(to_ms "$p99")" "$(jq -r '.others_cores // "?"' <<<"$cpu")" \
		"${non2xx:-0}${sockerr:+,sock:$sockerr}" >>"$STATE_DIR/runs"
}

route_path() {
	case $1 in
	live) echo /api/live ;;
	*) echo /api/sessions ;;
	esac
}

route_label() {
	case $1 in
	live) echo "GET /api/live" ;;
	sessions) echo "GET /api/sessions, 1 user, $SESSIONS sessions" ;;
	sessions200) echo "GET /api/sessions, 1 user, $BIG_SESSIONS sessions" ;;
	users100) echo "GET /api/sessions, $USERS users at once" ;;
	esac
}

: >"$STATE_DIR/runs"
t_measure=$SECONDS
for route in $ROUTES; do
	case $route in live | sessions | sessions200 | users100) ;; *) cw_die "unknown route: $route" ;; esac
	for round in $(seq 1 "$ROUNDS"); do
		if [ "$route" = live ]; then
			run_wrk ceiling nginx "$BASE/__nginx_ceiling"
			run_wrk live ours "$BASE/api/live"
			run_wrk live peer "$PEER_URL/api/live"
		else
			run_wrk "$route" ours "$BASE/api/sessions" "$STATE_DIR/ours.$route.lua"
			run_wrk "$route" peer "$PEER_URL/api/sessions" "$STATE_DIR/peer.$route.lua"
		fi
	done
done
measure_seconds=$((SECONDS - t_measure))

# PERF=1: one more run of ours per route (not counted), under `perf record
# -a -g` (whole machine, cpu-clock), reported by command, DSO and symbol:
# where the time of a request goes.
perf_files=()
if [ "${PERF:-0}" = 1 ] && command -v perf >/dev/null 2>&1; then
	perf_base=${outfile:+${outfile%.txt}}
	perf_base=${perf_base:-$STATE_DIR/compare}
	mkdir -p "$(dirname "$perf_base")"
	for route in $ROUTES; do
		lua=()
		[ "$route" = live ] || lua=(-s "$STATE_DIR/ours.$route.lua")
		cw_log "perf: $route ours (not counted)"
		wrk -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" "${lua[@]}" "$BASE$(route_path "$route")" >/dev/null 2>&1 &
		wrk_pid=$!
		sleep 1
		perf record -a -g -F 999 -o "$STATE_DIR/perf.data" -- sleep "$(awk -v d="$DURATION" \
			'BEGIN { n = d + 0 - 2; print (n < 1 ? 1 : n) }')" >/dev/null 2>&1 || true
		wait "$wrk_pid" || true
		wrk_pid=''
		f=$perf_base-perf-$route.txt
		# Our stack only: the descendants (FORK records) of its master, nginx and redis.
		ours_pids=$(perf script -i "$STATE_DIR/perf.data" --show-task-events 2>/dev/null | python3 -c '
import re, sys
roots = set(int(x) for x in sys.argv[1:])
parent = {}
for ln in sys.stdin:
    m = re.search(r"PERF_RECORD_FORK\((\d+):\d+\):\((\d+):\d+\)", ln)
    if m:
        parent.setdefault(int(m.group(1)), int(m.group(2)))
def ours(p, depth=0):
    return p in roots or (depth < 64 and p in parent and parent[p] != p and ours(parent[p], depth + 1))
print(",".join(str(p) for p in sorted(set(parent) | roots) if ours(p)))
' "$(cw_read_pid "$CW_MASTER_PIDFILE")" "$(cw_read_pid "$CW_NGINX_PIDFILE")" "$(cw_read_pid "$CW_REDIS_PIDFILE")")
		{
			echo "perf record -a -g -F 999 during wrk on $(route_label "$route") (ours), $(date -u +%FT%TZ)"
			echo "(cpu-clock samples of claude-web's processes: its master and workers, nginx, redis;"
			echo " percentages relative to those samples)"
			perf report -i "$STATE_DIR/perf.data" --stdio --no-children --sort comm,dso,sym -g none \
				--pid="$ours_pids" --percentage relative --percent-limit 0.4 2>/dev/null | grep -v '^$' | head -n 90
			echo
			echo "by process and DSO:"
			perf report -i "$STATE_DIR/perf.data" --stdio --no-children --sort comm,dso -g none \
				--pid="$ours_pids" --percentage relative --percent-limit 1 2>/dev/null | grep -v '^#' | grep -v '^$' | head -n 30
		} >"$f"
		rm -f "$STATE_DIR/perf.data"
		perf_files+=("$f")
	done
fi

# Redis commands per request: INFO deltas over N sequential requests on one
# kept-alive connection (the two INFO calls themselves taken off).
redis_total() { # redis_total ours|peer
	if [ "$1" = ours ]; then
		REDISCLI_AUTH=$(cat "$CW_SECRETS_DIR/redis_password") redis-cli -s "$CW_REDIS_SOCKET" info stats
	else
		redis-cli -p "$PEER_REDIS_PORT" info stats
	fi 2>/dev/null | tr -d '\r' | awk -F: '$1 == "total_commands_processed" { print $2 }'
}
redis_per_req() { # redis_per_req SIDE URL TOKEN N
	local t0 t1 i
	t0=$(redis_total "$1")
	for i in $(seq 1 "$4"); do printf 'url = "%s"\noutput = "/dev/null"\n' "$2"; done |
		curl -ks -K - -H "Authorization: Bearer $3" || true
	t1=$(redis_total "$1")
	awk -v a="$t0" -v b="$t1" -v n="$4" 'BEGIN { printf "%.1f", (b - a - 1) / n }'
}
declare -A rpr
for side in ours peer; do
	if [ "$side" = ours ]; then b=$BASE t=$STATE_DIR/tokens.json; else b=$PEER_URL t=$PEER_DIR/tokens.json; fi
	rpr[$side.live]=$(redis_per_req "$side" "$b/api/live" x 200)
	rpr[$side.sessions]=$(redis_per_req "$side" "$b/api/sessions" "$(jq -r .m000 "$t")" 200)
	rpr[$side.sessions200]=$(redis_per_req "$side" "$b/api/sessions" "$(jq -r .u200 "$t")" 200)
done

# ---- report -------------------------------------------------------------------------------
# stat ROUTE SIDE COLUMN: "median min max" of a column (4 rps, 5 p50, 6 p99).
stat() {
	awk -v r="$1" -v s="$2" -v c="$3" '$1 == r && $2 == s { print $c }' "$STATE_DIR/runs" | sort -g |
		awk '{ v[NR] = $1 } END { if (NR == 0) { print "- - -"; exit }
			m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
			printf "%s %s %s\n", m, v[1], v[NR] }'
}
fmt_rps() { awk -v m="$1" -v a="$2" -v b="$3" 'BEGIN { printf "%.0f (%.0f-%.0f)", m, a, b }'; }
fmt_ms() { awk -v m="$1" -v a="$2" -v b="$3" 'BEGIN { printf "%.2f (%.2f-%.2f)", m, a, b }'; }
div() { awk -v a="$1" -v b="$2" -v f="${3:-%.2f}" 'BEGIN { if (b > 0) printf f, a / b; else print "-" }'; }
ge() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a >= b) }'; }
lt() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a < b) }'; }
met() { if "$@"; then echo met; else echo "NOT met"; fi; }


peer_versions=$(/usr/bin/python3 -c 'import fastapi, uvicorn, redis, jwt
print("FastAPI %s, uvicorn %s, redis-py %s, PyJWT %s" % (fastapi.__version__, uvicorn.__version__,
      redis.__version__, jwt.__version__))')
retried=$(grep -c 'retrying$' "$STATE_DIR/client.err" 2>/dev/null || true)
report=$(
	echo "claude-web beside the FastAPI peer  $(date -u +%Y-%m-%dT%H:%M:%SZ)"
	echo "host: $(nproc) cpu, $(uname -sr); $("$BIN" --version 2>/dev/null | head -n 1) (binary $BIN;" \
		"bench scripts from repo HEAD $(git -C "$CW_ROOT" rev-parse --short HEAD 2>/dev/null || echo '?'))"
	echo "peer: bench/peer_fastapi ($peer_versions, uvloop + httptools, redis-py over TCP loopback)," \
		"$PEER_WORKERS uvicorn workers, nginx TLS + upstream keepalive 32"
	echo "ours: $API_WORKERS api workers; both nginx: worker_processes ${NGINX_WORKER_PROCESSES:-auto}, HTTP/1.1 over TLS"
	echo "background before the run: load average $bg_load, $bg_busy cores busy; niceness $(ps -o ni= -p $$ | tr -d ' ')"
	echo "data: users m000..m$(printf '%03d' $((USERS - 1))) with $SESSIONS sessions each, u200 with $BIG_SESSIONS;" \
		"GET /api/sessions answers the first page (20): ours ${bytes[ours.sessions]} bytes," \
		"peer ${bytes[peer.sessions]} bytes; seeding: ${retried:-0} answers 502/503 retried"
	echo "wrk -t$THREADS -c$CONNECTIONS -d$DURATION --latency (after a $WARMUP warm-up), $ROUNDS alternated rounds;" \
		"setup ${setup_seconds}s, measuring ${measure_seconds}s"
	echo
	echo "== every run, in order (others: cores busy with other work during the run) =="
	printf '%-12s %-6s %5s %10s %8s %8s %7s  %s\n' route side round req/s p50_ms p99_ms others "non-2xx"
	while read -r r s n rps p50 p99 oth err; do
		printf '%-12s %-6s %5s %10s %8s %8s %7s  %s\n' "$r" "$s" "$n" "$rps" "$p50" "$p99" "$oth" "$err"
	done <"$STATE_DIR/runs"
	bad=$(awk '$8 != "0"' "$STATE_DIR/runs" | wc -l)
	[ "$bad" -eq 0 ] || echo "WARNING: $bad runs had non-2xx answers or socket errors: their figures are not comparable"
	echo
	echo "== per route: median over the rounds (min-max) =="
	for route in $ROUTES; do
		echo "$(route_label "$route")"
		printf '  %-8s %-24s %-22s %-22s\n' side "req/s" "p50 ms" "p99 ms"
		sides="ours peer"
		[ "$route" != live ] || sides="ceiling ours peer"
		for s in $sides; do
			r=$route side=$s
			[ "$s" != ceiling ] || { r=ceiling side=nginx; }
			read -r rm ra rb < <(stat "$r" "$side" 4)
			read -r am aa ab < <(stat "$r" "$side" 5)
			read -r pm pa pb < <(stat "$r" "$side" 6)
			printf '  %-8s %-24s %-22s %-22s\n' "$s" "$(fmt_rps "$rm" "$ra" "$rb")" \
				"$(fmt_ms "$am" "$aa" "$ab")" "$(fmt_ms "$pm" "$pa" "$pb")"
		done
		read -r ours _ < <(stat "$route" ours 4)
		read -r peer _ < <(stat "$route" peer 4)
		read -r ours_p99 _ < <(stat "$route" ours 6)
		ratio=$(div "$ours" "$peer")
		if [ "$route" = live ]; then
			read -r ceil _ < <(stat ceiling nginx 4)
			pct=$(div "$((${ours%.*} * 100))" "$ceil" '%.1f')
			echo "  ours/peer ${ratio}x (target >= 1.5x: $(met ge "$ratio" 1.5));" \
				"ours/ceiling ${pct}% (target >= 50%: $(met ge "$pct" 50))"
		else
			echo "  ours/peer ${ratio}x (target >= 5x: $(met ge "$ratio" 5)); ours p99 ${ours_p99} ms" \
				"(target < 10 ms: $(met lt "$ours_p99" 10))"
		fi
	done
	echo
	echo "Redis commands per request (INFO total_commands_processed, 200 sequential requests):"
	printf '  %-40s %6s %6s\n' route ours peer
	printf '  %-40s %6s %6s\n' "GET /api/live" "${rpr[ours.live]}" "${rpr[peer.live]}"
	printf '  %-40s %6s %6s\n' "GET /api/sessions ($SESSIONS sessions)" "${rpr[ours.sessions]}" "${rpr[peer.sessions]}"
	printf '  %-40s %6s %6s\n' "GET /api/sessions ($BIG_SESSIONS sessions)" "${rpr[ours.sessions200]}" \
		"${rpr[peer.sessions200]}"
	echo "  (the peer pipelines its HGETALLs: one round trip, 20 commands; it also does less per request:"
	echo "   no user record, no rate limit)"
)
echo "$report"
if [ -n "$outfile" ]; then
	mkdir -p "$(dirname "$outfile")"
	echo "$report" >"$outfile"
	cw_log "report written to $outfile"
fi
[ "${#perf_files[@]}" -eq 0 ] || cw_log "perf reports: ${perf_files[*]}"
grep -q 'NOT met' <<<"$report" && cw_warn "some targets NOT met (see the report)" || cw_log "targets met"
