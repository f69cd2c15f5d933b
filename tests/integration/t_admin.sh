#!/usr/bin/env bash
# t_admin.sh: claude-web-admin (users and sessions from the shell) against a
# running stack: what it changes is what the API then does.
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source=tests/integration/lib_auth.sh
. "$(dirname "$0")/lib_auth.sh"
cw_require_tools python3
cw_require_admin

CW_CONF[LOGIN_RATE_LIMIT_PER_MINUTE]=1000
CW_CONF[RATE_LIMIT_PER_MINUTE]=100000
cw_start_all || cw_bail "could not start redis + claude-web + nginx"
WS=$T/workspace

out() { cat "$ADMIN_OUT"; }

# ---- user add -------------------------------------------------------------------------------
admin_pw 'alice-password-1' user add alice
is "$ADMIN_RC" 0 "user add alice (password on stdin) exits 0"
login alice alice-password-1
is "$HTTP_STATUS/$(json .user.role)" 200/user "alice can log in with the password from stdin; role user"
unlike "$(out)" 'alice-password-1' "the CLI does not echo a password it was given"

cw_admin user add root --role admin < <(printf 'root-password-1\nsecond line ignored\n')
is "$ADMIN_RC" 0 "user add root --role admin exits 0"
login root root-password-1
is "$HTTP_STATUS/$(json .user.role)" 200/admin "root logs in as an admin (only the first stdin line is the password)"
R=$TOKEN

cw_admin user add gen </dev/null
is "$ADMIN_RC" 0 "user add with no password on stdin exits 0"
genpw=$(sed -n 's/^password: //p' "$ADMIN_OUT" | head -n 1)
like "$genpw" '^.{12,}$' "a generated password is printed as 'password: X'"
login gen "$genpw"
is "$HTTP_STATUS" 200 "the printed generated password works"
cw_admin user add gen2 </dev/null
isnt "$(sed -n 's/^password: //p' "$ADMIN_OUT")" "$genpw" "generated passwords differ"

admin_pw 'another-password' user add alice
is "$ADMIN_RC" 1 "adding an existing user exits 1"
login alice alice-password-1
is "$HTTP_STATUS" 200 "... and alice's password is unchanged"

for name in 'bad name' '../etc' '-dash' '' "$(printf 'x%.0s' $(seq 65))" 'semi;colon'; do
	admin_pw good-password-1 user add "$name"
	is "$ADMIN_RC" 65 "user add '${name:0:20}' (bad name) exits 65"
done
admin_pw 'short' user add shorty
is "$ADMIN_RC" 65 "a password under 8 characters exits 65"
admin_pw '1234567' user add shorty
is "$ADMIN_RC" 65 "a 7-character password exits 65"
login shorty short
is "$HTTP_STATUS" 401 "... and no user was created"
admin_pw '12345678' user add eight
is "$ADMIN_RC" 0 "an 8-character password is accepted"
admin_pw 'good-password-1' user add roleless --role superuser
is "$ADMIN_RC" 65 "an unknown --role exits 65"

# ---- usage errors ----------------------------------------------------------------------------
cw_admin
is "$ADMIN_RC" 64 "no command exits 64"
cw_admin user
is "$ADMIN_RC" 64 "'user' without a subcommand exits 64"
cw_admin user add </dev/null
is "$ADMIN_RC" 64 "'user add' without a name exits 64"
cw_admin user frobnicate alice
is "$ADMIN_RC" 64 "an unknown user subcommand exits 64"
cw_admin bogus thing
is "$ADMIN_RC" 64 "an unknown command exits 64"
like "$(out)" '[Uu]sage' "usage errors print the usage"

# ---- user list -----------------------------------------------------------------------------------
cw_admin user list
is "$ADMIN_RC" 0 "user list exits 0"
listed=$(awk 'NR > 1 { print $1 }' "$ADMIN_OUT" | sort | tr '\n' ' ')
is "$listed" "alice eight gen gen2 root " "user list shows exactly the created users"
like "$(grep '^root ' "$ADMIN_OUT")" '[[:space:]]admin[[:space:]]' "user list shows root's admin role"
unlike "$(out)" 'scrypt|\$' "user list shows no password hashes"

# ---- passwd ----------------------------------------------------------------------------------------
login alice alice-password-1
A0=$TOKEN
admin_pw 'alice-password-2' user passwd alice
is "$ADMIN_RC" 0 "user passwd alice exits 0"
like "$(out)" 'password changed for alice' "passwd says what it did"
api_bearer "$A0" /api/auth/me
is "$HTTP_STATUS" 401 "a token from before the password change is refused (signed out everywhere)"
login alice alice-password-1
is "$HTTP_STATUS" 401 "the old password no longer works"
login alice alice-password-2
is "$HTTP_STATUS" 200 "the new password works"
A=$TOKEN
admin_pw 'tiny' user passwd alice
is "$ADMIN_RC" 65 "passwd with a short password exits 65"
login alice alice-password-2
is "$HTTP_STATUS" 200 "... and the password is unchanged"
cw_admin user passwd gen </dev/null
is "$ADMIN_RC" 0 "passwd without stdin generates a password"
newgen=$(sed -n 's/^password: //p' "$ADMIN_OUT")
login gen "$newgen"
is "$HTTP_STATUS" 200 "the generated replacement password works"
admin_pw 'whatever-pass' user passwd nobody
is "$ADMIN_RC" 1 "passwd of an unknown user exits 1"
login nobody whatever-pass
is "$HTTP_STATUS" 401 "... and does not create the user"

# ---- disable / enable --------------------------------------------------------------------------
cw_admin user disable alice
is "$ADMIN_RC" 0 "user disable alice exits 0"
login alice alice-password-2
is "$HTTP_STATUS/$(json .error.message)" "401/invalid username or password" "a disabled user cannot log in (generic 401)"
api_bearer "$A" /api/auth/me
is "$HTTP_STATUS" 401 "a disabled user's existing token is refused"
cw_admin user list
like "$(grep '^alice ' "$ADMIN_OUT")" 'disabled' "user list shows alice as disabled"
cw_admin user enable alice
is "$ADMIN_RC" 0 "user enable alice exits 0"
api_bearer "$A" /api/auth/me
is "$HTTP_STATUS" 401 "the token from before disable stays refused after enable"
login alice alice-password-2
is "$HTTP_STATUS" 200 "after enable alice can log in again"
A=$TOKEN

# ---- logout-all -----------------------------------------------------------------------------------
cw_admin user logout-all alice
is "$ADMIN_RC" 0 "user logout-all alice exits 0"
like "$(out)" 'signed out everywhere' "logout-all says what it did"
api_bearer "$A" /api/auth/me
is "$HTTP_STATUS" 401 "after logout-all alice's token is refused"
cw_admin user logout-all nobody
is "$ADMIN_RC" 1 "logout-all of an unknown user exits 1"
cw_admin user logout-all
is "$ADMIN_RC" 64 "logout-all without a name exits 64"
login alice alice-password-2
is "$HTTP_STATUS" 200 "alice signs in again"
A=$TOKEN
cw_admin user disable nobody
is "$ADMIN_RC" 1 "disable of an unknown user exits 1"
cw_admin user enable nobody
is "$ADMIN_RC" 1 "enable of an unknown user exits 1"
cw_admin user list
unlike "$(awk '{ print $1 }' "$ADMIN_OUT")" '^nobody$' "disable/enable of an unknown user does not create it"

# ---- session list ----------------------------------------------------------------------------------
api_bearer "$A" /api/sessions -X POST -H 'Content-Type: application/json' --data-binary '{"title":"alice one"}'
a1=$(json .id)
api_bearer "$A" /api/sessions -X POST -H 'Content-Type: application/json' --data-binary '{"title":"alice two"}'
a2=$(json .id)
api_bearer "$R" /api/sessions -X POST -H 'Content-Type: application/json' --data-binary '{"title":"root one"}'
r1=$(json .id)
[ -n "$a1" ] && [ -n "$a2" ] && [ -n "$r1" ] || cw_bail "could not create sessions"

cw_admin session list
is "$ADMIN_RC" 0 "session list exits 0"
is "$(awk 'NR > 1 { print $1 }' "$ADMIN_OUT" | sort | tr '\n' ' ')" \
	"$(printf '%s\n' "$a1" "$a2" "$r1" | sort | tr '\n' ' ')" "session list shows every session"
like "$(grep "^$a1" "$ADMIN_OUT")" 'alice' "session list shows the owner"
cw_admin session list --user alice
is "$(awk 'NR > 1 { print $1 }' "$ADMIN_OUT" | sort | tr '\n' ' ')" \
	"$(printf '%s\n' "$a1" "$a2" | sort | tr '\n' ' ')" "session list --user alice shows only alice's sessions"
cw_admin session list --user nobody
is "$ADMIN_RC/$(awk 'NR > 1' "$ADMIN_OUT" | grep -c .)" 0/0 "session list --user of a user without sessions is empty"

# ---- runs (issue 11) ----------------------------------------------------------------------------------
# A run queued while no runner exists (RUNNER_WORKERS may be 0 here or busy): list it, cancel it.
redis_cli HSET cw:{c}:run:0123456789abcdef0123456789abcdef session "$r1" user root kind message \
	status queued sched behind created_at "$(date +%s)" >/dev/null
redis_cli ZADD cw:{c}:runs:live "$(date +%s)" 0123456789abcdef0123456789abcdef >/dev/null
redis_cli RPUSH "cw:{c}:sq:$r1" 0123456789abcdef0123456789abcdef >/dev/null
cw_admin run list
is "$ADMIN_RC" 0 "run list exits 0"
like "$(grep '^0123456789abcdef' "$ADMIN_OUT")" 'root .* queued' "run list shows a queued run with its user and status"
cw_admin run cancel 0123456789abcdef0123456789abcdef
is "$ADMIN_RC" 0 "run cancel of a queued run exits 0"
is "$(redis_cli HGET cw:{c}:run:0123456789abcdef0123456789abcdef status)" cancelled "... and the run is cancelled"
cw_admin run list
is "$(awk 'NR > 1' "$ADMIN_OUT" | grep -c .)" 0 "run list no longer shows it"
cw_admin run cancel 0123456789abcdef0123456789abcdef
is "$ADMIN_RC" 1 "cancelling a run that is not active exits 1"

# ---- user del ------------------------------------------------------------------------------------------
check "alice's session directories exist before user del" dir_exists "$WS/sessions/session-$a1"
cw_admin user del alice
is "$ADMIN_RC" 0 "user del alice exits 0"
check "user del removed alice's first session directory" test ! -e "$WS/sessions/session-$a1"
check "user del removed alice's second session directory" test ! -e "$WS/sessions/session-$a2"
api_bearer "$R" "/api/sessions/$a1"
is "$HTTP_STATUS" 404 "alice's sessions are gone from the API (admin GET is 404)"
api_bearer "$R" "/api/sessions?all=1"
is "$(json '[.sessions[].id] | join(",")')" "$r1" "only root's session is left in ?all=1"
cw_admin session list
is "$(awk 'NR > 1 { print $1 }' "$ADMIN_OUT" | tr '\n' ' ')" "$r1 " "session list no longer shows alice's sessions"
api_bearer "$A" /api/auth/me
is "$HTTP_STATUS" 401 "a deleted user's token is refused"
login alice alice-password-2
is "$HTTP_STATUS" 401 "a deleted user cannot log in"
cw_admin user list
unlike "$(awk '{ print $1 }' "$ADMIN_OUT")" '^alice$' "user list no longer shows alice"
check "root's session directory is untouched" dir_exists "$WS/sessions/session-$r1"
cw_admin user del alice
is "$ADMIN_RC" 1 "deleting a user that does not exist exits 1"

# A deleted name can be registered again, as a new account without sessions.
admin_pw 'alice-password-9' user add alice
is "$ADMIN_RC" 0 "the name alice can be added again"
login alice alice-password-9
api_bearer "$TOKEN" /api/sessions
is "$HTTP_STATUS/$(json '.sessions | length')" 200/0 "the new alice has no sessions"

# ---- configuration ---------------------------------------------------------------------------------
# Environment only, no --config: the same settings work.
envv=(PATH="$PATH" HOME="${HOME:-/root}")
for k in "${!CW_CONF[@]}"; do envv+=("$k=${CW_CONF[$k]}"); done
env -i "${envv[@]}" "$ADMIN_BIN" user list >"$ADMIN_OUT" 2>&1
rc=$?
is "$rc" 0 "with the settings in the environment (no --config) user list exits 0"
like "$(out)" '(^|[[:space:]])root[[:space:]]' "... and lists the users"
# The environment wins over the file: a bad REDIS_URL in the file is overridden.
printf 'REDIS_URL=unix://%s/run/none.sock\n' "$T" >"$T/badredis.env"
env -i "${envv[@]}" "$ADMIN_BIN" --config "$T/badredis.env" user list >"$ADMIN_OUT" 2>&1
is "$?" 0 "environment variables override the --config file"

saved=$(declare -p CW_CONF)
CW_CONF[REDIS_URL]=unix://$T/run/none.sock
cw_admin user list
is "$ADMIN_RC" 69 "Redis unreachable: user list exits 69"
admin_pw 'good-password-1' user add zed
is "$ADMIN_RC" 69 "Redis unreachable: user add exits 69"
cw_admin session list
is "$ADMIN_RC" 69 "Redis unreachable: session list exits 69"
eval "$saved"

CW_CONF[SECRET_KEY]=short
cw_admin user list
is "$ADMIN_RC" 78 "an invalid configuration (SECRET_KEY too short) exits 78"
like "$(out)" 'SECRET_KEY' "... naming the bad setting"
eval "$saved"
env -i PATH="$PATH" "$ADMIN_BIN" --config "$T/does-not-exist.env" user list >"$ADMIN_OUT" 2>&1
is "$?" 78 "a missing --config file exits 78"
cw_admin user list
is "$ADMIN_RC" 0 "with the configuration restored user list works again"

# With the real Redis stopped the exit code is 69 too.
cw_stop_redis
cw_admin user list
is "$ADMIN_RC" 69 "Redis stopped: user list exits 69"
cw_start_redis || cw_bail "redis did not restart"

tap_done
