#!/usr/bin/env bash
# backup.sh [DEST_DIR]: a consistent backup of one STATE_DIR's data:
# the Redis dataset (BGSAVE, then the RDB file) and the workspace
# (sessions' files and history, templates), as one .tar.gz per part in
# DEST_DIR/<UTC timestamp>/. Works while the stack runs.
#
# The workspace holds what agents made (symlinks to anywhere included) and
# changes while it is read: GNU tar archives symlinks as symlinks and walks
# fd-relative with O_NOFOLLOW, so nothing outside the workspace is read;
# files that change or vanish meanwhile (tar's exit status 1) are normal
# for a live workspace. The quarantine of deleted sessions (.trash) is left
# out.
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
rc=0
tar -C "$STATE_DIR" -czf "$out/workspace.tar.gz" --no-xattrs --no-acls \
	--warning=no-file-changed --warning=no-file-removed \
	--exclude=workspace/.trash --exclude=workspace/sessions/.trash \
	workspace || rc=$?
# 1: some files changed while being read (the workspace is live).
[ "$rc" -le 1 ] || cw_die "tar of the workspace failed (exit status $rc)"
echo "backup: $out"
