/*
 * worker: the body of a pre-forked child. api and stream workers run the
 * FastCGI accept loop on the inherited listen socket; runner workers (agent
 * jobs, later) idle and keep their scoreboard heartbeat fresh.
 *
 * Signals inside a worker: SIGQUIT = finish the current request, then exit
 * 0; SIGTERM = die now; SIGUSR1 = reopen the log; SIGPIPE ignored.
 */
#ifndef CW_WORKER_H
#define CW_WORKER_H

struct config;
struct scoreboard;
struct sb_slot;

struct worker_args {
	int			 pool;		/* enum sb_pool */
	int			 listen_fd;	/* -1 for runners */
	const struct config	*cfg;
	struct scoreboard	*sb;
	struct sb_slot		*slot;
};

/* 1 once SIGQUIT asked this worker to finish up. */
int	worker_quitting(void);

/* Never returns. */
void	worker_main(const struct worker_args *) __attribute__((noreturn));

/* The FastCGI accept loop of the api pool (libfcgi). */
struct app;
void	worker_serve_fcgi(const struct worker_args *, struct app *);

/* One request through the router, with no FastCGI I/O (tests, fuzzing). */
struct http_req;
struct app;
void	worker_handle(struct http_req *, struct app *);

#endif
