#!/bin/sh
# The Redis of one claude-web-redis pod. Master or replica is decided from
# the sentinels: whoever they name as master of "mymaster" is followed; when
# no sentinel answers (the first start of the set), pod 0 is the master.
# Every pod announces its stable DNS name, never its pod IP.
set -eu
self=$(hostname -f)
domain=${self#*.}
pw=$(cat /run/secrets/redis/redis_password)
export REDISCLI_AUTH="$pw"

master=''
for i in 0 1 2; do
	m=$(timeout 3 redis-cli -h "claude-web-redis-$i.$domain" -p 26379 \
		sentinel get-master-addr-by-name mymaster 2>/dev/null | head -n 1) || m=''
	case $m in
	'' | *ERR* | *NOAUTH* | *refused*) ;;
	*) master=$m && break ;;
	esac
done
[ -n "$master" ] || master="claude-web-redis-0.$domain"

conf=/run/redis/redis.conf
umask 077
cat >"$conf" <<CONF
port 6379
bind * -::*
protected-mode no
dir /data
appendonly yes
appendfsync everysec
aof-use-rdb-preamble yes
repl-diskless-sync-delay 0
maxmemory ${REDIS_MAXMEMORY:-768mb}
maxmemory-policy noeviction
requirepass "$pw"
masterauth "$pw"
replica-announce-ip $self
# A master cut off from every replica stops taking writes rather than take
# writes a failover would throw away (docs/redis.md).
min-replicas-to-write 1
min-replicas-max-lag 10
CONF
if [ "$master" != "$self" ]; then
	echo "replicaof $master 6379" >>"$conf"
	echo "redis-start: $self follows $master"
else
	echo "redis-start: $self is the master"
fi
exec redis-server "$conf"
