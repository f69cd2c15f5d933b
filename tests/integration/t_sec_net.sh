#!/usr/bin/env bash
# t_sec_net.sh: SANDBOX_NETWORK=on (issue 10, item 12). With the network on,
# a command gets its own network namespace behind pasta (user-mode NAT), not
# the host's: it reaches an outside address, but none of the host's own
# services.
#
# "Outside" is a real second network namespace made here with ip netns +
# a veth pair, routed from the host (198.18.0.0/15, the benchmarking range):
# an HTTP server on an address behind it. On the host, a server on
# 127.0.0.1, the stack's nginx (which listens on every address, so also on
# the veth's host side and the host's primary address), the fake Anthropic
# API on 127.0.0.1, and the cloud metadata address must all stay out of
# reach. DNS still works (through pasta's forwarder) when the host's does.
# Needs root (ip netns) and pasta (package passt).
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source=tests/integration/lib_auth.sh
. "$(dirname "$0")/lib_auth.sh"
# shellcheck source=tests/integration/lib_agent.sh
. "$(dirname "$0")/lib_agent.sh"
# shellcheck source=tests/integration/lib_tools.sh
. "$(dirname "$0")/lib_tools.sh"
cw_require_tools_stack
if [ "$(id -u)" != 0 ] || ! command -v ip >/dev/null 2>&1; then
	printf '1..0 # SKIP needs root and ip(8) to build the outside network namespace\n'
	exit 0
fi
if [ ! -x /usr/bin/pasta ]; then
	printf '1..0 # SKIP pasta (Debian package passt) is not installed\n'
	exit 0
fi

# ---- the outside world: a netns behind a veth, routed from the host -------------
NS=cwnet$$
VH=cwv$$h
VN=cwv$$n
NET=$((RANDOM % 250 + 2))
HOSTV=198.18.$NET.1
NSV=198.18.$NET.2
SRV=198.19.$((RANDOM % 250 + 2)).$((RANDOM % 250 + 2))
SRV_PID=''
LOOP_PID=''

net_cleanup() {
	[ -z "$SRV_PID" ] || kill "$SRV_PID" 2>/dev/null
	[ -z "$LOOP_PID" ] || kill "$LOOP_PID" 2>/dev/null
	ip route del "$SRV/32" 2>/dev/null
	ip link del "$VH" 2>/dev/null
	ip netns del "$NS" 2>/dev/null
}
trap 'net_cleanup; cw_cleanup' EXIT

mkdir -p "$T/www" "$T/loop"
echo "outside-$$" >"$T/www/marker.txt"
echo "loopback-$$" >"$T/loop/marker.txt"
{
	ip netns add "$NS" &&
		ip link add "$VH" type veth peer name "$VN" &&
		ip link set "$VN" netns "$NS" &&
		ip addr add "$HOSTV/30" dev "$VH" && ip link set "$VH" up &&
		ip -n "$NS" link set lo up &&
		ip -n "$NS" addr add "$NSV/30" dev "$VN" && ip -n "$NS" link set "$VN" up &&
		ip -n "$NS" addr add "$SRV/32" dev lo &&
		ip -n "$NS" route add default via "$HOSTV" &&
		ip route add "$SRV/32" via "$NSV"
} >"$T/netns.out" 2>&1 || cw_bail "cannot build the outside netns: $(cat "$T/netns.out")"
ip netns exec "$NS" /usr/bin/python3 -m http.server 8080 --bind "$SRV" --directory "$T/www" \
	>"$T/log/outside.log" 2>&1 &
SRV_PID=$!
read -r LOOP_PORT _ <<<"$(cw_free_ports)"
/usr/bin/python3 -m http.server "$LOOP_PORT" --bind 127.0.0.1 --directory "$T/loop" \
	>"$T/log/loop.log" 2>&1 &
LOOP_PID=$!
_outside_up() { [ "$(curl -s -m 2 "http://$SRV:8080/marker.txt")" = "outside-$$" ]; }
_loop_up() { [ "$(curl -s -m 2 "http://127.0.0.1:$LOOP_PORT/marker.txt")" = "loopback-$$" ]; }
wait_for 30 _outside_up || cw_bail "the outside server on $SRV:8080 does not answer from the host"
wait_for 30 _loop_up || cw_bail "the loopback server on 127.0.0.1:$LOOP_PORT does not answer"
# The host's primary address (where a 0.0.0.0 listener such as nginx also is).
PRIMARY=$(ip -4 route get 1.1.1.1 2>/dev/null | sed -n 's/.* src \([0-9.]*\).*/\1/p')
PRIMARY=${PRIMARY:-$HOSTV}

CW_CONF[SANDBOX_NETWORK]=on
# Sessions get the sandbox's network only with network_policy "on" (issue 13).
CW_CONF[NETWORK_DEFAULT_POLICY]=on
CW_CONF[SANDBOX_TIMEOUT]=30
tools_stack_up
check "the host itself reaches nginx on the veth address $HOSTV (it listens on every address)" \
	curl -sk -m 5 -o /dev/null "https://$HOSTV:$HTTPS_PORT/api/live"
session_new bypassPermissions || cw_bail "cannot create a session: $HTTP_STATUS $(cat "$BODY")"

PROBE='import socket, sys
for spec in sys.argv[1:]:
    name, host, port = spec.split(",")
    s = socket.socket(); s.settimeout(4)
    try:
        s.connect((host, int(port))); print("CONNECTED", name)
    except OSError as e:
        print("failed", name, e.errno)
    s.close()'
bash1 "$SID" "curl -s -m 10 http://$SRV:8080/marker.txt; echo curl=\$?
python3 -c '$PROBE' loop,127.0.0.1,$LOOP_PORT nginx_lo,127.0.0.1,$HTTPS_PORT \
	fake_api,127.0.0.1,$FAKE_PORT nginx_veth,$HOSTV,$HTTPS_PORT \
	nginx_primary,$PRIMARY,$HTTPS_PORT metadata,169.254.169.254,80 \
	private,10.0.0.1,80 outside,$SRV,8080
curl -sk -m 5 https://$HOSTV:$HTTPS_PORT/api/live; echo nginx_curl=\$?" 60
OUT=$(trj .stdout)
like "$OUT" "outside-$$" "1: the command fetched a page from the outside server ($SRV)"
like "$OUT" 'CONNECTED outside' "1: TCP to the outside address connects"
like "$OUT" 'failed loop ' "1: a server on the host's 127.0.0.1 is out of reach"
like "$OUT" 'failed nginx_lo ' "1: the stack's nginx on 127.0.0.1:$HTTPS_PORT is out of reach"
like "$OUT" 'failed fake_api ' "1: another loopback service (the fake API) is out of reach"
like "$OUT" 'failed nginx_veth 13' "1: nginx through the host's veth address $HOSTV is refused (EACCES)"
like "$OUT" 'failed nginx_primary ' "1: nginx through the host's primary address $PRIMARY is out of reach"
like "$OUT" 'failed metadata 13' "1: the cloud metadata address 169.254.169.254 is refused (EACCES)"
like "$OUT" 'failed private 13' "1: private (RFC 1918) addresses are refused (EACCES)"
unlike "$OUT" "loopback-$$|CONNECTED (loop|nginx|fake|metadata|private)" "1: nothing on the host connected"
unlike "$OUT" 'nginx_curl=0' "1: curl to nginx through $HOSTV failed"

bash1 "$SID" "ip route del default 2>&1; echo rc=\$?; python3 -c 'import socket; socket.socket(socket.AF_UNIX)' 2>&1 | tail -n 1
cat /etc/resolv.conf"
like "$(trj .stdout)" 'rc=[1-9]' "2: the command cannot change the namespace's routes"
like "$(trj .stdout)" 'Operation not permitted' "2: AF_UNIX sockets are still refused with the network on"
like "$(trj .stdout)" 'nameserver 169\.254\.0\.53' "2: DNS goes to pasta's forwarder"
if getent hosts deb.debian.org >/dev/null 2>&1; then
	bash1 "$SID" 'getent hosts deb.debian.org; echo rc=$?'
	like "$(trj .stdout)" '^[0-9a-f.:]+ +deb\.debian\.org' "2: DNS resolves inside (the host's resolver, through pasta)"
else
	tap_skip 1 "the host itself cannot resolve deb.debian.org"
fi
is "$(host_procs 'pasta .*--netns /proc/self/fd/3')" "" "2: no pasta is left running after the commands"

# Off is still off: no network at all, the outside server included.
cw_stop_app INT
CW_CONF[SANDBOX_NETWORK]=off
if cw_start_app && wait_for 10 pool_full runner "${CW_CONF[RUNNER_WORKERS]}"; then
	bash1 "$SID" "python3 -c '$PROBE' outside,$SRV,8080 loop,127.0.0.1,$LOOP_PORT"
	like "$(trj .stdout)" 'failed outside' "3: with SANDBOX_NETWORK=off the outside server is out of reach"
	like "$(trj .stdout)" 'failed loop' "3: ... and so is the host's loopback"
else
	tap_fail "3: claude-web restarted with SANDBOX_NETWORK=off"
fi

tap_done
