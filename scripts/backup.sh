#!/usr/bin/env bash
# backup.sh [--keep N] [--with-secrets] [--config ENV_FILE] [DEST_DIR]
#
# Writes one archive, DEST_DIR/claude-web-backup-<UTC time>.tar (mode 0600;
# DEST_DIR defaults to STATE_DIR/backups), with everything a restore on
# another machine needs (scripts/restore.sh, docs/operations.md):
#   redis/dump.rdb    every cw:* key of claude-web's Redis database, as an
#                     RDB snapshot taken at one instant (redis-cli --rdb)
#   redis/keys.txt    a digest of each key (type, TTL, SHA-1 of the value)
#   workspace.tar.gz  WORKSPACE_PATH: sessions (files, history, metadata)
#                     and shared templates/libraries; not .trash
#   config/           the env-file claude-web runs with (secrets in it are
#                     *_FILE paths, not values) and claude-web.local.env
#   secrets/          only with --with-secrets: STATE_DIR/secrets, the TLS
#                     certificate and key, and secret files named by *_FILE
#   MANIFEST, SHA256SUMS  what is inside and the checksum of every part
#
# Where the data is: REDIS_URL (unix://, redis:// with an ACL user or
# IPv6, redis+sentinel:// = the master the sentinels name; docs/redis.md),
# REDIS_PASSWORD[_FILE] and WORKSPACE_PATH
# from the environment, else from the env-file (--config, else
# STATE_DIR/claude-web.env), else start.sh's defaults for STATE_DIR (its
# private Redis, STATE_DIR/workspace). Works while the stack runs.
#
# Refuses (exit 1, no file written) when Redis is unreachable, holds no
# claude-web user, when WORKSPACE_PATH is missing or is not a workspace, or
# when a part cannot be read completely. The archive is written under a
# temporary name and renamed when complete. --keep N then deletes all but
# the newest N archives in DEST_DIR.
set -euo pipefail
CW_PROG=backup
CW_ROOT=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=scripts/lib-common.sh
. "$CW_ROOT/scripts/lib-common.sh"
# shellcheck source=scripts/lib-backup.sh
. "$CW_ROOT/scripts/lib-backup.sh"

keep=''
with_secrets=0
CWB_ENV_FILE=''
dest=''
while [ $# -gt 0 ]; do
	case $1 in
	-h | --help)
		cw_usage "$0"
		exit 0
		;;
	--keep)
		[ $# -ge 2 ] || cw_die "--keep needs a number"
		keep=$2
		shift
		;;
	--keep=*) keep=${1#--keep=} ;;
	--with-secrets) with_secrets=1 ;;
	--config)
		[ $# -ge 2 ] || cw_die "--config needs a file"
		CWB_ENV_FILE=$2
		shift
		;;
	--config=*) CWB_ENV_FILE=${1#--config=} ;;
	-*) cw_die "unknown option: $1 (try --help)" ;;
	*)
		[ -z "$dest" ] || cw_die "one DEST_DIR only (try --help)"
		dest=$1
		;;
	esac
	shift
done
case $keep in *[!0-9]* | 0*) cw_die "--keep must be a number >= 1, got '$keep'" ;; esac
[ -z "$CWB_ENV_FILE" ] || [ -r "$CWB_ENV_FILE" ] || cw_die "--config: cannot read $CWB_ENV_FILE"

cw_state_init
mapfile -t missing < <(cw_missing_cmds redis-cli redis-server tar gzip sha256sum flock)
[ "${#missing[@]}" -eq 0 ] || cw_die "missing commands: ${missing[*]}"
cwb_resolve
umask 077

# ---- what is there to back up ------------------------------------------------------------
[ -d "$CWB_WORKSPACE" ] || cw_die "WORKSPACE_PATH $CWB_WORKSPACE does not exist; refusing to write a backup without the workspace"
[ -d "$CWB_WORKSPACE/sessions" ] ||
	cw_die "WORKSPACE_PATH $CWB_WORKSPACE has no sessions/ directory: not a claude-web workspace (wrong WORKSPACE_PATH?)"
cwb_ping || cw_die "Redis at $(cwb_url_safe) does not answer PING ($(rcli PING 2>&1 | head -n 1)); refusing to write a backup without it"

dest=$(cw_abspath "${dest:-$STATE_DIR/backups}")
dest=${dest%/}
mkdir -p -- "$dest"
chmod 700 -- "$dest"
exec 9>"$dest/.backup.lock"
flock -n 9 || cw_die "another backup into $dest is running"

work=$(mktemp -d "$dest/.backup-XXXXXX")
sockdir=$(mktemp -d "${TMPDIR:-/tmp}/cwb.XXXXXX")
tmp_archive=''
cleanup() {
	cwb_stage_stop
	rm -rf -- "$work" "$sockdir"
	[ -z "$tmp_archive" ] || rm -f -- "$tmp_archive"
}
trap cleanup EXIT
trap 'exit 1' INT TERM
pack=$work/pack
mkdir -p -- "$pack/redis" "$pack/config" "$work/stage"

# ---- Redis: one snapshot, then only claude-web's keys ----------------------------------------
# redis-cli --rdb asks the server for the RDB a replica would get: a fork
# of the dataset at one instant (consistent across keys, the server goes on
# serving), over the same connection claude-web uses (TCP or unix socket,
# password, ACL user), without access to the server's files. A private
# redis-server then loads it and keeps only the cw:* keys of claude-web's
# database (as db 0): the archive holds nothing of other users of a shared
# Redis, and restore.sh copies keys from it with DUMP/RESTORE into any Redis.
cw_log "Redis snapshot from $(cwb_url_safe) (db $CWB_DB)"
if ! rcli --rdb "$work/stage/dump.rdb" >"$work/rdb.log" 2>&1 ||
	! grep -q 'Transfer finished with success' "$work/rdb.log" || [ ! -s "$work/stage/dump.rdb" ]; then
	cw_die "the Redis snapshot failed: $(tail -n 2 "$work/rdb.log" | tr '\n' ' ')(the Redis user needs SYNC/REPLCONF)"
fi
cwb_stage_start "$work/stage" "$sockdir" || cw_die "the snapshot could not be loaded (damaged or from a newer Redis?)"
ndb=$(stage CONFIG GET databases | sed -n 2p)
[ "$CWB_DB" -lt "${ndb:-16}" ] || cw_die "REDIS_URL names db $CWB_DB; the snapshot has ${ndb:-16}"
for ((d = 0; d < ${ndb:-16}; d++)); do
	[ "$d" -eq "$CWB_DB" ] || stage -n "$d" FLUSHDB >/dev/null
done
[ "$CWB_DB" -eq 0 ] || stage SWAPDB "$CWB_DB" 0 >/dev/null
stage EVAL "local n = 0
for _, k in ipairs(redis.call('KEYS', '*')) do
  if string.sub(k, 1, 3) ~= 'cw:' then redis.call('UNLINK', k); n = n + 1 end
end
return n" 0 >/dev/null
keys=$(stage DBSIZE)
# An old-format database (before the {c} hash tag) counts too: the next
# start renames its keys (keys_migrate, docs/redis.md).
users=$(($(stage SCARD 'cw:{c}:users') + $(stage SCARD cw:users))) # keys-lint: old
sessions=$(($(stage ZCARD 'cw:{c}:sessions') + $(stage ZCARD cw:sessions))) # keys-lint: old
[ "$keys" -gt 0 ] || cw_die "Redis at $(cwb_url_safe) holds no cw:* key in db $CWB_DB (wrong REDIS_URL or db?); refusing to write an empty backup"
[ "$users" -gt 0 ] || cw_die "Redis at $(cwb_url_safe) db $CWB_DB holds no claude-web user (cw:{c}:users is empty); refusing to write an incomplete backup"
cwb_digest stage >"$pack/redis/keys.txt"
# Keys with a TTL (rate-limit windows, locks) may expire in the snapshot's
# server while this runs: the digest (one atomic script) then counts the keys
# there are, and may only miss none of those still there after it.
digested=$(wc -l <"$pack/redis/keys.txt")
left=$(stage DBSIZE)
[ "$digested" -ge "$left" ] || cw_die "the key digest is incomplete ($digested of $left keys)"
keys=$digested
[ "$(stage SAVE)" = OK ] || cw_die "the filtered snapshot could not be saved"
redis_version=$(stage INFO server | sed -n 's/^redis_version:\([^[:space:]]*\).*/\1/p')
cwb_stage_stop
mv -- "$work/stage/dump.rdb" "$pack/redis/dump.rdb"

# ---- the workspace -------------------------------------------------------------------
# Symlinks are archived as symlinks (an agent may leave any); GNU tar walks
# fd-relative with O_NOFOLLOW, so nothing outside the workspace is read.
# Files that change or vanish while being read (exit status 1) are normal
# for a live workspace; anything worse refuses the backup.
cw_log "workspace $CWB_WORKSPACE"
rc=0
tar -C "$CWB_WORKSPACE" -czf "$pack/workspace.tar.gz" --no-xattrs --no-acls \
	--warning=no-file-changed --warning=no-file-removed \
	--anchored --exclude=./.trash --exclude=./sessions/.trash . 2>"$work/tar.err" || rc=$?
[ "$rc" -le 1 ] || cw_die "tar of the workspace failed (exit status $rc): $(head -n 3 "$work/tar.err" | tr '\n' ' ')"
[ ! -s "$work/tar.err" ] || cw_warn "tar: $(head -n 3 "$work/tar.err" | tr '\n' ' ')"
tar -tzvf "$pack/workspace.tar.gz" >"$work/ws.list" 2>/dev/null ||
	cw_die "the workspace archive cannot be read back"
files=$(grep -c '^-' "$work/ws.list" || true)
session_dirs=$(tar -tzf "$pack/workspace.tar.gz" | grep -c -E '^\./sessions/session-[^/]+/$' || true)
if [ "$sessions" -gt 0 ] && [ "$session_dirs" -eq 0 ]; then
	cw_die "Redis has $sessions sessions but $CWB_WORKSPACE/sessions has none (wrong WORKSPACE_PATH?); refusing to write an incomplete backup"
fi
[ "$session_dirs" -eq "$sessions" ] ||
	cw_warn "Redis has $sessions sessions, the workspace $session_dirs session directories (sessions created or deleted meanwhile?)"

# ---- config and, on request, secrets -------------------------------------------------
# copy_secret SRC DEST: a readable regular file, mode 0600.
copy_secret() {
	[ -f "$1" ] && [ -r "$1" ] || return 0
	mkdir -p -- "$(dirname -- "$2")"
	cp -- "$1" "$2"
	chmod 600 -- "$2"
}
# copy_config SRC DEST: an env-file; without --with-secrets the values of
# secret variables (and a password in REDIS_URL) are left out: secrets are
# meant to be NAME_FILE paths, but an env-file may hold them inline.
copy_config() {
	[ -f "$1" ] && [ -r "$1" ] || return 0
	if [ "$with_secrets" -eq 1 ]; then
		copy_secret "$1" "$2"
		return 0
	fi
	LC_ALL=C awk '
		{ l = $0; sub(/^[ \t]*(export[ \t]+)?/, "", l) }
		l ~ /^(SECRET_KEY|ANTHROPIC_API_KEY|REDIS_PASSWORD|REDIS_SENTINEL_PASSWORD|ADMIN_PASSWORD)[ \t]*=/ {
			n = l; sub(/[ \t]*=.*/, "", n)
			print "# " n "=... left out by backup.sh (a secret: backup.sh --with-secrets keeps it)"
			next
		}
		l ~ /^REDIS_URL[ \t]*=/ { sub(/:\/\/.*@/, "://***@") }
		{ print }' "$1" >"$2"
	chmod 600 -- "$2"
}
if [ -n "$CWB_ENV_FILE" ]; then
	copy_config "$CWB_ENV_FILE" "$pack/config/claude-web.env"
fi
copy_config "$STATE_DIR/claude-web.local.env" "$pack/config/claude-web.local.env"
{
	# What the restored instance needs to know beyond the env-file.
	printf 'REDIS_URL=%s\n' "$(cwb_url_safe)"
	printf 'WORKSPACE_PATH=%s\n' "$CWB_WORKSPACE"
	printf 'STATE_DIR=%s\n' "$STATE_DIR"
} >"$pack/config/source.env"
if [ "$with_secrets" -eq 1 ]; then
	if [ -d "$CW_SECRETS_DIR" ]; then
		for f in "$CW_SECRETS_DIR"/*; do
			[ -f "$f" ] || continue
			copy_secret "$f" "$pack/secrets/state/${f##*/}"
		done
	fi
	copy_secret "$CW_TLS_DIR/cert.pem" "$pack/secrets/tls/cert.pem"
	copy_secret "$CW_TLS_DIR/key.pem" "$pack/secrets/tls/key.pem"
	# Secret files the env-file names outside STATE_DIR/secrets.
	if [ -n "$CWB_ENV_FILE" ]; then
		for v in SECRET_KEY_FILE ANTHROPIC_API_KEY_FILE REDIS_PASSWORD_FILE REDIS_SENTINEL_PASSWORD_FILE ADMIN_PASSWORD_FILE; do
			f=$(cwb_env_get "$CWB_ENV_FILE" "$v") || continue
			case $f in "$CW_SECRETS_DIR"/*) continue ;; esac
			copy_secret "$f" "$pack/secrets/extra/$v"
		done
	fi
	[ -d "$pack/secrets" ] || cw_die "--with-secrets: no secret found (STATE_DIR/secrets, tls, *_FILE)"
fi

# ---- manifest, checksums, the archive --------------------------------------------------
{
	echo "format=claude-web-backup/1"
	echo "created=$(date -u +%Y-%m-%dT%H:%M:%SZ)"
	echo "host=$(hostname 2>/dev/null || cat /proc/sys/kernel/hostname)"
	echo "redis_url=$(cwb_url_safe)"
	echo "redis_db=$CWB_DB"
	echo "redis_version=$redis_version"
	echo "workspace_path=$CWB_WORKSPACE"
	echo "state_dir=$STATE_DIR"
	echo "keys=$keys"
	echo "users=$users"
	echo "sessions=$sessions"
	echo "session_dirs=$session_dirs"
	echo "files=$files"
	echo "secrets=$([ "$with_secrets" -eq 1 ] && echo yes || echo no)"
} >"$pack/MANIFEST"
(cd "$pack" && find . -type f ! -name SHA256SUMS -printf '%P\n' | LC_ALL=C sort |
	xargs -d '\n' sha256sum --) >"$pack/SHA256SUMS"

# The names sort by time (--keep relies on it): one per second.
name=claude-web-backup-$(date -u +%Y%m%dT%H%M%SZ)
while [ -e "$dest/$name.tar" ]; do
	sleep 1
	name=claude-web-backup-$(date -u +%Y%m%dT%H%M%SZ)
done
tmp_archive=$(mktemp "$dest/.$name.tar.XXXXXX")
members=(MANIFEST SHA256SUMS redis workspace.tar.gz config)
[ "$with_secrets" -eq 0 ] || members+=(secrets)
tar -C "$pack" -cf "$tmp_archive" --owner=0 --group=0 --numeric-owner -- "${members[@]}" ||
	cw_die "writing the archive failed"
chmod 600 -- "$tmp_archive"
# Read it back before it gets its name: every part is there, intact.
mkdir -- "$work/check"
tar -C "$work/check" -xf "$tmp_archive" MANIFEST SHA256SUMS redis workspace.tar.gz ||
	cw_die "the archive cannot be read back"
(cd "$work/check" && grep -v -E '  (config|secrets)/' ../pack/SHA256SUMS | sha256sum --quiet --strict -c -) ||
	cw_die "the archive does not read back intact"
gzip -t "$work/check/workspace.tar.gz" || cw_die "the workspace part does not read back intact"
sync -f "$tmp_archive" 2>/dev/null || sync
mv -f -- "$tmp_archive" "$dest/$name.tar"
tmp_archive=''

# ---- retention ----------------------------------------------------------------------
if [ -n "$keep" ]; then
	mapfile -t all < <(find "$dest" -maxdepth 1 -type f -name 'claude-web-backup-*.tar' -printf '%f\n' | LC_ALL=C sort -r)
	for ((i = keep; i < ${#all[@]}; i++)); do
		cw_log "--keep $keep: removing ${all[i]}"
		rm -f -- "${dest:?}/${all[i]}"
	done
fi

size=$(stat -c %s -- "$dest/$name.tar")
cw_log "$users users, $sessions sessions, $keys keys, $files files, $size bytes$([ "$with_secrets" -eq 1 ] && echo ', with secrets')"
echo "backup: $dest/$name.tar"
