/*
 * pool: the size of the runner pool, php-fpm's pm = dynamic.
 *
 * pool_decide() is a pure function of what the master sees in the
 * scoreboard (struct pool_view) and the time it is given: no clock, no
 * signals, no Redis. The master calls it every tick with a settled pool
 * (every runner it wants is forked) and carries out the answer: spawn n
 * more runners, or send one idle runner a graceful SIGQUIT. It evaluates
 * once per POOL_EVAL_MS like php-fpm's maintenance timer.
 *
 * Growing: when fewer than min_spare runners are idle or starting, or when
 * runs are ready for a runner (a backlog reading younger than
 * POOL_BACKLOG_FRESH_MS) and no runner is idle. Like php-fpm, the number
 * forked per evaluation starts at 1 and doubles (1, 2, 4, ... up to
 * POOL_SPAWN_RATE_MAX) for as long as the shortage lasts, back to 1 once
 * it is over; never above max live runners (retiring ones included: they
 * still hold a process and a Redis connection).
 *
 * Shrinking: when more than max_spare runners are idle continuously for
 * idle_grace_ms, one idle runner retires; the grace period then starts
 * again, so at most one retires per grace period. The idle count left is
 * then still >= max_spare >= min_spare, a busy runner is never chosen, and
 * the last runner never retires (with no runner at all nobody would report
 * the backlog).
 */
#ifndef CW_POOL_H
#define CW_POOL_H

#include <stdint.h>

#define POOL_EVAL_MS		1000	/* one decision per second */
#define POOL_SPAWN_RATE_MAX	32	/* php-fpm's FPM_MAX_SPAWN_RATE */
#define POOL_BACKLOG_FRESH_MS	5000	/* an older backlog reading is ignored */

struct pool_params {
	int		 min_spare;	/* RUNNER_MIN_SPARE */
	int		 max_spare;	/* RUNNER_MAX_SPARE */
	int		 max;		/* RUNNER_MAX */
	int64_t		 idle_grace_ms;	/* RUNNER_IDLE_GRACE */
};

/* The runners of the current generation, as the master sees them. */
struct pool_view {
	int		 live;		/* processes: all of the below */
	int		 starting;	/* forked, not ready yet */
	int		 idle;		/* waiting for a job, not retiring */
	int		 busy;		/* in a run, not retiring */
	int		 retiring;	/* told to quit, not gone yet */
	int32_t		 backlog;	/* runs ready for a runner */
	int64_t		 backlog_age_ms;	/* age of that reading, -1 never */
};

/* What pool_decide remembers between calls; zero it to start (or reload). */
struct pool_dyn {
	int64_t		 next_eval_ms;
	int64_t		 over_since_ms;	/* idle > max_spare since, 0 when not */
	int		 spawn_rate;	/* 0 is read as 1 */
	int		 at_max;	/* 1 while a shortage is capped by max */
};

enum pool_reason {
	POOL_NONE = 0,
	POOL_MIN_SPARE,		/* grow: idle + starting < min_spare */
	POOL_BACKLOG,		/* grow: runs ready and no runner idle */
	POOL_MAX_SPARE		/* shrink: idle > max_spare for idle_grace */
};

/*
 * Returns n > 0: spawn n runners; -1: retire one idle runner; 0: nothing.
 * *why (may be NULL) says which rule fired.
 */
int		 pool_decide(struct pool_dyn *, const struct pool_params *,
		    const struct pool_view *, int64_t now_ms, enum pool_reason *why);
const char	*pool_reason_name(enum pool_reason);

#endif
