#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

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

/* Runs last from a second (a short answer) to hours (parked on a person). */
static const double run_le[METRICS_BUCKETS] = {
	0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 900, 3600, 14400
};

static const char *const api_class[MA_CLASSES] = {
	"2xx", "4xx", "5xx", "other", "network", "stream"
};

static int64_t
wall_ms(void)
{
	struct timespec	 ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

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
	M->start_time_ms = wall_ms();
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

static void
hist_add(struct metrics_hist *h, const double *le, double ms)
{
	int	 b;

	for (b = 0; b < METRICS_BUCKETS; b++)
		if (ms / 1000.0 <= le[b]) {
			__atomic_add_fetch(&h->buckets[b], 1, __ATOMIC_RELAXED);
			break;
		}
	__atomic_add_fetch(&h->count, 1, __ATOMIC_RELAXED);
	__atomic_add_fetch(&h->sum_us, (uint64_t)(ms * 1000.0), __ATOMIC_RELAXED);
}

void
metrics_observe_wait(double ms)
{
	if (M == NULL || ms < 0)
		return;
	hist_add(&M->run_wait, wait_le, ms);
}

void
metrics_run_end(const char *status, const char *queued_id)
{
	long long	 q;
	int64_t		 d;
	char		*end;

	if (M == NULL || status == NULL)
		return;
	if (strcmp(status, "finished") == 0)
		metrics_inc(M_RUNS_FINISHED);
	else if (strcmp(status, "cancelled") == 0)
		metrics_inc(M_RUNS_CANCELLED);
	else
		metrics_inc(M_RUNS_ERROR);
	if (queued_id == NULL || *queued_id == '\0')
		return;
	q = strtoll(queued_id, &end, 10);
	if (end == queued_id || *end != '-' || q <= 0)
		return;
	/* Redis' clock against ours: a step back counts as no time. */
	d = wall_ms() - q;
	hist_add(&M->run_duration, run_le, d < 0 ? 0 : (double)d);
}

void
metrics_run_resumed(const char *redo)
{
	if (redo == NULL || strcmp(redo, "message") == 0)
		metrics_inc(M_RESUMED_MESSAGE);
	else if (strcmp(redo, "tools") == 0)
		metrics_inc(M_RESUMED_TOOLS);
	else
		metrics_inc(M_RESUMED_NONE);
}

void
metrics_run_continued(const char *reason)
{
	static const struct {
		const char		*name;
		enum metrics_counter	 c;
	} r[] = {
		{ "answered", M_CONTINUED_ANSWERED },
		{ "cancelled", M_CONTINUED_CANCELLED },
		{ "expired", M_CONTINUED_EXPIRED },
		{ "handoff", M_CONTINUED_HANDOFF },
	};
	size_t	 i;

	for (i = 0; reason != NULL && i < sizeof(r) / sizeof(r[0]); i++)
		if (strcmp(reason, r[i].name) == 0) {
			metrics_inc(r[i].c);
			return;
		}
	metrics_inc(M_CONTINUED_OTHER);
}

static enum metrics_api_class
class_of(long status, int failed)
{
	if (status <= 0)
		return MA_NETWORK;
	if (status >= 200 && status <= 299)
		return failed ? MA_STREAM : MA_2XX;
	if (status >= 400 && status <= 499)
		return MA_4XX;
	if (status >= 500 && status <= 599)
		return MA_5XX;
	return MA_OTHER;
}

void
metrics_api_response(long status)
{
	metrics_inc(M_API_REQUESTS + class_of(status, 0));
}

void
metrics_api_error(long status)
{
	metrics_inc(M_API_ERRORS + class_of(status, 1));
}

void
metrics_api_retry(long status)
{
	metrics_inc(M_API_RETRIES + class_of(status, 1));
}

void
metrics_tokens(long long input, long long output, long long cache_read,
    long long cache_write)
{
	if (input > 0)
		metrics_add(M_TOKENS_INPUT, (uint64_t)input);
	if (output > 0)
		metrics_add(M_TOKENS_OUTPUT, (uint64_t)output);
	if (cache_read > 0)
		metrics_add(M_TOKENS_CACHE_READ, (uint64_t)cache_read);
	if (cache_write > 0)
		metrics_add(M_TOKENS_CACHE_WRITE, (uint64_t)cache_write);
}

void
metrics_stream(const struct scoreboard *sb, const struct sb_slot *s, int open)
{
	size_t	 i;

	if (M == NULL || sb == NULL || s < sb->slots || s >= sb->slots + SB_SLOTS)
		return;
	i = (size_t)(s - sb->slots);
	__atomic_store_n(&M->stream_count[i], open ? 1 : 0, __ATOMIC_RELAXED);
	__atomic_store_n(&M->stream_pid[i], open ? (int32_t)getpid() : 0,
	    __ATOMIC_RELEASE);
}

void
metrics_stream_count(const struct scoreboard *sb, const struct sb_slot *s, int n)
{
	size_t	 i;

	if (M == NULL || sb == NULL || s < sb->slots || s >= sb->slots + SB_SLOTS)
		return;
	i = (size_t)(s - sb->slots);
	__atomic_store_n(&M->stream_count[i], (int32_t)n, __ATOMIC_RELAXED);
	__atomic_store_n(&M->stream_pid[i], n > 0 ? (int32_t)getpid() : 0,
	    __ATOMIC_RELEASE);
}

int
metrics_streams_open(const struct scoreboard *sb)
{
	int32_t	 pid;
	size_t	 i;
	int	 n = 0;

	if (M == NULL)
		return 0;
	for (i = 0; i < SB_SLOTS; i++) {
		pid = __atomic_load_n(&M->stream_pid[i], __ATOMIC_ACQUIRE);
		if (pid != 0 && __atomic_load_n(&sb->slots[i].state,
		    __ATOMIC_ACQUIRE) != SB_FREE && sb->slots[i].pid == pid)
			n += __atomic_load_n(&M->stream_count[i], __ATOMIC_RELAXED);
	}
	return n;
}

static uint64_t
ld(const uint64_t *p)
{
	return __atomic_load_n(p, __ATOMIC_RELAXED);
}

/*
 * The families that had no claude_web_ prefix before (kept one release
 * as deprecated aliases) are rendered twice from one snapshot, so a
 * family and its alias always show the same numbers.
 */
struct snapshot {
	struct metrics_req	 req[METRICS_REQ_SLOTS];
	struct metrics_hist	 hist[METRICS_ROUTES];
	uint64_t		 counters[M_COUNTERS];
	uint64_t		 dropped;
	int			 workers[POOL_COUNT][SB_QUITTING - SB_STARTING + 1];
	long long		 active;
};

static void
take_snapshot(struct snapshot *sn, const struct scoreboard *sb, long long active)
{
	size_t	 i;
	int	 r, b, st;

	memset(sn, 0, sizeof(*sn));
	for (i = 0; i < METRICS_REQ_SLOTS; i++) {
		sn->req[i].key = __atomic_load_n(&M->req[i].key, __ATOMIC_ACQUIRE);
		sn->req[i].count = ld(&M->req[i].count);
	}
	for (r = 0; r < METRICS_ROUTES; r++) {
		for (b = 0; b < METRICS_BUCKETS; b++)
			sn->hist[r].buckets[b] = ld(&M->hist[r].buckets[b]);
		sn->hist[r].count = ld(&M->hist[r].count);
		sn->hist[r].sum_us = ld(&M->hist[r].sum_us);
	}
	for (i = 0; i < M_COUNTERS; i++)
		sn->counters[i] = ld(&M->counters[i]);
	sn->dropped = ld(&M->dropped);
	for (i = 0; i < SB_SLOTS; i++) {
		st = __atomic_load_n(&sb->slots[i].state, __ATOMIC_ACQUIRE);
		if (st >= SB_STARTING && st <= SB_QUITTING &&
		    sb->slots[i].pool >= 0 && sb->slots[i].pool < POOL_COUNT)
			sn->workers[sb->slots[i].pool][st - SB_STARTING]++;
	}
	sn->active = active;
}

/* HELP and TYPE of pfx + name; an alias (pfx "") says what replaces it. */
static void
family(struct buf *b, const char *pfx, const char *name, const char *type,
    const char *help)
{
	if (*pfx == '\0')
		buf_printf(b, "# HELP %s Deprecated alias of claude_web_%s "
		    "(removed in the next release).\n", name, name);
	else
		buf_printf(b, "# HELP %s%s %s\n", pfx, name, help);
	buf_printf(b, "# TYPE %s%s %s\n", pfx, name, type);
}

static void
counter(struct buf *b, const char *pfx, const char *name, const char *help,
    uint64_t v)
{
	family(b, pfx, name, "counter", help);
	buf_printf(b, "%s%s %llu\n", pfx, name, (unsigned long long)v);
}

static void
histogram(struct buf *b, const char *name, const char *labels,
    const double *le, const struct metrics_hist *h)
{
	uint64_t	 cum = 0, count;
	int		 i;

	for (i = 0; i < METRICS_BUCKETS; i++) {
		cum += ld(&h->buckets[i]);
		buf_printf(b, "%s_bucket{%s%sle=\"%g\"} %llu\n", name, labels,
		    *labels ? "," : "", le[i], (unsigned long long)cum);
	}
	/* Read after the buckets; one counted in a bucket but not yet here is. */
	if ((count = ld(&h->count)) < cum)
		count = cum;
	buf_printf(b, "%s_bucket{%s%sle=\"+Inf\"} %llu\n", name, labels,
	    *labels ? "," : "", (unsigned long long)count);
	buf_printf(b, "%s_sum%s%s%s %.6f\n", name, *labels ? "{" : "", labels,
	    *labels ? "}" : "", (double)ld(&h->sum_us) / 1e6);
	buf_printf(b, "%s_count%s%s%s %llu\n", name, *labels ? "{" : "", labels,
	    *labels ? "}" : "", (unsigned long long)count);
}

/* The families every release had, under pfx ("claude_web_"; "" for the aliases). */
static void
render_base(struct buf *b, const struct snapshot *sn, const char *pfx)
{
	static const char *const states[] = { "starting", "idle", "busy", "quitting" };
	const char	*label;
	char		 name[96], lab[160];
	uint32_t	 key;
	size_t		 i;
	int		 r, pool, st;
	unsigned	 m;

	family(b, pfx, "http_requests_total", "counter", "HTTP requests by "
	    "route template, method and status.");
	for (i = 0; i < METRICS_REQ_SLOTS; i++) {
		if ((key = sn->req[i].key) == 0)
			continue;
		key -= 1;
		m = 1u << ((key >> 12) & 0xf);
		buf_printf(b, "%shttp_requests_total{method=\"%s\",route=\"%s\","
		    "status=\"%u\"} %llu\n", pfx, http_method_name(m),
		    metrics_route_label((int)(key >> 16)), key & 0xfff,
		    (unsigned long long)sn->req[i].count);
	}
	family(b, pfx, "http_request_duration_seconds", "histogram", "Request "
	    "latency by route template.");
	snprintf(name, sizeof(name), "%shttp_request_duration_seconds", pfx);
	for (r = 0; r < METRICS_ROUTES; r++) {
		if (sn->hist[r].count == 0)
			continue;
		label = metrics_route_label(r);
		snprintf(lab, sizeof(lab), "route=\"%s\"", label);
		histogram(b, name, lab, bucket_le, &sn->hist[r]);
	}
	family(b, pfx, "active_sessions", "gauge", "Sessions with activity "
	    "within SESSION_TIMEOUT.");
	buf_printf(b, "%sactive_sessions %lld\n", pfx, sn->active);
	family(b, pfx, "workers", "gauge", "Worker processes by pool and state.");
	for (pool = 0; pool < POOL_COUNT; pool++)
		for (st = 0; st <= SB_QUITTING - SB_STARTING; st++)
			buf_printf(b, "%sworkers{pool=\"%s\",state=\"%s\"} %d\n",
			    pfx, scoreboard_pool_name(pool), states[st],
			    sn->workers[pool][st]);
	family(b, pfx, "worker_restarts_total", "counter", "Workers respawned "
	    "after exiting, by pool.");
	buf_printf(b, "%sworker_restarts_total{pool=\"api\"} %llu\n"
	    "%sworker_restarts_total{pool=\"stream\"} %llu\n"
	    "%sworker_restarts_total{pool=\"runner\"} %llu\n",
	    pfx, (unsigned long long)sn->counters[M_WORKER_RESTARTS_API],
	    pfx, (unsigned long long)sn->counters[M_WORKER_RESTARTS_STREAM],
	    pfx, (unsigned long long)sn->counters[M_WORKER_RESTARTS_RUNNER]);
	counter(b, pfx, "worker_crashes_total", "Workers that died abnormally.",
	    sn->counters[M_WORKER_CRASHES]);
	counter(b, pfx, "request_timeouts_total", "Workers killed for exceeding "
	    "the request timeout.", sn->counters[M_REQUEST_TIMEOUTS]);
	counter(b, pfx, "redis_errors_total", "Redis commands that failed.",
	    sn->counters[M_REDIS_ERRORS]);
	family(b, pfx, "rate_limited_total", "counter", "Requests refused by a "
	    "rate limit.");
	buf_printf(b, "%srate_limited_total{scope=\"api\"} %llu\n"
	    "%srate_limited_total{scope=\"login\"} %llu\n",
	    pfx, (unsigned long long)sn->counters[M_RATE_LIMITED_API],
	    pfx, (unsigned long long)sn->counters[M_RATE_LIMITED_LOGIN]);
	counter(b, pfx, "login_failures_total", "Failed login attempts.",
	    sn->counters[M_LOGIN_FAILURES]);
	counter(b, pfx, "logins_total", "Successful logins.",
	    sn->counters[M_LOGIN_SUCCESS]);
	counter(b, pfx, "metrics_dropped_total", "Request label sets dropped "
	    "because the shared table was full.", sn->dropped);
}

/* One counter family with one label over a fixed set of values. */
static void
labelled(struct buf *b, const char *name, const char *help, const char *label,
    const char *const *values, const uint64_t *v, size_t n)
{
	size_t	 i;

	buf_printf(b, "# HELP %s %s\n# TYPE %s counter\n", name, help, name);
	for (i = 0; i < n; i++)
		if (values[i] != NULL)
			buf_printf(b, "%s{%s=\"%s\"} %llu\n", name, label, values[i],
			    (unsigned long long)v[i]);
}

/* Runs, the Anthropic API, event streams: new, claude_web_ only. */
static void
render_ops(struct buf *b, const struct snapshot *sn, const struct scoreboard *sb)
{
	static const char *const outcomes[] = { "finished", "error", "cancelled" };
	static const char *const redo[] = { "message", "tools", "none" };
	static const char *const reasons[] = { "answered", "cancelled", "expired",
	    "handoff", "other" };
	static const char *const tokens[] = { "input", "output", "cache_read",
	    "cache_write" };
	const char	*cls[MA_CLASSES];
	const uint64_t	*c = sn->counters;

	labelled(b, "claude_web_runs_total", "Runs ended, by outcome (their one "
	    "final event: run.finished, run.error, run.cancelled) as written by a "
	    "runner.", "outcome", outcomes, &c[M_RUNS_FINISHED], 3);
	labelled(b, "claude_web_runs_resumed_total", "Runs taken over after an "
	    "earlier runner stopped (run.resumed), by what was redone.", "redo",
	    redo, &c[M_RESUMED_MESSAGE], 3);
	labelled(b, "claude_web_runs_continued_total", "Parked or handed-off runs "
	    "picked up again (run.continued), by reason.", "reason", reasons,
	    &c[M_CONTINUED_ANSWERED], 5);
	buf_puts(b, "# HELP claude_web_run_duration_seconds Time from a run "
	    "queued to its final event (queue wait and time parked on a person "
	    "included).\n# TYPE claude_web_run_duration_seconds histogram\n");
	histogram(b, "claude_web_run_duration_seconds", "", run_le,
	    &M->run_duration);
	buf_puts(b, "# HELP claude_web_run_queue_wait_seconds Time from a run "
	    "queued (or continued after an answer) to a runner picking it up.\n"
	    "# TYPE claude_web_run_queue_wait_seconds histogram\n");
	histogram(b, "claude_web_run_queue_wait_seconds", "", wait_le,
	    &M->run_wait);

	memcpy(cls, api_class, sizeof(cls));
	cls[MA_STREAM] = NULL;		/* an attempt's response is never "stream" */
	labelled(b, "claude_web_anthropic_requests_total", "Anthropic Messages "
	    "API attempts (retries included), by HTTP status class (network: no "
	    "response).", "class", cls, &c[M_API_REQUESTS], MA_CLASSES);
	memcpy(cls, api_class, sizeof(cls));
	cls[MA_2XX] = NULL;		/* a failed 2xx is "stream" */
	labelled(b, "claude_web_anthropic_errors_total", "Anthropic API attempts "
	    "that failed, by class (stream: the 2xx stream broke off).", "class",
	    cls, &c[M_API_ERRORS], MA_CLASSES);
	labelled(b, "claude_web_anthropic_retries_total", "Failed Anthropic API "
	    "attempts that were retried after a backoff, by class.", "class", cls,
	    &c[M_API_RETRIES], MA_CLASSES);
	labelled(b, "claude_web_anthropic_tokens_total", "Tokens in the usage the "
	    "Anthropic API reported, by kind (cache_write: cache creation).",
	    "type", tokens, &c[M_TOKENS_INPUT], 4);

	counter(b, "claude_web_", "api_batched_requests_total", "API requests "
	    "whose Redis round trip carried other requests' too (one pipeline "
	    "for the requests an api worker found waiting together).",
	    c[M_API_BATCHED]);
	buf_printf(b, "# HELP claude_web_event_streams Event streams (SSE) open "
	    "now.\n# TYPE claude_web_event_streams gauge\n"
	    "claude_web_event_streams %d\n", metrics_streams_open(sb));
	buf_printf(b, "# HELP claude_web_start_time_seconds When the master "
	    "started (counters count from here), Unix time.\n"
	    "# TYPE claude_web_start_time_seconds gauge\n"
	    "claude_web_start_time_seconds %.3f\n",
	    (double)M->start_time_ms / 1000.0);
}

int
metrics_render(struct buf *b, const struct scoreboard *sb, long long active)
{
	static struct snapshot	 sn;	/* one render at a time per process */

	if (M == NULL)
		return -1;
	take_snapshot(&sn, sb, active);
	render_base(b, &sn, "claude_web_");
	render_ops(b, &sn, sb);
	render_base(b, &sn, "");
	return 0;
}
