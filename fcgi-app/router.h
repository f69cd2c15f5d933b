/*
 * router: a static table of (methods, pattern, handler). Patterns are
 * '/'-separated literal segments or ":name" captures; matching works on the
 * decoded segments from http_uri_parse(), so encoding tricks cannot change
 * which handler runs.
 */
#ifndef CW_ROUTER_H
#define CW_ROUTER_H

#include <stddef.h>

#include "app.h"
#include "http.h"

struct route {
	unsigned	 methods;	/* enum http_method mask */
	const char	*pattern;
	handler_fn	 fn;
};

/* Metric indexes for requests that matched no route. */
#define ROUTE_IDX_NOT_FOUND	61
#define ROUTE_IDX_BAD_METHOD	62
#define ROUTE_IDX_INVALID	63

enum router_result {
	ROUTE_FOUND = 0,
	ROUTE_NOT_FOUND,
	ROUTE_BAD_METHOD
};

/*
 * Matches segs against table. On ROUTE_FOUND *out is the route and params
 * (up to 4) point at the captured segments; on ROUTE_BAD_METHOD *allow is
 * the union of methods of all routes with a matching path.
 */
enum router_result router_match(const struct route *table, size_t n,
	    const char *const *segs, size_t nsegs, enum http_method,
	    const struct route **out, const char **params, unsigned *allow);

/* Routes r through the application table, writing 404/405 itself. */
int	router_dispatch(struct http_req *r, struct app *);

extern const struct route	router_table[];
extern const size_t		router_table_len;

#endif
