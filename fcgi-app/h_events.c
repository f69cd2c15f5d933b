/*
 * GET /api/sessions/<id>/events: the session's event log as SSE, served by
 * the stream pool. First a snapshot (status, active run, pending
 * permission requests, last event id), then every event after
 * Last-Event-ID / ?after= (or, without either, from the start of the
 * active run, else only new ones), each with its stream id as the SSE id.
 * A `ping` every SSE_PING_INTERVAL keeps proxies open and notices a
 * departed client. The stream ends when the client leaves, the worker is
 * told to quit, or SSE_MAX_DURATION passes; the client then reconnects
 * with Last-Event-ID and loses nothing.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <fcgiapp.h>

#include "auth.h"
#include "config.h"
#include "events.h"
#include "handlers.h"
#include "http.h"
#include "jsonio.h"
#include "perm.h"
#include "runs.h"
#include "scoreboard.h"
#include "sessions.h"
#include "store.h"
#include "worker.h"

static const char sse_head[] =
    "Status: 200 OK\r\nContent-Type: text/event-stream; charset=utf-8\r\n"
    "Cache-Control: no-cache, no-store\r\nX-Accel-Buffering: no\r\n\r\n"
    "retry: 2000\n\n";
#define XREAD_COUNT	"200"
/* Long enough to keep idle streams cheap, short enough for a prompt quit. */
#define XREAD_BLOCK	"5000"

static int
out(struct http_req *r, const char *s, size_t n)
{
	if (FCGX_PutStr(s, (int)n, r->fcgi->out) != (int)n)
		return -1;
	return 0;
}

static int
flush(struct http_req *r)
{
	return FCGX_FFlush(r->fcgi->out);
}

/* One SSE event; data is single-line JSON (json-c never emits raw newlines). */
static int
send_event(struct http_req *r, const char *id, const char *type,
    const char *data, size_t dlen)
{
	struct buf	 b;
	int		 rc;

	buf_init(&b, dlen + 256);
	if (id != NULL)
		buf_printf(&b, "id: %s\n", id);
	buf_printf(&b, "event: %s\ndata: ", type);
	buf_append(&b, data, dlen);
	buf_puts(&b, "\n\n");
	rc = out(r, b.p, b.len);
	buf_free(&b);
	return rc;
}

static int
snapshot(struct http_req *r, struct app *app, const struct session *s,
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
	rc = send_event(r, NULL, "snapshot", js, strlen(js));
	json_object_put(o);
	return rc;
}

/* Where to start: Last-Event-ID, ?after=, the active run's start, or now. */
static void
start_point(struct http_req *r, struct app *app, const char *run_id,
    const char *last_id, char *after, size_t cap)
{
	const char	*h = http_header(r, "Last-Event-ID");
	char		 q[64], first[64];

	if (h != NULL && events_valid_id(h)) {
		snprintf(after, cap, "%s", h);
		return;
	}
	if (http_query_get(&r->uri, "after", q, sizeof(q)) == 1 &&
	    (events_valid_id(q) || strcmp(q, "0") == 0)) {
		snprintf(after, cap, "%s", strcmp(q, "0") == 0 ? "0-0" : q);
		return;
	}
	if (run_id[0] != '\0' &&
	    runs_get(app->store, run_id, "first_event_id", first, sizeof(first)) == 1 &&
	    events_valid_id(first)) {
		events_id_before(first, after, cap);
		return;
	}
	snprintf(after, cap, "%s", last_id);
}

int
h_events(struct http_req *r, struct app *app)
{
	const struct config	*cfg = app->cfg;
	struct auth_user	 u;
	struct session		 s;
	redisReply		*rep, *entries, *e, *kv;
	char			 key[96], after[64], last_id[64], run_id[64] = "";
	const char		*type, *data;
	size_t			 i, j, dlen;
	time_t			 started = time(NULL), last_write;
	int			 rc;

	if (auth_require(r, app, &u) == -1 || h_session_load(r, app, &u, &s) == -1)
		return 0;
	if (r->fcgi == NULL)
		return http_error(r, 500, NULL, "streaming needs a FastCGI connection");
	if (runs_active(app->store, s.id, run_id, sizeof(run_id)) == -1 ||
	    events_last_id(app->store, s.id, last_id, sizeof(last_id)) == -1)
		return http_error(r, 503, "service_unavailable",
		    "session store unavailable");
	start_point(r, app, run_id, last_id, after, sizeof(after));

	/* From here on the response is streamed, not buffered. */
	r->sent = 1;
	r->status = 200;
	if (out(r, sse_head, sizeof(sse_head) - 1) == -1)
		return 0;
	if (snapshot(r, app, &s, run_id, last_id, after) == -1 || flush(r) == -1)
		return 0;
	last_write = time(NULL);
	snprintf(key, sizeof(key), "cw:events:%s", s.id);
	while (!worker_quitting() &&
	    time(NULL) - started < (time_t)cfg->sse_max_duration) {
		scoreboard_heartbeat(app->slot);
		rep = store_cmdv(app->store, "XREAD", "COUNT", XREAD_COUNT, "BLOCK",
		    XREAD_BLOCK, "STREAMS", key, after, NULL);
		if (rep == NULL) {
			/* Redis away: tell the client to come back shortly. */
			break;
		}
		rc = 0;
		if (rep->type == REDIS_REPLY_ARRAY && rep->elements == 1 &&
		    rep->element[0]->elements == 2) {
			entries = rep->element[0]->element[1];
			for (i = 0; i < entries->elements && rc == 0; i++) {
				e = entries->element[i];
				if (e->elements < 2 || e->element[1]->type != REDIS_REPLY_ARRAY)
					continue;
				kv = e->element[1];
				type = "message";
				data = "{}";
				dlen = 2;
				for (j = 0; j + 1 < kv->elements; j += 2) {
					if (strcmp(kv->element[j]->str, "type") == 0)
						type = kv->element[j + 1]->str;
					else if (strcmp(kv->element[j]->str, "data") == 0) {
						data = kv->element[j + 1]->str;
						dlen = kv->element[j + 1]->len;
					}
				}
				rc = send_event(r, e->element[0]->str, type, data, dlen);
				snprintf(after, sizeof(after), "%s", e->element[0]->str);
			}
			if (rc == 0)
				rc = flush(r);
			last_write = time(NULL);
		}
		freeReplyObject(rep);
		if (rc != 0)
			return 0;	/* the client left */
		if (time(NULL) - last_write >= (time_t)cfg->sse_ping_interval) {
			if (send_event(r, NULL, "ping", "{}", 2) == -1 || flush(r) == -1)
				return 0;
			last_write = time(NULL);
		}
	}
	return 0;
}
