/*
 * scheduler: every state change of a run, each one Lua step in Redis, so no
 * crash can leave a run half-moved (docs/scheduler.md has the states).
 *
 * Keys (this module owns them, with runs.c for the run records):
 *   cw:{c}:active:<sid>	string, no TTL: the session's current run (queued,
 *			running or parked); healed when stale
 *   cw:{c}:sq:<sid>	list: runs queued behind the session's current run
 *   cw:{c}:uwait:<user>	list: the user's runs waiting for one of their
 *			MAX_RUNS_PER_USER slots (continuations at the front)
 *   cw:{c}:urun:<user>	set: the user's runs holding a slot (ready/running)
 *   cw:{c}:uwaiting	set: users with waiting runs (the sweeper's work list)
 *   cw:{c}:parked		sorted set: parked run ids by deadline (epoch s)
 *   cw:{c}:runs:live	sorted set: every run not yet final, by creation
 *   cw:{c}:jobs		stream (group "runners"): runs ready for a runner
 * and the fields sched, step, q_state, q_ahead, wait_ms0, started_at,
 * cont_reason, attempts of cw:{c}:run:<id>.
 *
 * Fairness: a user holds at most MAX_RUNS_PER_USER entries in cw:{c}:jobs, so
 * another user's first run waits behind at most that many of theirs; a
 * parked run holds no slot.
 */
#ifndef CW_SCHEDULER_H
#define CW_SCHEDULER_H

#include <stddef.h>

#include <json-c/json.h>

struct config;
struct store;

/* Where a queued run waits ("session", "user", "ready"), and how many before it. */
struct sched_pos {
	char	 state[16];
	long	 ahead;
	int	 ready;		/* runs waiting for a runner, all users */
};

/*
 * Queues a run of kind with content (written to the inbox first). 0
 * queued (run_id, first event id in ev_id (may be NULL), position), 1 the
 * session's queue is full (current run in run_id), 2 the session is gone,
 * -1 Redis error (store->last), -2 the inbox could not be written (errno).
 */
int	sched_queue(struct store *, const struct config *, const char *sid,
	    const char *user, const char *kind, json_object *content,
	    char *run_id, struct sched_pos *);
/*
 * Cancels the session's current run: 1 cancelling (a runner ends it), 2
 * closed now (it never started, or was stale), 0 none. Run id into
 * run_id. -1 on a Redis error.
 */
int	sched_cancel(struct store *, const struct config *, const char *sid,
	    char *run_id, size_t cap);
/* Any run by id (admins): 1 cancelling, 2 closed now, 0 not live, -1 error. */
int	sched_cancel_run(struct store *, const struct config *,
	    const char *run_id);
/* Removes a run that has not started: 0 removed, 1 started/final, 2 unknown, -1. */
int	sched_remove(struct store *, const struct config *, const char *sid,
	    const char *run_id);
/*
 * Runner: the run's job was claimed. 0 go (*wait_ms: queued → now, or -1;
 * *ready: runs still waiting for a runner, or -1), 1 nothing to run (final
 * or parked: ack the job), -1 Redis error.
 */
int	sched_started(struct store *, const struct config *, const char *run_id,
	    long long *wait_ms, int *ready);
/*
 * Runner holding the lock (fence): parks the run on permission request
 * request_id (deadline expires, epoch s) and acks job_id, in one step. 1
 * parked, 0 the request was answered meanwhile (carry on), 2 fenced out,
 * -1 Redis error.
 */
int	sched_park(struct store *, const struct config *, const char *sid,
	    const char *run_id, long long fence, const char *request_id,
	    long expires, const char *job_id);
/*
 * Runner holding the lock, quitting (stop, reload): gives the run back at
 * a step boundary, first in its user's queue, its job acked, so another
 * runner continues it at once (run.continued, reason "handoff"). 1 handed
 * off, 0 the run is final, 2 fenced out, -1 Redis error.
 */
int	sched_handoff(struct store *, const struct config *, const char *sid,
	    const char *run_id, long long fence, const char *job_id);
/*
 * Answers a permission request (by: who, recorded as its answered_by)
 * and, in the same step, queues the parked run's continuation. Returns as
 * perm_answer (0, 1 unknown, 2 closed, -1).
 */
int	sched_answer(struct store *, const struct config *, const char *sid,
	    const char *request_id, const char *decision, int remember,
	    const char *message, const char *by);
/*
 * The run's one final event (type, data), its final status, the slot and
 * the session handed on (next queued message), atomically. 0 appended, 1
 * fenced out, -1 Redis error. A run already final is not ended twice (0).
 */
int	sched_finish(struct store *, const struct config *, const char *sid,
	    long long fence, const char *run_id, const char *status,
	    const char *type, json_object *data);
/*
 * Runner, about once a second: wakes parked runs past their deadline,
 * admits waiting runs (heals a lost hand-over). Returns the number of runs
 * ready for a runner (not yet delivered), or -1.
 */
int	sched_sweep(struct store *, const struct config *);
/* The session's runs that have not started, oldest first, with their prompts. */
json_object *sched_queued(struct store *, const struct config *, const char *sid);
/* Every live run (admins), or NULL on a Redis error. */
json_object *sched_list(struct store *);
/* Runs per sched state: behind, waiting, ready, running, parked. -1 on error. */
int	sched_stats(struct store *, long long out[5]);

#endif
