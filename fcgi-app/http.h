/*
 * http: the request as the worker sees it (built from FastCGI params), the
 * request-target parser, and the buffered response with the JSON error
 * writer.
 *
 * struct http_req borrows every const char * from the FastCGI environment
 * (owned by libfcgi until FCGX_Finish_r); the decoded path segments live in
 * the request's own fixed buffer. The response body is a struct buf owned by
 * the request and freed by http_req_free().
 */
#ifndef CW_HTTP_H
#define CW_HTTP_H

#include <stddef.h>

#include "buf.h"

#define HTTP_PATH_MAX		2048
#define HTTP_SEGS_MAX		16
#define HTTP_BODY_JSON_MAX	(1024 * 1024)	/* cap for JSON request bodies */
#define HTTP_RESP_MAX		(16 * 1024 * 1024)
#define HTTP_HDRS_MAX		(8 * 1024)

enum http_method {
	HTTP_GET = 1 << 0,
	HTTP_HEAD = 1 << 1,
	HTTP_POST = 1 << 2,
	HTTP_PUT = 1 << 3,
	HTTP_PATCH = 1 << 4,
	HTTP_DELETE = 1 << 5,
	HTTP_OPTIONS = 1 << 6,
	HTTP_OTHER = 1 << 7
};

/* A parsed request-target: decoded path segments plus the raw query. */
struct http_uri {
	char		 pathbuf[HTTP_PATH_MAX];	/* decoded segments, NUL-separated */
	const char	*segs[HTTP_SEGS_MAX];
	size_t		 nsegs;
	const char	*query;		/* raw, after '?', or "" (points into input) */
	size_t		 query_len;
};

enum http_uri_err {
	URI_OK = 0,
	URI_EMPTY,		/* not starting with '/' */
	URI_TOO_LONG,
	URI_TOO_MANY_SEGS,
	URI_BAD_ESCAPE,		/* %zz, truncated %, %00 */
	URI_BAD_SEGMENT		/* ".", "..", empty or '/' after decoding */
};

struct FCGX_Request;
struct config;

struct auth_pre;

struct http_req {
	struct FCGX_Request	*fcgi;		/* NULL in unit tests */
	/* Without libfcgi (the stream loop): "NAME=value" params, NULL-ended. */
	char *const		*envp;
	const char		*method_str;
	enum http_method	 method;
	const char		*request_uri;
	struct http_uri		 uri;
	long long		 content_length;	/* -1 when absent */
	const char		*content_type;
	const char		*request_id;
	const char		*remote_addr;
	const char		*route;		/* matched pattern, for logs */
	int			 route_idx;	/* router table index, for metrics */
	const char		*params[4];	/* route captures, into uri */
	const struct config	*cfg;

	/* Response */
	int			 status;
	struct buf		 headers;	/* extra "Name: value\r\n" lines */
	struct buf		 body;
	const char		*content_type_out;
	int			 sent;		/* headers written (streaming) */

	/* Its authentication, fetched ahead by the worker (auth.h), or NULL. */
	struct auth_pre		*pre;

	/* For the request's log line, where known ("" otherwise). */
	char			 log_user[128];	/* the authenticated user */
	char			 log_run[40];	/* the run it created or touched */
};

enum http_method http_method_parse(const char *);
const char	*http_method_name(enum http_method);
/* Writes "GET, HEAD" style list for the Allow header. */
void		 http_methods_list(unsigned mask, char *out, size_t cap);

enum http_uri_err http_uri_parse(const char *target, size_t len, struct http_uri *);
/* Finds query parameter name; decodes into out (NUL-terminated). 1 found, 0 not, -1 bad. */
int		 http_query_get(const struct http_uri *, const char *name,
		    char *out, size_t cap);

void		 http_req_init(struct http_req *, const struct config *);
void		 http_req_free(struct http_req *);
/* Header lookup by HTTP name ("X-Requested-With"); NULL without params. */
const char	*http_header(const struct http_req *, const char *name);
/* A FastCGI param ("SERVER_PORT") from r->fcgi, else r->envp; or NULL. */
const char	*http_param(const struct http_req *, const char *name);

const char	*http_status_text(int);
/* JSON error: {"error":{"type":...,"message":...}} with the status. */
int		 http_error(struct http_req *, int status, const char *type,
		    const char *fmt, ...) __attribute__((format(printf, 4, 5)));
int		 http_add_header(struct http_req *, const char *name,
		    const char *value);
/* Sets a JSON body from an already serialized string. */
int		 http_json(struct http_req *, int status, const char *json);
/* Serializes status line, headers and body as a FastCGI response. */
int		 http_serialize(const struct http_req *, struct buf *out);
/* Reads the body into out (cap bytes max): 0 ok, else the status sent. */
int		 http_read_body(struct http_req *, size_t cap, struct buf *out);

#endif
