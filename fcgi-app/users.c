#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "auth.h"
#include "config.h"
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
	snprintf(out, cap, "cw:user:%s", name);
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
	}
	freeReplyObject(r);
	if (found && u->role[0] == '\0')
		memcpy(u->role, "user", 5);
	return found;
}

int
users_create(struct store *s, const char *name, const char *role,
    const char *hash)
{
	redisReply	*r;
	char		 key[256], now[32];
	int		 created;

	key_for(key, sizeof(key), name);
	if ((r = store_cmdv(s, "HSETNX", key, "password", hash, NULL)) == NULL)
		return -1;
	created = r->type == REDIS_REPLY_INTEGER && r->integer == 1;
	freeReplyObject(r);
	if (!created)
		return 1;
	snprintf(now, sizeof(now), "%lld", (long long)time(NULL));
	r = store_cmdv(s, "HSET", key, "role", role, "created_at", now,
	    "last_login", "0", "disabled", "0", NULL);
	if (r == NULL)
		return -1;
	freeReplyObject(r);
	if ((r = store_cmdv(s, "SADD", "cw:users", name, NULL)) == NULL)
		return -1;
	freeReplyObject(r);
	return 0;
}

int
users_set_field(struct store *s, const char *name, const char *field,
    const char *value)
{
	redisReply	*r;
	char		 key[256];
	int		 exists;

	key_for(key, sizeof(key), name);
	if ((r = store_cmdv(s, "EXISTS", key, NULL)) == NULL)
		return -1;
	exists = r->type == REDIS_REPLY_INTEGER && r->integer == 1;
	freeReplyObject(r);
	if (!exists)
		return 1;
	if ((r = store_cmdv(s, "HSET", key, field, value, NULL)) == NULL)
		return -1;
	freeReplyObject(r);
	return 0;
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
	if ((r = store_cmdv(s, "SREM", "cw:users", name, NULL)) != NULL)
		freeReplyObject(r);
	return gone ? 0 : 1;
}

long long
users_count(struct store *s)
{
	redisReply	*r;
	long long	 n = -1;

	if ((r = store_cmdv(s, "SCARD", "cw:users", NULL)) == NULL)
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

	if ((r = store_cmdv(s, "SMEMBERS", "cw:users", NULL)) == NULL ||
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
