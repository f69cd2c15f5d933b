#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <time.h>

#include <json-c/json.h>

#include "auth.h"
#include "config.h"
#include "fsutil.h"
#include "log.h"
#include "sessions.h"
#include "store.h"

/* Adds to the owner's index only while under the cap: one atomic step. */
static const char add_script[] =
    "if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[1]) then return 0 end "
    "redis.call('ZADD', KEYS[1], ARGV[2], ARGV[3]) "
    "redis.call('ZADD', KEYS[2], ARGV[2], ARGV[3]) "
    "return 1";

int
sessions_valid_id(const char *s)
{
	size_t	 i;

	if (strlen(s) != SESSION_ID_LEN)
		return 0;
	for (i = 0; i < SESSION_ID_LEN; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return 0;
	return 1;
}

int
sessions_valid_mode(const char *m)
{
	return strcmp(m, "default") == 0 || strcmp(m, "acceptEdits") == 0 ||
	    strcmp(m, "plan") == 0 || strcmp(m, "bypassPermissions") == 0;
}

int
sessions_valid_model(const char *m)
{
	size_t	 i, n = strlen(m);

	if (n == 0 || n > SESSION_MODEL_MAX)
		return 0;
	for (i = 0; i < n; i++)
		if (!islower((unsigned char)m[i]) && !isdigit((unsigned char)m[i]) &&
		    m[i] != '-' && m[i] != '.' && m[i] != '_' && m[i] != '@')
			return 0;
	return 1;
}

int
sessions_valid_template(const char *t)
{
	size_t	 i, n = strlen(t);

	if (n == 0 || n > 100 || t[0] == '.')
		return 0;
	for (i = 0; i < n; i++)
		if (!isalnum((unsigned char)t[i]) && t[i] != '-' && t[i] != '_' &&
		    t[i] != '.')
			return 0;
	return 1;
}

int
sessions_path(const struct config *cfg, const char *id, const char *sub,
    char *out, size_t cap)
{
	int	 n;

	n = snprintf(out, cap, "%s/sessions/session-%s%s%s", cfg->workspace_path,
	    id, sub ? "/" : "", sub ? sub : "");
	return (n < 0 || (size_t)n >= cap) ? -1 : 0;
}

static long long
now_us(void)
{
	struct timeval	 tv;

	gettimeofday(&tv, NULL);
	return (long long)tv.tv_sec * 1000000LL + tv.tv_usec;
}

/* Fills out from an HGETALL reply; 1 when the hash had fields. */
static int
session_from_reply(redisReply *r, const char *id, struct session *out)
{
	long long	 v;
	size_t		 i;
	int		 found = 0;

	memset(out, 0, sizeof(*out));
	memcpy(out->id, id, SESSION_ID_LEN + 1);
	if (r->type != REDIS_REPLY_ARRAY)
		return 0;
	for (i = 0; i + 1 < r->elements; i += 2) {
		const char *f = r->element[i]->str, *val = r->element[i + 1]->str;

		if (f == NULL || val == NULL)
			continue;
		found = 1;
#define FIELD(name, dst) else if (strcmp(f, name) == 0) snprintf(dst, sizeof(dst), "%s", val)
		if (0)
			;
		FIELD("owner", out->owner);
		FIELD("title", out->title);
		FIELD("model", out->model);
		FIELD("permission_mode", out->permission_mode);
		FIELD("template", out->template_name);
		FIELD("status", out->status);
#undef FIELD
		else if (strcmp(f, "created_us") == 0 && config_parse_ll(val, &v) == 0)
			out->created_us = v;
		else if (strcmp(f, "updated_at") == 0 && config_parse_ll(val, &v) == 0)
			out->updated_at = (long)v;
		else if (strcmp(f, "last_activity") == 0 && config_parse_ll(val, &v) == 0)
			out->last_activity = (long)v;
	}
	return found;
}

int
sessions_get(struct store *s, const char *id, struct session *out)
{
	redisReply	*r;
	char		 key[96];
	int		 found;

	if (!sessions_valid_id(id))
		return 0;
	snprintf(key, sizeof(key), "cw:session:%s", id);
	if ((r = store_cmdv(s, "HGETALL", key, NULL)) == NULL)
		return -1;
	if (r->type != REDIS_REPLY_ARRAY) {
		freeReplyObject(r);
		return -1;
	}
	found = session_from_reply(r, id, out);
	freeReplyObject(r);
	return found;
}

static int
write_metadata(const struct config *cfg, const struct session *s)
{
	json_object	*o = json_object_new_object();
	char		 path[PATH_MAX];
	const char	*txt;
	int		 rc;

	json_object_object_add(o, "id", json_object_new_string(s->id));
	json_object_object_add(o, "owner", json_object_new_string(s->owner));
	json_object_object_add(o, "title", json_object_new_string(s->title));
	json_object_object_add(o, "model", json_object_new_string(s->model));
	json_object_object_add(o, "permission_mode",
	    json_object_new_string(s->permission_mode));
	json_object_object_add(o, "template", s->template_name[0] ?
	    json_object_new_string(s->template_name) : NULL);
	json_object_object_add(o, "created_at",
	    json_object_new_int64(s->created_us / 1000000));
	json_object_object_add(o, "updated_at", json_object_new_int64(s->updated_at));
	txt = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY |
	    JSON_C_TO_STRING_NOSLASHESCAPE);
	rc = -1;
	if (sessions_path(cfg, s->id, "metadata.json", path, sizeof(path)) == 0)
		rc = fsutil_write_atomic(path, txt, strlen(txt));
	json_object_put(o);
	return rc;
}

static int
save_hash(struct store *st, struct session *s)
{
	redisReply	*r;
	char		 key[96], cu[32], ua[32], la[32];

	snprintf(key, sizeof(key), "cw:session:%s", s->id);
	snprintf(cu, sizeof(cu), "%lld", s->created_us);
	snprintf(ua, sizeof(ua), "%ld", s->updated_at);
	snprintf(la, sizeof(la), "%ld", s->last_activity);
	r = store_cmdv(st, "HSET", key, "owner", s->owner, "title", s->title,
	    "model", s->model, "permission_mode", s->permission_mode,
	    "template", s->template_name, "status", s->status,
	    "created_us", cu, "updated_at", ua, "last_activity", la, NULL);
	if (r == NULL)
		return -1;
	freeReplyObject(r);
	if ((r = store_cmdv(st, "ZADD", "cw:sessions:activity", la, s->id, NULL)) == NULL)
		return -1;
	freeReplyObject(r);
	return 0;
}

static void
unindex(struct store *st, const struct session *s)
{
	redisReply	*r;
	char		 key[256];

	snprintf(key, sizeof(key), "cw:user_sessions:%s", s->owner);
	if ((r = store_cmdv(st, "ZREM", key, s->id, NULL)) != NULL)
		freeReplyObject(r);
	if ((r = store_cmdv(st, "ZREM", "cw:sessions", s->id, NULL)) != NULL)
		freeReplyObject(r);
	if ((r = store_cmdv(st, "ZREM", "cw:sessions:activity", s->id, NULL)) != NULL)
		freeReplyObject(r);
	snprintf(key, sizeof(key), "cw:session:%s", s->id);
	if ((r = store_cmdv(st, "DEL", key, NULL)) != NULL)
		freeReplyObject(r);
}

enum sessions_err
sessions_create(struct store *st, const struct config *cfg, struct session *s)
{
	redisReply	*r;
	struct stat	 sb;
	char		 ukey[256], score[32], max[32], dir[PATH_MAX], tpl[PATH_MAX];
	int		 added;

	if (s->template_name[0] != '\0') {
		snprintf(tpl, sizeof(tpl), "%s/shared/templates/%s",
		    cfg->workspace_path, s->template_name);
		if (stat(tpl, &sb) == -1 || !S_ISDIR(sb.st_mode))
			return SESS_ETEMPLATE;
	}
	if (auth_random_hex(s->id, SESSION_ID_LEN / 2) == -1)
		return SESS_EFS;
	s->created_us = now_us();
	s->updated_at = s->last_activity = (long)(s->created_us / 1000000);
	snprintf(s->status, sizeof(s->status), "idle");

	snprintf(ukey, sizeof(ukey), "cw:user_sessions:%s", s->owner);
	snprintf(score, sizeof(score), "%lld", s->created_us);
	snprintf(max, sizeof(max), "%lld", cfg->max_sessions);
	r = store_cmdv(st, "EVAL", add_script, "2", ukey, "cw:sessions", max,
	    score, s->id, NULL);
	if (r == NULL)
		return SESS_EREDIS;
	added = r->type == REDIS_REPLY_INTEGER && r->integer == 1;
	freeReplyObject(r);
	if (!added)
		return SESS_ELIMIT;
	if (save_hash(st, s) == -1) {
		unindex(st, s);
		return SESS_EREDIS;
	}
	if (sessions_path(cfg, s->id, "files", dir, sizeof(dir)) == -1 ||
	    fsutil_mkdirs(dir) == -1 ||
	    sessions_path(cfg, s->id, ".claude", dir, sizeof(dir)) == -1 ||
	    fsutil_mkdirs(dir) == -1 || write_metadata(cfg, s) == -1) {
		log_kv(LOG_ERROR, "cannot create session directory", "s:session",
		    s->id, "s:error", strerror(errno), NULL);
		goto fail;
	}
	if (s->template_name[0] != '\0') {
		sessions_path(cfg, s->id, "files", dir, sizeof(dir));
		if (fsutil_copy_tree(tpl, dir) == -1) {
			log_kv(LOG_ERROR, "cannot copy template", "s:session", s->id,
			    "s:template", s->template_name, NULL);
			goto fail;
		}
	}
	return SESS_OK;
fail:
	unindex(st, s);
	if (sessions_path(cfg, s->id, NULL, dir, sizeof(dir)) == 0)
		fsutil_remove_tree(dir);
	return SESS_EFS;
}

int
sessions_save(struct store *st, const struct config *cfg, struct session *s)
{
	s->updated_at = s->last_activity = (long)time(NULL);
	if (save_hash(st, s) == -1)
		return -1;
	if (write_metadata(cfg, s) == -1)
		log_kv(LOG_WARNING, "cannot write metadata.json", "s:session", s->id,
		    "s:error", strerror(errno), NULL);
	return 0;
}

int
sessions_touch(struct store *st, struct session *s)
{
	redisReply	*r;
	char		 key[96], la[32];

	s->last_activity = (long)time(NULL);
	snprintf(key, sizeof(key), "cw:session:%s", s->id);
	snprintf(la, sizeof(la), "%ld", s->last_activity);
	if ((r = store_cmdv(st, "HSET", key, "last_activity", la, NULL)) == NULL)
		return -1;
	freeReplyObject(r);
	if ((r = store_cmdv(st, "ZADD", "cw:sessions:activity", la, s->id, NULL)) == NULL)
		return -1;
	freeReplyObject(r);
	return 0;
}

/*
 * Everything else a session left in Redis: its event log, usage, permission
 * state, remembered grants, and a run in progress (asked to cancel; the
 * runner then finds the session gone and ends the run with an error).
 */
static void
forget(struct store *st, const char *sid)
{
	static const char *const prefixes[] = { "cw:events:", "cw:usage:session:",
	    "cw:perm:pending:", "cw:perm:remember:" };
	redisReply	*r;
	char		 key[128], run[64];
	size_t		 i;

	snprintf(key, sizeof(key), "cw:active:%s", sid);
	if ((r = store_cmdv(st, "GET", key, NULL)) != NULL) {
		if (r->type == REDIS_REPLY_STRING) {
			snprintf(run, sizeof(run), "cw:cancel:%s", r->str);
			freeReplyObject(r);
			if ((r = store_cmdv(st, "SET", run, "1", "EX", "86400", NULL)) != NULL)
				freeReplyObject(r);
		} else
			freeReplyObject(r);
	}
	for (i = 0; i < sizeof(prefixes) / sizeof(prefixes[0]); i++) {
		snprintf(key, sizeof(key), "%s%s", prefixes[i], sid);
		if ((r = store_cmdv(st, "DEL", key, NULL)) != NULL)
			freeReplyObject(r);
	}
}

int
sessions_delete(struct store *st, const struct config *cfg, const struct session *s)
{
	char	 dir[PATH_MAX];

	/* Directory first: a session without keys is invisible, the reverse leaks disk. */
	if (sessions_path(cfg, s->id, NULL, dir, sizeof(dir)) == -1 ||
	    fsutil_remove_tree(dir) == -1) {
		log_kv(LOG_ERROR, "cannot remove session directory", "s:session",
		    s->id, "s:error", strerror(errno), NULL);
		return -1;
	}
	unindex(st, s);
	forget(st, s->id);
	return 0;
}

/* One page of sessions in one round trip: the index, then every hash. */
static const char page_script[] =
    "local ids = redis.call('ZREVRANGEBYSCORE', KEYS[1], ARGV[1], '-inf', "
    "'WITHSCORES', 'LIMIT', 0, tonumber(ARGV[2])) "
    "local out = {} "
    "for i = 1, #ids, 2 do "
    "out[#out + 1] = {ids[i], ids[i + 1], "
    "redis.call('HGETALL', 'cw:session:' .. ids[i])} end "
    "return out";

int
sessions_list(struct store *st, const char *owner, long long cursor, int limit,
    void (*fn)(const struct session *, void *), void *arg, long long *next)
{
	redisReply	*r, *e;
	struct session	 s;
	char		 key[256], max[40], lim[16];
	size_t		 i;
	int		 n = 0;
	long long	 last = 0;

	*next = 0;
	if (owner != NULL)
		snprintf(key, sizeof(key), "cw:user_sessions:%s", owner);
	else
		snprintf(key, sizeof(key), "cw:sessions");
	if (cursor > 0)
		snprintf(max, sizeof(max), "(%lld", cursor);
	else
		snprintf(max, sizeof(max), "+inf");
	snprintf(lim, sizeof(lim), "%d", limit + 1);
	r = store_cmdv(st, "EVAL", page_script, "1", key, max, lim, NULL);
	if (r == NULL || r->type != REDIS_REPLY_ARRAY) {
		if (r != NULL)
			freeReplyObject(r);
		return -1;
	}
	for (i = 0; i < r->elements; i++) {
		e = r->element[i];
		if (e->type != REDIS_REPLY_ARRAY || e->elements != 3 ||
		    e->element[0]->str == NULL)
			continue;
		if (n == limit) {
			*next = last;
			break;
		}
		last = strtoll(e->element[1]->str ? e->element[1]->str : "0", NULL, 10);
		if (sessions_valid_id(e->element[0]->str) &&
		    session_from_reply(e->element[2], e->element[0]->str, &s) == 1) {
			fn(&s, arg);
			n++;
		}
	}
	freeReplyObject(r);
	return n;
}

long long
sessions_active(struct store *st, long long timeout_s)
{
	redisReply	*r;
	char		 min[32];
	long long	 n = -1;

	snprintf(min, sizeof(min), "%lld", (long long)time(NULL) - timeout_s);
	if ((r = store_cmdv(st, "ZCOUNT", "cw:sessions:activity", min, "+inf",
	    NULL)) == NULL)
		return -1;
	if (r->type == REDIS_REPLY_INTEGER)
		n = r->integer;
	freeReplyObject(r);
	return n;
}
