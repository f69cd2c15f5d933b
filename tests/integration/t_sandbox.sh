#!/usr/bin/env bash
# t_sandbox.sh: escapes from the bash tool's bubblewrap sandbox, each tried
# for real: the fake model drives bash in a bypassPermissions session (so
# nothing asks) and the test checks both what the command saw and the host.
# Another session's files, writes outside /workspace, the Redis and FastCGI
# unix sockets (absent, and AF_UNIX refused by seccomp), TCP to nginx, a
# process flood, filling the disk and /tmp, a CPU loop, a command outliving
# SANDBOX_TIMEOUT, a daemon left behind, the server's secrets through
# /proc, uid/capabilities, a symlink to / used through the files API and the
# editor; last, SANDBOX_NETWORK=on.
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source=tests/integration/lib_auth.sh
. "$(dirname "$0")/lib_auth.sh"
# shellcheck source=tests/integration/lib_agent.sh
. "$(dirname "$0")/lib_agent.sh"
# shellcheck source=tests/integration/lib_tools.sh
. "$(dirname "$0")/lib_tools.sh"
cw_require_tools_stack

CW_CONF[SANDBOX_TIMEOUT]=3
CW_CONF[SANDBOX_CPU_SECONDS]=1
CW_CONF[SANDBOX_MAX_PROCS]=32
CW_CONF[SANDBOX_FILE_SIZE_MB]=4
CW_CONF[SANDBOX_TMP_SIZE_MB]=8
tools_stack_up
TO_MS=$((CW_CONF[SANDBOX_TIMEOUT] * 1000))
M=$$

# The victim: another session of the same user, with a secret file.
session_new || cw_bail "cannot create a session: $HTTP_STATUS $(cat "$BODY")"
VICTIM=$SID
VICTIM_DIR=$(session_dir "$VICTIM")
VICTIM_DATA=VictimData$(openssl rand -hex 6)
api_auth "/api/sessions/$VICTIM/files/content?path=secret.txt" -X PUT --data-binary "$VICTIM_DATA"
[ "$HTTP_STATUS" = 201 ] || cw_bail "cannot write the victim's file: $HTTP_STATUS $(cat "$BODY")"
[ -f "$VICTIM_DIR/files/secret.txt" ] || cw_bail "the victim's file is not at $VICTIM_DIR/files"

session_new bypassPermissions || cw_bail "cannot create a bypassPermissions session"
ATT=$SID
ATT_FILES=$(session_dir "$ATT")/files

# ---- 1. another session's files ---------------------------------------------------
bash1 "$ATT" "test -e '$VICTIM_DIR' && echo VISIBLE-DIR || echo absent-dir
cat '$VICTIM_DIR/files/secret.txt' 2>&1
ls '${CW_CONF[WORKSPACE_PATH]}/sessions' 2>&1 | head -n 5
cat /proc/1/root'$VICTIM_DIR'/files/secret.txt 2>&1
grep -rs '$VICTIM_DATA' /workspace /tmp /etc /libraries 2>/dev/null | head -n 3
echo end"
is "$(trj .is_error)" false "1: the probe ran (not refused)"
like "$(trj .stdout)" 'absent-dir' "1: the other session's directory does not exist inside"
unlike "$(trj .content)" "$VICTIM_DATA" "1: its secret file cannot be read (direct path, /proc/1/root, grep)"
like "$(trj .stdout)" 'end$' "1: the probe ran to the end"

# ---- 2. writes outside /workspace -----------------------------------------------------
bash1 "$ATT" "for p in /usr/cw_esc_$M /usr/bin/cw_esc_$M /etc/cw_esc_$M /cw_esc_$M /workspace/../cw_esc2_$M /proc/cw_esc_$M /dev/cw_esc_$M; do
  (echo x > \$p) 2>/dev/null && echo \"WROTE \$p\" || echo \"denied \$p\"
done"
OUT=$(trj .stdout)
like "$OUT" "denied /usr/cw_esc_$M" "2: writing to /usr fails (read-only)"
like "$OUT" "denied /usr/bin/cw_esc_$M" "2: writing to /usr/bin fails"
like "$OUT" "denied /etc/cw_esc_$M" "2: writing to /etc fails"
like "$OUT" "denied /cw_esc_$M" "2: writing to / fails"
like "$OUT" "denied /workspace/../cw_esc2_$M" "2: writing to /workspace/.. fails"
like "$OUT" "denied /dev/cw_esc_$M" "2: writing to /dev fails"
check "2: nothing appeared on the host (/usr, /etc, /, WORKSPACE_PATH)" eval \
	"[ ! -e /usr/cw_esc_$M ] && [ ! -e /usr/bin/cw_esc_$M ] && [ ! -e /etc/cw_esc_$M ] && [ ! -e /cw_esc_$M ] && [ ! -e '$(dirname "$ATT_FILES")/cw_esc2_$M' ]"

# ---- 3. the Redis and FastCGI unix sockets --------------------------------------------
check "3: the sockets exist on the host" eval "[ -S '$REDIS_SOCKET' ] && [ -S '$API_SOCKET' ] && [ -S '$STREAM_SOCKET' ]"
bash1 "$ATT" "for s in '$REDIS_SOCKET' '$API_SOCKET' '$STREAM_SOCKET' /run/redis /var/run; do
  test -e \"\$s\" && echo \"PRESENT \$s\" || echo \"absent \$s\"
done
python3 -c 'import socket; socket.socket(socket.AF_UNIX)' 2>&1 | tail -n 1
python3 -c 'import socket; s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)' 2>&1 | tail -n 1
python3 -c 'import socket; s = socket.socket(); print(\"inet socket ok\")' 2>&1 | tail -n 1"
OUT=$(trj .stdout)
like "$OUT" "absent $REDIS_SOCKET" "3: the Redis socket's path does not exist inside"
unlike "$OUT" 'PRESENT' "3: none of the host's sockets (Redis, api, stream, /run, /var/run) is visible inside"
is "$(printf '%s\n' "$OUT" | grep -c 'PermissionError: \[Errno 1\] Operation not permitted')" 2 \
	"3: socket(AF_UNIX, STREAM and DGRAM) fails with EPERM (seccomp)"
like "$OUT" 'inet socket ok' "3: the filter is specific: an AF_INET socket can be created"

# ---- 4. TCP to nginx and to the fake API on the host's loopback --------------------------
PROBE='import socket, sys
for port in sys.argv[1:]:
    s = socket.socket(); s.settimeout(2)
    try:
        s.connect(("127.0.0.1", int(port))); print("CONNECTED", port)
    except OSError as e:
        print("failed", port, e.errno)'
bash1 "$ATT" "python3 -c '$PROBE' $HTTPS_PORT $FAKE_PORT; curl -sk -m 2 -o /dev/null https://127.0.0.1:$HTTPS_PORT/api/live; echo curl=\$?"
OUT=$(trj .stdout)
like "$OUT" "failed $HTTPS_PORT" "4: TCP to nginx on 127.0.0.1:$HTTPS_PORT fails (network off by default)"
like "$OUT" "failed $FAKE_PORT" "4: TCP to another host service on loopback fails"
unlike "$OUT" 'CONNECTED|curl=0' "4: nothing connected"

# ---- 5. process flood --------------------------------------------------------------
FORK='import os, time
n = 0
try:
    while n < 200:
        if os.fork() == 0:
            time.sleep(1); os._exit(0)
        n += 1
    print("forked", n)
except OSError as e:
    print("forked", n, "errno", e.errno)'
bash1 "$ATT" "python3 -c '$FORK'"
OUT=$(trj .stdout)
NFORK=$(printf '%s\n' "$OUT" | awk '/^forked/ { print $2 }')
cmp_ok "$NFORK" -lt "${CW_CONF[SANDBOX_MAX_PROCS]}" \
	"5: SANDBOX_MAX_PROCS=${CW_CONF[SANDBOX_MAX_PROCS]} stops a process flood (got: $OUT)"
like "$OUT" 'errno 11' "5: fork fails with EAGAIN at the limit"
if [ -n "$NFORK" ] && [ "$NFORK" -lt "${CW_CONF[SANDBOX_MAX_PROCS]}" ]; then
	T0=$(now_ms)
	bash1 "$ATT" "sleep 1${M}5 & b() { b | b & }; b; sleep 10"
	api_get /api/live
	T1=$(now_ms)
	is "$HTTP_STATUS" 200 "5: /api/live answers 200 right after a fork bomb"
	cmp_ok $((T1 - T0)) -lt $((TO_MS + 4000)) "5: the fork bomb call ended within the timeout (+ slack)"
	is "$(host_procs "sleep 1${M}5")" "" "5: no process of the fork bomb survives on the host"
else
	# Without a working process limit a real fork bomb would exhaust the
	# host's pid space (pid_max) for everyone until the timeout hits.
	tap_skip 3 "the process limit is not enforced (see above); not running a real fork bomb"
fi

# Memory: SANDBOX_MEMORY_MB (1024 here) caps the address space.
bash1 "$ATT" "python3 -c 'x = bytearray(1536 * 1024 * 1024); print(\"ALLOCATED\")' 2>&1 | tail -n 1"
like "$(trj .stdout)" 'MemoryError' "5: allocating 1.5 GiB fails with SANDBOX_MEMORY_MB=1024"

# ---- 6. filling the disk ------------------------------------------------------------
bash1 "$ATT" "dd if=/dev/zero of=/workspace/big bs=1M count=10 status=none; echo dd=\$?
for i in 1 2 3 4; do dd if=/dev/zero of=/tmp/f\$i bs=1M count=3 2>&1 | grep -o 'No space left on device'; done
echo tmp_kb=\$(du -sk /tmp | cut -f1)
for i in 1 2 3 4; do dd if=/dev/zero of=/r\$i bs=1M count=3 status=none 2>/dev/null && echo root_ok\$i; done
for i in 1 2 3 4; do dd if=/dev/zero of=/dev/shm/s\$i bs=1M count=3 status=none 2>/dev/null && echo shm_ok\$i; done"
OUT=$(trj .content)
SZ=$(stat -c %s "$ATT_FILES/big" 2>/dev/null || echo 0)
cmp_ok "$SZ" -le $((CW_CONF[SANDBOX_FILE_SIZE_MB] * 1048576)) \
	"6: a file in /workspace cannot grow beyond SANDBOX_FILE_SIZE_MB (host size $SZ)"
like "$OUT" 'dd=(153|1)$' "6: dd past SANDBOX_FILE_SIZE_MB fails (SIGXFSZ or EFBIG)"
like "$OUT" 'No space left on device' "6: /tmp is full at SANDBOX_TMP_SIZE_MB"
TMPKB=$(printf '%s\n' "$OUT" | sed -n 's/^tmp_kb=//p')
cmp_ok "$TMPKB" -le $((CW_CONF[SANDBOX_TMP_SIZE_MB] * 1024)) "6: /tmp holds at most SANDBOX_TMP_SIZE_MB ($TMPKB KiB)"
ROOTN=$(printf '%s\n' "$OUT" | grep -c '^root_ok')
cmp_ok $((ROOTN * 3)) -le "${CW_CONF[SANDBOX_TMP_SIZE_MB]}" \
	"6: the sandbox's / is not an uncapped place to write ($((ROOTN * 3)) MiB written to /)"
SHMN=$(printf '%s\n' "$OUT" | grep -c '^shm_ok')
cmp_ok $((SHMN * 3)) -le "${CW_CONF[SANDBOX_TMP_SIZE_MB]}" \
	"6: nor is /dev/shm ($((SHMN * 3)) MiB written)"
rm -f "$ATT_FILES/big"

# ---- 7. a CPU loop ------------------------------------------------------------------
bash1 "$ATT" "sleep 1${M}6 & while :; do :; done"
cmp_ok "$(trj '.duration_ms | floor')" -lt $((TO_MS + 1000)) "7: a CPU loop is stopped (CPU limit or timeout)"
isnt "$(trj .exit_code)" 0 "7: the CPU loop did not 'succeed' (exit $(trj .exit_code))"
# Normally SIGKILL at 1 s of CPU (exit 137); on a starved machine the
# wall-clock timeout may come first (124).
like "$(trj .exit_code)" '^(137|152|124)$' "7: it was killed (exit $(trj .exit_code): CPU limit or timeout)"
bash1 "$ATT" 'ulimit -t'
is "$(trj .stdout)" "${CW_CONF[SANDBOX_CPU_SECONDS]}" "7: commands run with the CPU limit SANDBOX_CPU_SECONDS"
is "$(host_procs "sleep 1${M}6")" "" "7: no process of the CPU loop survives"

# ---- 8. outliving SANDBOX_TIMEOUT ------------------------------------------------------
bash1 "$ATT" "sleep 1${M}2"
is "$(trj .is_error)" true "8: a command past SANDBOX_TIMEOUT is an error"
like "$(trj .content)" 'timed out' "8: the result says it timed out"
is "$(trj .timed_out)" true "8: timed_out is true"
D=$(trj '.duration_ms | floor')
cmp_ok "$D" -ge $((TO_MS - 100)) "8: it ran until the timeout ($D ms)"
cmp_ok "$D" -lt $((TO_MS + 1500)) "8: and was stopped right then"
is "$(host_procs "sleep 1${M}2")" "" "8: the sleep does not survive on the host"

# ---- 9. a daemon left behind ----------------------------------------------------------
bash1 "$ATT" "setsid nohup sleep 1${M}3 & setsid nohup sleep 1${M}4 >/dev/null 2>&1 </dev/null & disown
sleep 0.3; echo running=\$(pgrep -c -x sleep)"
is "$(trj .stdout)" running=2 "9: the command started two daemons and returned"
is "$(host_procs "sleep 1${M}[34]")" "" "9: after the call no daemon (setsid nohup sleep &) is left on the host"
sleep 0.5
is "$(host_procs "sleep 1${M}[34]")" "" "9: still none half a second later"

# ---- 10. the server's secrets through /proc -----------------------------------------------
bash1 "$ATT" "echo pid1=\$(tr '\\0' ' ' </proc/1/cmdline | cut -c1-60)
echo nprocs=\$(ls /proc | grep -c '^[0-9]')
for f in /proc/[0-9]*/environ; do tr '\\0' '\\n' <\$f 2>/dev/null; done
env"
OUT=$(trj .content)
like "$OUT" 'HOME=/workspace' "10: the environments inside were read"
unlike "$OUT" "$SECRET_MARK" "10: SECRET_KEY is not visible (/proc/*/environ, env)"
unlike "$OUT" "$APIKEY_MARK" "10: ANTHROPIC_API_KEY is not visible"
unlike "$OUT" "$REDIS_PASSWORD" "10: REDIS_PASSWORD is not visible"
unlike "$OUT" 'WORKSPACE_PATH=|REDIS_URL=' "10: no claude-web setting is in any environment inside"
like "$OUT" 'pid1=/usr/bin/bwrap' "10: pid 1 inside is the sandbox's own (bwrap), not the host's init"
cmp_ok "$(printf '%s\n' "$OUT" | sed -n 's/^nprocs=//p')" -lt 10 "10: only the sandbox's few processes are in /proc"

# ---- 11. uid, capabilities, no_new_privs ----------------------------------------------------
bash1 "$ATT" "id -u; grep -E '^(CapEff|CapPrm|NoNewPrivs):' /proc/self/status; unshare -U true 2>&1 && echo USERNS-OK || echo userns-refused"
OUT=$(trj .stdout)
like "$OUT" '^1000' "11: uid inside is 1000"
like "$OUT" 'CapEff:[[:space:]]+0000000000000000' "11: CapEff is 0"
like "$OUT" 'CapPrm:[[:space:]]+0000000000000000' "11: CapPrm is 0"
like "$OUT" 'NoNewPrivs:[[:space:]]+1' "11: NoNewPrivs is 1"
like "$OUT" 'userns-refused' "11: no new user namespace can be made inside"

# ---- 12. a symlink to / planted in files/ ------------------------------------------------
bash1 "$ATT" "ln -s / link && ln -s /etc/passwd pw && ln -s .. up && ls -l link pw up"
check "12: the links exist in the session's files" eval "[ -L '$ATT_FILES/link' ] && [ -L '$ATT_FILES/pw' ]"
for p in link/etc/passwd pw up/metadata.json link/root "/workspace/link/etc/hostname"; do
	api_auth "/api/sessions/$ATT/files/content?path=$(jq -rn --arg p "$p" '$p | @uri')"
	like "$HTTP_STATUS" '^(403|404)$' "12: files API GET $p -> 403/404 (got $HTTP_STATUS)"
	unlike "$(head -c 4000 "$BODY")" 'root:x:0:0|"owner"' "12: GET $p never returns the host file"
done
api_auth "/api/sessions/$ATT/files?path=link/etc"
like "$HTTP_STATUS" '^(403|404)$' "12: listing link/etc -> 403/404"
api_auth "/api/sessions/$ATT/files/content?path=link/tmp/cw_pwn_$M" -X PUT --data-binary pwned
like "$HTTP_STATUS" '^(403|404)$' "12: PUT through the link -> 403/404 (got $HTTP_STATUS)"
check "12: nothing was written to the host's /tmp" test ! -e "/tmp/cw_pwn_$M"
tools_run "$ATT" "$(blocks \
	"$(editor_block '{"command":"view","path":"/workspace/link/etc/passwd"}')" \
	"$(editor_block '{"command":"view","path":"/workspace/pw"}')" \
	"$(editor_block "{\"command\":\"create\",\"path\":\"/workspace/link/tmp/cw_pwn2_$M\",\"file_text\":\"x\"}")")"
is "$(trn 1 .is_error)" true "12: editor view /workspace/link/etc/passwd is an error"
unlike "$(trn 1 .content)" 'root:x:0:0' "12: the editor did not show the host's /etc/passwd"
is "$(trn 2 .is_error)" true "12: editor view of a symlink to /etc/passwd is an error"
unlike "$(trn 2 .content)" 'root:x:0:0' "12: ... without the file's content"
is "$(trn 3 .is_error)" true "12: editor create through the link is an error"
check "12: the editor wrote nothing to the host's /tmp" test ! -e "/tmp/cw_pwn2_$M"
api_auth "/api/sessions/$ATT/archive"
cp "$BODY" "$T/att.tgz"
is "$HTTP_STATUS" 200 "12: the archive of a session with the links downloads"
LIST=$(tar -tzvf "$T/att.tgz" 2>&1)
like "$LIST" '^l.* \./link -> /$' "12: the archive holds the link as a symlink"
like "$LIST" '^l.* \./pw -> /etc/passwd$' "12: ... and the link to /etc/passwd as a symlink"
unlike "$LIST" '^[-dh].* \./(link|up|pw)(/|$)' "12: the archive stores the links, not what they point to"

# ---- 13. SANDBOX_NETWORK=on (restart with it) ------------------------------------------------
cw_stop_app INT
CW_CONF[SANDBOX_NETWORK]=on
if cw_start_app && wait_for 10 pool_full runner "${CW_CONF[RUNNER_WORKERS]}"; then
	# The session's network policy must be "on" too (issue 13).
	api_auth "/api/sessions/$ATT" -X PATCH -H 'Content-Type: application/json' \
		--data-binary '{"network_policy":"on"}'
	bash1 "$ATT" "python3 -c '$PROBE' $HTTPS_PORT; python3 -c 'import socket; socket.socket(socket.AF_UNIX)' 2>&1 | tail -n 1"
	like "$(trj .stdout)" "failed $HTTPS_PORT" "13: with SANDBOX_NETWORK=on the host's loopback stays out of reach (own netns behind pasta)"
	like "$(trj .stdout)" 'Operation not permitted' "13: AF_UNIX is still refused with the network on"
else
	tap_fail "13: claude-web restarted with SANDBOX_NETWORK=on"
fi

tap_done
