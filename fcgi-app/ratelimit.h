/*
 * ratelimit: fixed-window counters in Redis, shared by every worker and
 * replica. One Lua call per hit: INCR, set the expiry on the first hit,
 * return the count and the time left.
 */
#ifndef CW_RATELIMIT_H
#define CW_RATELIMIT_H

struct store;

/*
 * Counts one hit on key (window_s long). Returns 1 allowed, 0 over the
 * limit (*retry_after_s set), -1 Redis unavailable.
 */
int	ratelimit_hit(struct store *, const char *key, long long limit,
	    long long window_s, long long *retry_after_s);
/* Reads a counter without counting: same returns as ratelimit_hit. */
int	ratelimit_peek(struct store *, const char *key, long long limit,
	    long long *retry_after_s);
void	ratelimit_clear(struct store *, const char *key);

#endif
