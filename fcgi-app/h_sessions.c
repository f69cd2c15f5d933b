/*
 * /api/sessions and /api/sessions/<id>: create, list (own, newest first,
 * cursor-paginated), read, rename/reconfigure, delete. Another user's
 * session answers 404 exactly like a missing one.
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth.h"
#include "config.h"
#include "handlers.h"
#include "http.h"
#include "jsonio.h"
#include "models.h"
#include "sessions.h"
#include "store.h"

#define LIST_DEFAULT	20
#define LIST_MAX	100

json_object *
h_session_json(const struct config *cfg, const struct session *s)
{
	json_object	*o = json_object_new_object();
	char		 path[PATH_MAX];

	json_object_object_add(o, "id", json_object_new_string(s->id));
	json_object_object_add(o, "title", json_object_new_string(s->title));
	json_object_object_add(o, "model", json_object_new_string(s->model));
	json_object_object_add(o, "permission_mode",
	    json_object_new_string(s->permission_mode));
	json_object_object_add(o, "template", s->template_name[0] ?
	    json_object_new_string(s->template_name) : NULL);
	json_object_object_add(o, "owner", json_object_new_string(s->owner));
	json_object_object_add(o, "status", json_object_new_string(s->status));
	json_object_object_add(o, "created_at",
	    jsonio_time((long)(s->created_us / 1000000)));
	json_object_object_add(o, "updated_at", jsonio_time(s->updated_at));
	json_object_object_add(o, "last_activity", jsonio_time(s->last_activity));
	if (sessions_path(cfg, s->id, "files", path, sizeof(path)) == 0)
		json_object_object_add(o, "files_path", json_object_new_string(path));
	return o;
}

/*
 * Loads the session named by the route and checks the caller may see it:
 * its owner, or an admin. Returns 0, or -1 with 404/503 written.
 */
int
h_session_load(struct http_req *r, struct app *app, const struct auth_user *u,
    struct session *s)
{
	const char	*id = r->params[0];
	int		 rv;

	rv = id != NULL ? sessions_get(app->store, id, s) : 0;
	if (rv == -1) {
		http_error(r, 503, "service_unavailable", "session store unavailable");
		return -1;
	}
	if (rv == 0 || (strcmp(s->owner, u->name) != 0 &&
	    strcmp(u->role, "admin") != 0)) {
		http_error(r, 404, NULL, "no such session");
		return -1;
	}
	return 0;
}

/* Validates and applies title/model/permission_mode from body; -1 on 400. */
static int
apply_fields(struct http_req *r, json_object *body, struct session *s, int *changed)
{
	const char	*title, *model, *mode;

	*changed = 0;
	if (jsonio_str(r, body, "title", 0, SESSION_TITLE_MAX, &title) == -1 ||
	    jsonio_str(r, body, "model", 0, SESSION_MODEL_MAX, &model) == -1 ||
	    jsonio_str(r, body, "permission_mode", 0, 32, &mode) == -1)
		return -1;
	if (model != NULL && (!sessions_valid_model(model) ||
	    models_find(model) == NULL)) {
		http_error(r, 400, NULL, "field 'model': '%.100s' is not a known model "
		    "(GET /api/models lists them)", model);
		return -1;
	}
	if (mode != NULL && !sessions_valid_mode(mode)) {
		http_error(r, 400, NULL, "field 'permission_mode' must be one of "
		    "default, acceptEdits, plan, bypassPermissions");
		return -1;
	}
	if (title != NULL) {
		snprintf(s->title, sizeof(s->title), "%s", title);
		(*changed)++;
	}
	if (model != NULL) {
		snprintf(s->model, sizeof(s->model), "%s", model);
		(*changed)++;
	}
	if (mode != NULL) {
		snprintf(s->permission_mode, sizeof(s->permission_mode), "%s", mode);
		(*changed)++;
	}
	return 0;
}

/* The session's accumulated token usage and cost (zeros before any run). */
static json_object *
session_usage(struct app *app, const char *sid)
{
	static const char *const f[] = { "input_tokens", "output_tokens",
	    "cache_creation_input_tokens", "cache_read_input_tokens", "cost_usd" };
	json_object	*u = json_object_new_object();
	redisReply	*r;
	char		 key[96];
	size_t		 i;

	snprintf(key, sizeof(key), "cw:usage:session:%s", sid);
	r = store_cmdv(app->store, "HMGET", key, f[0], f[1], f[2], f[3], f[4], NULL);
	for (i = 0; i < 5; i++) {
		const char *v = (r && r->type == REDIS_REPLY_ARRAY && r->elements == 5) ?
		    r->element[i]->str : NULL;

		if (i == 4)
			json_object_object_add(u, f[i], json_object_new_double(
			    v ? strtod(v, NULL) : 0.0));
		else
			json_object_object_add(u, f[i], json_object_new_int64(
			    v ? strtoll(v, NULL, 10) : 0));
	}
	if (r != NULL)
		freeReplyObject(r);
	return u;
}

int
h_models(struct http_req *r, struct app *app)
{
	const struct model_info	*m;
	struct auth_user	 u;
	json_object		*arr, *o, *e;
	int			 n, i;

	if (auth_require(r, app, &u) == -1)
		return 0;
	m = models_all(&n);
	arr = json_object_new_array();
	for (i = 0; i < n; i++) {
		e = json_object_new_object();
		json_object_object_add(e, "id", json_object_new_string(m[i].id));
		json_object_object_add(e, "name", json_object_new_string(m[i].name));
		json_object_object_add(e, "context_window",
		    json_object_new_int64(m[i].context_window));
		json_object_object_add(e, "input_price_per_mtok",
		    json_object_new_double(m[i].in_price));
		json_object_object_add(e, "output_price_per_mtok",
		    json_object_new_double(m[i].out_price));
		json_object_object_add(e, "cache_write_price_per_mtok",
		    json_object_new_double(m[i].cache_write_price));
		json_object_object_add(e, "cache_read_price_per_mtok",
		    json_object_new_double(m[i].cache_read_price));
		json_object_array_add(arr, e);
	}
	o = json_object_new_object();
	json_object_object_add(o, "models", arr);
	json_object_object_add(o, "default", json_object_new_string(app->cfg->claude_model));
	return jsonio_reply_put(r, 200, o);
}

static int
create(struct http_req *r, struct app *app, const struct auth_user *u)
{
	struct session	 s;
	json_object	*body = NULL;
	const char	*tpl = NULL;
	char		 loc[128];
	int		 changed;

	memset(&s, 0, sizeof(s));
	snprintf(s.owner, sizeof(s.owner), "%s", u->name);
	snprintf(s.title, sizeof(s.title), "New session");
	snprintf(s.model, sizeof(s.model), "%s", app->cfg->claude_model);
	snprintf(s.permission_mode, sizeof(s.permission_mode), "default");
	if (r->content_length > 0) {
		if (jsonio_body(r, &body) == -1)
			return 0;
		if (apply_fields(r, body, &s, &changed) == -1 ||
		    jsonio_str(r, body, "template", 0, 100, &tpl) == -1)
			goto out;
		if (tpl != NULL && !sessions_valid_template(tpl)) {
			http_error(r, 400, NULL, "field 'template' is not a valid "
			    "template name");
			goto out;
		}
		if (tpl != NULL)
			snprintf(s.template_name, sizeof(s.template_name), "%s", tpl);
	}
	switch (sessions_create(app->store, app->cfg, &s)) {
	case SESS_OK:
		snprintf(loc, sizeof(loc), "/api/sessions/%s", s.id);
		http_add_header(r, "Location", loc);
		jsonio_reply_put(r, 201, h_session_json(app->cfg, &s));
		break;
	case SESS_ELIMIT:
		http_error(r, 409, "session_limit", "you already have the maximum "
		    "of %lld sessions; delete one first", app->cfg->max_sessions);
		break;
	case SESS_ETEMPLATE:
		http_error(r, 400, NULL, "field 'template': no template named '%s'",
		    s.template_name);
		break;
	case SESS_EREDIS:
		http_error(r, 503, "service_unavailable", "session store unavailable");
		break;
	default:
		http_error(r, 500, NULL, "could not create the session workspace");
		break;
	}
out:
	if (body != NULL)
		json_object_put(body);
	return 0;
}

struct list_ctx {
	const struct config	*cfg;
	json_object		*arr;
};

static void
list_one(const struct session *s, void *arg)
{
	struct list_ctx	*lc = arg;

	json_object_array_add(lc->arr, h_session_json(lc->cfg, s));
}

static int
list(struct http_req *r, struct app *app, const struct auth_user *u)
{
	struct list_ctx	 lc;
	json_object	*o;
	char		 v[64];
	long long	 limit = LIST_DEFAULT, cursor = 0, next;
	int		 all = 0, rv;

	if ((rv = http_query_get(&r->uri, "limit", v, sizeof(v))) != 0 &&
	    (rv == -1 || config_parse_ll(v, &limit) == -1 || limit < 1 ||
	    limit > LIST_MAX))
		return http_error(r, 400, NULL, "query parameter 'limit' must be "
		    "an integer from 1 to %d", LIST_MAX);
	if ((rv = http_query_get(&r->uri, "cursor", v, sizeof(v))) != 0 &&
	    v[0] != '\0' && (rv == -1 || config_parse_ll(v, &cursor) == -1 ||
	    cursor < 0))
		return http_error(r, 400, NULL, "query parameter 'cursor' is not "
		    "a cursor returned by this endpoint");
	if (http_query_get(&r->uri, "all", v, sizeof(v)) == 1 &&
	    (strcmp(v, "1") == 0 || strcmp(v, "true") == 0)) {
		if (strcmp(u->role, "admin") != 0)
			return http_error(r, 403, "permission_error",
			    "only admins may list all sessions");
		all = 1;
	}
	lc.cfg = app->cfg;
	lc.arr = json_object_new_array();
	if (sessions_list(app->store, all ? NULL : u->name, cursor, (int)limit,
	    list_one, &lc, &next) == -1) {
		json_object_put(lc.arr);
		return http_error(r, 503, "service_unavailable",
		    "session store unavailable");
	}
	o = json_object_new_object();
	json_object_object_add(o, "sessions", lc.arr);
	if (next > 0) {
		snprintf(v, sizeof(v), "%lld", next);
		json_object_object_add(o, "next_cursor", json_object_new_string(v));
	} else
		json_object_object_add(o, "next_cursor", NULL);
	return jsonio_reply_put(r, 200, o);
}

int
h_sessions(struct http_req *r, struct app *app)
{
	struct auth_user	 u;

	if (auth_require(r, app, &u) == -1)
		return 0;
	return r->method == HTTP_POST ? create(r, app, &u) : list(r, app, &u);
}

int
h_session(struct http_req *r, struct app *app)
{
	struct auth_user	 u;
	struct session		 s;
	json_object		*body;
	int			 changed;

	if (auth_require(r, app, &u) == -1 || h_session_load(r, app, &u, &s) == -1)
		return 0;
	switch (r->method) {
	case HTTP_DELETE:
		if (sessions_delete(app->store, app->cfg, &s) == -1)
			return http_error(r, 500, NULL, "could not delete the session");
		r->status = 204;
		return 0;
	case HTTP_PATCH:
		if (jsonio_body(r, &body) == -1)
			return 0;
		if (apply_fields(r, body, &s, &changed) == 0) {
			if (changed == 0)
				http_error(r, 400, NULL, "nothing to change: send title, "
				    "model or permission_mode");
			else if (sessions_save(app->store, app->cfg, &s) == -1)
				http_error(r, 503, "service_unavailable",
				    "session store unavailable");
			else
				jsonio_reply_put(r, 200, h_session_json(app->cfg, &s));
		}
		json_object_put(body);
		return 0;
	default:
		sessions_touch(app->store, &s);
		{
			json_object *o = h_session_json(app->cfg, &s);

			json_object_object_add(o, "usage", session_usage(app, s.id));
			return jsonio_reply_put(r, 200, o);
		}
	}
}
