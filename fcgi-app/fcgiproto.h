/*
 * fcgiproto: an incremental FastCGI record parser and writer (issue 14),
 * for loops that serve many connections without blocking.
 *
 * The parser is fed whatever bytes a read returned and stops at each
 * event the caller must act on (a request's params are complete, the
 * request was aborted, a management reply is due, the input is malformed).
 * It never blocks and never reads by itself. Every size is bounded: a
 * record's content by the protocol (65535), the params of one request by
 * FCGIP_PARAMS_MAX bytes and FCGIP_NPARAMS_MAX pairs, a management
 * record by FCGIP_MGMT_MAX. One request at a time per connection (nginx
 * never multiplexes): a second BEGIN_REQUEST while one is active, or any
 * record for another request id, is an error.
 *
 * Ownership: struct fcgip owns its params bytes and the envp array it
 * builds (one allocation each); both are freed by fcgip_reset() (next
 * request) and fcgip_free(). p->reply is owned by the parser too.
 */
#ifndef CW_FCGIPROTO_H
#define CW_FCGIPROTO_H

#include <stddef.h>

#include "buf.h"

#define FCGIP_PARAMS_MAX	(32 * 1024)	/* name/value bytes of one request */
#define FCGIP_NPARAMS_MAX	256
#define FCGIP_MGMT_MAX		256		/* a GET_VALUES record's content */
#define FCGIP_CONTENT_MAX	65535

/* Record types (FastCGI 1.0). */
#define FCGI_BEGIN_REQUEST	1
#define FCGI_ABORT_REQUEST	2
#define FCGI_END_REQUEST	3
#define FCGI_PARAMS		4
#define FCGI_STDIN		5
#define FCGI_STDOUT		6
#define FCGI_STDERR		7
#define FCGI_DATA		8
#define FCGI_GET_VALUES		9
#define FCGI_GET_VALUES_RESULT	10
#define FCGI_UNKNOWN_TYPE	11

#define FCGI_RESPONDER		1
#define FCGI_REQUEST_COMPLETE	0
#define FCGI_CANT_MPX_CONN	1
#define FCGI_OVERLOADED		2
#define FCGI_UNKNOWN_ROLE	3

enum fcgip_event {
	FCGIP_MORE = 0,		/* all bytes consumed, nothing to do */
	FCGIP_REQUEST,		/* params complete: p->envp, p->req_id ready */
	FCGIP_STDIN_END,	/* the request's empty STDIN record */
	FCGIP_ABORT,		/* ABORT_REQUEST for the active request */
	FCGIP_REPLY,		/* p->reply holds bytes to write (management, role) */
	FCGIP_ERROR		/* malformed: p->err says why; close the connection */
};

enum fcgip_state {
	FCGIP_IDLE = 0,		/* waiting for BEGIN_REQUEST */
	FCGIP_PARAMS_IN,	/* reading PARAMS */
	FCGIP_ACTIVE,		/* params complete, request running */
	FCGIP_BROKEN		/* after an error: feeds return FCGIP_ERROR */
};

struct fcgip {
	enum fcgip_state state;
	unsigned char	 hdr[8];	/* the record header being read */
	size_t		 hlen;
	int		 type;		/* current record (when hlen == 8) */
	unsigned	 id;
	size_t		 clen, plen;	/* content and padding lengths */
	size_t		 got;		/* content bytes seen of this record */
	unsigned char	 small[FCGIP_MGMT_MAX]; /* BEGIN / GET_VALUES content */
	unsigned	 req_id;	/* the active request, 0 none */
	int		 keep_conn;	/* BEGIN_REQUEST's FCGI_KEEP_CONN */
	int		 stdin_done;
	struct buf	 params;	/* raw PARAMS content, bounded */
	char		**envp;		/* "NAME=value", NULL-ended; one allocation */
	size_t		 nenv;
	struct buf	 reply;		/* records the caller must write */
	const char	*err;		/* static text, with FCGIP_ERROR */
};

void	fcgip_init(struct fcgip *);
void	fcgip_free(struct fcgip *);
/* Ends the active request (after END_REQUEST was written): ready for the next. */
void	fcgip_reset(struct fcgip *);
/*
 * Consumes bytes from data[0..len) up to the next event; *used says how
 * many. Call again with the rest while it returns something other than
 * FCGIP_MORE (or FCGIP_ERROR). After FCGIP_REPLY the caller writes
 * p->reply and empties it.
 */
enum fcgip_event fcgip_feed(struct fcgip *, const void *data, size_t len,
	    size_t *used);
/* A param of the active request ("REQUEST_URI"), or NULL. */
const char *fcgip_param(const struct fcgip *, const char *name);

/* Appends STDOUT records carrying data (split at 65535 bytes). -1: out's cap. */
int	fcgip_put_stdout(struct buf *out, unsigned id, const void *data,
	    size_t len);
/* Appends the empty STDOUT record and END_REQUEST. -1: out's cap. */
int	fcgip_put_end(struct buf *out, unsigned id, unsigned app_status,
	    int proto_status);

#endif
