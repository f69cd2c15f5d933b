#!/usr/bin/env bash
# restore.sh BACKUP_DIR: restores a backup made by backup.sh into STATE_DIR.
# The stack must be stopped (scripts/stop.sh); the current data is moved
# aside to STATE_DIR/pre-restore-<timestamp>/ rather than deleted.
set -euo pipefail
CW_ROOT=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=scripts/lib-common.sh
. "$CW_ROOT/scripts/lib-common.sh"
cw_state_init

src=${1:?usage: restore.sh BACKUP_DIR (a directory made by backup.sh)}
[ -f "$src/redis.tar.gz" ] && [ -f "$src/workspace.tar.gz" ] ||
	cw_die "$src does not look like a backup (redis.tar.gz, workspace.tar.gz)"
if [ -n "$(cw_running "$CW_MASTER_PIDFILE" claude-web || true)" ] ||
	[ -n "$(cw_running "$CW_REDIS_PIDFILE" redis-server || true)" ]; then
	cw_die "the stack of $STATE_DIR is running; stop it first (scripts/stop.sh)"
fi
aside="$STATE_DIR/pre-restore-$(date -u +%Y%m%dT%H%M%SZ)"
mkdir -p -- "$aside"
[ -d "$STATE_DIR/workspace" ] && mv -- "$STATE_DIR/workspace" "$aside/"
mkdir -p -- "$CW_REDIS_DIR"
find "$CW_REDIS_DIR" -mindepth 1 -maxdepth 1 ! -name redis.conf -exec mv -t "$aside" -- {} +
tar -C "$STATE_DIR" -xzf "$src/workspace.tar.gz"
tar -C "$CW_REDIS_DIR" -xzf "$src/redis.tar.gz"
echo "restored $src into $STATE_DIR (previous data in $aside); start with scripts/start.sh"
