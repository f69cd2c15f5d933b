#!/usr/bin/env bash
# backup.sh [DEST_DIR]: a consistent backup of one STATE_DIR's data:
# the Redis dataset (BGSAVE, then the RDB file) and the workspace
# (sessions' files and history, templates), as one .tar.gz per part in
# DEST_DIR/<UTC timestamp>/. Works while the stack runs.
set -euo pipefail
CW_ROOT=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=scripts/lib-common.sh
. "$CW_ROOT/scripts/lib-common.sh"
cw_state_init

dest=${1:-$STATE_DIR/backups}
stamp=$(date -u +%Y%m%dT%H%M%SZ)
out="$dest/$stamp"
mkdir -p -- "$out"
chmod 700 -- "$dest" "$out"

if [ -S "$CW_REDIS_SOCKET" ]; then
	pw=$(cat -- "$STATE_DIR/secrets/redis_password")
	last=$(REDISCLI_AUTH=$pw redis-cli -s "$CW_REDIS_SOCKET" LASTSAVE)
	REDISCLI_AUTH=$pw redis-cli -s "$CW_REDIS_SOCKET" BGSAVE >/dev/null
	for _ in $(seq 1 600); do
		now=$(REDISCLI_AUTH=$pw redis-cli -s "$CW_REDIS_SOCKET" LASTSAVE)
		[ "$now" != "$last" ] && break
		sleep 0.1
	done
	[ "$now" != "$last" ] || cw_die "redis BGSAVE did not finish in 60 s"
fi
tar -C "$CW_REDIS_DIR" -czf "$out/redis.tar.gz" --exclude=redis.conf .
tar -C "$STATE_DIR" -czf "$out/workspace.tar.gz" workspace
echo "backup: $out"
