#include <string.h>

#include "handlers.h"
#include "router.h"
#include "scoreboard.h"

#define GETS	(HTTP_GET | HTTP_HEAD)

const struct route router_table[] = {
	{ GETS, "/api/live", h_live },
	{ GETS, "/api/ready", h_ready },
	{ GETS, "/api/health", h_health },
	{ GETS, "/api/debug/sleep", h_debug_sleep },
	{ GETS, "/api/metrics", h_metrics },
	{ HTTP_POST, "/api/auth/login", h_login },
	{ HTTP_POST, "/api/auth/logout", h_logout },
	{ HTTP_POST, "/api/auth/logout-all", h_logout_all },
	{ GETS, "/api/auth/me", h_me },
	{ GETS, "/api/auth/check", h_auth_check },
	{ GETS, "/api/models", h_models },
	{ GETS, "/api/mcp/servers", h_mcp_servers },
	{ GETS | HTTP_POST, "/api/sessions", h_sessions },
	{ GETS | HTTP_PATCH | HTTP_DELETE, "/api/sessions/:id", h_session },
	{ GETS, "/api/sessions/:id/todos", h_todos },
	{ GETS | HTTP_POST, "/api/sessions/:id/messages", h_messages },
	{ HTTP_POST, "/api/sessions/:id/cancel", h_cancel },
	{ HTTP_POST, "/api/sessions/:id/compact", h_compact },
	{ HTTP_POST, "/api/sessions/:id/clear", h_clear },
	{ GETS, "/api/sessions/:id/commands", h_commands },
	{ HTTP_DELETE, "/api/sessions/:id/runs/:run_id", h_run },
	{ GETS, "/api/admin/runs", h_admin_runs },
	{ HTTP_POST, "/api/admin/runs/:run_id/cancel", h_admin_run_cancel },
	{ GETS, "/api/sessions/:id/events", h_events },
	{ GETS, "/api/sessions/:id/files", h_files },
	{ GETS, "/api/sessions/:id/files/search", h_files_search },
	{ GETS | HTTP_PUT | HTTP_DELETE, "/api/sessions/:id/files/content",
	    h_file_content },
	{ HTTP_POST, "/api/sessions/:id/files/mkdir", h_files_mkdir },
	{ HTTP_POST, "/api/sessions/:id/files/move", h_files_move },
	{ GETS, "/api/sessions/:id/archive", h_archive },
	{ GETS, "/api/sessions/:id/export", h_export },
	{ GETS, "/api/sessions/:id/permissions", h_permissions },
	{ HTTP_POST, "/api/sessions/:id/permissions/:request_id", h_permission },
	{ GETS, "/api/sessions/:id/edits", h_edits },
	{ HTTP_POST, "/api/sessions/:id/edits/revert", h_edits_revert },
};
const size_t router_table_len = sizeof(router_table) / sizeof(router_table[0]);

/* Does pattern match segs? Captures go to params (max 4). */
static int
pattern_match(const char *pat, const char *const *segs, size_t nsegs,
    const char **params)
{
	const char	*p = pat, *e;
	size_t		 i = 0, len, np = 0;

	while (*p == '/')
		p++;
	while (*p != '\0') {
		e = strchr(p, '/');
		len = e ? (size_t)(e - p) : strlen(p);
		if (i >= nsegs)
			return 0;
		if (p[0] == ':') {
			if (np < 4)
				params[np++] = segs[i];
		} else if (strlen(segs[i]) != len || memcmp(segs[i], p, len) != 0)
			return 0;
		i++;
		p += len;
		while (*p == '/')
			p++;
	}
	return i == nsegs;
}

enum router_result
router_match(const struct route *table, size_t n, const char *const *segs,
    size_t nsegs, enum http_method m, const struct route **out,
    const char **params, unsigned *allow)
{
	const char	*caps[4];
	size_t		 i;
	int		 path_hit = 0;

	*allow = 0;
	for (i = 0; i < n; i++) {
		memset(caps, 0, sizeof(caps));
		if (!pattern_match(table[i].pattern, segs, nsegs, caps))
			continue;
		path_hit = 1;
		*allow |= table[i].methods;
		if (table[i].methods & m) {
			*out = &table[i];
			memcpy(params, caps, sizeof(caps));
			return ROUTE_FOUND;
		}
	}
	return path_hit ? ROUTE_BAD_METHOD : ROUTE_NOT_FOUND;
}

int
router_dispatch(struct http_req *r, struct app *app)
{
	const struct route	*rt = NULL;
	unsigned		 allow;
	char			 list[128];

	switch (router_match(router_table, router_table_len, r->uri.segs,
	    r->uri.nsegs, r->method, &rt, r->params, &allow)) {
	case ROUTE_FOUND:
		r->route = rt->pattern;
		r->route_idx = (int)(rt - router_table);
		/*
		 * Event streams are served by the stream pool only, and that
		 * pool serves nothing else: a spelling nginx routed to the
		 * wrong socket must not tie up an api worker for the life of a
		 * stream (nor a stream worker with API calls).
		 */
		if (app != NULL && (app->pool == POOL_STREAM) != (rt->fn == h_events)) {
			r->route = "(wrong_pool)";
			r->route_idx = ROUTE_IDX_NOT_FOUND;
			return http_error(r, 404, NULL, "no such endpoint in the %s "
			    "pool (event streams are GET /api/sessions/<id>/events)",
			    app->pool == POOL_STREAM ? "event-stream" : "api");
		}
		/* Visible to the master before the handler runs (timeout logs). */
		if (app != NULL && app->slot != NULL)
			scoreboard_set_route(app->slot, rt->pattern);
		return rt->fn(r, app);
	case ROUTE_BAD_METHOD:
		r->route = "(method_not_allowed)";
		r->route_idx = ROUTE_IDX_BAD_METHOD;
		http_methods_list(allow | ((allow & HTTP_GET) ? HTTP_HEAD : 0),
		    list, sizeof(list));
		http_add_header(r, "Allow", list);
		return http_error(r, 405, NULL, "method %s is not allowed here; "
		    "allowed: %s", r->method_str ? r->method_str : "?", list);
	default:
		r->route = "(not_found)";
		r->route_idx = ROUTE_IDX_NOT_FOUND;
		return http_error(r, 404, NULL, "no such endpoint");
	}
}
