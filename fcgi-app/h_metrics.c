/*
 * GET /api/metrics: Prometheus text format from the shared-memory
 * counters. nginx only lets loopback and internal addresses reach it; the
 * handler checks REMOTE_ADDR again so a misconfigured proxy fails closed.
 */
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>
#include <hiredis/hiredis.h>
#include <json-c/json_c_version.h>

#include "config.h"
#include "handlers.h"
#include "http.h"
#include "metrics.h"
#include "scheduler.h"
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

/*
 * Runs per scheduler state, from Redis (one Lua step over the live runs):
 * queued (behind a session's run, waiting for a user slot, ready for a
 * runner), running, parked. Omitted when Redis is away.
 */
static int
run_metrics(struct buf *b, struct app *app)
{
	static const char *const names[5] = { "behind", "waiting", "ready",
	    "running", "parked" };
	long long	 n[5];
	int		 i;

	if (sched_stats(app->store, n) == -1)
		return 0;
	buf_printf(b, "# HELP claude_web_runs_queued Runs waiting to start or "
	    "continue: behind their session's current run (session), for one of "
	    "their user's MAX_RUNS_PER_USER slots (user), for a free runner "
	    "(ready).\n# TYPE claude_web_runs_queued gauge\n"
	    "claude_web_runs_queued{state=\"session\"} %lld\n"
	    "claude_web_runs_queued{state=\"user\"} %lld\n"
	    "claude_web_runs_queued{state=\"ready\"} %lld\n",
	    n[0], n[1], n[2]);
	buf_printf(b, "# HELP claude_web_runs_queue_depth Runs waiting for a "
	    "runner or a user slot.\n# TYPE claude_web_runs_queue_depth gauge\n"
	    "claude_web_runs_queue_depth %lld\n", n[1] + n[2]);
	buf_printf(b, "# HELP claude_web_runs_parked Runs parked on a person's "
	    "answer (no process, no lock).\n# TYPE claude_web_runs_parked gauge\n"
	    "claude_web_runs_parked %lld\n", n[4]);
	buf_puts(b, "# HELP claude_web_runs Live runs by scheduler state.\n"
	    "# TYPE claude_web_runs gauge\n");
	for (i = 0; i < 5; i++)
		buf_printf(b, "claude_web_runs{state=\"%s\"} %lld\n", names[i], n[i]);
	return 0;
}

/* A label value: backslash, double quote and newline escaped. */
static void
label_value(struct buf *b, const char *v)
{
	for (; v != NULL && *v != '\0'; v++) {
		if (*v == '\\' || *v == '"')
			buf_putc(b, '\\');
		if (*v == '\n')
			buf_puts(b, "\\n");
		else
			buf_putc(b, *v);
	}
}

/* Always 1; the labels say what is running (the Prometheus *_info idiom). */
static int
build_info(struct buf *b, const struct app *app)
{
	const curl_version_info_data	*cv = curl_version_info(CURLVERSION_NOW);

	buf_puts(b, "# HELP claude_web_build_info The running claude-web: its "
	    "version, INSTANCE_ID and library versions (always 1).\n"
	    "# TYPE claude_web_build_info gauge\n"
	    "claude_web_build_info{version=\"");
	label_value(b, app->version != NULL ? app->version : PACKAGE_VERSION);
	buf_puts(b, "\",instance_id=\"");
	label_value(b, app->cfg->instance_id);
	buf_puts(b, "\",curl=\"");
	label_value(b, cv != NULL ? cv->version : "");
	buf_printf(b, "\",hiredis=\"%d.%d.%d\",json_c=\"", HIREDIS_MAJOR,
	    HIREDIS_MINOR, HIREDIS_PATCH);
	label_value(b, json_c_version());
	return buf_puts(b, "\"} 1\n");
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
	    runner_metrics(&r->body, app->sb) == -1 ||
	    run_metrics(&r->body, app) == -1 || build_info(&r->body, app) == -1)
		return -1;
	r->status = 200;
	r->content_type_out = "text/plain; version=0.0.4; charset=utf-8";
	return 0;
}
