/*
 * The stream pool's event loop: one process serves many SSE connections
 * (docs/streams.md). Everything runs on one thread around epoll:
 *
 * - FastCGI connections from nginx, accepted non-blocking from the listen
 *   socket the stream workers share (EPOLLEXCLUSIVE: one worker wakes per
 *   connection; past STREAM_MAX_CONNECTIONS a worker stops accepting and
 *   leaves new connections to the others). Bytes go through fcgiproto's
 *   incremental parser; a complete request goes through the ordinary
 *   router (worker_handle) with its params in r->envp. Every answer but an
 *   event stream is written at once and the connection kept or closed.
 * - h_events opens a stream with its usual synchronous checks and hands it
 *   to the loop (streamloop_adopt): the connection then keeps only what
 *   the periodic re-check needs (a few params, user, slot) and its
 *   position `after` (the last id it was sent).
 * - Streams of one session share a group with the group's position `pos`:
 *   every entry up to pos has been read from Redis. A stream is live when
 *   it has been sent everything up to pos; it then gets each new entry the
 *   watch read brings (only ids above its own after). A stream behind pos
 *   (a resume, or a start at the active run) catches up with bounded XRANGE
 *   reads (after, pos] on the command connection, COUNT entries per loop
 *   turn and only while its output is small, and turns live when a read
 *   comes back short. An entry is thus sent once: below or at pos by the
 *   catch-up, above pos by the live read, never both.
 * - One watch connection runs XREAD BLOCK over all groups' keys from their
 *   pos. When a new group appears while a read is blocked, CLIENT UNBLOCK
 *   (from the command connection) ends that read so the next one includes
 *   the new key.
 * - Output is written non-blocking; what the socket does not take waits in
 *   the connection's buffer. Entries are appended only while it holds less
 *   than OUT_MAX: a stream that falls behind stops being live and catches
 *   up from Redis once its output drained (back-pressure, memory bounded).
 *   A client that took nothing for STALL_MS is dropped ("client not
 *   reading").
 * - Timers: each stream re-checks its token and session and renews its slot
 *   every SSE_PING_INTERVAL (spread by a random offset, at most
 *   TICKS_PER_TURN per loop turn), pings when idle, and ends after
 *   SSE_MAX_DURATION.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <time.h>
#include <unistd.h>

#include "app.h"
#include "config.h"
#include "fcgiproto.h"
#include "http.h"
#include "keys.h"
#include "log.h"
#include "metrics.h"
#include "scoreboard.h"
#include "store.h"
#include "streamloop.h"
#include "worker.h"

#define OUT_MAX			(256 * 1024)	/* pending output before a drop */
#define OUT_LOW			(64 * 1024)	/* catch-up reads only below this */
#define STALL_MS		30000		/* no write progress: dropped */
#define IDLE_MS			10000		/* no byte in or out, not streaming */
#define READ_CHUNK		16384
#define CATCHUP_COUNT		200
#define CATCHUPS_PER_TURN	32
#define TICKS_PER_TURN		EVENTS_RENEW_MAX /* one renewal pipeline */
#define TURN_BUDGET_MS		15		/* ticks, catch-ups: then events */
#define RECHECK_SHARE_MS	1000		/* one re-check serves its twins */
#define RECHECK_SLOTS		1024
#define WATCH_COUNT		"200"
#define SCAN_MIN_MS		200	/* deadlines are walked at most this often */
#define WATCH_BLOCK_MS		2000
#define WATCH_TIMEOUT_MS	1000		/* connect and command timeout */
#define WATCH_RETRIES		5
#define BACKOFF_MS		250
#define BACKOFF_MAX_MS		2000
#define GROUP_BUCKETS		4096
#define EVENTS_MAX		256

struct xid {
	unsigned long long	 ms, seq;
};

struct sgroup;

struct sconn {
	int		 fd;
	int		 dead;		/* closed; freed after this turn */
	int		 want_out;	/* EPOLLOUT registered */
	struct fcgip	 fp;
	struct buf	 out;		/* pending output from out_off */
	size_t		 out_off;
	long long	 stall_since;	/* ms output first waited, 0 none */
	long long	 last_active;	/* ms of the last byte read or written */
	int		 close_drained;	/* answered, not kept: close once written */
	struct sconn	*prev, *next;	/* all connections */

	/* A stream (streaming = 1). */
	int		 streaming;
	int		 live;
	int		 queued;	/* in the catch-up queue */
	int		 wait_drain;	/* catch-up resumes when output drains */
	int		 reset_on_stdin; /* answered; next request after STDIN's end */
	int		 retries;
	unsigned	 req_id;
	struct sgroup	*g;
	struct sconn	*gprev, *gnext;
	struct sconn	*qprev, *qnext; /* the catch-up queue, when queued */
	struct xid	 after;
	char		**keep;		/* params for re-checks + CW_USER, CW_SLOT */
	const char	*route;
	int		 route_idx;
	long long	 started, next_tick, last_write, retry_at;
};

struct sgroup {
	struct sgroup	*hnext;
	struct sgroup	*prev, *next;
	struct sconn	*conns;
	struct xid	 pos;
	char		 key[];		/* CW_KP "events:<sid>" */
};

static struct {
	struct app		*app;
	const struct config	*cfg;
	int			 ep;
	int			 lfd;
	int			 listening;
	long long		 accept_pause_until;
	int			 nconns, nstreams, max;
	struct sconn		*conns;
	struct sconn		*cur;		/* the request being handled */
	struct sconn		*dead;		/* closed this turn (via next) */
	struct sgroup		*buckets[GROUP_BUCKETS];
	struct sgroup		*groups;
	int			 ngroups;
	/*
	 * Re-check results by what they depend on (the kept params but the
	 * request id and slot, and the session): streams of one token and
	 * session that tick within RECHECK_SHARE_MS share one check.
	 */
	struct {
		char		*key;		/* owned, NULL none */
		const char	*why;		/* events_recheck's (static) */
		long long	 at;
	}			 rc[RECHECK_SLOTS];
	unsigned long		 rc_hits, rc_checks;
	struct sconn		*qhead, *qtail;	/* catch-up queue */
	int			 qlen;
	long long		 next_scan;

	/* The watch connection. */
	struct store		 ws;
	int			 wfd;		/* registered fd, -1 none */
	int			 w_inflight, w_dirty, w_errors, w_unblocks;
	long long		 w_id, w_sent, w_retry_at, w_unblock_at;
} L;

static char	 listen_tag, watch_tag;

static long long
now_ms(void)
{
	struct timespec	 ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int
xid_parse(const char *s, struct xid *x)
{
	char	*end;

	if (s == NULL)
		return -1;
	errno = 0;
	x->ms = strtoull(s, &end, 10);
	if (end == s || *end != '-' || errno != 0)
		return -1;
	s = end + 1;
	x->seq = strtoull(s, &end, 10);
	if (end == s || *end != '\0' || errno != 0)
		return -1;
	return 0;
}

static int
xid_cmp(const struct xid *a, const struct xid *b)
{
	if (a->ms != b->ms)
		return a->ms < b->ms ? -1 : 1;
	if (a->seq != b->seq)
		return a->seq < b->seq ? -1 : 1;
	return 0;
}

static const char *
kept(const struct sconn *c, const char *name)
{
	char	**e;
	size_t	 n = strlen(name);

	for (e = c->keep; e != NULL && *e != NULL; e++)
		if (strncmp(*e, name, n) == 0 && (*e)[n] == '=')
			return *e + n + 1;
	return NULL;
}

/* ---- epoll registration ------------------------------------------------ */

static void
conn_events(struct sconn *c, int want_out)
{
	struct epoll_event	 ev;

	if (c->want_out == want_out)
		return;
	memset(&ev, 0, sizeof(ev));
	ev.events = EPOLLIN | EPOLLRDHUP | (want_out ? EPOLLOUT : 0);
	ev.data.ptr = c;
	if (epoll_ctl(L.ep, EPOLL_CTL_MOD, c->fd, &ev) == 0)
		c->want_out = want_out;
}

static void
listen_set(int on)
{
	struct epoll_event	 ev;

	if (on == L.listening)
		return;
	memset(&ev, 0, sizeof(ev));
	ev.events = EPOLLIN | EPOLLEXCLUSIVE;
	ev.data.ptr = &listen_tag;
	if (on && epoll_ctl(L.ep, EPOLL_CTL_ADD, L.lfd, &ev) == 0)
		L.listening = 1;
	else if (!on && epoll_ctl(L.ep, EPOLL_CTL_DEL, L.lfd, NULL) == 0)
		L.listening = 0;
}

/* ---- groups ------------------------------------------------------------ */

static unsigned
hash_str(const char *s)
{
	unsigned	 h = 2166136261u;

	while (*s)
		h = (h ^ (unsigned char)*s++) * 16777619u;
	return h % GROUP_BUCKETS;
}

static struct sgroup *
group_find(const char *key)
{
	struct sgroup	*g;

	for (g = L.buckets[hash_str(key)]; g != NULL; g = g->hnext)
		if (strcmp(g->key, key) == 0)
			return g;
	return NULL;
}

static struct sgroup *
group_get(const char *sid, const struct xid *pos)
{
	char		 key[160];
	struct sgroup	*g;
	unsigned	 h;
	int		 n;

	n = snprintf(key, sizeof(key), CW_KP "events:%s", sid);
	if (n < 0 || (size_t)n >= sizeof(key))
		return NULL;
	if ((g = group_find(key)) != NULL)
		return g;
	if ((g = calloc(1, sizeof(*g) + (size_t)n + 1)) == NULL)
		return NULL;
	memcpy(g->key, key, (size_t)n + 1);
	g->pos = *pos;
	h = hash_str(key);
	g->hnext = L.buckets[h];
	L.buckets[h] = g;
	g->next = L.groups;
	if (L.groups != NULL)
		L.groups->prev = g;
	L.groups = g;
	L.ngroups++;
	L.w_dirty = 1;
	return g;
}

static const char *
group_sid(const struct sgroup *g)
{
	return g->key + sizeof(CW_KP "events:") - 1;
}

static void
group_leave(struct sconn *c)
{
	struct sgroup	*g = c->g, **pp;

	if (g == NULL)
		return;
	if (c->gprev != NULL)
		c->gprev->gnext = c->gnext;
	else
		g->conns = c->gnext;
	if (c->gnext != NULL)
		c->gnext->gprev = c->gprev;
	c->g = NULL;
	c->gprev = c->gnext = NULL;
	if (g->conns != NULL)
		return;
	for (pp = &L.buckets[hash_str(g->key)]; *pp != NULL; pp = &(*pp)->hnext)
		if (*pp == g) {
			*pp = g->hnext;
			break;
		}
	if (g->prev != NULL)
		g->prev->next = g->next;
	else
		L.groups = g->next;
	if (g->next != NULL)
		g->next->prev = g->prev;
	L.ngroups--;
	free(g);
}

/* ---- output ------------------------------------------------------------ */

static void	queue_push(struct sconn *);
static void	queue_unlink(struct sconn *);

static void	stream_end(struct sconn *, const char *why);

static void
conn_close(struct sconn *c)
{
	if (c->dead)
		return;
	if (c->streaming) {
		stream_end(c, "client left");	/* which closes c */
		return;
	}
	c->dead = 1;
	/* Freed at the end of the turn: nothing may still point at it. */
	queue_unlink(c);
	c->wait_drain = 0;
	epoll_ctl(L.ep, EPOLL_CTL_DEL, c->fd, NULL);
	close(c->fd);
	c->fd = -1;
	if (c->prev != NULL)
		c->prev->next = c->next;
	else
		L.conns = c->next;
	if (c->next != NULL)
		c->next->prev = c->prev;
	c->prev = NULL;
	c->next = L.dead;
	L.dead = c;
	L.nconns--;
	if (L.nconns < L.max)
		listen_set(1);
}

static void
conn_free(struct sconn *c)
{
	fcgip_free(&c->fp);
	buf_free(&c->out);
	free(c->keep);
	free(c);
}

/* Writes what it can; 0, or -1 when the client is gone (then closed). */
static int
conn_flush(struct sconn *c)
{
	ssize_t	 w;

	while (c->out_off < c->out.len) {
		w = write(c->fd, c->out.p + c->out_off, c->out.len - c->out_off);
		if (w > 0) {
			c->out_off += (size_t)w;
			c->stall_since = 0;
			c->last_active = now_ms();
			continue;
		}
		if (w == -1 && errno == EINTR)
			continue;
		if (w == -1 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			if (c->stall_since == 0)
				c->stall_since = now_ms();
			conn_events(c, 1);
			return 0;
		}
		conn_close(c);
		return -1;
	}
	/* All out: give the memory back (an idle stream holds no buffer). */
	buf_free(&c->out);
	c->out_off = 0;
	c->stall_since = 0;
	conn_events(c, 0);
	if (c->close_drained) {
		conn_close(c);	/* the whole answer is out: nginx reads to EOF */
		return -1;
	}
	if (c->wait_drain) {
		c->wait_drain = 0;
		queue_push(c);
	}
	return 0;
}

/*
 * Queues STDOUT records. The callers bound what waits: entries go out only
 * while the pending output is under OUT_MAX (send_entries), the rest waits
 * in Redis. -1 (and the connection closed) when memory runs out.
 */
static int
out_stdout(struct sconn *c, const char *p, size_t n)
{
	size_t	 pending = c->out.len - c->out_off;

	if (c->out_off > 0 && c->out_off == c->out.len) {
		buf_reset(&c->out);
		c->out_off = 0;
	} else if (c->out_off > 0 && c->out_off >= pending) {
		memmove(c->out.p, c->out.p + c->out_off, pending);
		c->out.len = pending;
		c->out.p[pending] = '\0';
		c->out_off = 0;
	}
	c->out.max = c->out.len + n + (n / FCGIP_CONTENT_MAX + 2) * 8 + 64;
	if (fcgip_put_stdout(&c->out, c->req_id, p, n) == -1) {
		if (c->streaming)
			stream_end(c, "client not reading");
		else
			conn_close(c);
		return -1;
	}
	return 0;
}

/* ---- streams ----------------------------------------------------------- */

/* Only a stream still open may wait in the queue (conn_close unlinks). */
static void
queue_push(struct sconn *c)
{
	if (c->queued || c->dead || !c->streaming)
		return;
	c->queued = 1;
	L.qlen++;
	c->qnext = NULL;
	c->qprev = L.qtail;
	if (L.qtail != NULL)
		L.qtail->qnext = c;
	else
		L.qhead = c;
	L.qtail = c;
}

static void
queue_unlink(struct sconn *c)
{
	if (!c->queued)
		return;
	if (c->qprev != NULL)
		c->qprev->qnext = c->qnext;
	else
		L.qhead = c->qnext;
	if (c->qnext != NULL)
		c->qnext->qprev = c->qprev;
	else
		L.qtail = c->qprev;
	c->qprev = c->qnext = NULL;
	c->queued = 0;
	L.qlen--;
}

static struct sconn *
queue_pop(void)
{
	struct sconn	*c = L.qhead;

	if (c != NULL)
		queue_unlink(c);
	return c;
}

static void
request_log(const char *rid, const char *method, const char *route,
    int status, double ms, const char *user, const char *sid)
{
	log_kv(status >= 500 ? LOG_ERROR : LOG_INFO, "request",
	    "s:request_id", rid, "s:method", method,
	    "s:route", route ? route : "(invalid)", "i:status", (long long)status,
	    "d:duration_ms", ms, "s:user", user, "s:session", sid, NULL);
}

/*
 * Ends a stream: releases its slot, logs, and (unless the client is
 * already gone) finishes the FastCGI request so nginx ends the response
 * cleanly; then closes the connection.
 */
static void
stream_end(struct sconn *c, const char *why)
{
	struct app	*app = L.app;
	const char	*user = kept(c, "CW_USER"), *slot = kept(c, "CW_SLOT");
	const char	*rid = kept(c, "REQUEST_ID");
	double		 ms;

	if (!c->streaming)
		return;
	c->streaming = 0;
	/* Its catch-up ends here: no drain may queue it again. */
	c->wait_drain = 0;
	queue_unlink(c);
	ms = (double)(now_ms() - c->started);
	if (user != NULL && slot != NULL)
		events_slot_release(app, user, slot);
	events_stream_ended(why, c->g ? group_sid(c->g) : "", user ? user : "",
	    rid);
	request_log(rid, "GET", c->route, 200, ms, user,
	    c->g ? group_sid(c->g) : NULL);
	metrics_observe(c->route_idx, HTTP_GET, 200, ms);
	group_leave(c);
	L.nstreams--;
	metrics_stream_count(app->sb, app->slot, L.nstreams);
	if (strcmp(why, "client left") != 0 && !c->dead &&
	    fcgip_put_end(&c->out, c->req_id, 0, FCGI_REQUEST_COMPLETE) == 0)
		(void)conn_flush(c);
	conn_close(c);
}

/* The params a re-check needs, plus the user and slot: one allocation. */
static char **
keep_params(char *const *envp, const char *user, const char *slot)
{
	static const char *const names[] = {
		"REQUEST_ID", "REQUEST_METHOD", "REMOTE_ADDR", "HTTP_AUTHORIZATION",
		"HTTP_COOKIE", "HTTP_ORIGIN", "HTTP_X_REQUESTED_WITH", "HTTP_HOST",
		"SERVER_PORT",
	};
	const char	*pick[sizeof(names) / sizeof(names[0]) + 2];
	size_t		 i, n = 0, bytes = 0, ptrs;
	char *const	*e;
	char		**out, *s;
	char		 u[160], sl[80];

	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		for (e = envp; e != NULL && *e != NULL; e++)
			if (strncmp(*e, names[i], strlen(names[i])) == 0 &&
			    (*e)[strlen(names[i])] == '=') {
				pick[n++] = *e;
				break;
			}
	snprintf(u, sizeof(u), "CW_USER=%s", user);
	snprintf(sl, sizeof(sl), "CW_SLOT=%s", slot);
	pick[n++] = u;
	pick[n++] = sl;
	for (i = 0; i < n; i++)
		bytes += strlen(pick[i]) + 1;
	ptrs = (n + 1) * sizeof(char *);
	if ((out = malloc(ptrs + bytes)) == NULL)
		return NULL;
	s = (char *)out + ptrs;
	for (i = 0; i < n; i++) {
		out[i] = s;
		memcpy(s, pick[i], strlen(pick[i]) + 1);
		s += strlen(pick[i]) + 1;
	}
	out[n] = NULL;
	return out;
}

int
streamloop_active(void)
{
	return L.cur != NULL;
}

int
streamloop_adopt(struct http_req *r, struct app *app,
    const struct stream_open *so)
{
	struct sconn	*c = L.cur;
	struct xid	 last, after;
	struct sgroup	*g;
	long long	 now = now_ms(), tick = L.cfg->sse_ping_interval * 1000;

	(void)app;
	if (c == NULL || c->streaming || xid_parse(so->last_id, &last) == -1 ||
	    xid_parse(so->after, &after) == -1)
		return -1;
	if ((c->keep = keep_params(r->envp, so->user, so->slot_id)) == NULL)
		return -1;
	if ((g = group_get(so->sid, &last)) == NULL) {
		free(c->keep);
		c->keep = NULL;
		return -1;
	}
	c->out.max = OUT_MAX + so->head_len + 64;
	if (fcgip_put_stdout(&c->out, c->req_id, so->head, so->head_len) == -1) {
		free(c->keep);
		c->keep = NULL;
		if (g->conns == NULL) {
			c->g = g;
			group_leave(c);
		}
		return -1;
	}
	c->g = g;
	c->gnext = g->conns;
	if (g->conns != NULL)
		g->conns->gprev = c;
	g->conns = c;
	c->after = after;
	c->live = xid_cmp(&after, &g->pos) >= 0;
	c->streaming = 1;
	if (!c->live)
		queue_push(c);
	c->route = r->route;
	c->route_idx = r->route_idx;
	c->started = c->last_write = now;
	/* Spread the re-checks: streams opened together tick apart. */
	c->next_tick = now + tick - (tick > 4 ? random() % (tick / 4) : 0);
	if (c->next_tick < L.next_scan)
		L.next_scan = c->next_tick;
	L.nstreams++;
	metrics_stream_count(L.app->sb, L.app->slot, L.nstreams);
	return 0;
}

/*
 * Appends the SSE text of the entries above c->after, in order, while the
 * pending output stays under OUT_MAX (at least one entry when nothing is
 * pending, so any entry gets through); advances after. 0 all sent, 1 some
 * left for later (the stream then catches up from Redis once its output
 * drained), -1 the client is gone.
 */
static int
send_entries(struct sconn *c, const char *text, const size_t *offs,
    const struct xid *ids, size_t n)
{
	size_t	 k, e, pending = c->out.len - c->out_off;

	for (k = 0; k < n && xid_cmp(&ids[k], &c->after) <= 0; k++)
		;
	if (k == n)
		return 0;
	for (e = k; e < n; e++)
		if (e > k || pending > 0)
			if (pending + offs[e + 1] - offs[k] > OUT_MAX)
				break;
	if (e == k)
		goto later;
	if (out_stdout(c, text + offs[k], offs[e] - offs[k]) == -1)
		return -1;
	c->after = ids[e - 1];
	c->last_write = now_ms();
	if (conn_flush(c) == -1)
		return -1;
	if (e == n)
		return 0;
later:
	/* Back-pressure: the rest is read again from Redis after the drain. */
	c->live = 0;
	if (c->out.len - c->out_off == 0)
		queue_push(c);		/* already drained: no EPOLLOUT will come */
	else if (!c->queued)
		c->wait_drain = 1;
	return 1;
}

/*
 * The entries of one reply array (XRANGE's, or one key's of XREAD) as SSE
 * text with their offsets and ids. Returns how many (malformed skipped).
 */
static size_t
format_entries(const redisReply *arr, struct buf *text, size_t *offs,
    struct xid *ids, size_t cap)
{
	size_t		 i, n = 0;
	const char	*id;

	offs[0] = 0;
	for (i = 0; i < arr->elements && n < cap; i++) {
		if (events_sse_entry(text, arr->element[i], &id) == -1 ||
		    xid_parse(id, &ids[n]) == -1) {
			text->len = offs[n];
			if (text->p != NULL)
				text->p[text->len] = '\0';
			continue;
		}
		offs[++n] = text->len;
	}
	return n;
}

/*
 * The id of the last entry of a reply array that has one, malformed
 * entries included: positions move past what cannot be sent, so a range
 * of malformed entries is neither re-read forever nor read in a loop.
 * -1 when no entry has an id.
 */
static int
last_entry_id(const redisReply *arr, struct xid *x)
{
	const redisReply	*e;
	size_t			 i;

	for (i = arr->elements; i > 0; i--) {
		e = arr->element[i - 1];
		if (e->type == REDIS_REPLY_ARRAY && e->elements >= 1 &&
		    e->element[0]->type == REDIS_REPLY_STRING &&
		    xid_parse(e->element[0]->str, x) == 0)
			return 0;
	}
	return -1;
}

/* One catch-up read for c: (after, pos], COUNT entries at most. */
static void
catch_up(struct sconn *c, long long now)
{
	static size_t	 offs[CATCHUP_COUNT + 1];
	static struct xid ids[CATCHUP_COUNT];
	struct buf	 text;
	redisReply	*rep;
	char		 start[48], end[48];
	struct xid	 last;
	size_t		 n;
	int		 full, rc, has_last;

	if (c->out.len - c->out_off > OUT_LOW) {
		c->wait_drain = 1;	/* paced by the client's reading */
		return;
	}
	if (now < c->retry_at) {
		queue_push(c);
		return;
	}
	snprintf(start, sizeof(start), "%llu-%llu",
	    c->after.seq == ULLONG_MAX ? c->after.ms + 1 : c->after.ms,
	    c->after.seq == ULLONG_MAX ? 0ULL : c->after.seq + 1);
	snprintf(end, sizeof(end), "%llu-%llu", c->g->pos.ms, c->g->pos.seq);
	rep = store_cmdv(L.app->store, "XRANGE", c->g->key, start, end, "COUNT",
	    "200", NULL);
	if (rep == NULL) {
		if (++c->retries > WATCH_RETRIES) {
			stream_end(c, L.app->store->last == STORE_ERR_CONN ?
			    "redis unreachable" : "redis error reply");
			return;
		}
		c->retry_at = now + BACKOFF_MS * (1LL << (c->retries - 1));
		queue_push(c);
		return;
	}
	c->retries = 0;
	if (rep->type != REDIS_REPLY_ARRAY) {
		freeReplyObject(rep);
		c->live = 1;
		return;
	}
	full = rep->elements >= CATCHUP_COUNT;
	has_last = last_entry_id(rep, &last) == 0;
	buf_init(&text, 64 * 1024 * 1024);
	n = format_entries(rep, &text, offs, ids, CATCHUP_COUNT);
	freeReplyObject(rep);
	rc = n > 0 ? send_entries(c, text.p, offs, ids, n) : 0;
	buf_free(&text);
	if (rc != 0)
		return;		/* gone, or waiting for its output to drain */
	/* All sent: malformed entries at the end are passed over too. */
	if (has_last && xid_cmp(&last, &c->after) > 0)
		c->after = last;
	if (full)
		queue_push(c);
	else
		c->live = 1;
}

static void
catch_up_turn(long long now)
{
	struct sconn	*c;
	int		 i, n = L.qlen;

	/* Those queued before this turn: one read each (re-queued go last). */
	if (n > CATCHUPS_PER_TURN)
		n = CATCHUPS_PER_TURN;
	for (i = 0; i < n && (c = queue_pop()) != NULL; i++) {
		if (!c->dead && c->streaming && !c->live)
			catch_up(c, now);
		if (now_ms() - now > TURN_BUDGET_MS)
			break;	/* the rest next turn, after the events */
	}
}

/* A live read's entries for one key: to every live stream of its group. */
static void
fan_out(struct sgroup *g, const redisReply *entries)
{
	static size_t	 offs[256];
	static struct xid ids[255];
	struct buf	 text;
	struct sconn	*c, *next;
	struct xid	 last;
	size_t		 n;

	/*
	 * First (g is freed when its last stream is dropped below): pos moves
	 * to the reply's last entry even when that one, or every one, is
	 * malformed, so the next read does not bring them again.
	 */
	if (last_entry_id(entries, &last) == 0 && xid_cmp(&last, &g->pos) > 0)
		g->pos = last;
	buf_init(&text, 64 * 1024 * 1024);
	n = format_entries(entries, &text, offs, ids, 255);
	if (n > 0) {
		for (c = g->conns; c != NULL; c = next) {
			next = c->gnext;
			if (c->live)
				(void)send_entries(c, text.p, offs, ids, n);
		}
	}
	buf_free(&text);
}

/* ---- the watch connection ---------------------------------------------- */

static void
watch_close(void)
{
	if (L.wfd >= 0)
		epoll_ctl(L.ep, EPOLL_CTL_DEL, L.wfd, NULL);
	L.wfd = -1;
	store_close(&L.ws);
	L.w_inflight = 0;
}

/* Ends every stream (they reconnect and resume); used when Redis is gone. */
static void
end_all(const char *why)
{
	struct sconn	*c, *next;

	for (c = L.conns; c != NULL; c = next) {
		next = c->next;
		if (c->streaming)
			stream_end(c, why);
	}
}

static void
watch_fail(const char *what)
{
	long long	 b;

	log_kv(LOG_WARNING, "stream watch read failed", "s:error", what,
	    "i:attempt", (long long)L.w_errors + 1, NULL);
	watch_close();
	if (++L.w_errors > WATCH_RETRIES) {
		L.w_errors = 0;
		end_all("redis unreachable");
		return;
	}
	b = (long long)BACKOFF_MS << (L.w_errors - 1);
	L.w_retry_at = now_ms() + (b > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : b);
}

static void
watch_write(void)
{
	struct epoll_event	 ev;
	int			 done = 0;

	if (L.ws.c == NULL)
		return;
	if (redisBufferWrite(L.ws.c, &done) == REDIS_ERR) {
		watch_fail(L.ws.c->errstr);
		return;
	}
	memset(&ev, 0, sizeof(ev));
	ev.events = EPOLLIN | (done ? 0 : EPOLLOUT);
	ev.data.ptr = &watch_tag;
	epoll_ctl(L.ep, EPOLL_CTL_MOD, L.wfd, &ev);
}

static int
watch_connect(void)
{
	struct epoll_event	 ev;
	redisReply		*rep;
	int			 fl;

	rep = store_cmdv(&L.ws, "CLIENT", "ID", NULL);
	if (rep == NULL || rep->type != REDIS_REPLY_INTEGER || L.ws.c == NULL) {
		if (rep != NULL)
			freeReplyObject(rep);
		watch_fail(L.ws.errstr[0] ? L.ws.errstr : "CLIENT ID failed");
		return -1;
	}
	L.w_id = rep->integer;
	freeReplyObject(rep);
	/* From here on hiredis only buffers; the loop does the waiting. */
	fl = fcntl(L.ws.c->fd, F_GETFL);
	fcntl(L.ws.c->fd, F_SETFL, fl | O_NONBLOCK);
	L.ws.c->flags &= ~REDIS_BLOCK;
	memset(&ev, 0, sizeof(ev));
	ev.events = EPOLLIN;
	ev.data.ptr = &watch_tag;
	if (epoll_ctl(L.ep, EPOLL_CTL_ADD, L.ws.c->fd, &ev) == -1) {
		watch_fail("epoll_ctl");
		return -1;
	}
	L.wfd = L.ws.c->fd;
	return 0;
}

/* Starts a blocking read over every group when none is in flight. */
static void
watch_pump(long long now)
{
	const char	**argv;
	size_t		 *lens;
	char		 *ids;
	struct sgroup	*g;
	size_t		 argc, i, k;
	redisReply	*rep;
	char		 idbuf[32];

	if (L.w_inflight) {
		if (now - L.w_sent > WATCH_BLOCK_MS + WATCH_TIMEOUT_MS + 2000) {
			watch_fail("no answer to XREAD BLOCK");
			return;
		}
		/* A new group: end the blocked read so the next one has its key. */
		if (L.w_dirty && now >= L.w_unblock_at && L.w_unblocks < 20) {
			snprintf(idbuf, sizeof(idbuf), "%lld", L.w_id);
			rep = store_cmdv(L.app->store, "CLIENT", "UNBLOCK", idbuf, NULL);
			L.w_unblocks++;
			if (rep != NULL && rep->type == REDIS_REPLY_INTEGER &&
			    rep->integer == 1)
				L.w_unblock_at = LLONG_MAX;
			else	/* not blocked yet (or already answered): again */
				L.w_unblock_at = now + 1;
			if (rep != NULL)
				freeReplyObject(rep);
		}
		return;
	}
	if (L.ngroups == 0 || now < L.w_retry_at)
		return;
	if (L.ws.c == NULL && watch_connect() == -1)
		return;
	argc = 6 + 2 * (size_t)L.ngroups;
	argv = calloc(argc, sizeof(*argv));
	lens = calloc(argc, sizeof(*lens));
	ids = calloc((size_t)L.ngroups, 48);
	if (argv == NULL || lens == NULL || ids == NULL) {
		free(argv);
		free(lens);
		free(ids);
		return;
	}
	argv[0] = "XREAD";
	argv[1] = "COUNT";
	argv[2] = WATCH_COUNT;
	argv[3] = "BLOCK";
	snprintf(idbuf, sizeof(idbuf), "%d", WATCH_BLOCK_MS);
	argv[4] = idbuf;
	argv[5] = "STREAMS";
	for (g = L.groups, k = 0; g != NULL; g = g->next, k++) {
		argv[6 + k] = g->key;
		snprintf(ids + 48 * k, 48, "%llu-%llu", g->pos.ms, g->pos.seq);
		argv[6 + (size_t)L.ngroups + k] = ids + 48 * k;
	}
	for (i = 0; i < argc; i++)
		lens[i] = strlen(argv[i]);
	if (redisAppendCommandArgv(L.ws.c, (int)argc, argv, lens) != REDIS_OK) {
		free(argv);
		free(lens);
		free(ids);
		watch_fail("XREAD not buffered");
		return;
	}
	free(argv);
	free(lens);
	free(ids);
	L.w_inflight = 1;
	L.w_dirty = 0;
	L.w_unblocks = 0;
	L.w_unblock_at = 0;
	L.w_sent = now;
	watch_write();
}

/* Ends the streams of every watched key that is not a stream; how many keys. */
static int
drop_wrong_keys(void)
{
	struct sgroup	*g, *next;
	struct sconn	*c, *cn;
	redisReply	*rep;
	int		 bad, n = 0;

	for (g = L.groups; g != NULL; g = next) {
		next = g->next;
		rep = store_cmdv(L.app->store, "TYPE", g->key, NULL);
		bad = rep != NULL && rep->type == REDIS_REPLY_STATUS &&
		    strcmp(rep->str, "stream") != 0 && strcmp(rep->str, "none") != 0;
		if (rep != NULL)
			freeReplyObject(rep);
		if (!bad)
			continue;
		n++;
		log_kv(LOG_ERROR, "redis error reply", "s:command", "XREAD",
		    "s:key", g->key, "s:error", "WRONGTYPE", NULL);
		/* The last stream's end frees g: next was taken before. */
		for (c = g->conns; c != NULL; c = cn) {
			cn = c->gnext;
			stream_end(c, "redis error reply");
		}
	}
	return n;
}

static void
watch_reply(redisReply *rep)
{
	redisReply	*kv;
	struct sgroup	*g;
	size_t		 i;

	L.w_inflight = 0;
	if (rep->type == REDIS_REPLY_ERROR) {
		/*
		 * A key that is not a stream (WRONGTYPE) fails the read of all:
		 * its streams end (retrying would fail the same way). Anything
		 * else (-UNBLOCKED in a failover, -READONLY, -LOADING) is
		 * retried on a fresh connection.
		 */
		if (strncmp(rep->str, "WRONGTYPE", 9) == 0 && drop_wrong_keys() > 0)
			return;
		/* Cluster: the slot moved; reconnect to the node it names. */
		(void)store_follow_moved(&L.ws, rep->str);
		watch_fail(rep->str);
		return;
	}
	L.w_errors = 0;
	if (rep->type != REDIS_REPLY_ARRAY)
		return;		/* nil: the slice passed or CLIENT UNBLOCK */
	for (i = 0; i < rep->elements; i++) {
		kv = rep->element[i];
		if (kv->type != REDIS_REPLY_ARRAY || kv->elements != 2 ||
		    kv->element[0]->type != REDIS_REPLY_STRING ||
		    kv->element[1]->type != REDIS_REPLY_ARRAY)
			continue;
		if ((g = group_find(kv->element[0]->str)) != NULL)
			fan_out(g, kv->element[1]);
	}
}

static void
watch_io(unsigned events)
{
	void	*reply;

	if (L.ws.c == NULL)
		return;
	if (events & EPOLLOUT) {
		watch_write();
		if (L.ws.c == NULL)
			return;
	}
	if (!(events & (EPOLLIN | EPOLLERR | EPOLLHUP)))
		return;
	if (redisBufferRead(L.ws.c) == REDIS_ERR) {
		watch_fail(L.ws.c->errstr);
		return;
	}
	for (;;) {
		reply = NULL;
		if (redisGetReplyFromReader(L.ws.c, &reply) == REDIS_ERR) {
			watch_fail(L.ws.c->errstr);
			return;
		}
		if (reply == NULL)
			return;
		watch_reply(reply);
		freeReplyObject(reply);
		if (L.ws.c == NULL)
			return;
	}
}

/* ---- requests ---------------------------------------------------------- */

static void
handle_request(struct sconn *c)
{
	struct http_req	 r;
	struct buf	 resp;
	const char	*cl;
	long long	 t0 = now_ms();
	double		 ms;

	c->req_id = c->fp.req_id;
	http_req_init(&r, L.cfg);
	r.envp = c->fp.envp;
	r.method_str = fcgip_param(&c->fp, "REQUEST_METHOD");
	r.method = http_method_parse(r.method_str);
	r.request_uri = fcgip_param(&c->fp, "REQUEST_URI");
	r.content_type = fcgip_param(&c->fp, "CONTENT_TYPE");
	r.request_id = fcgip_param(&c->fp, "REQUEST_ID");
	r.remote_addr = fcgip_param(&c->fp, "REMOTE_ADDR");
	cl = fcgip_param(&c->fp, "CONTENT_LENGTH");
	if (cl != NULL && *cl != '\0' &&
	    (config_parse_ll(cl, &r.content_length) == -1 ||
	    r.content_length < 0))
		http_error(&r, 400, NULL, "invalid Content-Length");
	else {
		L.cur = c;
		worker_handle(&r, L.app);
		L.cur = NULL;
	}
	if (!r.sent) {
		buf_init(&resp, HTTP_RESP_MAX + HTTP_HDRS_MAX + 256);
		if (http_serialize(&r, &resp) == -1) {
			buf_reset(&resp);
			buf_reset(&r.headers);
			http_error(&r, 500, NULL, "response too large");
			http_serialize(&r, &resp);
		}
		c->out.max = c->out.len + resp.len + resp.len / 4096 + 4096;
		if (fcgip_put_stdout(&c->out, c->req_id, resp.p, resp.len) == -1 ||
		    fcgip_put_end(&c->out, c->req_id, 0, FCGI_REQUEST_COMPLETE) == -1) {
			buf_free(&resp);
			http_req_free(&r);
			conn_close(c);
			return;
		}
		buf_free(&resp);
		ms = (double)(now_ms() - t0);
		request_log(r.request_id, r.method_str, r.route, r.status, ms,
		    r.log_user[0] ? r.log_user : NULL,
		    r.route != NULL && strstr(r.route, "/events") ? r.params[0] : NULL);
		metrics_observe(r.route_idx, r.method, r.status, ms);
		http_req_free(&r);
		if (c->fp.keep_conn) {
			/* The next request may begin once this one's STDIN ended. */
			if (c->fp.stdin_done)
				fcgip_reset(&c->fp);
			else
				c->reset_on_stdin = 1;
			(void)conn_flush(c);
		} else {
			/*
			 * Not kept: closed once the answer is written (conn_flush),
			 * never before (that would cut it); the stall rule
			 * bounds the wait for a reader that takes nothing.
			 */
			c->close_drained = 1;
			(void)conn_flush(c);
		}
		return;
	}
	http_req_free(&r);
	/* A stream: the full params are no longer needed (kept ones copied). */
	free(c->fp.envp);
	c->fp.envp = NULL;
	c->fp.nenv = 0;
	(void)conn_flush(c);
}

static void
conn_read(struct sconn *c)
{
	char			 b[READ_CHUNK];
	ssize_t			 n;
	size_t			 off, used;
	enum fcgip_event	 ev;
	int			 reads;

	for (reads = 0; reads < 4 && !c->dead; reads++) {
		n = read(c->fd, b, sizeof(b));
		if (n == 0) {
			conn_close(c);
			return;
		}
		if (n > 0)
			c->last_active = now_ms();
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno != EAGAIN && errno != EWOULDBLOCK)
				conn_close(c);
			return;
		}
		for (off = 0; off < (size_t)n && !c->dead; off += used) {
			ev = fcgip_feed(&c->fp, b + off, (size_t)n - off, &used);
			switch (ev) {
			case FCGIP_MORE:
				break;
			case FCGIP_STDIN_END:
				if (c->reset_on_stdin) {
					c->reset_on_stdin = 0;
					fcgip_reset(&c->fp);
				}
				break;
			case FCGIP_REQUEST:
				handle_request(c);
				break;
			case FCGIP_ABORT:
				conn_close(c);
				return;
			case FCGIP_REPLY:
				(void)buf_append(&c->out, c->fp.reply.p,
				    c->fp.reply.len);
				buf_reset(&c->fp.reply);
				(void)conn_flush(c);
				break;
			case FCGIP_ERROR:
				log_kv(LOG_WARNING, "bad FastCGI input from nginx",
				    "s:error", c->fp.err ? c->fp.err : "?", NULL);
				conn_close(c);
				return;
			}
		}
		if ((size_t)n < sizeof(b))
			return;
	}
}

/* ---- accepting --------------------------------------------------------- */

static void
accept_some(long long now)
{
	struct epoll_event	 ev;
	struct sconn		*c;
	int			 fd, one = 1, i;

	for (i = 0; i < 64 && L.nconns < L.max; i++) {
		fd = accept4(L.lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd == -1) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			if (errno == EMFILE || errno == ENFILE ||
			    errno == ENOBUFS || errno == ENOMEM) {
				/* Out of descriptors or memory: breathe. */
				listen_set(0);
				L.accept_pause_until = now + 100;
			}
			return;	/* EAGAIN: another worker took it */
		}
		/* TCP (STREAM_LISTEN): events out without Nagle's wait. */
		(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		if ((c = calloc(1, sizeof(*c))) == NULL) {
			close(fd);
			return;
		}
		c->fd = fd;
		c->last_active = now;
		fcgip_init(&c->fp);
		buf_init(&c->out, OUT_MAX);
		memset(&ev, 0, sizeof(ev));
		ev.events = EPOLLIN | EPOLLRDHUP;
		ev.data.ptr = c;
		if (epoll_ctl(L.ep, EPOLL_CTL_ADD, fd, &ev) == -1) {
			fcgip_free(&c->fp);
			free(c);
			close(fd);
			return;
		}
		c->next = L.conns;
		if (L.conns != NULL)
			L.conns->prev = c;
		L.conns = c;
		L.nconns++;
	}
	if (L.nconns >= L.max)
		listen_set(0);
}

/* ---- timers ------------------------------------------------------------ */

/* The re-check's inputs: the kept params but REQUEST_ID and CW_SLOT, and sid. */
static char *
recheck_key(const struct sconn *c, const char *sid, unsigned long long *h)
{
	struct buf	 k;
	char		**e;
	const char	*p;

	buf_init(&k, 2 * FCGIP_PARAMS_MAX);
	for (e = c->keep; e != NULL && *e != NULL; e++) {
		if (strncmp(*e, "REQUEST_ID=", 11) == 0 ||
		    strncmp(*e, "CW_SLOT=", 8) == 0)
			continue;
		if (buf_puts(&k, *e) == -1 || buf_append(&k, "\n", 1) == -1) {
			buf_free(&k);
			return NULL;
		}
	}
	if (buf_puts(&k, sid) == -1 || k.p == NULL) {
		buf_free(&k);
		return NULL;
	}
	*h = 14695981039346656037ULL;
	for (p = k.p; *p != '\0'; p++)
		*h = (*h ^ (unsigned char)*p) * 1099511628211ULL;
	return k.p;	/* the buffer's memory, now the caller's */
}

/*
 * Is c still allowed (token, account, session: events_recheck)? NULL yes,
 * else why not. A stream whose twin (same token, same session) was
 * checked less than RECHECK_SHARE_MS ago takes that answer: a revoked
 * token or a lost session is still noticed within SSE_PING_INTERVAL +
 * RECHECK_SHARE_MS, with one check per token and session instead of one
 * per stream.
 */
static const char *
recheck(struct sconn *c, long long now)
{
	struct http_req		 r;
	const char		*why;
	char			 sid[128], *key;
	unsigned long long	 h = 0;
	unsigned		 slot;

	snprintf(sid, sizeof(sid), "%s", group_sid(c->g));
	key = recheck_key(c, sid, &h);
	slot = (unsigned)(h % RECHECK_SLOTS);
	if (key != NULL && L.rc[slot].key != NULL &&
	    now - L.rc[slot].at < RECHECK_SHARE_MS &&
	    strcmp(L.rc[slot].key, key) == 0) {
		free(key);
		L.rc_hits++;
		return L.rc[slot].why;
	}
	http_req_init(&r, L.cfg);
	r.envp = c->keep;
	r.method_str = "GET";
	r.method = HTTP_GET;
	r.request_id = kept(c, "REQUEST_ID");
	r.remote_addr = kept(c, "REMOTE_ADDR");
	r.params[0] = sid;
	why = events_recheck(&r, L.app, sid);
	http_req_free(&r);
	L.rc_checks++;
	if (key != NULL) {
		free(L.rc[slot].key);
		L.rc[slot].key = key;
		L.rc[slot].why = why;
		L.rc[slot].at = now_ms();
	}
	return why;
}

/*
 * The ticks due this turn: each stream re-checked (shared between twins),
 * then every survivor's slot renewed in one pipelined round trip, then a
 * ping where nothing was sent for a period. Returns how many were done
 * (the rest wait for the next turn: the budget ran out).
 */
static int
tick_some(struct sconn **due, int n, long long now)
{
	const long long	 period = L.cfg->sse_ping_interval * 1000;
	const char	*users[TICKS_PER_TURN], *slots[TICKS_PER_TURN], *why;
	struct sconn	*ok[TICKS_PER_TURN], *c;
	int		 rv[TICKS_PER_TURN], i, k = 0, done = 0;

	for (i = 0; i < n; i++) {
		c = due[i];
		done++;
		if (c->dead || !c->streaming)
			continue;
		if ((why = recheck(c, now)) != NULL) {
			stream_end(c, why);
			continue;
		}
		users[k] = kept(c, "CW_USER");
		slots[k] = kept(c, "CW_SLOT");
		if (users[k] == NULL || slots[k] == NULL) {
			stream_end(c, "stream slot lost");
			continue;
		}
		ok[k++] = c;
		if (now_ms() - now > TURN_BUDGET_MS)
			break;
	}
	events_slot_renew_many(L.app, k, users, slots, rv);
	for (i = 0; i < k; i++) {
		c = ok[i];
		if (c->dead || !c->streaming)
			continue;
		if (rv[i] != 1) {
			stream_end(c, rv[i] == 0 ? "stream slot lost" :
			    "store unavailable");
			continue;
		}
		c->next_tick = now + period;
		if (now - c->last_write >= period) {
			if (out_stdout(c, "event: ping\ndata: {}\n\n", 22) == -1)
				continue;
			c->last_write = now;
			(void)conn_flush(c);
		}
	}
	return done;
}

static void
scan(long long now)
{
	struct sconn	*c, *next, *due[TICKS_PER_TURN];
	long long	 next_scan = now + 1000, deadline;
	const long long	 maxdur = L.cfg->sse_max_duration * 1000;
	int		 ndue = 0, more = 0;

	for (c = L.conns; c != NULL; c = next) {
		next = c->next;
		if (!c->streaming) {
			/*
			 * Whatever its FastCGI state (no request yet, params
			 * or STDIN never ending, kept after an answer), a
			 * connection that is not a stream and moved no byte
			 * for IDLE_MS gives its slot back; one whose answer
			 * waits for a reader that takes nothing, after STALL_MS.
			 */
			if (c->stall_since != 0 ? now - c->stall_since > STALL_MS :
			    now - c->last_active > IDLE_MS)
				conn_close(c);
			continue;
		}
		deadline = c->started + maxdur;
		if (now >= deadline) {
			stream_end(c, "max duration");
			continue;
		}
		if (c->stall_since != 0 && now - c->stall_since > STALL_MS) {
			stream_end(c, "client not reading");
			continue;
		}
		if (now >= c->next_tick) {
			/* Ticked below; its next tick is a period away. */
			if (ndue < TICKS_PER_TURN)
				due[ndue++] = c;
			else
				more = 1;
			continue;
		}
		if (c->next_tick < next_scan)
			next_scan = c->next_tick;
		if (deadline < next_scan)
			next_scan = deadline;
		if (c->stall_since != 0 && c->stall_since + STALL_MS + 1 < next_scan)
			next_scan = c->stall_since + STALL_MS + 1;
	}
	/* After the walk: a tick may end streams (their memory stays till reap). */
	if (ndue > 0 && tick_some(due, ndue, now) < ndue)
		more = 1;
	/*
	 * The walk visits every connection: with thousands of streams whose
	 * ticks are spread over SSE_PING_INTERVAL, following the earliest
	 * deadline would walk them all hundreds of times a second. Deadlines
	 * are served in batches at most SCAN_MIN_MS apart instead (a batch
	 * larger than a turn's share continues at once).
	 */
	if (!more && next_scan < now + SCAN_MIN_MS)
		next_scan = now + SCAN_MIN_MS;
	L.next_scan = more ? now : next_scan;
}

/* ---- the loop ---------------------------------------------------------- */

/*
 * Raises the descriptor soft limit to the hard one, and keeps
 * STREAM_MAX_CONNECTIONS 64 descriptors under it (Redis connections,
 * reconnects, logs): running out of descriptors would fail the Redis
 * reconnect, not the accept.
 */
static void
raise_nofile(void)
{
	struct rlimit	 rl;
	long long	 cap;

	if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
		return;
	if (rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
			(void)getrlimit(RLIMIT_NOFILE, &rl);
	}
	if (rl.rlim_cur == RLIM_INFINITY)
		return;
	cap = (long long)rl.rlim_cur - 64;
	if (cap < 1)
		cap = 1;
	if (L.max > cap) {
		log_kv(LOG_WARNING, "STREAM_MAX_CONNECTIONS above the descriptor "
		    "limit: lowered", "i:configured", (long long)L.max,
		    "i:limit", (long long)rl.rlim_cur, "i:max_connections", cap,
		    NULL);
		L.max = (int)cap;
	}
}

static void
reap(void)
{
	struct sconn	*c;

	while ((c = L.dead) != NULL) {
		L.dead = c->next;
		conn_free(c);
	}
}

void
streamloop_main(const struct worker_args *wa, struct app *app)
{
	struct epoll_event	 evs[EVENTS_MAX];
	struct sconn		*c, *next;
	long long		 now, t;
	int			 n, i, timeout, fl;

	memset(&L, 0, sizeof(L));
	L.app = app;
	L.cfg = wa->cfg;
	L.max = wa->cfg->stream_max_connections;
	L.lfd = wa->listen_fd;
	L.wfd = -1;
	srandom((unsigned)getpid() ^ (unsigned)now_ms());
	raise_nofile();
	store_init(&L.ws, wa->cfg, WATCH_TIMEOUT_MS);
	if ((L.ep = epoll_create1(EPOLL_CLOEXEC)) == -1) {
		log_kv(LOG_ERROR, "epoll_create1 failed", "s:error",
		    strerror(errno), NULL);
		return;
	}
	fl = fcntl(L.lfd, F_GETFL);
	fcntl(L.lfd, F_SETFL, fl | O_NONBLOCK);
	listen_set(1);
	scoreboard_set_state(wa->slot, SB_IDLE);
	L.next_scan = now_ms() + 1000;
	while (!worker_quitting()) {
		now = now_ms();
		timeout = (int)(L.next_scan > now ? L.next_scan - now : 0);
		for (c = L.qhead; c != NULL && timeout > 0; c = c->qnext)
			if (c->retry_at - now < timeout)
				timeout = c->retry_at > now ? (int)(c->retry_at - now) : 0;
		if (L.w_inflight && L.w_dirty && L.w_unblock_at != LLONG_MAX &&
		    timeout > 1)
			timeout = 1;
		if (!L.w_inflight && L.ngroups > 0) {
			t = L.w_retry_at - now;
			if (t < timeout)
				timeout = t < 0 ? 0 : (int)t;
		}
		if (!L.listening && L.nconns < L.max && timeout > 100)
			timeout = 100;
		n = epoll_wait(L.ep, evs, EVENTS_MAX, timeout);
		if (n == -1 && errno != EINTR) {
			log_kv(LOG_ERROR, "epoll_wait failed", "s:error",
			    strerror(errno), NULL);
			break;
		}
		now = now_ms();
		for (i = 0; i < n; i++) {
			if (evs[i].data.ptr == &listen_tag) {
				accept_some(now);
				continue;
			}
			if (evs[i].data.ptr == &watch_tag) {
				watch_io(evs[i].events);
				continue;
			}
			c = evs[i].data.ptr;
			if (c->dead)
				continue;
			/* A request still unread is answered before a hang-up. */
			if (!c->streaming && (evs[i].events & EPOLLIN))
				conn_read(c);
			if (c->dead)
				continue;
			if (evs[i].events & (EPOLLRDHUP | EPOLLHUP | EPOLLERR)) {
				/* nginx closes the connection when the client goes. */
				conn_close(c);
				continue;
			}
			if (evs[i].events & EPOLLOUT)
				(void)conn_flush(c);
			if (!c->dead && c->streaming && (evs[i].events & EPOLLIN))
				conn_read(c);
		}
		now = now_ms();
		if (!L.listening && L.nconns < L.max && now >= L.accept_pause_until)
			listen_set(1);
		catch_up_turn(now);
		watch_pump(now);
		if (now >= L.next_scan)
			scan(now);
		reap();
	}
	/* SIGQUIT (reload, stop): streams end cleanly; clients reconnect. */
	listen_set(0);
	for (c = L.conns; c != NULL; c = next) {
		next = c->next;
		if (c->streaming)
			stream_end(c, "worker quitting");
		else
			conn_close(c);
	}
	reap();
	for (i = 0; i < RECHECK_SLOTS; i++)
		free(L.rc[i].key);
	watch_close();
	close(L.ep);
	scoreboard_set_state(wa->slot, SB_QUITTING);
}
