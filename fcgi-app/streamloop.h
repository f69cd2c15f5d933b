/*
 * streamloop: the stream pool's event loop (issue 14). One stream worker
 * serves many SSE connections from one epoll loop with two Redis
 * connections: the worker's store (short synchronous commands: opening a
 * stream, catch-up reads, the periodic re-checks) and one watch connection
 * that runs XREAD BLOCK over every watched session's key without blocking
 * the loop. See docs/streams.md.
 */
#ifndef CW_STREAMLOOP_H
#define CW_STREAMLOOP_H

#include <stddef.h>

#include <hiredis/hiredis.h>

#include "buf.h"

struct worker_args;
struct app;
struct http_req;

/* The stream worker's life; returns when it should exit. */
void	streamloop_main(const struct worker_args *, struct app *);

/* An opened stream, as h_events hands it over (borrowed for the call). */
struct stream_open {
	const char	*sid;
	const char	*user;
	const char	*slot_id;	/* the per-user slot it holds */
	const char	*after;		/* canonical "<ms>-<seq>": send ids above */
	const char	*last_id;	/* the stream's newest id when opened */
	const char	*head;		/* response headers + snapshot event */
	size_t		 head_len;
};

/* 1 while the request being handled came through the loop. */
int	streamloop_active(void);
/* Takes the stream over (r's response is then the stream); -1 no room. */
int	streamloop_adopt(struct http_req *, struct app *,
	    const struct stream_open *);

/* From h_events.c, for the loop. */
int	events_sse_format(struct buf *, const char *id, const char *type,
	    const char *data, size_t dlen);
int	events_sse_entry(struct buf *, const redisReply *entry, const char **id);
/* NULL while the stream is still allowed, else why not. */
const char *events_recheck(struct http_req *, struct app *, const char *sid);
/* Renews the user's slot: 1 held, 0 lost (cap), -1 Redis. */
int	events_slot_renew(struct app *, const char *user, const char *slot_id);
/* n renewals in one round trip (pipelined); rv[i] as events_slot_renew. */
#define EVENTS_RENEW_MAX	64
void	events_slot_renew_many(struct app *, int n, const char *const *users,
	    const char *const *slots, int *rv);
void	events_slot_release(struct app *, const char *user, const char *slot_id);
void	events_stream_ended(const char *why, const char *sid, const char *user,
	    const char *request_id);

#endif
