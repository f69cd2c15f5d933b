#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "events.h"
#include "store.h"

static const char append_script[] =
    "if ARGV[1] ~= '0' and redis.call('GET', KEYS[2]) ~= ARGV[1] then "
    "return false end "
    "return redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[2], '*', "
    "'type', ARGV[3], 'data', ARGV[4])";

int
events_append(struct store *s, const char *sid, long long fence,
    long long maxlen, const char *type, json_object *data, char *id_out)
{
	redisReply	*r;
	char		 key[96], fkey[96], f[32], ml[32];
	const char	*js;
	int		 rc;

	snprintf(key, sizeof(key), "cw:events:%s", sid);
	snprintf(fkey, sizeof(fkey), "cw:fence:%s", sid);
	snprintf(f, sizeof(f), "%lld", fence);
	snprintf(ml, sizeof(ml), "%lld", maxlen);
	js = json_object_to_json_string_ext(data, JSON_C_TO_STRING_PLAIN |
	    JSON_C_TO_STRING_NOSLASHESCAPE);
	r = store_cmdv(s, "EVAL", append_script, "2", key, fkey, f, ml, type, js,
	    NULL);
	if (r == NULL)
		return -1;
	if (r->type == REDIS_REPLY_STRING) {
		if (id_out != NULL)
			snprintf(id_out, EVENTS_ID_MAX, "%s", r->str);
		rc = 0;
	} else if (r->type == REDIS_REPLY_NIL)
		rc = 1;
	else
		rc = -1;
	freeReplyObject(r);
	return rc;
}

static const char final_script[] =
    "if ARGV[1] ~= '0' and redis.call('GET', KEYS[2]) ~= ARGV[1] then "
    "return false end "
    "redis.call('HSET', KEYS[3], 'status', ARGV[5], 'finished_at', ARGV[6]) "
    "return redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[2], '*', "
    "'type', ARGV[3], 'data', ARGV[4])";

int
events_append_final(struct store *s, const char *sid, long long fence,
    long long maxlen, const char *type, json_object *data, const char *run_id,
    const char *status)
{
	redisReply	*r;
	char		 key[96], fkey[96], rkey[96], f[32], ml[32], now[32];
	const char	*js;
	int		 rc;

	snprintf(key, sizeof(key), "cw:events:%s", sid);
	snprintf(fkey, sizeof(fkey), "cw:fence:%s", sid);
	snprintf(rkey, sizeof(rkey), "cw:run:%s", run_id);
	snprintf(f, sizeof(f), "%lld", fence);
	snprintf(ml, sizeof(ml), "%lld", maxlen);
	snprintf(now, sizeof(now), "%lld", (long long)time(NULL));
	js = json_object_to_json_string_ext(data, JSON_C_TO_STRING_PLAIN |
	    JSON_C_TO_STRING_NOSLASHESCAPE);
	r = store_cmdv(s, "EVAL", final_script, "3", key, fkey, rkey, f, ml, type,
	    js, status, now, NULL);
	if (r == NULL)
		return -1;
	rc = r->type == REDIS_REPLY_STRING ? 0 : r->type == REDIS_REPLY_NIL ? 1 : -1;
	freeReplyObject(r);
	return rc;
}

int
events_last_id(struct store *s, const char *sid, char *out, size_t cap)
{
	redisReply	*r;
	char		 key[96];

	snprintf(key, sizeof(key), "cw:events:%s", sid);
	if ((r = store_cmdv(s, "XREVRANGE", key, "+", "-", "COUNT", "1", NULL)) == NULL)
		return -1;
	snprintf(out, cap, "0-0");
	if (r->type == REDIS_REPLY_ARRAY && r->elements == 1 &&
	    r->element[0]->type == REDIS_REPLY_ARRAY &&
	    r->element[0]->elements >= 1 && r->element[0]->element[0]->str)
		snprintf(out, cap, "%s", r->element[0]->element[0]->str);
	freeReplyObject(r);
	return 0;
}

int
events_valid_id(const char *s)
{
	const char	*dash = strchr(s, '-');
	size_t		 i, n = strlen(s);

	if (dash == NULL || dash == s || dash[1] == '\0' || n > 41)
		return 0;
	for (i = 0; i < n; i++)
		if (s + i != dash && (s[i] < '0' || s[i] > '9'))
			return 0;
	return 1;
}

void
events_id_before(const char *s, char *out, size_t cap)
{
	unsigned long long	 ms, seq;
	char			*end;

	ms = strtoull(s, &end, 10);
	seq = strtoull(end + 1, NULL, 10);
	if (seq > 0)
		snprintf(out, cap, "%llu-%llu", ms, seq - 1);
	else if (ms > 0)
		snprintf(out, cap, "%llu-18446744073709551615", ms - 1);
	else
		snprintf(out, cap, "0-0");
}
