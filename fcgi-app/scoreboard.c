#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "scoreboard.h"

static const char *const pool_names[POOL_COUNT] = { "api", "stream", "runner" };

const char *
scoreboard_pool_name(int pool)
{
	return (pool >= 0 && pool < POOL_COUNT) ? pool_names[pool] : "master";
}

int64_t
scoreboard_now_ms(void)
{
	struct timespec	 ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

struct scoreboard *
scoreboard_create(void)
{
	struct scoreboard	*sb;

	sb = mmap(NULL, sizeof(*sb), PROT_READ | PROT_WRITE,
	    MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (sb == MAP_FAILED)
		return NULL;
	memset(sb, 0, sizeof(*sb));
	sb->master_start_ms = scoreboard_now_ms();
	return sb;
}

/* Master only: takes a free slot for a worker about to be forked. */
struct sb_slot *
scoreboard_alloc(struct scoreboard *sb, int pool, uint32_t gen)
{
	struct sb_slot	*s;
	size_t		 i;

	for (i = 0; i < SB_SLOTS; i++) {
		s = &sb->slots[i];
		if (__atomic_load_n(&s->state, __ATOMIC_ACQUIRE) != SB_FREE)
			continue;
		memset(s, 0, sizeof(*s));
		s->pool = pool;
		s->generation = gen;
		s->spawned_ms = s->heartbeat_ms = scoreboard_now_ms();
		__atomic_store_n(&s->state, SB_STARTING, __ATOMIC_RELEASE);
		return s;
	}
	return NULL;
}

void
scoreboard_release(struct sb_slot *s)
{
	s->pid = 0;
	__atomic_store_n(&s->state, SB_FREE, __ATOMIC_RELEASE);
}

void
scoreboard_set_state(struct sb_slot *s, enum sb_state st)
{
	__atomic_store_n(&s->heartbeat_ms, scoreboard_now_ms(), __ATOMIC_RELAXED);
	__atomic_store_n(&s->state, st, __ATOMIC_RELEASE);
}

static void
copy_field(char *dst, size_t cap, const char *src)
{
	size_t	 n = src ? strlen(src) : 0;

	if (n >= cap)
		n = cap - 1;
	if (n > 0)
		memcpy(dst, src, n);
	dst[n] = '\0';
}

void
scoreboard_begin_request(struct sb_slot *s, const char *method,
    const char *request_id)
{
	copy_field(s->method, sizeof(s->method), method);
	copy_field(s->request_id, sizeof(s->request_id), request_id);
	s->route[0] = '\0';
	__atomic_store_n(&s->req_start_ms, scoreboard_now_ms(), __ATOMIC_RELAXED);
	scoreboard_set_state(s, SB_BUSY);
}

void
scoreboard_set_route(struct sb_slot *s, const char *route)
{
	copy_field(s->route, sizeof(s->route), route);
}

void
scoreboard_end_request(struct sb_slot *s)
{
	__atomic_add_fetch(&s->requests, 1, __ATOMIC_RELAXED);
	scoreboard_set_state(s, SB_IDLE);
}

void
scoreboard_heartbeat(struct sb_slot *s)
{
	__atomic_store_n(&s->heartbeat_ms, scoreboard_now_ms(), __ATOMIC_RELAXED);
}

int
scoreboard_live(const struct scoreboard *sb, int pool, uint32_t gen)
{
	const struct sb_slot	*s;
	int			 st, n = 0;
	size_t			 i;

	for (i = 0; i < SB_SLOTS; i++) {
		s = &sb->slots[i];
		st = __atomic_load_n(&s->state, __ATOMIC_ACQUIRE);
		if (st == SB_IDLE || st == SB_BUSY) {
			if (s->pool == pool && s->generation == gen)
				n++;
		}
	}
	return n;
}

int
scoreboard_count(const struct scoreboard *sb, int pool, uint32_t gen,
    enum sb_state st)
{
	const struct sb_slot	*s;
	size_t			 i;
	int			 n = 0;

	for (i = 0; i < SB_SLOTS; i++) {
		s = &sb->slots[i];
		if (__atomic_load_n(&s->state, __ATOMIC_ACQUIRE) == (int32_t)st &&
		    s->pool == pool && (gen == 0 || s->generation == gen))
			n++;
	}
	return n;
}

/*
 * Copies src into dst (cap bytes, NUL-terminated) without library calls
 * that are not async-signal-safe; NULL becomes "".
 */
static void
copy_job_field(char *dst, size_t cap, const char *src)
{
	size_t	 n = 0;

	if (src != NULL)
		while (n + 1 < cap && src[n] != '\0') {
			dst[n] = src[n];
			n++;
		}
	dst[n] = '\0';
}

void
scoreboard_runner_job(struct sb_slot *s, const char *sid,
    const char *lock_token, const char *job_id, const char *consumer)
{
	/*
	 * job_set drops to 0 before any field changes and rises only after
	 * all of them are written. The master reads the slot only after the
	 * runner is dead, so the one hazard is dying half-way: the signal
	 * fences keep the compiler from moving the field writes across the
	 * flag.
	 */
	__atomic_store_n(&s->job_set, 0, __ATOMIC_SEQ_CST);
	__atomic_signal_fence(__ATOMIC_SEQ_CST);
	if (consumer != NULL)
		copy_job_field(s->consumer, sizeof(s->consumer), consumer);
	if (sid == NULL)
		return;
	copy_job_field(s->job_sid, sizeof(s->job_sid), sid);
	copy_job_field(s->job_lock_token, sizeof(s->job_lock_token), lock_token);
	copy_job_field(s->job_id, sizeof(s->job_id), job_id);
	__atomic_signal_fence(__ATOMIC_SEQ_CST);
	__atomic_store_n(&s->job_set, 1, __ATOMIC_SEQ_CST);
}

/*
 * The orphan ring. A cell is EMPTY, FULL, WRITING (the master is filling
 * it) or TAKING: (taker pid << 8) | SB_ORPHAN_TAKING. Only the master turns
 * EMPTY into FULL; runners CAS FULL into TAKING, copy, then store EMPTY. A
 * taker that dies leaves its pid in the cell, and the master, which reaps
 * every runner, puts such a cell back to FULL.
 */
enum {
	SB_ORPHAN_EMPTY = 0,
	SB_ORPHAN_FULL,
	SB_ORPHAN_WRITING,
	SB_ORPHAN_TAKING
};

int
scoreboard_take_orphan(struct scoreboard *sb, struct sb_orphan *out)
{
	struct sb_orphan_cell	*c;
	uint64_t		 want, mine;
	size_t			 i;

	mine = ((uint64_t)(uint32_t)getpid() << 8) | SB_ORPHAN_TAKING;
	for (i = 0; i < SB_ORPHANS; i++) {
		c = &sb->orphans[i];
		want = SB_ORPHAN_FULL;
		if (__atomic_load_n(&c->state, __ATOMIC_RELAXED) != SB_ORPHAN_FULL ||
		    !__atomic_compare_exchange_n(&c->state, &want, mine, 0,
		    __ATOMIC_ACQUIRE, __ATOMIC_RELAXED))
			continue;
		memcpy(out, &c->rec, sizeof(*out));
		__atomic_store_n(&c->state, SB_ORPHAN_EMPTY, __ATOMIC_RELEASE);
		return 1;
	}
	return 0;
}

/* Master only: a cell it may fill, marked WRITING; NULL when none. */
static struct sb_orphan_cell *
orphan_cell(struct scoreboard *sb, int has_job)
{
	struct sb_orphan_cell	*c;
	uint64_t		 want;
	size_t			 i;

	for (i = 0; i < SB_ORPHANS; i++) {
		c = &sb->orphans[i];
		if (__atomic_load_n(&c->state, __ATOMIC_ACQUIRE) == SB_ORPHAN_EMPTY) {
			/* Runners never touch an EMPTY cell: no race here. */
			__atomic_store_n(&c->state, SB_ORPHAN_WRITING, __ATOMIC_RELAXED);
			return c;
		}
	}
	if (!has_job)
		return NULL;
	/* Full: a held lock matters more than a consumer name to delete. */
	for (i = 0; i < SB_ORPHANS; i++) {
		c = &sb->orphans[i];
		want = SB_ORPHAN_FULL;
		if (__atomic_load_n(&c->state, __ATOMIC_ACQUIRE) != SB_ORPHAN_FULL ||
		    c->rec.sid[0] != '\0')
			continue;
		if (__atomic_compare_exchange_n(&c->state, &want, SB_ORPHAN_WRITING,
		    0, __ATOMIC_ACQUIRE, __ATOMIC_RELAXED)) {
			__atomic_add_fetch(&sb->orphans_dropped, 1, __ATOMIC_RELAXED);
			return c;
		}
	}
	return NULL;
}

int
scoreboard_orphan_runner(struct scoreboard *sb, const struct sb_slot *s,
    pid_t pid, int died)
{
	struct sb_orphan_cell	*c;
	int			 has_job;

	has_job = __atomic_load_n(&s->job_set, __ATOMIC_ACQUIRE) == 1 &&
	    s->job_sid[0] != '\0';
	if (!has_job && s->consumer[0] == '\0')
		return 0;
	if ((c = orphan_cell(sb, has_job)) == NULL) {
		__atomic_add_fetch(&sb->orphans_dropped, 1, __ATOMIC_RELAXED);
		return -1;
	}
	memset(&c->rec, 0, sizeof(c->rec));
	copy_job_field(c->rec.consumer, sizeof(c->rec.consumer), s->consumer);
	if (has_job) {
		copy_job_field(c->rec.sid, sizeof(c->rec.sid), s->job_sid);
		copy_job_field(c->rec.lock_token, sizeof(c->rec.lock_token),
		    s->job_lock_token);
		copy_job_field(c->rec.job_id, sizeof(c->rec.job_id), s->job_id);
	}
	c->rec.pid = (int32_t)pid;
	c->rec.died = died ? 1 : 0;
	c->rec.gone_ms = scoreboard_now_ms();
	__atomic_store_n(&c->state, SB_ORPHAN_FULL, __ATOMIC_RELEASE);
	return 1;
}

void
scoreboard_orphans_recover(struct scoreboard *sb, pid_t pid)
{
	struct sb_orphan_cell	*c;
	uint64_t		 taking;
	size_t			 i;

	taking = ((uint64_t)(uint32_t)pid << 8) | SB_ORPHAN_TAKING;
	for (i = 0; i < SB_ORPHANS; i++) {
		c = &sb->orphans[i];
		if (__atomic_load_n(&c->state, __ATOMIC_ACQUIRE) == taking)
			__atomic_store_n(&c->state, SB_ORPHAN_FULL, __ATOMIC_RELEASE);
	}
}

int
scoreboard_orphans_pending(const struct scoreboard *sb)
{
	size_t	 i;
	int	 n = 0;

	for (i = 0; i < SB_ORPHANS; i++)
		if (__atomic_load_n(&sb->orphans[i].state, __ATOMIC_ACQUIRE) ==
		    SB_ORPHAN_FULL)
			n++;
	return n;
}

void
scoreboard_set_backlog(struct scoreboard *sb, int32_t ready)
{
	__atomic_store_n(&sb->runner_backlog, ready < 0 ? 0 : ready,
	    __ATOMIC_RELAXED);
	__atomic_store_n(&sb->runner_backlog_ms, scoreboard_now_ms(),
	    __ATOMIC_RELEASE);
}

int32_t
scoreboard_backlog(const struct scoreboard *sb, int64_t *age_ms)
{
	int64_t	 at = __atomic_load_n(&sb->runner_backlog_ms, __ATOMIC_ACQUIRE);

	if (age_ms != NULL)
		*age_ms = at == 0 ? -1 : scoreboard_now_ms() - at;
	return __atomic_load_n(&sb->runner_backlog, __ATOMIC_RELAXED);
}
