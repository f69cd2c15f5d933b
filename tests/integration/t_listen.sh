#!/usr/bin/env bash
# t_listen.sh: issue 12, one nginx in front of several claude-web instances.
#   - API_LISTEN / STREAM_LISTEN: the pools listen on TCP instead of their
#     unix sockets (invalid values refused by -t, exit 78);
#   - FASTCGI_API_SERVERS / FASTCGI_STREAM_SERVERS: nginx spreads requests
#     over two instances sharing one Redis; one stopped, nothing fails;
#   - INSTANCE_ID in every log line, user/session/run ids in request lines;
#   - TRUSTED_PROXIES: X-Forwarded-For and X-Request-ID of a trusted proxy
#     are believed (the metrics ACL sees the real client), of others not.
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source=tests/integration/lib_auth.sh
. "$(dirname "$0")/lib_auth.sh"
cw_require_tools python3
cw_require_admin

read -r PA1 PS1 <<<"$(cw_free_ports)"
read -r PA2 PS2 <<<"$(cw_free_ports)"
tcp_open() { # tcp_open HOST:PORT
	(exec 3<>"/dev/tcp/${1%:*}/${1##*:}") 2>/dev/null
}

# ---- invalid listeners are refused before anything starts --------------------------------
for bad in 'localhost:9000' '127.0.0.1' '127.0.0.1:0' '127.0.0.1:70000' '[::1]9000' '1.2.3.4.5:80'; do
	rc=0
	CW_CONF[API_LISTEN]=$bad
	out=$(CW_TIMEOUT=10 cw_app_cmd -t 2>&1) || rc=$?
	is "$rc" 78 "API_LISTEN='$bad' is refused by claude-web -t (exit 78)"
	like "$out" "API_LISTEN" "...naming API_LISTEN"
done
CW_CONF[TRUSTED_PROXIES]='10.0.0.0/8, not-an-address'
rc=0
out=$(CW_TIMEOUT=10 cw_app_cmd -t 2>&1) || rc=$?
is "$rc" 78 "TRUSTED_PROXIES with a bad entry is refused by claude-web -t"
like "$out" 'TRUSTED_PROXIES: "not-an-address"' "...naming the entry"
unset 'CW_CONF[TRUSTED_PROXIES]'

# ---- instance A on TCP -----------------------------------------------------------------------
CW_CONF[API_LISTEN]=127.0.0.1:$PA1
CW_CONF[STREAM_LISTEN]=127.0.0.1:$PS1
CW_CONF[INSTANCE_ID]=app-a
CW_CONF[API_WORKERS]=2
CW_CONF[STREAM_WORKERS]=2
CW_CONF[RUNNER_WORKERS]=1
cw_start_redis || cw_bail "redis did not start"
cw_sockets_up() { tcp_open "127.0.0.1:$PA1" && tcp_open "127.0.0.1:$PS1"; }
cw_start_app || cw_bail "instance A did not start on TCP"
check "A listens on TCP: no api unix socket is created" test ! -e "$API_SOCKET"
check "...nor a stream unix socket" test ! -e "$STREAM_SOCKET"

# ---- instance B: same Redis and secret, its own listeners, log and pid file -------------------
declare -A SAVED=()
for k in API_LISTEN STREAM_LISTEN INSTANCE_ID LOG_FILE PID_FILE; do SAVED[$k]=${CW_CONF[$k]}; done
CW_CONF[API_LISTEN]=127.0.0.1:$PA2
CW_CONF[STREAM_LISTEN]=127.0.0.1:$PS2
CW_CONF[INSTANCE_ID]=app-b
CW_CONF[LOG_FILE]=$T/log/claude-web-b.log
CW_CONF[PID_FILE]=$T/claude-web-b.pid
{
	CW_EXEC=1
	cw_app_cmd
} >>"$T/claude-web-b.stderr" 2>&1 &
B_PID=$!
for k in "${!SAVED[@]}"; do CW_CONF[$k]=${SAVED[$k]}; done
check "instance B listens on its own TCP ports" wait_for 10 eval 'tcp_open 127.0.0.1:$PA2 && tcp_open 127.0.0.1:$PS2'
BG_PIDS+=("$B_PID")	# stopped by the harness's cleanup if the test bails
b_cleanup() { kill -INT "$B_PID" 2>/dev/null; }

# ---- one nginx over both ----------------------------------------------------------------------
CW_CONF[FASTCGI_API_SERVERS]="127.0.0.1:$PA1 127.0.0.1:$PA2"
CW_CONF[FASTCGI_STREAM_SERVERS]="127.0.0.1:$PS1,127.0.0.1:$PS2"
cw_start_nginx || {
	b_cleanup
	cw_bail "nginx did not start"
}
like "$(grep -A3 'upstream cw_stream' "$NGINX_CONF")" "server 127.0.0.1:$PS2 max_fails=0;" \
	"the rendered nginx.conf has both stream servers with max_fails=0"

user_add alice alice-password-1 || cw_bail "user add alice: $(cat "$ADMIN_OUT")"
login alice alice-password-1
is "$HTTP_STATUS" 200 "a login through nginx works"
codes=''
for i in $(seq 1 16); do
	api_get /api/auth/me -H "Authorization: Bearer $TOKEN"
	codes="$codes$HTTP_STATUS "
done
is "$(tr ' ' '\n' <<<"$codes" | grep -vc '^200$\|^$')" 0 "16 requests through nginx over two instances: all 200 ($codes)"
served_by() { # served_by LOGFILE: request lines for /api/auth/me
	jq -R 'fromjson? | select(.msg == "request" and .route == "/api/auth/me")' "$1" 2>/dev/null | jq -s length
}
na=$(served_by "$CW_LOG")
nb=$(served_by "$T/log/claude-web-b.log")
diag "A served $na, B served $nb of the 16"
cmp_ok "$na" -ge 1 "instance A served some of them"
cmp_ok "$nb" -ge 1 "instance B served some of them (one token, two instances)"
is "$(jq -R 'fromjson? | .instance' "$CW_LOG" | sort -u | tr -d '"' | tr '\n' ' ')" "app-a " \
	"every line of A's log says \"instance\":\"app-a\""
is "$(jq -R 'fromjson? | .instance' "$T/log/claude-web-b.log" | sort -u | tr -d '"' | tr '\n' ' ')" "app-b " \
	"every line of B's log says \"instance\":\"app-b\""
is "$(jq -r 'select(.msg == "request" and .route == "/api/auth/me") | .user' "$CW_LOG" "$T/log/claude-web-b.log" | sort -u | tr '\n' ' ')" "alice " \
	"request lines name the authenticated user"

post_json /api/sessions '{"name": "over two"}' -H "Authorization: Bearer $TOKEN"
SID=$(json '.id // empty')
is "$HTTP_STATUS" 201 "a session is created"
api_get "/api/sessions/$SID" -H "Authorization: Bearer $TOKEN"
is "$HTTP_STATUS" 200 "...and read back through the other instance or the same"
is "$(jq -r "select(.msg == \"request\" and .route == \"/api/sessions/:id\") | .session" "$CW_LOG" "$T/log/claude-web-b.log" | sort -u)" "$SID" \
	"the request line of GET /api/sessions/:id names the session"

# An event stream through the cw_stream upstream (either instance).
code=$(curl -4ks --http2 --max-time 3 -o "$T/events.out" -w '%{http_code}' \
	-H "Authorization: Bearer $TOKEN" -H 'Accept: text/event-stream' \
	"$BASE_URL/api/sessions/$SID/events" 2>/dev/null || true)
is "$code" 200 "an event stream opens through the stream upstream"

# ---- one instance stops: nginx sends everything to the other ---------------------------------
kill -INT "$B_PID"
check "instance B stopped" wait_for 10 pid_gone "$B_PID"
codes=''
for i in $(seq 1 12); do
	api_get /api/auth/me -H "Authorization: Bearer $TOKEN"
	codes="$codes$HTTP_STATUS "
done
is "$(tr ' ' '\n' <<<"$codes" | grep -vc '^200$\|^$')" 0 "with B stopped, 12 requests: all 200 ($codes)"

# ---- TRUSTED_PROXIES --------------------------------------------------------------------------
# Not trusted yet: a client's X-Forwarded-For and X-Request-ID are ignored.
api_get /api/live -H 'X-Request-ID: lb-0123456789' -H 'X-Forwarded-For: 203.0.113.7'
isnt "$(header X-Request-ID)" "lb-0123456789" "without TRUSTED_PROXIES a client's X-Request-ID is not taken"
api_get /api/metrics -H 'X-Forwarded-For: 203.0.113.7'
is "$HTTP_STATUS" 200 "without TRUSTED_PROXIES X-Forwarded-For is ignored (/api/metrics open to loopback)"

CW_CONF[TRUSTED_PROXIES]=127.0.0.1/32
cw_stop_nginx
cw_start_nginx || cw_bail "nginx did not restart with TRUSTED_PROXIES"
api_get /api/live -H 'X-Request-ID: lb-0123456789' -H 'X-Forwarded-For: 198.51.100.9'
is "$(header X-Request-ID)" "lb-0123456789" "from a trusted proxy, its X-Request-ID is the request id (response header)"
is "$(jq -r 'select(.msg == "request" and .request_id == "lb-0123456789") | .route' "$CW_LOG")" "/api/live" \
	"...and the id of claude-web's log line for that request"
api_get /api/live -H 'X-Request-ID: bad id with spaces' -H 'X-Forwarded-For: 198.51.100.9'
like "$(header X-Request-ID)" '^[0-9a-f]{32}$' "a malformed X-Request-ID is replaced by nginx's own"
api_get /api/metrics -H 'X-Forwarded-For: 203.0.113.7'
is "$HTTP_STATUS" 403 "/api/metrics is refused when the real client (X-Forwarded-For from a trusted proxy) is public"
api_get /api/metrics -H 'X-Forwarded-For: 10.1.2.3'
is "$HTTP_STATUS" 200 "...and served when the real client is private"
like "$(tail -n 5 "$T/log/nginx-access.log")" '"remote_addr":"10.1.2.3"' \
	"nginx's access log records the real client address"

tap_done
