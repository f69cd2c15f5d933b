/*
 * keys: the one prefix of every Redis key claude-web names. The hash tag
 * {c} puts the whole keyspace in one Redis Cluster slot, so every Lua
 * script and multi-key command touches one slot and runs unchanged on a
 * cluster (docs/redis.md, "Redis Cluster"). Build every key from CW_KP,
 * in C format strings and in Lua text alike:
 *	snprintf(key, sizeof(key), CW_KP "session:%s", sid);
 *	"redis.call('GET', '" CW_KP "active:' .. sid) "
 * The keys of the previous layout (cw:<rest>, schema 1) are renamed at
 * start by keys_migrate() in migrate.c.
 */
#ifndef KEYS_H
#define KEYS_H

#define CW_KP		"cw:{c}:"
#define CW_SCHEMA_KEY	CW_KP "schema"
#define CW_SCHEMA	"2"
/* The session list's summaries (sessions.h), dropped by store.c after a MOVED. */
#define CW_KEY_SUMMARIES	CW_KP "summaries"

#endif
