/*
 * events: the per-session event log, a capped Redis stream
 * cw:{c}:events:<sid> whose entries are {type, data(JSON)}. The stream id is
 * the SSE id. Appends from a runner carry its fencing token and are refused
 * (atomically, in Lua) once another runner has taken the session over.
 */
#ifndef CW_EVENTS_H
#define CW_EVENTS_H

#include <stddef.h>

#include <json-c/json.h>

struct config;
struct store;

#define EVENTS_ID_MAX	48

struct events_keys {
	char	stream[96];	/* cw:{c}:events:<sid> */
	char	bytes[96];	/* cw:{c}:evbytes:<sid>: bytes held by the stream */
};
void	events_keys(const char *sid, struct events_keys *);

/*
 * The Lua function cw_append(stream, bytes_key, maxlen, maxbytes, type,
 * data) that every script appending to an event stream must use (it
 * enforces EVENTS_MAXLEN and EVENTS_MAX_BYTES). Prepend it to a script.
 */
#define EVENTS_LUA_APPEND_CAP	1024
extern const char events_lua_append[EVENTS_LUA_APPEND_CAP];

/*
 * Appends (type, data). fence 0 = unfenced (API-side events). Returns 0
 * with the new id in id_out (may be NULL), 1 when fenced out, -1 on a Redis
 * error. data is not consumed. The stream is capped by cfg->events_maxlen
 * entries and cfg->events_max_bytes bytes.
 */
int	events_append(struct store *, const char *sid, long long fence,
	    const struct config *, const char *type, json_object *data,
	    char *id_out);
/*
 * events_append with a token unique to this append (the fence holder's
 * appends only): the session's record keeps the token and id of the newest
 * one, so sending the same append again (its reply was lost: it may have
 * been made) returns that id and appends nothing twice.
 */
int	events_append_tok(struct store *, const char *sid, long long fence,
	    const struct config *, const char *type, json_object *data,
	    char *id_out, const char *tok);
/* A run's final event: sched_finish() (the run's state moves with it). */
/* Last id in the stream into out ("0-0" when empty); -1 on error. */
int	events_last_id(struct store *, const char *sid, char *out, size_t cap);
/* 1 when s is a stream id "ms-seq" (digits), else 0. */
int	events_valid_id(const char *s);
/* The id just before s, so XREAD (exclusive) starts at s itself. */
void	events_id_before(const char *s, char *out, size_t cap);

#endif
