#include <string.h>

#include "sse.h"

void
sse_init(struct sse_parser *p, sse_event_fn fn, void *arg)
{
	memset(p, 0, sizeof(*p));
	buf_init(&p->line, SSE_LINE_MAX);
	buf_init(&p->data, SSE_EVENT_MAX);
	p->fn = fn;
	p->arg = arg;
}

void
sse_free(struct sse_parser *p)
{
	buf_free(&p->line);
	buf_free(&p->data);
}

static int
dispatch(struct sse_parser *p)
{
	int	 rc = 0;

	if (p->have_data) {
		/* The spec strips the one trailing LF the last data line added. */
		if (p->data.len > 0 && p->data.p[p->data.len - 1] == '\n')
			p->data.p[--p->data.len] = '\0';
		rc = p->fn(p->event[0] ? p->event : "message",
		    p->data.p ? p->data.p : "", p->data.len, p->arg);
	}
	buf_reset(&p->data);
	p->event[0] = '\0';
	p->have_data = 0;
	return rc;
}

/* One complete line (without its terminator). */
static int
line(struct sse_parser *p, const char *l, size_t n)
{
	const char	*colon, *val;
	size_t		 flen, vlen;

	if (n == 0)
		return dispatch(p);
	if (l[0] == ':')
		return 0;
	colon = memchr(l, ':', n);
	flen = colon ? (size_t)(colon - l) : n;
	val = colon ? colon + 1 : l + n;
	vlen = colon ? n - flen - 1 : 0;
	if (vlen > 0 && *val == ' ') {
		val++;
		vlen--;
	}
	if (flen == 4 && memcmp(l, "data", 4) == 0) {
		if (buf_append(&p->data, val, vlen) == -1 ||
		    buf_putc(&p->data, '\n') == -1)
			return -1;
		p->have_data = 1;
	} else if (flen == 5 && memcmp(l, "event", 5) == 0) {
		if (vlen >= sizeof(p->event))
			vlen = sizeof(p->event) - 1;
		memcpy(p->event, val, vlen);
		p->event[vlen] = '\0';
	}
	/* id, retry and unknown fields are ignored. */
	return 0;
}

int
sse_feed(struct sse_parser *p, const char *s, size_t len)
{
	const char	*end = s + len, *nl;
	size_t		 n;

	if (p->failed)
		return -1;
	while (s < end) {
		if (p->after_cr) {
			p->after_cr = 0;
			if (*s == '\n') {
				s++;
				continue;
			}
		}
		/* Find the next CR or LF. */
		for (nl = s; nl < end && *nl != '\n' && *nl != '\r'; nl++)
			;
		n = (size_t)(nl - s);
		if (nl == end) {
			if (buf_append(&p->line, s, n) == -1)
				goto fail;
			break;
		}
		if (p->line.len > 0) {
			if (buf_append(&p->line, s, n) == -1)
				goto fail;
			if (line(p, p->line.p, p->line.len) == -1)
				goto fail;
			buf_reset(&p->line);
		} else if (line(p, s, n) == -1)
			goto fail;
		if (*nl == '\r')
			p->after_cr = 1;
		s = nl + 1;
	}
	return 0;
fail:
	p->failed = 1;
	return -1;
}

int
sse_finish(struct sse_parser *p)
{
	if (p->failed)
		return -1;
	if (p->line.len > 0) {
		if (line(p, p->line.p, p->line.len) == -1)
			return p->failed = 1, -1;
		buf_reset(&p->line);
	}
	if (dispatch(p) == -1)
		return p->failed = 1, -1;
	return 0;
}
