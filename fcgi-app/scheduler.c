#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

#include <json-c/json.h>

#include "auth.h"
#include "config.h"
#include "events.h"
#include "keys.h"
#include "log.h"
#include "perm.h"
#include "runs.h"
#include "scheduler.h"
#include "sessions.h"
#include "store.h"

/*
 * The scheduler's Lua library, prepended (after cw_append) to every
 * script below. ARGV[1..5] of every script is the context: now in ms,
 * MAX_RUNS_PER_USER, SESSION_QUEUE_MAX, EVENTS_MAXLEN, EVENTS_MAX_BYTES.
 * KEYS[1..4] of every script are the global keys: the job stream, the
 * users with waiting runs, the parked runs, the live runs; then the keys
 * of the call's session, run and permission request (call_key). Keys the
 * script only learns from data (the next run in a queue, its user and
 * session) are built here from the same CW_KP prefix, so they are in the
 * declared keys' hash slot by construction (docs/redis.md).
 */
static const char sched_lua[] =
"local RP = '" CW_KP "run:' "
"local function cw_ctx(a) "
"  local ms = tonumber(a[1]) "
"  return { ms = ms, now = math.floor(ms / 1000), cap = tonumber(a[2]), "
"    qmax = tonumber(a[3]), maxlen = tonumber(a[4]), maxbytes = tonumber(a[5]) } "
"end "
"local function cw_final(st) "
"  return st == 'finished' or st == 'error' or st == 'cancelled' "
"end "
"local function cw_has_session(sid) "
"  return redis.call('HEXISTS', '" CW_KP "session:' .. sid, 'owner') == 1 "
"end "
/* Events only into a live session: a deleted one's stream is never revived. */
"local function cw_ev(c, sid, ty, t) "
"  if not sid or not cw_has_session(sid) then return '0-0' end "
"  return cw_append('" CW_KP "events:' .. sid, '" CW_KP "evbytes:' .. sid, c.maxlen, "
"    c.maxbytes, ty, cjson.encode(t)) "
"end "
"local function cw_sstatus(sid, st) "
"  if cw_has_session(sid) then "
"    redis.call('HSET', '" CW_KP "session:' .. sid, 'status', st) "
"    redis.call('HDEL', '" SESSIONS_SUMMARY_KEY "', sid) end "
"end "
"local function cw_idgt(a, b) "
"  local am, as = string.match(a, '^(%d+)%-(%d+)$') "
"  local bm, bs = string.match(b, '^(%d+)%-(%d+)$') "
"  if not am or not bm then return false end "
"  am, as, bm, bs = tonumber(am), tonumber(as), tonumber(bm), tonumber(bs) "
"  if am ~= bm then return am > bm end "
"  return as > bs "
"end "
"local function cw_lastdelivered() "
"  local ok, g = pcall(redis.call, 'XINFO', 'GROUPS', KEYS[1]) "
"  if not ok then return nil end "
"  for _, grp in ipairs(g) do "
"    local name, last "
"    for i = 1, #grp - 1, 2 do "
"      if grp[i] == 'name' then name = grp[i + 1] "
"      elseif grp[i] == 'last-delivered-id' then last = grp[i + 1] end "
"    end "
"    if name == 'runners' then return last end "
"  end "
"  return nil "
"end "
/* Jobs no runner has read yet, oldest first. */
"local function cw_undelivered(limit) "
"  local last = cw_lastdelivered() "
"  local from = '-' "
"  if last then from = '(' .. last end "
"  return redis.call('XRANGE', KEYS[1], from, '+', 'COUNT', limit) "
"end "
"local function cw_field(e, name) "
"  local kv = e[2] "
"  if type(kv) ~= 'table' then return nil end "
"  for i = 1, #kv - 1, 2 do if kv[i] == name then return kv[i + 1] end end "
"  return nil "
"end "
/* A run that is not final and that someone will still move on. */
"local function cw_live(rid) "
"  local h = redis.call('HMGET', RP .. rid, 'status', 'sched', 'session', 'job_id') "
"  if not h[1] or cw_final(h[1]) then return false end "
"  if h[2] == 'behind' or h[2] == 'waiting' or h[2] == 'parked' then return true end "
"  if h[3] and redis.call('EXISTS', '" CW_KP "lock:' .. h[3]) == 1 then return true end "
"  if h[4] and #redis.call('XRANGE', KEYS[1], h[4], h[4]) > 0 then return true end "
"  return false "
"end "
/* Tells the run's session where it stands, when that changed. */
"local function cw_announce(c, rid, state, ahead) "
"  local q = redis.call('HMGET', RP .. rid, 'q_state', 'q_ahead', 'session') "
"  if q[1] == state and tonumber(q[2]) == ahead then return end "
"  redis.call('HSET', RP .. rid, 'q_state', state, 'q_ahead', ahead) "
"  cw_ev(c, q[3], 'run.queue_position', { run_id = rid, state = state, ahead = ahead }) "
"end "
/*
 * Positions change for everyone behind a run that moves: announced for the
 * first 200 ready runs and 100 of each user's waiting runs, so a user with
 * hundreds of queued runs costs the others nothing more.
 */
"local function cw_positions(c) "
"  for i, e in ipairs(cw_undelivered(200)) do "
"    local rid = cw_field(e, 'run_id') "
"    if rid then cw_announce(c, rid, 'ready', i - 1) end "
"  end "
"  for _, u in ipairs(redis.call('SMEMBERS', KEYS[2])) do "
"    local held = redis.call('SCARD', '" CW_KP "urun:' .. u) "
"    for i, rid in ipairs(redis.call('LRANGE', '" CW_KP "uwait:' .. u, 0, 99)) do "
"      cw_announce(c, rid, 'user', held + i - 1) "
"    end "
"  end "
"end "
"local function cw_sq_positions(c, sid) "
"  for i, rid in ipairs(redis.call('LRANGE', '" CW_KP "sq:' .. sid, 0, -1)) do "
"    cw_announce(c, rid, 'session', i) "
"  end "
"end "
"local function cw_ready(c, rid, sid, user) "
"  local jid = redis.call('XADD', KEYS[1], '*', 'run_id', rid, 'session', sid) "
"  redis.call('HSET', RP .. rid, 'sched', 'ready', 'job_id', jid) "
"  redis.call('SADD', '" CW_KP "urun:' .. user, rid) "
"end "
/* Fills the user's free slots from their waiting list; returns how many. */
"local function cw_admit(c, user) "
"  local uk, wk = '" CW_KP "urun:' .. user, '" CW_KP "uwait:' .. user "
"  for _, rid in ipairs(redis.call('SMEMBERS', uk)) do "
"    local sc = redis.call('HGET', RP .. rid, 'sched') "
"    if (sc ~= 'ready' and sc ~= 'running') or not cw_live(rid) then "
"      redis.call('SREM', uk, rid) end "
"  end "
"  local n, moved = redis.call('SCARD', uk), 0 "
"  while n < c.cap do "
"    local rid = redis.call('LPOP', wk) "
"    if not rid then break end "
"    local h = redis.call('HMGET', RP .. rid, 'status', 'sched', 'session') "
"    if h[1] and not cw_final(h[1]) and h[2] == 'waiting' and h[3] then "
"      cw_ready(c, rid, h[3], user) n = n + 1 moved = moved + 1 end "
"  end "
"  if redis.call('LLEN', wk) == 0 then redis.call('SREM', KEYS[2], user) end "
"  return moved "
"end "
"local function cw_enqueue(c, rid, user, front) "
"  redis.call('HSET', RP .. rid, 'sched', 'waiting', 'wait_ms0', c.ms) "
"  if front then redis.call('LPUSH', '" CW_KP "uwait:' .. user, rid) "
"  else redis.call('RPUSH', '" CW_KP "uwait:' .. user, rid) end "
"  redis.call('SADD', KEYS[2], user) "
"  cw_admit(c, user) "
"end "
/* Where a run (just enqueued) stands: state, ahead. */
"local function cw_where(rid, user) "
"  if redis.call('HGET', RP .. rid, 'sched') == 'ready' then "
"    for i, e in ipairs(cw_undelivered(1000)) do "
"      if cw_field(e, 'run_id') == rid then return 'ready', i - 1 end "
"    end "
"    return 'ready', 0 "
"  end "
"  local held, idx = redis.call('SCARD', '" CW_KP "urun:' .. user), 0 "
"  for i, r in ipairs(redis.call('LRANGE', '" CW_KP "uwait:' .. user, 0, 999)) do "
"    if r == rid then idx = i - 1 break end "
"  end "
"  return 'user', held + idx "
"end "
/*
 * A run has reached its final status: it leaves every list; if it was the
 * session's current run, the next queued message of the session becomes
 * current (or, the session being gone, the queue is dropped). Returns the
 * run that went ahead, or nil.
 */
"local function cw_end(c, rid, sid, user, endst) "
"  redis.call('HSET', RP .. rid, 'sched', 'done') "
"  redis.call('HDEL', RP .. rid, 'wait_ms0', 'cont_reason') "
"  redis.call('ZREM', KEYS[3], rid) "
"  redis.call('ZREM', KEYS[4], rid) "
"  if user then "
"    redis.call('SREM', '" CW_KP "urun:' .. user, rid) "
"    redis.call('LREM', '" CW_KP "uwait:' .. user, 0, rid) "
"  end "
"  local ak, sq = '" CW_KP "active:' .. sid, '" CW_KP "sq:' .. sid "
"  if redis.call('GET', ak) ~= rid then "
"    if redis.call('LREM', sq, 0, rid) > 0 then cw_sq_positions(c, sid) end "
"    if user then cw_admit(c, user) end "
"    return nil "
"  end "
"  redis.call('DEL', ak) "
"  local nxt = nil "
"  while true do "
"    local cand = redis.call('LPOP', sq) "
"    if not cand then break end "
"    local h = redis.call('HMGET', RP .. cand, 'status', 'user') "
"    if h[1] and not cw_final(h[1]) and h[2] then "
"      if cw_has_session(sid) then nxt = cand break end "
"      redis.call('HSET', RP .. cand, 'status', 'cancelled', 'sched', 'done', "
"        'finished_at', c.now) "
"      redis.call('ZREM', KEYS[4], cand) "
"    end "
"  end "
"  if nxt then "
"    redis.call('SET', ak, nxt) "
"    cw_sstatus(sid, 'running') "
"    cw_enqueue(c, nxt, redis.call('HGET', RP .. nxt, 'user'), false) "
"    cw_sq_positions(c, sid) "
"  else "
"    local ss = 'idle' "
"    if endst == 'error' then ss = 'error' end "
"    cw_sstatus(sid, ss) "
"  end "
"  if user then cw_admit(c, user) end "
"  return nxt "
"end "
/*
 * The session's current run if it is live; a stale one (final, or with no
 * job and no runner) is closed with run.cancelled and the session handed
 * on. Returns the live current run id or false.
 */
"local function cw_guard(c, sid) "
"  local cur = redis.call('GET', '" CW_KP "active:' .. sid) "
"  if not cur then return false end "
"  if cw_live(cur) then return cur end "
"  local h = redis.call('HMGET', RP .. cur, 'status', 'user') "
"  if h[1] and not cw_final(h[1]) then "
"    redis.call('HSET', RP .. cur, 'status', 'cancelled', 'finished_at', c.now, "
"      'error', 'stale: no job and no runner') "
"    cw_ev(c, sid, 'run.cancelled', { run_id = cur, reason = 'stale', message = "
"      'This run was lost (no runner had it and its job was gone) and has been closed.' }) "
"  end "
"  local nxt = cw_end(c, cur, sid, h[2] or nil, 'cancelled') "
"  return nxt or false "
"end "
/* The run never reached a runner, and no runner can take it now. */
"local function cw_unstarted(rid) "
"  local h = redis.call('HMGET', RP .. rid, 'sched', 'job_id', 'started_at', 'status') "
"  if not h[4] or cw_final(h[4]) then return false end "
"  if h[1] == 'behind' or h[1] == 'waiting' then return true end "
"  if h[1] ~= 'ready' or h[3] or not h[2] then return false end "
"  local last = cw_lastdelivered() "
"  return (not last) or cw_idgt(h[2], last) "
"end "
"local function cw_drop(c, rid, reason) "
"  local h = redis.call('HMGET', RP .. rid, 'sched', 'job_id', 'session', 'user') "
"  if h[1] == 'ready' and h[2] then redis.call('XDEL', KEYS[1], h[2]) end "
"  redis.call('HSET', RP .. rid, 'status', 'cancelled', 'finished_at', c.now) "
"  cw_ev(c, h[3], 'run.cancelled', { run_id = rid, reason = reason }) "
"  cw_end(c, rid, h[3], h[4] or nil, 'cancelled') "
"end "
/* A parked run goes back into its user's queue, first in line. */
"local function cw_unpark(c, rid, reason) "
"  if not redis.call('ZSCORE', KEYS[3], rid) then return false end "
"  redis.call('ZREM', KEYS[3], rid) "
"  local h = redis.call('HMGET', RP .. rid, 'user', 'session', 'status') "
"  if not h[1] or not h[3] or cw_final(h[3]) then return false end "
"  redis.call('HSET', RP .. rid, 'status', 'queued', 'cont_reason', reason, "
"    'attempts', 0) "
"  cw_sstatus(h[2], 'running') "
"  cw_enqueue(c, rid, h[1], true) "
"  return true "
"end "
"local function cw_cancel(c, rid) "
"  if cw_unstarted(rid) then cw_drop(c, rid, 'cancelled') return 2 end "
"  redis.call('SET', '" CW_KP "cancel:' .. rid, '1', 'EX', 86400) "
"  cw_unpark(c, rid, 'cancelled') "
"  return 1 "
"end ";

/*
 * ARGV[6..]: run_id, sid, user, kind. {0, ev, state, ahead, ready} | {1,
 * cur} | {2}; ready: runs waiting for a runner (the pool's signal). Sent
 * again with the same run_id (its reply was lost), it answers as the first
 * time and queues nothing twice.
 */
static const char queue_body[] =
"local c = cw_ctx(ARGV) "
"local rid, sid, user, kind = ARGV[6], ARGV[7], ARGV[8], ARGV[9] "
"if not cw_has_session(sid) then return {2, '', '', 0} end "
"if redis.call('HEXISTS', RP .. rid, 'session') == 1 then "
"  local q = redis.call('HMGET', RP .. rid, 'first_event_id', 'q_state', 'q_ahead') "
"  return {0, q[1] or '0-0', q[2] or '', tonumber(q[3]) or 0, #cw_undelivered(1000)} end "
"local cur = cw_guard(c, sid) "
"if cur and redis.call('LLEN', '" CW_KP "sq:' .. sid) >= c.qmax then "
"  return {1, cur, '', 0} end "
"local rk = RP .. rid "
"redis.call('HSET', rk, 'session', sid, 'user', user, 'kind', kind, "
"  'status', 'queued', 'created_at', c.now, 'sched', 'behind') "
"redis.call('EXPIRE', rk, 2592000) "
"redis.call('ZADD', KEYS[4], c.now, rid) "
"local state, ahead "
"if cur then "
"  state, ahead = 'session', redis.call('RPUSH', '" CW_KP "sq:' .. sid, rid) "
"else "
"  redis.call('SET', '" CW_KP "active:' .. sid, rid) "
"  cw_sstatus(sid, 'running') "
"  cw_enqueue(c, rid, user, false) "
"  state, ahead = cw_where(rid, user) "
"end "
"redis.call('HSET', rk, 'q_state', state, 'q_ahead', ahead) "
"local ev = cw_ev(c, sid, 'run.queued', { run_id = rid, kind = kind, "
"  state = state, ahead = ahead }) "
"redis.call('HSET', rk, 'first_event_id', ev) "
"return {0, ev, state, ahead, #cw_undelivered(1000)}";

/* ARGV[6]: sid. {1|2, run_id} | {0}. */
static const char cancel_body[] =
"local c = cw_ctx(ARGV) "
"local sid = ARGV[6] "
"local cur0 = redis.call('GET', '" CW_KP "active:' .. sid) "
"if not cur0 then return {0} end "
"local live = cw_guard(c, sid) "
"if live ~= cur0 then return {2, cur0} end "
"local rc = cw_cancel(c, live) "
"cw_positions(c) "
"return {rc, live}";

/* ARGV[6]: run_id. 1 | 2 | 0. */
static const char cancel_run_body[] =
"local c = cw_ctx(ARGV) "
"local rid = ARGV[6] "
"if not cw_live(rid) then return 0 end "
"local rc = cw_cancel(c, rid) "
"cw_positions(c) "
"return rc";

/* ARGV[6..]: sid, run_id. 0 removed, 1 started or final, 2 unknown. */
static const char remove_body[] =
"local c = cw_ctx(ARGV) "
"local sid, rid = ARGV[6], ARGV[7] "
"local h = redis.call('HMGET', RP .. rid, 'session', 'status') "
"if h[1] ~= sid then return 2 end "
"if not cw_unstarted(rid) then return 1 end "
"cw_drop(c, rid, 'removed') "
"cw_positions(c) "
"return 0";

/* ARGV[6]: run_id. {0, wait_ms} go | {1, -1} nothing to run. */
static const char started_body[] =
"local c = cw_ctx(ARGV) "
"local rk = RP .. ARGV[6] "
"local h = redis.call('HMGET', rk, 'status', 'sched', 'wait_ms0', 'started_at') "
"if not h[1] or cw_final(h[1]) then return {1, -1} end "
"if h[2] == 'parked' or h[2] == 'behind' or h[2] == 'waiting' or h[2] == 'done' then "
"  return {1, -1} end "
"redis.call('HSET', rk, 'sched', 'running', 'status', 'running') "
"if not h[4] then redis.call('HSET', rk, 'started_at', c.now) end "
"local wait = -1 "
"if h[3] then wait = c.ms - tonumber(h[3]) redis.call('HDEL', rk, 'wait_ms0') end "
"cw_positions(c) "
"return {0, wait, #cw_undelivered(1000)}";

/*
 * KEYS[5]: the permission request. ARGV[6..]: sid, run_id, fence,
 * deadline, job id, request id. 1 parked, 0 answered meanwhile, 2 fenced
 * out.
 */
static const char park_body[] =
"local c = cw_ctx(ARGV) "
"local sid, rid = ARGV[6], ARGV[7] "
"if redis.call('GET', '" CW_KP "fence:' .. sid) ~= ARGV[8] then return 2 end "
"if redis.call('HGET', KEYS[5], 'status') ~= 'pending' then return 0 end "
"local rk = RP .. rid "
"local user = redis.call('HGET', rk, 'user') "
"redis.call('HSET', rk, 'sched', 'parked', 'status', 'waiting', 'step', 'waiting') "
"redis.call('HDEL', rk, 'q_state', 'q_ahead') "
"redis.call('ZADD', KEYS[3], tonumber(ARGV[9]), rid) "
"if user then redis.call('SREM', '" CW_KP "urun:' .. user, rid) end "
"cw_sstatus(sid, 'waiting') "
"cw_ev(c, sid, 'run.parked', { run_id = rid, request_id = ARGV[11], "
"  reason = 'permission' }) "
"redis.call('XACK', KEYS[1], 'runners', ARGV[10]) "
"redis.call('XDEL', KEYS[1], ARGV[10]) "
"if user then cw_admit(c, user) end "
"cw_positions(c) "
"return 1";

/*
 * ARGV[6..]: sid, run_id, fence, job id. A quitting runner at a step
 * boundary gives the run back: its job acked, the run first in its user's
 * queue (so another runner continues it at once). 1 handed off, 0 the run
 * is final, 2 fenced out.
 */
static const char handoff_body[] =
"local c = cw_ctx(ARGV) "
"local sid, rid = ARGV[6], ARGV[7] "
"if redis.call('GET', '" CW_KP "fence:' .. sid) ~= ARGV[8] then return 2 end "
"local rk = RP .. rid "
"local h = redis.call('HMGET', rk, 'user', 'status') "
"if not h[1] or not h[2] or cw_final(h[2]) then return 0 end "
"redis.call('XACK', KEYS[1], 'runners', ARGV[9]) "
"redis.call('XDEL', KEYS[1], ARGV[9]) "
"redis.call('SREM', '" CW_KP "urun:' .. h[1], rid) "
"redis.call('HSET', rk, 'status', 'queued', 'cont_reason', 'handoff', "
"  'attempts', 0) "
"redis.call('HDEL', rk, 'q_state', 'q_ahead') "
"cw_enqueue(c, rid, h[1], true) "
"cw_positions(c) "
"return 1";

/* KEYS[5]: the permission request. ARGV[6..]: decision, remember, message, by. */
static const char answer_body[] =
"local c = cw_ctx(ARGV) "
"local rc = cw_perm_answer(KEYS[5], ARGV[6], ARGV[7], ARGV[8], c.now, ARGV[9]) "
"if rc == 0 then "
"  local rid = redis.call('HGET', KEYS[5], 'run_id') "
"  if rid and cw_unpark(c, rid, 'answered') then cw_positions(c) end "
"end "
"return rc";

/*
 * ARGV[6..]: sid, fence, run_id, status, type, data. The event id, '0-0'
 * (session gone, or the run was already final), or false (fenced out).
 */
static const char finish_body[] =
"local c = cw_ctx(ARGV) "
"local sid, rid = ARGV[6], ARGV[8] "
"if ARGV[7] ~= '0' and redis.call('GET', '" CW_KP "fence:' .. sid) ~= ARGV[7] then "
"  return false end "
"local rk = RP .. rid "
"local h = redis.call('HMGET', rk, 'status', 'user') "
"if h[1] and cw_final(h[1]) then return '0-0' end "
"redis.call('HSET', rk, 'status', ARGV[9], 'finished_at', c.now, 'step', 'end') "
"local id = '0-0' "
"if cw_has_session(sid) then "
"  id = cw_append('" CW_KP "events:' .. sid, '" CW_KP "evbytes:' .. sid, c.maxlen, "
"    c.maxbytes, ARGV[10], ARGV[11]) end "
"cw_end(c, rid, sid, h[2] or nil, ARGV[9]) "
"cw_positions(c) "
"return id";

/* Returns the number of undelivered jobs. */
static const char sweep_body[] =
"local c = cw_ctx(ARGV) "
"local moved = 0 "
"for _, rid in ipairs(redis.call('ZRANGEBYSCORE', KEYS[3], '-inf', c.now, "
"  'LIMIT', 0, 16)) do "
"  if cw_unpark(c, rid, 'expired') then moved = moved + 1 end "
"end "
"for _, u in ipairs(redis.call('SRANDMEMBER', KEYS[2], 16)) do "
"  moved = moved + cw_admit(c, u) "
"end "
"if moved > 0 then cw_positions(c) end "
"return #cw_undelivered(1000)";

/*
 * The scripts that only read say so (docs/redis.md, "Redis Cluster"): Redis
 * then refuses any write in them, runs them when it is over maxmemory (as
 * before) and, being flagged, checks that they touch one slot. A shebang
 * must be the script's first line: call_begin puts it before the library.
 * The scripts that write have no shebang: a flagged writing script would
 * be refused whole under maxmemory, even one that would only delete.
 */
#define RO_SHEBANG	"#!lua flags=no-writes\n"

/* ARGV[6]: sid. The session's unstarted runs: {id, kind, state, ahead, created}... */
static const char queued_body[] =
RO_SHEBANG
"local sid = ARGV[6] "
"local out = {} "
"local function add(rid) "
"  local h = redis.call('HMGET', RP .. rid, 'kind', 'q_state', 'q_ahead', "
"    'created_at', 'sched', 'status', 'started_at') "
"  if not h[6] or cw_final(h[6]) or h[7] then return end "
"  if h[5] ~= 'behind' and h[5] ~= 'waiting' and h[5] ~= 'ready' then return end "
"  table.insert(out, { rid, h[1] or 'message', h[2] or '', h[3] or '0', h[4] or '0' }) "
"end "
"local cur = redis.call('GET', '" CW_KP "active:' .. sid) "
"if cur then add(cur) end "
"for _, rid in ipairs(redis.call('LRANGE', '" CW_KP "sq:' .. sid, 0, -1)) do add(rid) end "
"return out";

static const char list_body[] =
RO_SHEBANG
"local out = {} "
"for _, rid in ipairs(redis.call('ZRANGE', KEYS[4], 0, 999)) do "
"  local h = redis.call('HMGET', RP .. rid, 'session', 'user', 'kind', 'status', "
"    'sched', 'step', 'created_at', 'started_at', 'q_ahead') "
"  table.insert(out, { rid, h[1] or '', h[2] or '', h[3] or '', h[4] or '', "
"    h[5] or '', h[6] or '', h[7] or '', h[8] or '', h[9] or '' }) "
"end "
"return out";

static const char stats_body[] =
RO_SHEBANG
"local n = { behind = 0, waiting = 0, ready = 0, running = 0, parked = 0 } "
"for _, rid in ipairs(redis.call('ZRANGE', KEYS[4], 0, 99999)) do "
"  local s = redis.call('HGET', RP .. rid, 'sched') "
"  if s and n[s] then n[s] = n[s] + 1 end "
"end "
"return { n.behind, n.waiting, n.ready, n.running, n.parked }";

#define ARGS_MAX	40
#define CALL_KEYS_MAX	12

/*
 * One script call: library + body, KEYS (the four global keys, then the
 * call's own: call_key), context ARGV[1..5], then extra args (call_arg).
 */
struct call {
	const char	*argv[ARGS_MAX];
	size_t		 lens[ARGS_MAX];
	int		 argc;
	int		 nkeys;
	int		 ctx_done;
	char		*script;
	char		 ctx[5][32];
	char		 numkeys[8];
	char		 keys[CALL_KEYS_MAX][192];
};

static int
call_begin(struct call *k, const struct config *cfg, const char *body,
    int with_perm)
{
	struct timeval	 tv;
	const char	*shebang = "";
	size_t		 n;

	if (strncmp(body, RO_SHEBANG, strlen(RO_SHEBANG)) == 0) {
		shebang = RO_SHEBANG;
		body += strlen(RO_SHEBANG);
	}
	n = strlen(shebang) + sizeof(events_lua_append) + sizeof(sched_lua) +
	    strlen(body) + 4 + (with_perm ? sizeof(perm_lua_answer) : 0);
	if ((k->script = malloc(n)) == NULL)
		return -1;
	snprintf(k->script, n, "%s%s%s%s%s", shebang, events_lua_append,
	    with_perm ? perm_lua_answer : "", sched_lua, body);
	gettimeofday(&tv, NULL);
	snprintf(k->ctx[0], sizeof(k->ctx[0]), "%lld",
	    (long long)tv.tv_sec * 1000 + tv.tv_usec / 1000);
	snprintf(k->ctx[1], sizeof(k->ctx[1]), "%d", cfg ? cfg->max_runs_per_user : 2);
	snprintf(k->ctx[2], sizeof(k->ctx[2]), "%d", cfg ? cfg->session_queue_max : 5);
	snprintf(k->ctx[3], sizeof(k->ctx[3]), "%lld", cfg ? cfg->events_maxlen : 10000);
	snprintf(k->ctx[4], sizeof(k->ctx[4]), "%lld",
	    cfg ? cfg->events_max_bytes : 64LL << 20);
	k->argc = 0;
	k->nkeys = 0;
	k->ctx_done = 0;
	k->argv[k->argc++] = "EVAL";
	k->argv[k->argc++] = k->script;
	k->argv[k->argc++] = k->numkeys;
	k->argv[k->argc++] = RUNS_JOBS;
	k->argv[k->argc++] = CW_KP "uwaiting";
	k->argv[k->argc++] = CW_KP "parked";
	k->argv[k->argc++] = CW_KP "runs:live";
	k->nkeys = 4;
	return 0;
}

/* Declares one more key (before any call_arg): CW_KP + what + id. */
static void
call_key(struct call *k, const char *what, const char *id)
{
	int	 i = k->nkeys - 4;

	if (k->ctx_done || i >= CALL_KEYS_MAX || k->argc >= ARGS_MAX)
		return;
	snprintf(k->keys[i], sizeof(k->keys[i]), CW_KP "%s%s", what,
	    id != NULL ? id : "");
	k->argv[k->argc++] = k->keys[i];
	k->nkeys++;
}

/* The keys of a session that the scripts touch, declared. */
static void
call_session_keys(struct call *k, const char *sid)
{
	static const char *const what[] = { "session:", "active:", "sq:",
	    "events:", "evbytes:", "fence:" };
	size_t	 i;

	for (i = 0; i < sizeof(what) / sizeof(what[0]); i++)
		call_key(k, what[i], sid);
}

/*
 * KEYS[5] is the permission request when there is one, then the session's
 * keys, then the run's.
 */
static void
call_keys(struct call *k, const char *sid, const char *run_id, const char *pk)
{
	if (pk != NULL)
		call_key(k, "", pk);
	if (sid != NULL)
		call_session_keys(k, sid);
	if (run_id != NULL) {
		call_key(k, "run:", run_id);
		call_key(k, "cancel:", run_id);
	}
}

/* Ends the keys: numkeys, then the context ARGV[1..5]. */
static void
call_ctx(struct call *k)
{
	int	 i;

	if (k->ctx_done)
		return;
	k->ctx_done = 1;
	snprintf(k->numkeys, sizeof(k->numkeys), "%d", k->nkeys);
	for (i = 0; i < 5 && k->argc < ARGS_MAX; i++)
		k->argv[k->argc++] = k->ctx[i];
}

static void
call_arg(struct call *k, const char *a)
{
	call_ctx(k);
	if (k->argc < ARGS_MAX)
		k->argv[k->argc++] = a != NULL ? a : "";
}

/* Sends the call; it stays whole, to be sent again. */
static redisReply *
call_send(struct store *st, struct call *k)
{
	int	 i;

	call_ctx(k);
	for (i = 0; i < k->argc; i++)
		k->lens[i] = strlen(k->argv[i]);
	return store_cmd(st, k->argc, k->argv, k->lens);
}

/* Ends the call: frees its script. */
static void
call_end(struct call *k)
{
	free(k->script);
	k->script = NULL;
}

/* Sends the call once and ends it. */
static redisReply *
call_run(struct store *st, struct call *k)
{
	redisReply	*r = call_send(st, k);

	call_end(k);
	return r;
}

/* An integer reply (or the first element of an array reply) into *out. */
static int
reply_int(redisReply *r, long long *out)
{
	if (r == NULL)
		return -1;
	if (r->type == REDIS_REPLY_INTEGER) {
		*out = r->integer;
		return 0;
	}
	if (r->type == REDIS_REPLY_ARRAY && r->elements >= 1 &&
	    r->element[0]->type == REDIS_REPLY_INTEGER) {
		*out = r->element[0]->integer;
		return 0;
	}
	return -1;
}

/*
 * Runs body with the keys of session sid, run run_id and permission
 * request pk (each may be NULL) and the extra arguments (NULL-terminated);
 * returns its integer answer (an array's first element), or -1 on a Redis
 * error.
 */
static int
call_int(struct store *st, const struct config *cfg, const char *body,
    int with_perm, const char *sid, const char *run_id, const char *pk, ...)
{
	struct call	 k;
	redisReply	*r;
	va_list		 ap;
	const char	*a;
	long long	 code;
	int		 rc = -1;

	if (call_begin(&k, cfg, body, with_perm) == -1)
		return -1;
	call_keys(&k, sid, run_id, pk);
	va_start(ap, pk);
	while ((a = va_arg(ap, const char *)) != NULL)
		call_arg(&k, a);
	va_end(ap);
	r = call_run(st, &k);
	if (reply_int(r, &code) == 0)
		rc = (int)code;
	if (r != NULL)
		freeReplyObject(r);
	return rc;
}

int
sched_queue(struct store *s, const struct config *cfg, const char *sid,
    const char *user, const char *kind, json_object *content, char *run_id,
    struct sched_pos *pos)
{
	struct call	 k;
	redisReply	*r;
	char		 mine[RUN_ID_LEN + 1];
	long long	 code;
	int		 rc = -1;

	if (auth_random_hex(run_id, RUN_ID_LEN / 2) == -1)
		return -1;
	snprintf(mine, sizeof(mine), "%s", run_id);
	if (content != NULL && runs_inbox_write(cfg, sid, run_id, content) == -1) {
		log_kv(LOG_ERROR, "cannot write the message inbox", "s:session",
		    sid, "s:error", strerror(errno), NULL);
		return -2;
	}
	if (call_begin(&k, cfg, queue_body, 0) == -1)
		return -1;
	call_keys(&k, sid, run_id, NULL);
	call_arg(&k, run_id);
	call_arg(&k, sid);
	call_arg(&k, user);
	call_arg(&k, kind);
	/* A lost reply (the script may have run): once more, it is idempotent. */
	if ((r = call_send(s, &k)) == NULL && s->last == STORE_ERR_CONN)
		r = call_send(s, &k);
	call_end(&k);
	if (reply_int(r, &code) == 0 && r->type == REDIS_REPLY_ARRAY) {
		if (code == 0 && r->elements == 5) {
			rc = 0;
			if (pos != NULL) {
				snprintf(pos->state, sizeof(pos->state), "%s",
				    r->element[2]->str ? r->element[2]->str : "");
				pos->ahead = (long)r->element[3]->integer;
				pos->ready = (int)r->element[4]->integer;
			}
		} else if (code == 2)
			rc = 2;
		else if (code == 1 && r->elements >= 2 && r->element[1]->str) {
			snprintf(run_id, RUN_ID_LEN + 1, "%s", r->element[1]->str);
			rc = 1;
		}
	}
	if (r != NULL)
		freeReplyObject(r);
	/*
	 * Nothing was queued: drop the inbox file. Not after a lost
	 * connection: the script may still have run (a stray file is harmless,
	 * a queued run without its message is not).
	 */
	if (rc != 0 && content != NULL && (rc >= 1 || s->last != STORE_ERR_CONN))
		runs_inbox_remove(cfg, sid, mine);
	return rc;
}

int
sched_cancel(struct store *s, const struct config *cfg, const char *sid,
    char *run_id, size_t cap)
{
	struct call	 k;
	redisReply	*r;
	long long	 code;
	int		 rc = -1;

	if (call_begin(&k, cfg, cancel_body, 0) == -1)
		return -1;
	call_keys(&k, sid, NULL, NULL);
	call_arg(&k, sid);
	r = call_run(s, &k);
	if (reply_int(r, &code) == 0) {
		rc = (int)code;
		if (rc != 0 && r->type == REDIS_REPLY_ARRAY && r->elements == 2 &&
		    r->element[1]->str != NULL)
			snprintf(run_id, cap, "%s", r->element[1]->str);
	}
	if (r != NULL)
		freeReplyObject(r);
	if (rc == 2)
		runs_inbox_remove(cfg, sid, run_id);
	return rc;
}

int
sched_cancel_run(struct store *s, const struct config *cfg, const char *run_id)
{
	return call_int(s, cfg, cancel_run_body, 0, NULL, run_id, NULL,
	    run_id, (char *)NULL);
}

int
sched_remove(struct store *s, const struct config *cfg, const char *sid,
    const char *run_id)
{
	int	 rc = call_int(s, cfg, remove_body, 0, sid, run_id, NULL,
	    sid, run_id, (char *)NULL);

	if (rc == 0)
		runs_inbox_remove(cfg, sid, run_id);
	return rc;
}

int
sched_started(struct store *s, const struct config *cfg, const char *run_id,
    long long *wait_ms, int *ready)
{
	struct call	 k;
	redisReply	*r;
	long long	 code;
	int		 rc = -1;

	*wait_ms = -1;
	if (call_begin(&k, cfg, started_body, 0) == -1)
		return -1;
	call_keys(&k, NULL, run_id, NULL);
	call_arg(&k, run_id);
	r = call_run(s, &k);
	*ready = -1;
	if (reply_int(r, &code) == 0 && r->elements >= 2 &&
	    r->element[1]->type == REDIS_REPLY_INTEGER) {
		rc = (int)code;
		*wait_ms = r->element[1]->integer;
		if (r->elements == 3)
			*ready = (int)r->element[2]->integer;
	}
	if (r != NULL)
		freeReplyObject(r);
	return rc;
}

int
sched_park(struct store *s, const struct config *cfg, const char *sid,
    const char *run_id, long long fence, const char *request_id, long expires,
    const char *job_id)
{
	char	 f[32], pk[160], dl[32];

	snprintf(f, sizeof(f), "%lld", fence);
	snprintf(pk, sizeof(pk), "perm:%s:%s", sid, request_id);
	snprintf(dl, sizeof(dl), "%ld", expires + 1);
	return call_int(s, cfg, park_body, 0, sid, run_id, pk, sid, run_id, f,
	    dl, job_id, request_id, (char *)NULL);
}

int
sched_handoff(struct store *s, const struct config *cfg, const char *sid,
    const char *run_id, long long fence, const char *job_id)
{
	char	 f[32];

	snprintf(f, sizeof(f), "%lld", fence);
	return call_int(s, cfg, handoff_body, 0, sid, run_id, NULL, sid, run_id,
	    f, job_id, (char *)NULL);
}

int
sched_answer(struct store *s, const struct config *cfg, const char *sid,
    const char *request_id, const char *decision, int remember,
    const char *message, const char *by)
{
	char	 pk[160];

	snprintf(pk, sizeof(pk), "perm:%s:%s", sid, request_id);
	return call_int(s, cfg, answer_body, 1, sid, NULL, pk, decision,
	    remember ? "1" : "0", message != NULL ? message : "",
	    by != NULL ? by : "", (char *)NULL);
}

int
sched_finish(struct store *s, const struct config *cfg, const char *sid,
    long long fence, const char *run_id, const char *status, const char *type,
    json_object *data)
{
	struct call	 k;
	redisReply	*r;
	char		 f[32];
	int		 rc;

	snprintf(f, sizeof(f), "%lld", fence);
	if (call_begin(&k, cfg, finish_body, 0) == -1)
		return -1;
	call_keys(&k, sid, run_id, NULL);
	call_arg(&k, sid);
	call_arg(&k, f);
	call_arg(&k, run_id);
	call_arg(&k, status);
	call_arg(&k, type);
	call_arg(&k, json_object_to_json_string_ext(data, JSON_C_TO_STRING_PLAIN |
	    JSON_C_TO_STRING_NOSLASHESCAPE));
	if ((r = call_run(s, &k)) == NULL)
		return -1;
	rc = r->type == REDIS_REPLY_STRING ? 0 : r->type == REDIS_REPLY_NIL ? 1 : -1;
	freeReplyObject(r);
	return rc;
}

int
sched_sweep(struct store *s, const struct config *cfg)
{
	return call_int(s, cfg, sweep_body, 0, NULL, NULL, NULL, (char *)NULL);
}

json_object *
sched_queued(struct store *s, const struct config *cfg, const char *sid)
{
	struct call	 k;
	redisReply	*r, *e;
	json_object	*out, *o, *content;
	size_t		 i;

	if (call_begin(&k, cfg, queued_body, 0) == -1)
		return NULL;
	call_keys(&k, sid, NULL, NULL);
	call_arg(&k, sid);
	if ((r = call_run(s, &k)) == NULL)
		return NULL;
	out = json_object_new_array();
	for (i = 0; r->type == REDIS_REPLY_ARRAY && i < r->elements; i++) {
		e = r->element[i];
		if (e->type != REDIS_REPLY_ARRAY || e->elements != 5 ||
		    e->element[0]->str == NULL)
			continue;
		o = json_object_new_object();
		json_object_object_add(o, "run_id", json_object_new_string(e->element[0]->str));
		json_object_object_add(o, "kind", json_object_new_string(
		    e->element[1]->str ? e->element[1]->str : "message"));
		content = runs_inbox_read(cfg, sid, e->element[0]->str);
		json_object_object_add(o, "content", content);
		json_object_object_add(o, "state", json_object_new_string(
		    e->element[2]->str ? e->element[2]->str : ""));
		json_object_object_add(o, "ahead", json_object_new_int64(
		    e->element[3]->str ? strtoll(e->element[3]->str, NULL, 10) : 0));
		json_object_object_add(o, "created_at", json_object_new_int64(
		    e->element[4]->str ? strtoll(e->element[4]->str, NULL, 10) : 0));
		json_object_array_add(out, o);
	}
	freeReplyObject(r);
	return out;
}

json_object *
sched_list(struct store *s)
{
	static const char *const names[] = { "run_id", "session_id", "user",
	    "kind", "status", "state", "step", "created_at", "started_at",
	    "ahead" };
	struct call	 k;
	redisReply	*r, *e;
	json_object	*out, *o;
	size_t		 i, j;

	if (call_begin(&k, NULL, list_body, 0) == -1)
		return NULL;
	if ((r = call_run(s, &k)) == NULL)
		return NULL;
	out = json_object_new_array();
	for (i = 0; r->type == REDIS_REPLY_ARRAY && i < r->elements; i++) {
		e = r->element[i];
		if (e->type != REDIS_REPLY_ARRAY || e->elements != 10)
			continue;
		o = json_object_new_object();
		for (j = 0; j < 10; j++) {
			const char *v = e->element[j]->str ? e->element[j]->str : "";

			if (j >= 7)
				json_object_object_add(o, names[j], *v ?
				    json_object_new_int64(strtoll(v, NULL, 10)) : NULL);
			else
				json_object_object_add(o, names[j],
				    json_object_new_string(v));
		}
		json_object_array_add(out, o);
	}
	freeReplyObject(r);
	return out;
}

int
sched_stats(struct store *s, long long out[5])
{
	struct call	 k;
	redisReply	*r;
	size_t		 i;

	if (call_begin(&k, NULL, stats_body, 0) == -1)
		return -1;
	if ((r = call_run(s, &k)) == NULL)
		return -1;
	if (r->type != REDIS_REPLY_ARRAY || r->elements != 5) {
		freeReplyObject(r);
		return -1;
	}
	for (i = 0; i < 5; i++)
		out[i] = r->element[i]->integer;
	freeReplyObject(r);
	return 0;
}
