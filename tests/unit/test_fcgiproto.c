/*
 * fcgiproto: the incremental FastCGI parser fed a real request whole and
 * one byte at a time (same params either way), 4-byte name/value lengths,
 * padding, the management records (GET_VALUES answered, unknown types
 * answered with UNKNOWN_TYPE), a non-responder role refused, and the
 * refusals: a second BEGIN_REQUEST, records of another request, params
 * over the cap, a '=' in a param name, a wrong version. The writer: STDOUT
 * split at 65535 bytes, END_REQUEST after the empty STDOUT.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fcgiproto.h"
#include "tap.h"

static unsigned char	 in[200000];
static size_t		 n;

static void
rec(int type, unsigned id, const void *c, size_t len, size_t pad)
{
	unsigned char	*h = in + n;

	h[0] = 1;
	h[1] = (unsigned char)type;
	h[2] = (unsigned char)(id >> 8);
	h[3] = (unsigned char)id;
	h[4] = (unsigned char)(len >> 8);
	h[5] = (unsigned char)len;
	h[6] = (unsigned char)pad;
	h[7] = 0;
	n += 8;
	memcpy(in + n, c, len);
	n += len;
	memset(in + n, 0, pad);
	n += pad;
}

static size_t
nv(unsigned char *o, const char *name, const char *val, int long_lens)
{
	size_t	 nl = strlen(name), vl = strlen(val), k = 0;

	if (long_lens || nl > 127) {
		o[k++] = (unsigned char)(0x80 | (nl >> 24));
		o[k++] = (unsigned char)(nl >> 16);
		o[k++] = (unsigned char)(nl >> 8);
		o[k++] = (unsigned char)nl;
	} else
		o[k++] = (unsigned char)nl;
	if (long_lens || vl > 127) {
		o[k++] = (unsigned char)(0x80 | (vl >> 24));
		o[k++] = (unsigned char)(vl >> 16);
		o[k++] = (unsigned char)(vl >> 8);
		o[k++] = (unsigned char)vl;
	} else
		o[k++] = (unsigned char)vl;
	memcpy(o + k, name, nl);
	memcpy(o + k + nl, val, vl);
	return k + nl + vl;
}

static void
begin(unsigned id, int role, int keep)
{
	unsigned char	 b[8] = { (unsigned char)(role >> 8), (unsigned char)role,
	    (unsigned char)keep, 0, 0, 0, 0, 0 };

	rec(FCGI_BEGIN_REQUEST, id, b, 8, 0);
}

/* The request nginx sends for an event stream, built into in[]. */
static void
request(unsigned id)
{
	unsigned char	 p[4096];
	char		 tok[400];
	size_t		 k = 0;

	memset(tok, 'x', sizeof(tok) - 1);
	tok[sizeof(tok) - 1] = '\0';
	begin(id, FCGI_RESPONDER, 1);
	k += nv(p + k, "REQUEST_METHOD", "GET", 0);
	k += nv(p + k, "REQUEST_URI", "/api/sessions/abc/events?after=0", 1);
	k += nv(p + k, "HTTP_AUTHORIZATION", tok, 0);
	k += nv(p + k, "EMPTY", "", 0);
	rec(FCGI_PARAMS, id, p, 20, 4);
	rec(FCGI_PARAMS, id, p + 20, k - 20, 0);
	rec(FCGI_PARAMS, id, "", 0, 0);
	rec(FCGI_STDIN, id, "", 0, 0);
}

/* Feeds in[0..n) in pieces of step bytes; the events seen, in order. */
static int
feed(struct fcgip *p, size_t step, int *evs, int max)
{
	size_t	 off = 0, used, len;
	int	 k = 0, ev;

	while (off < n && k < max) {
		len = n - off < step ? n - off : step;
		ev = fcgip_feed(p, in + off, len, &used);
		off += used;
		if (ev != FCGIP_MORE)
			evs[k++] = ev;
		if (ev == FCGIP_ERROR)
			break;
		if (ev == FCGIP_REPLY)
			buf_reset(&p->reply);
	}
	return k;
}

static int
req_ok(const struct fcgip *p)
{
	const char	*a = fcgip_param(p, "HTTP_AUTHORIZATION");

	return p->req_id == 1 && p->keep_conn == 1 && p->nenv == 4 &&
	    strcmp(fcgip_param(p, "REQUEST_METHOD"), "GET") == 0 &&
	    strcmp(fcgip_param(p, "REQUEST_URI"),
	    "/api/sessions/abc/events?after=0") == 0 &&
	    a != NULL && strlen(a) == 399 &&
	    fcgip_param(p, "EMPTY") != NULL && *fcgip_param(p, "EMPTY") == '\0' &&
	    fcgip_param(p, "REQUEST") == NULL;
}

static void
refused(const char *why, const char *d)
{
	struct fcgip	 p;
	int		 evs[8], k;

	fcgip_init(&p);
	k = feed(&p, n, evs, 8);
	ok(k > 0 && evs[k - 1] == FCGIP_ERROR && p.err != NULL &&
	    (why == NULL || strstr(p.err, why) != NULL), "%s", d);
	if (p.err != NULL && why != NULL && strstr(p.err, why) == NULL)
		printf("#   error: %s\n", p.err);
	fcgip_free(&p);
}

int
main(void)
{
	struct fcgip	 p;
	struct buf	 out;
	int		 evs[8], k;
	unsigned char	 big[70000], pbuf[256];
	size_t		 i, off, len;

	n = 0;
	request(1);
	fcgip_init(&p);
	k = feed(&p, n, evs, 8);
	ok(k == 2 && evs[0] == FCGIP_REQUEST && evs[1] == FCGIP_STDIN_END,
	    "a whole request: REQUEST, then STDIN_END");
	ok(req_ok(&p), "its params (1- and 4-byte lengths, padding, an empty value)");
	fcgip_reset(&p);
	fcgip_free(&p);

	fcgip_init(&p);
	k = feed(&p, 1, evs, 8);
	ok(k == 2 && evs[0] == FCGIP_REQUEST && req_ok(&p),
	    "the same request fed one byte at a time");
	fcgip_reset(&p);
	/* The next request on the kept connection. */
	n = 0;
	request(1);
	k = feed(&p, 7, evs, 8);
	ok(k == 2 && evs[0] == FCGIP_REQUEST && req_ok(&p),
	    "a second request after fcgip_reset (kept connection)");
	fcgip_free(&p);

	/* Management records. */
	n = 0;
	len = nv(pbuf, "FCGI_MPXS_CONNS", "", 0);
	len += nv(pbuf + len, "FCGI_MAX_REQS", "", 0);
	rec(FCGI_GET_VALUES, 0, pbuf, len, 0);
	fcgip_init(&p);
	k = fcgip_feed(&p, in, n, &off);
	ok(k == FCGIP_REPLY && off == n && p.reply.len > 8 &&
	    (unsigned char)p.reply.p[1] == FCGI_GET_VALUES_RESULT &&
	    memmem(p.reply.p, p.reply.len, "FCGI_MPXS_CONNS0", 16) != NULL,
	    "GET_VALUES: FCGI_MPXS_CONNS is 0");
	buf_reset(&p.reply);
	n = 0;
	rec(42, 0, "abc", 3, 5);
	k = fcgip_feed(&p, in, n, &off);
	ok(k == FCGIP_REPLY && p.reply.len == 16 &&
	    (unsigned char)p.reply.p[1] == FCGI_UNKNOWN_TYPE &&
	    (unsigned char)p.reply.p[8] == 42, "an unknown type is answered with UNKNOWN_TYPE");
	buf_reset(&p.reply);
	n = 0;
	begin(3, 2, 0);		/* FCGI_AUTHORIZER */
	k = fcgip_feed(&p, in, n, &off);
	ok(k == FCGIP_REPLY && (unsigned char)p.reply.p[1] == FCGI_END_REQUEST &&
	    (unsigned char)p.reply.p[12] == FCGI_UNKNOWN_ROLE && p.state == FCGIP_IDLE,
	    "a role other than responder: END_REQUEST with UNKNOWN_ROLE");
	fcgip_free(&p);

	/* Refusals. */
	n = 0;
	begin(1, FCGI_RESPONDER, 0);
	begin(2, FCGI_RESPONDER, 0);
	refused("while a request is active", "a second BEGIN_REQUEST while one is active");
	n = 0;
	begin(1, FCGI_RESPONDER, 0);
	rec(FCGI_PARAMS, 2, "", 0, 0);
	refused("PARAMS", "PARAMS of another request id");
	n = 0;
	rec(FCGI_PARAMS, 1, "\x01\x01" "ab", 4, 0);
	refused("PARAMS", "PARAMS before BEGIN_REQUEST");
	n = 0;
	begin(1, FCGI_RESPONDER, 0);
	rec(FCGI_PARAMS, 1, "\x01\x01=x", 4, 0);
	rec(FCGI_PARAMS, 1, "", 0, 0);
	refused("malformed", "a param name with '='");
	n = 0;
	begin(1, FCGI_RESPONDER, 0);
	rec(FCGI_PARAMS, 1, "\x05\x09" "ab", 4, 0);
	rec(FCGI_PARAMS, 1, "", 0, 0);
	refused("malformed", "a name/value length beyond the record");
	n = 0;
	begin(1, FCGI_RESPONDER, 0);
	for (i = 0; i < 140; i++)
		rec(FCGI_PARAMS, 1, big, 255, 0);
	refused("params larger", "params over FCGIP_PARAMS_MAX");
	n = 0;
	begin(1, FCGI_RESPONDER, 0);
	for (i = 0; i < FCGIP_NPARAMS_MAX + 1; i++) {
		len = nv(pbuf, "A", "b", 0);
		rec(FCGI_PARAMS, 1, pbuf, len, 0);
	}
	rec(FCGI_PARAMS, 1, "", 0, 0);
	refused("too many", "more than FCGIP_NPARAMS_MAX params");
	n = 0;
	begin(1, FCGI_RESPONDER, 0);
	in[0] = 2;
	refused("version", "a record that is not version 1");
	n = 0;
	rec(FCGI_STDOUT, 1, "x", 1, 0);
	refused("never sends", "a STDOUT record from the web server");
	fcgip_init(&p);
	n = 0;
	begin(1, FCGI_RESPONDER, 0);
	in[0] = 9;
	k = fcgip_feed(&p, in, n, &off);
	ok(k == FCGIP_ERROR && fcgip_feed(&p, "x", 1, &off) == FCGIP_ERROR,
	    "after an error every feed is an error");
	fcgip_free(&p);

	/* Writer. */
	buf_init(&out, 1024 * 1024);
	memset(big, 'y', sizeof(big));
	ok(fcgip_put_stdout(&out, 7, big, sizeof(big)) == 0 &&
	    out.len == sizeof(big) + 16 &&
	    (unsigned char)out.p[1] == FCGI_STDOUT && (unsigned char)out.p[3] == 7 &&
	    (unsigned char)out.p[4] == 0xff && (unsigned char)out.p[5] == 0xff,
	    "STDOUT of 70000 bytes: two records, the first 65535 bytes");
	buf_reset(&out);
	ok(fcgip_put_end(&out, 7, 0, FCGI_REQUEST_COMPLETE) == 0 && out.len == 24 &&
	    (unsigned char)out.p[1] == FCGI_STDOUT && out.p[5] == 0 &&
	    (unsigned char)out.p[9] == FCGI_END_REQUEST,
	    "END: the empty STDOUT, then END_REQUEST");
	buf_free(&out);
	buf_init(&out, 100);
	ok(fcgip_put_stdout(&out, 1, big, 200) == -1 && out.len == 0,
	    "a STDOUT beyond the buffer's cap is refused whole");
	buf_free(&out);
	return done_testing();
}
