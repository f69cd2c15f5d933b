#!/usr/bin/env bash
# t_standby.sh: the standby sandbox (SANDBOX_PREWARM, fcgi-app/sandbox.h):
#   1. while the model answers, the runner already holds a sandbox of the
#      session (bwrap, its child), and the run's command uses it;
#   2. each command still gets a fresh sandbox: nothing one command leaves
#      (a /tmp file, a daemon, a shell variable) is seen by the next;
#   3. a standby never serves another session: runs of two sessions, one
#      runner, each command sees its own workspace;
#   4. the disk quota's room still caps a command's file size when its
#      sandbox was started before the room was known;
#   5. when the run ends the standby is gone (no bwrap child of the runner);
#   6. SANDBOX_PREWARM=off: no sandbox before the command, commands work.
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source=tests/integration/lib_auth.sh
. "$(dirname "$0")/lib_auth.sh"
# shellcheck source=tests/integration/lib_agent.sh
. "$(dirname "$0")/lib_agent.sh"
# shellcheck source=tests/integration/lib_tools.sh
. "$(dirname "$0")/lib_tools.sh"
cw_require_tools_stack

CW_CONF[RUNNER_WORKERS]=1
CW_CONF[SESSION_DISK_QUOTA_MB]=8
CW_CONF[MAX_FILE_SIZE]=8388608
tools_stack_up
M=$$

# runner_bwrap: bwrap processes whose parent is the (only) runner.
runner_bwrap() {
	local r
	for r in $(worker_pids runner); do
		pgrep -P "$r" -x bwrap 2>/dev/null
	done
}
# has_standby: the runner's sandbox is up to its bash (waiting for a command).
has_standby() {
	local b c g
	for b in $(runner_bwrap); do
		for c in $(pgrep -P "$b"); do
			[ "$(cat "/proc/$c/comm" 2>/dev/null)" = bash ] && return 0
			for g in $(pgrep -P "$c"); do
				[ "$(cat "/proc/$g/comm" 2>/dev/null)" = bash ] && return 0
			done
		done
	done
	return 1
}
no_standby() { [ -z "$(runner_bwrap)" ]; }

# held_run SID BLOCKS_JSON GATE: the first turn (the tool calls) waits at
# GATE in the fake until released; the run is read in the background.
held_run() {
	fake_reset
	fake_script "$(jq -cn --argjson b "$2" --arg g "$3" \
		'{turns: [{hold: $g, content: ([{type: "text", text: "Calling tools."}] + $b)},
		          {text: "done"}]}')" || return 1
	run_bg_scripted "$1" 30
}

# fput SID PATH FILE: PUT FILE's bytes to PATH through the files API.
fput() {
	api_auth "/api/sessions/$1/files/content?path=$(jq -rn --arg p "$2" '$p | @uri')" \
		-X PUT --data-binary "@$3"
}

# ---- 1. the sandbox is started while the model answers ---------------------------
session_new bypassPermissions || cw_bail "cannot create a session: $HTTP_STATUS $(cat "$BODY")"
SA=$SID
echo "mark-A-$M" >"$(session_dir "$SA")/files/mark"
check "1: no sandbox before the run" no_standby
held_run "$SA" "$(blocks "$(bash_block 'cat /workspace/mark; cut -d" " -f22 /proc/1/stat')")" gate1 ||
	cw_bail "cannot start the run: $HTTP_STATUS"
check "1: the model's turn is held in the fake" wait_for 15 fake_held 1
check "1: while the model answers, the runner has a sandbox started (bwrap, bash waiting in it)" \
	wait_for 10 has_standby
# (Clock ticks since boot, the unit of /proc/PID/stat's start time.)
RELEASED=$(awk -v hz="$(getconf CLK_TCK)" '{ printf "%d", $1 * hz }' /proc/uptime)
fake_release gate1
check "1: the run finished" run_bg_wait 30
is "$(trj .stdout | head -n 1)" "mark-A-$M" "1: the command ran in the session's workspace"
is "$(trj .exit_code)" 0 "1: exit code 0"
STARTED=$(trj .stdout | sed -n 2p)
cmp_ok "${STARTED:-999999999999}" -lt "$RELEASED" \
	"1: the command's sandbox (its pid 1) was started before the model's answer came ($STARTED < $RELEASED ticks)"

# ---- 5. (after section 1's run) nothing is left ------------------------------------
check "5: once the run's final event is out, the runner has no sandbox left" no_standby

# ---- 2. a fresh sandbox per command ------------------------------------------------
tools_run "$SA" "$(blocks \
	"$(bash_block "echo left > /tmp/left-$M; export LEFT=1; (setsid sleep 31$M >/dev/null 2>&1 &); echo started")" \
	"$(bash_block "cat /tmp/left-$M 2>/dev/null || echo no-tmp-file; echo \"LEFT=\${LEFT:-unset}\"; n=0; for c in /proc/[0-9]*/cmdline; do tr '\\0' ' ' <\$c 2>/dev/null | grep -q '^sleep 31$M' && n=\$((n+1)); done; echo sleeps=\$n")")"
is "$(trn 1 .stdout)" started "2: the first command started a daemon"
is "$(trn 2 .stdout)" "no-tmp-file
LEFT=unset
sleeps=0" "2: the next command sees no /tmp file, no variable and no daemon of the first"
is "$(host_procs "^sleep 31$M")" "" "2: the daemon is not running on the host"

# ---- 3. another session on the same runner -----------------------------------------
session_new bypassPermissions || cw_bail "cannot create a session"
SB=$SID
echo "mark-B-$M" >"$(session_dir "$SB")/files/mark"
bash1 "$SB" 'cat /workspace/mark'
is "$(trj .stdout)" "mark-B-$M" "3: session B's command sees B's workspace"
bash1 "$SA" 'cat /workspace/mark'
is "$(trj .stdout)" "mark-A-$M" "3: then session A's command sees A's"
bash1 "$SB" 'cat /workspace/mark; ls /workspace'
is "$(trj .stdout)" "mark-B-$M
mark" "3: and B's again sees only B's files"

# ---- 4. the quota's room reaches a sandbox started before it was known -------------
session_new bypassPermissions || cw_bail "cannot create a session"
SC=$SID
head -c 7340032 /dev/zero >"$T/seven.bin"
fput "$SC" seven.bin "$T/seven.bin"
is "$HTTP_STATUS" 201 "4: 7 MiB uploaded into an 8 MiB quota" || diag "$(cat "$BODY")"
held_run "$SC" "$(blocks "$(bash_block 'ulimit -f; head -c 3M /dev/zero > big.bin; echo rc=$?')")" gate4 ||
	cw_bail "cannot start the run"
check "4: the model's turn is held" wait_for 15 fake_held 1
check "4: the sandbox is started before the command (and the room) is known" \
	wait_for 10 has_standby
fake_release gate4
check "4: the run finished" run_bg_wait 30
cmp_ok "$(trj .stdout | head -n 1)" -le 1024 "4: inside, ulimit -f is the room left (at most 1 MiB: $(trj .stdout | head -n 1) KiB)"
like "$(trj .stdout)" 'rc=153' "4: writing 3 MiB fails with SIGXFSZ (exit 153)"
like "$(trj .content)" 'could grow by at most' "4: Claude is told how much files could grow"

# ---- 6. SANDBOX_PREWARM=off --------------------------------------------------------
cw_stop_app INT
CW_CONF[SANDBOX_PREWARM]=off
cw_start_app && wait_for 10 pool_full runner 1 || cw_bail "cannot restart claude-web"
held_run "$SA" "$(blocks "$(bash_block 'cat /workspace/mark')")" gate6 ||
	cw_bail "cannot start the run"
check "6: the model's turn is held" wait_for 15 fake_held 1
check "6: SANDBOX_PREWARM=off: no sandbox while the model answers" no_standby
fake_release gate6
check "6: the run finished" run_bg_wait 30
is "$(trj .stdout)" "mark-A-$M" "6: the command runs in a sandbox started with it"
check "6: no sandbox after it" no_standby

tap_done
