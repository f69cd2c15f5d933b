/*
 * users: accounts in Redis. Key cw:user:<name> is a hash (password, role,
 * created_at, last_login, disabled); the set cw:users lists the names.
 * Used by the login handlers and by claude-web-admin.
 */
#ifndef CW_USERS_H
#define CW_USERS_H

#include <stddef.h>

struct store;
struct auth_user;

#define USERS_NAME_MAX	64
#define USERS_HASH_MAX	256

int	users_valid_name(const char *);
/* 1 found (hash copied if hash != NULL), 0 no such user, -1 Redis error. */
int	users_get(struct store *, const char *name, struct auth_user *,
	    char *hash, size_t hashcap);
/* 0 created, 1 already exists, -1 Redis error. */
int	users_create(struct store *, const char *name, const char *role,
	    const char *hash);
/* 0 ok, 1 no such user, -1 error. */
int	users_set_field(struct store *, const char *name, const char *field,
	    const char *value);
int	users_delete(struct store *, const char *name);
/* Count of users, or -1. */
long long users_count(struct store *);
/* Calls fn for each user (sorted by name); returns count or -1. */
int	users_each(struct store *, void (*fn)(const struct auth_user *, void *),
	    void *arg);

#endif
