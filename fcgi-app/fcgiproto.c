/*
 * The incremental FastCGI parser and writer: see fcgiproto.h. Written from
 * the FastCGI 1.0 specification; every length read from the peer is
 * checked before it is used.
 */
#include <stdlib.h>
#include <string.h>

#include "fcgiproto.h"

#define REPLY_MAX	4096

void
fcgip_init(struct fcgip *p)
{
	memset(p, 0, sizeof(*p));
	buf_init(&p->params, FCGIP_PARAMS_MAX);
	buf_init(&p->reply, REPLY_MAX);
}

void
fcgip_reset(struct fcgip *p)
{
	free(p->envp);
	p->envp = NULL;
	p->nenv = 0;
	buf_free(&p->params);
	p->req_id = 0;
	p->keep_conn = 0;
	p->stdin_done = 0;
	if (p->state != FCGIP_BROKEN)
		p->state = FCGIP_IDLE;
}

void
fcgip_free(struct fcgip *p)
{
	fcgip_reset(p);
	buf_free(&p->reply);
}

static enum fcgip_event
fail(struct fcgip *p, const char *why)
{
	p->state = FCGIP_BROKEN;
	p->err = why;
	return FCGIP_ERROR;
}

static void
put_header(unsigned char *h, int type, unsigned id, size_t clen, size_t plen)
{
	h[0] = 1;
	h[1] = (unsigned char)type;
	h[2] = (unsigned char)(id >> 8);
	h[3] = (unsigned char)id;
	h[4] = (unsigned char)(clen >> 8);
	h[5] = (unsigned char)clen;
	h[6] = (unsigned char)plen;
	h[7] = 0;
}

static int
put_record(struct buf *out, int type, unsigned id, const void *c, size_t clen)
{
	unsigned char	 h[8];
	size_t		 before = out->len;

	put_header(h, type, id, clen, 0);
	if (buf_append(out, h, sizeof(h)) == -1 ||
	    (clen > 0 && buf_append(out, c, clen) == -1)) {
		out->len = before;	/* all or nothing */
		if (out->p != NULL)
			out->p[before] = '\0';
		return -1;
	}
	return 0;
}

/*
 * One name-value length at *q (1 byte, or 4 with the high bit set).
 * -1 when it does not fit before end.
 */
static int
read_len(const unsigned char **q, const unsigned char *end, size_t *len)
{
	const unsigned char	*s = *q;

	if (s >= end)
		return -1;
	if (!(s[0] & 0x80)) {
		*len = s[0];
		*q = s + 1;
		return 0;
	}
	if (end - s < 4)
		return -1;
	*len = ((size_t)(s[0] & 0x7f) << 24) | ((size_t)s[1] << 16) |
	    ((size_t)s[2] << 8) | s[3];
	*q = s + 4;
	return 0;
}

/* Walks the name-value pairs in [b, end); calls back per pair. -1 malformed. */
static int
walk_pairs(const unsigned char *b, const unsigned char *end,
    int (*fn)(void *, const unsigned char *, size_t, const unsigned char *,
    size_t), void *arg)
{
	const unsigned char	*q = b;
	size_t			 nl, vl;

	while (q < end) {
		if (read_len(&q, end, &nl) == -1 || read_len(&q, end, &vl) == -1)
			return -1;
		if (nl > (size_t)(end - q) || vl > (size_t)(end - q) - nl)
			return -1;
		if (fn(arg, q, nl, q + nl, vl) == -1)
			return -1;
		q += nl + vl;
	}
	return 0;
}

struct envbuild {
	size_t	 n, bytes;
	char	**envp;
	char	*s;
};

static int
count_pair(void *arg, const unsigned char *n, size_t nl,
    const unsigned char *v, size_t vl)
{
	struct envbuild	*e = arg;

	if (nl == 0 || memchr(n, '=', nl) != NULL || memchr(n, '\0', nl) != NULL ||
	    memchr(v, '\0', vl) != NULL)
		return -1;
	if (++e->n > FCGIP_NPARAMS_MAX)
		return -1;
	e->bytes += nl + vl + 2;
	return 0;
}

static int
copy_pair(void *arg, const unsigned char *n, size_t nl,
    const unsigned char *v, size_t vl)
{
	struct envbuild	*e = arg;

	e->envp[e->n++] = e->s;
	memcpy(e->s, n, nl);
	e->s[nl] = '=';
	memcpy(e->s + nl + 1, v, vl);
	e->s[nl + 1 + vl] = '\0';
	e->s += nl + vl + 2;
	return 0;
}

/* The raw params into envp: one allocation (pointers, then the strings). */
static int
build_env(struct fcgip *p)
{
	const unsigned char	*b = (const unsigned char *)p->params.p;
	struct envbuild		 e;
	size_t			 ptrs;

	memset(&e, 0, sizeof(e));
	if (b != NULL && walk_pairs(b, b + p->params.len, count_pair, &e) == -1)
		return -1;
	ptrs = (e.n + 1) * sizeof(char *);
	if ((e.envp = malloc(ptrs + e.bytes + 1)) == NULL)
		return -1;
	e.s = (char *)e.envp + ptrs;
	e.n = 0;
	if (b != NULL)
		(void)walk_pairs(b, b + p->params.len, copy_pair, &e);
	e.envp[e.n] = NULL;
	p->envp = e.envp;
	p->nenv = e.n;
	buf_free(&p->params);
	return 0;
}

const char *
fcgip_param(const struct fcgip *p, const char *name)
{
	size_t	 i, n = strlen(name);

	for (i = 0; i < p->nenv; i++)
		if (strncmp(p->envp[i], name, n) == 0 && p->envp[i][n] == '=')
			return p->envp[i] + n + 1;
	return NULL;
}

static int
pair_out(struct buf *b, const char *n, const char *v)
{
	size_t	 nl = strlen(n), vl = strlen(v);
	char	 l[2] = { (char)nl, (char)vl };

	return buf_append(b, l, 2) == -1 || buf_append(b, n, nl) == -1 ||
	    buf_append(b, v, vl) == -1 ? -1 : 0;
}

static int
get_value(void *arg, const unsigned char *n, size_t nl,
    const unsigned char *v, size_t vl)
{
	struct buf	*b = arg;

	(void)v;
	(void)vl;
	if (nl == 15 && memcmp(n, "FCGI_MPXS_CONNS", 15) == 0)
		return pair_out(b, "FCGI_MPXS_CONNS", "0");
	return 0;	/* FCGI_MAX_CONNS, FCGI_MAX_REQS: not told */
}

/* The whole record has been read: act on it. */
static enum fcgip_event
record_done(struct fcgip *p)
{
	unsigned char	 body[8];
	struct buf	 vals;
	int		 role, rc;

	switch (p->type) {
	case FCGI_BEGIN_REQUEST:
		role = (p->small[0] << 8) | p->small[1];
		if (role != FCGI_RESPONDER) {
			memset(body, 0, sizeof(body));
			body[4] = FCGI_UNKNOWN_ROLE;
			if (put_record(&p->reply, FCGI_END_REQUEST, p->id, body,
			    sizeof(body)) == -1)
				return fail(p, "management replies not written");
			return FCGIP_REPLY;
		}
		p->req_id = p->id;
		p->keep_conn = p->small[2] & 1;
		p->stdin_done = 0;
		p->state = FCGIP_PARAMS_IN;
		return FCGIP_MORE;
	case FCGI_PARAMS:
		if (p->clen > 0)
			return FCGIP_MORE;
		if (build_env(p) == -1)
			return fail(p, "malformed or too many params");
		p->state = FCGIP_ACTIVE;
		return FCGIP_REQUEST;
	case FCGI_STDIN:
		if (p->clen > 0)
			return FCGIP_MORE;
		if (p->stdin_done)
			return fail(p, "STDIN after its end");
		p->stdin_done = 1;
		return FCGIP_STDIN_END;
	case FCGI_DATA:
		return FCGIP_MORE;
	case FCGI_ABORT_REQUEST:
		return FCGIP_ABORT;
	case FCGI_GET_VALUES:
		buf_init(&vals, FCGIP_MGMT_MAX);
		rc = walk_pairs(p->small, p->small + p->clen, get_value, &vals);
		if (rc == 0)
			rc = put_record(&p->reply, FCGI_GET_VALUES_RESULT, 0,
			    vals.p, vals.len);
		buf_free(&vals);
		if (rc == -1)
			return fail(p, "malformed GET_VALUES");
		return FCGIP_REPLY;
	default:
		memset(body, 0, sizeof(body));
		body[0] = (unsigned char)p->type;
		if (put_record(&p->reply, FCGI_UNKNOWN_TYPE, 0, body,
		    sizeof(body)) == -1)
			return fail(p, "management replies not written");
		return FCGIP_REPLY;
	}
}

/* A complete header: is the record acceptable here? NULL yes, else why not. */
static const char *
check_header(struct fcgip *p)
{
	if (p->hdr[0] != 1)
		return "not FastCGI version 1";
	if (p->id == 0) {
		if (p->type == FCGI_GET_VALUES && p->clen > FCGIP_MGMT_MAX)
			return "GET_VALUES record too large";
		if (p->type >= FCGI_BEGIN_REQUEST && p->type <= FCGI_DATA)
			return "application record with request id 0";
		return NULL;
	}
	switch (p->type) {
	case FCGI_BEGIN_REQUEST:
		if (p->clen != 8)
			return "BEGIN_REQUEST body is not 8 bytes";
		if (p->state != FCGIP_IDLE)
			return "BEGIN_REQUEST while a request is active";
		return NULL;
	case FCGI_PARAMS:
		if (p->state != FCGIP_PARAMS_IN || p->id != p->req_id)
			return "PARAMS outside a request's params";
		return NULL;
	case FCGI_STDIN:
	case FCGI_DATA:
		if (p->state != FCGIP_ACTIVE || p->id != p->req_id)
			return "STDIN outside an active request";
		return NULL;
	case FCGI_ABORT_REQUEST:
		if (p->state == FCGIP_IDLE || p->id != p->req_id)
			return "ABORT_REQUEST for no active request";
		return NULL;
	case FCGI_END_REQUEST:
	case FCGI_STDOUT:
	case FCGI_STDERR:
	case FCGI_GET_VALUES:
	case FCGI_GET_VALUES_RESULT:
	case FCGI_UNKNOWN_TYPE:
		return "record type a server never sends";
	default:
		return NULL;	/* unknown: answered with UNKNOWN_TYPE */
	}
}

enum fcgip_event
fcgip_feed(struct fcgip *p, const void *data, size_t len, size_t *used)
{
	const unsigned char	*d = data;
	size_t			 off = 0, n;
	const char		*why;
	enum fcgip_event	 ev;

	*used = 0;
	if (p->state == FCGIP_BROKEN)
		return FCGIP_ERROR;
	while (off < len) {
		if (p->hlen < 8) {
			n = 8 - p->hlen < len - off ? 8 - p->hlen : len - off;
			memcpy(p->hdr + p->hlen, d + off, n);
			p->hlen += n;
			off += n;
			if (p->hlen < 8)
				break;
			p->type = p->hdr[1];
			p->id = ((unsigned)p->hdr[2] << 8) | p->hdr[3];
			p->clen = ((size_t)p->hdr[4] << 8) | p->hdr[5];
			p->plen = p->hdr[6];
			p->got = 0;
			if ((why = check_header(p)) != NULL) {
				*used = off;
				return fail(p, why);
			}
		}
		if (p->got < p->clen) {
			n = p->clen - p->got < len - off ? p->clen - p->got : len - off;
			if ((p->type == FCGI_BEGIN_REQUEST && p->id != 0) ||
			    (p->type == FCGI_GET_VALUES && p->id == 0))
				memcpy(p->small + p->got, d + off, n);
			else if (p->type == FCGI_PARAMS &&
			    buf_append(&p->params, d + off, n) == -1) {
				*used = off;
				return fail(p, "params larger than allowed");
			}
			p->got += n;
			off += n;
			if (p->got < p->clen)
				break;
		}
		if (p->got < p->clen + p->plen) {
			n = p->clen + p->plen - p->got < len - off ?
			    p->clen + p->plen - p->got : len - off;
			p->got += n;
			off += n;
			if (p->got < p->clen + p->plen)
				break;
		}
		p->hlen = 0;
		if ((ev = record_done(p)) != FCGIP_MORE) {
			*used = off;
			return ev;
		}
	}
	*used = off;
	return FCGIP_MORE;
}

int
fcgip_put_stdout(struct buf *out, unsigned id, const void *data, size_t len)
{
	const unsigned char	*d = data;
	size_t			 before = out->len, n;

	while (len > 0) {
		n = len > FCGIP_CONTENT_MAX ? FCGIP_CONTENT_MAX : len;
		if (put_record(out, FCGI_STDOUT, id, d, n) == -1) {
			out->len = before;
			if (out->p != NULL)
				out->p[before] = '\0';
			return -1;
		}
		d += n;
		len -= n;
	}
	return 0;
}

int
fcgip_put_end(struct buf *out, unsigned id, unsigned app_status,
    int proto_status)
{
	unsigned char	 body[8];
	size_t		 before = out->len;

	memset(body, 0, sizeof(body));
	body[0] = (unsigned char)(app_status >> 24);
	body[1] = (unsigned char)(app_status >> 16);
	body[2] = (unsigned char)(app_status >> 8);
	body[3] = (unsigned char)app_status;
	body[4] = (unsigned char)proto_status;
	if (put_record(out, FCGI_STDOUT, id, NULL, 0) == -1 ||
	    put_record(out, FCGI_END_REQUEST, id, body, sizeof(body)) == -1) {
		out->len = before;
		if (out->p != NULL)
			out->p[before] = '\0';
		return -1;
	}
	return 0;
}
