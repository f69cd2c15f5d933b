/*
 * agent: one run of the agent loop for one session, inside a runner that
 * holds the session's lock and fencing token. Loads the history, appends
 * the person's message (once, even when resumed), calls Claude while the
 * answer asks for tools, persists after every step, streams every step as
 * an event, and finishes with exactly one final event.
 */
#ifndef CW_AGENT_H
#define CW_AGENT_H

#include <stdint.h>

struct app;
struct claude_client;

struct run_ctx {
	struct app		*app;
	struct claude_client	*claude;
	char			 sid[40];
	char			 run_id[40];
	char			 user[128];
	char			 kind[16];
	char			 job_id[48];
	char			 consumer[64];	/* this runner in the group */
	char			 lock_token[40];
	long long		 fence;
	int64_t			 last_check_ms;
	int64_t			 last_renew_ms;
	int64_t			 lock_until_ms;	/* the lock is surely ours until */
	int			 deliveries;	/* 1 the first time this job ran */
	int			 cancelled;
	int			 lost;		/* fenced out, lock lost, or log_failed */
	int			 log_failed;	/* the event log was unwritable */
	int			 parked;	/* waits for a person; job acked */
	int			 yield_ok;	/* a model call with nothing shown yet */
	int			 yielded;	/* ...given up for a hand-off */
	int			 turn;
	/* This run's usage. */
	long long		 in, out, cache_write, cache_read;
	double			 cost;
};

/* Runs (or resumes) the run; always ends with a final event unless lost. */
void	agent_run(struct run_ctx *);
/* Ends the run with run.error (type, message) as its one final event. */
void	agent_fail(struct run_ctx *, const char *type, const char *msg);
/* The cancel/heartbeat/lock-renewal poll, also used while idle. */
int	agent_should_abort(void *ctx);
/*
 * Adds one model call's usage to the run, the session and the user and
 * emits usage (for tools that call Claude themselves: the task tool).
 */
struct claude_msg;
struct model_info;
void	agent_account(struct run_ctx *, const struct claude_msg *,
	    const struct model_info *);

#endif
