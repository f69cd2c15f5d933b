#!/bin/sh
# redis-ping.sh PORT PATTERN: the probe of a Redis (6379) or Sentinel (26379)
# of this pod: exit 0 when PING's answer matches the shell PATTERN (the
# password goes through the environment, never the command line).
set -eu
REDISCLI_AUTH=$(cat /run/secrets/redis/redis_password)
export REDISCLI_AUTH
answer=$(timeout 3 redis-cli -p "$1" ping 2>/dev/null) || exit 1
# shellcheck disable=SC2254 # PATTERN is a pattern on purpose
case $answer in
$2) exit 0 ;;
esac
exit 1
