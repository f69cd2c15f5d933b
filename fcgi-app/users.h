/*
 * users: accounts in Redis. Key cw:{c}:user:<name> is a hash (password, role,
 * created_at, last_login, disabled, gen); the set cw:{c}:users lists the names.
 * gen is the token generation: a random value every token carries, replaced
 * (users_new_gen) when the tokens issued so far must stop working. A new
 * account always gets a fresh one, so a re-created name never accepts the
 * deleted account's tokens. Every write that must not resurrect a deleted
 * record is one Lua call that checks the record exists.
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
/* 0 created (with a fresh gen), 1 already exists, -1 Redis error. */
int	users_create(struct store *, const char *name, const char *role,
	    const char *hash);
/*
 * Sets one field of an existing record; with new_gen also replaces the
 * token generation in the same atomic step (signs the user out
 * everywhere). field may be NULL (only the generation). 0 ok, 1 no such
 * user, -1 error.
 */
int	users_update(struct store *, const char *name, const char *field,
	    const char *value, int new_gen);
/* users_update() without a new generation. */
int	users_set_field(struct store *, const char *name, const char *field,
	    const char *value);
/* Signs the user out everywhere: users_update(s, name, NULL, NULL, 1). */
int	users_new_gen(struct store *, const char *name);
/*
 * The record's generation into gen (AUTH_GEN_LEN + 1 bytes), giving a
 * record from before generations existed its first one. 0 ok, 1 no such
 * user, -1 error.
 */
int	users_ensure_gen(struct store *, const char *name, char *gen);
int	users_delete(struct store *, const char *name);
/* Count of users, or -1. */
long long users_count(struct store *);
/* Calls fn for each user (sorted by name); returns count or -1. */
int	users_each(struct store *, void (*fn)(const struct auth_user *, void *),
	    void *arg);

#endif
