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
#include "log.h"
#include "perm.h"
#include "runs.h"
#include "scheduler.h"
#include "store.h"

/*
 * The scheduler's Lua library, prepended (after cw_append) to every
 * script below. ARGV[1..5] of every script is the context: now in ms,
 * MAX_RUNS_PER_USER, SESSION_QUEUE_MAX, EVENTS_MAXLEN, EVENTS_MAX_BYTES.
 */
static const char sched_lua[] =
"local RP = 'cw:run:' "
"local function cw_ctx(a) "
"  local ms = tonumber(a[1]) "
"  return { ms = ms, now = math.floor(ms / 1000), cap = tonumber(a[2]), "
"    qmax = tonumber(a[3]), maxlen = tonumber(a[4]), maxbytes = tonumber(a[5]) } "
"end "
"local function cw_final(st) "
"  return st == 'finished' or st == 'error' or st == 'cancelled' "
"end "
"local function cw_has_session(sid) "
"  return redis.call('HEXISTS', 'cw:session:' .. sid, 'owner') == 1 "
"end "
/* Events only into a live session: a deleted one's stream is never revived. */
"local function cw_ev(c, sid, ty, t) "
"  if not sid or not cw_has_session(sid) then return '0-0' end "
"  return cw_append('cw:events:' .. sid, 'cw:evbytes:' .. sid, c.maxlen, "
"    c.maxbytes, ty, cjson.encode(t)) "
"end "
"local function cw_sstatus(sid, st) "
"  if cw_has_session(sid) then "
"    redis.call('HSET', 'cw:session:' .. sid, 'status', st) end "
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
"  local ok, g = pcall(redis.call, 'XINFO', 'GROUPS', 'cw:jobs') "
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
"  return redis.call('XRANGE', 'cw:jobs', from, '+', 'COUNT', limit) "
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
"  if h[3] and redis.call('EXISTS', 'cw:lock:' .. h[3]) == 1 then return true end "
"  if h[4] and #redis.call('XRANGE', 'cw:jobs', h[4], h[4]) > 0 then return true end "
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
"  for _, u in ipairs(redis.call('SMEMBERS', 'cw:uwaiting')) do "
"    local held = redis.call('SCARD', 'cw:urun:' .. u) "
"    for i, rid in ipairs(redis.call('LRANGE', 'cw:uwait:' .. u, 0, 99)) do "
"      cw_announce(c, rid, 'user', held + i - 1) "
"    end "
"  end "
"end "
"local function cw_sq_positions(c, sid) "
"  for i, rid in ipairs(redis.call('LRANGE', 'cw:sq:' .. sid, 0, -1)) do "
"    cw_announce(c, rid, 'session', i) "
"  end "
"end "
"local function cw_ready(c, rid, sid, user) "
"  local jid = redis.call('XADD', 'cw:jobs', '*', 'run_id', rid, 'session', sid) "
"  redis.call('HSET', RP .. rid, 'sched', 'ready', 'job_id', jid) "
"  redis.call('SADD', 'cw:urun:' .. user, rid) "
"end "
/* Fills the user's free slots from their waiting list; returns how many. */
"local function cw_admit(c, user) "
"  local uk, wk = 'cw:urun:' .. user, 'cw:uwait:' .. user "
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
"  if redis.call('LLEN', wk) == 0 then redis.call('SREM', 'cw:uwaiting', user) end "
"  return moved "
"end "
"local function cw_enqueue(c, rid, user, front) "
"  redis.call('HSET', RP .. rid, 'sched', 'waiting', 'wait_ms0', c.ms) "
"  if front then redis.call('LPUSH', 'cw:uwait:' .. user, rid) "
"  else redis.call('RPUSH', 'cw:uwait:' .. user, rid) end "
"  redis.call('SADD', 'cw:uwaiting', user) "
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
"  local held, idx = redis.call('SCARD', 'cw:urun:' .. user), 0 "
"  for i, r in ipairs(redis.call('LRANGE', 'cw:uwait:' .. user, 0, 999)) do "
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
"  redis.call('ZREM', 'cw:parked', rid) "
"  redis.call('ZREM', 'cw:runs:live', rid) "
"  if user then "
"    redis.call('SREM', 'cw:urun:' .. user, rid) "
"    redis.call('LREM', 'cw:uwait:' .. user, 0, rid) "
"  end "
"  local ak, sq = 'cw:active:' .. sid, 'cw:sq:' .. sid "
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
"      redis.call('ZREM', 'cw:runs:live', cand) "
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
"  local cur = redis.call('GET', 'cw:active:' .. sid) "
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
"  if h[1] == 'ready' and h[2] then redis.call('XDEL', 'cw:jobs', h[2]) end "
"  redis.call('HSET', RP .. rid, 'status', 'cancelled', 'finished_at', c.now) "
"  cw_ev(c, h[3], 'run.cancelled', { run_id = rid, reason = reason }) "
"  cw_end(c, rid, h[3], h[4] or nil, 'cancelled') "
"end "
/* A parked run goes back into its user's queue, first in line. */
"local function cw_unpark(c, rid, reason) "
"  if not redis.call('ZSCORE', 'cw:parked', rid) then return false end "
"  redis.call('ZREM', 'cw:parked', rid) "
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
"  redis.call('SET', 'cw:cancel:' .. rid, '1', 'EX', 86400) "
"  cw_unpark(c, rid, 'cancelled') "
"  return 1 "
"end ";

/*
 * ARGV[6..]: run_id, sid, user, kind. {0, ev, state, ahead, ready} | {1,
 * cur} | {2}; ready: runs waiting for a runner (the pool's signal).
 */
static const char queue_body[] =
"local c = cw_ctx(ARGV) "
"local rid, sid, user, kind = ARGV[6], ARGV[7], ARGV[8], ARGV[9] "
"if not cw_has_session(sid) then return {2, '', '', 0} end "
"local cur = cw_guard(c, sid) "
"if cur and redis.call('LLEN', 'cw:sq:' .. sid) >= c.qmax then "
"  return {1, cur, '', 0} end "
"local rk = RP .. rid "
"redis.call('HSET', rk, 'session', sid, 'user', user, 'kind', kind, "
"  'status', 'queued', 'created_at', c.now, 'sched', 'behind') "
"redis.call('EXPIRE', rk, 2592000) "
"redis.call('ZADD', 'cw:runs:live', c.now, rid) "
"local state, ahead "
"if cur then "
"  state, ahead = 'session', redis.call('RPUSH', 'cw:sq:' .. sid, rid) "
"else "
"  redis.call('SET', 'cw:active:' .. sid, rid) "
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
"local cur0 = redis.call('GET', 'cw:active:' .. sid) "
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
 * ARGV[6..]: sid, run_id, fence, perm key, deadline, job id, request id.
 * 1 parked, 0 answered meanwhile, 2 fenced out.
 */
static const char park_body[] =
"local c = cw_ctx(ARGV) "
"local sid, rid = ARGV[6], ARGV[7] "
"if redis.call('GET', 'cw:fence:' .. sid) ~= ARGV[8] then return 2 end "
"if redis.call('HGET', ARGV[9], 'status') ~= 'pending' then return 0 end "
"local rk = RP .. rid "
"local user = redis.call('HGET', rk, 'user') "
"redis.call('HSET', rk, 'sched', 'parked', 'status', 'waiting', 'step', 'waiting') "
"redis.call('HDEL', rk, 'q_state', 'q_ahead') "
"redis.call('ZADD', 'cw:parked', tonumber(ARGV[10]), rid) "
"if user then redis.call('SREM', 'cw:urun:' .. user, rid) end "
"cw_sstatus(sid, 'waiting') "
"cw_ev(c, sid, 'run.parked', { run_id = rid, request_id = ARGV[12], "
"  reason = 'permission' }) "
"redis.call('XACK', 'cw:jobs', 'runners', ARGV[11]) "
"redis.call('XDEL', 'cw:jobs', ARGV[11]) "
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
"if redis.call('GET', 'cw:fence:' .. sid) ~= ARGV[8] then return 2 end "
"local rk = RP .. rid "
"local h = redis.call('HMGET', rk, 'user', 'status') "
"if not h[1] or not h[2] or cw_final(h[2]) then return 0 end "
"redis.call('XACK', 'cw:jobs', 'runners', ARGV[9]) "
"redis.call('XDEL', 'cw:jobs', ARGV[9]) "
"redis.call('SREM', 'cw:urun:' .. h[1], rid) "
"redis.call('HSET', rk, 'status', 'queued', 'cont_reason', 'handoff', "
"  'attempts', 0) "
"redis.call('HDEL', rk, 'q_state', 'q_ahead') "
"cw_enqueue(c, rid, h[1], true) "
"cw_positions(c) "
"return 1";

/* ARGV[6..]: perm key, decision, remember, message. */
static const char answer_body[] =
"local c = cw_ctx(ARGV) "
"local rc = cw_perm_answer(ARGV[6], ARGV[7], ARGV[8], ARGV[9], c.now) "
"if rc == 0 then "
"  local rid = redis.call('HGET', ARGV[6], 'run_id') "
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
"if ARGV[7] ~= '0' and redis.call('GET', 'cw:fence:' .. sid) ~= ARGV[7] then "
"  return false end "
"local rk = RP .. rid "
"local h = redis.call('HMGET', rk, 'status', 'user') "
"if h[1] and cw_final(h[1]) then return '0-0' end "
"redis.call('HSET', rk, 'status', ARGV[9], 'finished_at', c.now, 'step', 'end') "
"local id = '0-0' "
"if cw_has_session(sid) then "
"  id = cw_append('cw:events:' .. sid, 'cw:evbytes:' .. sid, c.maxlen, "
"    c.maxbytes, ARGV[10], ARGV[11]) end "
"cw_end(c, rid, sid, h[2] or nil, ARGV[9]) "
"cw_positions(c) "
"return id";

/* Returns the number of undelivered jobs. */
static const char sweep_body[] =
"local c = cw_ctx(ARGV) "
"local moved = 0 "
"for _, rid in ipairs(redis.call('ZRANGEBYSCORE', 'cw:parked', '-inf', c.now, "
"  'LIMIT', 0, 16)) do "
"  if cw_unpark(c, rid, 'expired') then moved = moved + 1 end "
"end "
"for _, u in ipairs(redis.call('SRANDMEMBER', 'cw:uwaiting', 16)) do "
"  moved = moved + cw_admit(c, u) "
"end "
"if moved > 0 then cw_positions(c) end "
"return #cw_undelivered(1000)";

/* ARGV[6]: sid. The session's unstarted runs: {id, kind, state, ahead, created}... */
static const char queued_body[] =
"local sid = ARGV[6] "
"local out = {} "
"local function add(rid) "
"  local h = redis.call('HMGET', RP .. rid, 'kind', 'q_state', 'q_ahead', "
"    'created_at', 'sched', 'status', 'started_at') "
"  if not h[6] or cw_final(h[6]) or h[7] then return end "
"  if h[5] ~= 'behind' and h[5] ~= 'waiting' and h[5] ~= 'ready' then return end "
"  table.insert(out, { rid, h[1] or 'message', h[2] or '', h[3] or '0', h[4] or '0' }) "
"end "
"local cur = redis.call('GET', 'cw:active:' .. sid) "
"if cur then add(cur) end "
"for _, rid in ipairs(redis.call('LRANGE', 'cw:sq:' .. sid, 0, -1)) do add(rid) end "
"return out";

static const char list_body[] =
"local out = {} "
"for _, rid in ipairs(redis.call('ZRANGE', 'cw:runs:live', 0, 999)) do "
"  local h = redis.call('HMGET', RP .. rid, 'session', 'user', 'kind', 'status', "
"    'sched', 'step', 'created_at', 'started_at', 'q_ahead') "
"  table.insert(out, { rid, h[1] or '', h[2] or '', h[3] or '', h[4] or '', "
"    h[5] or '', h[6] or '', h[7] or '', h[8] or '', h[9] or '' }) "
"end "
"return out";

static const char stats_body[] =
"local n = { behind = 0, waiting = 0, ready = 0, running = 0, parked = 0 } "
"for _, rid in ipairs(redis.call('ZRANGE', 'cw:runs:live', 0, 99999)) do "
"  local s = redis.call('HGET', RP .. rid, 'sched') "
"  if s and n[s] then n[s] = n[s] + 1 end "
"end "
"return { n.behind, n.waiting, n.ready, n.running, n.parked }";

#define ARGS_MAX	24

/* One script call: library + body, context ARGV[1..5], then extra args. */
struct call {
	const char	*argv[ARGS_MAX];
	size_t		 lens[ARGS_MAX];
	int		 argc;
	char		*script;
	char		 ctx[5][32];
};

static int
call_begin(struct call *k, const struct config *cfg, const char *body,
    int with_perm)
{
	struct timeval	 tv;
	size_t		 n;
	int		 i;

	n = sizeof(events_lua_append) + sizeof(sched_lua) + strlen(body) + 4 +
	    (with_perm ? sizeof(perm_lua_answer) : 0);
	if ((k->script = malloc(n)) == NULL)
		return -1;
	snprintf(k->script, n, "%s%s%s%s", events_lua_append,
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
	k->argv[k->argc++] = "EVAL";
	k->argv[k->argc++] = k->script;
	k->argv[k->argc++] = "0";
	for (i = 0; i < 5; i++)
		k->argv[k->argc++] = k->ctx[i];
	return 0;
}

static void
call_arg(struct call *k, const char *a)
{
	if (k->argc < ARGS_MAX)
		k->argv[k->argc++] = a != NULL ? a : "";
}

static redisReply *
call_run(struct store *st, struct call *k)
{
	redisReply	*r;
	int		 i;

	for (i = 0; i < k->argc; i++)
		k->lens[i] = strlen(k->argv[i]);
	r = store_cmd(st, k->argc, k->argv, k->lens);
	free(k->script);
	k->script = NULL;
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
 * Runs body with the extra arguments (NULL-terminated) and returns its
 * integer answer (an array's first element), or -1 on a Redis error.
 */
static int
call_int(struct store *st, const struct config *cfg, const char *body,
    int with_perm, ...)
{
	struct call	 k;
	redisReply	*r;
	va_list		 ap;
	const char	*a;
	long long	 code;
	int		 rc = -1;

	if (call_begin(&k, cfg, body, with_perm) == -1)
		return -1;
	va_start(ap, with_perm);
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
	call_arg(&k, run_id);
	call_arg(&k, sid);
	call_arg(&k, user);
	call_arg(&k, kind);
	r = call_run(s, &k);
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
	return call_int(s, cfg, cancel_run_body, 0, run_id, (char *)NULL);
}

int
sched_remove(struct store *s, const struct config *cfg, const char *sid,
    const char *run_id)
{
	int	 rc = call_int(s, cfg, remove_body, 0, sid, run_id, (char *)NULL);

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
	snprintf(pk, sizeof(pk), "cw:perm:%s:%s", sid, request_id);
	snprintf(dl, sizeof(dl), "%ld", expires + 1);
	return call_int(s, cfg, park_body, 0, sid, run_id, f, pk, dl, job_id,
	    request_id, (char *)NULL);
}

int
sched_handoff(struct store *s, const struct config *cfg, const char *sid,
    const char *run_id, long long fence, const char *job_id)
{
	char	 f[32];

	snprintf(f, sizeof(f), "%lld", fence);
	return call_int(s, cfg, handoff_body, 0, sid, run_id, f, job_id,
	    (char *)NULL);
}

int
sched_answer(struct store *s, const struct config *cfg, const char *sid,
    const char *request_id, const char *decision, int remember,
    const char *message)
{
	char	 pk[160];

	snprintf(pk, sizeof(pk), "cw:perm:%s:%s", sid, request_id);
	return call_int(s, cfg, answer_body, 1, pk, decision, remember ? "1" : "0",
	    message != NULL ? message : "", (char *)NULL);
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
	return call_int(s, cfg, sweep_body, 0, (char *)NULL);
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
