# shellcheck shell=bash
# tests/integration/lib_tools.sh: helpers for the tool, sandbox, permission
# and files-API integration tests (t_sandbox.sh, t_bash_tool.sh,
# t_permissions.sh, t_files_api.sh). Source it after lib.sh, lib_auth.sh and
# lib_agent.sh.
#
# Stack:   cw_require_tools_stack (SKIP without bwrap, python3, nginx, redis),
#          tools_stack_up (small sandbox limits, PERMISSION_TIMEOUT, secrets
#          with recognisable values, then agent_stack_up),
#          session_new [MODE] (-> SID), session_mode SID MODE (PATCH),
#          session_dir SID (host path of the session), session_status SID.
# Blocks:  bash_block CMD [ID], restart_block [ID], editor_block INPUT_JSON [ID]
#          (tool_use blocks for the fake model; ids are unique per test).
# Runs:    tools_run SID BLOCKS_JSON [TIMEOUT]: the fake model answers one
#          turn calling the tools in BLOCKS_JSON (a JSON array), then "done";
#          the run is read through SSE until its final event (EV, RUN_ID).
#          TRS: the tool.result events' data, one JSON line each.
#          trn N FILTER: jq -r FILTER over the N-th tool.result (1-based).
#          bash1 SID CMD [TIMEOUT]: one bash call; TR = its tool.result data.
#          editor1 SID INPUT_JSON: one editor call; TR likewise.
#          trj FILTER: jq -r FILTER over TR.
# Background runs (permission tests):
#          run_bg SID BLOCKS_JSON [TIMEOUT]: script + post + SSE in the
#          background (EV, RUN_ID, SSE_BG_PID); run_bg_scripted SID [TIMEOUT]
#          the same for a fake script already set; ev_wait TYPE [N] [SECONDS]
#          (until EV holds N events of TYPE); run_bg_wait [SECONDS] (until the
#          final event); ev_nth TYPE N (data of the N-th TYPE event).
#          perm_post SID RID JSON (-> HTTP_STATUS).
#          msg_final SID TEXT [SECONDS]: post + wait for the final event in
#          Redis (not SSE); prints its type. run_final_type SID RUN.
# Host:    host_procs PATTERN (pids matching PATTERN, pgrep -f, not us),
#          api_auth PATH [CURL ARGS] (api_get with the bearer token).

TRS=$T/trs.jsonl
TR='{}'
SECRET_MARK=SeCrEtMaRk$(openssl rand -hex 8)
APIKEY_MARK=sk-ant-ApIkEyMaRk$(openssl rand -hex 8)

cw_require_tools_stack() {
	cw_require_tools python3 ss
	if ! command -v bwrap >/dev/null 2>&1 && [ ! -x /usr/bin/bwrap ]; then
		printf '1..0 # SKIP bwrap (bubblewrap) is not installed\n'
		exit 0
	fi
	if [ ! -x /usr/bin/python3 ]; then
		# The sandbox sees only /usr: the tests run python3 inside it.
		printf '1..0 # SKIP /usr/bin/python3 is missing\n'
		exit 0
	fi
	cw_require_agent
}

# tools_stack_up: the agent stack with the sandbox limits small enough to test.
# Set CW_CONF entries before calling to override.
tools_stack_up() {
	local k
	declare -A def=(
		[SANDBOX_TIMEOUT]=2
		[SANDBOX_OUTPUT_LIMIT]=2000
		[PERMISSION_TIMEOUT]=3
		[SANDBOX_MAX_PROCS]=64
		[SANDBOX_FILE_SIZE_MB]=4
		[SANDBOX_TMP_SIZE_MB]=8
		[SANDBOX_CPU_SECONDS]=30
		[SANDBOX_MEMORY_MB]=1024
		[MAX_TURNS]=50
	)
	for k in "${!def[@]}"; do
		CW_CONF[$k]=${CW_CONF[$k]:-${def[$k]}}
	done
	# Recognisable secrets: nothing inside the sandbox may ever show them.
	CW_CONF[SECRET_KEY]=$SECRET_MARK$(openssl rand -hex 16)
	CW_ENV[ANTHROPIC_API_KEY]=$APIKEY_MARK
	agent_stack_up
}

# api_auth PATH [CURL ARGS...]: api_get with the bearer token.
api_auth() {
	local p=$1
	shift
	api_get "$p" -H "Authorization: Bearer $TOKEN" "$@"
}

# session_new [MODE]: a new session (-> SID), optionally in MODE.
session_new() {
	local body='{}'
	[ -z "${1:-}" ] || body=$(jq -cn --arg m "$1" '{permission_mode: $m}')
	api_auth /api/sessions -X POST -H 'Content-Type: application/json' \
		--data-binary "$body"
	SID=$(json '.id // empty')
	[ "$HTTP_STATUS" = 201 ] && [ -n "$SID" ]
}

# session_mode SID MODE: PATCH the permission mode.
session_mode() {
	api_auth "/api/sessions/$1" -X PATCH -H 'Content-Type: application/json' \
		--data-binary "$(jq -cn --arg m "$2" '{permission_mode: $m}')"
	[ "$HTTP_STATUS" = 200 ] && [ "$(json .permission_mode)" = "$2" ]
}

session_dir() {
	printf '%s/sessions/session-%s\n' "${CW_CONF[WORKSPACE_PATH]}" "$1"
}

# session_status SID: the session's status (idle, running, waiting, ...).
session_status() {
	api_auth "/api/sessions/$1"
	json '.status // empty'
}

# ---- tool_use blocks -------------------------------------------------------------
# (Called in $(...), so no counter: nanoseconds and $RANDOM.)
next_tool_id() {
	printf 'toolu_%s%05d\n' "$(date +%s%N)" "$RANDOM"
}

bash_block() {
	jq -cn --arg c "$1" --arg id "${2:-$(next_tool_id)}" \
		'{type: "tool_use", id: $id, name: "bash", input: {command: $c}}'
}

# shellcheck disable=SC2120 # ID is optional
restart_block() {
	jq -cn --arg id "${1:-$(next_tool_id)}" \
		'{type: "tool_use", id: $id, name: "bash", input: {restart: true}}'
}

editor_block() {
	jq -cn --argjson in "$1" --arg id "${2:-$(next_tool_id)}" \
		'{type: "tool_use", id: $id, name: "str_replace_based_edit_tool", input: $in}'
}

# blocks B1 B2 ...: a JSON array of the blocks.
blocks() {
	printf '%s\n' "$@" | jq -cs .
}

# script_tools BLOCKS_JSON: the next two turns: the tool calls, then "done".
script_tools() {
	fake_reset
	fake_script "$(jq -cn --argjson b "$1" \
		'{turns: [{content: ([{type: "text", text: "Calling tools."}] + $b)}, {text: "done"}]}')"
}

# ---- runs ------------------------------------------------------------------------
_collect_trs() {
	jq -c 'select(.event == "tool.result") | .data' "$EV" >"$TRS" 2>/dev/null
	TR=$(head -n 1 "$TRS")
	[ -n "$TR" ] || TR='{}'
}

tools_run() {
	local sid=$1 b=$2 to=${3:-30}
	: >"$TRS"
	TR='{}'
	script_tools "$b" || return 1
	run_msg "$sid" "please run the tools" "$to"
	local rc=$?
	_collect_trs
	return $rc
}

trn() {
	sed -n "${1}p" "$TRS" | jq -r "$2" 2>/dev/null
}

trj() {
	printf '%s' "$TR" | jq -r "$1" 2>/dev/null
}

bash1() {
	tools_run "$1" "$(blocks "$(bash_block "$2")")" "${3:-30}"
}

editor1() {
	tools_run "$1" "$(blocks "$(editor_block "$2")")" "${3:-30}"
}

# ---- background runs -------------------------------------------------------------
run_bg() {
	script_tools "$2" || return 1
	run_bg_scripted "$1" "${3:-30}"
}

# run_bg_scripted SID [TIMEOUT]: run_bg for a fake script already set.
run_bg_scripted() {
	local sid=$1 to=${2:-30} mark
	mark=$(events_mark "$sid")
	post_msg "$sid" "please run the tools"
	EV_N=$((EV_N + 1))
	EV=$T/ev.$EV_N.jsonl
	: >"$EV"
	[ "$HTTP_STATUS" = 202 ] || return 1
	sse_bg "$EV" --session "$sid" --last-event-id "$mark" --until "$FINAL_EVENTS" \
		--run-id "$RUN_ID" --timeout "$to"
}

_ev_has() {
	[ "$(jq -r --arg t "$1" 'select(.event == $t) | .event' "$EV" 2>/dev/null | grep -c .)" -ge "$2" ]
}

# ev_wait TYPE [N] [SECONDS]
ev_wait() {
	wait_for "${3:-10}" _ev_has "$1" "${2:-1}"
}

# ev_nth TYPE N: data of the N-th TYPE event in EV.
ev_nth() {
	jq -c --arg t "$1" 'select(.event == $t) | .data' "$EV" 2>/dev/null | sed -n "${2}p"
}

run_bg_wait() {
	wait_for "${1:-20}" pid_gone "$SSE_BG_PID"
	wait "$SSE_BG_PID" 2>/dev/null
	SSE_END=$(jq -r '.reason' "$EV.end" 2>/dev/null)
	_collect_trs
	[ "$SSE_END" = until ]
}

# perm_post SID RID JSON
perm_post() {
	api_auth "/api/sessions/$1/permissions/$2" -X POST \
		-H 'Content-Type: application/json' --data-binary "$3"
}

# run_final_type SID RUN: the type of RUN's final event, read from Redis
# (for runs whose events the SSE client cannot read); "" while running.
run_final_type() {
	redis_cli XRANGE "cw:{c}:events:$1" - + 2>/dev/null | LC_ALL=C tr -d '\r' |
		LC_ALL=C awk -v run="\"run_id\":\"$2\"" '
			/^run\.(finished|error|cancelled)$/ { t = $0; n = 3; next }
			n > 0 { n--; if (index($0, run)) { print t; exit } }'
}

_has_final() {
	[ -n "$(run_final_type "$1" "$2")" ]
}

# msg_final SID TEXT [SECONDS]: posts TEXT, waits for the run's final event in
# Redis; prints its type (RUN_ID set).
msg_final() {
	post_msg "$1" "$2"
	[ "$HTTP_STATUS" = 202 ] || return 1
	# (Not run_final_in_redis: grep gives up on streams holding non-UTF-8 bytes.)
	wait_for "${3:-20}" _has_final "$1" "$RUN_ID"
	run_final_type "$1" "$RUN_ID"
}

# ---- host processes --------------------------------------------------------------
# host_procs PATTERN: pids whose command line matches PATTERN (ERE), except
# this shell's own pipeline.
host_procs() {
	pgrep -f -- "$1" 2>/dev/null | grep -vx -e "$$" -e "${BASHPID:-$$}" || true
}
