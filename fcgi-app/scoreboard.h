/*
 * scoreboard: one slot per worker in anonymous shared memory, mapped by the
 * master before it forks so every worker sees the same table.
 *
 * A worker writes only its own slot; the master reads all of them (for
 * request timeouts and liveness) and frees a slot when its process is
 * reaped. Numeric fields are written with __atomic stores; the short text
 * fields are informational and may be torn under a race.
 *
 * Runners also record their consumer name and current job in their slot
 * (scoreboard_runner_job). When the master reaps a runner it turns that
 * record into an "orphan" in a small ring in the same shared memory; the
 * other runners pop orphans (scoreboard_take_orphan) to release a dead
 * runner's session lock at once and to delete its consumer from the jobs
 * group. The master itself never talks to Redis.
 */
#ifndef CW_SCOREBOARD_H
#define CW_SCOREBOARD_H

#include <stdint.h>
#include <sys/types.h>

#define SB_SLOTS	8192
#define SB_ORPHANS	256	/* dead-runner records awaiting a runner */

/* Field sizes of a runner's job record (each includes the NUL). */
#define SB_SID_MAX	40
#define SB_TOKEN_MAX	40
#define SB_JOB_ID_MAX	48
#define SB_CONSUMER_MAX	64

enum sb_pool {
	POOL_API = 0,
	POOL_STREAM,
	POOL_RUNNER,
	POOL_COUNT
};

enum sb_state {
	SB_FREE = 0,
	SB_STARTING,
	SB_IDLE,
	SB_BUSY,
	SB_QUITTING
};

struct sb_slot {
	int32_t		 pid;
	int32_t		 pool;
	uint32_t	 generation;
	int32_t		 state;
	int64_t		 spawned_ms;
	int64_t		 req_start_ms;	/* valid while SB_BUSY */
	int64_t		 heartbeat_ms;
	uint64_t	 requests;
	char		 method[8];
	char		 route[64];
	char		 request_id[40];

	/*
	 * Runners only, written by the runner (scoreboard_runner_job), read by
	 * the master once the runner is dead. job_set is 1 while the three job
	 * fields hold one complete record.
	 */
	int32_t		 job_set;
	char		 consumer[SB_CONSUMER_MAX];
	char		 job_sid[SB_SID_MAX];
	char		 job_lock_token[SB_TOKEN_MAX];
	char		 job_id[SB_JOB_ID_MAX];
};

/*
 * What a runner left behind when it exited: its consumer name in the jobs
 * group (always) and, if it died in the middle of a run, the job it held.
 * The strings are NUL-terminated; sid is "" when it held no job.
 */
struct sb_orphan {
	char		 sid[SB_SID_MAX];
	char		 lock_token[SB_TOKEN_MAX];
	char		 job_id[SB_JOB_ID_MAX];
	char		 consumer[SB_CONSUMER_MAX];	/* "" when never registered */
	int32_t		 pid;		/* the runner that is gone */
	int32_t		 died;		/* 1: killed or exit != 0; 0: clean exit */
	int64_t		 gone_ms;	/* when the master reaped it (monotonic) */
};

/* One cell of the orphan ring; state: SB_ORPHAN_* or (taker pid << 8 | TAKING). */
struct sb_orphan_cell {
	uint64_t	 state;
	struct sb_orphan rec;
};

struct scoreboard {
	int64_t		 master_start_ms;
	uint32_t	 generation;	/* current generation */
	int32_t		 expected[POOL_COUNT];
	int32_t		 draining;	/* a stop began: /api/ready says 503 */
	uint64_t	 orphans_dropped;	/* records lost to a full ring */
	/*
	 * The runners' view of the run queue, for the master's pool sizing
	 * (it never talks to Redis): runs ready for a runner (admitted jobs
	 * not yet delivered) and when a runner last looked (monotonic ms).
	 */
	int32_t		 runner_backlog;
	int64_t		 runner_backlog_ms;
	/* The master's runner pool sizing (pool.c), for /api/metrics. */
	uint64_t	 runner_spawns;		/* runners started to grow the pool */
	uint64_t	 runner_retirements;	/* idle runners retired */
	struct sb_orphan_cell orphans[SB_ORPHANS];
	struct sb_slot	 slots[SB_SLOTS];
};

struct scoreboard *scoreboard_create(void);	/* master, before fork */
struct sb_slot	*scoreboard_alloc(struct scoreboard *, int pool, uint32_t gen);
void		 scoreboard_release(struct sb_slot *);
const char	*scoreboard_pool_name(int pool);
int64_t		 scoreboard_now_ms(void);	/* CLOCK_MONOTONIC */

/* Worker side. */
void	scoreboard_set_state(struct sb_slot *, enum sb_state);
void	scoreboard_begin_request(struct sb_slot *, const char *method,
	    const char *request_id);
void	scoreboard_set_route(struct sb_slot *, const char *route);
void	scoreboard_end_request(struct sb_slot *);
void	scoreboard_heartbeat(struct sb_slot *);

/* Counts the live (non-free, non-quitting) workers of a pool in gen. */
int	scoreboard_live(const struct scoreboard *, int pool, uint32_t gen);
/* Counts the workers of a pool in state st, of gen (0: of any generation). */
int	scoreboard_count(const struct scoreboard *, int pool, uint32_t gen,
	    enum sb_state st);

/*
 * Runner side. scoreboard_runner_job records the job the runner holds from
 * the moment it owns the session lock: sid, lock_token and job_id (all
 * three non-NULL) set it, sid == NULL clears it (the other two are then
 * ignored). consumer, when not NULL, records the runner's consumer name in
 * the jobs group (call it once at startup with sid == NULL); NULL keeps the
 * one recorded. Longer strings are truncated to the SB_*_MAX sizes.
 * Async-signal-safe; a runner killed half-way through leaves no job
 * recorded rather than a torn one.
 */
void	scoreboard_runner_job(struct sb_slot *, const char *sid,
	    const char *lock_token, const char *job_id, const char *consumer);

/*
 * Pops one orphan record into *out. Returns 1 when one was taken, 0 when
 * the ring is empty. Safe for any number of runners at once (a CAS per
 * cell, no lock); a runner that dies while copying a record does not lose
 * it: the master hands it out again (so a record may be seen twice, and
 * what the caller does with it must be idempotent).
 */
int	scoreboard_take_orphan(struct scoreboard *, struct sb_orphan *out);

/*
 * Master side, called when it has reaped runner slot s (pid, died as in
 * struct sb_orphan): queues the orphan record, if the runner registered a
 * consumer or held a job. Returns 1 queued, 0 nothing to queue, -1 the ring
 * was full (counted in orphans_dropped; the lock then expires on its own).
 * A record with a job may replace a queued one that has none.
 */
int	scoreboard_orphan_runner(struct scoreboard *, const struct sb_slot *s,
	    pid_t pid, int died);

/* Master side: records being taken by pid, which has died, go back in the ring. */
void	scoreboard_orphans_recover(struct scoreboard *, pid_t pid);

/* Runner side: records the number of runs ready for a runner (any runner may). */
void	scoreboard_set_backlog(struct scoreboard *, int32_t ready);
/* Master side: that number, and its age in ms (-1 when never set). */
int32_t	scoreboard_backlog(const struct scoreboard *, int64_t *age_ms);

/* Number of queued (not yet taken) orphan records. */
int	scoreboard_orphans_pending(const struct scoreboard *);

#endif
