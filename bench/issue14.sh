#!/usr/bin/env bash
# bench/issue14.sh [OUTDIR]: every figure issue 14 asks for, in one go, each
# beside its baseline from the same run:
#   1. bench/compare.sh: claude-web beside the FastAPI peer (live, sessions,
#      200 sessions, 100 users; the nginx ceiling)  -> OUTDIR/DATE-compare.txt
#   2. bench/bench.sh, all parts with STREAMS=10000 (relay, fan-out to 100
#      watchers, 10,000 idle streams, closed-client notice, memory per
#      stream)                                     -> OUTDIR/DATE-bench.txt
#   3. bench_tools (sandbox start beside fork+exec)  -> OUTDIR/DATE-tools-issue14.txt
# then a summary of the targets (met / NOT met) on stdout, with the earlier
# figures the issue says must not regress. OUTDIR defaults to bench/results,
# DATE to today (UTC). CLAUDE_WEB_BIN (default build/claude-web) names the
# binary; its directory must be a build directory (for bench_tools).
# Takes about 15 minutes. Each step runs even if an earlier one failed; the
# exit status is 1 if any failed. Settings of the scripts pass through
# (ROUNDS, STREAMS, ...).
set -uo pipefail
CW_PROG=issue14
# shellcheck source=scripts/lib-common.sh
. "$(dirname "$0")/../scripts/lib-common.sh"
case ${1:-} in -h | --help) cw_usage "$0"; exit 0 ;; esac
OUTDIR=$(cw_abspath "${1:-$CW_ROOT/bench/results}")
DATE=${DATE:-$(date -u +%F)}
: "${CLAUDE_WEB_BIN:=$CW_ROOT/build/claude-web}"
export CLAUDE_WEB_BIN
BUILD=$(dirname "$CLAUDE_WEB_BIN")
mkdir -p "$OUTDIR"
failed=()

cw_log "1/3 compare.sh -> $OUTDIR/$DATE-compare.txt"
"$CW_ROOT/bench/compare.sh" "$OUTDIR/$DATE-compare.txt" >/dev/null || failed+=(compare.sh)

cw_log "2/3 bench.sh (STREAMS=${STREAMS:-10000}) -> $OUTDIR/$DATE-bench.txt"
STREAMS=${STREAMS:-10000} "$CW_ROOT/bench/bench.sh" "$OUTDIR/$DATE-bench.txt" >/dev/null \
	2> >(tee "$OUTDIR/.bench.err" >&2) || failed+=(bench.sh)

cw_log "3/3 bench_tools -> $OUTDIR/$DATE-tools-issue14.txt"
if make -C "$BUILD" bench/bench_tools >/dev/null 2>&1; then
	{
		echo "bench_tools 200 (build $BUILD), $(date -u +%FT%TZ), load $(cut -d' ' -f1-3 /proc/loadavg)"
		"$BUILD/bench/bench_tools" 200
	} >"$OUTDIR/$DATE-tools-issue14.txt" 2>&1 || failed+=(bench_tools)
else
	failed+=("bench_tools (make failed in $BUILD)")
fi

# ---- summary ----------------------------------------------------------------
echo "== issue 14 summary ($DATE; files in $OUTDIR) =="
echo "-- beside the FastAPI peer (compare.sh; medians over the rounds):"
grep -E '^GET |ours/peer' "$OUTDIR/$DATE-compare.txt" 2>/dev/null || echo "  (no compare report)"
echo "-- streams and relay (bench.sh):"
grep -E '^added by the relay|^1 \(same run|^[0-9]+ \(every delta|^deltas per watcher|^requested |nginx\+stream\+redis|^with [0-9]+ streams|^without streams|^  the same, client paused|^  [0-9.]+ -> [0-9.]+; noticed|^live/ceiling' \
	"$OUTDIR/$DATE-bench.txt" 2>/dev/null || echo "  (no bench report)"
grep 'target NOT met\|targets met' "$OUTDIR/.bench.err" 2>/dev/null
rm -f "$OUTDIR/.bench.err"
echo "-- sandbox start (bench_tools; target p50 < 10 ms; cold is bwrap starting with the command, standby is SANDBOX_PREWARM's sandbox started while the model answers):"
grep -E 'fork\+exec|sandboxed true' "$OUTDIR/$DATE-tools-issue14.txt" 2>/dev/null || echo "  (no tools report)"
echo "-- earlier relay figure: results/2026-11-28.txt added p50 0.36 ms, p99 0.48 ms"
if [ "${#failed[@]}" -gt 0 ]; then
	cw_warn "failed: ${failed[*]}"
	exit 1
fi
