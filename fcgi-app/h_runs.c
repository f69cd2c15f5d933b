/*
 * Runs of a session: send a message (queues a run), read the history,
 * cancel the active run, compact on demand.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "attach.h"
#include "auth.h"
#include "commands.h"
#include "config.h"
#include "handlers.h"
#include "history.h"
#include "http.h"
#include "jsonio.h"
#include "notices.h"
#include "quota.h"
#include "runs.h"
#include "scheduler.h"
#include "scoreboard.h"
#include "sessions.h"
#include "store.h"

#define CONTENT_MAX	(200 * 1024)
#define BLOCKS_MAX	64
#define COMPACT_FOCUS_MAX	2000

/* content: a non-empty string, or an array of text and image blocks. */
static json_object *
valid_content(struct http_req *r, json_object *body)
{
	json_object	*c, *b, *t, *txt, *out, *img;
	size_t		 i, n, nimg = 0;

	if (!json_object_object_get_ex(body, "content", &c) || c == NULL) {
		http_error(r, 400, NULL, "field 'content' is required");
		return NULL;
	}
	if (json_object_is_type(c, json_type_string)) {
		n = (size_t)json_object_get_string_len(c);
		if (n == 0 || n > CONTENT_MAX) {
			http_error(r, 400, NULL, "field 'content' must be 1 to %d "
			    "characters", CONTENT_MAX);
			return NULL;
		}
		return json_object_new_string_len(json_object_get_string(c), (int)n);
	}
	if (!json_object_is_type(c, json_type_array) ||
	    (n = json_object_array_length(c)) == 0 || n > BLOCKS_MAX) {
		http_error(r, 400, NULL, "field 'content' must be a string or an "
		    "array of 1 to %d content blocks", BLOCKS_MAX);
		return NULL;
	}
	out = json_object_new_array();
	for (i = 0; i < n; i++) {
		b = json_object_array_get_idx(c, i);
		/* Images (attach.c): type and magic bytes, base64, size. */
		if (json_object_is_type(b, json_type_object) &&
		    json_object_object_get_ex(b, "type", &t) &&
		    json_object_is_type(t, json_type_string) &&
		    strcmp(json_object_get_string(t), "image") == 0) {
			if (++nimg > ATTACH_IMAGES_MAX) {
				json_object_put(out);
				http_error(r, 400, NULL, "field 'content[%zu]': at most "
				    "%d images per message", i, ATTACH_IMAGES_MAX);
				return NULL;
			}
			if ((img = attach_image_block(r, b, i)) == NULL) {
				json_object_put(out);
				return NULL;
			}
			json_object_array_add(out, img);
			continue;
		}
		if (!json_object_is_type(b, json_type_object) ||
		    !json_object_object_get_ex(b, "type", &t) ||
		    !json_object_is_type(t, json_type_string) ||
		    strcmp(json_object_get_string(t), "text") != 0 ||
		    !json_object_object_get_ex(b, "text", &txt) ||
		    !json_object_is_type(txt, json_type_string) ||
		    json_object_get_string_len(txt) == 0 ||
		    json_object_get_string_len(txt) > CONTENT_MAX) {
			json_object_put(out);
			http_error(r, 400, NULL, "field 'content[%zu]' must be "
			    "{\"type\":\"text\",\"text\":\"...\"} with non-empty text "
			    "or an image block", i);
			return NULL;
		}
		b = json_object_new_object();
		json_object_object_add(b, "type", json_object_new_string("text"));
		json_object_object_add(b, "text", json_object_get(txt));
		json_object_array_add(out, b);
	}
	return out;
}

/*
 * A custom slash command expanded here (commands.h): the stored user
 * message is the command file's text with $ARGUMENTS replaced.
 */
static json_object *
command_content(struct http_req *r, struct app *app, const struct session *s,
    json_object *body)
{
	const char	*name, *args = "";
	struct buf	 out, clean;
	json_object	*c = NULL;

	if (jsonio_str(r, body, "command", 1, COMMANDS_NAME_MAX + 1, &name) == -1 ||
	    jsonio_str(r, body, "arguments", 0, COMMANDS_ARGS_MAX, &args) == -1)
		return NULL;
	if (args == NULL)
		args = "";
	if (json_object_object_get_ex(body, "content", NULL)) {
		http_error(r, 400, NULL, "send either 'content' or 'command', not both");
		return NULL;
	}
	if (!commands_valid_name(name)) {
		http_error(r, 400, NULL, "field 'command' must be 1 to %d of "
		    "[A-Za-z0-9_-]", COMMANDS_NAME_MAX);
		return NULL;
	}
	buf_init(&out, CONTENT_MAX);
	switch (commands_expand(app->cfg, s->id, name, args, &out)) {
	case CMD_OK:
		if (out.len == 0) {
			http_error(r, 400, NULL, "the command /%s is empty", name);
			break;
		}
		buf_init(&clean, out.len * 3 + 16);
		buf_utf8_clean(&clean, out.p, out.len);
		c = json_object_new_string_len(clean.p, (int)clean.len);
		buf_free(&clean);
		break;
	case CMD_ENOENT:
		http_error(r, 404, NULL, "no custom command /%s (commands are "
		    "/workspace/.claude/commands/<name>.md)", name);
		break;
	case CMD_ELINK:
		http_error(r, 400, NULL, "the command file of /%s is not a regular "
		    "file (symbolic links are not followed)", name);
		break;
	case CMD_EBIG:
		http_error(r, 413, NULL, "the command /%s is too large: command "
		    "files may have %d bytes, the expanded message %d", name,
		    COMMANDS_FILE_MAX, CONTENT_MAX);
		break;
	default:
		http_error(r, 500, NULL, "the command /%s could not be read", name);
		break;
	}
	buf_free(&out);
	return c;
}

static int
queue(struct http_req *r, struct app *app, const struct auth_user *u,
    const struct session *s, const char *kind, json_object *content)
{
	json_object	*o;
	struct sched_pos pos;
	char		 run_id[RUN_ID_LEN + 1], qmsg[400];
	int		 rv;

	/* A session over SESSION_DISK_QUOTA_MB takes no new messages. */
	if (strcmp(kind, "message") == 0 && quota_exceeded_why(app->cfg, s->id,
	    qmsg, sizeof(qmsg)) == 1)
		return http_error(r, 507, "insufficient_storage", "%s", qmsg);
	rv = sched_queue(app->store, app->cfg, s->id, u->name, kind, content,
	    run_id, &pos);
	if (rv == -2 && errno == ENOENT)
		return http_error(r, 404, NULL, "no such session");
	if (rv == -2 && (errno == ENOSPC || errno == EDQUOT))
		return http_error(r, 507, "insufficient_storage", "the server's "
		    "disk is full; the message was not queued");
	if (rv == -2)
		return http_error(r, 500, NULL, "the message could not be stored");
	if (rv == -1)
		return http_error(r, 503, "service_unavailable",
		    app->store->last == STORE_ERR_OOM ? "the session store is "
		    "full; try again later" : "session store unavailable");
	if (rv == 2)
		return http_error(r, 404, NULL, "no such session");
	if (rv == 1)
		return http_error(r, 409, "conflict", app->cfg->session_queue_max > 0 ?
		    "this session already has %d messages queued behind its "
		    "current run; wait, or remove one" : "a run is already active "
		    "in this session; wait for it or cancel it",
		    app->cfg->session_queue_max);
	/* The master sizes the runner pool from this (it never reads Redis). */
	scoreboard_set_backlog(app->sb, pos.ready);
	o = json_object_new_object();
	snprintf(r->log_run, sizeof(r->log_run), "%s", run_id);
	json_object_object_add(o, "run_id", json_object_new_string(run_id));
	json_object_object_add(o, "session_id", json_object_new_string(s->id));
	json_object_object_add(o, "kind", json_object_new_string(kind));
	json_object_object_add(o, "status", json_object_new_string("queued"));
	json_object_object_add(o, "state", json_object_new_string(pos.state));
	json_object_object_add(o, "ahead", json_object_new_int64(pos.ahead));
	return jsonio_reply_put(r, 202, o);
}

/* .claude/tool_details.jsonl as {tool_use_id: detail}, the last line winning. */
static json_object *
tool_details(struct app *app, const char *sid)
{
	json_object	*map = json_object_new_object(), *d, *id;
	char		 path[PATH_MAX];
	char		*line = NULL;
	size_t		 cap = 0;
	FILE		*fp;

	if (sessions_path(app->cfg, sid, ".claude/tool_details.jsonl", path,
	    sizeof(path)) == -1 || (fp = fopen(path, "re")) == NULL)
		return map;
	while (getline(&line, &cap, fp) != -1) {
		if ((d = json_tokener_parse(line)) == NULL)
			continue;
		if (json_object_object_get_ex(d, "tool_use_id", &id) &&
		    json_object_is_type(id, json_type_string))
			json_object_object_add(map, json_object_get_string(id), d);
		else
			json_object_put(d);
	}
	free(line);
	fclose(fp);
	return map;
}

int
h_messages(struct http_req *r, struct app *app)
{
	struct auth_user	 u;
	struct session		 s;
	json_object		*body, *content, *h, *o, *v, *q;

	if (auth_require(r, app, &u) == -1 || h_session_load(r, app, &u, &s) == -1)
		return 0;
	if (r->method == HTTP_POST) {
		/* Larger than other JSON bodies: images come base64-encoded. */
		if (jsonio_body_cap(r, ATTACH_BODY_MAX, &body) == -1)
			return 0;
		/* {"command","arguments"?}: a custom command (commands.h). */
		if (json_object_object_get_ex(body, "command", NULL))
			content = command_content(r, app, &s, body);
		else
			content = valid_content(r, body);
		/* @-mentioned files ("attachments", attach.h): text blocks first. */
		if (content != NULL) {
			if (attach_files(r, app->cfg, s.id, body, &content) == 0 &&
			    attach_room(r, app->cfg, s.id, content) == 0)
				queue(r, app, &u, &s, "message", content);
			json_object_put(content);
		}
		json_object_put(body);
		return 0;
	}
	/*
	 * While a run is live (running, or parked on an approval) its open
	 * tool calls are not interrupted: show them unanswered, as they are.
	 */
	{
		char	 cur[RUN_ID_LEN + 8];

		h = history_load_flags(app->cfg, s.id, runs_active(app->store, s.id,
		    cur, sizeof(cur)) == 1 ? HISTORY_KEEP_OPEN_TAIL : 0);
	}
	if (h == NULL)
		return http_error(r, 500, NULL, "the session history is unreadable");
	o = json_object_new_object();
	json_object_object_add(o, "session_id", json_object_new_string(s.id));
	json_object_object_get_ex(h, "messages", &v);
	json_object_object_add(o, "messages", json_object_get(v));
	json_object_object_add(o, "tool_details", tool_details(app, s.id));
	/* Approvals, errors, stops, retries, resumes (notices.h). */
	json_object_object_add(o, "notices", notices_load(app->cfg, s.id));
	/* After /clear: when, and where the earlier conversation went. */
	if (json_object_object_get_ex(h, "cleared", &v))
		json_object_object_add(o, "cleared", json_object_get(v));
	/* Runs not started yet: their prompts are not in the history. */
	q = sched_queued(app->store, app->cfg, s.id);
	json_object_object_add(o, "queued", q != NULL ? q : json_object_new_array());
	json_object_put(h);
	return jsonio_reply_put(r, 200, o);
}

/*
 * A run closed by the API itself (never started, or stale): its final
 * event came from the scheduler's script, so its notice is written here.
 */
static void
closed_notice(struct app *app, const char *sid, const char *run_id,
    const char *event, const char *by)
{
	json_object	*d = json_object_new_object();
	char		 started[32] = "";

	(void)runs_get(app->store, run_id, "started_at", started, sizeof(started));
	json_object_object_add(d, "started", json_object_new_boolean(started[0] != '\0'));
	if (strcmp(event, "run.cancelled") == 0)
		json_object_object_add(d, "reason", json_object_new_string(
		    started[0] != '\0' ? "stale" : "cancelled"));
	notices_event(app->cfg, sid, run_id, event, d, NULL, by);
	json_object_put(d);
}

int
h_cancel(struct http_req *r, struct app *app)
{
	struct auth_user	 u;
	struct session		 s;
	json_object		*o;
	char			 run_id[RUN_ID_LEN + 8];
	int			 rv;

	if (auth_require(r, app, &u) == -1 || h_session_load(r, app, &u, &s) == -1)
		return 0;
	/* Noted before the cancel flag, so the run's run.cancelled names them. */
	if (runs_active(app->store, s.id, run_id, sizeof(run_id)) == 1)
		(void)runs_set(app->store, run_id, "cancelled_by", u.name);
	if ((rv = sched_cancel(app->store, app->cfg, s.id, run_id,
	    sizeof(run_id))) == -1)
		return http_error(r, 503, "service_unavailable",
		    "session store unavailable");
	if (rv == 0)
		return http_error(r, 409, "conflict", "no run is active in this session");
	/* Who stopped it: the runner's run.cancelled notice names them. */
	(void)runs_set(app->store, run_id, "cancelled_by", u.name);
	if (rv == 2)
		closed_notice(app, s.id, run_id, "run.cancelled", u.name);
	o = json_object_new_object();
	snprintf(r->log_run, sizeof(r->log_run), "%s", run_id);
	json_object_object_add(o, "run_id", json_object_new_string(run_id));
	/* 2: it had not started, or was stale (no job, no runner): closed now. */
	json_object_object_add(o, "status", json_object_new_string(rv == 1 ?
	    "cancelling" : "cancelled"));
	return jsonio_reply_put(r, rv == 1 ? 202 : 200, o);
}

int
h_compact(struct http_req *r, struct app *app)
{
	struct auth_user	 u;
	struct session		 s;

	json_object		*body = NULL, *content = NULL;
	const char		*focus = NULL;

	if (auth_require(r, app, &u) == -1 || h_session_load(r, app, &u, &s) == -1)
		return 0;
	/* Optional {"focus"}: what the summary should keep (/compact [focus]). */
	if (r->content_length > 0) {
		if (jsonio_body(r, &body) == -1)
			return 0;
		if (jsonio_str(r, body, "focus", 0, COMPACT_FOCUS_MAX, &focus) == -1) {
			json_object_put(body);
			return 0;
		}
		if (focus != NULL && *focus != '\0') {
			content = json_object_new_object();
			json_object_object_add(content, "focus",
			    json_object_new_string(focus));
		}
	}
	queue(r, app, &u, &s, "compact", content);
	if (content != NULL)
		json_object_put(content);
	if (body != NULL)
		json_object_put(body);
	return 0;
}

/*
 * POST /api/sessions/:id/clear: a new conversation, same files (/clear).
 * Refused while a run is active or queued; otherwise a "clear" run
 * archives .claude/history.json (the runner holds the session's lock, so
 * no run can write the history meanwhile) and starts an empty one.
 */
int
h_clear(struct http_req *r, struct app *app)
{
	struct auth_user	 u;
	struct session		 s;
	char			 cur[RUN_ID_LEN + 8];
	int			 rv;

	if (auth_require(r, app, &u) == -1 || h_session_load(r, app, &u, &s) == -1)
		return 0;
	if ((rv = runs_active(app->store, s.id, cur, sizeof(cur))) == -1)
		return http_error(r, 503, "service_unavailable",
		    "session store unavailable");
	if (rv == 1)
		return http_error(r, 409, "conflict", "a run is active in this "
		    "session; stop it (or wait for it) before clearing the "
		    "conversation");
	return queue(r, app, &u, &s, "clear", NULL);
}

/* GET /api/sessions/:id/commands: the custom slash commands (commands.h). */
int
h_commands(struct http_req *r, struct app *app)
{
	struct auth_user	 u;
	struct session		 s;
	json_object		*o;

	if (auth_require(r, app, &u) == -1 || h_session_load(r, app, &u, &s) == -1)
		return 0;
	o = json_object_new_object();
	json_object_object_add(o, "commands", commands_list(app->cfg, s.id));
	return jsonio_reply_put(r, 200, o);
}

/* A run id is RUN_ID_LEN lowercase hex digits. */
static int
valid_run_id(const char *id)
{
	size_t	 i;

	if (id == NULL || strlen(id) != RUN_ID_LEN)
		return 0;
	for (i = 0; i < RUN_ID_LEN; i++)
		if (!((id[i] >= '0' && id[i] <= '9') || (id[i] >= 'a' && id[i] <= 'f')))
			return 0;
	return 1;
}

/* DELETE /api/sessions/:id/runs/:run_id: a queued message taken back. */
int
h_run(struct http_req *r, struct app *app)
{
	struct auth_user	 u;
	struct session		 s;
	json_object		*o;
	int			 rv;

	if (auth_require(r, app, &u) == -1 || h_session_load(r, app, &u, &s) == -1)
		return 0;
	if (!valid_run_id(r->params[1]))
		return http_error(r, 404, NULL, "no such run");
	rv = sched_remove(app->store, app->cfg, s.id, r->params[1]);
	if (rv == -1)
		return http_error(r, 503, "service_unavailable",
		    "session store unavailable");
	if (rv == 2)
		return http_error(r, 404, NULL, "no such run");
	if (rv == 1)
		return http_error(r, 409, "conflict", "this run has already started "
		    "(or ended); cancel it instead");
	closed_notice(app, s.id, r->params[1], "run.removed", u.name);
	o = json_object_new_object();
	json_object_object_add(o, "run_id", json_object_new_string(r->params[1]));
	json_object_object_add(o, "status", json_object_new_string("removed"));
	return jsonio_reply_put(r, 200, o);
}

static int
require_admin(struct http_req *r, struct app *app, struct auth_user *u)
{
	if (auth_require(r, app, u) == -1)
		return -1;
	if (strcmp(u->role, "admin") != 0) {
		http_error(r, 403, "forbidden", "administrators only");
		return -1;
	}
	return 0;
}

/* GET /api/admin/runs: every run not yet final, whoever it belongs to. */
int
h_admin_runs(struct http_req *r, struct app *app)
{
	struct auth_user	 u;
	json_object		*o, *runs;

	if (require_admin(r, app, &u) == -1)
		return 0;
	if ((runs = sched_list(app->store)) == NULL)
		return http_error(r, 503, "service_unavailable",
		    "session store unavailable");
	o = json_object_new_object();
	json_object_object_add(o, "runs", runs);
	return jsonio_reply_put(r, 200, o);
}

/* POST /api/admin/runs/:run_id/cancel */
int
h_admin_run_cancel(struct http_req *r, struct app *app)
{
	struct auth_user	 u;
	json_object		*o;
	int			 rv;

	if (require_admin(r, app, &u) == -1)
		return 0;
	if (!valid_run_id(r->params[0]))
		return http_error(r, 404, NULL, "no such run");
	if ((rv = sched_cancel_run(app->store, app->cfg, r->params[0])) == -1)
		return http_error(r, 503, "service_unavailable",
		    "session store unavailable");
	if (rv == 0)
		return http_error(r, 409, "conflict", "this run is not active");
	(void)runs_set(app->store, r->params[0], "cancelled_by", u.name);
	if (rv == 2) {
		char sid[64] = "";

		/* Closed here (never started, or stale): its notice too. */
		if (runs_get(app->store, r->params[0], "session", sid, sizeof(sid)) == 1 &&
		    sessions_valid_id(sid))
			closed_notice(app, sid, r->params[0], "run.cancelled", u.name);
	}
	o = json_object_new_object();
	json_object_object_add(o, "run_id", json_object_new_string(r->params[0]));
	json_object_object_add(o, "status", json_object_new_string(rv == 1 ?
	    "cancelling" : "cancelled"));
	return jsonio_reply_put(r, rv == 1 ? 202 : 200, o);
}
