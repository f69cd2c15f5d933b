#include <string.h>

#include "config.h"
#include "cors.h"
#include "http.h"

int
cors_listed(const struct http_req *r, const char *origin)
{
	const char	*p, *e;
	size_t		 len, olen;

	if (origin == NULL || r->cfg == NULL || r->cfg->allowed_origins == NULL)
		return 0;
	olen = strlen(origin);
	for (p = r->cfg->allowed_origins; *p != '\0'; p = e + 1) {
		e = strchr(p, ',');
		if (e == NULL)
			e = p + strlen(p);
		while (p < e && *p == ' ')
			p++;
		len = (size_t)(e - p);
		while (len > 0 && p[len - 1] == ' ')
			len--;
		if (len == 1 && *p == '*' && r->cfg->environment == ENV_DEVELOPMENT)
			return 1;
		if (len == olen && strncasecmp(p, origin, len) == 0)
			return 1;
		if (*e == '\0')
			break;
	}
	return 0;
}

/*
 * The UI's own origin. nginx passes the Host without a port ($host), so the
 * listening port is added back unless it is 443.
 */
int
cors_same_origin(const struct http_req *r, const char *origin)
{
	const char	*host = http_header(r, "Host"), *port, *o;
	size_t		 hl;

	if (origin == NULL || host == NULL || strncmp(origin, "https://", 8) != 0)
		return 0;
	o = origin + 8;
	hl = strlen(host);
	if (strncasecmp(o, host, hl) != 0)
		return 0;
	if (o[hl] == '\0')
		return strchr(host, ':') != NULL || (port = http_param(r,
		    "SERVER_PORT")) == NULL ||
		    strcmp(port, "443") == 0;
	if (o[hl] != ':' || strchr(host, ':') != NULL)
		return 0;
	port = http_param(r, "SERVER_PORT");
	return port != NULL && strcmp(o + hl + 1, port) == 0;
}

int
cors_handle(struct http_req *r)
{
	const char	*origin = http_header(r, "Origin");
	const char	*acrm;

	if (origin == NULL || !cors_listed(r, origin)) {
		/* Unlisted origin: no CORS headers at all; preflights fail. */
		if (r->method == HTTP_OPTIONS && origin != NULL &&
		    http_header(r, "Access-Control-Request-Method") != NULL) {
			r->route = "(cors_preflight)";
			http_error(r, 403, "permission_error",
			    "origin is not allowed");
			return 1;
		}
		return 0;
	}
	http_add_header(r, "Access-Control-Allow-Origin", origin);
	http_add_header(r, "Access-Control-Allow-Credentials", "true");
	http_add_header(r, "Vary", "Origin");
	acrm = http_header(r, "Access-Control-Request-Method");
	if (r->method == HTTP_OPTIONS && acrm != NULL) {
		r->route = "(cors_preflight)";
		http_add_header(r, "Access-Control-Allow-Methods",
		    "GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS");
		http_add_header(r, "Access-Control-Allow-Headers",
		    "Authorization, Content-Type, X-Requested-With, Last-Event-ID");
		http_add_header(r, "Access-Control-Max-Age", "600");
		r->status = 204;
		buf_reset(&r->body);
		return 1;
	}
	http_add_header(r, "Access-Control-Expose-Headers",
	    "Retry-After, X-Request-ID");
	return 0;
}
