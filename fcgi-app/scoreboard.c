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
