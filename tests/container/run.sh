#!/usr/bin/env bash
# tests/container/run.sh: the compose deployment, as an operator runs it,
# on this machine's podman (runc, cgroupfs) with podman-compose. TAP on stdout.
#
#  1. builds the images (scripts/container-build.sh: the local base image,
#     then the app, nginx and Redis images; podman's layer cache makes a
#     second run quick)
#  2. brings up compose.yaml + tests/container/compose.test.yaml (the fake
#     Anthropic API as a service, the app pointed at it) under a project name
#     of its own, on free ports, with secrets made by scripts/container-secrets.sh
#  3. waits for every container's health check, then the smoke checks through
#     nginx (health, security headers, the UI, /code/ 503, HTTP -> HTTPS)
#  4. logs in as the first admin (made by the app's entry point from the
#     admin_password secret) and runs the agent: the fake model calls bash,
#     which runs in bubblewrap inside the app container; the events come back
#     over SSE from the stream pool (TCP listener, through nginx)
#  5. scales the app to 2 replicas (APP_REPLICAS=2 up -d): nginx finds the
#     second one by the service name, both answer requests, a run still works
#  6. tears everything down (containers, volumes, network)
#
# Exit: 0 all passed, 1 a failure, 77 skipped (podman or podman-compose
# missing: scripts/install-deps.sh --containers). CW_KEEP=1 keeps the stack
# and the temporary directory. CW_CONTAINER_GIT=REV builds from a commit;
# CW_CONTAINER_NO_BUILD=1 uses the images as they are.
set -uo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
CW_PROG='container-test'
# shellcheck source=scripts/lib-common.sh
. "$ROOT/scripts/lib-common.sh"
# shellcheck source=scripts/container-lib.sh
. "$ROOT/scripts/container-lib.sh"
cd "$ROOT" || exit 1

# ---- TAP ------------------------------------------------------------------------------
N=0 FAILED=0
diag() { printf '%s\n' "$*" | sed 's/^/# /'; }
ok() {
	N=$((N + 1))
	printf 'ok %d - %s\n' "$N" "$1"
}
nok() {
	N=$((N + 1))
	FAILED=$((FAILED + 1))
	printf 'not ok %d - %s\n' "$N" "$1"
	shift
	[ $# -eq 0 ] || diag "$*"
}
check() { # check DESC CMD...
	local d=$1
	shift
	if "$@"; then ok "$d"; else nok "$d"; fi
}
is() { # is GOT WANT DESC
	if [ "$1" = "$2" ]; then ok "$3"; else nok "$3" "got '$1', want '$2'"; fi
}
bail() {
	FAILED=$((FAILED + 1))
	printf 'Bail out! %s\n' "$1"
	exit 1
}
wait_for() { # wait_for SECONDS CMD...
	local end=$((SECONDS + $1))
	shift
	until "$@"; do
		[ "$SECONDS" -lt "$end" ] || return 1
		sleep 0.5
	done
}

missing=$(cw_missing_cmds podman podman-compose curl jq openssl | tr '\n' ' ')
if [ -n "$missing" ]; then
	echo "1..0 # SKIP missing: $missing(scripts/install-deps.sh --containers)"
	exit 77
fi
cw_podman_init

T=$(mktemp -d "${TMPDIR:-/tmp}/cwct.XXXXXX") || bail "mktemp failed"
P=cwtest$$
export CW_SECRETS_DIR=$T/secrets
HTTPS_PORT=$(cw_free_port) HTTP_PORT=$(cw_free_port) CW_FAKE_PORT=$(cw_free_port)
while [ "$HTTP_PORT" = "$HTTPS_PORT" ]; do HTTP_PORT=$(cw_free_port); done
while [ "$CW_FAKE_PORT" = "$HTTPS_PORT" ] || [ "$CW_FAKE_PORT" = "$HTTP_PORT" ]; do CW_FAKE_PORT=$(cw_free_port); done
export HTTPS_PORT HTTP_PORT CW_FAKE_PORT APP_REPLICAS=1
export ALLOWED_ORIGINS=https://localhost:$HTTPS_PORT
URL=https://localhost:$HTTPS_PORT
FAKE=http://127.0.0.1:$CW_FAKE_PORT
started=$SECONDS

compose() {
	echo "+ podman-compose -p $P $*" >>"$T/compose.log"
	cw_compose -p "$P" -f compose.yaml -f tests/container/compose.test.yaml "$@" >>"$T/compose.log" 2>&1
}
containers() { # names of the project's containers (running or not)
	"${CW_PODMAN[@]}" ps -a --filter "label=io.podman.compose.project=$P" --format '{{.Names}}' 2>/dev/null
}
cleanup() {
	local c
	trap - EXIT INT TERM
	if [ "$FAILED" -gt 0 ]; then
		for c in $(containers); do
			diag "---- podman logs $c (last 25 lines)"
			diag "$("${CW_PODMAN[@]}" logs --tail 25 "$c" 2>&1 | grep -v 'systemd connection')"
		done
		diag "---- $T/compose.log (last 15 lines)"
		diag "$(tail -n 15 "$T/compose.log" 2>/dev/null)"
	fi
	if [ "${CW_KEEP:-0}" = 1 ]; then
		diag "kept: project $P (podman-compose -p $P -f compose.yaml -f tests/container/compose.test.yaml down -v), $T"
	else
		APP_REPLICAS=2 compose down -v -t 10 || :
		for c in $(containers); do "${CW_PODMAN[@]}" rm -f "$c" >/dev/null 2>&1; done
		"${CW_PODMAN[@]}" volume ls -q --filter "label=io.podman.compose.project=$P" 2>/dev/null |
			while read -r v; do "${CW_PODMAN[@]}" volume rm -f "$v" >/dev/null 2>&1; done
		"${CW_PODMAN[@]}" network rm -f "${P}_default" >/dev/null 2>&1
		rm -rf -- "$T"
	fi
	diag "took $((SECONDS - started))s"
	printf '1..%d\n' "$N"
	[ "$FAILED" -eq 0 ]
	exit $?
}
trap cleanup EXIT
trap 'exit 1' INT TERM

# ---- 1. images ---------------------------------------------------------------------------
t0=$SECONDS
if [ "${CW_CONTAINER_NO_BUILD:-0}" = 1 ]; then
	ok "images: not built (CW_CONTAINER_NO_BUILD=1)"
elif scripts/container-build.sh ${CW_CONTAINER_GIT:+--git "$CW_CONTAINER_GIT"} >"$T/build.log" 2>&1; then
	ok "images built ($((SECONDS - t0))s): $CW_IMAGE_APP, $CW_IMAGE_NGINX, $CW_IMAGE_REDIS"
else
	diag "$(tail -n 30 "$T/build.log")"
	bail "scripts/container-build.sh failed"
fi

# ---- 2. up ------------------------------------------------------------------------------------
ANTHROPIC_API_KEY=sk-ant-test scripts/container-secrets.sh >"$T/secrets.log" 2>&1 ||
	bail "scripts/container-secrets.sh failed: $(cat "$T/secrets.log")"
ADMIN_PW=$(cat "$CW_SECRETS_DIR/admin_password")
# The tighter seccomp profile (podman's default + sethostname), not unconfined.
scripts/container-seccomp.sh "$T/seccomp.json" >>"$T/secrets.log" 2>&1 ||
	bail "scripts/container-seccomp.sh failed: $(cat "$T/secrets.log")"
export CW_SECCOMP=$T/seccomp.json
t0=$SECONDS
compose up -d --no-build || bail "podman-compose up failed"
APP1=${P}_app_1
running() { [ "$("${CW_PODMAN[@]}" inspect -f '{{.State.Running}}' "$1" 2>/dev/null)" = true ]; }
for s in redis app nginx fake-anthropic; do
	wait_for 30 running "${P}_${s}_1" || nok "container ${P}_${s}_1 runs"
done

# healthy NAME: the container's own health check passes now.
healthy() { "${CW_PODMAN[@]}" healthcheck run "$1" >/dev/null 2>&1; }
for s in redis app nginx; do
	check "$s: its health check passes (podman healthcheck run)" wait_for 90 healthy "${P}_${s}_1"
done

# ---- 3. smoke through nginx ------------------------------------------------------------------
H=$T/headers B=$T/body
get() { # get PATH [CURL ARGS]: sets CODE; body in $B, headers in $H
	local p=$1
	shift
	CODE=$(curl -ks --max-time 20 -D "$H" -o "$B" -w '%{http_code}' "$@" "$URL$p") || CODE=000
}
health_ok() {
	get /api/health
	[ "$CODE" = 200 ]
}
check "/api/health answers 200 through nginx ($((SECONDS - t0))s after up)" wait_for 60 health_ok
is "$(jq -r '.checks.redis.status' "$B" 2>/dev/null)" ok "/api/health: Redis (the redis service, with its password) is ok"
get /api/live
is "$CODE $(cat "$B")" '200 {"status":"alive"}' "/api/live"
get /
hdrs=$(tr -d '\r' <"$H" | tr 'A-Z' 'a-z')
miss=''
for h in strict-transport-security content-security-policy x-content-type-options x-frame-options x-request-id; do
	grep -q "^$h:" <<<"$hdrs" || miss="$miss $h"
done
is "$CODE${miss:+ missing:$miss}" 200 "/ is the web UI, with the security headers"
check "/ serves the UI's index.html" grep -qi '<html' "$B"
get /code/
is "$CODE $(jq -r '.error.type' "$B" 2>/dev/null)" "503 service_unavailable" "/code/ without code-server: JSON 503"
loc=$(curl -ks -o /dev/null -w '%{redirect_url}' "http://localhost:$HTTP_PORT/x?y=1")
is "$loc" "$URL/x?y=1" "plain HTTP redirects to HTTPS (same port numbers inside and out)"
is "$("${CW_PODMAN[@]}" exec "$APP1" id -u 2>/dev/null)" 1000 "the app runs as uid 1000, not root"
check "the app logs JSON lines to stderr (podman logs: \"master started\")" \
	bash -c "${CW_PODMAN[*]} logs $APP1 2>&1 | grep -q '\"msg\":\"master started\"'"
check "the first admin was made from the admin_password secret" \
	bash -c "${CW_PODMAN[*]} logs $APP1 2>&1 | grep -q \"created the first admin user 'admin'\""

# ---- 4. an agent run: bash in the sandbox, inside the container -------------------------------
ORIGIN=(-H "Origin: $URL")
TOKEN=''
login() {
	get /api/auth/login -X POST "${ORIGIN[@]}" -H 'Content-Type: application/json' \
		--data-binary "$(jq -cn --arg p "$ADMIN_PW" '{username: "admin", password: $p}')"
	TOKEN=$(jq -r '.token // empty' "$B" 2>/dev/null)
	[ "$CODE" = 200 ] && [ -n "$TOKEN" ]
}
check "the admin logs in through nginx" login
AUTH=(-H "Authorization: Bearer $TOKEN")
get /api/sessions -X POST "${AUTH[@]}" "${ORIGIN[@]}" -H 'Content-Type: application/json' \
	--data-binary '{"permission_mode":"bypassPermissions"}'
SID=$(jq -r '.id // empty' "$B" 2>/dev/null)
is "$CODE" 201 "a session is created"

RUNS=0
# agent_run SID MARK: the fake model calls bash once, then says "done"; the
# run's events are read over SSE. Sets EVF (events file), RUN.
agent_run() {
	local sid=$1 mark=$2 cmd sse_pid
	RUNS=$((RUNS + 1))
	EVF=$T/events.$RUNS
	RUN=''
	cmd="echo $mark-\$((6 * 7)); id -u; uname -n; pwd"
	curl -s -o /dev/null -X POST "$FAKE/_fake/reset"
	curl -s -o "$T/fake.out" -X POST -H 'Content-Type: application/json' "$FAKE/_fake/script" \
		--data-binary "$(jq -cn --arg c "$cmd" --arg id "toolu_ct$RUNS" '{turns: [
			{content: [{type: "text", text: "Running it."},
				{type: "tool_use", id: $id, name: "bash", input: {command: $c}}]},
			{text: "done"}]}')" || return 1
	# The whole event log of the session (Last-Event-ID 0-0), over SSE.
	curl -ksN --max-time 120 "${AUTH[@]}" -H 'Last-Event-ID: 0-0' \
		"$URL/api/sessions/$sid/events" >"$EVF" 2>/dev/null &
	sse_pid=$!
	get "/api/sessions/$sid/messages" -X POST "${AUTH[@]}" "${ORIGIN[@]}" \
		-H 'Content-Type: application/json' --data-binary '{"content":"please run it"}'
	RUN=$(jq -r '.run_id // empty' "$B" 2>/dev/null)
	if [ "$CODE" != 202 ] || [ -z "$RUN" ]; then
		kill "$sse_pid" 2>/dev/null
		wait "$sse_pid" 2>/dev/null
		diag "POST messages: $CODE $(head -c 300 "$B")"
		return 1
	fi
	wait_for 90 run_final "$RUN"
	local rc=$?
	kill "$sse_pid" 2>/dev/null
	wait "$sse_pid" 2>/dev/null
	return "$rc"
}
# ev_data TYPE [RUN]: the data lines of the TYPE events (of RUN), one JSON each.
ev_data() {
	awk -v t="$1" '/^event: / { ev = substr($0, 8) } /^data: / && ev == t { print substr($0, 7) }' "$EVF" |
		if [ -n "${2:-}" ]; then jq -c --arg r "$2" 'select(.run_id == $r)' 2>/dev/null; else cat; fi
}
run_final() {
	[ -n "$(ev_data run.finished "$1")$(ev_data run.error "$1")$(ev_data run.cancelled "$1")" ]
}
check_run() { # check_run MARK WHAT
	local tr
	is "$(ev_data run.finished "$RUN" | grep -c .)" 1 "$2: exactly one run.finished over SSE"
	tr=$(ev_data tool.result "$RUN" | head -n 1)
	is "$(jq -r '.stdout' <<<"$tr" 2>/dev/null | tr '\n' ' ')" "$1-42 1000 sandbox /workspace " \
		"$2: bash ran in bubblewrap inside the app container (uid 1000, hostname sandbox, /workspace)"
	[ -n "$(ev_data run.error "$RUN")" ] && diag "run.error: $(ev_data run.error "$RUN")"
	return 0
}
t0=$SECONDS
if agent_run "$SID" cwct1; then
	ok "the run finished ($((SECONDS - t0))s)"
else
	nok "the run finished" "events: $(tail -c 1500 "$EVF" 2>/dev/null)"
fi
check_run cwct1 "run 1"
fake_calls=$(curl -s "$FAKE/_fake/requests" | jq '[.requests[] | select(.path == "/v1/messages")] | length' 2>/dev/null)
is "$fake_calls" 2 "run 1: two model calls reached the fake API (the tool call, then the answer with its result)"

# ---- 5. two replicas -------------------------------------------------------------------------
t0=$SECONDS
APP_REPLICAS=2 compose up -d --no-build || nok "podman-compose up with APP_REPLICAS=2"
APP2=${P}_app_2
check "APP_REPLICAS=2: a second app container is healthy" wait_for 90 healthy "$APP2"
two_upstreams() {
	"${CW_PODMAN[@]}" logs "${P}_nginx_1" 2>&1 | grep 'reloading nginx' | tail -n 1 |
		grep -Eq 'api [0-9.]+:9000 [0-9.]+:9000;'
}
check "nginx found both replicas by the service name and reloaded ($((SECONDS - t0))s)" wait_for 60 two_upstreams
ids=()
for _ in $(seq 1 24); do
	get /api/live
	ids+=("$(tr -d '\r' <"$H" | sed -n 's/^[Xx]-[Rr]equest-[Ii][Dd]: *//p')")
done
served_by() { # served_by CONTAINER: how many of the ids it logged
	local logs n=0 id
	logs=$("${CW_PODMAN[@]}" logs "$1" 2>&1)
	for id in "${ids[@]}"; do
		[ -n "$id" ] && grep -q "\"request_id\":\"$id\"" <<<"$logs" && n=$((n + 1))
	done
	echo "$n"
}
both_served() { [ "$(served_by "$APP1")" -gt 0 ] && [ "$(served_by "$APP2")" -gt 0 ]; }
if wait_for 10 both_served; then
	ok "both replicas serve: of 24 requests, $(served_by "$APP1") went to app_1 and $(served_by "$APP2") to app_2"
else
	nok "both replicas serve" "app_1 logged $(served_by "$APP1"), app_2 $(served_by "$APP2") of 24 request ids"
fi
get /api/sessions "${AUTH[@]}"
is "$CODE" 200 "the token still works on either replica (shared SECRET_KEY and Redis)"
t0=$SECONDS
if agent_run "$SID" cwct2; then
	ok "a run with two replicas finished ($((SECONDS - t0))s)"
else
	nok "a run with two replicas finished" "events: $(tail -c 1500 "$EVF" 2>/dev/null)"
fi
check_run cwct2 "run 2"

# ---- 6. down -----------------------------------------------------------------------------------
# With the same APP_REPLICAS as the up: compose files name the replicas.
t0=$SECONDS
APP_REPLICAS=2 compose down -v -t 30
left=$(containers | tr '\n' ' ')
is "$left" "" "podman-compose down (APP_REPLICAS=2, graceful SIGTERM) removes every container ($((SECONDS - t0))s)"
exit 0
