#include <stddef.h>

#include "pool.h"

const char *
pool_reason_name(enum pool_reason r)
{
	switch (r) {
	case POOL_MIN_SPARE: return "min_spare";
	case POOL_BACKLOG: return "backlog";
	case POOL_MAX_SPARE: return "max_spare";
	default: return "none";
	}
}

/* How many runners are missing (0 when none), before the cap and the rate. */
static int
shortage(const struct pool_params *p, const struct pool_view *v,
    enum pool_reason *why)
{
	int	 ready = v->idle + v->starting, need = 0, want;

	if (ready < p->min_spare) {
		need = p->min_spare - ready;
		*why = POOL_MIN_SPARE;
	}
	/*
	 * Runs wait and every ready runner is in a run: one more runner per
	 * waiting run, less those already starting (they take one each).
	 */
	if (v->backlog > 0 && v->idle == 0 && v->backlog_age_ms >= 0 &&
	    v->backlog_age_ms < POOL_BACKLOG_FRESH_MS) {
		want = v->backlog - v->starting;
		if (want > need) {
			need = want;
			*why = POOL_BACKLOG;
		}
	}
	return need;
}

int
pool_decide(struct pool_dyn *d, const struct pool_params *p,
    const struct pool_view *v, int64_t now, enum pool_reason *why)
{
	enum pool_reason	 r = POOL_NONE;
	int			 need, room, n;

	if (why != NULL)
		*why = POOL_NONE;
	if (now < d->next_eval_ms)
		return 0;
	d->next_eval_ms = now + POOL_EVAL_MS;
	if (d->spawn_rate < 1)
		d->spawn_rate = 1;

	need = shortage(p, v, &r);
	room = p->max - v->live;
	d->at_max = need > 0 && room <= 0;
	if (need > 0 && room > 0) {
		n = need;
		/*
		 * Runs are waiting now: start a runner for each at once (at
		 * most POOL_SPAWN_RATE_MAX a second), since each waits for
		 * exactly one. Spares alone follow php-fpm: the rate doubles
		 * while the shortage lasts.
		 */
		if (r == POOL_BACKLOG) {
			if (n > POOL_SPAWN_RATE_MAX)
				n = POOL_SPAWN_RATE_MAX;
		} else if (n > d->spawn_rate)
			n = d->spawn_rate;
		if (n > room)
			n = room;
		if (d->spawn_rate < POOL_SPAWN_RATE_MAX)
			d->spawn_rate *= 2;
		d->over_since_ms = 0;
		if (why != NULL)
			*why = r;
		return n;
	}
	if (need == 0)
		d->spawn_rate = 1;

	if (v->idle > p->max_spare && v->live - v->retiring > 1) {
		if (d->over_since_ms == 0)
			d->over_since_ms = now;
		if (now - d->over_since_ms >= p->idle_grace_ms) {
			/* The next one must wait a whole grace period again. */
			d->over_since_ms = now;
			if (why != NULL)
				*why = POOL_MAX_SPARE;
			return -1;
		}
	} else
		d->over_since_ms = 0;
	return 0;
}
