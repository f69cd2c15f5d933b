#include <string.h>

#include <json-c/json.h>

#include "http.h"
#include "tap.h"

static enum http_uri_err
parse(const char *s, struct http_uri *u)
{
	return http_uri_parse(s, strlen(s), u);
}

int
main(void)
{
	static struct http_uri	 u;
	struct http_req		 r;
	struct buf		 out;
	json_object		*j, *e, *t, *m;
	char			 v[64], longp[HTTP_PATH_MAX + 10];

	ok(parse("/api/live", &u) == URI_OK && u.nsegs == 2 &&
	    strcmp(u.segs[0], "api") == 0 && strcmp(u.segs[1], "live") == 0,
	    "plain path splits into segments");
	ok(parse("/api/live/", &u) == URI_OK && u.nsegs == 2,
	    "a trailing slash is ignored");
	ok(parse("/", &u) == URI_OK && u.nsegs == 0, "root has no segments");
	ok(parse("/a%20b/c?x=1&y=%41", &u) == URI_OK && strcmp(u.segs[0], "a b") == 0 &&
	    u.query_len == 9, "percent-decoding and query split");
	ok(parse("/a%2Fb", &u) == URI_BAD_SEGMENT, "an encoded slash cannot smuggle a separator");
	ok(parse("/a/../b", &u) == URI_BAD_SEGMENT, "dot-dot refused");
	ok(parse("/a/%2e%2e/b", &u) == URI_BAD_SEGMENT, "encoded dot-dot refused");
	ok(parse("/a/./b", &u) == URI_BAD_SEGMENT, "dot refused");
	ok(parse("/a//b", &u) == URI_BAD_SEGMENT, "empty segment refused");
	ok(parse("/a%zz", &u) == URI_BAD_ESCAPE, "bad escape refused");
	ok(parse("/a%4", &u) == URI_BAD_ESCAPE, "truncated escape refused");
	ok(parse("/a%00b", &u) == URI_BAD_ESCAPE, "NUL refused");
	ok(parse("api/live", &u) == URI_EMPTY, "relative target refused");
	ok(http_uri_parse("", 0, &u) == URI_EMPTY, "empty target refused");
	memset(longp, 'a', sizeof(longp) - 1);
	longp[0] = '/';
	longp[sizeof(longp) - 1] = '\0';
	ok(parse(longp, &u) == URI_TOO_LONG, "over-long path refused");
	ok(parse("/1/2/3/4/5/6/7/8/9/10/11/12/13/14/15/16/17", &u) == URI_TOO_MANY_SEGS,
	    "too many segments refused");

	parse("/x?limit=10&q=a+b%21&flag&empty=", &u);
	ok(http_query_get(&u, "limit", v, sizeof(v)) == 1 && strcmp(v, "10") == 0,
	    "query value");
	ok(http_query_get(&u, "q", v, sizeof(v)) == 1 && strcmp(v, "a b!") == 0,
	    "query value decoded, + is space");
	ok(http_query_get(&u, "flag", v, sizeof(v)) == 1 && v[0] == '\0',
	    "bare query flag");
	ok(http_query_get(&u, "lim", v, sizeof(v)) == 0, "prefix is not a match");
	parse("/x?bad=%G1", &u);
	ok(http_query_get(&u, "bad", v, sizeof(v)) == -1, "bad escape in query value");

	/* The JSON error writer. */
	http_req_init(&r, NULL);
	r.request_id = "abc123";
	http_error(&r, 404, NULL, "no such \"thing\"\n");
	j = json_tokener_parse(r.body.p);
	ok(j != NULL, "error body is valid JSON");
	ok(json_object_object_get_ex(j, "error", &e) &&
	    json_object_object_get_ex(e, "type", &t) &&
	    json_object_object_get_ex(e, "message", &m), "error has type and message");
	is_str(json_object_get_string(t), "not_found", "404 maps to not_found");
	is_str(json_object_get_string(m), "no such \"thing\"\n", "message escaped and round-trips");
	json_object_put(j);
	ok(r.status == 404, "status set");
	buf_init(&out, 1 << 20);
	http_add_header(&r, "Allow", "GET, HEAD");
	ok(http_add_header(&r, "X-Evil", "a\r\nSet-Cookie: x") == -1,
	    "header injection refused");
	http_serialize(&r, &out);
	ok(strncmp(out.p, "Status: 404 Not Found\r\n", 23) == 0, "FastCGI Status line");
	ok(strstr(out.p, "Content-Type: application/json\r\n") != NULL, "JSON content type");
	ok(strstr(out.p, "Allow: GET, HEAD\r\n") != NULL, "extra header kept");
	ok(strstr(out.p, "\r\n\r\n{\"error\"") != NULL, "body after the blank line");
	buf_reset(&out);
	r.method = HTTP_HEAD;
	http_serialize(&r, &out);
	ok(strstr(out.p, "{\"error\"") == NULL && strstr(out.p, "Content-Length:"),
	    "HEAD: headers only");
	buf_free(&out);
	http_error(&r, 413, NULL, "big");
	ok(strstr(r.body.p, "\"request_too_large\"") != NULL, "413 maps to request_too_large");
	http_error(&r, 405, NULL, "x");
	ok(strstr(r.body.p, "\"method_not_allowed\"") != NULL, "405 maps to method_not_allowed");
	http_error(&r, 503, "service_unavailable", "x");
	ok(strstr(r.body.p, "\"service_unavailable\"") != NULL, "explicit type kept");
	http_req_free(&r);

	ok(http_method_parse("PATCH") == HTTP_PATCH && http_method_parse("BREW") ==
	    HTTP_OTHER && http_method_parse(NULL) == HTTP_OTHER, "method parsing");
	http_methods_list(HTTP_GET | HTTP_HEAD | HTTP_DELETE, v, sizeof(v));
	is_str(v, "GET, HEAD, DELETE", "Allow list");
	return done_testing();
}
