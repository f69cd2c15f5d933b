#!/usr/bin/env bash
# bench/bench_sandbox.sh [BUILD_DIR] [N] [FILES...]: builds bench_sandbox.c
# against BUILD_DIR's libapp.a (default: build) and runs it once per FILES
# (default: 0 1000 10000 50000): the quota walk over a workspace of that
# many files and a sandboxed `true` with the quota and memory cgroup off, on
# (the defaults), and with SANDBOX_NETWORK=on. Needs root for the cgroups
# and the network namespace, like the server itself.
set -eu
SRC=$(cd "$(dirname "$0")/.." && pwd)
BUILD=$(cd "${1:-$SRC/build}" && pwd)
N=${2:-30}
shift $(($# < 2 ? $# : 2))
[ $# -gt 0 ] || set -- 0 1000 10000 50000
[ -f "$BUILD/libapp.a" ] || { echo "no $BUILD/libapp.a: build first" >&2; exit 1; }
BIN=$(mktemp -d /tmp/cw-bench-bin.XXXXXX)
trap 'rm -rf "$BIN"' EXIT
${CC:-cc} -O2 -Wall -Wextra -I"$SRC/fcgi-app" -I"$BUILD" -o "$BIN/bench_sandbox" \
	"$SRC/bench/bench_sandbox.c" "$BUILD/libapp.a" \
	-lcurl -lfcgi -lhiredis -ljson-c -ljwt -lcrypto -lm
echo "# $(date -u +%FT%TZ) $(uname -r) $(nproc) cpus, load $(cut -d' ' -f1-3 /proc/loadavg)"
for f in "$@"; do
	"$BIN/bench_sandbox" "$N" "$f"
done
