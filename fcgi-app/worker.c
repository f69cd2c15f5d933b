#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <time.h>
#include <unistd.h>

#include <fcgiapp.h>

#include "app.h"
#include "config.h"
#include "cors.h"
#include "metrics.h"
#include "http.h"
#include "log.h"
#include "router.h"
#include "runner.h"
#include "scoreboard.h"
#include "store.h"
#include "streamloop.h"
#include "worker.h"

#define REDIS_TIMEOUT_MS	1000
#define REDIS_BLOCKING_TIMEOUT_MS	6000

static volatile sig_atomic_t	 quit_requested;
static volatile sig_atomic_t	 reopen_requested;
static int			 listen_fd = -1;
static int			 dead_fd = -1;

/*
 * SIGQUIT: stop accepting. libfcgi's accept loop would sit in accept(2)
 * forever, so the listen descriptor is swapped for a socket that is not
 * listening: a restarted accept() fails at once and FCGX_Accept_r returns.
 * Requests in flight are untouched (SA_RESTART keeps their reads going).
 */
static void
on_quit(int sig)
{
	quit_requested = 1;
	FCGX_ShutdownPending();
	if (listen_fd >= 0 && dead_fd >= 0)
		dup2(dead_fd, listen_fd);
}

static void
on_usr1(int sig)
{
	reopen_requested = 1;
}

static void
install_signals(void)
{
	struct sigaction	 sa;

	memset(&sa, 0, sizeof(sa));
	sigemptyset(&sa.sa_mask);
	sa.sa_flags = SA_RESTART;
	sa.sa_handler = on_quit;
	sigaction(SIGQUIT, &sa, NULL);
	sa.sa_handler = on_usr1;
	sigaction(SIGUSR1, &sa, NULL);
	sa.sa_flags = 0;
	sa.sa_handler = SIG_DFL;
	sigaction(SIGTERM, &sa, NULL);
	/* Ctrl-C reaches the whole process group; the master decides. */
	sa.sa_handler = SIG_IGN;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGPIPE, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
}

static const char *
param(FCGX_Request *f, const char *name)
{
	return FCGX_GetParam(name, f->envp);
}

/* Fills r from the FastCGI environment; returns 0 or an error status. */
static int
req_from_fcgi(struct http_req *r, FCGX_Request *f)
{
	const char	*cl;

	r->fcgi = f;
	r->method_str = param(f, "REQUEST_METHOD");
	r->method = http_method_parse(r->method_str);
	r->request_uri = param(f, "REQUEST_URI");
	r->content_type = param(f, "CONTENT_TYPE");
	r->request_id = param(f, "REQUEST_ID");
	r->remote_addr = param(f, "REMOTE_ADDR");
	cl = param(f, "CONTENT_LENGTH");
	if (cl != NULL && *cl != '\0' &&
	    (config_parse_ll(cl, &r->content_length) == -1 ||
	    r->content_length < 0)) {
		http_error(r, 400, NULL, "invalid Content-Length");
		return 400;
	}
	return 0;
}

/*
 * Routes one request whose fields are already set (method, request_uri,
 * content_length) and leaves the response in r. Never fails: a handler that
 * cannot build its answer becomes a 500.
 */
void
worker_handle(struct http_req *r, struct app *app)
{
	enum http_uri_err	 e;

	if (r->request_uri == NULL) {
		http_error(r, 400, NULL, "missing request URI");
		return;
	}
	e = http_uri_parse(r->request_uri, strlen(r->request_uri), &r->uri);
	if (e == URI_TOO_LONG) {
		http_error(r, 414, "invalid_request", "request URI is too long");
		return;
	}
	if (e != URI_OK) {
		http_error(r, 400, NULL, "malformed request path");
		return;
	}
	if (r->method == HTTP_OTHER) {
		r->route = "(bad_method)";
		http_add_header(r, "Allow", "GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS");
		http_error(r, 405, NULL, "unsupported method");
		return;
	}
	if (cors_handle(r))
		return;
	if (router_dispatch(r, app) == -1) {
		buf_reset(&r->headers);
		http_error(r, 500, NULL, "internal error");
	}
}

/* The user, session and run a request's log line names, where known. */
static void
log_ids(const struct http_req *r, const char **user, const char **sid,
    const char **run)
{
	const char	*p = r->route;
	int		 i;

	*user = r->log_user[0] != '\0' ? r->log_user : NULL;
	*sid = *run = NULL;
	/* Route captures, in the order the pattern names them. */
	for (i = 0; p != NULL && (p = strchr(p, ':')) != NULL && i < 4; i++, p++) {
		if (strncmp(p, ":id", 3) == 0 && strncmp(r->route,
		    "/api/sessions/", 14) == 0)
			*sid = r->params[i];
		else if (strncmp(p, ":run_id", 7) == 0)
			*run = r->params[i];
	}
	if (r->log_run[0] != '\0')
		*run = r->log_run;
}

static void
send_response(struct http_req *r, FCGX_Request *f)
{
	struct buf	 out;

	if (r->sent)
		return;
	buf_init(&out, HTTP_RESP_MAX + HTTP_HDRS_MAX + 256);
	if (http_serialize(r, &out) == -1) {
		buf_reset(&out);
		buf_reset(&r->headers);
		http_error(r, 500, NULL, "response too large");
		http_serialize(r, &out);
	}
	FCGX_PutStr(out.p, (int)out.len, f->out);
	buf_free(&out);
	r->sent = 1;
}

static double
elapsed_ms(const struct timespec *a)
{
	struct timespec	 b;

	clock_gettime(CLOCK_MONOTONIC, &b);
	return (double)(b.tv_sec - a->tv_sec) * 1e3 +
	    (double)(b.tv_nsec - a->tv_nsec) / 1e6;
}

/*
 * The next FastCGI connection, accepted here rather than by libfcgi: its
 * OS_Accept() polls a new unix connection for up to 2 s and closes it
 * unanswered when that poll fails, and a signal (SIGQUIT in a reload,
 * SIGUSR1) makes it fail with EINTR: nginx then answers 502. Returns the
 * connection, or -1 when the worker is quitting (SIGQUIT swapped the listen
 * descriptor for a non-listening socket, so a restarted accept fails).
 */
static int
accept_conn(int fd)
{
	int	 c, one = 1;

	for (;;) {
		if (quit_requested)
			return -1;
		if ((c = accept4(fd, NULL, NULL, SOCK_CLOEXEC)) >= 0) {
			/* TCP (API_LISTEN): stream events out without Nagle's wait. */
			(void)setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one,
			    sizeof(one));
			return c;
		}
		if (errno != EINTR && errno != ECONNABORTED && errno != EMFILE &&
		    errno != ENFILE && errno != ENOBUFS && errno != ENOMEM)
			return -1;
		if (errno != EINTR && errno != ECONNABORTED)
			usleep(10000);	/* out of descriptors or memory: breathe */
	}
}

void
worker_serve_fcgi(const struct worker_args *wa, struct app *app)
{
	FCGX_Request	 f;
	struct http_req	 r;
	struct timespec	 t0;
	const char	*user, *sid, *run;
	unsigned long	 served = 0;
	int		 st;

	listen_fd = wa->listen_fd;
	dead_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	/* -1: libfcgi never accepts by itself (see accept_conn). */
	if (FCGX_InitRequest(&f, -1, FCGI_FAIL_ACCEPT_ON_INTR) != 0) {
		log_msg(LOG_ERROR, "FCGX_InitRequest failed");
		_exit(1);
	}
	scoreboard_set_state(wa->slot, SB_IDLE);
	while (!quit_requested) {
		if (reopen_requested) {
			reopen_requested = 0;
			log_reopen();
		}
		/*
		 * Handed over as a kept-alive connection: FCGX_Accept_r then
		 * reads the request from it (blocking; SA_RESTART restarts the
		 * reads) instead of accepting. If nginx closes it before a whole
		 * request, libfcgi drops it and its accept on -1 fails: go on.
		 */
		if (f.ipcFd < 0) {
			if ((f.ipcFd = accept_conn(listen_fd)) < 0)
				break;
			f.keepConnection = 1;
		}
		if (FCGX_Accept_r(&f) < 0)
			continue;
		clock_gettime(CLOCK_MONOTONIC, &t0);
		http_req_init(&r, wa->cfg);
		st = req_from_fcgi(&r, &f);
		scoreboard_begin_request(wa->slot, r.method_str, r.request_id);
		if (st == 0)
			worker_handle(&r, app);
		scoreboard_set_route(wa->slot, r.route ? r.route : "");
		send_response(&r, &f);
		(void)worker_quitting();	/* a pending SIGUSR1 reopens the log first */
		/* Log before finishing: the params r points into die with it. */
		log_ids(&r, &user, &sid, &run);
		log_kv(r.status >= 500 ? LOG_ERROR : LOG_INFO, "request",
		    "s:request_id", r.request_id, "s:method", r.method_str,
		    "s:route", r.route ? r.route : "(invalid)",
		    "i:status", (long long)r.status,
		    "d:duration_ms", elapsed_ms(&t0), "s:user", user,
		    "s:session", sid, "s:run_id", run, NULL);
		FCGX_Finish_r(&f);
		metrics_observe(r.route_idx, r.method, r.status, elapsed_ms(&t0));
		http_req_free(&r);
		scoreboard_end_request(wa->slot);
		served++;
		if (wa->cfg->max_requests > 0 &&
		    served >= (unsigned long long)wa->cfg->max_requests) {
			log_kv(LOG_INFO, "recycling worker after max requests",
			    "i:requests", (long long)served, NULL);
			break;
		}
	}
	scoreboard_set_state(wa->slot, SB_QUITTING);
}

int
worker_quitting(void)
{
	if (reopen_requested) {
		reopen_requested = 0;
		log_reopen();
	}
	return quit_requested != 0;
}

void
worker_main(const struct worker_args *wa)
{
	struct app	 app;
	struct store	 store;

	log_set_pool(scoreboard_pool_name(wa->pool));
	if (wa->pool != POOL_RUNNER && FCGX_Init() != 0) {
		log_msg(LOG_ERROR, "FCGX_Init failed");
		_exit(1);
	}
	/* After FCGX_Init: it installs handlers of its own that we replace. */
	install_signals();
	/* Stream and runner workers block in Redis: the timeout must outlast BLOCK. */
	store_init(&store, wa->cfg, wa->pool == POOL_API ? REDIS_TIMEOUT_MS :
	    REDIS_BLOCKING_TIMEOUT_MS);
	memset(&app, 0, sizeof(app));
	app.cfg = wa->cfg;
	app.store = &store;
	app.sb = wa->sb;
	app.slot = wa->slot;
	app.pool = wa->pool;
	app.version = PACKAGE_VERSION;
	log_msg(LOG_DEBUG, "worker started");
	if (wa->pool == POOL_RUNNER) {
		runner_main(&app);
		scoreboard_set_state(wa->slot, SB_QUITTING);
	} else if (wa->pool == POOL_STREAM)
		streamloop_main(wa, &app);
	else
		worker_serve_fcgi(wa, &app);
	store_close(&store);
	log_msg(LOG_DEBUG, "worker exiting");
	_exit(0);
}
