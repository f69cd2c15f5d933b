#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "auth.h"
#include "config.h"
#include "keys.h"
#include "log.h"
#include "migrate.h"
#include "sessions.h"
#include "store.h"

#define OLD_PREFIX	"cw:"
#define LOCK_KEY	CW_KP "migrating"
#define LOCK_TTL_MS	"60000"
#define WAIT_FACTOR	5	/* x timeout: waiting for another instance */
#define SCAN_COUNT	"1000"

static long long
now_ms(void)
{
	struct timespec	 ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void
nap_ms(int ms)
{
	struct timespec	 ts;

	ts.tv_sec = ms / 1000;
	ts.tv_nsec = (long)(ms % 1000) * 1000000;
	nanosleep(&ts, NULL);
}

/* 1 when cw:{c}:schema is CW_SCHEMA, 0 when not, -1 on a Redis failure. */
static int
schema_current(struct store *st)
{
	redisReply	*r;
	int		 rv;

	if ((r = store_cmdv(st, "GET", CW_SCHEMA_KEY, NULL)) == NULL)
		return -1;
	rv = r->type == REDIS_REPLY_STRING && strcmp(r->str, CW_SCHEMA) == 0;
	freeReplyObject(r);
	return rv;
}

/*
 * Both names exist: the tagged key was written by this version (after the
 * upgrade, e.g. claude-web-admin before the first start), so it wins; what
 * the old one adds is kept where that means something: set and sorted set
 * members (the user and session indexes), hash fields the new one lacks.
 * Other types (and a type mismatch) keep the new key only. The new key's
 * TTL stays as it was. KEYS: old, new. Returns 'merged' or 'dropped'.
 * Standalone Redis only (two slots): old names never lived on a cluster.
 */
static const char merge_script[] =
    "local t = redis.call('TYPE', KEYS[1]).ok "
    "local u = redis.call('TYPE', KEYS[2]).ok "
    "local ttl = redis.call('PTTL', KEYS[2]) "
    "local rv = 'dropped' "
    "if t == u and t == 'set' then "
    "redis.call('SUNIONSTORE', KEYS[2], KEYS[2], KEYS[1]) rv = 'merged' "
    "elseif t == u and t == 'zset' then "
    "redis.call('ZUNIONSTORE', KEYS[2], 2, KEYS[2], KEYS[1], 'AGGREGATE', "
    "'MAX') rv = 'merged' "
    "elseif t == u and t == 'hash' then "
    "local h = redis.call('HGETALL', KEYS[1]) "
    "for i = 1, #h, 2 do redis.call('HSETNX', KEYS[2], h[i], h[i + 1]) end "
    "rv = 'merged' end "
    "if rv == 'merged' and ttl > 0 then redis.call('PEXPIRE', KEYS[2], ttl) end "
    "redis.call('UNLINK', KEYS[1]) "
    "return rv";

/*
 * One old key: RENAMENX keeps its value, type and TTL. When the tagged
 * name exists already, merge_script decides. Returns 1 renamed, 2 dropped
 * (the tagged key kept), 3 merged, 0 gone meanwhile, -1 Redis failure.
 */
static int
migrate_key(struct store *st, const char *old)
{
	redisReply	*r;
	char		 nk[1024];
	int		 rv;

	if ((size_t)snprintf(nk, sizeof(nk), CW_KP "%s",
	    old + strlen(OLD_PREFIX)) >= sizeof(nk)) {
		log_kv(LOG_WARNING, "redis key migration: name too long, left "
		    "as it is", "s:key", old, NULL);
		return 0;
	}
	if ((r = store_cmdv(st, "RENAMENX", old, nk, NULL)) == NULL)
		return store_error_is(st, "ERR no such key") ? 0 : -1;
	rv = r->type == REDIS_REPLY_INTEGER && r->integer == 1;
	freeReplyObject(r);
	if (rv)
		return 1;
	if ((r = store_cmdv(st, "EVAL", merge_script, "2", old, nk,
	    NULL)) == NULL)
		return -1;
	rv = r->type == REDIS_REPLY_STATUS || r->type == REDIS_REPLY_STRING ?
	    strcmp(r->str, "merged") == 0 : 0;
	freeReplyObject(r);
	log_kv(LOG_WARNING, rv ? "redis key migration: both names exist, "
	    "merged into the tagged one" : "redis key migration: both names "
	    "exist, the tagged (newer) one is kept", "s:old", old, "s:kept", nk,
	    NULL);
	return rv ? 3 : 2;
}

/* Every cw:* key without the tag, renamed; n[]: renamed, dropped, merged. */
static int
migrate_scan(struct store *st, long long n[3])
{
	redisReply	*r, *keys;
	char		 cursor[32] = "0";
	size_t		 i;
	int		 rc;

	do {
		r = store_cmdv(st, "SCAN", cursor, "MATCH", OLD_PREFIX "*",
		    "COUNT", SCAN_COUNT, NULL);
		if (r == NULL)
			return -1;
		if (r->type != REDIS_REPLY_ARRAY || r->elements != 2 ||
		    r->element[0]->type != REDIS_REPLY_STRING ||
		    r->element[1]->type != REDIS_REPLY_ARRAY) {
			freeReplyObject(r);
			return -1;
		}
		snprintf(cursor, sizeof(cursor), "%s", r->element[0]->str);
		keys = r->element[1];
		for (i = 0; i < keys->elements; i++) {
			const char *k = keys->element[i]->str;

			if (k == NULL || strncmp(k, CW_KP, strlen(CW_KP)) == 0)
				continue;
			if ((rc = migrate_key(st, k)) == -1) {
				freeReplyObject(r);
				return -1;
			}
			if (rc >= 1 && rc <= 3)
				n[rc - 1]++;
		}
		freeReplyObject(r);
	} while (strcmp(cursor, "0") != 0);
	return 0;
}

/* Lets the lock go if it is still ours. */
static void
unlock(struct store *st, const char *token)
{
	redisReply	*r;

	r = store_cmdv(st, "EVAL", "if redis.call('GET', KEYS[1]) == ARGV[1] "
	    "then return redis.call('DEL', KEYS[1]) end return 0", "1",
	    LOCK_KEY, token, NULL);
	if (r != NULL)
		freeReplyObject(r);
}

int
migrate_keys(const struct config *cfg, int timeout_ms)
{
	struct store	 st;
	redisReply	*r;
	char		 token[33];
	long long	 n[3] = { 0, 0, 0 }, t0 = now_ms();
	int		 rc = -1, cur, locked = 0;

	store_init(&st, cfg, timeout_ms);
	if ((cur = schema_current(&st)) != 0) {
		store_close(&st);
		return cur == 1 ? 0 : -1;
	}
	if (auth_random_hex(token, 16) == -1)
		snprintf(token, sizeof(token), "%lld", t0);
	/* Two instances starting at once: one renames, the other waits. */
	while (now_ms() - t0 < (long long)timeout_ms * WAIT_FACTOR) {
		r = store_cmdv(&st, "SET", LOCK_KEY, token, "NX", "PX",
		    LOCK_TTL_MS, NULL);
		if (r == NULL)
			goto out;
		locked = r->type == REDIS_REPLY_STATUS;
		freeReplyObject(r);
		if (locked)
			break;
		nap_ms(100);
		if ((cur = schema_current(&st)) != 0) {
			rc = cur == 1 ? 0 : -1;
			goto out;
		}
	}
	/* Without the lock after the wait: renaming is safe twice (RENAMENX). */
	if (migrate_scan(&st, n) == -1) {
		log_kv(LOG_WARNING, "redis key migration failed, retried later",
		    "s:error", st.errstr, "i:renamed", n[0], NULL);
		goto out;
	}
	/*
	 * A merged session record may have gained listed fields: the list's
	 * summaries (sessions.c page_script) are built again from the records.
	 */
	if (n[2] > 0 && (r = store_cmdv(&st, "UNLINK", SESSIONS_SUMMARY_KEY,
	    NULL)) != NULL)
		freeReplyObject(r);
	if ((r = store_cmdv(&st, "SET", CW_SCHEMA_KEY, CW_SCHEMA, NULL)) == NULL)
		goto out;
	freeReplyObject(r);
	rc = 0;
	if (n[0] + n[1] + n[2] > 0)
		log_kv(LOG_INFO, "redis keys migrated to schema " CW_SCHEMA,
		    "i:renamed", n[0], "i:dropped", n[1], "i:merged", n[2],
		    "i:ms", now_ms() - t0, NULL);
	else
		log_kv(LOG_INFO, "redis keyspace at schema " CW_SCHEMA,
		    "i:renamed", 0LL, NULL);
out:
	if (locked)
		unlock(&st, token);
	store_close(&st);
	return rc;
}
