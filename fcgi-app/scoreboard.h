/*
 * scoreboard: one slot per worker in anonymous shared memory, mapped by the
 * master before it forks so every worker sees the same table.
 *
 * A worker writes only its own slot; the master reads all of them (for
 * request timeouts and liveness) and frees a slot when its process is
 * reaped. Numeric fields are written with __atomic stores; the short text
 * fields are informational and may be torn under a race.
 */
#ifndef CW_SCOREBOARD_H
#define CW_SCOREBOARD_H

#include <stdint.h>
#include <sys/types.h>

#define SB_SLOTS	8192

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
};

struct scoreboard {
	int64_t		 master_start_ms;
	uint32_t	 generation;	/* current generation */
	int32_t		 expected[POOL_COUNT];
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

#endif
