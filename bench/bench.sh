#!/usr/bin/env bash
# bench/bench.sh [OUTFILE]
#
# Starts a private claude-web stack (scripts/start.sh with a temporary
# STATE_DIR and free ports), then measures with wrk, on the same nginx:
#   - GET /__nginx_ceiling  nginx alone (return 200): the ceiling
#   - GET /api/live         nginx -> FastCGI api worker -> response
# and prints req/s, p50 and p99 for each and the live/ceiling ratio; then the
# private memory (Private_* of /proc/PID/smaps_rollup) of the master and of
# one idle api worker; and, if hyperfine is installed, the time of
# `claude-web -t` (config validation = startup cost). The report goes to
# stdout and, if OUTFILE is given, to OUTFILE too. The stack is stopped and
# its temporary directory removed at the end.
#
# Environment: THREADS (2), CONNECTIONS (32), DURATION (10s), WARMUP (2s),
# CLAUDE_WEB_BIN (default: build/claude-web, built by start.sh if needed),
# KEEP_STATE=1 keeps the temporary STATE_DIR. Every claude-web variable
# (API_WORKERS, LOG_LEVEL, ...) passes through to the stack.
set -euo pipefail

CW_PROG=bench
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

THREADS=${THREADS:-2}
CONNECTIONS=${CONNECTIONS:-32}
DURATION=${DURATION:-10s}
WARMUP=${WARMUP:-2s}

if [ -n "$(cw_missing_cmds wrk)" ]; then
	cw_log "wrk is missing; running scripts/install-deps.sh --bench"
	"$CW_ROOT/scripts/install-deps.sh" --bench
fi

# ---- private stack -------------------------------------------------------------
# Short path: unix socket paths must stay under 108 bytes.
STATE_DIR=$(mktemp -d "${TMPDIR:-/tmp}/cwbench.XXXXXX")
export STATE_DIR
cw_state_init
HTTPS_PORT=$(cw_free_port) || cw_die "no free port"
HTTP_PORT=$(cw_free_port) || cw_die "no free port"
while [ "$HTTP_PORT" = "$HTTPS_PORT" ]; do HTTP_PORT=$(cw_free_port); done
export HTTPS_PORT HTTP_PORT

cleanup() {
	local rc=$?
	STATE_DIR=$STATE_DIR "$CW_ROOT/scripts/stop.sh" >/dev/null 2>&1 || true
	if [ "${KEEP_STATE:-0}" = 1 ] || [ "$rc" -ne 0 ]; then
		cw_log "state kept in $STATE_DIR"
	else
		rm -rf -- "$STATE_DIR"
	fi
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

cw_log "starting a private stack in $STATE_DIR (https port $HTTPS_PORT)"
"$CW_ROOT/scripts/start.sh" >/dev/null
BASE=https://localhost:$HTTPS_PORT
BIN=$(sed -n 's/^BIN=//p' "$CW_STACK_FILE")

# ---- helpers -------------------------------------------------------------------
# to_ms VALUE: wrk latency ("812.00us", "1.23ms", "1.01s") in milliseconds.
to_ms() {
	awk -v v="$1" 'BEGIN {
		n = v + 0
		if (v ~ /us$/) n /= 1000
		else if (v ~ /ms$/) n = n
		else if (v ~ /m$/) n *= 60000
		else if (v ~ /s$/) n *= 1000
		printf "%.3f", n
	}'
}

# run_wrk NAME PATH: sets <NAME>_rps, <NAME>_p50, <NAME>_p99, <NAME>_errors.
run_wrk() {
	local name=$1 url=$BASE$2 out rps p50 p99 non2xx sockerr
	wrk -t"$THREADS" -c"$CONNECTIONS" -d"$WARMUP" "$url" >/dev/null 2>&1 || true
	cw_log "wrk -t$THREADS -c$CONNECTIONS -d$DURATION --latency $url"
	out=$(wrk -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" --latency "$url" 2>&1) ||
		cw_die "wrk failed: $out"
	rps=$(awk '/^Requests\/sec:/ { print $2 }' <<<"$out")
	p50=$(awk '$1 == "50%" { print $2 }' <<<"$out")
	p99=$(awk '$1 == "99%" { print $2 }' <<<"$out")
	non2xx=$(awk '/Non-2xx or 3xx responses:/ { print $NF }' <<<"$out")
	sockerr=$(awk '/Socket errors:/ { sub(/.*Socket errors: */, ""); print }' <<<"$out")
	if [ -z "$rps" ] || [ -z "$p50" ] || [ -z "$p99" ]; then
		cw_die "cannot parse wrk output: $out"
	fi
	printf -v "${name}_rps" '%s' "$rps"
	printf -v "${name}_p50" '%s' "$(to_ms "$p50")"
	printf -v "${name}_p99" '%s' "$(to_ms "$p99")"
	printf -v "${name}_errors" '%s' "${non2xx:-0} non-2xx${sockerr:+; socket errors: $sockerr}"
}

# mem_kb PID: "PRIVATE PSS RSS" in kB from smaps_rollup (Private_* summed).
mem_kb() {
	awk '/^Private_/ { p += $2 } /^Pss:/ { pss = $2 } /^Rss:/ { rss = $2 }
		END { print p + 0, pss + 0, rss + 0 }' "/proc/$1/smaps_rollup" 2>/dev/null || echo "0 0 0"
}

# api_workers MASTER: the children of MASTER that hold the api listen socket.
api_workers() {
	local master=$1 sock inode c fd
	sock=$(sed -n 's/^API_SOCKET=//p' "$CW_ENV_FILE")
	# /proc/net/unix: Num RefCount Protocol Flags Type St Inode Path;
	# Flags 00010000 = listening.
	inode=$(awk -v p="$sock" '$8 == p && $4 == "00010000" { print $7; exit }' /proc/net/unix)
	[ -n "$inode" ] || return 0
	for c in $(pgrep -P "$master" || true); do
		for fd in "/proc/$c/fd"/*; do
			if [ "$(readlink "$fd" 2>/dev/null)" = "socket:[$inode]" ]; then
				echo "$c"
				break
			fi
		done
	done
}

# ---- measurements ------------------------------------------------------------------
run_wrk ceiling /__nginx_ceiling
run_wrk live /api/live
# shellcheck disable=SC2154 # set by run_wrk via printf -v
ratio=$(awk -v a="$live_rps" -v b="$ceiling_rps" 'BEGIN { printf "%.1f", (b > 0 ? 100 * a / b : 0) }')

sleep 1 # let the workers go idle
master=$(cw_read_pid "$CW_MASTER_PIDFILE")
[ -n "$master" ] || cw_die "no master pid in $CW_MASTER_PIDFILE"
read -r master_kb master_pss master_rss < <(mem_kb "$master")
mapfile -t workers < <(api_workers "$master")
if [ "${#workers[@]}" -gt 0 ]; then
	worker=${workers[0]}
	worker_kind="api worker"
else
	worker=$(pgrep -P "$master" | head -n 1 || true)
	worker_kind="worker (api pool not identified)"
fi
worker_kb=0 worker_pss=0 worker_rss=0
[ -z "$worker" ] || read -r worker_kb worker_pss worker_rss < <(mem_kb "$worker")
nchildren=$(pgrep -c -P "$master" || true)

startup=''
if command -v hyperfine >/dev/null 2>&1; then
	cw_log "hyperfine: claude-web -t"
	hf_json=$STATE_DIR/hyperfine.json
	if hyperfine -N --warmup 3 --runs 30 --export-json "$hf_json" \
		"$BIN --config $CW_ENV_FILE -t" >/dev/null 2>&1; then
		startup=$(awk -F: '/"mean"/ { gsub(/[ ,]/, "", $2); printf "%.2f ms", $2 * 1000; exit }' "$hf_json")
	else
		startup="hyperfine failed"
	fi
fi

# ---- report --------------------------------------------------------------------
# shellcheck disable=SC2154 # set by run_wrk via printf -v
report=$(
	echo "claude-web benchmark  $(date -u +%Y-%m-%dT%H:%M:%SZ)"
	echo "host: $(nproc) cpu, $(uname -sr); $("$BIN" --version 2>/dev/null | head -n 1)"
	echo "wrk -t$THREADS -c$CONNECTIONS -d$DURATION --latency over HTTPS (HTTP/1.1);" \
		"nginx worker_processes ${NGINX_WORKER_PROCESSES:-auto}; ${#workers[@]} api workers"
	echo
	printf '%-18s %12s %10s %10s  %s\n' path req/s p50_ms p99_ms errors
	printf '%-18s %12s %10s %10s  %s\n' /__nginx_ceiling "$ceiling_rps" "$ceiling_p50" "$ceiling_p99" "$ceiling_errors"
	printf '%-18s %12s %10s %10s  %s\n' /api/live "$live_rps" "$live_p50" "$live_p99" "$live_errors"
	echo
	echo "live/ceiling: ${ratio}%   (target >= 20%; p99 target < 10 ms)"
	echo
	echo "memory, kB (/proc/PID/smaps_rollup; private = sum of Private_*):"
	printf '  %-16s %9s %9s %9s\n' process private pss rss
	printf '  %-16s %9s %9s %9s  (pid %s, %s children)\n' master "$master_kb" "$master_pss" "$master_rss" "$master" "$nchildren"
	printf '  %-16s %9s %9s %9s  (pid %s)\n' "idle ${worker_kind%% *} worker" "$worker_kb" "$worker_pss" "$worker_rss" "${worker:-none}"
	[ "$worker_kind" = "api worker" ] || echo "  note: $worker_kind"
	[ -z "$startup" ] || echo "claude-web -t (hyperfine mean): $startup"
)
echo "$report"
if [ -n "$outfile" ]; then
	mkdir -p "$(dirname "$outfile")"
	echo "$report" >"$outfile"
	cw_log "report written to $outfile"
fi

# Verdict on stderr; the exit status does not depend on it (numbers vary).
if awk -v r="$ratio" -v p="$live_p99" 'BEGIN { exit !(r >= 20 && p < 10) }'; then
	cw_log "targets met"
else
	cw_warn "targets NOT met (live >= 20% of ceiling, p99 < 10 ms)"
fi
