#include <string.h>
#include <sys/mman.h>

#include "http.h"
#include "metrics.h"
#include "router.h"
#include "scoreboard.h"

static struct metrics_shm	*M;

static const double bucket_le[METRICS_BUCKETS] = {
	0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10
};

static const double wait_le[METRICS_BUCKETS] = {
	0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 1800
};

int
metrics_create(void)
{
	M = mmap(NULL, sizeof(*M), PROT_READ | PROT_WRITE,
	    MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (M == MAP_FAILED) {
		M = NULL;
		return -1;
	}
	memset(M, 0, sizeof(*M));
	return 0;
}

struct metrics_shm *
metrics_shm(void)
{
	return M;
}

void
metrics_add(enum metrics_counter c, uint64_t n)
{
	if (M != NULL)
		__atomic_add_fetch(&M->counters[c], n, __ATOMIC_RELAXED);
}

void
metrics_inc(enum metrics_counter c)
{
	metrics_add(c, 1);
}

const char *
metrics_route_label(int idx)
{
	if (idx >= 0 && (size_t)idx < router_table_len)
		return router_table[idx].pattern;
	switch (idx) {
	case ROUTE_IDX_NOT_FOUND: return "(not_found)";
	case ROUTE_IDX_BAD_METHOD: return "(method_not_allowed)";
	default: return "(invalid)";
	}
}

static int
method_index(unsigned m)
{
	int	 i;

	for (i = 0; i < 8; i++)
		if (m == (1u << i))
			return i;
	return 7;
}

void
metrics_observe(int route_idx, unsigned method, int status, double ms)
{
	struct metrics_hist	*h;
	uint32_t		 key, expected, h32;
	size_t			 i, slot;
	int			 b;

	if (M == NULL)
		return;
	if (route_idx < 0 || route_idx >= METRICS_ROUTES)
		route_idx = ROUTE_IDX_INVALID;
	if (status < 100 || status > 999)
		status = 999;
	key = ((uint32_t)route_idx << 16) | ((uint32_t)method_index(method) << 12) |
	    (uint32_t)status;
	key += 1;	/* never 0 */
	h32 = key * 2654435761u;
	for (i = 0; i < METRICS_REQ_SLOTS; i++) {
		slot = (h32 + i) % METRICS_REQ_SLOTS;
		expected = 0;
		if (__atomic_load_n(&M->req[slot].key, __ATOMIC_ACQUIRE) == key ||
		    __atomic_compare_exchange_n(&M->req[slot].key, &expected, key,
		    0, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE) || expected == key) {
			__atomic_add_fetch(&M->req[slot].count, 1, __ATOMIC_RELAXED);
			break;
		}
	}
	if (i == METRICS_REQ_SLOTS)
		__atomic_add_fetch(&M->dropped, 1, __ATOMIC_RELAXED);

	h = &M->hist[route_idx];
	for (b = 0; b < METRICS_BUCKETS; b++)
		if (ms / 1000.0 <= bucket_le[b]) {
			__atomic_add_fetch(&h->buckets[b], 1, __ATOMIC_RELAXED);
			break;
		}
	__atomic_add_fetch(&h->count, 1, __ATOMIC_RELAXED);
	__atomic_add_fetch(&h->sum_us, (uint64_t)(ms * 1000.0), __ATOMIC_RELAXED);
}

void
metrics_observe_wait(double ms)
{
	struct metrics_hist	*h;
	int			 b;

	if (M == NULL || ms < 0)
		return;
	h = &M->run_wait;
	for (b = 0; b < METRICS_BUCKETS; b++)
		if (ms / 1000.0 <= wait_le[b]) {
			__atomic_add_fetch(&h->buckets[b], 1, __ATOMIC_RELAXED);
			break;
		}
	__atomic_add_fetch(&h->count, 1, __ATOMIC_RELAXED);
	__atomic_add_fetch(&h->sum_us, (uint64_t)(ms * 1000.0), __ATOMIC_RELAXED);
}

static uint64_t
ld(const uint64_t *p)
{
	return __atomic_load_n(p, __ATOMIC_RELAXED);
}

static void
counter(struct buf *b, const char *name, const char *help, uint64_t v)
{
	buf_printf(b, "# HELP %s %s\n# TYPE %s counter\n%s %llu\n", name, help,
	    name, name, (unsigned long long)v);
}

int
metrics_render(struct buf *b, const struct scoreboard *sb, long long active)
{
	static const char *const states[] = { "starting", "idle", "busy", "quitting" };
	const char	*label;
	uint32_t	 key;
	uint64_t	 cum;
	size_t		 i;
	int		 r, b2, pool, st, n;
	unsigned	 m;

	if (M == NULL)
		return -1;
	buf_puts(b, "# HELP http_requests_total HTTP requests by route template, "
	    "method and status.\n# TYPE http_requests_total counter\n");
	for (i = 0; i < METRICS_REQ_SLOTS; i++) {
		key = __atomic_load_n(&M->req[i].key, __ATOMIC_ACQUIRE);
		if (key == 0)
			continue;
		key -= 1;
		m = 1u << ((key >> 12) & 0xf);
		buf_printf(b, "http_requests_total{method=\"%s\",route=\"%s\","
		    "status=\"%u\"} %llu\n", http_method_name(m),
		    metrics_route_label((int)(key >> 16)), key & 0xfff,
		    (unsigned long long)ld(&M->req[i].count));
	}
	buf_puts(b, "# HELP http_request_duration_seconds Request latency by "
	    "route template.\n# TYPE http_request_duration_seconds histogram\n");
	for (r = 0; r < METRICS_ROUTES; r++) {
		if (ld(&M->hist[r].count) == 0)
			continue;
		label = metrics_route_label(r);
		cum = 0;
		for (b2 = 0; b2 < METRICS_BUCKETS; b2++) {
			cum += ld(&M->hist[r].buckets[b2]);
			buf_printf(b, "http_request_duration_seconds_bucket{route=\"%s\","
			    "le=\"%g\"} %llu\n", label, bucket_le[b2],
			    (unsigned long long)cum);
		}
		buf_printf(b, "http_request_duration_seconds_bucket{route=\"%s\","
		    "le=\"+Inf\"} %llu\n", label,
		    (unsigned long long)ld(&M->hist[r].count));
		buf_printf(b, "http_request_duration_seconds_sum{route=\"%s\"} %.6f\n",
		    label, (double)ld(&M->hist[r].sum_us) / 1e6);
		buf_printf(b, "http_request_duration_seconds_count{route=\"%s\"} %llu\n",
		    label, (unsigned long long)ld(&M->hist[r].count));
	}
	buf_puts(b, "# HELP active_sessions Sessions with activity within "
	    "SESSION_TIMEOUT.\n# TYPE active_sessions gauge\n");
	buf_printf(b, "active_sessions %lld\n", active);
	buf_puts(b, "# HELP workers Worker processes by pool and state.\n"
	    "# TYPE workers gauge\n");
	for (pool = 0; pool < POOL_COUNT; pool++)
		for (st = SB_STARTING; st <= SB_QUITTING; st++) {
			n = 0;
			for (i = 0; i < SB_SLOTS; i++)
				if (__atomic_load_n(&sb->slots[i].state,
				    __ATOMIC_ACQUIRE) == st && sb->slots[i].pool == pool)
					n++;
			buf_printf(b, "workers{pool=\"%s\",state=\"%s\"} %d\n",
			    scoreboard_pool_name(pool), states[st - SB_STARTING], n);
		}
	buf_puts(b, "# HELP worker_restarts_total Workers respawned after "
	    "exiting, by pool.\n# TYPE worker_restarts_total counter\n");
	buf_printf(b, "worker_restarts_total{pool=\"api\"} %llu\n"
	    "worker_restarts_total{pool=\"stream\"} %llu\n"
	    "worker_restarts_total{pool=\"runner\"} %llu\n",
	    (unsigned long long)ld(&M->counters[M_WORKER_RESTARTS_API]),
	    (unsigned long long)ld(&M->counters[M_WORKER_RESTARTS_STREAM]),
	    (unsigned long long)ld(&M->counters[M_WORKER_RESTARTS_RUNNER]));
	counter(b, "worker_crashes_total", "Workers that died abnormally.",
	    ld(&M->counters[M_WORKER_CRASHES]));
	counter(b, "request_timeouts_total", "Workers killed for exceeding the "
	    "request timeout.", ld(&M->counters[M_REQUEST_TIMEOUTS]));
	counter(b, "redis_errors_total", "Redis commands that failed.",
	    ld(&M->counters[M_REDIS_ERRORS]));
	buf_puts(b, "# HELP rate_limited_total Requests refused by a rate limit.\n"
	    "# TYPE rate_limited_total counter\n");
	buf_printf(b, "rate_limited_total{scope=\"api\"} %llu\n"
	    "rate_limited_total{scope=\"login\"} %llu\n",
	    (unsigned long long)ld(&M->counters[M_RATE_LIMITED_API]),
	    (unsigned long long)ld(&M->counters[M_RATE_LIMITED_LOGIN]));
	counter(b, "login_failures_total", "Failed login attempts.",
	    ld(&M->counters[M_LOGIN_FAILURES]));
	counter(b, "logins_total", "Successful logins.",
	    ld(&M->counters[M_LOGIN_SUCCESS]));
	counter(b, "metrics_dropped_total", "Request label sets dropped because "
	    "the shared table was full.", ld(&M->dropped));
	buf_puts(b, "# HELP claude_web_run_queue_wait_seconds Time from a run "
	    "queued (or continued after an answer) to a runner picking it up.\n"
	    "# TYPE claude_web_run_queue_wait_seconds histogram\n");
	cum = 0;
	for (b2 = 0; b2 < METRICS_BUCKETS; b2++) {
		cum += ld(&M->run_wait.buckets[b2]);
		buf_printf(b, "claude_web_run_queue_wait_seconds_bucket{le=\"%g\"} "
		    "%llu\n", wait_le[b2], (unsigned long long)cum);
	}
	buf_printf(b, "claude_web_run_queue_wait_seconds_bucket{le=\"+Inf\"} %llu\n"
	    "claude_web_run_queue_wait_seconds_sum %.6f\n"
	    "claude_web_run_queue_wait_seconds_count %llu\n",
	    (unsigned long long)ld(&M->run_wait.count),
	    (double)ld(&M->run_wait.sum_us) / 1e6,
	    (unsigned long long)ld(&M->run_wait.count));
	return 0;
}
