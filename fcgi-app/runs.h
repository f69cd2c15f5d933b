/*
 * runs: the run record and the message inbox, shared by the API handlers
 * and the runner; every state change of a run is in sched.c.
 *
 * Keys (this module and sched.c own them): cw:{c}:run:<run_id> (hash: session,
 * user, kind, status, created_at, first_event_id, job_id, finished_at,
 * error, attempts, usage u_*, turn, plus sched.c's fields; 30 days),
 * cw:{c}:cancel:<run_id> (cancel flag, 24 h). The runner owns cw:{c}:lock:<sid>
 * and cw:{c}:fence:<sid>.
 *
 * A message's text never goes to Redis: it waits in the session's
 * .claude/inbox/<run_id>.json until the runner has put it into the history.
 */
#ifndef CW_RUNS_H
#define CW_RUNS_H

#include <stddef.h>

#include <json-c/json.h>

struct config;
struct store;

#define RUN_ID_LEN	32
#include "keys.h"

#define RUNS_JOBS	CW_KP "jobs"
#define RUNS_GROUP	"runners"

/* Returns the active run id of sid into out (1), none (0), error (-1). */
int	runs_active(struct store *, const char *sid, char *out, size_t cap);
int	runs_request_cancel(struct store *, const char *run_id);
/* 1 when the run should stop: cancel requested or the session deleted. */
int	runs_cancel_requested(struct store *, const char *sid, const char *run_id);
int	runs_set(struct store *, const char *run_id, const char *field,
	    const char *value);
/* One field of the run hash into out; 1 found, 0 missing, -1 error. */
int	runs_get(struct store *, const char *run_id, const char *field,
	    char *out, size_t cap);
int	runs_set_session_status(struct store *, const char *sid, const char *st);
/* 1 when status names a final state (finished, error, cancelled). */
int	runs_status_final(const char *status);

/* The inbox: the person's message between POST and the runner. */
int		 runs_inbox_write(const struct config *, const char *sid,
		    const char *run_id, json_object *content);
json_object	*runs_inbox_read(const struct config *, const char *sid,
		    const char *run_id);
void		 runs_inbox_remove(const struct config *, const char *sid,
		    const char *run_id);
/*
 * A run's tool-call state between steps (.claude/runs/<run_id>.json):
 * results so far, the call running, the call waiting for a person.
 */
json_object	*runs_state_read(const struct config *, const char *sid,
		    const char *run_id);
int		 runs_state_write(const struct config *, const char *sid,
		    const char *run_id, json_object *state);
void		 runs_state_remove(const struct config *, const char *sid,
		    const char *run_id);

#endif
