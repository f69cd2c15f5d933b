#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/stat.h>

#include <json-c/json.h>

#include "auth.h"
#include "buf.h"
#include "config.h"
#include "events.h"
#include "fsutil.h"
#include "log.h"
#include "runs.h"
#include "sessions.h"
#include "store.h"

#define INBOX_MAX	(4 * 1024 * 1024)

static const char clear_script[] =
    "if redis.call('GET', KEYS[1]) == ARGV[1] then "
    "return redis.call('DEL', KEYS[1]) end return 0";

/*
 * cw_guard(active, jobs, lock, events, evbytes, runprefix, now, maxlen,
 * maxbytes): the active run id when it is live, false when there is none
 * or it was stale and has been cleared (its run closed with run.cancelled
 * unless it already had a final state).
 */
static const char guard_lua[] =
    "local function cw_guard(ak, jk, lk, ek, bk, rp, now, maxlen, maxbytes) "
    "local cur = redis.call('GET', ak) "
    "if not cur then return false, false end "
    "local rk = rp .. cur "
    "local st = redis.call('HGET', rk, 'status') "
    "local final = st == 'finished' or st == 'error' or st == 'cancelled' "
    "if st and not final then "
    "if redis.call('EXISTS', lk) == 1 then return cur, false end "
    "local jid = redis.call('HGET', rk, 'job_id') "
    "if jid and #redis.call('XRANGE', jk, jid, jid) > 0 then return cur, false end "
    "end "
    "redis.call('DEL', ak) "
    "if st and not final then "
    "redis.call('HSET', rk, 'status', 'cancelled', 'finished_at', now, "
    "'error', 'stale: no job and no runner') "
    "cw_append(ek, bk, maxlen, maxbytes, 'run.cancelled', cjson.encode({"
    "run_id = cur, reason = 'stale', message = 'This run was lost (no runner "
    "had it and its job was gone) and has been closed.'})) "
    "end "
    "return false, cur end ";

/*
 * KEYS: active, run, jobs, lock, events, evbytes, session.
 * ARGV: run_id, sid, user, kind, now, maxlen, maxbytes, runprefix, queued-event.
 * {0, event id} queued; {1, active run id} a live run is active; {2, ""}
 * the session is gone (deleted, or being deleted).
 */
static const char queue_body[] =
    "if redis.call('HEXISTS', KEYS[7], 'owner') == 0 then return {2, ''} end "
    "local live = cw_guard(KEYS[1], KEYS[3], KEYS[4], KEYS[5], KEYS[6], "
    "ARGV[8], ARGV[5], tonumber(ARGV[6]), tonumber(ARGV[7])) "
    "if live then return {1, live} end "
    "redis.call('SET', KEYS[1], ARGV[1], 'EX', 86400) "
    "redis.call('HSET', KEYS[2], 'session', ARGV[2], 'user', ARGV[3], "
    "'kind', ARGV[4], 'status', 'queued', 'created_at', ARGV[5]) "
    "redis.call('EXPIRE', KEYS[2], 2592000) "
    "redis.call('HSET', KEYS[7], 'status', 'running') "
    "local ev = cw_append(KEYS[5], KEYS[6], tonumber(ARGV[6]), "
    "tonumber(ARGV[7]), 'run.queued', ARGV[9]) "
    "local jid = redis.call('XADD', KEYS[3], '*', 'run_id', ARGV[1], "
    "'session', ARGV[2]) "
    "redis.call('HSET', KEYS[2], 'first_event_id', ev, 'job_id', jid) "
    "return {0, ev}";

/*
 * KEYS: active, jobs, lock, events, evbytes, session.
 * ARGV: now, maxlen, maxbytes, runprefix.
 * {1, id} live (cancel flag set), {2, id} stale guard cleared, {0} none.
 */
static const char cancel_body[] =
    "local live, stale = cw_guard(KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], "
    "ARGV[4], ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])) "
    "if live then "
    "redis.call('SET', 'cw:cancel:' .. live, '1', 'EX', 86400) "
    "return {1, live} end "
    "if stale and redis.call('HEXISTS', KEYS[6], 'owner') == 1 then "
    "redis.call('HSET', KEYS[6], 'status', 'idle') end "
    "if stale then "
    "return {2, stale} end "
    "return {0}";

int
runs_status_final(const char *st)
{
	return strcmp(st, "finished") == 0 || strcmp(st, "error") == 0 ||
	    strcmp(st, "cancelled") == 0;
}

int
runs_active(struct store *s, const char *sid, char *out, size_t cap)
{
	redisReply	*r;
	char		 key[96];
	int		 rc = 0;

	snprintf(key, sizeof(key), "cw:active:%s", sid);
	if ((r = store_cmdv(s, "GET", key, NULL)) == NULL)
		return -1;
	if (r->type == REDIS_REPLY_STRING) {
		snprintf(out, cap, "%s", r->str);
		rc = 1;
	}
	freeReplyObject(r);
	return rc;
}

int
runs_set(struct store *s, const char *run_id, const char *field,
    const char *value)
{
	redisReply	*r;
	char		 key[96];

	snprintf(key, sizeof(key), "cw:run:%s", run_id);
	if ((r = store_cmdv(s, "HSET", key, field, value, NULL)) == NULL)
		return -1;
	freeReplyObject(r);
	return 0;
}

int
runs_get(struct store *s, const char *run_id, const char *field, char *out,
    size_t cap)
{
	redisReply	*r;
	char		 key[96];
	int		 rc = 0;

	snprintf(key, sizeof(key), "cw:run:%s", run_id);
	out[0] = '\0';
	if ((r = store_cmdv(s, "HGET", key, field, NULL)) == NULL)
		return -1;
	if (r->type == REDIS_REPLY_STRING) {
		snprintf(out, cap, "%s", r->str);
		rc = 1;
	}
	freeReplyObject(r);
	return rc;
}

/* Only into a record that still has its owner: never revive a deleted one. */
static const char session_status_script[] =
    "if redis.call('HEXISTS', KEYS[1], 'owner') == 1 then "
    "return redis.call('HSET', KEYS[1], 'status', ARGV[1]) end return 0";

int
runs_set_session_status(struct store *s, const char *sid, const char *st)
{
	redisReply	*r;
	char		 key[96];

	snprintf(key, sizeof(key), "cw:session:%s", sid);
	if ((r = store_cmdv(s, "EVAL", session_status_script, "1", key, st,
	    NULL)) == NULL)
		return -1;
	freeReplyObject(r);
	return 0;
}

static int
inbox_path(const struct config *cfg, const char *sid, const char *run_id,
    char *out, size_t cap)
{
	char	 sub[96];

	snprintf(sub, sizeof(sub), ".claude/inbox/%s.json", run_id);
	return sessions_path(cfg, sid, sub, out, cap);
}

static int
inbox_write(const struct config *cfg, const char *sid, const char *run_id,
    json_object *content)
{
	char		 path[PATH_MAX], dir[PATH_MAX];
	const char	*js;

	if (sessions_path(cfg, sid, ".claude/inbox", dir, sizeof(dir)) == -1 ||
	    inbox_path(cfg, sid, run_id, path, sizeof(path)) == -1) {
		errno = ENAMETOOLONG;
		return -1;
	}
	/* Only the last component: never recreate a deleted session's tree. */
	if (mkdir(dir, 0750) == -1 && errno != EEXIST)
		return -1;
	js = json_object_to_json_string_ext(content, JSON_C_TO_STRING_PLAIN |
	    JSON_C_TO_STRING_NOSLASHESCAPE);
	return fsutil_write_atomic(path, js, strlen(js));
}

json_object *
runs_inbox_read(const struct config *cfg, const char *sid, const char *run_id)
{
	json_object	*o = NULL;
	struct stat	 st;
	struct buf	 b;
	char		 path[PATH_MAX], chunk[8192];
	ssize_t		 n;
	int		 fd;

	/* .claude/ is host-side only, but never block or follow anyway. */
	if (inbox_path(cfg, sid, run_id, path, sizeof(path)) == -1 ||
	    (fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC)) == -1)
		return NULL;
	if (fstat(fd, &st) == -1 || !S_ISREG(st.st_mode) ||
	    st.st_size > INBOX_MAX) {
		close(fd);
		return NULL;
	}
	buf_init(&b, INBOX_MAX);
	while ((n = read(fd, chunk, sizeof(chunk))) > 0)
		if (buf_append(&b, chunk, (size_t)n) == -1)
			break;
	close(fd);
	if (n == 0 && b.p != NULL)
		o = json_tokener_parse(b.p);
	buf_free(&b);
	return o;
}

void
runs_inbox_remove(const struct config *cfg, const char *sid,
    const char *run_id)
{
	char	 path[PATH_MAX];

	if (inbox_path(cfg, sid, run_id, path, sizeof(path)) == 0)
		unlink(path);
}

/* The keys and limits every guard script (queue, cancel) is given. */
struct guard_args {
	struct events_keys	 ek;
	char			 akey[96], lkey[96], skey[96];
	char			 now[32], ml[32], mb[32];
};

static void
guard_args(const struct config *cfg, const char *sid, struct guard_args *g)
{
	events_keys(sid, &g->ek);
	snprintf(g->akey, sizeof(g->akey), "cw:active:%s", sid);
	snprintf(g->lkey, sizeof(g->lkey), "cw:lock:%s", sid);
	snprintf(g->skey, sizeof(g->skey), "cw:session:%s", sid);
	snprintf(g->now, sizeof(g->now), "%lld", (long long)time(NULL));
	snprintf(g->ml, sizeof(g->ml), "%lld", cfg->events_maxlen);
	snprintf(g->mb, sizeof(g->mb), "%lld", cfg->events_max_bytes);
}

int
runs_queue(struct store *s, const struct config *cfg, const char *sid,
    const char *user, const char *kind, json_object *content, char *run_id)
{
	struct guard_args	 g;
	redisReply		*r;
	json_object		*ev;
	char			 script[sizeof(events_lua_append) + sizeof(guard_lua) +
				    sizeof(queue_body)];
	char			 rkey[96], mine[RUN_ID_LEN + 1];
	const char		*argv[20], *evjs;
	size_t			 lens[20];
	int			 argc = 0, i, rc = -1;

	if (auth_random_hex(run_id, RUN_ID_LEN / 2) == -1)
		return -1;
	snprintf(mine, sizeof(mine), "%s", run_id);
	if (content != NULL && inbox_write(cfg, sid, run_id, content) == -1) {
		log_kv(LOG_ERROR, "cannot write the message inbox", "s:session",
		    sid, "s:error", strerror(errno), NULL);
		return -2;
	}
	guard_args(cfg, sid, &g);
	snprintf(rkey, sizeof(rkey), "cw:run:%s", run_id);
	snprintf(script, sizeof(script), "%s%s%s", events_lua_append, guard_lua,
	    queue_body);
	ev = json_object_new_object();
	json_object_object_add(ev, "run_id", json_object_new_string(run_id));
	json_object_object_add(ev, "kind", json_object_new_string(kind));
	evjs = json_object_to_json_string_ext(ev, JSON_C_TO_STRING_PLAIN);
	argv[argc++] = "EVAL";
	argv[argc++] = script;
	argv[argc++] = "7";
	argv[argc++] = g.akey;
	argv[argc++] = rkey;
	argv[argc++] = RUNS_JOBS;
	argv[argc++] = g.lkey;
	argv[argc++] = g.ek.stream;
	argv[argc++] = g.ek.bytes;
	argv[argc++] = g.skey;
	argv[argc++] = run_id;
	argv[argc++] = sid;
	argv[argc++] = user;
	argv[argc++] = kind;
	argv[argc++] = g.now;
	argv[argc++] = g.ml;
	argv[argc++] = g.mb;
	argv[argc++] = "cw:run:";
	argv[argc++] = evjs;
	for (i = 0; i < argc; i++)
		lens[i] = strlen(argv[i]);
	r = store_cmd(s, argc, argv, lens);
	json_object_put(ev);
	if (r != NULL && r->type == REDIS_REPLY_ARRAY && r->elements == 2 &&
	    r->element[0]->type == REDIS_REPLY_INTEGER &&
	    r->element[1]->type == REDIS_REPLY_STRING) {
		if (r->element[0]->integer == 0)
			rc = 0;
		else if (r->element[0]->integer == 2)
			rc = 2;
		else {
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
runs_cancel(struct store *s, const struct config *cfg, const char *sid,
    char *run_id, size_t cap)
{
	struct guard_args	 g;
	redisReply		*r;
	char			 script[sizeof(events_lua_append) + sizeof(guard_lua) +
				    sizeof(cancel_body)];
	const char		*argv[16];
	size_t			 lens[16];
	int			 argc = 0, i, rc = -1;

	guard_args(cfg, sid, &g);
	snprintf(script, sizeof(script), "%s%s%s", events_lua_append, guard_lua,
	    cancel_body);
	argv[argc++] = "EVAL";
	argv[argc++] = script;
	argv[argc++] = "6";
	argv[argc++] = g.akey;
	argv[argc++] = RUNS_JOBS;
	argv[argc++] = g.lkey;
	argv[argc++] = g.ek.stream;
	argv[argc++] = g.ek.bytes;
	argv[argc++] = g.skey;
	argv[argc++] = g.now;
	argv[argc++] = g.ml;
	argv[argc++] = g.mb;
	argv[argc++] = "cw:run:";
	for (i = 0; i < argc; i++)
		lens[i] = strlen(argv[i]);
	if ((r = store_cmd(s, argc, argv, lens)) == NULL)
		return -1;
	if (r->type == REDIS_REPLY_ARRAY && r->elements >= 1 &&
	    r->element[0]->type == REDIS_REPLY_INTEGER) {
		rc = (int)r->element[0]->integer;
		if (rc != 0 && r->elements == 2 && r->element[1]->str != NULL)
			snprintf(run_id, cap, "%s", r->element[1]->str);
	}
	freeReplyObject(r);
	return rc;
}

int
runs_request_cancel(struct store *s, const char *run_id)
{
	redisReply	*r;
	char		 key[96];

	snprintf(key, sizeof(key), "cw:cancel:%s", run_id);
	if ((r = store_cmdv(s, "SET", key, "1", "EX", "86400", NULL)) == NULL)
		return -1;
	freeReplyObject(r);
	return 0;
}

/* 1 when cancel was requested or the session is gone (deleted). */
static const char stop_script[] =
    "if redis.call('EXISTS', KEYS[1]) == 1 then return 1 end "
    "if redis.call('HEXISTS', KEYS[2], 'owner') == 0 then return 1 end "
    "return 0";

int
runs_cancel_requested(struct store *s, const char *sid, const char *run_id)
{
	redisReply	*r;
	char		 key[96], skey[96];
	int		 rc;

	snprintf(key, sizeof(key), "cw:cancel:%s", run_id);
	snprintf(skey, sizeof(skey), "cw:session:%s", sid);
	if ((r = store_cmdv(s, "EVAL", stop_script, "2", key, skey, NULL)) == NULL)
		return -1;
	rc = r->type == REDIS_REPLY_INTEGER && r->integer > 0;
	freeReplyObject(r);
	return rc;
}

void
runs_clear_active(struct store *s, const char *sid, const char *run_id)
{
	redisReply	*r;
	char		 key[96];

	snprintf(key, sizeof(key), "cw:active:%s", sid);
	if ((r = store_cmdv(s, "EVAL", clear_script, "1", key, run_id, NULL)) != NULL)
		freeReplyObject(r);
}
