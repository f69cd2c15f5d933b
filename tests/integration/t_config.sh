#!/usr/bin/env bash
# t_config.sh: configuration errors are caught before anything starts, all
# at once, without leaking secrets; env-file, environment and *_FILE secrets
# combine as documented; a second master cannot steal the sockets.
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"
cw_require_tools

# run_cw ARGS...: runs claude-web (CW_CONF/CW_ENV config) in the foreground,
# killed after 10 s; sets RC and ERR (stderr + stdout).
run_cw() {
	ERR=$(CW_TIMEOUT=10 cw_app_cmd "$@" 2>&1 </dev/null)
	RC=$?
}

# ---- invalid configuration: exit 78, every problem listed, secret not leaked -----------------
CW_CONF[SECRET_KEY]=shortsecretvalue123
CW_CONF[LOG_LEVEL]=loud
CW_CONF[API_WORKERS]=0
CW_CONF[ENVIRONMENT]=prod
run_cw
is "$RC" 78 "invalid config: exit status 78 (EX_CONFIG)"
for v in SECRET_KEY LOG_LEVEL API_WORKERS ENVIRONMENT; do
	like "$(printf '%s\n' "$ERR" | grep '^claude-web: config:')" "config: $v" "invalid config: the problem with $v is reported"
done
is "$(printf '%s\n' "$ERR" | grep -c '^claude-web: config:')" 4 "invalid config: exactly the 4 problems, one line each"
unlike "$ERR" 'shortsecret' "invalid config: the SECRET_KEY value is never printed"
check "invalid config: no socket was created" test ! -e "$API_SOCKET"
check "invalid config: no pid file was written" test ! -e "$CW_PID_FILE"

run_cw -t
is "$RC" 78 "invalid config with -t: exit status 78"
is "$(printf '%s\n' "$ERR" | grep -c '^claude-web: config:')" 4 "invalid config with -t: the same 4 problems"

CW_CONF[SECRET_KEY]=$(openssl rand -hex 20)
CW_CONF[LOG_LEVEL]=debug
CW_CONF[API_WORKERS]=2
CW_CONF[ENVIRONMENT]=development

# ---- -t with a valid config ----------------------------------------------------------------
run_cw -t
is "$RC" 0 "claude-web -t with a valid config exits 0"
like "$ERR" 'valid' "claude-web -t says the configuration is valid"
check "-t does not start anything (no socket)" test ! -e "$API_SOCKET"

# ---- env-file via --config; the environment overrides it -----------------------------------
CW_CONF_MODE='file'
run_cw -t
is "$RC" 0 "a valid env-file via --config passes -t"

CW_CONF[API_WORKERS]=0
run_cw -t
is "$RC" 78 "an invalid value in the env-file is reported (API_WORKERS=0)"
like "$ERR" "API_WORKERS" "the env-file problem names API_WORKERS"
like "$ERR" "$CW_ENV_FILE" "the error message names the env-file"
CW_ENV[API_WORKERS]=3
run_cw -t
is "$RC" 0 "the environment overrides the env-file (API_WORKERS=3 in env, 0 in file)"
unset 'CW_ENV[API_WORKERS]'

printf 'THIS IS NOT A VALID LINE\n' >"$T/bad.env"
CW_CONF_MODE='env'
run_cw --config "$T/bad.env" -t
is "$RC" 78 "a malformed env-file line is an error (exit 78)"
like "$ERR" 'bad.env:1' "the malformed line is reported with file:line"

run_cw --config "$T/does-not-exist.env" -t
is "$RC" 78 "a missing env-file is an error (exit 78)"
like "$ERR" 'does-not-exist.env' "the missing env-file is named"

# ---- SECRET_KEY_FILE -----------------------------------------------------------------------------
CW_CONF_MODE='env'
CW_CONF[API_WORKERS]=2
key=$(openssl rand -hex 24)
printf '%s\n' "$key" >"$T/secret_key"
unset 'CW_CONF[SECRET_KEY]'
CW_CONF[SECRET_KEY_FILE]=$T/secret_key
run_cw -t
is "$RC" 0 "SECRET_KEY_FILE with a good key passes (trailing newline trimmed)"

printf 'tinysecretvalue42\n' >"$T/short_key"
CW_CONF[SECRET_KEY_FILE]=$T/short_key
run_cw -t
is "$RC" 78 "SECRET_KEY_FILE with a short key is refused"
like "$ERR" 'SECRET_KEY' "the short key file problem names SECRET_KEY"
unlike "$ERR" 'tinysecret' "the key read from SECRET_KEY_FILE is never printed"

CW_CONF[SECRET_KEY_FILE]=$T/no-such-key
run_cw -t
is "$RC" 78 "SECRET_KEY_FILE pointing nowhere is refused"
like "$ERR" 'SECRET_KEY_FILE' "the problem names SECRET_KEY_FILE"

unset 'CW_CONF[SECRET_KEY_FILE]'
run_cw -t
is "$RC" 78 "no SECRET_KEY at all is refused"
like "$ERR" 'SECRET_KEY: required' "the missing SECRET_KEY is reported as required"

# ---- RUNNER_DRAIN_TIMEOUT and ALLOW_ROOT ------------------------------------------------------
CW_CONF[SECRET_KEY_FILE]=$T/secret_key
CW_CONF[RUNNER_DRAIN_TIMEOUT]=0
CW_CONF[ALLOW_ROOT]=perhaps
run_cw -t
is "$RC" 78 "RUNNER_DRAIN_TIMEOUT=0 and ALLOW_ROOT=perhaps are refused"
like "$ERR" 'config: RUNNER_DRAIN_TIMEOUT: 0 is out of range' "the problem with RUNNER_DRAIN_TIMEOUT is reported"
like "$ERR" 'config: ALLOW_ROOT: "perhaps" is not a boolean' "the problem with ALLOW_ROOT is reported"
CW_CONF[RUNNER_DRAIN_TIMEOUT]=60
CW_CONF[ALLOW_ROOT]=1
run_cw -t
is "$RC" 0 "RUNNER_DRAIN_TIMEOUT=60 and ALLOW_ROOT=1 are valid"
unset 'CW_CONF[RUNNER_DRAIN_TIMEOUT]'

# ---- start.sh hands claude-web every variable it reads ----------------------------------------
# start.sh starts claude-web with an empty environment and copies the claude-web
# variables of its own into the env-file: the list comes from config.c.
vars=$(bash -c '. "$1/scripts/lib-common.sh" && cw_config_vars' _ "$TOP_SRCDIR")
cmp_ok "$(printf '%s\n' "$vars" | grep -c .)" -ge 50 "cw_config_vars finds the variables in config.c ($(printf '%s\n' "$vars" | grep -c .))"
like " $(printf '%s\n' "$vars" | tr '\n' ' ')" " ALLOW_ROOT .* RUNNER_DRAIN_TIMEOUT .* SECRET_KEY .* WORKSPACE_PATH " \
	"...secrets, the new ones and the old ones among them"
undoc=''
for v in $vars; do
	grep -q "\`$v\`" "$TOP_SRCDIR/docs/configuration.md" || undoc="$undoc $v"
done
is "$undoc" "" "every variable claude-web reads is documented in docs/configuration.md"

# ---- a running master: env-file + environment, then a second master is refused -----------------
CW_CONF[SECRET_KEY_FILE]=$T/secret_key
CW_CONF[API_WORKERS]=3
CW_CONF_MODE='file'
CW_ENV[API_WORKERS]=1
cw_start_all || cw_bail "could not start redis + claude-web + nginx"
api_get /api/health
is "$(json .checks.pools.api.expected)" 1 "a running master uses the environment over the env-file (api expected 1)"
is "$(json .status)" healthy "the master started with SECRET_KEY_FILE and an env-file is healthy"

first=$MASTER_PID
first_kids=$(all_children | sort | tr '\n' ' ')
run_cw
diag "second master: exit $RC, output: $ERR"
isnt "$RC" 0 "a second master on the same sockets refuses to start (exit $RC)"
like "$(log_json 'select(.msg | test("already in use")) | .msg')" 'already in use' "log: the second master says the socket is already in use"
check "the first master's api socket is still there" test -S "$API_SOCKET"
check "the first master's stream socket is still there" test -S "$STREAM_SOCKET"
is "$(cat "$CW_PID_FILE" 2>/dev/null)" "$first" "the pid file still names the first master"
check "the first master is still running" master_alive
is "$(all_children | sort | tr '\n' ' ')" "$first_kids" "the first master's workers are untouched"
ok_all=1
for ((i = 0; i < 10; i++)); do
	api_get /api/live
	[ "$HTTP_STATUS" = 200 ] || ok_all=0
done
is "$ok_all" 1 "the first master keeps serving after the second one gave up"

tap_done
