/*
 * pool_decide(): the runner pool's php-fpm-style sizing (pool.c), driven
 * with made-up scoreboard views and times: when it grows and by how much,
 * the RUNNER_MAX cap, stale backlog readings, the idle grace and one
 * retirement per grace period, and a simulated burst that grows the pool
 * and lets it shrink back.
 */
#include <string.h>

#include "pool.h"
#include "tap.h"

static const struct pool_params P = {
	.min_spare = 0, .max_spare = 1, .max = 4, .idle_grace_ms = 2000
};

static struct pool_view
view(int idle, int busy, int starting, int retiring, int backlog, int64_t age)
{
	struct pool_view	 v;

	memset(&v, 0, sizeof(v));
	v.idle = idle;
	v.busy = busy;
	v.starting = starting;
	v.retiring = retiring;
	v.live = idle + busy + starting + retiring;
	v.backlog = backlog;
	v.backlog_age_ms = age;
	return v;
}

static void
test_cadence(void)
{
	struct pool_dyn		 d;
	struct pool_view	 v = view(0, 1, 0, 0, 1, 10);
	enum pool_reason	 why;

	memset(&d, 0, sizeof(d));
	ok(pool_decide(&d, &P, &v, 1000, &why) == 1 && why == POOL_BACKLOG,
	    "a fresh backlog with no idle runner: one more runner");
	ok(pool_decide(&d, &P, &v, 1500, &why) == 0 && why == POOL_NONE,
	    "no second decision within POOL_EVAL_MS");
	ok(pool_decide(&d, &P, &v, 2000, &why) > 0,
	    "the next second decides again");
}

static void
test_backlog(void)
{
	struct pool_dyn		 d;
	struct pool_view	 v;
	int64_t			 t = 1000;

	memset(&d, 0, sizeof(d));
	v = view(1, 1, 0, 0, 3, 10);
	ok(pool_decide(&d, &P, &v, t += 1000, NULL) == 0,
	    "a backlog while a runner is idle: nothing (it takes the run)");
	v = view(0, 1, 0, 0, 3, POOL_BACKLOG_FRESH_MS);
	ok(pool_decide(&d, &P, &v, t += 1000, NULL) == 0,
	    "a stale backlog reading is ignored");
	v = view(0, 1, 0, 0, 3, -1);
	ok(pool_decide(&d, &P, &v, t += 1000, NULL) == 0,
	    "no backlog reading yet: nothing");
	v = view(0, 1, 0, 0, 0, 10);
	ok(pool_decide(&d, &P, &v, t += 1000, NULL) == 0,
	    "all runners busy, no backlog: nothing");
	v = view(0, 1, 2, 0, 2, 10);
	ok(pool_decide(&d, &P, &v, t += 1000, NULL) == 0,
	    "runners already starting cover the backlog");
	v = view(0, 1, 1, 0, 3, 10);
	ok(pool_decide(&d, &P, &v, t += 1000, NULL) == 2,
	    "one starting, three waiting: the two missing at once");
	v = view(0, 1, 2, 0, 3, 10);
	ok(pool_decide(&d, &P, &v, t += 1000, NULL) == 1,
	    "the rate doubled but only one is missing: one");
}

static void
test_rate_and_cap(void)
{
	struct pool_params	 p = P;
	struct pool_dyn		 d;
	struct pool_view	 v;
	int			 want[] = { 1, 2, 4, 8, 16, 32, 32 }, got, i, bad = 0;
	int64_t			 t = 1000;

	p.max = 10000;
	p.min_spare = 5000;
	memset(&d, 0, sizeof(d));
	for (i = 0; i < (int)(sizeof(want) / sizeof(want[0])); i++) {
		v = view(0, 5, 0, 0, 0, 10);
		if ((got = pool_decide(&d, &p, &v, t += 1000, NULL)) != want[i])
			bad++;
	}
	ok(bad == 0, "short of spares: the spawn rate doubles each second up "
	    "to %d", POOL_SPAWN_RATE_MAX);
	p.min_spare = 0;
	v = view(1, 5, 0, 0, 0, 10);
	ok(pool_decide(&d, &p, &v, t += 1000, NULL) == 0 && d.spawn_rate == 1,
	    "the shortage over: the rate is back to 1");
	v = view(0, 5, 0, 0, 12, 10);
	ok(pool_decide(&d, &p, &v, t += 1000, NULL) == 12,
	    "12 runs waiting, no runner idle: 12 runners at once");
	v = view(0, 5, 0, 0, 5000, 10);
	ok(pool_decide(&d, &p, &v, t += 1000, NULL) == POOL_SPAWN_RATE_MAX,
	    "5000 runs waiting: %d a second at most", POOL_SPAWN_RATE_MAX);

	memset(&d, 0, sizeof(d));
	v = view(0, 4, 0, 0, 3, 10);
	ok(pool_decide(&d, &P, &v, t += 1000, NULL) == 0 && d.at_max == 1,
	    "at RUNNER_MAX: nothing, and at_max says why runs wait");
	v = view(0, 3, 0, 1, 3, 10);
	ok(pool_decide(&d, &P, &v, t += 1000, NULL) == 0,
	    "a retiring runner still counts against RUNNER_MAX");
	v = view(0, 3, 0, 0, 3, 10);
	d.spawn_rate = 4;
	ok(pool_decide(&d, &P, &v, t += 1000, NULL) == 1 && d.at_max == 0,
	    "one below RUNNER_MAX: one, whatever the rate");
}

static void
test_min_spare(void)
{
	struct pool_params	 p = P;
	struct pool_dyn		 d;
	struct pool_view	 v;
	enum pool_reason	 why;
	int64_t			 t = 1000;

	p.min_spare = 3;
	p.max_spare = 5;
	p.max = 16;
	memset(&d, 0, sizeof(d));
	v = view(0, 2, 0, 0, 0, -1);
	ok(pool_decide(&d, &p, &v, t += 1000, &why) == 1 && why == POOL_MIN_SPARE,
	    "fewer idle than RUNNER_MIN_SPARE: grow (1 at first)");
	v = view(0, 2, 1, 0, 0, -1);
	ok(pool_decide(&d, &p, &v, t += 1000, NULL) == 2,
	    "still short: 2 (starting runners count as spare)");
	v = view(1, 2, 2, 0, 0, -1);
	ok(pool_decide(&d, &p, &v, t += 1000, NULL) == 0,
	    "idle + starting == RUNNER_MIN_SPARE: nothing");
	v = view(1, 2, 0, 0, 4, 10);
	ok(pool_decide(&d, &p, &v, t += 1000, &why) == 1 && why == POOL_MIN_SPARE,
	    "short of spares with a backlog and an idle runner: min_spare rules");
}

static void
test_shrink(void)
{
	struct pool_dyn		 d;
	struct pool_view	 v;
	enum pool_reason	 why;
	int64_t			 t = 10000;

	memset(&d, 0, sizeof(d));
	v = view(3, 0, 0, 0, 0, 10);
	ok(pool_decide(&d, &P, &v, t, NULL) == 0,
	    "idle > RUNNER_MAX_SPARE: the grace period starts");
	ok(pool_decide(&d, &P, &v, t += 1000, NULL) == 0, "1 s: still waiting");
	ok(pool_decide(&d, &P, &v, t += 1000, &why) == -1 && why == POOL_MAX_SPARE,
	    "after RUNNER_IDLE_GRACE: one retires");
	v = view(2, 0, 0, 1, 0, 10);
	ok(pool_decide(&d, &P, &v, t += 1000, NULL) == 0,
	    "the next one waits a whole grace period again");
	ok(pool_decide(&d, &P, &v, t += 1000, NULL) == -1,
	    "...and then retires");
	v = view(1, 0, 0, 1, 0, 10);
	ok(pool_decide(&d, &P, &v, t += 1000, NULL) == 0 && d.over_since_ms == 0,
	    "idle == RUNNER_MAX_SPARE: the count stops");

	memset(&d, 0, sizeof(d));
	v = view(3, 0, 0, 0, 0, 10);
	(void)pool_decide(&d, &P, &v, t += 1000, NULL);
	(void)pool_decide(&d, &P, &v, t += 1000, NULL);
	v = view(1, 2, 0, 0, 0, 10);
	(void)pool_decide(&d, &P, &v, t += 1000, NULL);
	v = view(3, 0, 0, 0, 0, 10);
	ok(pool_decide(&d, &P, &v, t += 1000, NULL) == 0,
	    "over RUNNER_MAX_SPARE again after a dip: the grace starts over");

	memset(&d, 0, sizeof(d));
	v = view(4, 5, 0, 0, 0, 10);
	for (t = 100000; t < 200000; t += 1000)
		if (pool_decide(&d, &P, &v, t, NULL) != 0)
			break;
	ok(t == 102000, "busy runners do not delay retiring idle ones");
}

static void
test_floor(void)
{
	struct pool_params	 p = P;
	struct pool_dyn		 d;
	struct pool_view	 v;
	int64_t			 t;
	int			 r = 0;

	p.max_spare = 0;
	p.idle_grace_ms = 0;
	memset(&d, 0, sizeof(d));
	v = view(1, 0, 0, 0, 0, 10);
	for (t = 1000; t < 20000 && r == 0; t += 1000)
		r = pool_decide(&d, &p, &v, t, NULL);
	ok(r == 0, "the last runner never retires (RUNNER_MAX_SPARE=0)");
	v = view(1, 0, 0, 1, 0, 10);
	ok(pool_decide(&d, &p, &v, t += 1000, NULL) == 0,
	    "...nor the last one not already retiring");
	v = view(2, 0, 0, 0, 0, 10);
	ok(pool_decide(&d, &p, &v, t += 1000, NULL) == -1,
	    "RUNNER_IDLE_GRACE=0: an extra idle runner retires at once");
}

/*
 * A burst in a toy pool: runners take 1 s to start, every run lasts 5 s,
 * the backlog is exact and fresh. 8 runs arrive at once in a pool of 1.
 */
static void
test_burst(void)
{
	struct pool_dyn		 d;
	struct pool_view	 v;
	int64_t			 t, ready_at[16], run_end[16];
	int			 n = 1, i, r, queued = 8, most = 1, retired = 0;
	int			 done = 0, peak_idle_end = 0, k;

	memset(&d, 0, sizeof(d));
	ready_at[0] = 0;
	run_end[0] = 0;
	for (t = 1000; t < 60000; t += 200) {
		memset(&v, 0, sizeof(v));
		for (i = 0; i < n; i++) {
			if (run_end[i] > 0 && t >= run_end[i]) {
				run_end[i] = 0;
				done++;
			}
			if (t >= ready_at[i] && run_end[i] == 0 && queued > 0) {
				run_end[i] = t + 5000;
				queued--;
			}
			if (t < ready_at[i])
				v.starting++;
			else if (run_end[i] > 0)
				v.busy++;
			else
				v.idle++;
		}
		v.live = n;
		v.backlog = queued;
		v.backlog_age_ms = 100;
		r = pool_decide(&d, &P, &v, t, NULL);
		for (k = 0; k < r && n < 16; k++, n++) {
			ready_at[n] = t + 1000;
			run_end[n] = 0;
		}
		if (r < 0) {
			/* Retire an idle one: the last idle slot goes. */
			for (i = n - 1; i >= 0; i--)
				if (t >= ready_at[i] && run_end[i] == 0)
					break;
			if (i >= 0) {
				ready_at[i] = ready_at[n - 1];
				run_end[i] = run_end[n - 1];
				n--;
				retired++;
			}
		}
		if (n > most)
			most = n;
		peak_idle_end = v.idle;
	}
	ok(most > 1 && most <= P.max, "the burst grows the pool above 1, "
	    "never above RUNNER_MAX (peak %d)", most);
	ok(done == 8, "every run finished (%d)", done);
	ok(retired > 0 && peak_idle_end <= P.max_spare && n >= 1,
	    "idle again, the pool shrinks back (%d retired, %d idle, %d live)",
	    retired, peak_idle_end, n);
}

int
main(void)
{
	test_cadence();
	test_backlog();
	test_rate_and_cap();
	test_min_spare();
	test_shrink();
	test_floor();
	test_burst();
	ok(strcmp(pool_reason_name(POOL_BACKLOG), "backlog") == 0 &&
	    strcmp(pool_reason_name(POOL_MAX_SPARE), "max_spare") == 0,
	    "reason names");
	return done_testing();
}
