#!/usr/bin/env bash
# t_sec_delete.sh: issue 10 regression tests for deleting sessions, the
# per-user storage quota and a full Redis.
#
#  1. A session is deleted while its own run loops swapping a directory with
#     a symlink to a host directory of canary files (renameat2
#     RENAME_EXCHANGE, the sandbox's python3 + ctypes): every canary
#     survives, the session directory is gone, the API answers 204 in
#     bounded time, the sandbox is gone. Three times.
#  2. The same swap by a process that outlives the run (the runner's lock is
#     held by a fake, stuck runner; the swapper runs on the host inside the
#     session's files/): the delete waits SESSION_DELETE_WAIT, then
#     quarantines and removes the tree fd-relative; no canary is touched.
#  3. A delete that stopped half-way (record renamed, directory still
#     there) is finished by the next DELETE; leftovers in WORKSPACE_PATH/.trash
#     (with a symlink into the canaries) are swept without following it.
#  4. claude-web-admin user del with a swapping run: the same guarantees.
#  5. Redis at maxmemory (noeviction): creating a session is 503 JSON (not
#     409 "maximum sessions"), nothing is left behind; PATCH is 503; GET and
#     DELETE still work.
#  6. USER_STORAGE_QUOTA_MB: files and sessions beyond it are 507 JSON;
#     symlinks to big host trees are not counted; deleting frees the quota.
#  7. scripts/backup.sh + restore.sh on a workspace with a symlink to the
#     canaries: the round trip keeps it a symlink and touches no canary; the
#     quarantine is not backed up; crafted archives (a member outside ./,
#     "..", a symlink followed by a member through it, checksums made to
#     match) are refused or fail before the current data is changed.
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source=tests/integration/lib_auth.sh
. "$(dirname "$0")/lib_auth.sh"
# shellcheck source=tests/integration/lib_agent.sh
. "$(dirname "$0")/lib_agent.sh"
# shellcheck source=tests/integration/lib_tools.sh
. "$(dirname "$0")/lib_tools.sh"
cw_require_tools_stack

# The swapping command must outlive the DELETE: a long sandbox timeout.
CW_CONF[SANDBOX_TIMEOUT]=60
CW_CONF[SANDBOX_CPU_SECONDS]=120
CW_CONF[SESSION_DELETE_WAIT]=3
CW_CONF[USER_STORAGE_QUOTA_MB]=2
CW_CONF[MAX_FILE_SIZE]=1048576
CW_CONF[RUNNER_WORKERS]=2
tools_stack_up
WS=${CW_CONF[WORKSPACE_PATH]}
NCANARY=300
CANARY=$T/canary

# The canaries: NCANARY files and a subdirectory, named like the files the
# swapper's directory holds, so a path-based delete that goes through the
# symlink finds them.
mk_canary() {
	rm -rf "$CANARY"
	mkdir -p "$CANARY/sub"
	local i
	for ((i = 0; i < NCANARY; i++)); do
		printf 'keep\n' >"$CANARY/c$i"
	done
	printf 'keep\n' >"$CANARY/sub/x"
}

# canary_count: the canary files still there with their content.
canary_count() {
	grep -rlx keep "$CANARY" 2>/dev/null | wc -l
}

# The swapper: makes d/ (files named like the canaries, and sub/x) and the
# symlink l -> the canary directory, says "ready", then exchanges d and l
# as fast as it can, forever.
cat >"$T/swap.py" <<'PYEOF'
import ctypes, os, sys
libc = ctypes.CDLL(None, use_errno=True)
renameat2 = libc.renameat2
renameat2.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
AT_FDCWD, RENAME_EXCHANGE = -100, 2
os.chdir(sys.argv[1])
target, n = sys.argv[2], int(sys.argv[3])
os.mkdir("d")
os.mkdir("d/sub")
with open("d/sub/x", "w") as f:
    f.write("mine\n")
for i in range(n):
    with open("d/c%d" % i, "w") as f:
        f.write("mine\n")
os.symlink(target, "l")
swaps = 0
while True:
    if renameat2(AT_FDCWD, b"d", AT_FDCWD, b"l", RENAME_EXCHANGE) == 0:
        swaps += 1
        if swaps == 1000:
            open("ready", "w").close()
PYEOF

# no_swapper: no swap.py process on the host (sandboxed or not).
no_swapper() {
	[ -z "$(host_procs "swap\\.py ")" ]
}

# trash_has SID: an entry of SID is still in the quarantine.
trash_has() {
	compgen -G "$WS/.trash/$1-*" >/dev/null || compgen -G "$WS/sessions/.trash/$1-*" >/dev/null
}

keys_gone() {
	[ "$(redis_cli exists "cw:{c}:session:$1" "cw:{c}:deleting:$1" "cw:{c}:events:$1")" = 0 ]
}

# ---- 1. delete a session while its run swaps d <-> l (-> the canaries) ----------------
for round in 1 2 3; do
	mk_canary
	session_new bypassPermissions || cw_bail "cannot create a session: $HTTP_STATUS $(cat "$BODY")"
	S=$SID
	SDIR=$(session_dir "$S")
	api_auth "/api/sessions/$S/files/content?path=swap.py" -X PUT --data-binary @"$T/swap.py"
	[ "$HTTP_STATUS" = 201 ] || cw_bail "cannot upload swap.py: $HTTP_STATUS $(cat "$BODY")"
	run_bg "$S" "$(blocks "$(bash_block "python3 /workspace/swap.py /workspace '$CANARY' $NCANARY")")" 90 ||
		cw_bail "cannot start the run: $HTTP_STATUS $(cat "$BODY")"
	RUN=$RUN_ID
	if ! wait_for 30 test -e "$SDIR/files/ready"; then
		tap_fail "1.$round: the sandboxed swapper is running" "$(tail -n 5 "$EV" 2>/dev/null)"
		continue
	fi
	tap_ok "1.$round: the sandboxed swapper is running (1000 exchanges of d and l done)"
	t0=$(now_ms)
	api_auth "/api/sessions/$S" -X DELETE
	dt=$(($(now_ms) - t0))
	is "$HTTP_STATUS" 204 "1.$round: DELETE while the run swaps is 204"
	cmp_ok "$dt" -lt 15000 "1.$round: ... answered within 15 s (took ${dt} ms)"
	is "$(canary_count)" $((NCANARY + 1)) "1.$round: every canary file outside the workspace still exists"
	check "1.$round: the session directory is gone" test ! -e "$SDIR"
	check "1.$round: nothing of it is left in the quarantine" eval "! trash_has $S"
	check "1.$round: the sandboxed swapper is gone" wait_for 10 no_swapper
	like "$(redis_cli hget "cw:{c}:run:$RUN" status)" '^(cancelled|error)$' "1.$round: the run was stopped"
	check "1.$round: its record, deleting mark and event log are gone from Redis" keys_gone "$S"
	api_auth "/api/sessions/$S"
	is "$HTTP_STATUS" 404 "1.$round: the session is 404 afterwards"
	kill "$SSE_BG_PID" 2>/dev/null
done

# ---- 2. a swapper that outlives its run (stuck runner): quarantine + fd-relative walk -------
mk_canary
session_new bypassPermissions || cw_bail "cannot create a session"
S=$SID
SDIR=$(session_dir "$S")
# A runner that holds the session's lock and never lets go.
redis_cli set "cw:{c}:lock:$S" stuck-runner PX 600000 >/dev/null
python3 "$T/swap.py" "$SDIR/files" "$CANARY" "$NCANARY" >/dev/null 2>&1 &
HOST_SWAP=$!
BG_PIDS+=("$HOST_SWAP")
wait_for 20 test -e "$SDIR/files/ready" || diag "the host swapper did not start"
t0=$(now_ms)
api_auth "/api/sessions/$S" -X DELETE
dt=$(($(now_ms) - t0))
is "$HTTP_STATUS" 204 "2: DELETE with a stuck run and a live swapper is 204"
cmp_ok "$dt" -ge 2900 "2: ... after waiting SESSION_DELETE_WAIT (3 s) for the run (${dt} ms)"
cmp_ok "$dt" -lt 15000 "2: ... and no longer than that plus the removal"
like "$(log_json 'select(.msg | test("did not stop in time")) | .session' | tail -n 1)" "$S" \
	"2: the log says the run did not stop in time"
is "$(canary_count)" $((NCANARY + 1)) "2: every canary survives a swapper that is still running"
check "2: the session directory is gone from sessions/" test ! -e "$SDIR"
kill "$HOST_SWAP" 2>/dev/null
wait "$HOST_SWAP" 2>/dev/null
redis_cli del "cw:{c}:lock:$S" >/dev/null
is "$(canary_count)" $((NCANARY + 1)) "2: ... and after it stopped"

# ---- 3. a half-done delete is finished; quarantine leftovers are swept --------------------
mk_canary
session_new || cw_bail "cannot create a session"
S=$SID
SDIR=$(session_dir "$S")
api_auth "/api/sessions/$S/files/content?path=a/b.txt" -X PUT --data-binary 'x'
redis_cli rename "cw:{c}:session:$S" "cw:{c}:deleting:$S" >/dev/null
api_auth "/api/sessions/$S"
is "$HTTP_STATUS" 404 "3: a session whose delete began is 404 for GET"
api_auth "/api/sessions/$S/files?path="
is "$HTTP_STATUS" 404 "3: ... and for the files API"
post_msg "$S" "hello"
is "$HTTP_STATUS" 404 "3: ... and no run can be queued"
api_auth /api/sessions
is "$(json "[.sessions[].id] | index(\"$S\")")" null "3: ... and it is not listed"
# Debris of an earlier crash in the quarantine: a tree with a symlink to the canaries.
mkdir -p "$WS/.trash/0123456789abcdef0123456789abcdef-dead/files/deep/er"
ln -s "$CANARY" "$WS/.trash/0123456789abcdef0123456789abcdef-dead/files/link"
ln -s "$CANARY" "$WS/.trash/0123456789abcdef0123456789abcdef-dead/files/deep/er/link"
printf 'x\n' >"$WS/.trash/0123456789abcdef0123456789abcdef-dead/files/deep/f"
chmod 000 "$WS/.trash/0123456789abcdef0123456789abcdef-dead/files/deep"
api_auth "/api/sessions/$S" -X DELETE
is "$HTTP_STATUS" 204 "3: DELETE finishes a half-done delete"
check "3: its directory is gone" test ! -e "$SDIR"
check "3: its keys are gone" keys_gone "$S"
is "$(redis_cli zscore "cw:{c}:user_sessions:ann" "$S")" "" "3: it is out of the owner's index"
check "3: the leftovers in the quarantine were swept" \
	test ! -e "$WS/.trash/0123456789abcdef0123456789abcdef-dead"
is "$(canary_count)" $((NCANARY + 1)) "3: ... without following their symlinks"
api_auth "/api/sessions/$S" -X DELETE
is "$HTTP_STATUS" 404 "3: deleting it again is 404"

# ---- 4. claude-web-admin user del, with a swapping run -------------------------------------
mk_canary
user_add eve eve-password-1 || cw_bail "user add eve: $(cat "$ADMIN_OUT")"
ANN_TOKEN=$TOKEN
login eve eve-password-1 || cw_bail "eve cannot log in"
session_new bypassPermissions || cw_bail "eve cannot create a session"
S=$SID
SDIR=$(session_dir "$S")
session_new || cw_bail "eve cannot create a second session"
S2=$SID
api_auth "/api/sessions/$S/files/content?path=swap.py" -X PUT --data-binary @"$T/swap.py"
run_bg "$S" "$(blocks "$(bash_block "python3 /workspace/swap.py /workspace '$CANARY' $NCANARY")")" 90 ||
	diag "cannot start eve's run: $HTTP_STATUS $(cat "$BODY")"
wait_for 30 test -e "$SDIR/files/ready" || diag "eve's swapper did not start"
cw_admin user del eve
is "$ADMIN_RC" 0 "4: claude-web-admin user del eve with a swapping run succeeds"
like "$(cat "$ADMIN_OUT")" 'deleted user eve and 2 session' "4: ... deleting both of her sessions"
is "$(canary_count)" $((NCANARY + 1)) "4: every canary survives"
check "4: her session directories are gone" test ! -e "$SDIR" -a ! -e "$(session_dir "$S2")"
check "4: her sandboxed swapper is gone" wait_for 10 no_swapper
is "$(redis_cli exists "cw:{c}:user_sessions:eve" "cw:{c}:session:$S" "cw:{c}:session:$S2" "cw:{c}:deleting:$S")" 0 \
	"4: her index and session records are gone"
kill "$SSE_BG_PID" 2>/dev/null
TOKEN=$ANN_TOKEN

# ---- 5. Redis full: 503, never 409 "maximum sessions" ----------------------------------------
session_new || cw_bail "cannot create a session"
KEEP=$SID
n_before=$(redis_cli zcard cw:{c}:user_sessions:ann)
d_before=$(find "$WS/sessions" -mindepth 1 -maxdepth 1 | wc -l)
redis_full() {
	# 1 byte: full whatever Redis frees meanwhile (a cap at used_memory
	# stops being "full" as soon as a client buffer is released).
	redis_cli config set maxmemory-policy noeviction >/dev/null
	redis_cli config set maxmemory 1 >/dev/null
	redis_cli set cw:{c}:test:probe 1 2>&1 | grep -q OOM
}
check "5: Redis is at maxmemory (noeviction): a SET is refused with -OOM" redis_full
api_auth /api/sessions -X POST -H 'Content-Type: application/json' --data-binary '{"title":"full"}'
is_json_error 503 "5: creating a session with Redis full is a 503 JSON error (not 409)"
is "$(json .error.type)" service_unavailable "5: ... of type service_unavailable"
unlike "$(json .error.message)" 'maximum' "5: ... not the 'maximum of sessions' message"
is "$(redis_cli zcard cw:{c}:user_sessions:ann)" "$n_before" "5: nothing was added to the owner's index"
is "$(find "$WS/sessions" -mindepth 1 -maxdepth 1 | wc -l)" "$d_before" "5: no directory was left behind"
api_auth "/api/sessions/$KEEP" -X PATCH -H 'Content-Type: application/json' --data-binary '{"title":"renamed"}'
is_json_error 503 "5: PATCH with Redis full is a 503 JSON error"
api_auth "/api/sessions/$KEEP"
is "$HTTP_STATUS/$(json .title)" "200/New session" "5: GET still works (reads) and the title is unchanged"
api_auth "/api/sessions/$KEEP" -X DELETE
is "$HTTP_STATUS" 204 "5: DELETE works with Redis full (it only removes keys)"
check "5: ... and the directory is gone" test ! -e "$(session_dir "$KEEP")"
redis_cli config set maxmemory 64mb >/dev/null
redis_cli del cw:{c}:test:probe >/dev/null
session_new
is "$HTTP_STATUS" 201 "5: with room again, creating a session is 201"
api_auth "/api/sessions/$SID" -X DELETE

# ---- 6. USER_STORAGE_QUOTA_MB=2 -----------------------------------------------------------------
user_add quinn quinn-password-1 || cw_bail "user add quinn"
login quinn quinn-password-1 || cw_bail "quinn cannot log in"
session_new || cw_bail "quinn cannot create a session: $HTTP_STATUS $(cat "$BODY")"
Q1=$SID
head -c 700000 /dev/urandom >"$T/700k"
api_auth "/api/sessions/$Q1/files/content?path=a.bin" -X PUT --data-binary @"$T/700k"
is "$HTTP_STATUS" 201 "6: a 700 kB file under the 2 MB quota is 201"
api_auth "/api/sessions/$Q1/files/content?path=b.bin" -X PUT --data-binary @"$T/700k"
is "$HTTP_STATUS" 201 "6: a second one (1.4 MB in all) is 201"
api_auth "/api/sessions/$Q1/files/content?path=c.bin" -X PUT --data-binary @"$T/700k"
is_json_error 507 "6: a third one beyond the quota is a 507 JSON error"
is "$(json .error.type)" insufficient_storage "6: ... of type insufficient_storage"
like "$(json .error.message)" 'USER_STORAGE_QUOTA_MB' "6: ... naming USER_STORAGE_QUOTA_MB"
check "6: the refused file was not written" test ! -e "$(session_dir "$Q1")/files/c.bin"
api_auth "/api/sessions/$Q1/files/content?path=a.bin" -X PUT --data-binary 'small now'
is "$HTTP_STATUS" 200 "6: a write that shrinks a file is allowed"
# What the agent writes counts too (measured on disk): 1.5 MB more, as a run would.
head -c 1500000 /dev/zero >"$(session_dir "$Q1")/files/agent.bin"
api_auth /api/sessions -X POST -H 'Content-Type: application/json' --data-binary '{}'
is_json_error 507 "6: a new session while over the quota is a 507 JSON error"
like "$(json .error.message)" 'storage quota' "6: ... saying so"
api_auth /api/sessions
is "$(json '.sessions | length')" 1 "6: the refused session was not created"
# A symlink to a big host tree is not followed when measuring.
user_add lin lin-password-1 || cw_bail "user add lin"
login lin lin-password-1 || cw_bail "lin cannot log in"
session_new || cw_bail "lin cannot create a session"
ln -s /usr "$(session_dir "$SID")/files/usr"
ln -s /usr "$(session_dir "$SID")/.claude/usr"
api_auth "/api/sessions/$SID/files/content?path=x.txt" -X PUT --data-binary 'x'
is "$HTTP_STATUS" 201 "6: symlinks to /usr in a session are not counted (not followed)"
session_new
is "$HTTP_STATUS" 201 "6: ... nor when creating a session"
# Deleting frees the quota at once.
login quinn quinn-password-1
api_auth "/api/sessions/$Q1" -X DELETE
is "$HTTP_STATUS" 204 "6: quinn deletes the session"
session_new
is "$HTTP_STATUS" 201 "6: ... and can create one again"

# ---- 7. backup.sh / restore.sh -------------------------------------------------------------------
# The stack's Redis (its users and sessions) and a workspace of our own.
cw_stop_nginx
cw_stop_app INT
mk_canary
ST=$T/state
mkdir -p "$ST/workspace/sessions/session-x/files/d" "$ST/workspace/.trash/old"
printf 'v1\n' >"$ST/workspace/sessions/session-x/files/d/f"
ln -s "$CANARY" "$ST/workspace/sessions/session-x/files/l"
printf 't\n' >"$ST/workspace/.trash/old/t"
# ops SCRIPT ARGS...: scripts/SCRIPT on that Redis and workspace.
ops() {
	local script=$1
	shift
	STATE_DIR=$ST REDIS_URL="unix://$REDIS_SOCKET?db=0" REDIS_PASSWORD=$REDIS_PASSWORD \
		WORKSPACE_PATH=$ST/workspace bash "$TOP_SRCDIR/scripts/$script" "$@"
}
NUSERS=$(redis_cli SCARD cw:{c}:users)
ops backup.sh "$T/backups" >"$T/backup.out" 2>&1
is "$?" 0 "7: backup.sh succeeds"
BK=$(find "$T/backups" -maxdepth 1 -name 'claude-web-backup-*.tar' | head -n 1)
unlike "$(tar -xOf "$BK" workspace.tar.gz | tar -tzf - 2>&1)" '\.trash' "7: the quarantine is not in the backup"
printf 'v2\n' >"$ST/workspace/sessions/session-x/files/d/f"
ops restore.sh --force "$BK" >"$T/restore.out" 2>&1
is "$?" 0 "7: restore.sh succeeds"
is "$(cat "$ST/workspace/sessions/session-x/files/d/f")" v1 "7: the backed-up content is back"
is "$(readlink "$ST/workspace/sessions/session-x/files/l")" "$CANARY" "7: a symlink is restored as a symlink"
is "$(redis_cli SCARD cw:{c}:users)" "$NUSERS" "7: the Redis data is back"
is "$(canary_count)" $((NCANARY + 1)) "7: no canary was touched"

# evil_archive NAME KIND: the backup with a workspace.tar.gz crafted by hand
# (python tarfile) and SHA256SUMS made to match (checksums find damage,
# not an attacker: the member checks must refuse it).
evil_archive() {
	local d=$T/evil/$1
	rm -rf "$d" && mkdir -p "$d/a"
	tar -C "$d/a" -xf "$BK"
	python3 - "$d/a/workspace.tar.gz" "$2" "$CANARY" <<'PYEOF'
import io, sys, tarfile
out, kind, canary = sys.argv[1:4]
def add(t, name, data=None, link=None, dir=False):
    ti = tarfile.TarInfo(name)
    if dir:
        ti.type = tarfile.DIRTYPE; ti.mode = 0o755; t.addfile(ti); return
    if link is not None:
        ti.type = tarfile.SYMTYPE; ti.linkname = link; t.addfile(ti); return
    ti.size = len(data); ti.mode = 0o644; t.addfile(ti, io.BytesIO(data))
with tarfile.open(out, "w:gz") as t:
    add(t, ".", dir=True)
    add(t, "./sessions", dir=True)
    if kind == "outside":
        add(t, "secrets/redis_password", b"pwned\n")
    elif kind == "dotdot":
        add(t, "./../../escape", b"pwned\n")
    elif kind == "through-link":
        add(t, "./evil", link=canary)
        add(t, "./evil/c0", b"pwned\n")
PYEOF
	(cd "$d/a" && find . -type f ! -name SHA256SUMS -printf '%P\n' | LC_ALL=C sort |
		xargs -d '\n' sha256sum -- >SHA256SUMS)
	tar -C "$d/a" -cf "$d/backup.tar" MANIFEST SHA256SUMS redis workspace.tar.gz config
}
for kind in outside dotdot through-link; do
	evil_archive "$kind" "$kind"
	ops restore.sh --force "$T/evil/$kind/backup.tar" >"$T/restore.out" 2>&1
	isnt "$?" 0 "7: restore.sh of an archive with a $kind member fails"
	is "$(canary_count)" $((NCANARY + 1)) "7: ... no canary was touched"
	is "$(cat "$ST/workspace/sessions/session-x/files/d/f" 2>/dev/null)" v1 \
		"7: ... and the current workspace is still in place"
	is "$(redis_cli SCARD cw:{c}:users)" "$NUSERS" "7: ... and Redis too"
	check "7: ... nothing was written outside STATE_DIR" test ! -e "$T/escape" -a ! -e "$ST/secrets"
done
check "7: no staging directory is left behind" eval '! compgen -G "$ST/.restore-*" >/dev/null'

tap_done
