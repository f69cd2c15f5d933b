#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <time.h>
#include <unistd.h>

#include <fcgiapp.h>

#include "app.h"
#include "auth.h"
#include "config.h"
#include "cors.h"
#include "fcgiproto.h"
#include "handlers.h"
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

/*
 * The whole answer as FastCGI records (fcgiproto.c's encoders: STDOUT
 * records, the empty one that ends the stream, FCGI_END_REQUEST), written
 * at once. libfcgi's own output buffer is 8 kB, so a session page (about
 * 10 kB) took two writes. Afterwards both of the request's libfcgi writers
 * are marked closed, so FCGX_Finish_r writes nothing more; a failed write
 * makes it close the connection. Only for an answer nothing was written of
 * yet (r->sent unset: the handler did not stream). -1 when not sent.
 */
static int
send_records(FCGX_Request *f, const char *p, size_t n)
{
	struct buf	 rec;
	size_t		 done;
	ssize_t		 w;
	int		 rc = 0;

	buf_init(&rec, n + (n / 65535 + 1) * 16 + 64);
	if (fcgip_put_stdout(&rec, (unsigned)f->requestId, p, n) == -1 ||
	    fcgip_put_end(&rec, (unsigned)f->requestId, 0,
	    FCGI_REQUEST_COMPLETE) == -1) {
		buf_free(&rec);
		return -1;
	}
	for (done = 0; done < rec.len; done += (size_t)w) {
		w = write(f->ipcFd, rec.p + done, rec.len - done);
		if (w < 0 && errno == EINTR) {
			w = 0;
			continue;
		}
		if (w <= 0) {
			rc = -1;
			break;
		}
	}
	buf_free(&rec);
	f->out->wasFCloseCalled = f->out->isClosed = 1;
	f->err->wasFCloseCalled = f->err->isClosed = 1;
	if (rc != 0)
		f->keepConnection = 0;	/* FCGX_Finish_r closes it */
	return 0;
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
	if (f->out == NULL || f->err == NULL || f->ipcFd < 0 ||
	    send_records(f, out.p, out.len) == -1)
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
 * An api worker serves several kept-alive FastCGI connections (nginx's
 * upstream keepalive with fastcgi_keep_conn on) from one poll loop: the
 * listen socket and every kept connection are polled, and a connection that
 * has a request ready is served with libfcgi (its FCGX_Request keeps the
 * descriptor open between requests when nginx asked for FCGI_KEEP_CONN).
 * A worker serves one request at a time, so a request that takes long
 * would delay the requests nginx sends meanwhile on this worker's other
 * kept connections: SHED_AFTER_MS into a request, a timer shuts those
 * connections down. nginx drops an idle cached connection that closes, and
 * retries a request it had just sent on one elsewhere (a cached
 * connection's error is retried; only GET and HEAD use kept connections,
 * see nginx.conf.in).
 */
#define KEPT_MAX	128	/* kept connections per worker */
#define KEPT_IDLE_MS	75000	/* nginx closes its idle ones after 60 s */
#define FRESH_IDLE_MS	2000	/* accepted, and no request came */
#define SHED_AFTER_MS	50	/* a request this long sheds the others */
#define POLL_MS		1000	/* heartbeat, log reopen, quit checks */

struct kept {
	FCGX_Request		 f;
	int			 open;
	volatile sig_atomic_t	 shed;	/* shut down by on_alarm: never read */
	volatile sig_atomic_t	 busy;	/* its request is read, not answered */
	unsigned long		 requests; /* served on it; 0 = fresh from accept */
	long long		 last_ms;  /* accepted or last answered */
};

static long long
now_ms(void)
{
	struct timespec	 ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}


static struct kept		 kept[KEPT_MAX];
static volatile sig_atomic_t	 serving = -1;	/* first slot of the batch being served */
static volatile sig_atomic_t	 shed;
/*
 * The shed timer is lazy: armed at the start of a request when it is not
 * armed already, and never disarmed by the request's end. When it fires,
 * on_alarm sheds if the request being served began SHED_AFTER_MS ago or
 * more, arms itself again for the rest when a younger request is being
 * served, and else stays off. A busy worker so makes a setitimer call
 * about every SHED_AFTER_MS, not two per request.
 */
static volatile sig_atomic_t	 timer_armed;
static volatile sig_atomic_t	 serve_start;	/* ms since worker_base_ms */
static long long		 worker_base_ms;

/* Closes slot i (its request, if any, is not read). */
static void
kept_close(int i)
{
	if (kept[i].f.ipcFd >= 0)
		close(kept[i].f.ipcFd);
	kept[i].f.ipcFd = -1;
	kept[i].open = 0;
	kept[i].shed = 0;
}

static void
set_timer_ms(long ms)
{
	struct itimerval	 it;

	memset(&it, 0, sizeof(it));
	it.it_value.tv_sec = ms / 1000;
	it.it_value.tv_usec = (ms % 1000) * 1000;
	setitimer(ITIMER_REAL, &it, NULL);
}

/* SIGALRM: is the current request slow? Then let nginx go elsewhere. */
static void
on_alarm(int sig)
{
	int		 i, fd, saved = errno;
	long long	 age;

	(void)sig;
	if (serving < 0) {
		timer_armed = 0;
		errno = saved;
		return;
	}
	age = now_ms() - worker_base_ms - serve_start;
	if (age < SHED_AFTER_MS) {
		set_timer_ms((long)(SHED_AFTER_MS - (age < 0 ? 0 : age)));
		errno = saved;
		return;
	}
	timer_armed = 0;
	for (i = 0; i < KEPT_MAX; i++) {
		/*
		 * Only connections nginx has used before: it took them from its
		 * cache, so a request it sent on one is retried. A fresh one
		 * (nothing served on it yet) carries a request nginx would fail.
		 */
		if (kept[i].busy || !kept[i].open || kept[i].requests == 0)
			continue;
		fd = kept[i].f.ipcFd;
		if (fd >= 0) {
			/*
			 * nginx sees the end and retries elsewhere what it sent;
			 * those bytes stay readable here: the slot is marked so
			 * the request is never run a second time.
			 */
			shutdown(fd, SHUT_RDWR);
			kept[i].shed = 1;
		}
	}
	shed = 1;
	errno = saved;
}

/*
 * Takes one connection from the (non-blocking) listen socket into a free
 * slot; -1 when there was none (another worker took it) or no slot is free.
 */
static int
accept_one(int fd)
{
	int	 c, i, one = 1;

	for (i = 0; i < KEPT_MAX && kept[i].open; i++)
		;
	if (i == KEPT_MAX)
		return -1;
	if ((c = accept4(fd, NULL, NULL, SOCK_CLOEXEC)) < 0) {
		if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS ||
		    errno == ENOMEM)
			usleep(10000);	/* out of descriptors: breathe */
		return -1;
	}
	/* TCP (API_LISTEN): no Nagle wait on small answers. */
	(void)setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	kept[i].f.ipcFd = c;
	kept[i].f.keepConnection = 1;
	kept[i].open = 1;
	kept[i].shed = 0;
	kept[i].requests = 0;
	kept[i].last_ms = now_ms();
	return i;
}

/*
 * Batches. A poll that finds several kept connections with a request
 * waiting reads those requests one after the other; the authentication and
 * page read of each GET /api/sessions among them is prepared
 * (h_sessions_prefetch) and all of those go to Redis in one pipeline, then
 * each request is handled and answered in the order read. Any other
 * request ends a batch (it is read last, so the ones after it stay unread
 * in their sockets, where the slow-request timer can still hand them back
 * to nginx; they are the next batch). Under load a list request so costs a
 * share of one Redis round trip instead of a whole one, and the worker no
 * longer sits idle waiting on Redis once per request; a request alone costs
 * what it did. Every request read is answered, also when the worker
 * recycles or quits meanwhile.
 */
#define BATCH_MAX	16

struct inflight {
	int		 slot;
	int		 st;	/* req_from_fcgi's status */
	struct timespec	 t0;
	struct http_req	 r;
	struct auth_pre	 pre;
};
static struct inflight	 batch[BATCH_MAX];

/* Reads the request waiting on kept[i] into b; -1 when there is none. */
static int
serve_read(const struct worker_args *wa, int i, struct inflight *b, int first)
{
	FCGX_Request	*f = &kept[i].f;
	long long	 t;
	int		 k, armed;

	if (!kept[i].open)
		return -1;
	if (kept[i].shed) {
		kept_close(i);
		return -1;
	}
	/* The start first: on_alarm reads it once serving says so. */
	if (first) {
		t = now_ms();
		if (t - worker_base_ms > (1LL << 30))	/* sig_atomic_t: an int */
			worker_base_ms = t;
		serve_start = (sig_atomic_t)(t - worker_base_ms);
	}
	kept[i].busy = 1;
	serving = serving < 0 ? i : serving;
	if (FCGX_Accept_r(f) < 0) {
		/* nginx closed it (or sent garbage): libfcgi closed the fd. */
		kept[i].busy = 0;
		kept[i].open = 0;
		f->ipcFd = -1;
		return -1;
	}
	/* The timer only matters when other kept connections wait on us. */
	armed = 0;
	for (k = 0; k < KEPT_MAX && !armed; k++)
		armed = !kept[k].busy && kept[k].open;
	if (first)
		shed = 0;
	if (armed && !timer_armed) {
		timer_armed = 1;
		set_timer_ms(SHED_AFTER_MS);
	}
	b->slot = i;
	clock_gettime(CLOCK_MONOTONIC, &b->t0);
	http_req_init(&b->r, wa->cfg);
	b->st = req_from_fcgi(&b->r, f);
	return 0;
}

/*
 * The commands b's request would send first, prepared ahead (auth.h): only
 * a plain GET /api/sessions of the api pool (no Origin: CORS answers
 * nothing before the handler). The number of commands, 0 for none.
 */
static int
prefetch(struct inflight *b, struct app *app)
{
	struct http_req	*r = &b->r;

	/* The path's spelling first: every other request leaves at once. */
	if (b->st != 0 || r->method != HTTP_GET || r->request_uri == NULL ||
	    strncmp(r->request_uri, "/api/sessions", 13) != 0 ||
	    (r->request_uri[13] != '\0' && r->request_uri[13] != '?'))
		return 0;
	if (app->pool != POOL_API || http_header(r, "Origin") != NULL ||
	    http_uri_parse(r->request_uri, strlen(r->request_uri),
	    &r->uri) != URI_OK || r->uri.nsegs != 2 ||
	    strcmp(r->uri.segs[0], "api") != 0 ||
	    strcmp(r->uri.segs[1], "sessions") != 0)
		return 0;
	return h_sessions_prefetch(r, app, &b->pre);
}

/* Handles and answers b's request; 0, or -1 when the worker should go. */
static int
serve_finish(const struct worker_args *wa, struct app *app,
    struct inflight *b, unsigned long *served)
{
	struct http_req	*r = &b->r;
	int		 i = b->slot, k;
	FCGX_Request	*f = &kept[i].f;
	const char	*user, *sid, *run;

	scoreboard_begin_request(wa->slot, r->method_str, r->request_id);
	if (b->st == 0)
		worker_handle(r, app);
	scoreboard_set_route(wa->slot, r->route ? r->route : "");
	send_response(r, f);
	(void)worker_quitting();	/* a pending SIGUSR1 reopens the log first */
	/* Log before finishing: the params r points into die with it. */
	log_ids(r, &user, &sid, &run);
	log_kv(r->status >= 500 ? LOG_ERROR : LOG_INFO, "request",
	    "s:request_id", r->request_id, "s:method", r->method_str,
	    "s:route", r->route ? r->route : "(invalid)",
	    "i:status", (long long)r->status,
	    "d:duration_ms", elapsed_ms(&b->t0), "s:user", user,
	    "s:session", sid, "s:run_id", run, NULL);
	FCGX_Finish_r(f);
	kept[i].busy = 0;
	kept[i].requests++;
	kept[i].last_ms = now_ms();
	if (f->ipcFd < 0)	/* nginx did not ask to keep it */
		kept[i].open = 0;
	/* Shed during this request: close them unread. */
	for (k = 0; k < KEPT_MAX; k++)
		if (kept[k].open && kept[k].shed)
			kept_close(k);
	metrics_observe(r->route_idx, r->method, r->status, elapsed_ms(&b->t0));
	auth_pre_release(&b->pre);
	http_req_free(r);
	scoreboard_end_request(wa->slot);
	(*served)++;
	if (wa->cfg->max_requests > 0 &&
	    *served >= (unsigned long long)wa->cfg->max_requests) {
		log_kv(LOG_INFO, "recycling worker after max requests",
		    "i:requests", (long long)*served, NULL);
		return -1;
	}
	return 0;
}

/*
 * Serves the requests waiting on kept[ready[0..n)], in batches; 0, or -1
 * when the worker should go (after answering every request it read).
 */
static int
serve_ready(const struct worker_args *wa, struct app *app, const int *ready,
    int n, unsigned long *served)
{
	struct store_pcmd	 cmds[BATCH_MAX * (1 + AUTH_EXTRA_MAX)];
	redisReply		*out[BATCH_MAX * (1 + AUTH_EXTRA_MAX)];
	struct auth_pre		*p;
	int			 k = 0, j, nb, nc, np, broke, shared, going = 0;

	while (k < n && !going) {
		nb = nc = 0;
		while (k < n && nb < BATCH_MAX) {
			if (serve_read(wa, ready[k++], &batch[nb], nb == 0) == -1)
				continue;
			np = prefetch(&batch[nb], app);
			for (j = 0; j < np; j++)
				cmds[nc++] = batch[nb].pre.cmds[j];
			nb++;
			if (np == 0)
				break;
		}
		if (nc > 0) {
			scoreboard_begin_request(wa->slot, batch[0].r.method_str,
			    batch[0].r.request_id);
			broke = store_pipe(app->store, nc, cmds, out) == -1 &&
			    app->store->last == STORE_ERR_CONN;
			for (j = nc = shared = 0; j < nb; j++) {
				p = &batch[j].pre;
				if (p->state != AUTH_PRE_READY)
					continue;
				for (np = 0; np < p->ncmds; np++)
					p->out[np] = out[nc++];
				p->failed = broke;
				p->state = AUTH_PRE_FETCHED;
				shared++;
			}
			if (shared > 1)
				metrics_add(M_API_BATCHED, (uint64_t)shared);
		}
		for (j = 0; j < nb; j++)
			if (serve_finish(wa, app, &batch[j], served) == -1)
				going = 1;
		serving = -1;
	}
	return going ? -1 : 0;
}

/* One request from kept[i] (readable); 0, or -1 when the worker should go. */
static int
serve_one(const struct worker_args *wa, struct app *app, int i,
    unsigned long *served)
{
	return serve_ready(wa, app, &i, 1, served);
}

/*
 * Slots are bounded, so none may be held for nothing: a connection that was
 * accepted but sent no request for FRESH_IDLE_MS (nginx sends at once; a
 * silent local client does not) or that idled KEPT_IDLE_MS is closed, and
 * when every slot is taken the least recently used kept one (nginx retries
 * a request it meets closed) makes room, so the listen socket is always
 * polled.
 */
static void
expire_kept(void)
{
	long long	 now = now_ms(), oldest = 0;
	int		 i, n = 0, lru = -1;

	for (i = 0; i < KEPT_MAX; i++) {
		if (!kept[i].open)
			continue;
		if (now - kept[i].last_ms > (kept[i].requests == 0 ?
		    FRESH_IDLE_MS : KEPT_IDLE_MS)) {
			kept_close(i);
			continue;
		}
		n++;
		if (kept[i].requests > 0 && (lru == -1 || kept[i].last_ms < oldest)) {
			lru = i;
			oldest = kept[i].last_ms;
		}
	}
	if (n == KEPT_MAX && lru != -1)
		kept_close(lru);
}

/*
 * A new connection is served at once: nginx connected to send a request
 * and writes it right after connecting, so it is (nearly always) already
 * there. Waiting up to ACCEPT_WAIT_MS (a TCP round trip at most; a silent
 * local client costs no more) for it here, rather than adding the
 * connection to the poll set, means a fresh connection never waits behind
 * another request (and the slow-request timer never has to shed one).
 */
#define ACCEPT_WAIT_MS	20

static int
serve_fresh(const struct worker_args *wa, struct app *app,
    unsigned long *served)
{
	struct pollfd	 p;
	int		 i;

	if ((i = accept_one(listen_fd)) < 0)
		return 0;
	p.fd = kept[i].f.ipcFd;
	p.events = POLLIN;
	p.revents = 0;
	if (poll(&p, 1, ACCEPT_WAIT_MS) <= 0)
		return 0;	/* kept as fresh; the main poll serves it */
	return serve_one(wa, app, i, served);
}

/*
 * Leaving (quit, recycling): serve what nginx already sent, close the idle
 * kept connections (nginx retries a request that meets a closed cached
 * connection), and give a connection accepted but not yet used — nginx
 * connected for a request that is on its way — up to DRAIN_FRESH_MS to send
 * it: closing that one would fail the request (it was not cached).
 */
#define DRAIN_FRESH_MS	1000

static void
drain_kept(const struct worker_args *wa, struct app *app, unsigned long *served)
{
	struct pollfd	 pfd[KEPT_MAX];
	int		 map[KEPT_MAX];
	struct timespec	 t0;
	int		 i, n, nfds, waited = 0;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (;;) {
		nfds = 0;
		for (i = 0; i < KEPT_MAX; i++) {
			if (!kept[i].open)
				continue;
			/* After the first look, only fresh ones are waited for. */
			if (waited && kept[i].requests > 0) {
				close(kept[i].f.ipcFd);
				kept[i].f.ipcFd = -1;
				kept[i].open = 0;
				continue;
			}
			pfd[nfds].fd = kept[i].f.ipcFd;
			pfd[nfds].events = POLLIN;
			pfd[nfds].revents = 0;
			map[nfds++] = i;
		}
		if (nfds == 0 || elapsed_ms(&t0) >= DRAIN_FRESH_MS)
			break;
		n = poll(pfd, (nfds_t)nfds, waited ? 50 : 0);
		waited = 1;
		for (i = 0; n > 0 && i < nfds; i++)
			if (pfd[i].revents != 0)
				(void)serve_one(wa, app, map[i], served);
	}
	for (i = 0; i < KEPT_MAX; i++)
		if (kept[i].open) {
			close(kept[i].f.ipcFd);
			kept[i].f.ipcFd = -1;
			kept[i].open = 0;
		}
}

void
worker_serve_fcgi(const struct worker_args *wa, struct app *app)
{
	struct pollfd		 pfd[KEPT_MAX + 1];
	int			 map[KEPT_MAX + 1], ready[KEPT_MAX];
	struct sigaction	 sa;
	unsigned long		 served = 0;
	int			 i, n, nfds, nkept, nready, lready, fl, going = 0;

	listen_fd = wa->listen_fd;
	dead_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	/* Workers share the listen socket: whoever polls it first accepts. */
	if ((fl = fcntl(listen_fd, F_GETFL)) != -1)
		(void)fcntl(listen_fd, F_SETFL, fl | O_NONBLOCK);
	for (i = 0; i < KEPT_MAX; i++) {
		/* -1: libfcgi never accepts by itself (we do, above). */
		if (FCGX_InitRequest(&kept[i].f, -1, FCGI_FAIL_ACCEPT_ON_INTR) != 0) {
			log_msg(LOG_ERROR, "FCGX_InitRequest failed");
			_exit(1);
		}
	}
	memset(&sa, 0, sizeof(sa));
	sigemptyset(&sa.sa_mask);
	sa.sa_flags = SA_RESTART;
	sa.sa_handler = on_alarm;
	worker_base_ms = now_ms();
	sigaction(SIGALRM, &sa, NULL);
	scoreboard_set_state(wa->slot, SB_IDLE);
	while (!going) {
		if (reopen_requested) {
			reopen_requested = 0;
			log_reopen();
		}
		expire_kept();
		nfds = nkept = 0;
		for (i = 0; i < KEPT_MAX; i++)
			if (kept[i].open) {
				pfd[nfds].fd = kept[i].f.ipcFd;
				pfd[nfds].events = POLLIN;
				pfd[nfds].revents = 0;
				map[nfds++] = i;
				nkept++;
			}
		if (quit_requested)
			break;	/* drain_kept finishes what was sent */
		if (nkept < KEPT_MAX) {
			pfd[nfds].fd = listen_fd;
			pfd[nfds].events = POLLIN;
			pfd[nfds].revents = 0;
			map[nfds++] = -1;
		}
		n = poll(pfd, (nfds_t)nfds, POLL_MS);
		scoreboard_heartbeat(wa->slot);
		if (n <= 0)
			continue;
		nready = 0;
		lready = 0;
		for (i = 0; i < nfds; i++) {
			if (pfd[i].revents == 0)
				continue;
			if (map[i] == -1)
				lready = 1;
			else
				ready[nready++] = map[i];
		}
		if (nready > 0 && serve_ready(wa, app, ready, nready,
		    &served) == -1)
			going = 1;
		else if (lready && !quit_requested && serve_fresh(wa, app,
		    &served) == -1)
			going = 1;
	}
	drain_kept(wa, app, &served);
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
	/*
	 * Runners block in Redis (XREADGROUP BLOCK): the timeout must outlast
	 * it. A stream worker blocks only on its own watch connection
	 * (streamloop.c); its command connection serves a loop of thousands
	 * of streams, so a stalled Redis may hold it at most 1 s per command.
	 */
	store_init(&store, wa->cfg, wa->pool == POOL_RUNNER ?
	    REDIS_BLOCKING_TIMEOUT_MS : REDIS_TIMEOUT_MS);
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
