# shellcheck shell=bash
# Shared by scripts/backup.sh and scripts/restore.sh: where the data is
# (REDIS_URL, the Redis password, WORKSPACE_PATH), redis-cli against it, a
# private "staging" redis-server that loads an RDB file, and a digest of
# every cw:* key (type, TTL or not, SHA-1 of the value) to compare two
# keyspaces. Source it after lib-common.sh and cw_state_init.

# cwb_env_get FILE NAME: the value of NAME in the env-file FILE, parsed like
# claude-web does (fcgi-app/config.c: "export " allowed, one pair of
# matching quotes unwrapped, no escapes); the last assignment wins. Fails
# when FILE does not set NAME.
cwb_env_get() {
	[ -r "$1" ] || return 1
	LC_ALL=C awk -v want="$2" '
		{ sub(/\r$/, ""); sub(/^[ \t]+/, "") }
		/^#/ || $0 == "" { next }
		{ sub(/^export /, "") }
		{
			eq = index($0, "="); if (eq == 0) next
			k = substr($0, 1, eq - 1); sub(/[ \t]+$/, "", k)
			if (k != want) next
			v = substr($0, eq + 1); sub(/^[ \t]+/, "", v); sub(/[ \t]+$/, "", v)
			q = substr(v, 1, 1)
			if (length(v) >= 2 && (q == "\"" || q == "\047") && substr(v, length(v), 1) == q)
				v = substr(v, 2, length(v) - 2)
			val = v; found = 1
		}
		END { if (!found) exit 1; print val }' "$1"
}

# cwb_setting NAME: NAME from the environment, else from the env-file
# ($CWB_ENV_FILE); fails when neither sets it (to something non-empty).
cwb_setting() {
	local v
	if [ -n "${!1:-}" ]; then
		printf '%s\n' "${!1}"
		return 0
	fi
	[ -n "$CWB_ENV_FILE" ] || return 1
	v=$(cwb_env_get "$CWB_ENV_FILE" "$1") && [ -n "$v" ] || return 1
	printf '%s\n' "$v"
}

# cwb_resolve: the Redis and workspace of this instance, as claude-web sees
# them: the environment first, then the env-file the server runs with
# (--config FILE, else STATE_DIR/claude-web.env), then start.sh's defaults
# for STATE_DIR (its private Redis, STATE_DIR/workspace). Sets
# CWB_REDIS_URL, CWB_REDIS_PASSWORD (may be empty), CWB_WORKSPACE,
# CWB_PRIVATE (1: the private Redis of STATE_DIR) and CWB_RCLI (the
# redis-cli arguments: socket or host/port, db, user; for a sentinel URL the
# master's address, asked of the sentinels now).
cwb_resolve() {
	local f url pw='' db
	if [ -z "${CWB_ENV_FILE:-}" ] && [ -f "$CW_ENV_FILE" ]; then
		CWB_ENV_FILE=$CW_ENV_FILE
	fi
	CWB_ENV_FILE=${CWB_ENV_FILE:-}
	url=$(cwb_setting REDIS_URL) || url="unix://$CW_REDIS_SOCKET?db=0"
	CWB_REDIS_URL=$url
	CWB_PRIVATE=0
	# The sentinels' password may live in the env-file too.
	if [ -z "${REDIS_SENTINEL_PASSWORD:-}${REDIS_SENTINEL_PASSWORD_FILE:-}" ] && [ -n "$CWB_ENV_FILE" ]; then
		if f=$(cwb_env_get "$CWB_ENV_FILE" REDIS_SENTINEL_PASSWORD) && [ -n "$f" ]; then
			REDIS_SENTINEL_PASSWORD=$f
		elif f=$(cwb_env_get "$CWB_ENV_FILE" REDIS_SENTINEL_PASSWORD_FILE) && [ -n "$f" ]; then
			REDIS_SENTINEL_PASSWORD_FILE=$f
		fi
	fi
	# unix, redis:// (ACL user, IPv6) and redis+sentinel:// (the master
	# the sentinels name now): lib-common.sh.
	cw_redis_target "$url" || cw_die "REDIS_URL $(cwb_url_safe): $CW_RCLI_ERR"
	CWB_RCLI=("${CW_RCLI_ARGS[@]}")
	pw=$CW_RCLI_PASS
	db=$CW_RCLI_DB
	[ "$CW_RCLI_KIND" != unix ] || [ "$CW_RCLI_SOCK" != "$CW_REDIS_SOCKET" ] || CWB_PRIVATE=1
	# shellcheck disable=SC2034 # used by backup.sh and restore.sh
	CWB_DB=${db:-0}
	# The password, in claude-web's order: REDIS_PASSWORD, REDIS_PASSWORD_FILE
	# (environment, then env-file), then the URL; the private Redis has its own.
	if [ -n "${REDIS_PASSWORD:-}" ]; then
		pw=$REDIS_PASSWORD
	elif [ -n "${REDIS_PASSWORD_FILE:-}" ]; then
		pw=$(cat -- "$REDIS_PASSWORD_FILE") || cw_die "cannot read REDIS_PASSWORD_FILE $REDIS_PASSWORD_FILE"
	elif [ -n "$CWB_ENV_FILE" ] && f=$(cwb_env_get "$CWB_ENV_FILE" REDIS_PASSWORD) && [ -n "$f" ]; then
		pw=$f
	elif [ -n "$CWB_ENV_FILE" ] && f=$(cwb_env_get "$CWB_ENV_FILE" REDIS_PASSWORD_FILE) && [ -n "$f" ]; then
		pw=$(cat -- "$f") || cw_die "cannot read REDIS_PASSWORD_FILE $f (from $CWB_ENV_FILE)"
	elif [ "$CWB_PRIVATE" -eq 1 ] && [ -r "$CW_SECRETS_DIR/redis_password" ]; then
		pw=$(cat -- "$CW_SECRETS_DIR/redis_password")
	fi
	CWB_REDIS_PASSWORD=$pw
	CWB_WORKSPACE=$(cwb_setting WORKSPACE_PATH) || CWB_WORKSPACE=$STATE_DIR/workspace
	CWB_WORKSPACE=$(cw_abspath "$CWB_WORKSPACE")
	CWB_WORKSPACE=${CWB_WORKSPACE%/}
}

# cwb_url_safe: REDIS_URL without its password, for messages and the manifest.
cwb_url_safe() {
	cw_redis_url_safe "$CWB_REDIS_URL"
}

# rcli ARGS...: redis-cli against the configured Redis (password from the
# environment, never on the command line).
rcli() {
	if [ -n "$CWB_REDIS_PASSWORD" ]; then
		REDISCLI_AUTH=$CWB_REDIS_PASSWORD redis-cli "${CWB_RCLI[@]}" "$@"
	else
		env -u REDISCLI_AUTH redis-cli "${CWB_RCLI[@]}" "$@"
	fi
}

# cwb_ping: the configured Redis answers PONG (not LOADING, not NOAUTH).
cwb_ping() {
	[ "$(rcli PING 2>/dev/null)" = PONG ]
}

# ---- staging redis ----------------------------------------------------------------
# cwb_stage_start DIR SOCKDIR: a private redis-server (no TCP, no
# persistence, unix socket SOCKDIR/s.sock) that loads DIR/dump.rdb. Sets
# CWB_STAGE_PID; stage ARGS... talks to it.
CWB_STAGE_PID=''
CWB_STAGE_SOCK=''
cwb_stage_start() {
	local i
	CWB_STAGE_SOCK=$2/s.sock
	redis-server --port 0 --unixsocket "$CWB_STAGE_SOCK" --unixsocketperm 700 \
		--dir "$1" --dbfilename dump.rdb --appendonly no --save '' \
		--daemonize no --logfile "$1/redis.log" --databases 16 \
		--enable-debug-command no >/dev/null 2>&1 &
	CWB_STAGE_PID=$!
	for i in $(seq 1 3000); do
		[ "$(stage PING 2>/dev/null)" = PONG ] && return 0
		cw_alive "$CWB_STAGE_PID" || break
		sleep 0.1
		: "$i"
	done
	cw_tail "$1/redis.log" 10
	return 1
}

stage() {
	env -u REDISCLI_AUTH redis-cli -s "$CWB_STAGE_SOCK" "$@"
}

cwb_stage_stop() {
	[ -n "$CWB_STAGE_PID" ] || return 0
	kill -TERM "$CWB_STAGE_PID" 2>/dev/null || true
	cw_wait_gone "$CWB_STAGE_PID" 10 || kill -KILL "$CWB_STAGE_PID" 2>/dev/null || true
	wait "$CWB_STAGE_PID" 2>/dev/null || true
	CWB_STAGE_PID=''
}

# ---- keyspace digest ----------------------------------------------------------------
# One line per key matching ARGV[1]: "TYPE ttl|- SHA1 NAME". The value is
# hashed independently of the encoding (hash fields and set members sorted
# by their own digests), streams with their entries, last id, consumer
# groups, consumers and pending entries (delivery counts; not idle times).
# shellcheck disable=SC2016 # Lua, not shell
CWB_DIGEST_LUA='
local function enc(t, out)
  if type(t) == "table" then
    out[#out + 1] = "[" .. #t
    for i = 1, #t do enc(t[i], out) end
    out[#out + 1] = "]"
  elseif t == false or t == nil then out[#out + 1] = "~"
  else local s = tostring(t); out[#out + 1] = #s .. ":" .. s end
end
local function ser(t) local o = {}; enc(t, o); return table.concat(o) end
local function unordered(list, step)
  local h = {}
  for i = 1, #list, step do
    local e = {}
    for j = 0, step - 1 do e[#e + 1] = list[i + j] end
    h[#h + 1] = redis.sha1hex(ser(e))
  end
  table.sort(h)
  return table.concat(h, ",")
end
local function pick(r, names)
  local o = {}
  for i = 1, #r, 2 do if names[r[i]] then o[#o + 1] = r[i]; o[#o + 1] = r[i + 1] end end
  return o
end
local res = {}
for _, k in ipairs(redis.call("KEYS", ARGV[1])) do
  local t = redis.call("TYPE", k).ok
  local v
  if t == "string" then v = redis.call("GET", k)
  elseif t == "hash" then v = unordered(redis.call("HGETALL", k), 2)
  elseif t == "set" then v = unordered(redis.call("SMEMBERS", k), 1)
  elseif t == "zset" then v = ser(redis.call("ZRANGE", k, 0, -1, "WITHSCORES"))
  elseif t == "list" then v = ser(redis.call("LRANGE", k, 0, -1))
  elseif t == "stream" then
    local s = {redis.call("XRANGE", k, "-", "+"),
      pick(redis.call("XINFO", "STREAM", k), {["length"] = 1, ["last-generated-id"] = 1,
        ["max-deleted-entry-id"] = 1, ["entries-added"] = 1})}
    for _, g in ipairs(redis.call("XINFO", "GROUPS", k)) do
      local name
      for i = 1, #g, 2 do if g[i] == "name" then name = g[i + 1] end end
      local cs, pel = {}, {}
      for _, c in ipairs(redis.call("XINFO", "CONSUMERS", k, name)) do
        cs[#cs + 1] = pick(c, {["name"] = 1, ["pending"] = 1})
      end
      for _, p in ipairs(redis.call("XPENDING", k, name, "-", "+", 2147483647)) do
        pel[#pel + 1] = {p[1], p[2], p[4]}
      end
      s[#s + 1] = {pick(g, {["name"] = 1, ["last-delivered-id"] = 1, ["pending"] = 1,
        ["consumers"] = 1, ["entries-read"] = 1}), cs, pel}
    end
    v = ser(s)
  else v = "?" end
  local ttl = redis.call("PTTL", k)
  res[#res + 1] = t .. " " .. (ttl > 0 and "ttl" or "-") .. " " .. redis.sha1hex(ser({t, v})) .. " " .. k
end
return res
'

# cwb_digest CLI: the digest of the cw:* keys through CLI (rcli or stage),
# sorted; key names are printed the way redis-cli quotes them.
cwb_digest() {
	"$1" --no-raw EVAL "$CWB_DIGEST_LUA" 0 'cw:*' |
		sed -n -E 's/^ *[0-9]+\) "(.*)"$/\1/p' | LC_ALL=C sort
}

# cwb_copy_keys FROM TO WORKDIR: copies every cw:* key of FROM (a redis-cli wrapper,
# e.g. stage) to TO with DUMP + RESTORE ... REPLACE, TTLs kept. Binary-safe:
# redis-cli prints replies quoted with \xNN escapes (--no-raw) and parses
# the same quoting in the commands it reads. Prints the number of keys
# copied and the number there were to copy (a key whose TTL ran out
# meanwhile is not copied).
cwb_copy_keys() {
	local from=$1 to=$2 work=$3 n ok want
	"$from" --no-raw --scan --pattern 'cw:*' >"$work/keys.q"
	n=$(wc -l <"$work/keys.q")
	[ "$n" -gt 0 ] || {
		echo 0 0
		return 0
	}
	awk '{ print "DUMP " $0; print "PTTL " $0 }' "$work/keys.q" | "$from" --no-raw >"$work/dump.q"
	paste -d '\n' "$work/keys.q" - - <"$work/dump.q" 2>/dev/null |
		LC_ALL=C awk 'NR % 3 == 1 { k = $0 } NR % 3 == 2 { p = $0 }
			NR % 3 == 0 {
				t = $0; sub(/^\(integer\) /, "", t)
				if (p == "(nil)") next
				if (t + 0 < 0) t = 0
				print "RESTORE " k " " t " " p " REPLACE"
			}' >"$work/restore.q"
	want=$(wc -l <"$work/restore.q")
	ok=$("$to" <"$work/restore.q" | grep -c '^OK$' || true)
	rm -f -- "$work/keys.q" "$work/dump.q" "$work/restore.q"
	echo "$ok $want"
}
