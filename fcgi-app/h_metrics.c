/*
 * GET /api/metrics: Prometheus text format from the shared-memory
 * counters. nginx only lets loopback and internal addresses reach it; the
 * handler checks REMOTE_ADDR again so a misconfigured proxy fails closed.
 */
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "handlers.h"
#include "http.h"
#include "metrics.h"
#include "scoreboard.h"
#include "sessions.h"

static int
internal_addr(const char *a)
{
	if (a == NULL)
		return 0;
	if (strncmp(a, "172.", 4) == 0) {
		long second = strtol(a + 4, NULL, 10);

		return second >= 16 && second <= 31;
	}
	return strncmp(a, "127.", 4) == 0 || strcmp(a, "::1") == 0 ||
	    strncmp(a, "10.", 3) == 0 || strncmp(a, "192.168.", 8) == 0;
}

/*
 * The runner pool (issue 11): idle runners of the current generation (the
 * ones the master sizes the pool by), busy ones of any generation (a
 * reload's old runners finish their runs), the master's target and its
 * grow/shrink counters.
 */
static int
runner_metrics(struct buf *b, const struct scoreboard *sb)
{
	uint32_t	 gen = __atomic_load_n(&sb->generation, __ATOMIC_ACQUIRE);

	return buf_printf(b, "# HELP claude_web_runners Runner processes by state.\n"
	    "# TYPE claude_web_runners gauge\n"
	    "claude_web_runners{state=\"idle\"} %d\n"
	    "claude_web_runners{state=\"busy\"} %d\n"
	    "# HELP claude_web_runners_target Runners the master keeps now "
	    "(RUNNER_WORKERS at start, RUNNER_MAX at most).\n"
	    "# TYPE claude_web_runners_target gauge\n"
	    "claude_web_runners_target %d\n"
	    "# HELP claude_web_runner_spawns_total Runners started to grow the "
	    "pool.\n# TYPE claude_web_runner_spawns_total counter\n"
	    "claude_web_runner_spawns_total %llu\n"
	    "# HELP claude_web_runner_retirements_total Idle runners retired to "
	    "shrink the pool.\n# TYPE claude_web_runner_retirements_total counter\n"
	    "claude_web_runner_retirements_total %llu\n",
	    scoreboard_count(sb, POOL_RUNNER, gen, SB_IDLE),
	    scoreboard_count(sb, POOL_RUNNER, 0, SB_BUSY),
	    sb->expected[POOL_RUNNER],
	    (unsigned long long)__atomic_load_n(&sb->runner_spawns,
	    __ATOMIC_RELAXED),
	    (unsigned long long)__atomic_load_n(&sb->runner_retirements,
	    __ATOMIC_RELAXED));
}

int
h_metrics(struct http_req *r, struct app *app)
{
	long long	 active;

	if (!internal_addr(r->remote_addr))
		return http_error(r, 403, "permission_error",
		    "metrics are only served to internal addresses");
	active = sessions_active(app->store, app->cfg->session_timeout);
	buf_reset(&r->body);
	if (metrics_render(&r->body, app->sb, active < 0 ? 0 : active) == -1 ||
	    runner_metrics(&r->body, app->sb) == -1)
		return -1;
	r->status = 200;
	r->content_type_out = "text/plain; version=0.0.4; charset=utf-8";
	return 0;
}
