#!/usr/bin/env bash
# sentinel-play.sh: the redis-sentinel overlay's start scripts
# (deploy/k8s/overlays/redis-sentinel/{redis,sentinel}-start.sh, redis-ping.sh)
# run as the StatefulSet would run them, without a cluster: three podman
# containers on a network with DNS, each named and resolvable as
# claude-web-redis-N.claude-web-redis.<namespace>.svc.cluster.local (what
# the headless Service gives a StatefulSet pod), each running the Redis and
# the Sentinel script, with the password file of the Secret. Checks:
#   1. the first start: pod 0 is the master, 1 and 2 replicate from it, every
#      sentinel knows the two replicas and the two other sentinels;
#   2. the master dies: the sentinels promote a replica;
#   3. the old master's pod comes back (same data volume): it follows the
#      new master instead of starting as a second master.
# The image is localhost/claude-web-redis:latest (Debian's Redis; the
# overlay names redis:7.2-bookworm, which no registry here serves).
# Prints TAP; "1..0 # SKIP" without root, podman or the image.
# shellcheck disable=SC2317 # cleanup runs from a trap
set -uo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
scripts="$root/deploy/k8s/overlays/redis-sentinel"
image=localhost/claude-web-redis:latest
net=cwkp-sentinel
domain=claude-web-redis.cwkp.svc.cluster.local
work=$(mktemp -d "${TMPDIR:-/tmp}/sentinel-play.XXXXXX")
pw=sentinel-play-$RANDOM$RANDOM

n=0 failed=0
tap() {
	local status=$1 text=$2 d
	shift 2
	n=$((n + 1))
	if [ "$status" = ok ]; then echo "ok $n - $text"; else
		echo "not ok $n - $text"
		failed=$((failed + 1))
	fi
	for d in "$@"; do printf '#   %s\n' "$d"; done
}
skip_all() {
	echo "1..0 # SKIP $*"
	rm -rf -- "$work"
	exit 0
}

[ "$(id -u)" -eq 0 ] || skip_all "needs root (rootful podman)"
command -v podman >/dev/null 2>&1 || skip_all "podman is not installed"
podman=(podman --cgroup-manager cgroupfs)
command -v runc >/dev/null 2>&1 && podman+=(--runtime runc)
"${podman[@]}" image exists "$image" || skip_all "$image is missing (scripts/container-build.sh)"
hn=$(ulimit -Hn) hu=$(ulimit -Hu)
[ "$hn" = unlimited ] && hn=65536
[ "$hu" = unlimited ] && hu=16384
ulimits=(--ulimit "nofile=$((hn < 65536 ? hn : 65536))" --ulimit "nproc=$((hu < 16384 ? hu : 16384))")

cleanup() {
	local i
	for i in 0 1 2; do "${podman[@]}" rm -f -t 0 "cwkp-redis-$i" >/dev/null 2>&1; done
	"${podman[@]}" network rm "$net" >/dev/null 2>&1
	rm -rf -- "$work"
}
trap cleanup EXIT
cleanup
work=$(mktemp -d "${TMPDIR:-/tmp}/sentinel-play.XXXXXX")

"${podman[@]}" network create "$net" >/dev/null || {
	tap fail "podman network create $net"
	echo "1..$n"
	exit 1
}
mkdir -p "$work/secret" && printf '%s' "$pw" >"$work/secret/redis_password" && chmod 0644 "$work/secret/redis_password"

# start N: pod N as the StatefulSet runs it (the two containers of the pod in
# one container here: they share the network namespace either way).
start() {
	local i=$1
	mkdir -p "$work/data$i" "$work/run$i" && chmod 1777 "$work/data$i" "$work/run$i"
	"${podman[@]}" run -d --name "cwkp-redis-$i" "${ulimits[@]}" --network "$net" \
		--network-alias "claude-web-redis-$i.$domain" --hostname "claude-web-redis-$i.$domain" \
		-v "$scripts:/scripts:ro" -v "$work/secret:/run/secrets/redis:ro" \
		-v "$work/run$i:/run/redis" -v "$work/data$i:/data" --entrypoint sh "$image" \
		-c 'sh /scripts/redis-start.sh & sh /scripts/sentinel-start.sh & wait' >/dev/null 2>&1
}
cli() { # cli N ARGS...: redis-cli in pod N with the password
	"${podman[@]}" exec -e "REDISCLI_AUTH=$pw" "cwkp-redis-$1" redis-cli "${@:2}" 2>/dev/null
}
wait_for() {
	local deadline=$((SECONDS + $1))
	shift
	until "$@" >/dev/null 2>&1; do
		[ "$SECONDS" -lt "$deadline" ] || return 1
		sleep 0.5
	done
}
role_is() { [ "$(cli "$1" role | head -n 1)" = "$2" ]; }
replica_of() { # replica_of N MASTER: pod N replicates from MASTER, link up
	local info
	info=$(cli "$1" info replication)
	printf '%s' "$info" | grep -q "master_host:claude-web-redis-$2.$domain" &&
		printf '%s' "$info" | grep -q 'master_link_status:up'
}
sentinel_master() { cli "$1" -p 26379 sentinel get-master-addr-by-name mymaster | head -n 1; }
sentinel_sees_all() { # every sentinel: 2 replicas, 2 other sentinels
	local i
	for i in "$@"; do
		[ "$(cli "$i" -p 26379 sentinel replicas mymaster | grep -c '^name$')" = 2 ] &&
			[ "$(cli "$i" -p 26379 sentinel sentinels mymaster | grep -c '^name$')" = 2 ] || return 1
	done
}
diag() { local i; for i in 0 1 2; do "${podman[@]}" logs --tail 6 "cwkp-redis-$i" 2>&1 | sed "s/^/pod $i: /"; done; }

# ---- 1. first start ------------------------------------------------------------
start 0
wait_for 30 role_is 0 master
start 1
start 2
if wait_for 60 replica_of 1 0 && wait_for 60 replica_of 2 0 && wait_for 60 sentinel_sees_all 0 1 2 &&
	"${podman[@]}" exec "cwkp-redis-1" sh /scripts/redis-ping.sh 6379 PONG; then
	tap ok "first start: pod 0 is the master, pods 1 and 2 replicate from it, each sentinel sees 2 replicas and 2 sentinels"
else
	mapfile -t lines < <(diag)
	tap fail "first start: pod 0 master, 1 and 2 its replicas, sentinels complete" "${lines[@]}"
fi
cli 0 set cw:sentinel-play written-before-failover >/dev/null

# ---- 2. failover -----------------------------------------------------------------
"${podman[@]}" kill "cwkp-redis-0" >/dev/null 2>&1
new=''
promoted() {
	new=$(sentinel_master 1)
	case $new in claude-web-redis-1.* | claude-web-redis-2.*) return 0 ;; esac
	return 1
}
t0=$SECONDS
if wait_for 40 promoted; then
	tap ok "the master is killed: the sentinels promote ${new%%.*} within $((SECONDS - t0 + 1)) s"
else
	mapfile -t lines < <(echo "sentinel 1 says: $(sentinel_master 1)"; diag)
	tap fail "the master is killed: the sentinels promote a replica" "${lines[@]}"
fi

# ---- 3. the old master comes back ---------------------------------------------------
"${podman[@]}" rm -f -t 0 "cwkp-redis-0" >/dev/null 2>&1
start 0
newi=${new#claude-web-redis-}
newi=${newi%%.*}
if [ -n "$newi" ] && wait_for 60 replica_of 0 "$newi" &&
	[ "$(cli 0 get cw:sentinel-play)" = written-before-failover ]; then
	tap ok "the old master's pod restarts as a replica of the new master (${new%%.*}) and has the data"
else
	mapfile -t lines < <(cli 0 info replication | head -n 5; diag)
	tap fail "the old master's pod restarts as a replica of the new master" "${lines[@]}"
fi

echo "1..$n"
[ "$failed" -eq 0 ] || {
	echo "# $failed of $n checks failed"
	exit 1
}
echo "# all $n checks passed"
