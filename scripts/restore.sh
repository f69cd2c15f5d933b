#!/usr/bin/env bash
# restore.sh BACKUP_DIR: restores a backup made by backup.sh into STATE_DIR.
# The stack must be stopped (scripts/stop.sh); the current data is moved
# aside to STATE_DIR/pre-restore-<timestamp>-XXXX/ rather than deleted.
#
# A workspace holds whatever the agent made, symlinks to anywhere included,
# so nothing here walks or extracts into a live tree: each archive is
# checked first (only its own top directory, no absolute names, no ".."),
# then extracted into a new private staging directory inside STATE_DIR
# (GNU tar never writes through a symlink it extracted itself: one whose
# target is absolute or holds ".." stays a placeholder until the end), and
# only then renamed into place. Old data is renamed aside, never walked.
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

# check_members ARCHIVE TOP: every member is TOP or under TOP/, relative, no
# ".." component. (A name with a newline is checked line by line: any line
# that fails refuses the archive.)
check_members() {
	local bad
	bad=$(tar -tzf "$1" | awk -v top="$2" '
		{ n = $0; sub(/\/+$/, "", n) }
		n == top || index(n, top "/") == 1 {
			if (n ~ /(^|\/)\.\.(\/|$)/) { print; exit }
			next
		}
		{ print; exit }') || cw_die "$1 is not a readable tar.gz archive"
	[ -z "$bad" ] || cw_die "$1: refusing member '$bad' (only $2/..., relative, no '..')"
}
check_members "$src/workspace.tar.gz" workspace
check_members "$src/redis.tar.gz" .

mkdir -p -- "$STATE_DIR"
stage=$(mktemp -d "$STATE_DIR/.restore-XXXXXX")
chmod 700 -- "$stage"
trap 'rm -rf -- "$stage"' EXIT
mkdir -- "$stage/ws" "$stage/redis"
tar -C "$stage/ws" -xzf "$src/workspace.tar.gz"
tar -C "$stage/redis" -xzf "$src/redis.tar.gz"
[ -d "$stage/ws/workspace" ] && [ ! -L "$stage/ws/workspace" ] ||
	cw_die "$src/workspace.tar.gz holds no workspace directory"

aside=$(mktemp -d "$STATE_DIR/pre-restore-$(date -u +%Y%m%dT%H%M%SZ)-XXXX")
if [ -e "$STATE_DIR/workspace" ] || [ -L "$STATE_DIR/workspace" ]; then
	mv -- "$STATE_DIR/workspace" "$aside/"
fi
mkdir -p -- "$CW_REDIS_DIR"
find "$CW_REDIS_DIR" -mindepth 1 -maxdepth 1 ! -name redis.conf -exec mv -t "$aside" -- {} +
mv -- "$stage/ws/workspace" "$STATE_DIR/workspace"
find "$stage/redis" -mindepth 1 -maxdepth 1 ! -name redis.conf -exec mv -t "$CW_REDIS_DIR" -- {} +
echo "restored $src into $STATE_DIR (previous data in $aside); start with scripts/start.sh"
