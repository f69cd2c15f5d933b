/*
 * sse: an incremental parser for text/event-stream (the Anthropic side).
 *
 * Bytes may arrive in any chunking; lines may end in LF, CRLF or a lone CR
 * (even split across chunks); "data:" lines accumulate with '\n' between
 * them; ":" comments and the id/retry fields are ignored. Each complete
 * event calls the callback with its name ("message" when unnamed) and
 * data. Line and event sizes are capped; exceeding a cap is an error, never
 * an allocation past it. The parser owns its buffers (sse_free()).
 */
#ifndef CW_SSE_H
#define CW_SSE_H

#include <stddef.h>

#include "buf.h"

#define SSE_LINE_MAX	(4 * 1024 * 1024)
#define SSE_EVENT_MAX	(4 * 1024 * 1024)

/* Return 0 to go on, -1 to stop parsing (sse_feed then returns -1). */
typedef int (*sse_event_fn)(const char *event, const char *data, size_t len,
	    void *arg);

struct sse_parser {
	struct buf	 line;
	struct buf	 data;
	char		 event[64];
	int		 have_data;
	int		 after_cr;	/* last byte was CR: a following LF is its pair */
	int		 failed;	/* 1 after a cap was hit or the callback stopped */
	sse_event_fn	 fn;
	void		*arg;
};

void	sse_init(struct sse_parser *, sse_event_fn, void *arg);
void	sse_free(struct sse_parser *);
/* 0 ok, -1 when a cap was exceeded or the callback asked to stop. */
int	sse_feed(struct sse_parser *, const char *p, size_t len);
/*
 * End of stream: a last event that lacks its blank line is dispatched
 * (leniently; the spec would drop it). Same returns as sse_feed().
 */
int	sse_finish(struct sse_parser *);

#endif
