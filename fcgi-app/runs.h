/*
 * runs: the Redis side of an agent run, shared by the API handlers (which
 * queue runs) and the runner (which executes them).
 *
 * Keys (this module owns them): cw:run:<run_id> (hash: session, user, kind,
 * status, created_at, first_event_id, job_id, finished_at, error; 30 days),
 * cw:active:<sid> (the run id while one is queued or running: the 409
 * guard; 24 h), cw:cancel:<run_id> (cancel flag), cw:jobs (stream, consumer
 * group "runners"). The runner owns cw:lock:<sid> and cw:fence:<sid>.
 *
 * A message's text never goes to Redis: it waits in the session's
 * .claude/inbox/<run_id>.json until the runner has put it into the history.
 *
 * Queueing is one Lua script (guard + run record + run.queued event + job),
 * so no failure can leave a guard without a job. The guard heals itself:
 * a guard whose run is final, or whose run has neither a job in cw:jobs
 * nor a live session lock, is stale; the next POST or cancel clears it and
 * closes that run with run.cancelled if it never got a final event.
 */
#ifndef CW_RUNS_H
#define CW_RUNS_H

#include <stddef.h>

#include <json-c/json.h>

struct config;
struct store;

#define RUN_ID_LEN	32
#define RUNS_JOBS	"cw:jobs"
#define RUNS_GROUP	"runners"

/* Returns the active run id of sid into out (1), none (0), error (-1). */
int	runs_active(struct store *, const char *sid, char *out, size_t cap);
/*
 * Queues a run of kind ("message" or "compact") with content (may be NULL;
 * written to the inbox first). 0 queued (run_id filled), 1 another run is
 * active (its id in run_id), 2 the session is gone (being deleted), -1
 * Redis error (store->last tells which), -2 the inbox could not be written
 * (errno).
 */
int	runs_queue(struct store *, const struct config *, const char *sid,
	    const char *user, const char *kind, json_object *content,
	    char *run_id);
/*
 * Cancel: requests cancellation of the live active run (1, its id in
 * run_id), clears a stale guard (2, the stale run's id in run_id), or finds
 * none (0). -1 on a Redis error.
 */
int	runs_cancel(struct store *, const struct config *, const char *sid,
	    char *run_id, size_t cap);
int	runs_request_cancel(struct store *, const char *run_id);
/* 1 when the run should stop: cancel requested or the session deleted. */
int	runs_cancel_requested(struct store *, const char *sid, const char *run_id);
/* Clears cw:active:<sid> only if it still names run_id. */
void	runs_clear_active(struct store *, const char *sid, const char *run_id);
int	runs_set(struct store *, const char *run_id, const char *field,
	    const char *value);
/* One field of the run hash into out; 1 found, 0 missing, -1 error. */
int	runs_get(struct store *, const char *run_id, const char *field,
	    char *out, size_t cap);
int	runs_set_session_status(struct store *, const char *sid, const char *st);
/* 1 when status names a final state (finished, error, cancelled). */
int	runs_status_final(const char *status);

/* The inbox: the person's message between POST and the runner. */
json_object	*runs_inbox_read(const struct config *, const char *sid,
		    const char *run_id);
void		 runs_inbox_remove(const struct config *, const char *sid,
		    const char *run_id);

#endif
