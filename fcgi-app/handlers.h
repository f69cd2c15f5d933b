/*
 * handlers: every route handler, one h_<resource>.c file per resource.
 * A handler fills r's response (status, headers, body) and returns 0, or
 * -1 when the response could not be built (the worker then answers 500).
 */
#ifndef CW_HANDLERS_H
#define CW_HANDLERS_H

#include "app.h"

/* h_health.c */
int	h_live(struct http_req *, struct app *);
int	h_ready(struct http_req *, struct app *);
int	h_health(struct http_req *, struct app *);
int	h_debug_sleep(struct http_req *, struct app *);

/* h_auth.c */
int	h_login(struct http_req *, struct app *);
int	h_logout(struct http_req *, struct app *);
int	h_logout_all(struct http_req *, struct app *);
int	h_me(struct http_req *, struct app *);
int	h_auth_check(struct http_req *, struct app *);

/* h_sessions.c */
int	h_sessions(struct http_req *, struct app *);
/*
 * GET /api/sessions's authentication and page read, prepared for the
 * worker's batch (auth_prefetch): the number of commands in pre->cmds.
 */
struct auth_pre;
int	h_sessions_prefetch(struct http_req *, struct app *, struct auth_pre *);
int	h_session(struct http_req *, struct app *);
int	h_models(struct http_req *, struct app *);
int	h_mcp_servers(struct http_req *, struct app *);
int	h_todos(struct http_req *, struct app *);

/* h_runs.c */
int	h_messages(struct http_req *, struct app *);
int	h_cancel(struct http_req *, struct app *);
int	h_compact(struct http_req *, struct app *);
int	h_clear(struct http_req *, struct app *);
int	h_commands(struct http_req *, struct app *);
int	h_run(struct http_req *, struct app *);
int	h_admin_runs(struct http_req *, struct app *);
int	h_admin_run_cancel(struct http_req *, struct app *);

/* h_export.c: export, search */
int	h_export(struct http_req *, struct app *);

/* h_events.c */
int	h_events(struct http_req *, struct app *);

/* h_files.c */
int	h_files(struct http_req *, struct app *);
int	h_files_search(struct http_req *, struct app *);
int	h_file_content(struct http_req *, struct app *);
int	h_files_mkdir(struct http_req *, struct app *);
int	h_files_move(struct http_req *, struct app *);
int	h_archive(struct http_req *, struct app *);
int	h_permission(struct http_req *, struct app *);
int	h_permissions(struct http_req *, struct app *);
int	h_edits(struct http_req *, struct app *);
int	h_edits_revert(struct http_req *, struct app *);

/* h_metrics.c */
int	h_metrics(struct http_req *, struct app *);

#include <json-c/json.h>
struct auth_user;
struct session;
struct config;
json_object *h_user_json(const struct auth_user *);
int	h_can_use_code_server(const struct config *, const struct auth_user *);
json_object *h_session_json(const struct config *, const struct auth_user *,
	    const struct session *);
int	h_session_load(struct http_req *, struct app *, const struct auth_user *,
	    struct session *);
int	h_session_storage_check(struct http_req *, struct app *,
	    const struct session *, long long add);

/* h_export.c: GET /api/sessions?q= (called by h_sessions.c). */
int	h_sessions_search(struct http_req *, struct app *,
	    const struct auth_user *, const char *q, int all);

#endif
