#!/usr/bin/env bash
# t_sec_nginx.sh: issue 10, nginx hardening (the production template).
#  - the JWT never reaches code-server, however many cw_token cookies come;
#  - plain HTTP redirects to the configured host, not the client's Host;
#  - TLS 1.2 offers AEAD suites only (no CBC, no SHA-1 MAC);
#  - every answer under /api is JSON: 414, oversized headers (494/431), and
#    raw /api paths that normalise elsewhere ("/api/..%2f..").
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source=tests/integration/lib_auth.sh
. "$(dirname "$0")/lib_auth.sh"
cw_require_tools python3
cw_require_admin

# ---- an echo server standing in for code-server --------------------------------
# Answers every request with the headers it received, as JSON.
cat >"$T/echo.py" <<'PYEOF'
import json, sys
from http.server import BaseHTTPRequestHandler, HTTPServer

class H(BaseHTTPRequestHandler):
    def do_GET(self):
        body = json.dumps({"path": self.path,
                           "headers": [[k, v] for k, v in self.headers.items()]}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *a):
        pass

s = HTTPServer(("127.0.0.1", 0), H)
with open(sys.argv[1] + ".tmp", "w") as f:
    f.write(str(s.server_address[1]))
import os
os.rename(sys.argv[1] + ".tmp", sys.argv[1])
s.serve_forever()
PYEOF
python3 "$T/echo.py" "$T/echo.port" >>"$T/log/echo.log" 2>&1 &
BG_PIDS+=($!)
wait_for 10 test -s "$T/echo.port" || cw_bail "the echo server did not start"
ECHO_PORT=$(cat "$T/echo.port")
# shellcheck disable=SC2016 # $cw_code_server is nginx's
printf 'set $cw_code_server 127.0.0.1:%s;\n' "$ECHO_PORT" >"$T/nginx/code-server.conf"

CW_CONF[RATE_LIMIT_PER_MINUTE]=100000
cw_start_all || cw_bail "could not start redis + claude-web + nginx"
user_add root-admin admin-password-1 admin || cw_bail "user add: $(cat "$ADMIN_OUT")"
login root-admin admin-password-1 || cw_bail "the admin cannot log in"
ADMIN_TOKEN=$TOKEN

# ---- 1. no cw_token cookie reaches code-server ---------------------------------------
# echo_cookie: the Cookie header(s) the echo server received, joined by " | ".
echo_cookie() {
	jq -r '[.headers[] | select(.[0] | ascii_downcase == "cookie") | .[1]] | join(" | ")' "$BODY" 2>/dev/null
}

api_get /code/echo -H "Authorization: Bearer $ADMIN_TOKEN" -H 'Cookie: a=1; b=2'
is "$HTTP_STATUS" 200 "1: /code/ reaches the stand-in code-server when logged in"
is "$(echo_cookie)" "a=1; b=2" "1: other cookies reach code-server unchanged"

for proto in --http1.1 --http2; do
	api_get /code/echo "$proto" -H "Authorization: Bearer $ADMIN_TOKEN" \
		-H "Cookie: cw_token=decoy-from-code; a=1; cw_token=$ADMIN_TOKEN; b=2"
	is "$HTTP_STATUS" 200 "1 ($proto): a request with cw_token twice is served"
	c=$(echo_cookie)
	unlike "$c" 'cw_token' "1 ($proto): no cw_token cookie reaches code-server (got '$c')"
	unlike "$c" "${ADMIN_TOKEN:0:40}" "1 ($proto): the JWT does not reach code-server"
	like "$c" '(^|; )a=1(;|$)' "1 ($proto): cookie a=1 still reaches code-server"
	like "$c" '(^|; )b=2(;|$)' "1 ($proto): cookie b=2 still reaches code-server"
done

# Two Cookie header lines (HTTP/1.1), the token in both, first and last.
api_get /code/echo --http1.1 -H "Authorization: Bearer $ADMIN_TOKEN" \
	-H "Cookie: cw_token=$ADMIN_TOKEN; x=1" -H "Cookie: y=2; cw_token=$ADMIN_TOKEN"
is "$HTTP_STATUS" 200 "1: two Cookie lines with a cw_token each are served"
c=$(echo_cookie)
unlike "$c" 'cw_token' "1: no cw_token from either Cookie line reaches code-server (got '$c')"
like "$c" 'x=1' "1: x=1 from the first line reaches code-server"
like "$c" 'y=2' "1: y=2 from the second line reaches code-server"

# Cookie-authenticated (the browser's way), the token first, then a decoy.
api_get /code/echo -H "Cookie: cw_token=$ADMIN_TOKEN; cw_token=decoy; z=9"
is "$HTTP_STATUS" 200 "1: cookie-authenticated /code/ with cw_token twice is served"
is "$(echo_cookie)" "; z=9" "1: only the other cookie reaches code-server"

# More cw_token cookies than the strip handles: refused, nothing forwarded.
MANY="cw_token=1; cw_token=2; cw_token=3; cw_token=4; cw_token=$ADMIN_TOKEN; k=v"
api_get /code/echo -H "Authorization: Bearer $ADMIN_TOKEN" -H "Cookie: $MANY"
is_json_error 400 "1: five cw_token cookies are refused with a JSON 400"

# ---- 2. the HTTP -> HTTPS redirect ignores the client's Host -----------------------------
for host in evil.example "evil.example:$HTTPS_PORT" "localhost.evil.example"; do
	out=$(curl -4s -o /dev/null -w '%{http_code} %{redirect_url}' -H "Host: $host" \
		"http://127.0.0.1:$HTTP_PORT/api/live?x=1" 2>/dev/null)
	is "$out" "301 https://localhost:$HTTPS_PORT/api/live?x=1" \
		"2: Host: $host -> redirect to the configured host (PUBLIC_HOST)"
done
out=$(exec 3<>"/dev/tcp/127.0.0.1/$HTTP_PORT" && printf 'GET /x HTTP/1.0\r\n\r\n' >&3 && timeout 5 cat <&3)
like "$(printf '%s' "$out" | tr -d '\r' | grep -i '^location:')" "^[Ll]ocation: https://localhost:$HTTPS_PORT/x$" \
	"2: a request without Host is redirected to the configured host too"

# ---- 3. TLS: AEAD suites only ---------------------------------------------------------------
# tls12 CIPHER: "ok" when a TLS 1.2 handshake with only CIPHER succeeds.
tls12() {
	if timeout 10 openssl s_client -connect "127.0.0.1:$HTTPS_PORT" -servername localhost \
		-tls1_2 -cipher "$1:@SECLEVEL=0" </dev/null >"$T/s_client.out" 2>&1 &&
		grep -q "Cipher is $1" "$T/s_client.out"; then
		echo ok
	else
		echo refused
	fi
}
# The test certificate is ECDSA (P-256): the ECDSA suites are the live ones.
for c in ECDHE-ECDSA-AES128-SHA ECDHE-ECDSA-AES256-SHA ECDHE-ECDSA-AES128-SHA256 ECDHE-ECDSA-AES256-SHA384; do
	is "$(tls12 "$c")" refused "3: TLS 1.2 CBC suite $c is refused"
done
for c in ECDHE-ECDSA-AES128-GCM-SHA256 ECDHE-ECDSA-AES256-GCM-SHA384 ECDHE-ECDSA-CHACHA20-POLY1305; do
	is "$(tls12 "$c")" ok "3: TLS 1.2 AEAD suite $c is accepted"
done
if timeout 10 openssl s_client -connect "127.0.0.1:$HTTPS_PORT" -tls1_1 -cipher 'DEFAULT:@SECLEVEL=0' \
	</dev/null >"$T/s_client.out" 2>&1; then
	tap_fail "3: TLS 1.1 is refused" "$(tail -n 5 "$T/s_client.out")"
else
	tap_ok "3: TLS 1.1 is refused"
fi
if timeout 10 openssl s_client -connect "127.0.0.1:$HTTPS_PORT" -tls1_3 </dev/null >"$T/s_client.out" 2>&1; then
	tap_ok "3: TLS 1.3 is accepted"
else
	tap_fail "3: TLS 1.3 is accepted" "$(tail -n 5 "$T/s_client.out")"
fi

# ---- 4. oversized request lines and headers under /api: JSON --------------------------------
long=$(head -c 9000 /dev/zero | tr '\0' 'a')
for proto in --http1.1 --http2; do
	api_get "/api/$long" "$proto"
	like "$HTTP_STATUS" '^(414|400)$' "4 ($proto): a 9000-byte request URI is refused"
	is_json_error "$HTTP_STATUS" "4 ($proto): ...with a JSON error, not nginx's HTML page"
done
api_get "/api/live" --http1.1 -H "X-Big: $(head -c 20000 /dev/zero | tr '\0' 'b')"
like "$HTTP_STATUS" '^(400|431|494)$' "4: a 20 KB header (HTTP/1.1) is refused"
is_json_error "$HTTP_STATUS" "4: ...with a JSON error"
api_get "/api/live" --http1.1 -H "Cookie: c=$(head -c 20000 /dev/zero | tr '\0' 'c')"
is_json_error "$HTTP_STATUS" "4: a 20 KB Cookie header (HTTP/1.1) gets a JSON error"
H=()
for i in $(seq 1 6); do H+=(-H "X-Fill-$i: $(head -c 7000 /dev/zero | tr '\0' 'f')"); done
api_get "/api/live" --http1.1 "${H[@]}"
is_json_error "$HTTP_STATUS" "4: 42 KB of headers in total (HTTP/1.1) get a JSON error"
api_get "/api/live" --http2 -H "X-Big: $(head -c 20000 /dev/zero | tr '\0' 'b')"
if [ "$HTTP_STATUS" = 000 ]; then
	tap_ok "4: a 20 KB header over HTTP/2 is refused (stream reset: no page at all)"
else
	is_json_error "$HTTP_STATUS" "4: a 20 KB header over HTTP/2 gets a JSON error ($HTTP_STATUS)"
fi

# ---- 5. raw /api paths never get the SPA ------------------------------------------------------
for p in '/api/..%2f..' '/api/..%2f' '/api/%2e%2e/' '/api/%2e%2e/index.html' \
	'/api/../index.html' '/api/x/../../assets/none.js' '/api/..' '/API/live' \
	'/%61pi/%2e%2e/' '/api%2f..%2findex.html' '//api/../' '/api/./../' '/api/%2E%2E%2Findex.html'; do
	api_get "$p"
	like "$HTTP_STATUS" '^4[0-9][0-9]$' "5: $p is an error ($HTTP_STATUS)"
	is_json_error "$HTTP_STATUS" "5: $p is a JSON error"
	unlike "$(head -c 2000 "$BODY")" '<html|<!doctype|<!DOCTYPE' "5: $p is not HTML"
done
# ...while the real things still work.
api_get /api/live
is "$HTTP_STATUS $(json .status)" "200 alive" "5: /api/live still works"
api_get '/api/%6cive'
is "$HTTP_STATUS" 200 "5: /api/%6cive (an escaped letter) still reaches the app"
api_get /api/nope
is_json_error 404 "5: /api/nope is the app's JSON 404"
api_get /
is "$HTTP_STATUS" 200 "5: / is still the SPA"
like "$HTTP_CT" '^text/html' "5: / is still HTML"
api_get /sessions/abc
is "$HTTP_STATUS" 200 "5: an SPA route still serves index.html"
api_get /apiary
is "$HTTP_STATUS" 200 "5: /apiary (not /api) is an SPA route"

tap_done
