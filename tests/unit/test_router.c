#include <string.h>

#include "app.h"
#include "config.h"
#include "http.h"
#include "router.h"
#include "scoreboard.h"
#include "store.h"
#include "tap.h"
#include "worker.h"

static int
h_a(struct http_req *r, struct app *a)
{
	return 0;
}

static const struct route table[] = {
	{ HTTP_GET | HTTP_HEAD, "/api/sessions", h_a },
	{ HTTP_POST, "/api/sessions", h_a },
	{ HTTP_GET | HTTP_DELETE, "/api/sessions/:id", h_a },
	{ HTTP_GET, "/api/sessions/:id/files/:name", h_a },
};

static enum router_result
match(const char *path, enum http_method m, const struct route **rt,
    const char **params, unsigned *allow)
{
	static struct http_uri	 u;

	http_uri_parse(path, strlen(path), &u);
	return router_match(table, sizeof(table) / sizeof(table[0]), u.segs,
	    u.nsegs, m, rt, params, allow);
}

/* Runs a request through the real router and handlers, without FastCGI. */
static void
run(struct http_req *r, struct app *app, const char *method, const char *uri)
{
	http_req_init(r, app->cfg);
	r->method_str = method;
	r->method = http_method_parse(method);
	r->request_uri = uri;
	worker_handle(r, app);
}

int
main(void)
{
	const struct route	*rt = NULL;
	const char		*params[4] = { 0 };
	unsigned		 allow;
	struct http_req		 r;
	struct config		 cfg;
	struct store		 store;
	struct app		 app;
	char			 list[64];

	ok(match("/api/sessions", HTTP_POST, &rt, params, &allow) == ROUTE_FOUND &&
	    rt == &table[1], "same path, method picks the route");
	ok(match("/api/sessions/abc", HTTP_DELETE, &rt, params, &allow) ==
	    ROUTE_FOUND && strcmp(params[0], "abc") == 0, "capture");
	ok(match("/api/sessions/abc/files/x%20y", HTTP_GET, &rt, params, &allow) ==
	    ROUTE_FOUND && strcmp(params[0], "abc") == 0 &&
	    strcmp(params[1], "x y") == 0, "two captures, decoded");
	ok(match("/api/sessions/abc", HTTP_PUT, &rt, params, &allow) ==
	    ROUTE_BAD_METHOD, "known path, wrong method");
	http_methods_list(allow, list, sizeof(list));
	is_str(list, "GET, DELETE", "Allow lists the path's methods");
	ok(match("/api/sessions", HTTP_DELETE, &rt, params, &allow) ==
	    ROUTE_BAD_METHOD && allow == (HTTP_GET | HTTP_HEAD | HTTP_POST),
	    "methods of several routes with one path are merged");
	ok(match("/api/session", HTTP_GET, &rt, params, &allow) == ROUTE_NOT_FOUND,
	    "near miss is not found");
	ok(match("/api/sessions/abc/extra", HTTP_GET, &rt, params, &allow) ==
	    ROUTE_NOT_FOUND, "extra segment is not found");
	ok(match("/api", HTTP_GET, &rt, params, &allow) == ROUTE_NOT_FOUND,
	    "prefix is not found");

	/* The application table through worker_handle. */
	memset(&cfg, 0, sizeof(cfg));
	store_init(&store, &cfg, 100);
	memset(&app, 0, sizeof(app));
	app.cfg = &cfg;
	app.store = &store;
	app.version = "test";

	run(&r, &app, "GET", "/api/live");
	ok(r.status == 200 && strstr(r.body.p, "\"alive\""), "GET /api/live is 200");
	http_req_free(&r);
	run(&r, &app, "HEAD", "/api/live");
	ok(r.status == 200, "HEAD /api/live is 200");
	http_req_free(&r);
	run(&r, &app, "POST", "/api/live");
	ok(r.status == 405 && strstr(r.headers.p, "Allow: GET, HEAD\r\n") &&
	    strstr(r.body.p, "\"method_not_allowed\""), "POST /api/live is 405 with Allow");
	http_req_free(&r);
	run(&r, &app, "GET", "/api/nope");
	ok(r.status == 404 && strstr(r.body.p, "\"not_found\""), "unknown route is a JSON 404");
	http_req_free(&r);
	run(&r, &app, "GET", "/api/li%ve");
	ok(r.status == 400 && strstr(r.body.p, "\"invalid_request\""),
	    "malformed escape is a JSON 400");
	http_req_free(&r);
	run(&r, &app, "BREW", "/api/live");
	ok(r.status == 405, "unknown method is 405");
	http_req_free(&r);
	cfg.debug = 0;
	run(&r, &app, "GET", "/api/debug/sleep?ms=1");
	ok(r.status == 404, "debug route hidden unless DEBUG outside production");
	http_req_free(&r);
	cfg.debug = 1;
	cfg.environment = ENV_DEVELOPMENT;
	run(&r, &app, "GET", "/api/debug/sleep?ms=1");
	ok(r.status == 200, "debug route served with DEBUG=true in development");
	http_req_free(&r);
	run(&r, &app, "GET", "/api/debug/sleep?ms=abc");
	ok(r.status == 400, "bad debug parameter is 400");
	http_req_free(&r);
	return done_testing();
}
