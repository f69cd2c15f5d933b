#!/usr/bin/env bash
# bench/bench_sched.sh [OUTFILE]
#
# The run scheduler (issue 11, docs/scheduler.md) under a team's load,
# beside today's behaviour, in the same run. For each configuration it
# starts a private stack (that tree's scripts/start.sh, a temporary
# STATE_DIR, free ports, ANTHROPIC_BASE_URL at `bench/sched_load.py fake`)
# and plays the same seeded scenario with `bench/sched_load.py load`:
# USERS accounts, one session and one event stream each; every user sends
# RUNS messages one after the other (the next only after the previous run's
# final event and a THINK time), TOOL_PCT % of them get a bash tool_use
# (default permission mode: a permission prompt) that the user answers after
# a HUMAN delay; every model call streams for LATENCY seconds. It reports
# the queue waits (run.queued -> run.started, and the answer -> the parked
# run picked up again), per user and across users, the runner processes over
# time, their memory and the master's, and the wall time.
#
#   sched     the working tree's code (built in BUILD_DIR, default build-bench,
#             with configure --enable-werror), scheduler defaults:
#             RUNNER_WORKERS=2, RUNNER_MAX=16, MAX_RUNS_PER_USER=2, parking.
#   baseline  commit BASELINE_COMMIT (26d77ef, before the scheduler) built in
#             a git worktree BASELINE_TREE (/tmp/cw-baseline; created and
#             removed by this script unless it already exists): a fixed pool
#             of RUNNER_WORKERS=2 where a permission prompt holds its runner,
#             PERMISSION_TIMEOUT=14400.
#
# Environment: USERS (50), RUNS (3), TOOL_PCT (30), THINK (0,3),
# START_SPREAD (0,3: before a user's first message), HUMAN (2,20),
# LATENCY (0.3,2) (ranges in seconds, drawn uniformly), SEED (11), ANSWER
# (allow), CONFIGS ("sched baseline": which to run, in that order), TAIL (15:
# seconds sampled after the load, the pool shrinking; at most 2 for the
# baseline's fixed pool), RUN_TIMEOUT (900),
# SCHED_REV (empty: build the working tree in BUILD_DIR; a commit, e.g. HEAD:
# build that commit, exported with git archive under BUILD_DIR, and run it
# with its own scripts), QUICK=1 (5 users x 1 run, HUMAN 1,3, TAIL 3: a smoke run under a minute
# once both are built), SCHED_ENV / BASELINE_ENV (extra NAME=VALUE words for
# one configuration's stack), KEEP_STATE=1 (keep the temporary directories).
# The report goes to stdout and, with OUTFILE, to OUTFILE too.
set -euo pipefail

CW_PROG=bench-sched
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

if [ "${QUICK:-0}" = 1 ]; then
	: "${USERS:=5}" "${RUNS:=1}" "${HUMAN:=1,3}" "${TAIL:=3}" "${START_SPREAD:=0,1}"
fi
USERS=${USERS:-50}
RUNS=${RUNS:-3}
TOOL_PCT=${TOOL_PCT:-30}
THINK=${THINK:-0,3}
START_SPREAD=${START_SPREAD:-0,3}
HUMAN=${HUMAN:-2,20}
LATENCY=${LATENCY:-0.3,2}
SEED=${SEED:-11}
ANSWER=${ANSWER:-allow}
TAIL=${TAIL:-15}
RUN_TIMEOUT=${RUN_TIMEOUT:-900}
CONFIGS=${CONFIGS:-sched baseline}
BUILD_DIR=$(cw_abspath "${BUILD_DIR:-$CW_ROOT/build-bench}")
BASELINE_COMMIT=${BASELINE_COMMIT:-26d77ef}
BASELINE_TREE=${BASELINE_TREE:-/tmp/cw-baseline}

[ -z "$(cw_missing_cmds python3 jq curl git make)" ] || cw_die "needs python3, jq, curl, git and make"

WORK=$(mktemp -d "${TMPDIR:-/tmp}/cwsched.XXXXXX")
fake_pid='' state_dirs=() stack_tree='' stack_state='' made_tree=0
cleanup() {
	local rc=$?
	if [ -n "$stack_state" ]; then
		STATE_DIR=$stack_state "$stack_tree/scripts/stop.sh" >/dev/null 2>&1 || true
	fi
	[ -z "$fake_pid" ] || kill "$fake_pid" 2>/dev/null || true
	if [ "$made_tree" = 1 ] && [ "${KEEP_BASELINE:-0}" != 1 ]; then
		git -C "$CW_ROOT" worktree remove --force "$BASELINE_TREE" >/dev/null 2>&1 || true
	fi
	if [ "${KEEP_STATE:-0}" = 1 ] || [ "$rc" -ne 0 ]; then
		cw_log "state kept in $WORK ${state_dirs[*]}"
	else
		rm -rf -- "$WORK" "${state_dirs[@]}"
	fi
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---- builds ------------------------------------------------------------------------
# build TREE DIR: configure (once) and make claude-web + claude-web-admin in DIR.
build() {
	local tree=$1 dir=$2
	if [ ! -x "$tree/configure" ]; then
		cw_log "autoreconf -fi in $tree"
		(cd "$tree" && autoreconf -fi) >"$WORK/autoreconf.log" 2>&1 ||
			cw_die "autoreconf failed in $tree: $(tail -n 5 "$WORK/autoreconf.log")"
	fi
	mkdir -p "$dir"
	if [ ! -f "$dir/Makefile" ]; then
		cw_log "configuring $dir"
		(cd "$dir" && "$tree/configure" -q --enable-werror) >"$WORK/configure.log" 2>&1 ||
			cw_die "configure failed in $dir (see $dir/config.log)"
	fi
	cw_log "building $dir (make -j2 claude-web claude-web-admin)"
	make -C "$dir" -j2 claude-web claude-web-admin >"$WORK/make.log" 2>&1 ||
		cw_die "build failed in $dir: $(tail -n 20 "$WORK/make.log")"
}

declare -A TREE BIN DESC
for c in $CONFIGS; do
	case $c in
	sched)
		TREE[$c]=$CW_ROOT
		if [ -z "${SCHED_REV:-}" ]; then
			build "$CW_ROOT" "$BUILD_DIR"
			BIN[$c]=$BUILD_DIR/claude-web
			dirty=$(git -C "$CW_ROOT" status --porcelain -- fcgi-app configure.ac Makefile.am | wc -l)
			DESC[$c]="working tree at $(git -C "$CW_ROOT" rev-parse --short HEAD)$([ "$dirty" = 0 ] ||
				echo " + $dirty uncommitted or new file(s) in fcgi-app, configure.ac, Makefile.am"), built in $BUILD_DIR"
		else
			# A committed revision, exported (git archive) beside the build
			# directory: others' uncommitted work in the shared tree stays out.
			rev=$(git -C "$CW_ROOT" rev-parse --short "$SCHED_REV^{commit}") ||
				cw_die "SCHED_REV $SCHED_REV is not a commit"
			src=$BUILD_DIR/src-$rev
			if [ ! -f "$src/configure.ac" ]; then
				rm -rf -- "$src"
				mkdir -p "$src"
				git -C "$CW_ROOT" archive "$rev" | tar -x -C "$src" || cw_die "git archive $rev failed"
			fi
			build "$src" "$src/build"
			BIN[$c]=$src/build/claude-web
			TREE[$c]=$src
			[ -f "$src/static/dist/index.html" ] || [ ! -d "$CW_ROOT/static/dist" ] || {
				cp -r "$CW_ROOT/static/dist" "$src/static/dist"
				find "$src/static/dist" -exec touch {} +
			}
			DESC[$c]="commit $rev (git archive into $src)"
		fi
		;;
	baseline)
		if [ ! -e "$BASELINE_TREE" ]; then
			cw_log "git worktree add $BASELINE_TREE $BASELINE_COMMIT"
			git -C "$CW_ROOT" worktree add --detach "$BASELINE_TREE" "$BASELINE_COMMIT" >/dev/null 2>&1 ||
				cw_die "git worktree add $BASELINE_TREE $BASELINE_COMMIT failed"
			made_tree=1
		fi
		have=$(git -C "$BASELINE_TREE" rev-parse --short HEAD)
		[ "$(git -C "$BASELINE_TREE" rev-parse HEAD)" = "$(git -C "$CW_ROOT" rev-parse "$BASELINE_COMMIT^{commit}")" ] ||
			cw_die "$BASELINE_TREE is at $have, not $BASELINE_COMMIT"
		# start.sh would build the web UI (npm) into a fresh tree: give it
		# the working tree's build, newer than its sources.
		if [ ! -f "$BASELINE_TREE/static/dist/index.html" ] && [ -d "$CW_ROOT/static/dist" ]; then
			cp -r "$CW_ROOT/static/dist" "$BASELINE_TREE/static/dist"
			find "$BASELINE_TREE/static/dist" -exec touch {} +
		fi
		build "$BASELINE_TREE" "$BASELINE_TREE/build"
		TREE[$c]=$BASELINE_TREE
		BIN[$c]=$BASELINE_TREE/build/claude-web
		DESC[$c]="commit $have (before the scheduler), worktree $BASELINE_TREE"
		;;
	*) cw_die "unknown configuration '$c' (sched, baseline)" ;;
	esac
done

# ---- the fake Anthropic API (shared: it keeps no state) -------------------------------
python3 "$CW_ROOT/bench/sched_load.py" fake --port-file "$WORK/fake.port" \
	</dev/null >"$WORK/fake.log" 2>&1 &
fake_pid=$!
for _ in $(seq 1 50); do
	[ -s "$WORK/fake.port" ] && break
	cw_alive "$fake_pid" || cw_die "the fake exited: $(cat "$WORK/fake.log")"
	sleep 0.1
done
[ -s "$WORK/fake.port" ] || cw_die "the fake did not start"
FAKE_URL=http://127.0.0.1:$(cat "$WORK/fake.port")

# ---- one configuration -------------------------------------------------------------
# run_config NAME: start its stack, play the load into $WORK/NAME.json, stop.
run_config() {
	local name=$1 tree=${TREE[$1]} bin=${BIN[$1]} sd https http master redis nginx
	local -a extra=()
	sd=$(mktemp -d "${TMPDIR:-/tmp}/cws.XXXXXX")
	state_dirs+=("$sd")
	https=$(cw_free_port) || cw_die "no free port"
	http=$(cw_free_port) || cw_die "no free port"
	while [ "$http" = "$https" ]; do http=$(cw_free_port); done
	local streams=$((USERS + 16)) tail=$TAIL
	# A fixed pool has nothing to show after the load.
	[ "$name" != baseline ] || tail=$((TAIL < 2 ? TAIL : 2))
	case $name in
	sched) read -r -a extra <<<"${SCHED_ENV:-}" ;;
	baseline) extra=(PERMISSION_TIMEOUT=14400); read -r -a more <<<"${BASELINE_ENV:-}"; extra+=("${more[@]}") ;;
	esac
	cw_log "[$name] starting a stack in $sd (https $https): ${DESC[$name]}"
	stack_tree=$tree stack_state=$sd
	env STATE_DIR="$sd" HTTPS_PORT="$https" HTTP_PORT="$http" CLAUDE_WEB_BIN="$bin" \
		ANTHROPIC_BASE_URL="$FAKE_URL" ANTHROPIC_API_KEY=sk-bench-not-a-real-key \
		CODE_SERVER=off LOG_LEVEL="${LOG_LEVEL:-info}" RUNNER_WORKERS=2 \
		STREAM_WORKERS="$streams" SSE_MAX_CONN="$streams" \
		REDIS_MAX_CONNECTIONS=$((4 + streams + 64 + 16)) \
		RATE_LIMIT_PER_MINUTE=100000 LOGIN_RATE_LIMIT_PER_MINUTE=100000 \
		HEALTH_DETAILS=local "${extra[@]}" \
		"$tree/scripts/start.sh" >"$WORK/$name.start" 2>&1 ||
		cw_die "[$name] start.sh failed: $(tail -n 20 "$WORK/$name.start")"
	master=$(cw_read_pid "$sd/run/claude-web.pid")
	redis=$(cw_read_pid "$sd/run/redis.pid")
	nginx=$(cw_read_pid "$sd/nginx/nginx.pid")
	# The pool as configured (the runners are up).
	for _ in $(seq 1 50); do
		[ "$(pgrep -c -P "$master" || true)" -ge $((4 + streams + 2)) ] && break
		sleep 0.2
	done
	grep -E '^(RUNNER_|MAX_RUNS|PERMISSION|SESSION_QUEUE)' "$sd/claude-web.env" >"$WORK/$name.conf" || true
	cw_log "[$name] load: $USERS users x $RUNS runs"
	python3 "$CW_ROOT/bench/sched_load.py" load --base "https://localhost:$https" \
		--cafile "$sd/tls/cert.pem" --config "$sd/claude-web.env" --admin "$(dirname "$bin")/claude-web-admin" \
		--master "$master" --api-socket "$sd/run/api.sock" --stream-socket "$sd/run/stream.sock" \
		--redis-pid "${redis:-0}" --nginx-pid "${nginx:-0}" --fake-pid "$fake_pid" \
		--out "$WORK/$name.json" --label "$name" --users "$USERS" --runs "$RUNS" --seed "$SEED" \
		--tool-pct "$TOOL_PCT" --think "$THINK" --start-spread "$START_SPREAD" --human "$HUMAN" \
		--latency "$LATENCY" --answer "$ANSWER" --run-timeout "$RUN_TIMEOUT" --tail "$tail" ||
		cw_die "[$name] the load failed"
	grep -c '"level":"error"' "$sd/log/claude-web.log" >"$WORK/$name.errors" 2>/dev/null || true
	STATE_DIR=$sd "$tree/scripts/stop.sh" >/dev/null 2>&1 || cw_warn "[$name] stop.sh failed"
	stack_state=''
}

bg_load=$(cut -d' ' -f1-3 /proc/loadavg)
t_start=$SECONDS
inputs=()
for c in $CONFIGS; do
	run_config "$c"
	inputs+=("$c=$WORK/$c.json")
done

# ---- report ------------------------------------------------------------------------
report=$(
	echo "claude-web run scheduler benchmark  $(date -u +%Y-%m-%dT%H:%M:%SZ)"
	echo "host: $(nproc) cpu, $(uname -sr); bench scripts from HEAD $(git -C "$CW_ROOT" rev-parse --short HEAD);" \
		"load average before: $bg_load; whole bench $((SECONDS - t_start)) s"
	echo "scenario (seed $SEED, the same for every column): $USERS users x $RUNS runs, one session and one"
	echo "  event stream per user; first message after U($START_SPREAD) s, next one U($THINK) s after the"
	echo "  previous run's final event; $TOOL_PCT % of the runs: bash tool_use -> permission prompt,"
	echo "  answered '$ANSWER' after U($HUMAN) s; every model call streams for U($LATENCY) s"
	for c in $CONFIGS; do
		echo "$c: ${DESC[$c]}"
		echo "  $(tr '\n' ' ' <"$WORK/$c.conf")$(
			[ "$c" != sched ] || echo "(else the defaults: RUNNER_MAX=16, RUNNER_MIN_SPARE=1," \
				"RUNNER_MAX_SPARE=3, RUNNER_IDLE_GRACE=10, MAX_RUNS_PER_USER=2, PERMISSION_TIMEOUT=14400)")$(
			n=$(cat "$WORK/$c.errors" 2>/dev/null || echo 0)
			[ "${n:-0}" = 0 ] || echo "; $n error lines in claude-web.log")"
	done
	echo
	python3 "$CW_ROOT/bench/sched_load.py" report "${inputs[@]}"
	echo
	echo "queue wait: run.started - run.queued (Redis event ids, ms); first messages: each user's first,"
	echo "all sent within U($START_SPREAD) s of the start (the burst). continuation: the answer's POST"
	echo "(client clock) -> run.continued, or permission.resolved where there is none (baseline: the"
	echo "runner that held the run polls every 100 ms). per user: p50/p99 over that user's waits"
	echo "(messages and continuations; with <100 waits a user's p99 is their maximum). The run time seen"
	echo "by the user is run.queued -> final event, minus the time the prompt waited for the person."
	echo "Runner processes: children of the master holding neither FastCGI socket (/proc, 1 Hz)."
	echo "CPU: stack+load = the stack, the fake and the load driver; other work = the rest of the"
	echo "machine (other engineers' builds and tests share these 2 cores: expect noise)."
)
echo "$report"
if [ -n "$outfile" ]; then
	mkdir -p "$(dirname "$outfile")"
	echo "$report" >"$outfile"
	cw_log "report written to $outfile"
fi
if [ "${KEEP_STATE:-0}" = 1 ]; then
	cw_log "raw results: $WORK/*.json"
fi
