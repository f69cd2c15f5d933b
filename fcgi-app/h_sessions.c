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
#include "buf.h"
#include "config.h"
#include "handlers.h"
#include "http.h"
#include "jsonio.h"
#include "keys.h"
#include "mcp.h"
#include "models.h"
#include "netpolicy.h"
#include "sessions.h"
#include "store.h"
#include "title.h"
#include "todo.h"

#define LIST_DEFAULT	20
#define LIST_MAX	100

/*
 * The session's network policy (netpolicy.h): what was chosen, the domains,
 * the caller's bound and what the sandbox gets under "on".
 */
static void
network_json(const struct config *cfg, const struct auth_user *u,
    const struct session *s, json_object *o)
{
	enum netpolicy	 p;

	if (netpolicy_parse(s->network_policy, &p) == -1)
		p = (enum netpolicy)cfg->network_default_policy;
	json_object_object_add(o, "network_policy",
	    json_object_new_string(netpolicy_name(p)));
	json_object_object_add(o, "allowed_domains", netpolicy_domains_json(
	    s->network_policy[0] ? s->allowed_domains : cfg->network_default_domains));
	if (u != NULL)
		json_object_object_add(o, "network_policy_max", json_object_new_string(
		    netpolicy_name(netpolicy_role_max(cfg, u->role))));
	json_object_object_add(o, "sandbox_network", json_object_new_boolean(
	    netpolicy_sandbox_network(cfg, netpolicy_effective(cfg, u != NULL &&
	    strcmp(u->name, s->owner) == 0 ? u->role : "user", netpolicy_name(p)))));
}

/*
 * network_policy and allowed_domains from body (creation and PATCH), bound
 * by the caller's role: 0, or -1 with 400/403 written.
 */
static int
apply_network(struct http_req *r, const struct config *cfg,
    const struct auth_user *u, json_object *body, struct session *s,
    int *changed)
{
	json_object	*v;
	const char	*pol;
	char		 dom[NETPOLICY_DOMAINS_LEN], err[160];
	enum netpolicy	 p, max = netpolicy_role_max(cfg, u->role);

	if (body == NULL)
		return 0;
	if (jsonio_str(r, body, "network_policy", 0, 16, &pol) == -1)
		return -1;
	if (pol != NULL && netpolicy_parse(pol, &p) == -1) {
		http_error(r, 400, NULL, "field 'network_policy' must be one of "
		    "off, allowlist, on");
		return -1;
	}
	if (pol != NULL && p > max) {
		http_error(r, 403, "permission_error", "network_policy '%s' is above "
		    "what the %s role may use (%s=%s)", pol, u->role,
		    strcmp(u->role, "admin") == 0 ? "NETWORK_POLICY_MAX_ADMIN" :
		    "NETWORK_POLICY_MAX_USER", netpolicy_name(max));
		return -1;
	}
	if (json_object_object_get_ex(body, "allowed_domains", &v)) {
		if (netpolicy_domains_from_json(v, dom, sizeof(dom), err,
		    sizeof(err)) == -1) {
			http_error(r, 400, NULL, "field 'allowed_domains': %s", err);
			return -1;
		}
		if (s->network_policy[0] == '\0')	/* keep the default policy */
			snprintf(s->network_policy, sizeof(s->network_policy), "%s",
			    netpolicy_name((enum netpolicy)cfg->network_default_policy));
		snprintf(s->allowed_domains, sizeof(s->allowed_domains), "%s", dom);
		(*changed)++;
	} else if (s->network_policy[0] == '\0')
		snprintf(s->allowed_domains, sizeof(s->allowed_domains), "%s",
		    cfg->network_default_domains);
	if (pol != NULL) {
		snprintf(s->network_policy, sizeof(s->network_policy), "%s", pol);
		(*changed)++;
	}
	if (strcmp(s->network_policy, "allowlist") == 0 &&
	    s->allowed_domains[0] == '\0') {
		http_error(r, 400, NULL, "network_policy 'allowlist' needs "
		    "allowed_domains (a list of hostnames)");
		return -1;
	}
	return 0;
}

/*
 * files_path (the host directory) only for whoever may open it in
 * code-server (h_can_use_code_server): nobody else has any use for a host
 * path, and it tells them the server's layout.
 */
json_object *
h_session_json(const struct config *cfg, const struct auth_user *u,
    const struct session *s)
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
	network_json(cfg, u, s, o);
	json_object_object_add(o, "created_at",
	    jsonio_time((long)(s->created_us / 1000000)));
	json_object_object_add(o, "updated_at", jsonio_time(s->updated_at));
	json_object_object_add(o, "last_activity", jsonio_time(s->last_activity));
	json_object_object_add(o, "mcp_servers", mcp_names_json(cfg, s->mcp_servers));
	if (u != NULL && h_can_use_code_server(cfg, u) &&
	    sessions_path(cfg, s->id, "files", path, sizeof(path)) == 0)
		json_object_object_add(o, "files_path", json_object_new_string(path));
	return o;
}

/*
 * h_session_json's object written straight into b (the list's hot path:
 * no json-c object, no allocation per field): the same fields with the
 * same values.
 */
static int
session_json_buf(struct buf *b, const struct config *cfg,
    const struct auth_user *u, const struct session *s)
{
	const char	*dom;
	char		 path[PATH_MAX];
	enum netpolicy	 p;
	size_t		 n;
	int		 k, first, rc = 0;

#define KEY(k) (rc |= buf_puts(b, k))
	KEY("{\"id\":");
	rc |= jsonio_buf_str(b, s->id);
	KEY(",\"title\":");
	rc |= jsonio_buf_str(b, s->title);
	KEY(",\"model\":");
	rc |= jsonio_buf_str(b, s->model);
	KEY(",\"permission_mode\":");
	rc |= jsonio_buf_str(b, s->permission_mode);
	KEY(",\"template\":");
	rc |= jsonio_buf_str(b, s->template_name[0] ? s->template_name : NULL);
	KEY(",\"owner\":");
	rc |= jsonio_buf_str(b, s->owner);
	KEY(",\"status\":");
	rc |= jsonio_buf_str(b, s->status);
	/* network_json() */
	if (netpolicy_parse(s->network_policy, &p) == -1)
		p = (enum netpolicy)cfg->network_default_policy;
	KEY(",\"network_policy\":");
	rc |= jsonio_buf_str(b, netpolicy_name(p));
	KEY(",\"allowed_domains\":[");
	dom = s->network_policy[0] ? s->allowed_domains :
	    cfg->network_default_domains;
	for (first = 1; dom != NULL && *dom != '\0'; ) {
		n = strcspn(dom, ",");
		if (n > 0) {
			if (!first)
				rc |= buf_putc(b, ',');
			first = 0;
			rc |= buf_putc(b, '"');
			rc |= buf_json_escape(b, dom, n);
			rc |= buf_putc(b, '"');
		}
		dom += n;
		if (*dom == ',')
			dom++;
	}
	KEY("]");
	if (u != NULL) {
		KEY(",\"network_policy_max\":");
		rc |= jsonio_buf_str(b, netpolicy_name(netpolicy_role_max(cfg,
		    u->role)));
	}
	KEY(",\"sandbox_network\":");
	KEY(netpolicy_sandbox_network(cfg, netpolicy_effective(cfg, u != NULL &&
	    strcmp(u->name, s->owner) == 0 ? u->role : "user",
	    netpolicy_name(p))) ? "true" : "false");
	KEY(",\"created_at\":");
	rc |= jsonio_buf_time(b, (long)(s->created_us / 1000000));
	KEY(",\"updated_at\":");
	rc |= jsonio_buf_time(b, s->updated_at);
	KEY(",\"last_activity\":");
	rc |= jsonio_buf_time(b, s->last_activity);
	/* mcp_names_json(): configured servers, in their order, that are on. */
	KEY(",\"mcp_servers\":[");
	for (k = 0, first = 1; cfg->mcp != NULL && k < cfg->mcp->n; k++)
		if (mcp_list_has(s->mcp_servers, cfg->mcp->servers[k].name)) {
			if (!first)
				rc |= buf_putc(b, ',');
			first = 0;
			rc |= jsonio_buf_str(b, cfg->mcp->servers[k].name);
		}
	KEY("]");
	if (u != NULL && h_can_use_code_server(cfg, u) &&
	    sessions_path(cfg, s->id, "files", path, sizeof(path)) == 0) {
		KEY(",\"files_path\":");
		rc |= jsonio_buf_str(b, path);
	}
	KEY("}");
#undef KEY
	return rc == 0 ? 0 : -1;
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
	/*
	 * Strict UTF-8 (RFC 3629: no overlongs, surrogates, code points above
	 * U+10FFFF, F5..FF bytes) and no NUL: the title goes to Redis,
	 * metadata.json, listings and every browser showing it.
	 */
	if (title != NULL && (!jsonio_utf8_valid(title, strlen(title)) ||
	    strlen(title) != (size_t)json_object_get_string_len(
	    json_object_object_get(body, "title")))) {
		http_error(r, 400, NULL, "field 'title' must be valid UTF-8 "
		    "without NUL characters");
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

/*
 * The session's accumulated token usage and cost (zeros before any run);
 * NULL when Redis does not answer (never zeros for "unknown").
 */
static json_object *
session_usage(struct app *app, const char *sid)
{
	static const char *const f[] = { "input_tokens", "output_tokens",
	    "cache_creation_input_tokens", "cache_read_input_tokens", "cost_usd",
	    "web_search_requests" };
	json_object	*u;
	redisReply	*r;
	char		 key[96];
	size_t		 i;

	snprintf(key, sizeof(key), CW_KP "usage:session:%s", sid);
	r = store_cmdv(app->store, "HMGET", key, f[0], f[1], f[2], f[3], f[4], f[5],
	    NULL);
	if (r == NULL || r->type != REDIS_REPLY_ARRAY || r->elements != 6) {
		if (r != NULL)
			freeReplyObject(r);
		return NULL;
	}
	u = json_object_new_object();
	for (i = 0; i < 6; i++) {
		const char *v = r->element[i]->str;

		if (i == 4)
			json_object_object_add(u, f[i], json_object_new_double(
			    v ? strtod(v, NULL) : 0.0));
		else
			json_object_object_add(u, f[i], json_object_new_int64(
			    v ? strtoll(v, NULL, 10) : 0));
	}
	freeReplyObject(r);
	return u;
}

/*
 * mcp_servers from body (creation and PATCH): names of configured MCP
 * servers (mcp.h); 0, or -1 with 400 written.
 */
static int
apply_mcp(struct http_req *r, const struct config *cfg, json_object *body,
    struct session *s, int *changed)
{
	json_object	*v;
	char		 list[MCP_LIST_MAX], err[200];

	if (body == NULL || !json_object_object_get_ex(body, "mcp_servers", &v))
		return 0;
	if (mcp_names_from_json(cfg, v, list, sizeof(list), err, sizeof(err)) == -1) {
		http_error(r, 400, NULL, "%s", err);
		return -1;
	}
	snprintf(s->mcp_servers, sizeof(s->mcp_servers), "%s", list);
	(*changed)++;
	return 0;
}

/*
 * GET /api/mcp/servers: the configured MCP servers, their types and tool
 * names as last listed (never started here: a listing may take
 * MCP_TIMEOUT and would hold an API worker; runs list the servers they
 * use); never a command, its environment or a token.
 */
int
h_mcp_servers(struct http_req *r, struct app *app)
{
	struct auth_user	 u;
	json_object		*o;

	if (auth_require(r, app, &u) == -1)
		return 0;
	o = json_object_new_object();
	json_object_object_add(o, "servers", mcp_servers_json(app->cfg, 0));
	return jsonio_reply_put(r, 200, o);
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
	{
		enum netpolicy p = (enum netpolicy)app->cfg->network_default_policy,
		    max = netpolicy_role_max(app->cfg, u->role);

		snprintf(s.network_policy, sizeof(s.network_policy), "%s",
		    netpolicy_name(p > max ? max : p));
		snprintf(s.allowed_domains, sizeof(s.allowed_domains), "%s",
		    app->cfg->network_default_domains);
	}
	mcp_default_names(app->cfg, s.mcp_servers, sizeof(s.mcp_servers));
	if (r->content_length > 0) {
		if (jsonio_body(r, &body) == -1)
			return 0;
		if (apply_fields(r, body, &s, &changed) == -1 ||
		    apply_network(r, app->cfg, u, body, &s, &changed) == -1 ||
		    jsonio_str(r, body, "template", 0, 100, &tpl) == -1)
			goto out;
		if (tpl != NULL && !sessions_valid_template(tpl)) {
			http_error(r, 400, NULL, "field 'template' is not a valid "
			    "template name");
			goto out;
		}
		if (tpl != NULL) {
			snprintf(s.template_name, sizeof(s.template_name), "%s", tpl);
			/* Servers the admin enabled for this template (mcp.h). */
			mcp_template_names(app->cfg, tpl, s.mcp_servers,
			    sizeof(s.mcp_servers));
		}
		if (apply_mcp(r, app->cfg, body, &s, &changed) == -1)
			goto out;
	}
	switch (sessions_create(app->store, app->cfg, &s)) {
	case SESS_OK:
		/* A title given at creation is the user's: never auto-replaced. */
		if (body != NULL && json_object_object_get_ex(body, "title", NULL))
			title_mark_user(app->store, s.id);
		snprintf(loc, sizeof(loc), "/api/sessions/%s", s.id);
		http_add_header(r, "Location", loc);
		jsonio_reply_put(r, 201, h_session_json(app->cfg, u, &s));
		break;
	case SESS_EQUOTA:
		http_error(r, 507, "insufficient_storage", "your sessions already "
		    "use your storage quota of %lld MB (USER_STORAGE_QUOTA_MB); "
		    "delete files or sessions first", app->cfg->user_storage_quota_mb);
		break;
	case SESS_EMEASURE:
		http_error(r, 507, "insufficient_storage", "your sessions' storage "
		    "could not be measured against your quota (too many files, or "
		    "directories nested too deep); delete files or sessions first");
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
	const struct auth_user	*u;
	struct buf		*b;
	int			 n;
	int			 full;	/* the response buffer is full */
};

static void
list_one(const struct session *s, void *arg)
{
	struct list_ctx	*lc = arg;

	if (lc->full || (lc->n++ > 0 && buf_putc(lc->b, ',') == -1) ||
	    session_json_buf(lc->b, lc->cfg, lc->u, s) == -1)
		lc->full = 1;
}

/* The query of a list request, parsed (list() answers what is wrong). */
struct list_query {
	long long	 limit, cursor;
	int		 all;		/* ?all=1 */
	int		 bad;		/* a parameter list() refuses */
	int		 search;	/* ?q= */
	struct sessions_pagecmd	 pc;
	int		 prefetched;	/* pc sent with the authentication */
};

static void
list_query_parse(struct http_req *r, struct list_query *q)
{
	char	 v[64];
	int	 rv;

	memset(q, 0, sizeof(*q));
	q->limit = LIST_DEFAULT;
	if ((rv = http_query_get(&r->uri, "limit", v, sizeof(v))) != 0 &&
	    (rv == -1 || config_parse_ll(v, &q->limit) == -1 || q->limit < 1 ||
	    q->limit > LIST_MAX))
		q->bad = 1;
	if ((rv = http_query_get(&r->uri, "cursor", v, sizeof(v))) != 0 &&
	    v[0] != '\0' && (rv == -1 || config_parse_ll(v, &q->cursor) == -1 ||
	    q->cursor < 0))
		q->bad = 1;
	if (http_query_get(&r->uri, "all", v, sizeof(v)) == 1 &&
	    (strcmp(v, "1") == 0 || strcmp(v, "true") == 0))
		q->all = 1;
	{
		char qb[4 * 200 + 8];

		if (http_query_get(&r->uri, "q", qb, sizeof(qb)) != 0)
			q->search = 1;
	}
}

/*
 * auth_require_with's prep for GET /api/sessions: the caller's own page
 * index read rides with the authentication (only a plain own-list request;
 * anything else is read after it).
 */
static int
list_prep(const char *name, void *arg, struct store_pcmd *cmds)
{
	struct list_query	*q = arg;

	if (q->bad || q->all || q->search)
		return 0;
	sessions_page_cmd(name, q->cursor, (int)q->limit, &q->pc);
	cmds[0] = q->pc.cmd;
	q->prefetched = 1;
	return 1;
}

static int
list(struct http_req *r, struct app *app, const struct auth_user *u,
    struct list_query *pq, redisReply *index)
{
	struct list_ctx	 lc;
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
	/* ?q=: search titles and message texts (h_export.c). */
	{
		char q[4 * 200 + 8];

		if ((rv = http_query_get(&r->uri, "q", q, sizeof(q))) == -1)
			return http_error(r, 400, NULL, "query parameter 'q' must be "
			    "1 to 200 bytes of valid UTF-8");
		if (rv == 1)
			return h_sessions_search(r, app, u, q, all);
	}
	/* The JSON goes straight into the response body. */
	r->status = 200;
	r->content_type_out = "application/json";
	buf_reset(&r->body);
	lc.cfg = app->cfg;
	lc.u = u;
	lc.b = &r->body;
	lc.n = 0;
	lc.full = buf_puts(&r->body, "{\"sessions\":[") == -1;
	if (pq != NULL && pq->prefetched)
		rv = sessions_list_from(app->store, index, &pq->pc, list_one,
		    &lc, &next);
	else
		rv = sessions_list(app->store, all ? NULL : u->name, cursor,
		    (int)limit, list_one, &lc, &next);
	if (rv == -1)
		return http_error(r, 503, "service_unavailable",
		    "session store unavailable");
	if (next > 0)
		snprintf(v, sizeof(v), "],\"next_cursor\":\"%lld\"}\n", next);
	else
		snprintf(v, sizeof(v), "],\"next_cursor\":null}\n");
	if (lc.full || buf_puts(&r->body, v) == -1)
		return http_error(r, 500, NULL, "the list does not fit in a "
		    "response; ask for fewer (limit)");
	return 0;
}

int
h_sessions(struct http_req *r, struct app *app)
{
	struct auth_user	 u;
	struct list_query	 q, *qp;
	redisReply		*index = NULL;

	if (r->method == HTTP_POST) {
		if (auth_require(r, app, &u) == -1)
			return 0;
		return create(r, app, &u);
	}
	/*
	 * GET: the page's index read in the authentication's round trip,
	 * which the worker may have made already (h_sessions_prefetch).
	 */
	if (r->pre != NULL && r->pre->state == AUTH_PRE_FETCHED &&
	    r->pre->prep == list_prep) {
		qp = r->pre->arg;
	} else {
		list_query_parse(r, &q);
		qp = &q;
	}
	if (auth_require_with(r, app, &u, list_prep, qp, &index) == -1)
		return 0;
	return list(r, app, &u, qp, index);
}

int
h_sessions_prefetch(struct http_req *r, struct app *app,
    struct auth_pre *pre)
{
	struct list_query	*q = (struct list_query *)(void *)pre->scratch;

	_Static_assert(sizeof(struct list_query) <= AUTH_PRE_SCRATCH,
	    "a list query fits in a prefetch's scratch area");
	list_query_parse(r, q);
	return auth_prefetch(r, app, pre, list_prep, q);
}

/*
 * DELETE also finds a session whose deletion began and did not finish (a
 * crash, Redis gone half-way): the same request finishes it.
 */
static int
delete(struct http_req *r, struct app *app, const struct auth_user *u)
{
	struct session	 s;
	const char	*id = r->params[0];
	int		 rv;

	rv = id != NULL ? sessions_get(app->store, id, &s) : 0;
	if (rv == 0 && id != NULL)
		rv = sessions_get_deleting(app->store, id, &s);
	if (rv == -1)
		return http_error(r, 503, "service_unavailable",
		    "session store unavailable");
	if (rv == 0 || (strcmp(s.owner, u->name) != 0 &&
	    strcmp(u->role, "admin") != 0))
		return http_error(r, 404, NULL, "no such session");
	switch (sessions_delete(app->store, app->cfg, s.id)) {
	case SESS_OK:
		r->status = 204;
		return 0;
	case SESS_ENOTFOUND:
		return http_error(r, 404, NULL, "no such session");
	case SESS_EREDIS:
		return http_error(r, 503, "service_unavailable", "session store "
		    "unavailable; retry the delete");
	default:
		return http_error(r, 500, NULL, "could not delete the session");
	}
}

/*
 * USER_STORAGE_QUOTA_MB for a write of add bytes into s (files API):
 * 0 fits, -1 with 507 (over quota, or not measurable) or 503 written.
 */
int
h_session_storage_check(struct http_req *r, struct app *app,
    const struct session *s, long long add)
{
	long long	 used;

	switch (sessions_storage_check(app->store, app->cfg, s->owner, add, 0,
	    &used)) {
	case 0:
		return 0;
	case 1:
		http_error(r, 507, "insufficient_storage", "the owner's sessions "
		    "use %lld of %lld MB (USER_STORAGE_QUOTA_MB); this write of "
		    "%lld bytes does not fit: delete files or sessions first",
		    (used + (1 << 20) - 1) >> 20, app->cfg->user_storage_quota_mb, add);
		return -1;
	case -1:
		http_error(r, 503, "service_unavailable", "session store unavailable");
		return -1;
	default:
		http_error(r, 507, "insufficient_storage", "the owner's storage "
		    "could not be measured against the quota (too many files, or "
		    "directories nested too deep); delete files or sessions first");
		return -1;
	}
}

int
h_session(struct http_req *r, struct app *app)
{
	struct auth_user	 u;
	struct session		 s;
	json_object		*body, *o, *usage;
	int			 changed, rv, mcp_changed;

	if (auth_require(r, app, &u) == -1)
		return 0;
	if (r->method == HTTP_DELETE)
		return delete(r, app, &u);
	if (h_session_load(r, app, &u, &s) == -1)
		return 0;
	switch (r->method) {
	case HTTP_PATCH:
		if (jsonio_body(r, &body) == -1)
			return 0;
		mcp_changed = 0;
		if (apply_mcp(r, app->cfg, body, &s, &mcp_changed) == -1) {
			json_object_put(body);
			return 0;
		}
		if (apply_fields(r, body, &s, &changed) == 0 &&
		    apply_network(r, app->cfg, &u, body, &s, &changed) == 0) {
			if (changed + mcp_changed == 0)
				http_error(r, 400, NULL, "nothing to change: send title, "
				    "model, permission_mode or network_policy");
			else if ((rv = sessions_save(app->store, app->cfg, &s)) == -1)
				http_error(r, 503, "service_unavailable",
				    "session store unavailable");
			else if (rv == 1)
				http_error(r, 404, NULL, "no such session");
			else {
				/* A renamed session keeps the user's title. */
				if (json_object_object_get_ex(body, "title", NULL))
					title_mark_user(app->store, s.id);
				jsonio_reply_put(r, 200, h_session_json(app->cfg, &u, &s));
			}
		}
		json_object_put(body);
		return 0;
	default:
		/* A failed touch (-OOM) only loses the activity time. */
		if (sessions_touch(app->store, &s) == 1)
			return http_error(r, 404, NULL, "no such session");
		if ((usage = session_usage(app, s.id)) == NULL)
			return http_error(r, 503, "service_unavailable",
			    "session store unavailable");
		o = h_session_json(app->cfg, &u, &s);
		json_object_object_add(o, "usage", usage);
		{
			/* The todo list (todo_write), for a page that loads. */
			json_object *td = todo_load(app->cfg, s.id);

			json_object_object_add(o, "todos", json_object_get(
			    json_object_object_get(td, "todos")));
			json_object_put(td);
		}
		return jsonio_reply_put(r, 200, o);
	}
}

/* GET /api/sessions/<id>/todos: the list todo_write keeps. */
int
h_todos(struct http_req *r, struct app *app)
{
	struct auth_user	 u;
	struct session		 s;

	if (auth_require(r, app, &u) == -1 || h_session_load(r, app, &u, &s) == -1)
		return 0;
	return jsonio_reply_put(r, 200, todo_load(app->cfg, s.id));
}
