/*
 * metrics: Prometheus counters kept in anonymous shared memory, mapped by
 * the master before it forks, so every worker adds to the same numbers and
 * any api worker can render /api/metrics. Nothing here touches Redis.
 *
 * All updates are lock-free __atomic operations on fixed-size tables; a
 * full request table drops new label sets (counted in dropped) rather than
 * allocating.
 */
#ifndef CW_METRICS_H
#define CW_METRICS_H

#include <stdint.h>

#include "buf.h"

#define METRICS_ROUTES		64	/* router table plus the specials */
#define METRICS_REQ_SLOTS	1024
#define METRICS_BUCKETS		12

enum metrics_counter {
	M_REDIS_ERRORS = 0,
	M_RATE_LIMITED_API,
	M_RATE_LIMITED_LOGIN,
	M_LOGIN_FAILURES,
	M_LOGIN_SUCCESS,
	M_WORKER_RESTARTS_API,
	M_WORKER_RESTARTS_STREAM,
	M_WORKER_RESTARTS_RUNNER,
	M_WORKER_CRASHES,
	M_REQUEST_TIMEOUTS,
	M_COUNTERS
};

struct metrics_req {
	uint32_t	 key;		/* 0 = empty */
	uint64_t	 count;
};

struct metrics_hist {
	uint64_t	 buckets[METRICS_BUCKETS];	/* cumulative at render */
	uint64_t	 count;
	uint64_t	 sum_us;
};

struct metrics_shm {
	struct metrics_req	 req[METRICS_REQ_SLOTS];
	struct metrics_hist	 hist[METRICS_ROUTES];
	uint64_t		 counters[M_COUNTERS];
	uint64_t		 dropped;
	struct metrics_hist	 run_wait;	/* queued → picked up by a runner */
};

int	metrics_create(void);		/* master, before fork; 0 or -1 */
struct metrics_shm *metrics_shm(void);
void	metrics_inc(enum metrics_counter);
void	metrics_add(enum metrics_counter, uint64_t);
/* One finished request; route_idx from the router, method a bit of enum http_method. */
void	metrics_observe(int route_idx, unsigned method, int status,
	    double duration_ms);
/* A run's wait from queued (or continued) to picked up by a runner. */
void	metrics_observe_wait(double ms);
/* Label for a route index (pattern or a special name). */
const char *metrics_route_label(int route_idx);

struct scoreboard;
/* Renders the text exposition format; extra gauges are passed in. */
int	metrics_render(struct buf *, const struct scoreboard *,
	    long long active_sessions);

#endif
