#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <fcgiapp.h>

#include "http.h"

static const struct {
	const char		*name;
	enum http_method	 m;
} methods[] = {
	{ "GET", HTTP_GET }, { "HEAD", HTTP_HEAD }, { "POST", HTTP_POST },
	{ "PUT", HTTP_PUT }, { "PATCH", HTTP_PATCH }, { "DELETE", HTTP_DELETE },
	{ "OPTIONS", HTTP_OPTIONS },
};

enum http_method
http_method_parse(const char *s)
{
	size_t	 i;

	if (s == NULL)
		return HTTP_OTHER;
	for (i = 0; i < sizeof(methods) / sizeof(methods[0]); i++)
		if (strcmp(s, methods[i].name) == 0)
			return methods[i].m;
	return HTTP_OTHER;
}

const char *
http_method_name(enum http_method m)
{
	size_t	 i;

	for (i = 0; i < sizeof(methods) / sizeof(methods[0]); i++)
		if (methods[i].m == m)
			return methods[i].name;
	return "OTHER";
}

void
http_methods_list(unsigned mask, char *out, size_t cap)
{
	size_t	 i, len = 0;
	int	 n;

	out[0] = '\0';
	for (i = 0; i < sizeof(methods) / sizeof(methods[0]); i++) {
		if (!(mask & methods[i].m))
			continue;
		n = snprintf(out + len, cap - len, "%s%s", len ? ", " : "",
		    methods[i].name);
		if (n < 0 || (size_t)n >= cap - len)
			break;
		len += (size_t)n;
	}
}

static int
hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = tolower(c);
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/*
 * Percent-decodes src[0..len) into dst (cap bytes incl. NUL). Returns the
 * decoded length, or -1 on a bad escape, a NUL byte, or no room. plus_space
 * turns '+' into ' ' (query strings).
 */
static long
pct_decode(const char *src, size_t len, char *dst, size_t cap, int plus_space)
{
	size_t	 i, o = 0;
	int	 hi, lo, c;

	for (i = 0; i < len; i++) {
		c = (unsigned char)src[i];
		if (c == '%') {
			if (i + 2 >= len)
				return -1;
			hi = hexval((unsigned char)src[i + 1]);
			lo = hexval((unsigned char)src[i + 2]);
			if (hi < 0 || lo < 0)
				return -1;
			c = hi * 16 + lo;
			i += 2;
		} else if (c == '+' && plus_space)
			c = ' ';
		if (c == '\0' || o + 1 >= cap)
			return -1;
		dst[o++] = (char)c;
	}
	dst[o] = '\0';
	return (long)o;
}

/*
 * Parses an origin-form request-target ("/a/b%20c?x=1"). The path is split
 * on '/' before decoding, so "%2F" can never create a segment boundary, and
 * dot segments or empty segments are refused rather than normalised: nginx
 * already normalised what it routed, so anything odd here is an attack or a
 * bug. A trailing slash is accepted and ignored.
 */
enum http_uri_err
http_uri_parse(const char *t, size_t len, struct http_uri *u)
{
	const char	*p, *end, *q, *seg_end;
	size_t		 used = 0;
	long		 n;

	u->nsegs = 0;
	u->query = "";
	u->query_len = 0;
	if (len == 0 || t[0] != '/')
		return URI_EMPTY;
	if (len >= HTTP_PATH_MAX)
		return URI_TOO_LONG;
	q = memchr(t, '?', len);
	end = q ? q : t + len;
	if (q != NULL) {
		u->query = q + 1;
		u->query_len = (size_t)(t + len - (q + 1));
	}
	if (memchr(t, '#', (size_t)(end - t)) != NULL)
		return URI_BAD_SEGMENT;
	p = t + 1;
	while (p < end) {
		seg_end = memchr(p, '/', (size_t)(end - p));
		if (seg_end == NULL)
			seg_end = end;
		/* "//": a trailing slash never gets here (the loop ends). */
		if (seg_end == p)
			return URI_BAD_SEGMENT;
		if (u->nsegs == HTTP_SEGS_MAX)
			return URI_TOO_MANY_SEGS;
		n = pct_decode(p, (size_t)(seg_end - p), u->pathbuf + used,
		    sizeof(u->pathbuf) - used, 0);
		if (n < 0)
			return used + (size_t)(seg_end - p) + 1 > sizeof(u->pathbuf) ?
			    URI_TOO_LONG : URI_BAD_ESCAPE;
		if (n == 0 || strchr(u->pathbuf + used, '/') != NULL ||
		    strcmp(u->pathbuf + used, ".") == 0 ||
		    strcmp(u->pathbuf + used, "..") == 0)
			return URI_BAD_SEGMENT;
		u->segs[u->nsegs++] = u->pathbuf + used;
		used += (size_t)n + 1;
		p = seg_end + 1;
	}
	return URI_OK;
}

int
http_query_get(const struct http_uri *u, const char *name, char *out,
    size_t cap)
{
	const char	*p = u->query, *end = u->query + u->query_len, *amp, *eq;
	size_t		 nlen = strlen(name);

	while (p < end) {
		amp = memchr(p, '&', (size_t)(end - p));
		if (amp == NULL)
			amp = end;
		eq = memchr(p, '=', (size_t)(amp - p));
		if ((size_t)((eq ? eq : amp) - p) == nlen &&
		    memcmp(p, name, nlen) == 0) {
			if (eq == NULL) {
				out[0] = '\0';
				return 1;
			}
			return pct_decode(eq + 1, (size_t)(amp - eq - 1), out,
			    cap, 1) < 0 ? -1 : 1;
		}
		p = amp + 1;
	}
	return 0;
}

void
http_req_init(struct http_req *r, const struct config *cfg)
{
	memset(r, 0, sizeof(*r));
	r->cfg = cfg;
	r->content_length = -1;
	r->route_idx = 63;	/* ROUTE_IDX_INVALID until routed */
	r->status = 200;
	buf_init(&r->headers, HTTP_HDRS_MAX);
	buf_init(&r->body, HTTP_RESP_MAX);
}

void
http_req_free(struct http_req *r)
{
	buf_free(&r->headers);
	buf_free(&r->body);
}

const char *
http_header(const struct http_req *r, const char *name)
{
	char	 key[128] = "HTTP_";
	size_t	 i, o = 5;

	for (i = 0; name[i] != '\0' && o + 1 < sizeof(key); i++)
		key[o++] = name[i] == '-' ? '_' : (char)toupper((unsigned char)name[i]);
	key[o] = '\0';
	return http_param(r, key);
}

const char *
http_param(const struct http_req *r, const char *name)
{
	char *const	*e;
	size_t		 n = strlen(name);

	if (r->fcgi != NULL)
		return FCGX_GetParam(name, r->fcgi->envp);
	for (e = r->envp; e != NULL && *e != NULL; e++)
		if (strncmp(*e, name, n) == 0 && (*e)[n] == '=')
			return *e + n + 1;
	return NULL;
}

const char *
http_status_text(int s)
{
	switch (s) {
	case 200: return "OK";
	case 201: return "Created";
	case 202: return "Accepted";
	case 204: return "No Content";
	case 301: return "Moved Permanently";
	case 302: return "Found";
	case 304: return "Not Modified";
	case 400: return "Bad Request";
	case 401: return "Unauthorized";
	case 403: return "Forbidden";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 409: return "Conflict";
	case 411: return "Length Required";
	case 413: return "Payload Too Large";
	case 414: return "URI Too Long";
	case 415: return "Unsupported Media Type";
	case 422: return "Unprocessable Entity";
	case 429: return "Too Many Requests";
	case 500: return "Internal Server Error";
	case 502: return "Bad Gateway";
	case 503: return "Service Unavailable";
	case 504: return "Gateway Timeout";
	case 507: return "Insufficient Storage";
	default: return "Unknown";
	}
}

static const char *
default_error_type(int s)
{
	switch (s) {
	case 400: return "invalid_request";
	case 401: return "authentication_error";
	case 403: return "permission_error";
	case 404: return "not_found";
	case 405: return "method_not_allowed";
	case 409: return "conflict";
	case 411: return "length_required";
	case 413: return "request_too_large";
	case 415: return "unsupported_media_type";
	case 429: return "rate_limited";
	case 503: return "service_unavailable";
	default: return s >= 500 ? "internal_error" : "invalid_request";
	}
}

int
http_add_header(struct http_req *r, const char *name, const char *value)
{
	/* Header injection guard: values come partly from requests. */
	if (strpbrk(name, "\r\n:") != NULL || strpbrk(value, "\r\n") != NULL)
		return -1;
	return buf_printf(&r->headers, "%s: %s\r\n", name, value);
}

int
http_json(struct http_req *r, int status, const char *json)
{
	r->status = status;
	r->content_type_out = "application/json";
	buf_reset(&r->body);
	if (buf_puts(&r->body, json) == -1 || buf_putc(&r->body, '\n') == -1)
		return -1;
	return 0;
}

int
http_error(struct http_req *r, int status, const char *type, const char *fmt, ...)
{
	char	 msg[1024];
	va_list	 ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	r->status = status;
	r->content_type_out = "application/json";
	buf_reset(&r->body);
	buf_puts(&r->body, "{\"error\":{\"type\":\"");
	type = type ? type : default_error_type(status);
	buf_json_escape(&r->body, type, strlen(type));
	buf_puts(&r->body, "\",\"message\":\"");
	buf_json_escape(&r->body, msg, strlen(msg));
	if (r->request_id != NULL) {
		buf_puts(&r->body, "\",\"request_id\":\"");
		buf_json_escape(&r->body, r->request_id, strlen(r->request_id));
	}
	return buf_puts(&r->body, "\"}}\n");
}

int
http_serialize(const struct http_req *r, struct buf *out)
{
	buf_printf(out, "Status: %d %s\r\n", r->status, http_status_text(r->status));
	if (r->status != 204 && r->status != 304)
		buf_printf(out, "Content-Type: %s\r\n",
		    r->content_type_out ? r->content_type_out : "application/json");
	buf_puts(out, "Cache-Control: no-store\r\n");
	if (r->headers.len > 0)
		buf_append(out, r->headers.p, r->headers.len);
	if (r->status != 204 && r->status != 304)
		buf_printf(out, "Content-Length: %zu\r\n", r->body.len);
	if (buf_puts(out, "\r\n") == -1)
		return -1;
	if (r->method != HTTP_HEAD && r->status != 204 && r->status != 304 &&
	    r->body.len > 0)
		return buf_append(out, r->body.p, r->body.len);
	return 0;
}

int
http_read_body(struct http_req *r, size_t cap, struct buf *out)
{
	char	 chunk[8192];
	int	 n;
	size_t	 want;

	if (r->content_length < 0)
		return 0;
	if ((unsigned long long)r->content_length > cap)
		return http_error(r, 413, NULL, "request body is larger than %zu bytes",
		    cap), 413;
	want = (size_t)r->content_length;
	while (out->len < want && r->fcgi != NULL) {
		n = FCGX_GetStr(chunk, (int)(want - out->len < sizeof(chunk) ?
		    want - out->len : sizeof(chunk)), r->fcgi->in);
		if (n <= 0)
			break;
		if (buf_append(out, chunk, (size_t)n) == -1)
			return http_error(r, 413, NULL, "request body too large"), 413;
	}
	if (out->len != want)
		return http_error(r, 400, NULL,
		    "request body is shorter than Content-Length"), 400;
	return 0;
}
