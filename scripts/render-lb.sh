#!/usr/bin/env bash
# render-lb.sh OUT: renders deploy/lb/nginx-lb.conf.in, the load balancer in
# front of N claude-web replica stacks (docs/deploy/replicas.md), into OUT.
#
# Environment:
#   LB_REPLICAS       required: the replicas' nginx, "host:port host:port"
#                     (spaces or commas; [v6]:port for IPv6)
#   LB_TLS_CERT       required: PEM certificate chain of the balancer
#   LB_TLS_KEY        required: its private key
#   LB_LISTEN         TLS listener: port or address:port   (default 443)
#   LB_HTTP_LISTEN    plain-HTTP listener that redirects to LB_PUBLIC_URL
#                     (default: none)
#   LB_PUBLIC_URL     https://host[:port] clients use      (default
#                     https://localhost, with LB_LISTEN's port unless 443)
#   LB_NGINX_DIR      pid file and temp directories        (default: OUT's directory)
#   LB_LOG_DIR        lb-access.log, lb-error.log          (default: LB_NGINX_DIR)
#   LB_USER           worker user and group                (default: the current ones)
#   LB_SCHEME         https (the replicas' nginx) or http  (default https)
#   LB_REPLICA_CA     CA file to verify the replicas' certificates with (default:
#                     not verified: use it when the path to the replicas is not
#                     a private network); LB_REPLICA_NAME the name they must
#                     carry (default localhost)
#   LB_MAX_FILE_SIZE  the replicas' MAX_FILE_SIZE          (default 10485760);
#                     client_max_body_size is 1 MiB more, as on the replicas
#   LB_KEEPALIVE      idle connections per worker to the replicas (default 32)
#   LB_MAX_FAILS, LB_FAIL_TIMEOUT  of the api upstream     (default 1, 5s);
#                     the event-stream upstream always has max_fails=0
#   LB_TRUSTED_PROXIES  when this balancer is itself behind a proxy: its
#                     addresses/CIDRs (set_real_ip_from, X-Forwarded-For)
#   LB_REQUEST_ID     pass (keep a well-formed incoming X-Request-ID) or
#                     generate (always a new one)          (default pass)
#   LB_TEMPLATE       the template                         (default deploy/lb/nginx-lb.conf.in)
#
# Exits 1 naming every problem, OUT untouched. OUT is written atomically
# (mode 0600, by scripts/render-conf.sh). Test it with
#   nginx -t -p LB_NGINX_DIR -c OUT
set -euo pipefail

prog=${0##*/}
root=$(cd "$(dirname "$0")/.." && pwd)

if [ $# -ne 1 ] || [ "$1" = -h ] || [ "$1" = --help ]; then
	sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//' >&2
	[ $# -eq 1 ] && exit 0
	exit 2
fi
out=$1
case $out in /*) ;; *) out=$PWD/$out ;; esac
out_dir=$(dirname -- "$out")

problems=()
bad() { problems+=("$*"); }

# safe NAME: the value of NAME has no newline and none of ; { } " ' (it
# goes into the configuration verbatim).
safe() {
	case ${!1:-} in
	*[$'\n'\;\{\}\"\']*) bad "$1 must not contain a newline, quotes, ; { or }: '${!1}'" ;;
	esac
}

# host_port VALUE: host:port or [v6]:port, port 1-65535.
host_port() {
	local v=$1 port
	[[ $v =~ ^([A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?|\[[0-9A-Fa-f:.]+\]):([0-9]{1,5})$ ]] || return 1
	port=${BASH_REMATCH[3]}
	[ "$port" -ge 1 ] && [ "$port" -le 65535 ]
}
# listen_ok VALUE: port, address:port or [v6]:port.
listen_ok() {
	case $1 in
	'' | *[!0-9]*) host_port "$1" ;;
	*) [ "$1" -ge 1 ] && [ "$1" -le 65535 ] ;;
	esac
}

for v in LB_REPLICAS LB_TLS_CERT LB_TLS_KEY LB_LISTEN LB_HTTP_LISTEN LB_PUBLIC_URL \
	LB_NGINX_DIR LB_LOG_DIR LB_USER LB_REPLICA_CA LB_REPLICA_NAME LB_TRUSTED_PROXIES; do
	safe "$v"
done

LB_LISTEN=${LB_LISTEN:-443}
listen_ok "$LB_LISTEN" || bad "LB_LISTEN must be a port, address:port or [v6]:port, got '$LB_LISTEN'"
LB_HTTP_LISTEN=${LB_HTTP_LISTEN:-}
[ -z "$LB_HTTP_LISTEN" ] || listen_ok "$LB_HTTP_LISTEN" ||
	bad "LB_HTTP_LISTEN must be a port, address:port or [v6]:port, got '$LB_HTTP_LISTEN'"

listen_port=${LB_LISTEN##*:}
if [ -z "${LB_PUBLIC_URL:-}" ]; then
	LB_PUBLIC_URL=https://localhost
	[ "$listen_port" = 443 ] || LB_PUBLIC_URL=$LB_PUBLIC_URL:$listen_port
fi
[[ $LB_PUBLIC_URL =~ ^https://([A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?|\[[0-9A-Fa-f:.]+\])(:[0-9]{1,5})?$ ]] ||
	bad "LB_PUBLIC_URL must be https://host[:port] (no path), got '$LB_PUBLIC_URL'"

for v in LB_TLS_CERT LB_TLS_KEY; do
	case ${!v:-} in '' | /*) ;; *) printf -v "$v" '%s/%s' "$PWD" "${!v}" ;; esac
	if [ -z "${!v:-}" ]; then
		bad "$v is required"
	elif [ ! -r "${!v}" ]; then
		bad "$v is not readable: ${!v}"
	fi
done

LB_SCHEME=${LB_SCHEME:-https}
case $LB_SCHEME in https | http) ;; *) bad "LB_SCHEME must be https or http, got '$LB_SCHEME'" ;; esac
LB_REQUEST_ID=${LB_REQUEST_ID:-pass}
case $LB_REQUEST_ID in pass | generate) ;; *) bad "LB_REQUEST_ID must be pass or generate, got '$LB_REQUEST_ID'" ;; esac

num() { # num NAME DEFAULT MIN
	local v=${!1:-$2}
	case $v in '' | *[!0-9]*) bad "$1 must be a number, got '$v'"; v=$2 ;; esac
	[ "$v" -ge "$3" ] || bad "$1 must be at least $3, got '$v'"
	printf -v "$1" '%s' "$v"
}
num LB_MAX_FILE_SIZE 10485760 1
num LB_KEEPALIVE 32 1
num LB_MAX_FAILS 1 0
LB_FAIL_TIMEOUT=${LB_FAIL_TIMEOUT:-5s}
[[ $LB_FAIL_TIMEOUT =~ ^[0-9]+(ms|s|m)?$ ]] || bad "LB_FAIL_TIMEOUT must be like 10s, got '$LB_FAIL_TIMEOUT'"

# The replicas.
replicas=()
read -r -a replicas <<<"$(printf '%s' "${LB_REPLICAS:-}" | tr ',' ' ')"
if [ "${#replicas[@]}" -eq 0 ]; then
	bad "LB_REPLICAS is required: the replicas' nginx as host:port, separated by spaces or commas"
fi
api='' stream='' code=''
for r in "${replicas[@]}"; do
	if ! host_port "$r"; then
		bad "LB_REPLICAS: not host:port or [v6]:port: '$r'"
		continue
	fi
	case " $api " in *" server $r "*) bad "LB_REPLICAS: '$r' is listed twice" ;; esac
	api="${api}server $r max_fails=$LB_MAX_FAILS fail_timeout=$LB_FAIL_TIMEOUT; "
	stream="${stream}server $r max_fails=0; "
	code="${code}server $r max_fails=$LB_MAX_FAILS fail_timeout=$LB_FAIL_TIMEOUT; "
done

# Verification of the replicas' certificates.
if [ "$LB_SCHEME" = http ]; then
	LB_PROXY_SSL='# LB_SCHEME=http: no TLS to the replicas'
elif [ -n "${LB_REPLICA_CA:-}" ]; then
	case $LB_REPLICA_CA in /*) ;; *) LB_REPLICA_CA=$PWD/$LB_REPLICA_CA ;; esac
	[ -r "$LB_REPLICA_CA" ] || bad "LB_REPLICA_CA is not readable: $LB_REPLICA_CA"
	name=${LB_REPLICA_NAME:-localhost}
	[[ $name =~ ^[A-Za-z0-9.*-]+$ ]] || bad "LB_REPLICA_NAME must be a host name, got '$name'"
	LB_PROXY_SSL="proxy_ssl_verify on; proxy_ssl_verify_depth 3; proxy_ssl_trusted_certificate \"$LB_REPLICA_CA\"; proxy_ssl_name $name; proxy_ssl_server_name on; proxy_ssl_session_reuse on;"
else
	LB_PROXY_SSL='proxy_ssl_verify off; proxy_ssl_session_reuse on;'
fi

# This balancer behind another proxy.
if [ -n "${LB_TRUSTED_PROXIES:-}" ]; then
	LB_REAL_IP=''
	for a in $(printf '%s' "$LB_TRUSTED_PROXIES" | tr ',' ' '); do
		[[ $a =~ ^[0-9A-Fa-f:.]+(/[0-9]{1,3})?$ ]] || {
			bad "LB_TRUSTED_PROXIES: not an address or CIDR: '$a'"
			continue
		}
		LB_REAL_IP="${LB_REAL_IP}set_real_ip_from $a; "
	done
	LB_REAL_IP="${LB_REAL_IP}real_ip_header X-Forwarded-For; real_ip_recursive on;"
else
	LB_REAL_IP='# LB_TRUSTED_PROXIES unset: clients connect to this balancer directly'
fi

if [ -n "$LB_HTTP_LISTEN" ]; then
	LB_HTTP_SERVER="server { listen $LB_HTTP_LISTEN; server_name _; access_log off; return 301 $LB_PUBLIC_URL\$request_uri; }"
else
	LB_HTTP_SERVER='# LB_HTTP_LISTEN unset: no plain-HTTP listener'
fi

LB_NGINX_DIR=${LB_NGINX_DIR:-$out_dir}
LB_LOG_DIR=${LB_LOG_DIR:-$LB_NGINX_DIR}
for v in LB_NGINX_DIR LB_LOG_DIR; do
	case ${!v} in /*) ;; *) printf -v "$v" '%s/%s' "$PWD" "${!v}" ;; esac
	case ${!v} in *[[:space:]]*) bad "$v must not contain spaces: ${!v}" ;; esac
done
LB_USER=${LB_USER:-$(id -un) $(id -gn)}
[[ $LB_USER =~ ^[A-Za-z0-9_.-]+( [A-Za-z0-9_.-]+)?$ ]] || bad "LB_USER must be 'user [group]', got '$LB_USER'"

LB_TEMPLATE=${LB_TEMPLATE:-$root/deploy/lb/nginx-lb.conf.in}

if [ "${#problems[@]}" -gt 0 ]; then
	for p in "${problems[@]}"; do printf '%s: %s\n' "$prog" "$p" >&2; done
	exit 1
fi

mkdir -p -- "$out_dir" "$LB_NGINX_DIR" "$LB_LOG_DIR"
LB_MAX_BODY_SIZE=$((LB_MAX_FILE_SIZE + 1048576))
LB_API_SERVERS=$api
LB_STREAM_SERVERS=$stream
LB_CODE_SERVERS=$code
export LB_USER LB_NGINX_DIR LB_LOG_DIR LB_LISTEN LB_HTTP_SERVER LB_PUBLIC_URL \
	LB_TLS_CERT LB_TLS_KEY LB_API_SERVERS LB_STREAM_SERVERS LB_CODE_SERVERS \
	LB_KEEPALIVE LB_SCHEME LB_PROXY_SSL LB_MAX_BODY_SIZE LB_REAL_IP LB_REQUEST_ID
exec "$root/scripts/render-conf.sh" "$LB_TEMPLATE" "$out"
