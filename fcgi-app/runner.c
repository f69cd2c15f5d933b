#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "agent.h"
#include "app.h"
#include "auth.h"
#include "claude.h"
#include "config.h"
#include "keys.h"
#include "log.h"
#include "metrics.h"
#include "runner.h"
#include "runs.h"
#include "scheduler.h"
#include "scoreboard.h"
#include "store.h"
#include "title.h"
#include "worker.h"

#define BLOCK_MS		"1000"
#define RECLAIM_EVERY_MS	1000
#define MOVED_MAX		16	/* a dead consumer's jobs tried at once */
#define LOCK_WAIT_TRIES		50	/* x 100 ms for a session lock being let go */

static const char release_script[] =
    "if redis.call('GET', KEYS[1]) == ARGV[1] then "
    "return redis.call('DEL', KEYS[1]) end return 0";

static void
ensure_group(struct store *st)
{
	redisReply	*r;

	/* BUSYGROUP (it exists) is the usual answer: not an error worth a log line. */
	r = store_cmdv(st, "EVAL", "pcall(redis.call, 'XGROUP', 'CREATE', "
	    "KEYS[1], ARGV[1], '0', 'MKSTREAM') return 1", "1", RUNS_JOBS,
	    RUNS_GROUP, NULL);
	if (r != NULL)
		freeReplyObject(r);
}

static void
ack(struct store *st, const char *job_id)
{
	redisReply	*r;

	if ((r = store_cmdv(st, "XACK", RUNS_JOBS, RUNS_GROUP, job_id, NULL)) != NULL)
		freeReplyObject(r);
	if ((r = store_cmdv(st, "XDEL", RUNS_JOBS, job_id, NULL)) != NULL)
		freeReplyObject(r);
}

/* Field value of a stream entry [id, [k, v, ...]]. */
static const char *
entry_field(redisReply *e, const char *name)
{
	redisReply	*kv;
	size_t		 i;

	if (e->type != REDIS_REPLY_ARRAY || e->elements < 2)
		return NULL;
	kv = e->element[1];
	if (kv->type != REDIS_REPLY_ARRAY)
		return NULL;
	for (i = 0; i + 1 < kv->elements; i += 2)
		if (kv->element[i]->str && strcmp(kv->element[i]->str, name) == 0)
			return kv->element[i + 1]->str;
	return NULL;
}

/*
 * Counts one more attempt at the run (a runner holding its lock): the
 * delivery limit counts only attempts that really started, not passes
 * that found Redis full or the session locked. 0 when Redis refused.
 */
static int
count_attempt(struct store *st, const char *run_id)
{
	redisReply	*r;
	char		 key[96];
	int		 n = 0;

	snprintf(key, sizeof(key), CW_KP "run:%s", run_id);
	if ((r = store_cmdv(st, "HINCRBY", key, "attempts", "1", NULL)) == NULL)
		return 0;
	if (r->type == REDIS_REPLY_INTEGER)
		n = (int)r->integer;
	freeReplyObject(r);
	return n;
}

static void
release_lock(struct store *st, const char *lkey, const char *token)
{
	redisReply	*r;

	if ((r = store_cmdv(st, "EVAL", release_script, "1", lkey, token,
	    NULL)) != NULL)
		freeReplyObject(r);
}

/*
 * One job. The lock decides who runs a session; the fence (bumped on every
 * acquisition) makes a stale holder's writes fail. A job we cannot lock
 * stays pending and is reclaimed later. A job is acked only once its run's
 * final event is in the log; a job delivered more than JOB_MAX_DELIVERIES
 * times (every runner before died or hung on it) ends in run.error.
 */
static void
process(struct app *app, struct claude_client *cl, const char *consumer,
    const char *job_id, const char *run_id, const char *sid)
{
	struct store	*st = app->store;
	struct run_ctx	 c;
	redisReply	*r;
	char		 lkey[96], fkey[96], ttl[32], status[32] = "", msg[160];
	struct timespec	 lock_wait = { 0, 100 * 1000000L };
	long long	 wait_ms;
	int		 got, tries, ready;

	if (run_id == NULL || sid == NULL) {
		ack(st, job_id);
		return;
	}
	memset(&c, 0, sizeof(c));
	c.app = app;
	c.claude = cl;
	snprintf(c.sid, sizeof(c.sid), "%s", sid);
	snprintf(c.run_id, sizeof(c.run_id), "%s", run_id);
	snprintf(c.job_id, sizeof(c.job_id), "%s", job_id);
	snprintf(c.consumer, sizeof(c.consumer), "%s", consumer);

	/* Already finished (a runner died between the final event and the ack)? */
	got = runs_get(st, run_id, "status", status, sizeof(status));
	if (got == -1)
		return;		/* Redis away: the job stays pending */
	if (got == 1 && runs_status_final(status)) {
		ack(st, job_id);
		return;
	}
	if (auth_random_hex(c.lock_token, 16) == -1)
		return;
	snprintf(lkey, sizeof(lkey), CW_KP "lock:%s", sid);
	snprintf(ttl, sizeof(ttl), "%lld", app->cfg->run_lock_ttl * 1000);
	/*
	 * The session's previous run (just ended, or just parked) may still
	 * be letting go of the lock: its runner releases it right after its
	 * last write. Wait a little rather than leave the job for a reclaim.
	 */
	for (tries = 0;; tries++) {
		if ((r = store_cmdv(st, "SET", lkey, c.lock_token, "NX", "PX", ttl,
		    NULL)) == NULL)
			return;
		got = r->type == REDIS_REPLY_STATUS;
		freeReplyObject(r);
		if (got || tries >= LOCK_WAIT_TRIES || worker_quitting())
			break;
		scoreboard_heartbeat(app->slot);
		nanosleep(&lock_wait, NULL);
	}
	if (!got) {
		log_kv(LOG_DEBUG, "session locked by another runner; job left pending",
		    "s:session", sid, "s:run_id", run_id, NULL);
		return;
	}
	/* From here on the master knows what we hold, should we die. */
	scoreboard_runner_job(app->slot, sid, c.lock_token, job_id, NULL);
	c.last_renew_ms = scoreboard_now_ms();
	c.lock_until_ms = c.last_renew_ms + app->cfg->run_lock_ttl * 1000;
	snprintf(fkey, sizeof(fkey), CW_KP "fence:%s", sid);
	if ((r = store_cmdv(st, "INCR", fkey, NULL)) == NULL)
		goto release;
	c.fence = r->type == REDIS_REPLY_INTEGER ? r->integer : 0;
	freeReplyObject(r);
	if (c.fence <= 0)
		goto release;
	/* Claimed: the run leaves the queue (a parked run's stale job is dropped). */
	if ((got = sched_started(st, app->cfg, run_id, &wait_ms, &ready)) == -1)
		goto release;
	/* Busy runners report too: the master grows the pool while we work. */
	if (ready >= 0)
		scoreboard_set_backlog(app->sb, ready);
	if (got == 1) {
		ack(st, job_id);
		goto release;
	}
	if (wait_ms >= 0)
		metrics_observe_wait((double)wait_ms);
	if ((c.deliveries = count_attempt(st, run_id)) == 0)
		goto release;
	if (runs_get(st, run_id, "user", c.user, sizeof(c.user)) == -1 ||
	    runs_get(st, run_id, "kind", c.kind, sizeof(c.kind)) == -1)
		goto release;
	if (c.kind[0] == '\0')
		snprintf(c.kind, sizeof(c.kind), "message");
	log_kv(LOG_INFO, "run started", "s:session", sid, "s:run_id", run_id,
	    "i:fence", c.fence, "i:delivery", c.deliveries, NULL);
	scoreboard_begin_request(app->slot, "RUN", run_id);
	scoreboard_set_route(app->slot, c.kind);
	if (c.deliveries > app->cfg->job_max_deliveries) {
		snprintf(msg, sizeof(msg), "this run was stopped: it was started "
		    "%d times and the server process running it stopped every "
		    "time", c.deliveries - 1);
		log_kv(LOG_ERROR, "run over its delivery limit", "s:run_id", run_id,
		    "i:deliveries", c.deliveries, NULL);
		agent_fail(&c, "delivery_limit", msg);
	} else
		agent_run(&c);
	scoreboard_end_request(app->slot);
	if (c.lost) {
		if (c.log_failed) {
			/* Ours, but the log is unwritable: leave it for recovery. */
			release_lock(st, lkey, c.lock_token);
		} else
			/* Someone else owns the session now; it finishes the job. */
			log_kv(LOG_WARNING, "run abandoned: lock lost", "s:run_id",
			    run_id, NULL);
		scoreboard_runner_job(app->slot, NULL, NULL, NULL, NULL);
		return;
	}
	if (c.parked) {
		/* Acked with the parking; the person's answer queues it again. */
		log_kv(LOG_INFO, "run parked: runner free", "s:session", sid,
		    "s:run_id", run_id, NULL);
		goto release;
	}
	/*
	 * The final event (which also handed the session on) is durable: let
	 * the session's next run have the lock first; the ack is idempotent
	 * (a redelivered job of a final run is acked on sight).
	 */
	release_lock(st, lkey, c.lock_token);
	runs_get(st, run_id, "status", status, sizeof(status));
	snprintf(fkey, sizeof(fkey), CW_KP "cancel:%s", run_id);
	if ((r = store_cmdv(st, "DEL", fkey, NULL)) != NULL)
		freeReplyObject(r);
	ack(st, job_id);
	log_kv(LOG_INFO, "run done", "s:session", sid, "s:run_id", run_id,
	    "s:status", status, NULL);
	/* After the answer, never before it: the session's automatic title. */
	if (strcmp(status, "finished") == 0 && strcmp(c.kind, "message") == 0 &&
	    !worker_quitting())
		title_after_run(app, cl, sid, run_id);
release:
	release_lock(st, lkey, c.lock_token);
	scoreboard_runner_job(app->slot, NULL, NULL, NULL, NULL);
}

/* Handles the entries of an XREADGROUP/XAUTOCLAIM entry array. */
/* A job read while quitting: pending on us still, but claimable at once. */
static void
give_back(struct store *st, const char *me, const char *id)
{
	redisReply	*r;

	r = store_cmdv(st, "XCLAIM", RUNS_JOBS, RUNS_GROUP, me, "0", id,
	    "IDLE", "86400000", "JUSTID", NULL);
	if (r != NULL)
		freeReplyObject(r);
	log_kv(LOG_INFO, "job read while quitting: left for any runner",
	    "s:job", id, NULL);
}

static void
handle_entries(struct app *app, struct claude_client *cl, const char *me,
    redisReply *entries)
{
	redisReply	*e;
	size_t		 i;

	for (i = 0; i < entries->elements; i++) {
		e = entries->element[i];
		/*
		 * Draining: leave the job pending; our exit record hands it to
		 * a live runner of this instance at once. When the whole
		 * instance stops there is none: marking the entry long idle lets
		 * any runner of another replica reclaim it at its next
		 * XAUTOCLAIM (about a second) instead of after RUN_LOCK_TTL.
		 */
		if (worker_quitting()) {
			if (e->type == REDIS_REPLY_ARRAY && e->elements >= 1 &&
			    e->element[0]->str != NULL)
				give_back(app->store, me, e->element[0]->str);
			continue;
		}
		if (e->type != REDIS_REPLY_ARRAY || e->elements < 2 ||
		    e->element[0]->str == NULL)
			continue;
		if (e->element[1]->type != REDIS_REPLY_ARRAY) {
			/* The entry was trimmed away: nothing to run. */
			ack(app->store, e->element[0]->str);
			continue;
		}
		process(app, cl, me, e->element[0]->str, entry_field(e, "run_id"),
		    entry_field(e, "session"));
	}
}

/*
 * What a runner that is gone left behind (the master hands it over through
 * the scoreboard): its lock is released at once (only if it still holds
 * it: the fence keeps a late write of the dead runner harmless anyway), the
 * job it ran is claimed and resumed here without waiting RUN_LOCK_TTL, the
 * other jobs pending on its name move to us, and its consumer leaves the
 * group. Every step is idempotent: a record may come twice.
 */
static void
take_over(struct app *app, struct claude_client *cl, const char *me,
    const struct sb_orphan *o)
{
	struct store	*st = app->store;
	redisReply	*job = NULL, *r, *e, *c, *moved[MOVED_MAX];
	char		 lkey[96];
	size_t		 i, nmoved = 0;

	if (o->sid[0] != '\0' && o->job_id[0] != '\0') {
		snprintf(lkey, sizeof(lkey), CW_KP "lock:%s", o->sid);
		release_lock(st, lkey, o->lock_token);
		log_kv(LOG_INFO, "taking over a dead runner's run", "s:session",
		    o->sid, "s:job", o->job_id, "i:dead_pid", (long long)o->pid, NULL);
		job = store_cmdv(st, "XCLAIM", RUNS_JOBS, RUNS_GROUP, me, "0",
		    o->job_id, NULL);
	}
	if (o->consumer[0] != '\0' && strcmp(o->consumer, me) != 0) {
		/*
		 * Jobs it left pending (a session that was locked, a job it
		 * read while draining) move to us and are tried at once.
		 */
		r = store_cmdv(st, "XPENDING", RUNS_JOBS, RUNS_GROUP, "-", "+", "100",
		    o->consumer, NULL);
		for (i = 0; r != NULL && r->type == REDIS_REPLY_ARRAY &&
		    i < r->elements && nmoved < MOVED_MAX; i++) {
			e = r->element[i];
			if (e->type != REDIS_REPLY_ARRAY || e->elements < 1 ||
			    e->element[0]->str == NULL)
				continue;
			if ((c = store_cmdv(st, "XCLAIM", RUNS_JOBS, RUNS_GROUP, me,
			    "0", e->element[0]->str, NULL)) == NULL)
				continue;
			if (c->type == REDIS_REPLY_ARRAY && c->elements > 0)
				moved[nmoved++] = c;
			else
				freeReplyObject(c);
		}
		if (r != NULL)
			freeReplyObject(r);
		/* Before running anything: we may die in the run ourselves. */
		if ((r = store_cmdv(st, "XGROUP", "DELCONSUMER", RUNS_JOBS,
		    RUNS_GROUP, o->consumer, NULL)) != NULL)
			freeReplyObject(r);
	}
	if (job != NULL && job->type == REDIS_REPLY_ARRAY)
		handle_entries(app, cl, me, job);
	if (job != NULL)
		freeReplyObject(job);
	for (i = 0; i < nmoved; i++) {
		handle_entries(app, cl, me, moved[i]);
		freeReplyObject(moved[i]);
	}
}

void
runner_main(struct app *app)
{
	struct claude_client	*cl;
	struct sb_orphan	 orphan;
	redisReply		*r;
	char			 me[64], host[40], idle[32], rnd[12];
	int64_t			 last_reclaim = 0, now;
	int			 ready;

	gethostname(host, sizeof(host));
	host[sizeof(host) - 1] = '\0';
	/* host-pid-random: a reused pid never names a live runner's twin. */
	if (auth_random_hex(rnd, 4) == -1)
		snprintf(rnd, sizeof(rnd), "%08lx", (unsigned long)time(NULL));
	snprintf(me, sizeof(me), "%s-%ld-%s", host, (long)getpid(), rnd);
	snprintf(idle, sizeof(idle), "%lld", app->cfg->run_lock_ttl * 1000);
	if ((cl = claude_client_new(app->cfg)) == NULL) {
		log_msg(LOG_ERROR, "cannot create the Claude client");
		_exit(1);
	}
	srandom((unsigned)getpid() ^ (unsigned)time(NULL));
	ensure_group(app->store);
	scoreboard_runner_job(app->slot, NULL, NULL, NULL, me);
	scoreboard_set_state(app->slot, SB_IDLE);
	while (!worker_quitting()) {
		scoreboard_heartbeat(app->slot);
		while (!worker_quitting() && scoreboard_take_orphan(app->sb, &orphan))
			take_over(app, cl, me, &orphan);
		now = scoreboard_now_ms();
		if (now - last_reclaim >= RECLAIM_EVERY_MS) {
			last_reclaim = now;
			/*
			 * Wake parked runs past their deadline, heal lost
			 * admissions, and tell the master how many runs wait
			 * for a runner (its pool sizing signal).
			 */
			if ((ready = sched_sweep(app->store, app->cfg)) >= 0)
				scoreboard_set_backlog(app->sb, ready);
			r = store_cmdv(app->store, "XAUTOCLAIM", RUNS_JOBS, RUNS_GROUP,
			    me, idle, "0-0", "COUNT", "1", NULL);
			if (r != NULL && r->type == REDIS_REPLY_ARRAY && r->elements >= 2 &&
			    r->element[1]->type == REDIS_REPLY_ARRAY &&
			    r->element[1]->elements > 0) {
				log_msg(LOG_INFO, "reclaimed a job from a stalled runner");
				handle_entries(app, cl, me, r->element[1]);
			}
			if (r != NULL)
				freeReplyObject(r);
			else
				ensure_group(app->store);
			if (worker_quitting())
				break;
		}
		r = store_cmdv(app->store, "XREADGROUP", "GROUP", RUNS_GROUP, me,
		    "COUNT", "1", "BLOCK", BLOCK_MS, "STREAMS", RUNS_JOBS, ">", NULL);
		if (r == NULL) {
			/* Redis down or group missing: back off a little. */
			ensure_group(app->store);
			sleep(1);
			continue;
		}
		if (r->type == REDIS_REPLY_ARRAY && r->elements == 1 &&
		    r->element[0]->type == REDIS_REPLY_ARRAY &&
		    r->element[0]->elements == 2)
			handle_entries(app, cl, me, r->element[0]->element[1]);
		freeReplyObject(r);
	}
	claude_client_free(cl);
}
