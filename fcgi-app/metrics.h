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
#include "scoreboard.h"

#define METRICS_ROUTES		64	/* router table plus the specials */
#define METRICS_REQ_SLOTS	1024
#define METRICS_BUCKETS		12

/*
 * Class of one API attempt, from its HTTP status: 2xx, 4xx, 5xx, other
 * (1xx/3xx), network (no HTTP response at all), stream (a 2xx response
 * whose stream then failed: error event, stall, malformed or cut).
 */
enum metrics_api_class {
	MA_2XX = 0,
	MA_4XX,
	MA_5XX,
	MA_OTHER,
	MA_NETWORK,
	MA_STREAM,
	MA_CLASSES
};

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
	/* api requests whose Redis round trip carried others' too (worker.c). */
	M_API_BATCHED,
	/* Runs by outcome: the run's one final event, written by a runner. */
	M_RUNS_FINISHED,
	M_RUNS_ERROR,
	M_RUNS_CANCELLED,
	/* run.resumed by what is redone (an earlier runner of the run stopped). */
	M_RESUMED_MESSAGE,
	M_RESUMED_TOOLS,
	M_RESUMED_NONE,
	/* run.continued by reason (a parked or handed-off run picked up). */
	M_CONTINUED_ANSWERED,
	M_CONTINUED_CANCELLED,
	M_CONTINUED_EXPIRED,
	M_CONTINUED_HANDOFF,
	M_CONTINUED_OTHER,
	/* Anthropic API: attempts, failed attempts, retries, by class. */
	M_API_REQUESTS,			/* each + enum metrics_api_class */
	M_API_ERRORS = M_API_REQUESTS + MA_CLASSES,
	M_API_RETRIES = M_API_ERRORS + MA_CLASSES,
	/* Tokens the API reported, by kind. */
	M_TOKENS_INPUT = M_API_RETRIES + MA_CLASSES,
	M_TOKENS_OUTPUT,
	M_TOKENS_CACHE_READ,
	M_TOKENS_CACHE_WRITE,
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
	struct metrics_hist	 run_duration;	/* queued → final event */
	int64_t			 start_time_ms;	/* the master's start, wall clock */
	/*
	 * Open event streams: the pid of the stream worker in scoreboard slot
	 * i while it streams, else 0. Counted only while that slot still
	 * holds that pid, so a worker killed mid-stream drops out by itself.
	 */
	int32_t			 stream_pid[SB_SLOTS];
	int32_t			 stream_count[SB_SLOTS];	/* ... and how many */
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
/*
 * A run's one final event is in the log: status finished, error or
 * cancelled; queued_id the run's run.queued event id ("<ms>-<seq>", Redis
 * time), NULL or "" when unknown (then no duration is observed).
 */
void	metrics_run_end(const char *status, const char *queued_id);
/* run.resumed with its redo (message, tools, none). */
void	metrics_run_resumed(const char *redo);
/* run.continued with its reason (answered, cancelled, expired, handoff). */
void	metrics_run_continued(const char *reason);
/* One API attempt got HTTP status (0: no response). */
void	metrics_api_response(long status);
/* That attempt failed (status as above; 2xx: its stream failed). */
void	metrics_api_error(long status);
/* ... and is retried. */
void	metrics_api_retry(long status);
/* Usage of one API message. */
void	metrics_tokens(long long input, long long output, long long cache_read,
	    long long cache_write);
/* The stream worker in slot s starts (open 1) or stops (0) an event stream. */
void	metrics_stream(const struct scoreboard *, const struct sb_slot *s,
	    int open);
/* The stream worker in slot s holds n event streams now (its loop). */
void	metrics_stream_count(const struct scoreboard *, const struct sb_slot *s,
	    int n);
/* Open event streams now. */
int	metrics_streams_open(const struct scoreboard *);
/* Label for a route index (pattern or a special name). */
const char *metrics_route_label(int route_idx);

/* Renders the text exposition format; extra gauges are passed in. */
int	metrics_render(struct buf *, const struct scoreboard *,
	    long long active_sessions);

#endif
