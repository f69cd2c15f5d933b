#!/usr/bin/env bash
# t_reload.sh: issue 12, operating one box: the admin's configuration.
# A stack made by scripts/start.sh on a private STATE_DIR:
#   1. start.sh creates STATE_DIR/claude-web.local.env once (a template) and
#      never rewrites it: an admin edit survives stop/start, and wins over
#      the environment of start.sh (with a warning).
#   2. scripts/reload.sh applies a new MAX_FILE_SIZE to claude-web and nginx
#      (client_max_body_size re-rendered): a body above the old limit is now
#      accepted, one above the new limit refused by the app; API_WORKERS
#      follows; status.sh shows generation 2 and "reload: ok".
#   3. An invalid value: reload.sh exits 1, names the variable and the file
#      on the terminal, changes nothing (env-file, nginx.conf, master,
#      generation) and the old configuration keeps serving (/api/live 200
#      throughout, the 2.5 MB upload still accepted); status.sh says
#      "refused". A syntax error is reported with file:line. --check
#      changes nothing; `make reload` works; reload.sh of a stopped stack
#      exits 3.
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source=tests/integration/lib_auth.sh
. "$(dirname "$0")/lib_auth.sh"
cw_require_tools flock sha256sum

ST=$T/st
SCRIPTS=$TOP_SRCDIR/scripts
LOCAL=$ST/claude-web.local.env
ADMIN_PW=admin-pw-$(openssl rand -hex 8)

t_exit() {
	local rc=$?
	STATE_DIR=$ST "$SCRIPTS/stop.sh" >/dev/null 2>&1
	(exit "$rc")
	cw_cleanup
}
trap t_exit EXIT

# stack CMD [ARGS...]: a script of scripts/ on our STATE_DIR; its stdout in
# $OUT, its stderr in $ERR, its exit status in $RC.
stack() {
	local s=$1
	shift
	RC=0
	STATE_DIR=$ST CLAUDE_WEB_BIN=$CLAUDE_WEB HTTPS_PORT=$HTTPS_PORT HTTP_PORT=$HTTP_PORT \
		CODE_SERVER=off ADMIN_PASSWORD=$ADMIN_PW "$@" "$SCRIPTS/$s" "${STACK_ARGS[@]}" \
		>"$T/out" 2>"$T/err" || RC=$?
	OUT=$(cat "$T/out")
	ERR=$(cat "$T/err")
}
STACK_ARGS=()
run_stack() { # run_stack SCRIPT [ARGS...]: as stack, with arguments for the script
	local s=$1
	shift
	STACK_ARGS=("$@")
	stack "$s"
	STACK_ARGS=()
}

body_limit() {
	sed -n 's/^[[:space:]]*client_max_body_size[[:space:]]*\([0-9]*\);.*/\1/p' "$ST/nginx/nginx.conf" | head -n 1
}
sha() { sha256sum "$1" | cut -c1-64; }
# put SIZE: PUT a file of SIZE bytes into the session.
put() {
	head -c "$1" /dev/zero >"$T/up.bin"
	api_bearer "$TOKEN" "/api/sessions/$SID/files/content?path=up.bin" -X PUT \
		-H 'Content-Type: application/octet-stream' --data-binary "@$T/up.bin"
}
api_expected() {
	api_bearer "$TOKEN" /api/health
	json .checks.pools.api.expected
}
live_200() {
	api_get /api/live
	[ "$HTTP_STATUS" = 200 ]
}

# ---- 1. the admin's file survives stop/start ----------------------------------------
stack start.sh env LOG_LEVEL=info
is "$RC $OUT" "0 ready: https://localhost:$HTTPS_PORT/" "start.sh starts the stack" ||
	cw_bail "start.sh failed: $ERR"
check "start.sh created claude-web.local.env" test -f "$LOCAL"
is "$(stat -c %a "$LOCAL")" 600 "...mode 0600"
unlike "$(grep -v '^#' "$LOCAL")" '[A-Z]' "...with comments only"
login admin "$ADMIN_PW" || cw_bail "cannot log in as admin: $HTTP_STATUS"
run_stack status.sh
like "$OUT" 'config: +generation 1 ' "status.sh: generation 1 after the start"
like "$OUT" 'reload: +none since the start' "status.sh: no reload yet"

# The admin's edit, then a restart with another value in the environment.
printf '# mine\nMAX_FILE_SIZE=100000\nexport API_WORKERS = "3"\n' >>"$LOCAL"
before=$(sha "$LOCAL")
run_stack status.sh
like "$OUT" 'pending: .*changed since it was loaded' "status.sh: the edit is pending"
run_stack stop.sh
is "$RC" 0 "stop.sh"
stack start.sh env MAX_FILE_SIZE=5000 LOG_LEVEL=info
is "$RC" 0 "start.sh again (MAX_FILE_SIZE=5000 in its environment)" || cw_bail "start.sh failed: $ERR"
is "$(sha "$LOCAL")" "$before" "start.sh left claude-web.local.env as the admin wrote it"
like "$ERR" 'MAX_FILE_SIZE from the environment is overridden by .*claude-web.local.env' \
	"start.sh warns that the admin's file overrides its environment"
is "$(body_limit)" $((100000 + 1048576)) "nginx client_max_body_size follows the admin's MAX_FILE_SIZE"
login admin "$ADMIN_PW" || cw_bail "cannot log in as admin: $HTTP_STATUS"
is "$(api_expected)" 3 "claude-web runs API_WORKERS=3 from the admin's file"
api_bearer "$TOKEN" /api/sessions -X POST -H 'Content-Type: application/json' --data-binary '{}'
SID=$(json '.id // empty')
[ -n "$SID" ] || cw_bail "cannot create a session: $HTTP_STATUS $(cat "$BODY")"
put 50000
like "$HTTP_STATUS" '^20[01]$' "a 50 kB file is accepted (MAX_FILE_SIZE 100000)"
put 150000
is "$HTTP_STATUS" 413 "a 150 kB file is refused by claude-web (MAX_FILE_SIZE 100000)"
like "$(json .error.message)" 'MAX_FILE_SIZE \(100000' "...its message names the limit"

# ---- 2. reload: MAX_FILE_SIZE in claude-web and nginx, API_WORKERS -------------------
put 2500000
is "$HTTP_STATUS" 413 "before the reload a 2.5 MB body is refused"
master=$(cat "$ST/run/claude-web.pid")
sed -i 's/^MAX_FILE_SIZE=.*/MAX_FILE_SIZE=3000000/; s/^export API_WORKERS.*/API_WORKERS=2/' "$LOCAL"
before=$(sha "$LOCAL")
run_stack reload.sh
is "$RC" 0 "reload.sh applies the edit"
like "$OUT" '^reloaded: claude-web generation 2, nginx client_max_body_size 4048576 \(MAX_FILE_SIZE 3000000\)' \
	"reload.sh prints the outcome: $OUT"
is "$(sha "$LOCAL")" "$before" "reload.sh left claude-web.local.env alone"
is "$(body_limit)" $((3000000 + 1048576)) "nginx.conf re-rendered: client_max_body_size follows MAX_FILE_SIZE"
is "$(cat "$ST/run/claude-web.pid")" "$master" "the same master (a reload, not a restart)"
put 2500000
like "$HTTP_STATUS" '^20[01]$' "after the reload a 2.5 MB file is accepted (nginx and claude-web)" ||
	diag "$(head -c 300 "$BODY"); reload.sh said: $OUT $ERR"
put 3500000
is "$HTTP_STATUS" 413 "a 3.5 MB file passes nginx and is refused by claude-web"
like "$(json .error.message)" 'MAX_FILE_SIZE \(3000000' "...by claude-web's new limit"
check "API_WORKERS=2 after the reload" wait_for 10 eval '[ "$(api_expected)" = 2 ]'
run_stack status.sh
like "$OUT" 'config: +generation 2 ' "status.sh: generation 2"
like "$OUT" 'reload: +ok at [0-9T:-]+Z: claude-web generation 2' "status.sh: the last reload succeeded"
unlike "$OUT" 'pending:' "status.sh: nothing pending"

# ---- 3. invalid values: refused, the running configuration keeps serving ---------------
env_before=$(sha "$ST/claude-web.env")
nginx_before=$(sha "$ST/nginx/nginx.conf")
kids_before=$(pgrep -P "$master" | sort | tr '\n' ' ')
printf 'MAX_FILE_SIZE=lots\n' >>"$LOCAL"
# /api/live in a loop while the reload is tried.
(
	fails=0
	for _ in $(seq 1 40); do
		code=$(curl -4ks -o /dev/null -w '%{http_code}' --max-time 5 "$BASE_URL/api/live")
		[ "$code" = 200 ] || fails=$((fails + 1))
		sleep 0.05
	done
	echo "$fails" >"$T/live_fails"
) &
prober=$!
run_stack reload.sh
wait "$prober"
is "$RC" 1 "reload.sh with MAX_FILE_SIZE=lots exits 1"
like "$ERR" 'MAX_FILE_SIZE: not an integer: "lots" \(set in .*claude-web.local.env\)' \
	"...and prints the problem on the terminal"
like "$ERR" 'reload: refused: invalid configuration' "...says it refused"
like "$ERR" 'nothing was changed: the running configuration \(generation 2\) keeps serving' \
	"...and that the running configuration keeps serving"
unlike "$OUT" 'reloaded' "...nothing on stdout claims a reload"
is "$(sha "$ST/claude-web.env")" "$env_before" "claude-web.env is unchanged"
is "$(sha "$ST/nginx/nginx.conf")" "$nginx_before" "nginx.conf is unchanged"
# No worker started since (the previous generation's last workers may still
# be finishing their requests and leave meanwhile).
is "$(pgrep -P "$master" | grep -vxF -f <(printf '%s\n' $kids_before) | tr '\n' ' ')" "" \
	"claude-web's workers are the same (no new generation)"
is "$(cat "$T/live_fails")" 0 "/api/live answered 200 all along"
check "/api/live 200 after the refusal" live_200
put 2500000
like "$HTTP_STATUS" '^20[01]$' "the old configuration keeps serving (2.5 MB still accepted)"
run_stack status.sh
like "$OUT" 'config: +generation 2 ' "status.sh: still generation 2"
like "$OUT" 'reload: +refused at [0-9T:-]+Z: invalid configuration .*MAX_FILE_SIZE' "status.sh: the last reload was refused, and why"
like "$OUT" 'pending: ' "status.sh: the admin's file is not what runs"

sed -i '$d' "$LOCAL"
printf 'SSE_MAX_CONN=many\n' >>"$LOCAL"
run_stack reload.sh
is "$RC" 1 "SSE_MAX_CONN=many (an nginx setting) is refused too"
like "$ERR" "SSE_MAX_CONN must be a positive number, got 'many'" "...with the reason"
sed -i '$d' "$LOCAL"
printf 'this is not a setting\n' >>"$LOCAL"
lines=$(wc -l <"$LOCAL")
run_stack reload.sh
is "$RC" 1 "a line that is not KEY=VALUE is refused"
like "$ERR" "claude-web.local.env:$lines: expected KEY=VALUE" "...with file:line"
is "$(sha "$ST/claude-web.env")" "$env_before" "claude-web.env is still unchanged"
sed -i '$d' "$LOCAL"

run_stack reload.sh --check
is "$RC" 0 "reload.sh --check of the repaired file exits 0"
like "$OUT" '^valid: ' "...says it is valid"
is "$(sha "$ST/claude-web.env")" "$env_before" "...and applies nothing"

printf 'HTTPS_PORT=1\n' >>"$LOCAL"
RC=0
make -s -C "$TOP_SRCDIR" -f GNUmakefile reload STATE_DIR="$ST" >"$T/out" 2>"$T/err" || RC=$?
is "$RC" 0 "make reload"
like "$(cat "$T/out")" '^reloaded: claude-web generation 3' "...reloads (generation 3)"
like "$(cat "$T/err")" 'HTTPS_PORT=1 is not what this stack started with: it needs a restart' \
	"...and says that HTTPS_PORT needs a restart"
check "/api/live 200 after make reload" live_200
sed -i '$d' "$LOCAL"

run_stack stop.sh
run_stack reload.sh
is "$RC" 3 "reload.sh of a stopped stack exits 3"
like "$ERR" 'not running' "...and says so"
stack start.sh env LOG_LEVEL=info
is "$RC" 0 "start.sh once more" || cw_bail "start.sh failed: $ERR"
is "$(body_limit)" $((3000000 + 1048576)) "the reloaded MAX_FILE_SIZE survives the restart (nginx)"
run_stack status.sh
like "$OUT" 'config: +generation 1 ' "status.sh after a restart: generation 1"
like "$OUT" 'reload: +none since the start' "...no reload yet"

tap_done
