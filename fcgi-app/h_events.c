/*
 * GET /api/sessions/<id>/events: the session's event log as SSE, served by
 * the stream pool only (the router refuses it elsewhere). First a snapshot
 * (status, active run, pending permission requests, last event id), then
 * every event after Last-Event-ID / ?after= (or, without either, from the
 * start of the active run, else only new ones), each with its stream id as
 * the SSE id. An id that is not "<uint64>-<uint64>" is a 400.
 *
 * The open stream is handed to the stream worker's event loop
 * (streamloop.c, docs/streams.md), which relays new events, notices a
 * departed client, pings and re-checks; this file opens it.
 *
 * Every SSE_PING_INTERVAL the stream re-checks what let it open: the token
 * (auth_identify: signature, expiry, revocation, the account), and that the
 * session still exists and is still the caller's. It ends when any of them
 * fails. At the same tick it renews its per-user slot and, when idle, sends
 * a `ping`.
 *
 * A user holds at most MAX_STREAMS_PER_USER open streams: a Redis sorted
 * set cw:{c}:streams:<user> of slot -> expiry, renewed at every tick and
 * released at the end, so a killed worker's slot expires by itself.
 *
 * The stream ends when the client leaves, the worker is told to quit,
 * SSE_MAX_DURATION passes, a re-check fails, or Redis stays unreachable
 * (streamloop.c says which); the client then reconnects with Last-Event-ID
 * and loses nothing.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "auth.h"
#include "config.h"
#include "events.h"
#include "handlers.h"
#include "http.h"
#include "jsonio.h"
#include "keys.h"
#include "log.h"
#include "perm.h"
#include "runs.h"
#include "sessions.h"
#include "store.h"
#include "streamloop.h"

static const char sse_head[] =
    "Status: 200 OK\r\nContent-Type: text/event-stream; charset=utf-8\r\n"
    "Cache-Control: no-cache, no-store\r\nX-Accel-Buffering: no\r\n\r\n"
    "retry: 2000\n\n";
/* A slot lives this long past its last renewal (renewed every ping). */
#define SLOT_TTL(cfg)		(3 * (cfg)->sse_ping_interval + 10)

/*
 * cw:{c}:streams:<user>: drop expired slots, refuse when the user already holds
 * ARGV[2] others, else (re)set this slot's expiry. 1 taken, 0 refused.
 * KEYS[1] the set; ARGV: now, cap, expiry, slot, key ttl.
 */
static const char slot_script[] =
    "redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1]) "
    "if not redis.call('ZSCORE', KEYS[1], ARGV[4]) and "
    "redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[2]) then return 0 end "
    "redis.call('ZADD', KEYS[1], ARGV[3], ARGV[4]) "
    "redis.call('EXPIRE', KEYS[1], ARGV[5]) "
    "return 1";

struct stream_slot {
	char	 key[160];	/* cw:{c}:streams:<user> */
	char	 id[64];	/* <pid>-<random> */
	int	 held;
};

static long long
mono_ms(void)
{
	struct timespec	 ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* One SSE event; data is single-line JSON (json-c never emits raw newlines). */
int
events_sse_format(struct buf *b, const char *id, const char *type,
    const char *data, size_t dlen)
{
	if (id != NULL && buf_printf(b, "id: %s\n", id) == -1)
		return -1;
	if (buf_printf(b, "event: %s\ndata: ", type) == -1 ||
	    buf_append(b, data, dlen) == -1 || buf_puts(b, "\n\n") == -1)
		return -1;
	return 0;
}

/*
 * One XREAD/XRANGE entry ([id, [field, value, ...]]) as an SSE event
 * appended to b; its id in *id. -1 when the entry is malformed (skipped)
 * or b is full.
 */
int
events_sse_entry(struct buf *b, const redisReply *e, const char **id)
{
	const redisReply	*kv;
	const char		*type = "message", *data = "{}";
	size_t			 j, dlen = 2;

	if (e->type != REDIS_REPLY_ARRAY || e->elements < 2 ||
	    e->element[0]->type != REDIS_REPLY_STRING ||
	    e->element[1]->type != REDIS_REPLY_ARRAY)
		return -1;
	kv = e->element[1];
	for (j = 0; j + 1 < kv->elements; j += 2) {
		if (kv->element[j]->type != REDIS_REPLY_STRING ||
		    kv->element[j + 1]->type != REDIS_REPLY_STRING)
			continue;
		if (strcmp(kv->element[j]->str, "type") == 0)
			type = kv->element[j + 1]->str;
		else if (strcmp(kv->element[j]->str, "data") == 0) {
			data = kv->element[j + 1]->str;
			dlen = kv->element[j + 1]->len;
		}
	}
	*id = e->element[0]->str;
	return events_sse_format(b, *id, type, data, dlen);
}

/* Appends the snapshot event to b. */
static int
snapshot_text(struct buf *b, struct app *app, const struct session *s,
    const char *run_id, const char *last_id, const char *start_after)
{
	json_object	*o = json_object_new_object(), *run = NULL, *pending;
	char		 v[64];
	const char	*js;
	int		 rc;

	json_object_object_add(o, "session_id", json_object_new_string(s->id));
	json_object_object_add(o, "status", json_object_new_string(s->status));
	if (run_id[0] != '\0') {
		run = json_object_new_object();
		json_object_object_add(run, "run_id", json_object_new_string(run_id));
		if (runs_get(app->store, run_id, "kind", v, sizeof(v)) == 1)
			json_object_object_add(run, "kind", json_object_new_string(v));
		if (runs_get(app->store, run_id, "status", v, sizeof(v)) == 1)
			json_object_object_add(run, "status", json_object_new_string(v));
		if (runs_get(app->store, run_id, "first_event_id", v, sizeof(v)) == 1)
			json_object_object_add(run, "first_event_id",
			    json_object_new_string(v));
	}
	json_object_object_add(o, "active_run", run);
	pending = perm_pending(app->store, s->id);
	json_object_object_add(o, "pending_permissions", pending ? pending :
	    json_object_new_array());
	json_object_object_add(o, "last_event_id", json_object_new_string(last_id));
	json_object_object_add(o, "resume_after", json_object_new_string(start_after));
	js = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN |
	    JSON_C_TO_STRING_NOSLASHESCAPE);
	rc = events_sse_format(b, NULL, "snapshot", js, strlen(js));
	json_object_put(o);
	return rc;
}

/* A valid id in its canonical form ("007-1" -> "7-1"): what XREAD gets. */
static void
canonical_id(const char *id, char *out, size_t cap)
{
	unsigned long long	 ms, seq;
	char			*end;

	ms = strtoull(id, &end, 10);
	seq = strtoull(end + 1, NULL, 10);
	snprintf(out, cap, "%llu-%llu", ms, seq);
}

/*
 * Where to start: Last-Event-ID, ?after=, the active run's start, or now.
 * 0, or -1 with a 400 written when the client's id is not a stream id.
 */
static int
start_point(struct http_req *r, struct app *app, const char *run_id,
    const char *last_id, char *after, size_t cap)
{
	const char	*h = http_header(r, "Last-Event-ID");
	char		 q[64], first[64];
	int		 rv;

	/* An empty Last-Event-ID is "none" (the SSE spec's reset value). */
	if (h != NULL && *h != '\0') {
		if (!events_valid_id(h)) {
			http_error(r, 400, NULL, "Last-Event-ID must be an event id "
			    "\"<ms>-<seq>\" (two 64-bit decimal numbers)");
			return -1;
		}
		canonical_id(h, after, cap);
		return 0;
	}
	rv = http_query_get(&r->uri, "after", q, sizeof(q));
	if (rv != 0) {
		if (rv == 1 && strcmp(q, "0") == 0) {
			snprintf(after, cap, "0-0");
			return 0;
		}
		if (rv == -1 || !events_valid_id(q)) {
			http_error(r, 400, NULL, "query parameter 'after' must be 0 or "
			    "an event id \"<ms>-<seq>\" (two 64-bit decimal numbers)");
			return -1;
		}
		canonical_id(q, after, cap);
		return 0;
	}
	if (run_id[0] != '\0' &&
	    runs_get(app->store, run_id, "first_event_id", first, sizeof(first)) == 1 &&
	    events_valid_id(first)) {
		events_id_before(first, after, cap);
		return 0;
	}
	snprintf(after, cap, "%s", last_id);
	return 0;
}

/* Takes or renews the slot: 1 held, 0 the user is at the cap, -1 Redis. */
static int
slot_take(struct app *app, struct stream_slot *sl)
{
	const struct config	*cfg = app->cfg;
	redisReply		*rep;
	char			 now[32], cap[32], exp[32], ttl[32];
	long long		 t = (long long)time(NULL);
	int			 rv;

	snprintf(now, sizeof(now), "%lld", t);
	snprintf(cap, sizeof(cap), "%lld", cfg->max_streams_per_user);
	snprintf(exp, sizeof(exp), "%lld", t + SLOT_TTL(cfg));
	snprintf(ttl, sizeof(ttl), "%lld", SLOT_TTL(cfg) + 60);
	rep = store_cmdv(app->store, "EVAL", slot_script, "1", sl->key, now, cap,
	    exp, sl->id, ttl, NULL);
	if (rep == NULL)
		return -1;
	rv = rep->type == REDIS_REPLY_INTEGER && rep->integer == 1;
	freeReplyObject(rep);
	sl->held = rv;
	return rv;
}

static void
slot_release(struct app *app, struct stream_slot *sl)
{
	redisReply	*rep;

	if (!sl->held)
		return;
	sl->held = 0;
	if ((rep = store_cmdv(app->store, "ZREM", sl->key, sl->id, NULL)) != NULL)
		freeReplyObject(rep);
}

int
events_slot_renew(struct app *app, const char *user, const char *slot_id)
{
	struct stream_slot	 sl;

	memset(&sl, 0, sizeof(sl));
	snprintf(sl.key, sizeof(sl.key), CW_KP "streams:%s", user);
	snprintf(sl.id, sizeof(sl.id), "%s", slot_id);
	return slot_take(app, &sl);
}

/*
 * Renews n slots in one round trip (the stream loop's ticks of one turn):
 * the same script as slot_take for each, pipelined. rv[i] as
 * events_slot_renew. At most EVENTS_RENEW_MAX at once.
 */
void
events_slot_renew_many(struct app *app, int n, const char *const *users,
    const char *const *slots, int *rv)
{
	const struct config	*cfg = app->cfg;
	struct store_pcmd	 cmds[EVENTS_RENEW_MAX];
	const char		*argv[EVENTS_RENEW_MAX][9];
	char			 keys[EVENTS_RENEW_MAX][160];
	redisReply		*out[EVENTS_RENEW_MAX];
	char			 now[32], cap[32], exp[32], ttl[32];
	long long		 t = (long long)time(NULL);
	int			 i;

	if (n > EVENTS_RENEW_MAX)
		n = EVENTS_RENEW_MAX;
	snprintf(now, sizeof(now), "%lld", t);
	snprintf(cap, sizeof(cap), "%lld", cfg->max_streams_per_user);
	snprintf(exp, sizeof(exp), "%lld", t + SLOT_TTL(cfg));
	snprintf(ttl, sizeof(ttl), "%lld", SLOT_TTL(cfg) + 60);
	for (i = 0; i < n; i++) {
		snprintf(keys[i], sizeof(keys[i]), CW_KP "streams:%s", users[i]);
		argv[i][0] = "EVAL";
		argv[i][1] = slot_script;
		argv[i][2] = "1";
		argv[i][3] = keys[i];
		argv[i][4] = now;
		argv[i][5] = cap;
		argv[i][6] = exp;
		argv[i][7] = slots[i];
		argv[i][8] = ttl;
		cmds[i].argc = 9;
		cmds[i].argv = argv[i];
		cmds[i].lens = NULL;
		out[i] = NULL;
	}
	if (n > 0)
		(void)store_pipe(app->store, n, cmds, out);
	for (i = 0; i < n; i++) {
		if (out[i] == NULL) {
			rv[i] = -1;
			continue;
		}
		rv[i] = out[i]->type == REDIS_REPLY_INTEGER && out[i]->integer == 1;
		freeReplyObject(out[i]);
	}
}

void
events_slot_release(struct app *app, const char *user, const char *slot_id)
{
	struct stream_slot	 sl;

	memset(&sl, 0, sizeof(sl));
	snprintf(sl.key, sizeof(sl.key), CW_KP "streams:%s", user);
	snprintf(sl.id, sizeof(sl.id), "%s", slot_id);
	sl.held = 1;
	slot_release(app, &sl);
}

void
events_stream_ended(const char *why, const char *sid, const char *user,
    const char *request_id)
{
	log_kv(LOG_INFO, "event stream ended", "s:reason", why,
	    "s:session_id", sid, "s:user", user, "s:request_id",
	    request_id ? request_id : "", NULL);
}

/*
 * Is the stream still allowed? Runs the opening checks again (token,
 * revocation, the account's token generation, disabled/deleted account,
 * session ownership) on the request's own Authorization/Cookie (libfcgi
 * keeps the params until FCGX_Finish_r, so no copy of the token is kept).
 * NULL when it is, else why not. The checks write an error response into
 * r; the stream's headers are long gone, so that is discarded.
 */
const char *
events_recheck(struct http_req *r, struct app *app, const char *sid)
{
	struct auth_user	 u;
	struct session		 s;
	const char		*why = NULL;

	if (auth_identify(r, app, &u) == -1)
		why = r->status == 503 ? "store unavailable" : "token no longer valid";
	else if (h_session_load(r, app, &u, &s) == -1)
		why = r->status == 503 ? "store unavailable" :
		    "session gone or no longer accessible";
	else if (strcmp(s.id, sid) != 0)
		why = "session changed";
	r->status = 200;
	buf_reset(&r->body);
	buf_reset(&r->headers);
	return why;
}

/* Hands the open stream to the loop: headers and snapshot go out first. */
static int
adopt(struct http_req *r, struct app *app, const struct session *s,
    const struct auth_user *u, struct stream_slot *sl, const char *run_id,
    const char *last_id, const char *after)
{
	struct stream_open	 so;
	struct buf		 b;
	int			 rc;

	buf_init(&b, 4 * 1024 * 1024);
	if (buf_append(&b, sse_head, sizeof(sse_head) - 1) == -1 ||
	    snapshot_text(&b, app, s, run_id, last_id, after) == -1) {
		buf_free(&b);
		slot_release(app, sl);
		return http_error(r, 500, NULL, "snapshot too large");
	}
	memset(&so, 0, sizeof(so));
	so.sid = s->id;
	so.user = u->name;
	so.slot_id = sl->id;
	so.after = after;
	so.last_id = last_id;
	so.head = b.p;
	so.head_len = b.len;
	rc = streamloop_adopt(r, app, &so);
	buf_free(&b);
	if (rc == -1) {
		slot_release(app, sl);
		return http_error(r, 503, "service_unavailable",
		    "this stream worker cannot take another stream");
	}
	r->sent = 1;
	r->status = 200;
	return 0;
}

int
h_events(struct http_req *r, struct app *app)
{
	const struct config	*cfg = app->cfg;
	struct auth_user	 u;
	struct session		 s;
	struct stream_slot	 sl;
	char			 after[64], last_id[64], run_id[64] = "", rnd[17];
	char			 ra[32];

	if (auth_require(r, app, &u) == -1 || h_session_load(r, app, &u, &s) == -1)
		return 0;
	if (!streamloop_active())
		return http_error(r, 500, NULL, "event streams are served by the "
		    "stream pool's event loop only");
	if (runs_active(app->store, s.id, run_id, sizeof(run_id)) == -1 ||
	    events_last_id(app->store, s.id, last_id, sizeof(last_id)) == -1)
		return http_error(r, 503, "service_unavailable",
		    "session store unavailable");
	if (start_point(r, app, run_id, last_id, after, sizeof(after)) == -1)
		return 0;

	memset(&sl, 0, sizeof(sl));
	snprintf(sl.key, sizeof(sl.key), CW_KP "streams:%s", u.name);
	if (auth_random_hex(rnd, 8) == -1)
		snprintf(rnd, sizeof(rnd), "%lld", mono_ms());
	snprintf(sl.id, sizeof(sl.id), "%ld-%s", (long)getpid(), rnd);
	switch (slot_take(app, &sl)) {
	case -1:
		return http_error(r, 503, "service_unavailable",
		    "session store unavailable");
	case 0:
		snprintf(ra, sizeof(ra), "%lld", cfg->sse_ping_interval);
		http_add_header(r, "Retry-After", ra);
		return http_error(r, 429, "rate_limited", "too many open event "
		    "streams: a user may hold %lld at once "
		    "(MAX_STREAMS_PER_USER); close another tab or window of "
		    "this app and retry", cfg->max_streams_per_user);
	}

	/* The stream loop holds the stream from here (streamloop.c). */
	return adopt(r, app, &s, &u, &sl, run_id, last_id, after);
}
