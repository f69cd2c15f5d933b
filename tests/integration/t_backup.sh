#!/usr/bin/env bash
# t_backup.sh: scripts/backup.sh and scripts/restore.sh (issue 12, part 1).
#
#  1. Users, sessions with files (API upload, a binary file, a symlink) and
#     history (a run against the fake Anthropic API), then claude-web stops.
#     backup.sh with REDIS_URL, REDIS_PASSWORD and WORKSPACE_PATH set to
#     non-default values (the test's own socket and workspace, not those of
#     STATE_DIR): one archive, mode 0600, MANIFEST counts; the same through
#     --config ENV_FILE alone; --with-secrets.
#  2. Wipe: Redis stopped, its data and the workspace deleted, Redis started
#     empty. restore.sh: every cw:* key (type, TTL or not, value) and every
#     file (type, mode, size, checksum, symlink target) as before; claude-web
#     starts, every user logs in, the old token still works, sessions,
#     history and files answer as before.
#  3. restore.sh into the private Redis of a new STATE_DIR (stopped): the AOF
#     it leaves is loaded by a redis-server with the production redis.conf,
#     with the same keys; --with-config and --with-secrets install 0600 files.
#  4. Refusals: an unreachable Redis, a missing workspace, a Redis without
#     claude-web data each make backup.sh fail without leaving a file; a
#     damaged archive and a target that holds claude-web data (without
#     --force) make restore.sh fail without touching anything.
#  5. --keep 2 after four backups keeps the newest two.
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source=tests/integration/lib_auth.sh
. "$(dirname "$0")/lib_auth.sh"
# shellcheck source=tests/integration/lib_agent.sh
. "$(dirname "$0")/lib_agent.sh"
cw_require_agent sha256sum flock
AGENT_NO_TOOLS=1

BACKUP=$TOP_SRCDIR/scripts/backup.sh
RESTORE=$TOP_SRCDIR/scripts/restore.sh
ST=$T/state # STATE_DIR for the scripts; the stack's data is elsewhere
BK=$T/backups
mkdir -p "$ST"

# bk [ARGS...]: backup.sh with the stack's non-default Redis and workspace.
bk() {
	env -u REDIS_URL -u WORKSPACE_PATH -u REDIS_PASSWORD STATE_DIR=$ST \
		REDIS_URL="unix://$REDIS_SOCKET?db=0" REDIS_PASSWORD=$REDIS_PASSWORD \
		WORKSPACE_PATH=$T/workspace bash "$BACKUP" "$@" >"$T/bk.out" 2>&1
}
rs() {
	env -u REDIS_URL -u WORKSPACE_PATH -u REDIS_PASSWORD STATE_DIR=$ST \
		REDIS_URL="unix://$REDIS_SOCKET?db=0" REDIS_PASSWORD=$REDIS_PASSWORD \
		WORKSPACE_PATH=$T/workspace bash "$RESTORE" "$@" >"$T/rs.out" 2>&1
}
archives() { find "$1" -maxdepth 1 -name 'claude-web-backup-*.tar' -printf '%f\n' | LC_ALL=C sort; }
leftovers() { find "$1" -mindepth 1 -maxdepth 1 ! -name .backup.lock -printf '%f\n' 2>/dev/null | LC_ALL=C sort; }

# key_dump [CLI]: every cw:* key as lines "NAME<TAB>ttl|-<TAB>TYPE<TAB>N<TAB>LINE"
# of its value in a canonical form: hash fields and set members sorted
# (N = 0), otherwise in order (N counts the lines); streams with their
# entries and, per consumer group, XINFO GROUPS and the XPENDING summary
# (not idle times, which move by themselves). Independent of the scripts'
# own digest; a few redis-cli calls in all.
key_dump() {
	local cli=${1:-redis_cli} d=$T/kd k t ttl
	mkdir -p "$d"
	"$cli" --scan --pattern 'cw:*' | LC_ALL=C sort >"$d/keys"
	[ -s "$d/keys" ] || return 0
	sed 's/^/TYPE /' "$d/keys" | "$cli" >"$d/types"
	sed 's/^/PTTL /' "$d/keys" | "$cli" >"$d/ttls"
	paste "$d/keys" "$d/types" "$d/ttls" >"$d/ktt"
	while IFS=$'\t' read -r k t ttl; do
		[ "$ttl" -gt 0 ] && ttl=ttl || ttl=-
		printf 'ECHO "@@ %s %s %s"\n' "$k" "$ttl" "$t"
		case $t in
		string) echo "GET $k" ;;
		hash) echo "HGETALL $k" ;;
		set) echo "SMEMBERS $k" ;;
		zset) echo "ZRANGE $k 0 -1 WITHSCORES" ;;
		list) echo "LRANGE $k 0 -1" ;;
		stream)
			echo "XRANGE $k - +"
			echo "XINFO GROUPS $k"
			"$cli" XINFO GROUPS "$k" | awk 'p { print; p = 0 } $0 == "name" { p = 1 }' |
				while IFS= read -r g; do echo "XPENDING $k $g"; done
			;;
		esac
	done <"$d/ktt" >"$d/cmds"
	"$cli" --no-raw <"$d/cmds" | LC_ALL=C awk '
		/^"@@ / { h = $0; gsub(/^"@@ |"$/, "", h); split(h, a, " "); k = a[1]; ttl = a[2]; t = a[3]; n = 0; np = 0; next }
		{
			line = $0
			while (sub(/^ *[0-9]+\) /, "", line)) { }
			if (t == "hash") { if (np++ % 2 == 0) f = line; else print k "\t" ttl "\t" t "\t0\t" f " " line; next }
			if (t == "set") { print k "\t" ttl "\t" t "\t0\t" line; next }
			print k "\t" ttl "\t" t "\t" (++n) "\t" line
		}' | LC_ALL=C sort -t "$(printf '\t')" -k1,1 -k4,4n -k5
}

# ws_dump DIR: every entry of a workspace but .trash: type, mode, size,
# checksum or symlink target, path.
ws_dump() {
	(cd "$1" && find . -path ./.trash -prune -o -path ./sessions/.trash -prune -o ! -name . -printf '%y %m %s %p %l\n' |
		LC_ALL=C sort)
	(cd "$1" && find . -path ./.trash -prune -o -type f -print0 | LC_ALL=C sort -z | xargs -0 -r sha256sum)
}

# ---- 1. data, then backups -------------------------------------------------------------------
CW_CONF[SANDBOX_BWRAP]=/bin/true
agent_stack_up
user_add bob bob-password-1 || cw_bail "user add bob: $(cat "$ADMIN_OUT")"
user_add root-admin admin-password-1 admin || cw_bail "user add admin: $(cat "$ADMIN_OUT")"
ANN_TOKEN=$TOKEN
new_session || cw_bail "session: $HTTP_STATUS"
S1=$SID
fake_script '{"turns":[{"text":"Hello from before the backup."}]}'
run_msg "$S1" "remember this message" || diag "run_msg: $HTTP_STATUS $SSE_END"
is "$(ev_text "$EV" "$RUN_ID")" "Hello from before the backup." "1: a run finished (history to back up)"
printf 'print("hi")\n' >"$T/up.py"
api_bearer "$ANN_TOKEN" "/api/sessions/$S1/files/content?path=main.py" -X PUT \
	-H 'Content-Type: application/octet-stream' --data-binary "@$T/up.py"
like "$HTTP_STATUS" '^20[01]$' "1: a file uploaded through the API"
head -c 3000 /dev/urandom >"$T/workspace/sessions/session-$S1/files/blob.bin"
ln -s main.py "$T/workspace/sessions/session-$S1/files/link.py"
new_session || cw_bail "session 2: $HTTP_STATUS"
S2=$SID
login bob bob-password-1 || cw_bail "bob cannot log in"
BOB_TOKEN=$TOKEN
new_session || cw_bail "bob's session: $HTTP_STATUS"
S3=$SID
mkdir -p "$T/workspace/shared/templates"
printf 'template\n' >"$T/workspace/shared/templates/t.md"
mkdir -p "$T/workspace/.trash/old" && printf 'x\n' >"$T/workspace/.trash/old/gone"
api_bearer "$ANN_TOKEN" "/api/sessions/$S1/messages"
cp "$BODY" "$T/hist.before"
api_bearer "$ANN_TOKEN" /api/sessions
jq -S '[.sessions[]? // .[]? | .id] | sort' "$BODY" >"$T/list.before" 2>/dev/null

cw_stop_nginx
cw_stop_app INT
key_dump >"$T/keys.before"
ws_dump "$T/workspace" >"$T/ws.before"
NKEYS=$(redis_cli --scan --pattern 'cw:*' | wc -l)
cmp_ok "$NKEYS" -ge 15 "1: the keyspace to back up has users, sessions, events ($NKEYS keys)"

bk "$BK"
is "$?" 0 "1: backup.sh with non-default REDIS_URL and WORKSPACE_PATH succeeds"
ARCH=$BK/$(archives "$BK" | tail -n 1)
# redis-cli --rdb waits repl-diskless-sync-delay (5 s by default) for other
# replicas before the snapshot starts: that default was tested just now.
nodelay() { redis_cli CONFIG SET repl-diskless-sync-delay 0 >/dev/null; }
nodelay
check "1: it prints the archive's path" grep -qx "backup: $ARCH" "$T/bk.out"
is "$(stat -c %a "$ARCH")" 600 "1: the archive is mode 0600"
is "$(stat -c %a "$BK")" 700 "1: the backup directory is mode 0700"
is "$(leftovers "$BK")" "${ARCH##*/}" "1: nothing else is left in the backup directory"
tar -xOf "$ARCH" MANIFEST >"$T/manifest"
is "$(sed -n 's/^users=//p' "$T/manifest") $(sed -n 's/^sessions=//p' "$T/manifest")" "3 3" \
	"1: MANIFEST counts 3 users and 3 sessions"
is "$(sed -n 's/^keys=//p' "$T/manifest")" "$NKEYS" "1: MANIFEST counts every cw:* key"
unlike "$(tar -xOf "$ARCH" workspace.tar.gz | tar -tzf -)" '\.trash' "1: the quarantine is not backed up"
unlike "$(tar -tf "$ARCH")" '^secrets' "1: no secrets without --with-secrets"
check "1: the password is not in the archive" eval '! tar -xOf "$ARCH" | grep -aq "$REDIS_PASSWORD"'

# The same from the env-file alone (the config the server uses).
printf 'REDIS_URL=unix://%s?db=0\nREDIS_PASSWORD_FILE=%s\nWORKSPACE_PATH=%s\nSECRET_KEY_FILE=%s\n' \
	"$REDIS_SOCKET" "$T/redis.pw" "$T/workspace" "$T/secret.key" >"$T/server.env"
printf '%s\n' "$REDIS_PASSWORD" >"$T/redis.pw"
printf '%s\n' "${CW_CONF[SECRET_KEY]}" >"$T/secret.key"
chmod 600 "$T/redis.pw" "$T/secret.key"
env -u REDIS_URL -u WORKSPACE_PATH -u REDIS_PASSWORD STATE_DIR=$ST \
	bash "$BACKUP" --config "$T/server.env" --with-secrets "$T/bk2" >"$T/bk.out" 2>&1
is "$?" 0 "1: backup.sh --config ENV_FILE --with-secrets succeeds"
ARCH2=$T/bk2/$(archives "$T/bk2" | tail -n 1)
like "$(tar -tf "$ARCH2")" 'secrets/extra/SECRET_KEY_FILE' "1: --with-secrets stores the secret files the env-file names"
check "1: ... mode 0600 inside" eval '[ -z "$(tar -tvf "$ARCH2" secrets | grep "^-" | grep -v "^-rw-------")" ]'
is "$(tar -xOf "$ARCH2" config/claude-web.env | sha256sum)" "$(sha256sum <"$T/server.env")" \
	"1: the env-file is in the archive"

# ---- 2. wipe, restore, compare -----------------------------------------------------------------
cw_stop_redis
rm -rf "$T/redis/appendonlydir" "$T/redis/dump.rdb" "$T/workspace"
cw_start_redis || cw_bail "redis did not restart"
nodelay
is "$(redis_cli DBSIZE)" 0 "2: wiped: Redis is empty"
check "2: wiped: the workspace is gone" test ! -e "$T/workspace"
rs "$ARCH"
is "$?" 0 "2: restore.sh succeeds"
check "2: it says what it verified" grep -q 'verified:' "$T/rs.out"
key_dump >"$T/keys.after"
grep -v "$(printf '\tttl\t')" "$T/keys.before" >"$T/keys.before.fixed"
grep -v "$(printf '\tttl\t')" "$T/keys.after" >"$T/keys.after.fixed"
if cmp -s "$T/keys.before.fixed" "$T/keys.after.fixed"; then
	tap_ok "2: every cw:* key without a TTL is back, same type and value ($(cut -f1 "$T/keys.after.fixed" | sort -u | wc -l) keys)"
else
	tap_fail "2: every cw:* key without a TTL is back, same type and value" "$(diff "$T/keys.before.fixed" "$T/keys.after.fixed" | head -n 20)"
fi
is "$(grep -vxF -f "$T/keys.before" "$T/keys.after")" "" \
	"2: keys with a TTL are back unchanged (or expired meanwhile), none is new"
ws_dump "$T/workspace" >"$T/ws.after"
if cmp -s "$T/ws.before" "$T/ws.after"; then
	tap_ok "2: every file, directory and symlink is back (type, mode, size, checksum, target)"
else
	tap_fail "2: every file, directory and symlink is back" "$(diff "$T/ws.before" "$T/ws.after" | head -n 20)"
fi
check "2: the quarantine is not restored" test ! -e "$T/workspace/.trash/old"

cw_start_app || cw_bail "claude-web did not start after the restore"
cw_start_nginx || cw_bail "nginx did not start after the restore"
ok_logins=0
for up in ann:ann-password-1 bob:bob-password-1 root-admin:admin-password-1; do
	login "${up%%:*}" "${up#*:}" && ok_logins=$((ok_logins + 1))
done
is "$ok_logins" 3 "2: every user logs in with the old password"
api_bearer "$BOB_TOKEN" /api/auth/me
is "$HTTP_STATUS" 200 "2: a token issued before the backup is still valid (same SECRET_KEY)"
api_bearer "$ANN_TOKEN" "/api/sessions/$S1/messages"
is "$HTTP_STATUS" 200 "2: the history answers"
is "$(jq -S . "$BODY")" "$(jq -S . "$T/hist.before")" "2: ... and equals the history before the backup"
api_bearer "$ANN_TOKEN" /api/sessions
is "$(jq -S '[.sessions[]? // .[]? | .id] | sort' "$BODY" 2>/dev/null)" "$(cat "$T/list.before")" "2: ann's sessions are listed as before"
api_bearer "$ANN_TOKEN" "/api/sessions/$S1/files/content?path=main.py"
is "$HTTP_STATUS $(cat "$BODY")" "200 print(\"hi\")" "2: the uploaded file answers through the API"
api_bearer "$BOB_TOKEN" "/api/sessions/$S3"
is "$HTTP_STATUS" 200 "2: bob's session is there"
login ann ann-password-1
fake_script '{"turns":[{"text":"Hello after the restore."}]}'
run_msg "$S2" "a new message after the restore" || diag "run_msg: $HTTP_STATUS $SSE_END"
is "$(ev_text "$EV" "$RUN_ID")" "Hello after the restore." "2: a new run works on the restored data"
cw_stop_nginx
cw_stop_app INT

# ---- 3. a new machine: the private Redis of a fresh STATE_DIR ------------------------------
ST2=$T/st2
env -u REDIS_URL -u WORKSPACE_PATH -u REDIS_PASSWORD STATE_DIR=$ST2 \
	bash "$RESTORE" --with-config --with-secrets "$ARCH2" >"$T/rs.out" 2>&1
RC=$?
is "$RC" 0 "3: restore.sh into a new STATE_DIR (private Redis, stopped) succeeds"
[ "$RC" -eq 0 ] || diag "$(cat "$T/rs.out")"
check "3: the private Redis has an AOF" test -d "$ST2/redis/appendonlydir"
is "$(stat -c %a "$ST2/claude-web.env" 2>/dev/null) $(stat -c %a "$ST2/secrets/restored-SECRET_KEY_FILE" 2>/dev/null)" "600 600" \
	"3: --with-config and --with-secrets install 0600 files"
is "$(cat "$ST2/secrets/restored-SECRET_KEY_FILE" 2>/dev/null)" "${CW_CONF[SECRET_KEY]}" "3: ... the secret key among them"
# The production template over the restored directory, as start.sh runs it.
mkdir -p "$ST2/run"
R2_SOCK=$ST2/run/redis.sock
REDIS_SOCKET=$R2_SOCK REDIS_DIR=$ST2/redis REDIS_PIDFILE=$ST2/run/redis.pid \
	REDIS_LOG=$T/log/redis2.log REDIS_PASSWORD=$REDIS_PASSWORD REDIS_MAXMEMORY=64mb \
	"$TOP_SRCDIR/scripts/render-conf.sh" "$TOP_SRCDIR/redis/redis.conf.in" "$ST2/redis/redis.conf"
redis-server "$ST2/redis/redis.conf" >>"$T/log/redis2.stdout" 2>&1 &
R2_PID=$!
BG_PIDS+=("$R2_PID")
redis2() { REDISCLI_AUTH=$REDIS_PASSWORD redis-cli -s "$R2_SOCK" "$@"; }
wait_for 10 eval '[ "$(redis2 PING 2>/dev/null)" = PONG ]'
key_dump redis2 | grep -v "$(printf '\tttl\t')" >"$T/keys.st2.fixed"
if cmp -s "$T/keys.before.fixed" "$T/keys.st2.fixed"; then
	tap_ok "3: redis-server with redis.conf loads the restored AOF: the same keys"
else
	tap_fail "3: redis-server with redis.conf loads the restored AOF: the same keys" "$(diff "$T/keys.before.fixed" "$T/keys.st2.fixed" | head -n 10)"
fi
ws_dump "$ST2/workspace" >"$T/ws.st2"
check "3: the workspace is in STATE_DIR/workspace, identical" cmp -s "$T/ws.before" "$T/ws.st2"
redis2 SHUTDOWN NOSAVE >/dev/null 2>&1
wait_for 10 pid_gone "$R2_PID"

# ---- 4. refusals ----------------------------------------------------------------------
F=$T/bkfail
env STATE_DIR=$ST REDIS_URL="unix://$T/run/nothing.sock" REDIS_PASSWORD=x WORKSPACE_PATH=$T/workspace \
	bash "$BACKUP" "$F" >"$T/bk.out" 2>&1
isnt "$?" 0 "4: an unreachable Redis: backup.sh fails"
like "$(cat "$T/bk.out")" 'does not answer' "4: ... saying so"
is "$(leftovers "$F")" "" "4: ... and leaves no file"
bk_missing() {
	env STATE_DIR=$ST REDIS_URL="unix://$REDIS_SOCKET?db=0" REDIS_PASSWORD=$REDIS_PASSWORD \
		WORKSPACE_PATH=$T/no-such-workspace bash "$BACKUP" "$F" >"$T/bk.out" 2>&1
}
bk_missing
isnt "$?" 0 "4: a missing workspace: backup.sh fails"
like "$(cat "$T/bk.out")" 'does not exist' "4: ... saying so"
is "$(leftovers "$F")" "" "4: ... and leaves no file"
env STATE_DIR=$ST REDIS_URL="unix://$REDIS_SOCKET?db=7" REDIS_PASSWORD=$REDIS_PASSWORD WORKSPACE_PATH=$T/workspace \
	bash "$BACKUP" "$F" >"$T/bk.out" 2>&1
isnt "$?" 0 "4: a Redis database without claude-web data: backup.sh fails (no empty backup)"
like "$(cat "$T/bk.out")" 'empty backup' "4: ... saying so"
is "$(leftovers "$F")" "" "4: ... and leaves no file"
env STATE_DIR=$ST REDIS_URL="unix://$REDIS_SOCKET?db=0" REDIS_PASSWORD=wrong WORKSPACE_PATH=$T/workspace \
	bash "$BACKUP" "$F" >"$T/bk.out" 2>&1
isnt "$?" 0 "4: a wrong Redis password: backup.sh fails"
is "$(leftovers "$F")" "" "4: ... and leaves no file"

cp "$ARCH" "$T/damaged.tar"
# Flip bytes in the middle of the workspace part.
off=$(($(stat -c %s "$T/damaged.tar") / 2))
printf '\xde\xad\xbe\xef' | dd of="$T/damaged.tar" bs=1 seek="$off" conv=notrunc status=none
head -c 5000 "$ARCH" >"$T/truncated.tar"
# Keys with a TTL (login rate-limit windows of section 2) may expire during
# this section: "changes nothing" is about the keys that stay.
lasting_dump() { key_dump | grep -v "$(printf '\tttl\t')"; }
before=$(lasting_dump | sha256sum)
wsb=$(ws_dump "$T/workspace" | sha256sum)
for a in damaged truncated; do
	rs --force "$T/$a.tar"
	isnt "$?" 0 "4: restore.sh of a $a archive fails"
	is "$(lasting_dump | sha256sum) $(ws_dump "$T/workspace" | sha256sum)" "$before $wsb" "4: ... and changes nothing"
done
rs "$ARCH"
isnt "$?" 0 "4: restore.sh into a Redis that holds claude-web data fails without --force"
like "$(cat "$T/rs.out")" 'already holds claude-web data' "4: ... saying so"
is "$(lasting_dump | sha256sum) $(ws_dump "$T/workspace" | sha256sum)" "$before $wsb" "4: ... and changes nothing"
check "4: no staging directory is left behind" eval '! compgen -G "$ST/.restore-*" >/dev/null && ! compgen -G "$T/.restore-ws-*" >/dev/null'

# ---- 5. --keep ---------------------------------------------------------------------------
K=$T/bkkeep
for i in 1 2 3 4; do
	bk --keep 2 "$K" || diag "backup $i: $(cat "$T/bk.out")"
	[ "$i" -ne 2 ] || mapfile -t after2 < <(archives "$K")
done
mapfile -t kept < <(archives "$K")
is "${#kept[@]}" 2 "5: --keep 2 after four backups leaves two archives"
if [ "${#kept[@]}" -eq 2 ] && [ "${#after2[@]}" -eq 2 ] && [ -z "$(printf '%s\n' "${kept[@]}" | grep -xF -e "${after2[0]}" -e "${after2[1]}")" ]; then
	tap_ok "5: ... the two newest (those of the first two backups are gone)"
else
	tap_fail "5: ... the two newest (those of the first two backups are gone)" "after two: ${after2[*]}; at the end: ${kept[*]}"
fi
is "$(leftovers "$K" | grep -cv '^claude-web-backup-')" 0 "5: ... and no temporary file"

tap_done
