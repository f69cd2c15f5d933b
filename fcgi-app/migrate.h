/*
 * migrate: brings the Redis keyspace to the current schema (keys.h). The
 * master calls it before forking workers, on a short-lived connection of
 * its own (closed again before any fork), and again every few seconds
 * until it succeeds while Redis is away.
 *
 * Schema 2 (issue 12): every key is cw:{c}:<rest>. Keys of schema 1
 * (cw:<rest>, from an older version or an old backup) are renamed
 * (RENAMENX: value, type and TTL kept); when both names exist the tagged
 * one wins, with the old one's set/zset members and missing hash fields
 * merged in. Then cw:{c}:schema = 2, so later starts only read that.
 * claude-web-admin calls it too, before its command.
 * Instances starting at once take turns on the lock cw:{c}:migrating
 * (SET NX PX); renaming twice is harmless anyway.
 */
#ifndef CW_MIGRATE_H
#define CW_MIGRATE_H

struct config;

/* 0 done (or nothing to do), -1 Redis failed: call again later. */
int	migrate_keys(const struct config *, int timeout_ms);

#endif
