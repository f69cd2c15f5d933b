#!/usr/bin/env bash
# t_redis_cluster.sh: the keyspace is Cluster-safe (issue 12, part 3;
# docs/redis.md "Redis Cluster"): every key is cw:{c}:..., one hash slot.
#   1. Migration: an old-format keyspace (schema 1, cw:<rest>: made from a
#      real one by renaming every key back, the event stream with a TTL, a
#      key under both names) → a start renames every key (TTLs kept, the
#      tagged one kept on a clash, a set index merged, logged with counts;
#      another instance's
#      lock is waited out), sets cw:{c}:schema 2;
#      ann logs in and reads her session and its history; a second start
#      renames nothing. backup.sh of the old keyspace, restore.sh of it into
#      an empty Redis (it says the next start renames), a start: renamed,
#      login and history work.
#   2. A Redis Cluster of three masters (redis-cli --cluster create) on
#      loopback TCP; REDIS_URL names a node that does not own the {c} slot,
#      so every worker follows -MOVED to the node that does. Login, sessions,
#      a run with a tool call that asks permission (parked, answered,
#      finished), two messages queued behind a running one, a session
#      deleted: all work, no CROSSSLOT / non-local-key error in the logs, and
#      every key is in the {c} slot on its node (the other nodes hold none).
#      2b: the {c} slot is then moved to the third node (SETSLOT IMPORTING/
#      MIGRATING, MIGRATE, SETSLOT NODE) while claude-web runs: the workers
#      follow -MOVED again, login and a run work, every key is on the new node.
#   3. One node owning all 16384 slots (CLUSTER ADDSLOTSRANGE 0 16383):
#      login and a run.
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source=tests/integration/lib_auth.sh
. "$(dirname "$0")/lib_auth.sh"
# shellcheck source=tests/integration/lib_agent.sh
. "$(dirname "$0")/lib_agent.sh"
# shellcheck source=tests/integration/lib_tools.sh
. "$(dirname "$0")/lib_tools.sh"
cw_require_tools_stack
W=${CW_WAIT:-30}
CW_CONF[PERMISSION_TIMEOUT]=3600
CW_CONF[SESSION_QUEUE_MAX]=5

# ---- 1. migration from the old key names ---------------------------------------------------
tools_stack_up
session_new default || cw_bail "no session: $HTTP_STATUS $(cat "$BODY")"
S1=$SID
fake_script '{"turns":[{"text":"Before the upgrade."}]}'
run_msg "$S1" "hello before" 30 || cw_bail "the first run did not finish: $SSE_END"
cw_stop_app TERM >/dev/null 2>&1

# Back to the old names: every cw:{c}:X becomes cw:X, the schema mark goes.
redis_cli DEL 'cw:{c}:schema' >/dev/null
while read -r k; do
	[ -n "$k" ] || continue
	redis_cli RENAME "$k" "cw:${k#cw:\{c\}:}" >/dev/null
done < <(redis_cli --scan --pattern 'cw:{c}:*')
redis_cli EXPIRE "cw:events:$S1" 86400 >/dev/null
redis_cli SET cw:storage:ann 111 >/dev/null
redis_cli SET 'cw:{c}:storage:ann' 222 >/dev/null
# ... and a user added under the new name (the index exists under both).
redis_cli SADD 'cw:{c}:users' zed >/dev/null
NOLD=$(redis_cli --scan --pattern 'cw:*' | grep -v '^cw:{c}:' | grep -c .)
cmp_ok "$NOLD" -ge 8 "1: an old-format keyspace ($NOLD keys named cw:<rest>)"
is "$(redis_cli --scan --pattern 'cw:{c}:*' | grep -c .)" 2 "1: ... and two keys under the new name too (clashes)"

# A backup of the old-format keyspace (restored at the end of this part).
BK=$T/backups
bk() {
	env -u REDIS_URL -u WORKSPACE_PATH -u REDIS_PASSWORD STATE_DIR=$T/state \
		REDIS_URL="unix://$REDIS_SOCKET?db=0" REDIS_PASSWORD=$REDIS_PASSWORD \
		WORKSPACE_PATH=$T/workspace bash "$TOP_SRCDIR/scripts/$1" "${@:2}" >"$T/$1.out" 2>&1
}
mkdir -p "$T/state"
redis_cli CONFIG SET repl-diskless-sync-delay 0 >/dev/null
bk backup.sh "$BK"
is "$?" 0 "1: backup.sh of the old-format keyspace succeeds (its users are counted)"
ARCH=$(find "$BK" -maxdepth 1 -name 'claude-web-backup-*.tar' | head -n 1)
# Another instance is renaming (its lock, 1.5 s left): this one waits its turn.
redis_cli SET 'cw:{c}:migrating' another-instance PX 1500 >/dev/null
log_mark
cw_start_app || cw_bail "claude-web did not start on the old keyspace"
wait_for 10 pool_full runner 1 || diag "the runner pool did not fill up"
old_left() { redis_cli --scan --pattern 'cw:*' | grep -v '^cw:{c}:' | grep -c .; }
is "$(old_left)" 0 "1: no key is left under an old name"
is "$(redis_cli GET 'cw:{c}:schema')" 2 "1: cw:{c}:schema is 2"
is "$(redis_cli EXISTS 'cw:{c}:migrating')" 0 "1: the other instance's lock was waited out, then ours let go"
ttl=$(redis_cli TTL "cw:{c}:events:$S1")
cmp_ok "$ttl" -gt 86000 "1: the event stream kept its TTL ($ttl s)"
is "$(redis_cli GET 'cw:{c}:storage:ann')" 222 "1: on a clash the tagged (newer) key is kept"
is "$(redis_cli SMEMBERS 'cw:{c}:users' | sort | tr '\n' ' ')" "ann zed " "1: ... and an index (set) gets the members of both"
line=$(log_since | grep '"redis keys migrated to schema 2"' | head -n 1)
like "$line" "\"renamed\":$((NOLD - 2))," "1: the log counts the keys renamed ($((NOLD - 2)))"
like "$line" '"dropped":1,"merged":1' "1: ... the one dropped and the one merged on a clash"
like "$(log_since | grep 'both names exist')" 'cw:storage:ann' "1: the clash is logged with the key"
check "1: ann logs in after the migration" login ann ann-password-1
api_auth "/api/sessions/$S1"
is "$HTTP_STATUS" 200 "1: her session is there"
get_history "$S1"
like "$(jq -c '.messages' "$T/hist.json")" 'Before the upgrade' "1: with its history"
ev=$(redis_cli XRANGE "cw:{c}:events:$S1" - + | grep -c '^run.finished$')
is "$ev" 1 "1: and its event log (one run.finished)"
fake_script '{"turns":[{"text":"After the upgrade."}]}'
check "1: a new run works after the migration" run_msg "$S1" "hello after" 30
is "$(redis_cli XINFO GROUPS 'cw:{c}:jobs' | grep -A1 -x name | tail -n 1)" runners \
	"1: the job stream kept its consumer group"
cw_stop_app TERM >/dev/null 2>&1
log_mark
cw_start_app || cw_bail "claude-web did not restart"
wait_for 10 eval 'log_since | grep -q "redis keyspace at schema 2"'
unlike "$(log_since)" 'redis keys migrated' "1: a second start renames nothing (schema 2 already)"

# The old backup restored into an empty Redis: the next start renames it.
cw_stop_app TERM >/dev/null 2>&1
redis_cli FLUSHALL >/dev/null
bk restore.sh "$ARCH"
is "$?" 0 "1: restore.sh of the old-format backup succeeds"
like "$(cat "$T/restore.sh.out")" 'use the old names.*next start' "1: ... and says the next start renames its keys"
cmp_ok "$(old_left)" -ge 8 "1: the old names are back"
log_mark
cw_start_app || cw_bail "claude-web did not start after the restore"
wait_for 10 pool_full runner 1 || diag "the runner pool did not fill up"
is "$(old_left)" 0 "1: after a start, no key is left under an old name"
like "$(log_since | grep '"redis keys migrated to schema 2"')" '"renamed":' "1: that start renamed them"
check "1: ann logs in on the restored data" login ann ann-password-1
get_history "$S1"
like "$(jq -c '.messages' "$T/hist.json")" 'Before the upgrade' "1: her session's history is back"
cw_stop_all >/dev/null 2>&1

# ---- cluster helpers -------------------------------------------------------------------------
declare -A NPID=()
# node_start NAME PORT: a cluster-enabled redis-server on 127.0.0.1:PORT.
node_start() {
	mkdir -p "$T/$1"
	{
		printf 'port %s\nbind 127.0.0.1\ndir "%s"\nlogfile "%s"\n' "$2" "$T/$1" "$T/log/$1.log"
		printf 'daemonize no\nsave ""\nappendonly no\nrequirepass "%s"\n' "$REDIS_PASSWORD"
		printf 'masterauth "%s"\nmaxmemory-policy noeviction\n' "$REDIS_PASSWORD"
		printf 'cluster-enabled yes\ncluster-config-file "%s/nodes.conf"\n' "$T/$1"
		printf 'cluster-node-timeout 5000\n'
	} >"$T/$1/redis.conf"
	redis-server "$T/$1/redis.conf" >>"$T/log/$1.stdout" 2>&1 &
	NPID[$1]=$!
	BG_PIDS+=("$!")
	wait_for 10 eval "[ \"\$(rc $2 PING 2>/dev/null)\" = PONG ]" ||
		diag "node $1 did not answer PING: $(tail -n 5 "$T/log/$1.log")"
}
node_stop() {
	kill "${NPID[$1]}" 2>/dev/null
	wait "${NPID[$1]}" 2>/dev/null
}
rc() { # rc PORT ARGS...
	local p=$1
	shift
	REDISCLI_AUTH=$REDIS_PASSWORD redis-cli --no-auth-warning -h 127.0.0.1 -p "$p" "$@"
}
cluster_ok() { rc "$1" CLUSTER INFO 2>/dev/null | tr -d '\r' | grep -qx 'cluster_state:ok'; }
# slot_owner SLOT PORTS...: the port of the node serving SLOT.
slot_owner() {
	local slot=$1 p
	shift
	for p in "$@"; do
		rc "$p" CLUSTER NODES 2>/dev/null | awk -v s="$slot" '$3 ~ /myself/ {
			for (i = 9; i <= NF; i++) { n = split($i, r, "-");
				if ((n == 1 && r[1] == s) || (n == 2 && s >= r[1] && s <= r[2])) f = 1 }
			} END { exit !f }' && { echo "$p"; return 0; }
	done
	return 1
}
cluster_log_clean() {
	! grep -E -i 'CROSSSLOT|non local key|do not hash to the same slot|Script attempted to access' \
		"$CW_LOG" "$T/claude-web.stderr" >/dev/null 2>&1
}
# every_key_tagged OWNER PORTS...: every key of the cluster is in the {c}
# slot on OWNER, the other nodes hold no key.
every_key_tagged() {
	local owner=$1 p n
	shift
	n=$(rc "$owner" DBSIZE)
	[ "$n" -gt 0 ] && [ "$(rc "$owner" CLUSTER COUNTKEYSINSLOT "$SLOT")" = "$n" ] || return 1
	for p in "$@"; do
		[ "$p" = "$owner" ] || [ "$(rc "$p" DBSIZE)" = 0 ] || return 1
	done
}

# ---- 2. three masters, REDIS_URL on a node without the {c} slot -------------------------------
# Cluster nodes also listen on port + 10000: ports up to 55535 only.
read -r P1 P2 P3 P4 <<<"$(python3 -c 'import random, socket
out = []
while len(out) < 4:
    p = random.randint(20000, 55000)
    try:
        for q in (p, p + 10000):
            s = socket.socket(); s.bind(("127.0.0.1", q)); s.close()
    except OSError:
        continue
    if p not in out: out.append(p)
print(*out)')"
[ -n "$P4" ] || cw_bail "could not pick free ports"
node_start n1 "$P1"
node_start n2 "$P2"
node_start n3 "$P3"
REDISCLI_AUTH=$REDIS_PASSWORD redis-cli --no-auth-warning --cluster create \
	"127.0.0.1:$P1" "127.0.0.1:$P2" "127.0.0.1:$P3" --cluster-yes >"$T/cluster-create.out" 2>&1 ||
	cw_bail "redis-cli --cluster create failed: $(tail -n 5 "$T/cluster-create.out")"
check "2: the three-master cluster is up" wait_for "$W" eval 'cluster_ok "$P1" && cluster_ok "$P2" && cluster_ok "$P3"'
SLOT=$(rc "$P1" CLUSTER KEYSLOT 'x{c}')
OWNER=$(slot_owner "$SLOT" "$P1" "$P2" "$P3") || cw_bail "no node serves slot $SLOT"
for p in "$P1" "$P2" "$P3"; do [ "$p" = "$OWNER" ] || URLPORT=$p; done
diag "slot $SLOT of {c} is on 127.0.0.1:$OWNER; REDIS_URL names 127.0.0.1:$URLPORT"
# The helpers of lib_agent/lib_tools read keys through redis_cli: -c follows MOVED.
redis_cli() { rc "$URLPORT" -c "$@"; }
cw_start_redis() { :; }
cw_stop_redis() { :; }
CW_CONF[REDIS_URL]=redis://127.0.0.1:$URLPORT/0
CW_CONF[RUNNER_WORKERS]=2
CW_CONF[RUNNER_MAX]=2
CW_CONF[RUNNER_MIN_SPARE]=0
CW_CONF[RUNNER_MAX_SPARE]=2
: >"$CW_LOG"
log_mark
cw_start_app || cw_bail "claude-web did not start against the cluster"
cw_start_nginx || cw_bail "nginx did not start"
wait_for 10 pool_full runner 2 || diag "the runner pool did not fill up"
rc "$OWNER" CONFIG RESETSTAT >/dev/null
T_OPS=$(now_ms)
user_add ann ann-password-1
is "$ADMIN_RC" 0 "2: claude-web-admin adds a user (following MOVED)"
check "2: ann logs in" login ann ann-password-1
like "$(log_since | grep '"redis cluster redirect"' | head -n 1)" "MOVED $SLOT 127.0.0.1:$OWNER" \
	"2: the workers followed -MOVED to the node of the {c} slot"
check "2: a session is created" session_new default
S2=$SID
api_auth /api/sessions
like "$(jq -r '[.sessions[].id] | join(" ")' "$BODY")" "$S2" "2: and listed"

# A tool call that asks first: the run parks, the answer continues it.
fake_reset
fake_script "$(jq -cn --arg id "toolu_cluster_$$" '{turns: [
	{content: [{type: "text", text: "Let me check."},
		{type: "tool_use", id: $id, name: "bash", input: {command: "echo cluster-ok"}}]},
	{text: "The command said cluster-ok."}]}')"
post_msg "$S2" "run a command"
R2=$RUN_ID
is "$HTTP_STATUS" 202 "2: a run is queued"
parked() { redis_cli XRANGE "cw:{c}:events:$S2" - + | grep -qx run.parked; }
check "2: the run parks on its permission request" wait_for "$W" parked
api_auth "/api/sessions/$S2/permissions"
RID=$(json '.pending[0].request_id // empty')
perm_post "$S2" "$RID" '{"decision":"allow"}'
is "$HTTP_STATUS" 200 "2: the request is answered"
check "2: the run finishes" wait_for "$W" eval '[ "$(run_final_type "$S2" "$R2")" = run.finished ]'
get_history "$S2"
like "$(jq -c '.messages' "$T/hist.json")" 'cluster-ok' "2: the tool ran (its output is in the history)"

# Two messages queued behind a running one (held at the fake).
fake_reset
fake_script '{"turns":[{"text":"first","hold":"g1"},{"text":"second"},{"text":"third"}]}'
post_msg "$S2" "one"
RA=$RUN_ID
check "2: the first run is streaming (held)" wait_for "$W" fake_held 1
post_msg "$S2" "two"
RB=$RUN_ID
is "$(json .state)" session "2: a second message waits behind it"
post_msg "$S2" "three"
RC=$RUN_ID
is "$(json .state) $(json .ahead)" "session 2" "2: a third one too (two ahead)"
api_auth "/api/sessions/$S2/messages"
is "$(jq -r '[.queued[].run_id] | join(" ")' "$BODY")" "$RB $RC" "2: the queue lists the two waiting, in order"
fake_release g1
for r in "$RA" "$RB" "$RC"; do
	wait_for "$W" eval "[ \"\$(run_final_type \"$S2\" \"$r\")\" = run.finished ]"
done
is "$(run_final_type "$S2" "$RA") $(run_final_type "$S2" "$RB") $(run_final_type "$S2" "$RC")" \
	"run.finished run.finished run.finished" "2: the three runs finish in turn"

check "2: a second session" session_new default
S3=$SID
api_auth "/api/sessions/$S3" -X DELETE
like "$HTTP_STATUS" '^20[04]$' "2: a session is deleted"
is "$(redis_cli EXISTS "cw:{c}:session:$S3")" 0 "2: its record is gone"
check "2: no CROSSSLOT or non-local-key error in the logs" cluster_log_clean
check "2: every key is in the {c} slot on its node; the other nodes hold none" \
	every_key_tagged "$OWNER" "$P1" "$P2" "$P3"
# Redis load of all this (docs/redis.md): commands per second on the {c} node.
calls=$(rc "$OWNER" INFO commandstats | tr -d '\r' | sed -n 's/.*:calls=\([0-9]*\),.*/\1/p' | awk '{ s += $1 } END { print s + 0 }')
top=$(rc "$OWNER" INFO commandstats | tr -d '\r' | sed -n 's/^cmdstat_\([^:]*\):calls=\([0-9]*\),.*/\2 \1/p' | sort -rn | head -n 5 | tr '\n' ' ')
ms=$(($(now_ms) - T_OPS))
diag "Redis load: $calls commands in $ms ms ($((calls * 1000 / (ms > 0 ? ms : 1))) /s) on the {c} node; top: $top"
diag "keys: $(rc "$OWNER" DBSIZE) on $OWNER"

# ---- 2b. the {c} slot moves to the third node while claude-web runs -------------------------
for p in "$P1" "$P2" "$P3"; do [ "$p" = "$OWNER" ] || [ "$p" = "$URLPORT" ] || NEW=$p; done
SRC_ID=$(rc "$OWNER" CLUSTER MYID)
DST_ID=$(rc "$NEW" CLUSTER MYID)
log_mark
rc "$NEW" CLUSTER SETSLOT "$SLOT" IMPORTING "$SRC_ID" >/dev/null
rc "$OWNER" CLUSTER SETSLOT "$SLOT" MIGRATING "$DST_ID" >/dev/null
# While the slot is migrating, a key the old node does not hold (the token's
# revocation mark) is answered with -ASK: sent again with ASKING to the new one.
api_auth /api/sessions
is "$HTTP_STATUS" 200 "2b: a request while the slot is migrating works"
like "$(log_since | grep '"redis cluster ask"' | head -n 1)" "\"node\":\"127.0.0.1\"" \
	"2b: ... following -ASK to the importing node"
moved_ok=1
while :; do
	mapfile -t keys < <(rc "$OWNER" CLUSTER GETKEYSINSLOT "$SLOT" 100)
	[ "${#keys[@]}" -gt 0 ] && [ -n "${keys[0]}" ] || break
	[ "$(rc "$OWNER" MIGRATE 127.0.0.1 "$NEW" "" 0 5000 AUTH "$REDIS_PASSWORD" KEYS "${keys[@]}")" = OK ] ||
		{ moved_ok=0; break; }
done
for p in "$P1" "$P2" "$P3"; do
	rc "$p" CLUSTER SETSLOT "$SLOT" NODE "$DST_ID" >/dev/null
done
is "$moved_ok $(rc "$OWNER" DBSIZE)" "1 0" "2b: the {c} slot and its keys moved to 127.0.0.1:$NEW (resharding)"
OWNER=$NEW
check "2b: ann logs in again" wait_for "$W" login ann ann-password-1
check "2b: her session is there" eval 'api_auth "/api/sessions/$S2"; [ "$HTTP_STATUS" = 200 ]'
fake_reset
fake_script '{"turns":[{"text":"After the reshard."}]}'
check "2b: a run finishes on the new node" run_msg "$S2" "after the move" 30
like "$(log_since | grep '"redis cluster redirect"' | tail -n 1)" "MOVED $SLOT 127.0.0.1:$NEW" \
	"2b: the workers followed -MOVED to the new node"
check "2b: no CROSSSLOT or non-local-key error" cluster_log_clean
check "2b: every key is in the {c} slot on the new node" every_key_tagged "$NEW" "$P1" "$P2" "$P3"
diag "during the move: $(log_since | grep -c '"redis error reply"') error replies ($(log_since | grep '"redis error reply"' | jq -r .error 2>/dev/null | cut -d' ' -f1 | sort | uniq -c | tr '\n' ' '))"
cw_stop_app TERM >/dev/null 2>&1
node_stop n1
node_stop n2
node_stop n3

# ---- 3. one node owning every slot --------------------------------------------------------------
node_start n4 "$P4"
rc "$P4" CLUSTER ADDSLOTSRANGE 0 16383 >/dev/null
check "3: a one-node cluster with all 16384 slots" wait_for "$W" cluster_ok "$P4"
URLPORT=$P4
OWNER=$P4
CW_CONF[REDIS_URL]=redis://127.0.0.1:$P4/0
log_mark
cw_start_app || cw_bail "claude-web did not start against the one-node cluster"
wait_for 10 pool_full runner 2 || diag "the runner pool did not fill up"
user_add ann ann-password-1
check "3: ann logs in" login ann ann-password-1
check "3: a session" session_new default
fake_reset
fake_script '{"turns":[{"text":"One node, all slots."}]}'
check "3: a run finishes" run_msg "$SID" "hi" 30
check "3: no CROSSSLOT or non-local-key error" cluster_log_clean
check "3: every key is in the {c} slot" every_key_tagged "$P4" "$P4"

tap_done
