/*
 * runs: the Redis side of an agent run, shared by the API handlers (which
 * queue runs) and the runner (which executes them).
 *
 * Keys: cw:run:<run_id> (hash: session, user, kind, status, content, ...),
 * cw:active:<sid> (the run id while one is queued or running: the 409
 * guard), cw:cancel:<run_id> (cancel flag), cw:jobs (stream, consumer group
 * "runners"), cw:lock:<sid> (runner lock, token), cw:fence:<sid> (fencing
 * counter, bumped by every lock acquisition).
 */
#ifndef CW_RUNS_H
#define CW_RUNS_H

#include <stddef.h>

struct store;

#define RUN_ID_LEN	32
#define RUNS_JOBS	"cw:jobs"
#define RUNS_GROUP	"runners"

/* Returns the active run id of sid into out (1), none (0), error (-1). */
int	runs_active(struct store *, const char *sid, char *out, size_t cap);
/*
 * Queues a run of kind ("message" or "compact") with content JSON (may be
 * NULL). 0 queued (run_id filled), 1 another run is active (its id in
 * run_id), -1 Redis error.
 */
int	runs_queue(struct store *, const char *sid, const char *user,
	    const char *kind, const char *content_json, long long events_maxlen,
	    char *run_id);
int	runs_request_cancel(struct store *, const char *run_id);
int	runs_cancel_requested(struct store *, const char *run_id);
/* Clears cw:active:<sid> only if it still names run_id. */
void	runs_clear_active(struct store *, const char *sid, const char *run_id);
int	runs_set(struct store *, const char *run_id, const char *field,
	    const char *value);
/* One field of the run hash into out; 1 found, 0 missing, -1 error. */
int	runs_get(struct store *, const char *run_id, const char *field,
	    char *out, size_t cap);
void	runs_set_session_status(struct store *, const char *sid, const char *st);

#endif
