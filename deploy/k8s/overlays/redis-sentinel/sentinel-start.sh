#!/bin/sh
# The Sentinel of one claude-web-redis pod: it monitors "mymaster" (the
# master the other sentinels know, else pod 0), quorum 2 of 3. Hostnames are
# announced and resolved, so a restarted pod with a new IP keeps its place.
set -eu
self=$(hostname -f)
domain=${self#*.}
pw=$(cat /run/secrets/redis/redis_password)
export REDISCLI_AUTH="$pw"

master=''
for i in 0 1 2; do
	[ "claude-web-redis-$i.$domain" = "$self" ] && continue
	m=$(timeout 3 redis-cli -h "claude-web-redis-$i.$domain" -p 26379 \
		sentinel get-master-addr-by-name mymaster 2>/dev/null | head -n 1) || m=''
	case $m in
	'' | *ERR* | *NOAUTH* | *refused*) ;;
	*) master=$m && break ;;
	esac
done
[ -n "$master" ] || master="claude-web-redis-0.$domain"

# Sentinel rewrites its file: it lives on the pod's writable emptyDir.
conf=/run/redis/sentinel.conf
umask 077
cat >"$conf" <<CONF
port 26379
bind * -::*
protected-mode no
dir /tmp
requirepass "$pw"
sentinel sentinel-pass "$pw"
sentinel resolve-hostnames yes
sentinel announce-hostnames yes
sentinel announce-ip $self
sentinel monitor mymaster $master 6379 2
sentinel auth-pass mymaster "$pw"
sentinel down-after-milliseconds mymaster 5000
sentinel failover-timeout mymaster 30000
sentinel parallel-syncs mymaster 1
CONF
echo "sentinel-start: $self monitors $master"
# (redis-server --sentinel: the same as redis-sentinel, in every Redis image)
exec redis-server "$conf" --sentinel
