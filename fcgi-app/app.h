/*
 * app: what a request handler can reach inside a worker process. One
 * struct app per worker, created in worker_main() after fork; it borrows
 * cfg, sb and slot from the master's mappings and owns store.
 */
#ifndef CW_APP_H
#define CW_APP_H

struct config;
struct store;
struct scoreboard;
struct sb_slot;
struct http_req;

struct app {
	const struct config	*cfg;
	struct store		*store;
	struct scoreboard	*sb;
	struct sb_slot		*slot;
	int			 pool;
	const char		*version;
};

typedef int (*handler_fn)(struct http_req *, struct app *);

#endif
