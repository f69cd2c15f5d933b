#!/usr/bin/env bash
# render-conf.sh TEMPLATE OUT
#
# Copies TEMPLATE to OUT, replacing every @NAME@ (NAME = [A-Z][A-Z0-9_]*) with
# the value of the environment variable NAME. Substitution is a single pass, so
# a value that itself contains @OTHER@ is copied verbatim.
#
# Fails (exit 1, naming every offending variable, OUT left untouched) when a
# placeholder's variable is unset or empty, or when a value contains a newline
# (which could inject configuration). OUT is written atomically with mode 0600:
# rendered files may hold secrets (the Redis password).
#
# Used by scripts/start.sh and by tests/integration/lib.sh: same templates,
# same renderer. Variables must be *exported* (this runs as its own process).
set -euo pipefail

prog=${0##*/}
if [ $# -ne 2 ]; then
	echo "usage: $prog TEMPLATE OUT" >&2
	exit 2
fi
template=$1
out=$2

if [ ! -r "$template" ] || [ -d "$template" ]; then
	echo "$prog: cannot read template: $template" >&2
	exit 1
fi

out_dir=$(dirname -- "$out")
if [ ! -d "$out_dir" ]; then
	echo "$prog: output directory does not exist: $out_dir" >&2
	exit 1
fi

# ---- values derived for nginx.conf.in (unless the caller set them) ----------
# NGINX_REAL_IP, NGINX_TRUSTED_GEO from TRUSTED_PROXIES (addresses/CIDRs,
# comma or space separated); NGINX_API_SERVERS, NGINX_STREAM_SERVERS from
# FASTCGI_API_SERVERS / FASTCGI_STREAM_SERVERS (host:port lists: one nginx in
# front of several instances), else API_LISTEN / STREAM_LISTEN (this
# instance's TCP listeners), else API_SOCKET / STREAM_SOCKET (unix sockets).
derive_fail=0
derive_err() {
	echo "$prog: $*" >&2
	derive_fail=1
}
# list_words VALUE: the entries of a comma/space separated list, one per line.
list_words() { printf '%s\n' "$1" | tr ', \t' '\n\n\n' | sed '/^$/d'; }
is_addr() { [[ $1 =~ ^[0-9A-Fa-f:.]+(/[0-9]{1,3})?$ ]] && [[ $1 == *[.:]* ]]; }
is_hostport() { [[ $1 =~ ^([0-9.]+|\[[0-9A-Fa-f:.]+\]):[0-9]{1,5}$ ]]; }
# servers LIST_NAME LISTEN_NAME SOCKET_NAME EXTRA: "server ...;" lines on one line.
servers() {
	local list=${!1:-} listen=${!2:-} sock=${!3:-} extra=$4 w out=''
	if [ -n "$list" ]; then
		while IFS= read -r w; do
			is_hostport "$w" || { derive_err "$1: \"$w\" is not host:port or [v6]:port"; continue; }
			out+="server $w$extra; "
		done < <(list_words "$list")
	elif [ -n "$listen" ]; then
		is_hostport "$listen" || derive_err "$2: \"$listen\" is not host:port or [v6]:port"
		# A wildcard listener is reached on loopback by its own nginx.
		listen=${listen/#0.0.0.0:/127.0.0.1:}
		listen=${listen/#\[::\]:/[::1]:}
		out="server $listen$extra; "
	elif [ -n "$sock" ]; then
		out="server unix:$sock$extra; "
	fi
	printf '%s' "${out% }"
	return "$derive_fail"
}
# nginx's limit_conn takes at most 65535; STREAM_WORKERS x
# STREAM_MAX_CONNECTIONS x stream servers easily says more (streams beyond
# it get nginx's JSON 503).
case ${SSE_MAX_CONN:-} in
'' | *[!0-9]*) ;;
*) if [ "${#SSE_MAX_CONN}" -gt 5 ] || [ "$SSE_MAX_CONN" -gt 65535 ]; then
	SSE_MAX_CONN=65535
	export SSE_MAX_CONN
fi ;;
esac
if grep -q '@NGINX_' "$template"; then
	if [ -z "${NGINX_REAL_IP:-}" ] || [ -z "${NGINX_TRUSTED_GEO:-}" ]; then
		real='' geo=''
		while IFS= read -r w; do
			if ! is_addr "$w"; then
				derive_err "TRUSTED_PROXIES: \"$w\" is not an IPv4/IPv6 address or CIDR"
				continue
			fi
			real+="set_real_ip_from $w; "
			geo+="$w 1; "
		done < <(list_words "${TRUSTED_PROXIES:-}")
		if [ -n "$real" ]; then
			NGINX_REAL_IP="${real}real_ip_header X-Forwarded-For; real_ip_recursive on;"
			NGINX_TRUSTED_GEO=${geo% }
		else
			NGINX_REAL_IP='# TRUSTED_PROXIES is empty: the connecting address is the client'
			NGINX_TRUSTED_GEO='# TRUSTED_PROXIES is empty'
		fi
		export NGINX_REAL_IP NGINX_TRUSTED_GEO
	fi
	if [ -z "${NGINX_API_SERVERS:-}" ]; then
		NGINX_API_SERVERS=$(servers FASTCGI_API_SERVERS API_LISTEN API_SOCKET '') || derive_fail=1
		export NGINX_API_SERVERS
	fi
	if [ -z "${NGINX_STREAM_SERVERS:-}" ]; then
		NGINX_STREAM_SERVERS=$(servers FASTCGI_STREAM_SERVERS STREAM_LISTEN STREAM_SOCKET ' max_fails=0') || derive_fail=1
		export NGINX_STREAM_SERVERS
	fi
	[ "$derive_fail" -eq 0 ] || exit 1
fi

tmp=$(mktemp "$out_dir/.${out##*/}.XXXXXX")
trap 'rm -f -- "$tmp"' EXIT

# awk (mawk or gawk) reads the values straight from ENVIRON, so values are never
# interpreted by a shell, sed or a regex replacement.
if ! LC_ALL=C awk -v prog="$prog" -v tmpl="$template" '
	{
		line = $0
		res = ""
		while (match(line, /@[A-Z][A-Z0-9_]*@/)) {
			name = substr(line, RSTART + 1, RLENGTH - 2)
			if (!(name in ENVIRON) || ENVIRON[name] == "") {
				if (!(name in missing)) {
					missing[name] = 1
					order[++n] = name
				}
				res = res substr(line, 1, RSTART + RLENGTH - 1)
			} else {
				value = ENVIRON[name]
				if (index(value, "\n") > 0 && !(name in badval)) {
					badval[name] = 1
					border[++nb] = name
				}
				res = res substr(line, 1, RSTART - 1) value
			}
			line = substr(line, RSTART + RLENGTH)
		}
		print res line
	}
	END {
		for (i = 1; i <= n; i++)
			printf "%s: %s: placeholder @%s@: environment variable %s is unset or empty\n", prog, tmpl, order[i], order[i] > "/dev/stderr"
		for (i = 1; i <= nb; i++)
			printf "%s: %s: placeholder @%s@: value of %s contains a newline\n", prog, tmpl, border[i], border[i] > "/dev/stderr"
		if (n + nb > 0)
			exit 1
	}
' "$template" >"$tmp"; then
	exit 1
fi

chmod 0600 "$tmp"
mv -f -- "$tmp" "$out"
trap - EXIT
