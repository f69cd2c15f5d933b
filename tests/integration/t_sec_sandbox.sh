#!/usr/bin/env bash
# t_sec_sandbox.sh: issue 10's sandbox findings, each tried for real through
# the bash tool (the fake model calls bash in a bypassPermissions session):
#  1. memory: a command allocating far more than SANDBOX_MEMORY_MAX_MB is
#     OOM-killed by its memory cgroup (RLIMIT_AS is set high here, so only
#     the cgroup can stop it), with a clear tool result; the stack stays
#     healthy and the next command runs.
#  2. disk: SESSION_DISK_QUOTA_MB: a command writing past it is stopped and
#     told "disk quota exceeded: X of Y used"; then POST messages and a PUT
#     upload answer 507 JSON (insufficient_storage); deleting files through
#     the files API lifts it; an upload that would cross the quota is a 507;
#     over the quota a command can still delete (and cannot grow files).
#  3. setuid: chmod 4755 / creating a setuid file fails inside (EPERM); the
#     workspace is mounted nosuid,nodev; a setuid file put there from the
#     host loses its bit after the next command.
#  4. what the sandbox and the host see: /proc/1/cmdline, the environment
#     and the cwd inside hold no host path; the host's ps shows neither the
#     command's text nor the workspace's host path while it runs.
#  5. seccomp: keyctl/add_key/request_key, ptrace, personality(
#     ADDR_NO_RANDOMIZE), AF_NETLINK/AF_VSOCK/AF_PACKET sockets, bpf,
#     perf_event_open, mount, unshare, setns, name_to_handle_at,
#     process_vm_readv, kcmp fail with EPERM; clone3 with ENOSYS; ordinary
#     work (fork, threads, subprocess, AF_INET) still runs.
#  6. a full disk (WORKSPACE_PATH on a 3 MiB tmpfs, quotas off): the files
#     API and POST messages answer 507 JSON, never 500.
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source=tests/integration/lib_auth.sh
. "$(dirname "$0")/lib_auth.sh"
# shellcheck source=tests/integration/lib_agent.sh
. "$(dirname "$0")/lib_agent.sh"
# shellcheck source=tests/integration/lib_tools.sh
. "$(dirname "$0")/lib_tools.sh"
cw_require_tools_stack

CW_CONF[SANDBOX_TIMEOUT]=20
CW_CONF[SANDBOX_MEMORY_MB]=16384	# RLIMIT_AS out of the way: the cgroup must act
CW_CONF[SANDBOX_MEMORY_MAX_MB]=192
CW_CONF[SANDBOX_FILE_SIZE_MB]=512	# likewise RLIMIT_FSIZE: the quota must act
CW_CONF[SESSION_DISK_QUOTA_MB]=48
CW_CONF[MAX_FILE_SIZE]=4194304
CW_CONF[SANDBOX_OUTPUT_LIMIT]=200000	# section 4 reads all of /proc
tools_stack_up
M=$$
QUOTA=$((CW_CONF[SESSION_DISK_QUOTA_MB] * 1048576))

# fput SID PATH FILE [CURL ARGS]: PUT FILE's bytes to PATH through the files API.
fput() {
	api_auth "/api/sessions/$1/files/content?path=$(jq -rn --arg p "$2" '$p | @uri')" \
		-X PUT --data-binary "@$3" "${@:4}"
}

# ---- 1. memory ---------------------------------------------------------------
session_new bypassPermissions || cw_bail "cannot create a session: $HTTP_STATUS $(cat "$BODY")"
S1=$SID
bash1 "$S1" "python3 -c 'x = b\"x\" * (640 << 20); print(\"ALLOCATED\", len(x))'; echo after=\$?"
is "$SSE_END" until "1: the run with the allocation finished"
unlike "$(trj .stdout)" 'ALLOCATED' "1: 640 MiB could not be allocated and touched (SANDBOX_MEMORY_MAX_MB=192)"
like "$(trj .stdout)" 'after=137' "1: the allocating process was killed (SIGKILL by the OOM killer)"
is "$(trj .oom_killed)" true "1: tool.result says oom_killed"
is "$(trj .is_error)" true "1: the result is an error for Claude"
like "$(trj .content)" 'ran out of memory.*192\.0 MiB.*SANDBOX_MEMORY_MAX_MB' \
	"1: Claude is told the command ran out of memory at the limit"
api_get /api/live
is "$HTTP_STATUS" 200 "1: /api/live answers 200 after the OOM kill"
bash1 "$S1" 'echo still-works'
is "$(trj .stdout)" still-works "1: the next command in the session runs normally"
is "$(trj .oom_killed)" false "1: ... and is not reported as OOM"
bash1 "$S1" "python3 -c 'x = b\"x\" * (64 << 20); print(\"ALLOCATED\", len(x) >> 20)'"
is "$(trj .stdout)" 'ALLOCATED 64' "1: an allocation under the limit works"

# ---- 2. disk quota -------------------------------------------------------------
session_new bypassPermissions || cw_bail "cannot create a session"
S2=$SID
F2=$(session_dir "$S2")/files
bash1 "$S2" 'head -c 20M /dev/zero > a.bin; echo rc=$?'
is "$(trj .stdout)" rc=0 "2: 20 MiB fit in the 48 MiB quota"
is "$(trj .quota_exceeded)" false "2: quota_exceeded false"
cmp_ok "$(trj .disk_used_bytes)" -ge $((20 * 1048576)) "2: disk_used_bytes counts the file ($(trj .disk_used_bytes))"
is "$(trj .disk_quota_bytes)" "$QUOTA" "2: disk_quota_bytes is SESSION_DISK_QUOTA_MB"
# Many files, each below the per-file cap (the room left), 80 MiB in all,
# at a pace the watch can see: it stops the command once over the quota.
bash1 "$S2" 'for i in $(seq 1 10); do head -c 8M /dev/zero > f$i.bin || break; sleep 0.4; done; echo wrote=$i'
is "$(trj .is_error)" true "2: writing past the quota is an error"
is "$(trj .quota_exceeded)" true "2: quota_exceeded true"
like "$(trj .content)" 'disk quota exceeded: [0-9.]+ MiB of 48\.0 MiB used' \
	"2: Claude is told 'disk quota exceeded: X of Y used'"
like "$(trj .content)" 'the command was stopped' "2: ... and that the command was stopped"
unlike "$(trj .stdout)" 'wrote=10' "2: the command did not get to write its 80 MiB"
NF=$(find "$F2" -name 'f*.bin' | wc -l)
cmp_ok "$NF" -lt 8 "2: it was stopped soon after crossing the quota ($NF of 10 files)"
post_msg "$S2" "hello"
is_json_error 507 "2: POST messages over the quota is 507 JSON"
is "$(json .error.type)" insufficient_storage "2: ... of type insufficient_storage"
like "$(json .error.message)" 'disk quota exceeded: .* of 48\.0 MiB used' "2: ... saying how much is used"
head -c 1000 /dev/zero >"$T/small.bin"
fput "$S2" up.bin "$T/small.bin"
is_json_error 507 "2: an upload (PUT files/content) over the quota is 507 JSON"
is "$(json .error.type)" insufficient_storage "2: ... insufficient_storage"
check "2: the refused upload wrote nothing" test ! -e "$F2/up.bin"
for f in $(cd "$F2" && ls f*.bin); do
	api_auth "/api/sessions/$S2/files/content?path=$f" -X DELETE
done
is "$HTTP_STATUS" 204 "2: deleting files through the files API works over the quota"
post_msg "$S2" "hello again"
is "$HTTP_STATUS" 202 "2: under the quota again, POST messages is 202"
wait_for 20 run_final_in_redis "$S2" "$RUN_ID" || diag "the run did not finish"
# Now 20 MiB used: a 4 MiB upload fits, one that crosses the quota does not.
head -c 4194304 /dev/zero >"$T/four.bin"
fput "$S2" four.bin "$T/four.bin"
is "$HTTP_STATUS" 201 "2: an upload that fits is 201"
bash1 "$S2" 'head -c 22M /dev/zero > b.bin; echo rc=$?'
is "$(trj .quota_exceeded)" false "2: 46 MiB used: still under the quota"
fput "$S2" five.bin "$T/four.bin"
is_json_error 507 "2: an upload that would cross the quota is 507 JSON"
like "$(json .error.message)" 'this write of 4194304 bytes does not fit' "2: ... naming the write that does not fit"
# In one run: over the quota, a bigger file cannot be written but rm works.
tools_run "$S2" "$(blocks \
	"$(bash_block 'for i in 1 2 3; do head -c 1M /dev/zero > c$i.bin; done; echo rc=$?')" \
	"$(bash_block 'head -c 1M /dev/zero > d.bin; echo rc=$?')" \
	"$(bash_block 'rm -f b.bin c?.bin d.bin; echo cleaned')")"
is "$(trn 1 .quota_exceeded)" true "2: writes crossing the quota leave it exceeded"
like "$(trn 2 .content)" 'File size limit exceeded|rc=153' "2: over the quota, a command cannot grow a file to 1 MiB"
is "$(trn 3 .stdout)" cleaned "2: ... but can delete files"
is "$(trn 3 .quota_exceeded)" false "2: after rm the session is under its quota"
post_msg "$S2" "and again"
is "$HTTP_STATUS" 202 "2: and can take messages again"
wait_for 20 run_final_in_redis "$S2" "$RUN_ID" || diag "the run did not finish"

# ---- 3. setuid files --------------------------------------------------------------
session_new bypassPermissions || cw_bail "cannot create a session"
S3=$SID
F3=$(session_dir "$S3")/files
bash1 "$S3" "cp /bin/true s1; chmod 4755 s1; echo chmod=\$?; chmod g+s s1; echo chmodg=\$?
python3 -c 'import os
try:
    os.open(\"s2\", os.O_CREAT | os.O_WRONLY, 0o4755); print(\"created\")
except OSError as e:
    print(\"create errno\", e.errno)'
grep ' /workspace ' /proc/self/mountinfo"
OUT=$(trj .content)
like "$OUT" 'chmod=1' "3: chmod 4755 fails inside"
like "$OUT" 'chmodg=1' "3: chmod g+s fails inside"
like "$OUT" 'Operation not permitted' "3: ... with EPERM"
like "$OUT" 'create errno 1' "3: creating a file with mode 4755 fails with EPERM"
like "$OUT" ' /workspace [^ ]*nosuid' "3: /workspace is mounted nosuid"
like "$OUT" ' /workspace [^ ]*nodev' "3: /workspace is mounted nodev"
MODE=$(stat -c %a "$F3/s1" 2>/dev/null)
is "$MODE" 755 "3: on the host the file is not setuid or setgid (mode $MODE)"
check "3: the setuid file that was asked for does not exist on the host" test ! -e "$F3/s2"
# A setuid file arriving from the host side (code-server, an archive...).
cp /bin/true "$F3/host-suid" && chmod 6755 "$F3/host-suid"
bash1 "$S3" 'ls -l host-suid'
MODE=$(stat -c %a "$F3/host-suid")
is "$MODE" 755 "3: a setuid/setgid file put in files/ on the host loses both bits after a command (mode $MODE)"
like "$(trj .content)" 'setuid/setgid bits of 1 file' "3: ... and Claude is told"

# ---- 4. host paths and commands ---------------------------------------------------
session_new bypassPermissions || cw_bail "cannot create a session"
S4=$SID
F4=$(session_dir "$S4")/files
bash1 "$S4" "echo cmdline=\$(tr '\\0' ' ' </proc/1/cmdline)
for p in /proc/[0-9]*; do tr '\\0' ' ' <\$p/cmdline; echo; done
for p in /proc/[0-9]*; do tr '\\0' '\\n' <\$p/environ 2>/dev/null; done
env; pwd; echo cwd=\$(readlink /proc/self/cwd); ls -l /proc/self/fd /proc/1/fd 2>&1"
OUT=$(trj .content)
like "$OUT" 'cmdline=' "4: the probe ran"
is "$(trj .truncated_bytes)" 0 "4: all of its output was kept"
unlike "$OUT" "$T" "4: no host path (the test dir $T) in any /proc/*/cmdline, environ, env, cwd or fd inside"
unlike "$(printf '%s\n' "$OUT" | grep '^cmdline=' | cut -c9-)" 'readlink|environ' \
	"4: /proc/1/cmdline does not show the command"
like "$OUT" 'cwd=/workspace' "4: the cwd is /workspace"
# The host's ps while a command runs.
MARK=secretmark$M$RANDOM
run_bg "$S4" "$(blocks "$(bash_block ": $MARK; sleep 4.$M; echo done")")" 30
_sleeping() { ps -eo args | grep -q "^sleep 4\.$M"; }
if wait_for 20 _sleeping; then
	PS=$(ps -eo args)
	unlike "$PS" "$MARK" "4: the host's ps does not show the command text"
	unlike "$PS" "$F4" "4: ... nor the workspace's host path"
	like "$PS" 'bwrap --args' "4: (the sandbox is running: bwrap is in ps)"
else
	tap_fail "4: the command was seen running on the host"
fi
run_bg_wait 30
is "$(trj .stdout)" done "4: the command ran to the end"

# ---- 5. seccomp ------------------------------------------------------------------
PROBE='import ctypes, errno, os, socket, threading, subprocess
libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long
def sc(name, nr, *args):
    ctypes.set_errno(0)
    r = libc.syscall(ctypes.c_long(nr), *[ctypes.c_long(a) for a in args])
    print(name, "ok" if r >= 0 else errno.errorcode.get(ctypes.get_errno(), "?"))
sc("add_key", 248, 0, 0, 0, 0, -3)
sc("keyctl", 250, 0, -3, 1)
sc("request_key", 249, 0, 0, 0, 0)
sc("ptrace", 101, 0, 0, 0, 0)
sc("personality_aslr", 135, 0x0040000)
sc("personality_query", 135, 0xffffffff)
sc("bpf", 321, 0, 0, 0)
sc("perf_event_open", 298, 0, 0, -1, -1, 0)
sc("mount", 165, 0, 0, 0, 0, 0)
sc("unshare", 272, 0x20000)
sc("setns", 308, 0, 0)
sc("name_to_handle_at", 303, -100, 0, 0, 0, 0)
sc("process_vm_readv", 310, os.getpid(), 0, 0, 0, 0, 0)
sc("kcmp", 312, os.getpid(), os.getpid(), 0, 0, 0)
sc("clone3", 435, 0, 0)
for fam, name in ((16, "netlink"), (40, "vsock"), (17, "packet"), (2, "inet")):
    try:
        socket.socket(fam, socket.SOCK_STREAM if fam in (2, 40) else socket.SOCK_DGRAM).close()
        print("socket_" + name, "ok")
    except OSError as e:
        print("socket_" + name, errno.errorcode.get(e.errno, "?"))
t = threading.Thread(target=lambda: print("thread ok")); t.start(); t.join()
print(subprocess.run(["echo", "subprocess ok"], capture_output=True, text=True).stdout.strip())
pid = os.fork()
if pid == 0:
    os._exit(7)
print("fork ok", os.WEXITSTATUS(os.waitpid(pid, 0)[1]))'
bash1 "$S4" "python3 -u -c '$PROBE'"
OUT=$(trj .stdout)
for c in add_key keyctl request_key ptrace personality_aslr bpf perf_event_open mount \
	unshare setns name_to_handle_at process_vm_readv kcmp; do
	is "$(printf '%s\n' "$OUT" | grep "^$c ")" "$c EPERM" "5: $c fails with EPERM"
done
like "$OUT" 'socket_netlink EPERM' "5: socket(AF_NETLINK) fails with EPERM"
like "$OUT" 'socket_vsock EPERM' "5: socket(AF_VSOCK) fails with EPERM"
like "$OUT" 'socket_packet EPERM' "5: socket(AF_PACKET) fails with EPERM"
like "$OUT" 'clone3 ENOSYS' "5: clone3 fails with ENOSYS (the C library falls back to clone)"
like "$OUT" 'personality_query ok' "5: personality(0xffffffff) (a query) still works"
like "$OUT" 'socket_inet ok' "5: AF_INET sockets still work"
like "$OUT" 'thread ok' "5: threads still start"
like "$OUT" 'subprocess ok' "5: subprocesses still run"
like "$OUT" 'fork ok 7' "5: fork and wait still work"
api_get /api/live
is "$HTTP_STATUS" 200 "5: the stack is healthy at the end"

# ---- 6. a full disk ---------------------------------------------------------------
SMALL=$T/smallws
_small_cleanup() {
	mountpoint -q "$SMALL" 2>/dev/null && umount -l "$SMALL"
}
trap '_small_cleanup; cw_cleanup' EXIT
if [ "$(id -u)" = 0 ] && mkdir -p "$SMALL" && mount -t tmpfs -o size=3m tmpfs "$SMALL" 2>/dev/null; then
	cw_stop_app INT
	CW_CONF[WORKSPACE_PATH]=$SMALL
	CW_CONF[SESSION_DISK_QUOTA_MB]=0
	CW_CONF[USER_STORAGE_QUOTA_MB]=0
	if cw_start_app && wait_for 10 pool_full runner "${CW_CONF[RUNNER_WORKERS]}" &&
		session_new bypassPermissions; then
		S6=$SID
		head -c 1048576 /dev/zero >"$T/one.bin"
		for i in 1 2 3 4; do
			fput "$S6" "full$i.bin" "$T/one.bin"
			[ "$HTTP_STATUS" = 507 ] && break
		done
		is_json_error 507 "6: a write to a full disk is 507 JSON (after $((i - 1)) MiB fitted)"
		is "$(json .error.type)" insufficient_storage "6: ... insufficient_storage, not 500"
		# Fill what is left, then a message cannot be stored either.
		head -c 262144 /dev/zero >"$T/quarter.bin"
		for i in 1 2 3 4 5 6 7 8; do
			fput "$S6" "q$i.bin" "$T/quarter.bin"
			[ "$HTTP_STATUS" = 507 ] && break
		done
		api_auth "/api/sessions/$S6/files/mkdir" -X POST -H 'Content-Type: application/json' \
			--data-binary '{"path":"d1"}'
		like "$HTTP_STATUS" '^(201|507)$' "6: mkdir on a full disk is 201 or 507, never 500 (got $HTTP_STATUS)"
		post_msg "$S6" "$(head -c 100000 /dev/zero | tr '\0' x)"
		like "$HTTP_STATUS" '^(202|507)$' "6: POST messages on a full disk is 202 or 507, never 500 (got $HTTP_STATUS)"
	else
		tap_fail "6: claude-web restarted with WORKSPACE_PATH on a small tmpfs"
	fi
else
	tap_skip 4 "needs root to mount a small tmpfs"
fi

tap_done
