#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "auth.h"
#include "config.h"
#include "keys.h"
#include "store.h"
#include "users.h"

int
users_valid_name(const char *s)
{
	size_t	 i, n = strlen(s);

	if (n == 0 || n > USERS_NAME_MAX)
		return 0;
	for (i = 0; i < n; i++)
		if (!isalnum((unsigned char)s[i]) && s[i] != '_' && s[i] != '-' &&
		    s[i] != '.' && s[i] != '@')
			return 0;
	return s[0] != '.' && s[0] != '-';
}

static void
key_for(char *out, size_t cap, const char *name)
{
	snprintf(out, cap, CW_KP "user:%s", name);
}

int
users_get(struct store *s, const char *name, struct auth_user *u,
    char *hash, size_t hashcap)
{
	redisReply	*r;
	char		 key[256];
	size_t		 i;
	long long	 v;
	int		 found = 0;

	key_for(key, sizeof(key), name);
	if ((r = store_cmdv(s, "HGETALL", key, NULL)) == NULL)
		return -1;
	if (r->type != REDIS_REPLY_ARRAY) {
		freeReplyObject(r);
		return -1;
	}
	memset(u, 0, sizeof(*u));
	snprintf(u->name, sizeof(u->name), "%s", name);
	if (hash != NULL && hashcap > 0)
		hash[0] = '\0';
	for (i = 0; i + 1 < r->elements; i += 2) {
		const char *f = r->element[i]->str, *val = r->element[i + 1]->str;

		if (f == NULL || val == NULL)
			continue;
		found = 1;
		if (strcmp(f, "password") == 0 && hash != NULL)
			snprintf(hash, hashcap, "%s", val);
		else if (strcmp(f, "role") == 0)
			snprintf(u->role, sizeof(u->role), "%s", val);
		else if (strcmp(f, "created_at") == 0 && config_parse_ll(val, &v) == 0)
			u->created_at = (long)v;
		else if (strcmp(f, "last_login") == 0 && config_parse_ll(val, &v) == 0)
			u->last_login = (long)v;
		else if (strcmp(f, "disabled") == 0)
			u->disabled = strcmp(val, "1") == 0;
		else if (strcmp(f, "gen") == 0 && strlen(val) <= AUTH_GEN_LEN)
			memcpy(u->gen, val, strlen(val) + 1);
	}
	freeReplyObject(r);
	if (found && u->role[0] == '\0')
		memcpy(u->role, "user", 5);
	return found;
}

/* KEYS[1] record, KEYS[2] cw:{c}:users; ARGV name, password, role, created_at, gen. */
static const char create_script[] =
    "if redis.call('EXISTS', KEYS[1]) == 1 then return 1 end "
    "redis.call('HSET', KEYS[1], 'password', ARGV[2], 'role', ARGV[3], "
    "'created_at', ARGV[4], 'last_login', '0', 'disabled', '0', "
    "'gen', ARGV[5]) "
    "redis.call('SADD', KEYS[2], ARGV[1]) return 0";

/* KEYS[1] record; ARGV field ("" none), value, gen ("" keep). */
static const char update_script[] =
    "if redis.call('EXISTS', KEYS[1]) == 0 then return 1 end "
    "if ARGV[1] ~= '' then redis.call('HSET', KEYS[1], ARGV[1], ARGV[2]) end "
    "if ARGV[3] ~= '' then redis.call('HSET', KEYS[1], 'gen', ARGV[3]) end "
    "return 0";

/* KEYS[1] record; ARGV a fresh gen, used only when the record has none. */
static const char ensure_gen_script[] =
    "if redis.call('EXISTS', KEYS[1]) == 0 then return false end "
    "redis.call('HSETNX', KEYS[1], 'gen', ARGV[1]) "
    "return redis.call('HGET', KEYS[1], 'gen')";

static int
int_reply(redisReply *r)
{
	long long	 v;

	if (r == NULL)
		return -1;
	v = r->type == REDIS_REPLY_INTEGER ? r->integer : -1;
	freeReplyObject(r);
	return v == 0 || v == 1 ? (int)v : -1;
}

int
users_create(struct store *s, const char *name, const char *role,
    const char *hash)
{
	char	 key[256], now[32], gen[AUTH_GEN_LEN + 1];

	if (auth_random_hex(gen, AUTH_GEN_LEN / 2) == -1)
		return -1;
	key_for(key, sizeof(key), name);
	snprintf(now, sizeof(now), "%lld", (long long)time(NULL));
	return int_reply(store_cmdv(s, "EVAL", create_script, "2", key,
	    CW_KP "users", name, hash, role, now, gen, NULL));
}

int
users_update(struct store *s, const char *name, const char *field,
    const char *value, int new_gen)
{
	char	 key[256], gen[AUTH_GEN_LEN + 1] = "";

	if (new_gen && auth_random_hex(gen, AUTH_GEN_LEN / 2) == -1)
		return -1;
	key_for(key, sizeof(key), name);
	return int_reply(store_cmdv(s, "EVAL", update_script, "1", key,
	    field ? field : "", value ? value : "", gen, NULL));
}

int
users_set_field(struct store *s, const char *name, const char *field,
    const char *value)
{
	return users_update(s, name, field, value, 0);
}

int
users_new_gen(struct store *s, const char *name)
{
	return users_update(s, name, NULL, NULL, 1);
}

int
users_ensure_gen(struct store *s, const char *name, char *gen)
{
	redisReply	*r;
	char		 key[256], fresh[AUTH_GEN_LEN + 1];
	int		 rc = -1;

	if (auth_random_hex(fresh, AUTH_GEN_LEN / 2) == -1)
		return -1;
	key_for(key, sizeof(key), name);
	if ((r = store_cmdv(s, "EVAL", ensure_gen_script, "1", key, fresh,
	    NULL)) == NULL)
		return -1;
	if (r->type == REDIS_REPLY_NIL)
		rc = 1;
	else if (r->type == REDIS_REPLY_STRING && r->len > 0 &&
	    r->len <= AUTH_GEN_LEN) {
		memcpy(gen, r->str, r->len);
		gen[r->len] = '\0';
		rc = 0;
	}
	freeReplyObject(r);
	return rc;
}

int
users_delete(struct store *s, const char *name)
{
	redisReply	*r;
	char		 key[256];
	int		 gone;

	key_for(key, sizeof(key), name);
	if ((r = store_cmdv(s, "DEL", key, NULL)) == NULL)
		return -1;
	gone = r->type == REDIS_REPLY_INTEGER && r->integer == 1;
	freeReplyObject(r);
	if ((r = store_cmdv(s, "SREM", CW_KP "users", name, NULL)) != NULL)
		freeReplyObject(r);
	return gone ? 0 : 1;
}

long long
users_count(struct store *s)
{
	redisReply	*r;
	long long	 n = -1;

	if ((r = store_cmdv(s, "SCARD", CW_KP "users", NULL)) == NULL)
		return -1;
	if (r->type == REDIS_REPLY_INTEGER)
		n = r->integer;
	freeReplyObject(r);
	return n;
}

static int
cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

int
users_each(struct store *s, void (*fn)(const struct auth_user *, void *),
    void *arg)
{
	redisReply		*r;
	struct auth_user	 u;
	char			**names;
	size_t			 i, n;

	if ((r = store_cmdv(s, "SMEMBERS", CW_KP "users", NULL)) == NULL ||
	    r->type != REDIS_REPLY_ARRAY) {
		if (r != NULL)
			freeReplyObject(r);
		return -1;
	}
	n = r->elements;
	names = calloc(n ? n : 1, sizeof(char *));
	for (i = 0; i < n; i++)
		names[i] = strdup(r->element[i]->str ? r->element[i]->str : "");
	freeReplyObject(r);
	qsort(names, n, sizeof(char *), cmp_str);
	for (i = 0; i < n; i++) {
		if (users_get(s, names[i], &u, NULL, 0) == 1)
			fn(&u, arg);
		free(names[i]);
	}
	free(names);
	return (int)n;
}
