#include <stdio.h>
#include <string.h>
#include <time.h>

#include <json-c/json.h>

#include "auth.h"
#include "events.h"
#include "runs.h"
#include "store.h"

static const char clear_script[] =
    "if redis.call('GET', KEYS[1]) == ARGV[1] then "
    "return redis.call('DEL', KEYS[1]) end return 0";

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
	if ((r = store_cmdv(s, "HGET", key, field, NULL)) == NULL)
		return -1;
	out[0] = '\0';
	if (r->type == REDIS_REPLY_STRING) {
		snprintf(out, cap, "%s", r->str);
		rc = 1;
	}
	freeReplyObject(r);
	return rc;
}

void
runs_set_session_status(struct store *s, const char *sid, const char *st)
{
	redisReply	*r;
	char		 key[96];

	snprintf(key, sizeof(key), "cw:session:%s", sid);
	if ((r = store_cmdv(s, "HSET", key, "status", st, NULL)) != NULL)
		freeReplyObject(r);
}

int
runs_queue(struct store *s, const char *sid, const char *user, const char *kind,
    const char *content, long long maxlen, char *run_id)
{
	redisReply	*r;
	json_object	*ev;
	char		 key[96], rkey[96], now[32], evid[EVENTS_ID_MAX];
	int		 ok;

	if (auth_random_hex(run_id, RUN_ID_LEN / 2) == -1)
		return -1;
	snprintf(key, sizeof(key), "cw:active:%s", sid);
	/* The guard expires on its own if every runner is gone for a day. */
	if ((r = store_cmdv(s, "SET", key, run_id, "NX", "EX", "86400", NULL)) == NULL)
		return -1;
	ok = r->type == REDIS_REPLY_STATUS;
	freeReplyObject(r);
	if (!ok) {
		if (runs_active(s, sid, run_id, RUN_ID_LEN + 1) == -1)
			run_id[0] = '\0';
		return 1;
	}
	snprintf(rkey, sizeof(rkey), "cw:run:%s", run_id);
	snprintf(now, sizeof(now), "%lld", (long long)time(NULL));
	r = store_cmdv(s, "HSET", rkey, "session", sid, "user", user, "kind", kind,
	    "status", "queued", "created_at", now, "content", content ? content : "",
	    NULL);
	if (r == NULL)
		goto fail;
	freeReplyObject(r);
	if ((r = store_cmdv(s, "EXPIRE", rkey, "2592000", NULL)) != NULL)
		freeReplyObject(r);
	runs_set_session_status(s, sid, "running");
	ev = json_object_new_object();
	json_object_object_add(ev, "run_id", json_object_new_string(run_id));
	json_object_object_add(ev, "kind", json_object_new_string(kind));
	if (events_append(s, sid, 0, maxlen, "run.queued", ev, evid) == 0)
		runs_set(s, run_id, "first_event_id", evid);
	json_object_put(ev);
	r = store_cmdv(s, "XADD", RUNS_JOBS, "*", "run_id", run_id, "session", sid,
	    NULL);
	if (r == NULL)
		goto fail;
	freeReplyObject(r);
	return 0;
fail:
	runs_clear_active(s, sid, run_id);
	runs_set_session_status(s, sid, "idle");
	return -1;
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

int
runs_cancel_requested(struct store *s, const char *run_id)
{
	redisReply	*r;
	char		 key[96];
	int		 rc;

	snprintf(key, sizeof(key), "cw:cancel:%s", run_id);
	if ((r = store_cmdv(s, "EXISTS", key, NULL)) == NULL)
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
