#!/usr/bin/env bash
# restore.sh [--force] [--with-config] [--with-secrets] [--config ENV_FILE] ARCHIVE
#
# Restores an archive made by scripts/backup.sh, on this or another machine,
# into the Redis and WORKSPACE_PATH this instance is configured with (found
# like backup.sh does: environment, env-file, start.sh's defaults for
# STATE_DIR). claude-web of STATE_DIR must be stopped (scripts/stop.sh).
#
#   Redis      The private Redis of STATE_DIR, when it is not running, gets
#              a fresh data directory (the old one is moved aside to
#              STATE_DIR/pre-restore-<time>-XXXX/); restore.sh runs it
#              briefly to load the keys, and start.sh starts it as usual.
#              Any other Redis (REDIS_URL, or the private one running) must
#              be reachable and must not hold cw:* keys: with --force they
#              are saved to pre-restore-.../redis.rdb, then deleted. Keys
#              are copied with DUMP + RESTORE (TTLs kept); other keys and
#              databases of a shared Redis are never touched.
#   workspace  extracted into a staging directory beside WORKSPACE_PATH
#              (every member name checked first: relative, no "..", GNU tar
#              never writes through a symlink it extracted), then renamed
#              into place; the old one is moved aside, never walked.
#   --with-config   also installs config/claude-web.env and
#              claude-web.local.env into STATE_DIR (old ones moved aside).
#   --with-secrets  also installs the secrets (0600) into STATE_DIR/secrets
#              and STATE_DIR/tls; secrets stored from other places are put
#              in STATE_DIR/secrets/restored-<NAME>.
#
# A damaged archive (checksums, gzip, unknown or unsafe members) is refused
# before anything is changed. After the restore every key is compared with
# the backup's digest and the workspace with the archive (tar --compare);
# any difference is an error (exit 1).
set -euo pipefail
CW_PROG=restore
CW_ROOT=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=scripts/lib-common.sh
. "$CW_ROOT/scripts/lib-common.sh"
# shellcheck source=scripts/lib-backup.sh
. "$CW_ROOT/scripts/lib-backup.sh"

force=0
with_config=0
with_secrets=0
CWB_ENV_FILE=''
src=''
while [ $# -gt 0 ]; do
	case $1 in
	-h | --help)
		cw_usage "$0"
		exit 0
		;;
	--force) force=1 ;;
	--with-config) with_config=1 ;;
	--with-secrets) with_secrets=1 ;;
	--config)
		[ $# -ge 2 ] || cw_die "--config needs a file"
		CWB_ENV_FILE=$2
		shift
		;;
	--config=*) CWB_ENV_FILE=${1#--config=} ;;
	-*) cw_die "unknown option: $1 (try --help)" ;;
	*)
		[ -z "$src" ] || cw_die "one ARCHIVE only (try --help)"
		src=$1
		;;
	esac
	shift
done
[ -n "$src" ] || cw_die "usage: restore.sh [--force] [--with-config] [--with-secrets] ARCHIVE (a file made by backup.sh)"
[ -f "$src" ] || cw_die "$src is not a file (an archive made by backup.sh: claude-web-backup-<time>.tar)"
[ -z "$CWB_ENV_FILE" ] || [ -r "$CWB_ENV_FILE" ] || cw_die "--config: cannot read $CWB_ENV_FILE"
src=$(cw_abspath "$src")

cw_state_init
mapfile -t missing < <(cw_missing_cmds redis-cli redis-server tar gzip sha256sum)
[ "${#missing[@]}" -eq 0 ] || cw_die "missing commands: ${missing[*]}"
cwb_resolve
umask 077

for pidfile in "$CW_MASTER_PIDFILE" "$(cwb_setting PID_FILE || true)"; do
	[ -n "$pidfile" ] || continue
	if [ -n "$(cw_running "$pidfile" claude-web || true)" ]; then
		cw_die "claude-web ($pidfile) is running; stop it first (scripts/stop.sh, systemctl stop claude-web)"
	fi
done

# ---- the archive: complete, intact, only what backup.sh writes -------------------------------
mkdir -p -- "$STATE_DIR"
work=$(mktemp -d "$STATE_DIR/.restore-XXXXXX")
sockdir=$(mktemp -d "${TMPDIR:-/tmp}/cwr.XXXXXX")
ws_stage=''
target_pid=''
cleanup() {
	cwb_stage_stop
	if [ -n "$target_pid" ]; then
		kill -TERM "$target_pid" 2>/dev/null || true
		cw_wait_gone "$target_pid" 10 || kill -KILL "$target_pid" 2>/dev/null || true
	fi
	rm -rf -- "$work" "$sockdir"
	[ -z "$ws_stage" ] || rm -rf -- "$ws_stage"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

tar -tf "$src" >"$work/members" 2>"$work/tar.err" ||
	cw_die "$src is not a readable tar archive: $(head -n 1 "$work/tar.err")"
bad=$(LC_ALL=C awk '
	/(^|\/)\.\.(\/|$)/ { print; exit }
	/^(MANIFEST|SHA256SUMS|workspace\.tar\.gz|redis\/|redis\/dump\.rdb|redis\/keys\.txt|config\/|secrets\/)$/ { next }
	/^config\/[A-Za-z0-9._-]+$/ { next }
	/^secrets\/(state|tls|extra)\/([A-Za-z0-9._-]+)?$/ { next }
	{ print; exit }' "$work/members")
[ -z "$bad" ] || cw_die "$src: refusing member '$bad' (not a claude-web backup)"
mkdir -- "$work/a"
tar -C "$work/a" -xf "$src" --no-same-owner 2>"$work/tar.err" ||
	cw_die "$src cannot be extracted (damaged?): $(head -n 1 "$work/tar.err")"
for f in MANIFEST SHA256SUMS redis/dump.rdb redis/keys.txt workspace.tar.gz; do
	[ -f "$work/a/$f" ] && [ ! -L "$work/a/$f" ] || cw_die "$src is incomplete: no $f"
done
grep -qx 'format=claude-web-backup/1' "$work/a/MANIFEST" ||
	cw_die "$src: unknown format ($(head -n 1 "$work/a/MANIFEST"))"
(cd "$work/a" && find . -type f ! -name SHA256SUMS -printf '%P\n' | LC_ALL=C sort) >"$work/have"
awk '{ sub(/^[0-9a-f]+  /, ""); print }' "$work/a/SHA256SUMS" | LC_ALL=C sort >"$work/listed"
cmp -s "$work/have" "$work/listed" || cw_die "$src: the parts do not match its SHA256SUMS (damaged or altered)"
(cd "$work/a" && sha256sum --quiet --strict -c SHA256SUMS) >"$work/sum.err" 2>&1 ||
	cw_die "$src is damaged: $(head -n 2 "$work/sum.err" | tr '\n' ' ')"
gzip -t "$work/a/workspace.tar.gz" 2>/dev/null || cw_die "$src: workspace.tar.gz is damaged"
manifest() { sed -n "s/^$1=//p" "$work/a/MANIFEST"; }
if [ "$with_secrets" -eq 1 ] && [ ! -d "$work/a/secrets" ]; then
	cw_die "--with-secrets: $src holds no secrets (made without backup.sh --with-secrets)"
fi

# Every workspace member is "." or under "./", relative, no "..". (A name
# with a newline is checked line by line: any line that fails refuses it.)
bad=$(tar -tzf "$work/a/workspace.tar.gz" | LC_ALL=C awk '
	{ n = $0; sub(/\/+$/, "", n) }
	n == "." || index(n, "./") == 1 {
		if (n ~ /(^|\/)\.\.(\/|$)/) { print; exit }
		next
	}
	{ print; exit }') || cw_die "workspace.tar.gz is not a readable tar.gz archive"
[ -z "$bad" ] || cw_die "$src: refusing workspace member '$bad' (only ./..., relative, no '..')"

cw_log "archive $src: $(manifest users) users, $(manifest sessions) sessions, $(manifest keys) keys, $(manifest files) files, made $(manifest created) on $(manifest host)"

# ---- stage both parts before anything is changed --------------------------------------------
ws_parent=$(dirname -- "$CWB_WORKSPACE")
mkdir -p -- "$ws_parent"
ws_stage=$(mktemp -d "$ws_parent/.restore-ws-XXXXXX")
mkdir -- "$ws_stage/ws"
tar -C "$ws_stage/ws" -xzf "$work/a/workspace.tar.gz" 2>"$work/tar.err" ||
	cw_die "the workspace cannot be extracted: $(head -n 2 "$work/tar.err" | tr '\n' ' ')"
[ -d "$ws_stage/ws/sessions" ] && [ ! -L "$ws_stage/ws/sessions" ] ||
	cw_die "$src: the workspace has no sessions/ directory"

mkdir -- "$work/stage"
mv -- "$work/a/redis/dump.rdb" "$work/stage/dump.rdb"
cwb_stage_start "$work/stage" "$sockdir" || cw_die "the Redis snapshot cannot be loaded (from a newer Redis than $(redis-server --version | awk '{print $3}')?)"
cwb_digest stage >"$work/staged.txt"
# Keys with a TTL may have expired since the backup; every other key must be there.
grep -v '^[a-z]* ttl ' "$work/a/redis/keys.txt" >"$work/want.fixed" || true
grep -v '^[a-z]* ttl ' "$work/staged.txt" >"$work/have.fixed" || true
cmp -s "$work/want.fixed" "$work/have.fixed" ||
	cw_die "the Redis snapshot does not match its digest ($(diff "$work/want.fixed" "$work/have.fixed" | grep -c '^[<>]') lines differ)"
nkeys=$(wc -l <"$work/staged.txt")

# ---- the target Redis -------------------------------------------------------------------
stamp=$(date -u +%Y%m%dT%H%M%SZ)
aside=''
make_aside() {
	[ -n "$aside" ] || aside=$(mktemp -d "$STATE_DIR/pre-restore-$stamp-XXXX")
}
private_running=0
if [ "$CWB_PRIVATE" -eq 1 ] && [ -n "$(cw_running "$CW_REDIS_PIDFILE" redis-server || true)" ]; then
	private_running=1
fi
if [ "$CWB_PRIVATE" -eq 1 ] && [ "$private_running" -eq 0 ]; then
	# The private Redis, stopped: a fresh data directory, filled by a
	# redis-server run here with the persistence settings of redis.conf.in
	# (AOF in appendonlydir/, RDB dump.rdb), no TCP, a socket of our own.
	mkdir -p -- "$CW_REDIS_DIR"
	if [ -n "$(find "$CW_REDIS_DIR" -mindepth 1 -maxdepth 1 ! -name redis.conf -print -quit)" ]; then
		make_aside
		mkdir -- "$aside/redis"
		find "$CW_REDIS_DIR" -mindepth 1 -maxdepth 1 ! -name redis.conf -exec mv -t "$aside/redis" -- {} +
	fi
	redis-server --port 0 --unixsocket "$sockdir/t.sock" --unixsocketperm 700 \
		--dir "$CW_REDIS_DIR" --dbfilename dump.rdb --appendonly yes \
		--appendfilename appendonly.aof --appendfsync everysec --save '' \
		--daemonize no --logfile "$work/target-redis.log" >/dev/null 2>&1 &
	target_pid=$!
	CWB_RCLI=(-s "$sockdir/t.sock" -n 0)
	CWB_REDIS_PASSWORD=''
	for _ in $(seq 1 100); do
		cwb_ping && break
		sleep 0.1
	done
	cwb_ping || {
		cw_tail "$work/target-redis.log" 10
		cw_die "could not run redis-server on $CW_REDIS_DIR"
	}
	target_desc="the private Redis of $STATE_DIR ($CW_REDIS_DIR)"
else
	target_desc="$(cwb_url_safe) db $CWB_DB"
	cwb_ping || cw_die "Redis at $(cwb_url_safe) does not answer PING ($(rcli PING 2>&1 | head -n 1))"
	if [ -n "$(rcli --scan --pattern 'cw:*' | head -n 1)" ]; then
		[ "$force" -eq 1 ] ||
			cw_die "$target_desc already holds claude-web data (cw:* keys): is another instance using it? Use --force to replace it (saved first to STATE_DIR/pre-restore-*/redis.rdb)"
		make_aside
		cw_log "--force: saving $target_desc to $aside/redis.rdb, then deleting its cw:* keys"
		rcli --rdb "$aside/redis.rdb" >"$work/rdb.log" 2>&1 && grep -q 'Transfer finished with success' "$work/rdb.log" ||
			cw_die "could not save the current data first: $(tail -n 1 "$work/rdb.log")"
		rcli --scan --pattern 'cw:*' --no-raw | awk '{ print "UNLINK " $0 }' | rcli >/dev/null
		[ -z "$(rcli --scan --pattern 'cw:*' | head -n 1)" ] ||
			cw_die "cw:* keys are still there after deleting them: is claude-web still running against $target_desc?"
	fi
fi

cw_log "Redis: $nkeys keys into $target_desc"
read -r copied tocopy <<<"$(cwb_copy_keys stage rcli "$work")"
[ "$copied" -eq "$tocopy" ] || cw_die "only $copied of $tocopy keys could be restored into $target_desc (maxmemory? see its log)"
[ "$copied" -eq "$nkeys" ] || cw_log "$((nkeys - copied)) keys expired (TTL) since the backup"
cwb_digest rcli >"$work/target.txt"
grep -v '^[a-z]* ttl ' "$work/target.txt" >"$work/target.fixed" || true
cmp -s "$work/have.fixed" "$work/target.fixed" ||
	cw_die "verification failed: the restored keys differ from the backup ($(diff "$work/have.fixed" "$work/target.fixed" | grep -c '^[<>]') lines)"
# A backup from before the {c} hash tag (schema 1): restored as it is
# (verified above), renamed by the next start (docs/redis.md, "Redis Cluster").
nold=$(rcli --scan --pattern 'cw:*' | grep -vc '^cw:{c}:' || true)
[ "${nold:-0}" -eq 0 ] || cw_log "$nold keys use the old names (cw:<rest>, schema 1): the next start of claude-web renames them to cw:{c}:<rest>"
if [ -n "$(LC_ALL=C comm -13 "$work/staged.txt" "$work/target.txt")" ]; then
	cw_die "verification failed: keys with a TTL differ from the backup"
fi
cwb_stage_stop
if [ -n "$target_pid" ]; then
	# Written to the AOF (fsync at shutdown); start.sh's redis loads it.
	rcli SHUTDOWN >/dev/null 2>&1 || true
	cw_wait_gone "$target_pid" 30 || cw_die "the temporary redis-server on $CW_REDIS_DIR did not stop"
	wait "$target_pid" 2>/dev/null || true
	target_pid=''
	[ -d "$CW_REDIS_DIR/appendonlydir" ] || cw_die "no AOF was written in $CW_REDIS_DIR"
fi

# ---- the workspace ---------------------------------------------------------------------
if [ -e "$CWB_WORKSPACE" ] || [ -L "$CWB_WORKSPACE" ]; then
	ws_aside=$(mktemp -d "$ws_parent/pre-restore-$stamp-XXXX")
	mv -- "$CWB_WORKSPACE" "$ws_aside/"
	cw_log "previous workspace moved to $ws_aside/"
fi
mv -- "$ws_stage/ws" "$CWB_WORKSPACE"
rm -rf -- "$ws_stage"
ws_stage=''
tar -C "$CWB_WORKSPACE" -dzf "$work/a/workspace.tar.gz" >"$work/compare" 2>&1 ||
	cw_die "verification failed: $CWB_WORKSPACE differs from the archive: $(head -n 3 "$work/compare" | tr '\n' ' ')"
nsess=$(find "$CWB_WORKSPACE/sessions" -mindepth 1 -maxdepth 1 -name 'session-*' | wc -l)

# ---- config and secrets ------------------------------------------------------------------
# install_file SRC DEST: DEST replaced by SRC (0600); an existing DEST is
# moved aside first.
install_file() {
	mkdir -p -- "$(dirname -- "$2")"
	if [ -e "$2" ] && ! cmp -s -- "$1" "$2"; then
		make_aside
		mkdir -p -- "$aside/$(dirname -- "${2#"$STATE_DIR"/}")"
		mv -- "$2" "$aside/${2#"$STATE_DIR"/}"
	fi
	cp -- "$1" "$2.tmp.$$"
	chmod 600 -- "$2.tmp.$$"
	mv -f -- "$2.tmp.$$" "$2"
}
if [ "$with_config" -eq 1 ]; then
	for f in claude-web.env claude-web.local.env; do
		[ -f "$work/a/config/$f" ] || continue
		install_file "$work/a/config/$f" "$STATE_DIR/$f"
		cw_log "config: $STATE_DIR/$f"
	done
fi
if [ "$with_secrets" -eq 1 ]; then
	mkdir -p -- "$CW_SECRETS_DIR"
	chmod 700 -- "$CW_SECRETS_DIR"
	for f in "$work/a/secrets/state"/*; do
		[ -f "$f" ] || continue
		install_file "$f" "$CW_SECRETS_DIR/${f##*/}"
	done
	for f in "$work/a/secrets/tls"/*; do
		[ -f "$f" ] || continue
		install_file "$f" "$CW_TLS_DIR/${f##*/}"
	done
	[ ! -f "$CW_TLS_DIR/cert.pem" ] || chmod 644 -- "$CW_TLS_DIR/cert.pem"
	for f in "$work/a/secrets/extra"/*; do
		[ -f "$f" ] || continue
		install_file "$f" "$CW_SECRETS_DIR/restored-${f##*/}"
		cw_log "secret ${f##*/}: $CW_SECRETS_DIR/restored-${f##*/} (it was $(cwb_env_get "$work/a/config/claude-web.env" "${f##*/}" 2>/dev/null || echo 'elsewhere'); point ${f##*/} there)"
	done
	cw_log "secrets restored into $CW_SECRETS_DIR"
fi

cw_log "verified: $nkeys keys, $nsess session directories, the workspace equals the archive"
[ -z "$aside" ] || cw_log "previous data moved to $aside/"
echo "restored $src into $target_desc and $CWB_WORKSPACE; start with scripts/start.sh"
