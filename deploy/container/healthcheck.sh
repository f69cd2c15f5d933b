#!/bin/sh
# claude-web-healthcheck [PATH]: GET PATH (default /api/live; /api/ready for
# readiness) from this container's api pool over FastCGI, without nginx: the
# TCP listener API_LISTEN when set (a wildcard address is asked on
# loopback), else the unix socket API_SOCKET. Exit 0 on HTTP 200, else 1
# with the status line or the error on stdout.
path=${1:-/api/live}
case ${API_LISTEN:-} in
'') target=${API_SOCKET:-/run/claude-web/api.sock} ;;
0.0.0.0:* | '[::]:'* | :*) target=127.0.0.1:${API_LISTEN##*:} ;;
*) target=$API_LISTEN ;;
esac
out=$(env -i REQUEST_METHOD=GET REQUEST_URI="$path" DOCUMENT_URI="$path" \
	SCRIPT_NAME="$path" QUERY_STRING= SERVER_PROTOCOL=HTTP/1.1 REQUEST_SCHEME=https \
	GATEWAY_INTERFACE=CGI/1.1 SERVER_SOFTWARE=healthcheck REMOTE_ADDR=127.0.0.1 \
	REMOTE_PORT=0 SERVER_ADDR=127.0.0.1 SERVER_PORT=0 SERVER_NAME=localhost \
	HTTP_HOST=localhost REQUEST_ID=healthcheck \
	timeout 5 cgi-fcgi -bind -connect "$target" 2>&1)
rc=$?
status=$(printf '%s\n' "$out" | tr -d '\r' | sed -n 's/^Status: *//p' | head -n 1)
if [ "$rc" -eq 0 ] && [ -n "$out" ] && { [ -z "$status" ] || [ "${status%% *}" = 200 ]; }; then
	exit 0
fi
printf '%s: %s\n' "$path" "${status:-$(printf '%s' "$out" | head -c 200)}"
exit 1
