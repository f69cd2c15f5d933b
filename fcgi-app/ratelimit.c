#include <stdio.h>
#include <stdlib.h>

#include "ratelimit.h"
#include "store.h"

static const char hit_script[] =
    "local c = redis.call('INCR', KEYS[1]) "
    "if c == 1 then redis.call('EXPIRE', KEYS[1], ARGV[1]) end "
    "local t = redis.call('TTL', KEYS[1]) "
    "if t < 0 then redis.call('EXPIRE', KEYS[1], ARGV[1]); t = tonumber(ARGV[1]) end "
    "return {c, t}";

int
ratelimit_hit(struct store *s, const char *key, long long limit,
    long long window_s, long long *retry_after)
{
	redisReply	*r;
	char		 w[32];
	long long	 count, ttl;

	snprintf(w, sizeof(w), "%lld", window_s);
	r = store_cmdv(s, "EVAL", hit_script, "1", key, w, NULL);
	if (r == NULL || r->type != REDIS_REPLY_ARRAY || r->elements != 2) {
		if (r != NULL)
			freeReplyObject(r);
		return -1;
	}
	count = r->element[0]->integer;
	ttl = r->element[1]->integer;
	freeReplyObject(r);
	*retry_after = ttl > 0 ? ttl : 1;
	return count <= limit ? 1 : 0;
}

int
ratelimit_peek(struct store *s, const char *key, long long limit,
    long long *retry_after)
{
	redisReply	*r;
	long long	 count = 0, ttl = 1;

	if ((r = store_cmdv(s, "GET", key, NULL)) == NULL)
		return -1;
	if (r->type == REDIS_REPLY_STRING)
		count = strtoll(r->str, NULL, 10);
	freeReplyObject(r);
	if (count < limit)
		return 1;
	if ((r = store_cmdv(s, "TTL", key, NULL)) != NULL) {
		if (r->type == REDIS_REPLY_INTEGER && r->integer > 0)
			ttl = r->integer;
		freeReplyObject(r);
	}
	*retry_after = ttl;
	return 0;
}

void
ratelimit_clear(struct store *s, const char *key)
{
	redisReply	*r;

	if ((r = store_cmdv(s, "DEL", key, NULL)) != NULL)
		freeReplyObject(r);
}
