/*
 * streamloop: the stream pool's event loop (issue 14). One stream worker
 * serves many SSE connections from one loop and one Redis connection.
 */
#ifndef CW_STREAMLOOP_H
#define CW_STREAMLOOP_H

struct worker_args;
struct app;

/* The stream worker's life; returns when it should exit. */
void	streamloop_main(const struct worker_args *, struct app *);

#endif
