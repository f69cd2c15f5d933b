/*
 * The runner job record and the orphan ring of the scoreboard: what the
 * master queues when it reaps a runner, and that runners popping at once
 * each get a record exactly once, and that a taker dying mid-pop loses
 * nothing. Includes scoreboard.c for the cell states.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../fcgi-app/scoreboard.c"
#include "tap.h"

#define TAKERS		4
#define RECORDS		5000

static struct scoreboard	*sb;

static struct sb_slot *
runner_slot(void)
{
	return scoreboard_alloc(sb, POOL_RUNNER, 1);
}

static void
test_record(void)
{
	struct sb_slot		*s = runner_slot();
	struct sb_orphan	 o;
	char			 longer[200];

	ok(scoreboard_orphan_runner(sb, s, 100, 0) == 0,
	    "a runner that never registered leaves nothing");
	scoreboard_runner_job(s, NULL, NULL, NULL, "host-100");
	ok(s->job_set == 0 && strcmp(s->consumer, "host-100") == 0,
	    "registering the consumer records no job");
	scoreboard_runner_job(s, "sess1", "tok1", "1-1", NULL);
	ok(s->job_set == 1 && strcmp(s->consumer, "host-100") == 0,
	    "a job keeps the consumer when it is NULL");
	ok(scoreboard_orphan_runner(sb, s, 100, 1) == 1, "a dead runner's job is queued");
	ok(scoreboard_orphans_pending(sb) == 1, "one record pending");
	memset(&o, 0x55, sizeof(o));
	ok(scoreboard_take_orphan(sb, &o) == 1, "take returns it");
	is_str(o.sid, "sess1", "sid");
	is_str(o.lock_token, "tok1", "lock token");
	is_str(o.job_id, "1-1", "job id");
	is_str(o.consumer, "host-100", "consumer");
	ok(o.pid == 100 && o.died == 1 && o.gone_ms > 0, "pid, died, time");
	ok(scoreboard_take_orphan(sb, &o) == 0, "the ring is empty again");

	scoreboard_runner_job(s, NULL, NULL, NULL, NULL);
	ok(s->job_set == 0 && strcmp(s->consumer, "host-100") == 0,
	    "clearing the job keeps the consumer");
	ok(scoreboard_orphan_runner(sb, s, 100, 0) == 1, "a clean exit queues its consumer");
	ok(scoreboard_take_orphan(sb, &o) == 1 && o.sid[0] == '\0' &&
	    o.lock_token[0] == '\0' && o.job_id[0] == '\0' && o.died == 0 &&
	    strcmp(o.consumer, "host-100") == 0,
	    "... with an empty sid, token and job id");

	memset(longer, 'x', sizeof(longer) - 1);
	longer[sizeof(longer) - 1] = '\0';
	scoreboard_runner_job(s, longer, longer, longer, longer);
	ok(strlen(s->job_sid) == SB_SID_MAX - 1 &&
	    strlen(s->job_lock_token) == SB_TOKEN_MAX - 1 &&
	    strlen(s->job_id) == SB_JOB_ID_MAX - 1 &&
	    strlen(s->consumer) == SB_CONSUMER_MAX - 1,
	    "long values are truncated to the field sizes");
	scoreboard_release(s);
	s = runner_slot();
	ok(s->job_set == 0 && s->consumer[0] == '\0', "a reused slot starts clean");
	scoreboard_release(s);
}

static void
test_full(void)
{
	struct sb_slot		*s = runner_slot();
	struct sb_orphan	 o;
	int			 i, n, jobs;
	uint64_t		 dropped;

	scoreboard_runner_job(s, NULL, NULL, NULL, "c");
	for (i = 0; i < SB_ORPHANS; i++)
		if (scoreboard_orphan_runner(sb, s, 200 + i, 0) != 1)
			break;
	ok(i == SB_ORPHANS, "the ring holds %d records", SB_ORPHANS);
	dropped = sb->orphans_dropped;
	ok(scoreboard_orphan_runner(sb, s, 999, 0) == -1 &&
	    sb->orphans_dropped == dropped + 1,
	    "full: a consumer-only record is dropped and counted");
	scoreboard_runner_job(s, "sessX", "tokX", "9-9", NULL);
	ok(scoreboard_orphan_runner(sb, s, 1000, 1) == 1,
	    "full: a record with a job replaces one without");
	for (n = 0, jobs = 0; scoreboard_take_orphan(sb, &o) == 1; n++)
		if (strcmp(o.sid, "sessX") == 0)
			jobs++;
	ok(n == SB_ORPHANS && jobs == 1, "all %d taken, the job among them", n);
	scoreboard_runner_job(s, NULL, NULL, NULL, NULL);
	scoreboard_release(s);
}

/* A taker that died holding a cell: the master puts the record back. */
static void
test_recover(void)
{
	struct sb_slot		*s = runner_slot();
	struct sb_orphan	 o;
	pid_t			 dead;
	size_t			 i;

	scoreboard_runner_job(s, "sessR", "tokR", "2-2", "cR");
	ok(scoreboard_orphan_runner(sb, s, 300, 1) == 1, "queued");
	if ((dead = fork()) == 0)
		_exit(0);
	waitpid(dead, NULL, 0);
	for (i = 0; i < SB_ORPHANS; i++)
		if (sb->orphans[i].state == SB_ORPHAN_FULL)
			sb->orphans[i].state = ((uint64_t)(uint32_t)dead << 8) |
			    SB_ORPHAN_TAKING;
	ok(scoreboard_take_orphan(sb, &o) == 0, "a cell being taken is not handed out");
	scoreboard_orphans_recover(sb, dead + 1);
	ok(scoreboard_take_orphan(sb, &o) == 0, "another pid's death changes nothing");
	scoreboard_orphans_recover(sb, dead);
	ok(scoreboard_take_orphan(sb, &o) == 1 && strcmp(o.sid, "sessR") == 0,
	    "after the taker's death the record is handed out again");
	scoreboard_release(s);
}

/*
 * TAKERS processes pop while this one pushes RECORDS records (each with its
 * own job id); every record must come out exactly once.
 */
static void
test_concurrent(void)
{
	struct sb_slot		*s = runner_slot();
	struct sb_orphan	 o;
	static unsigned char	 seen[RECORDS];
	int			 fds[2], i, n, dup = 0, total = 0, st, bad = 0;
	pid_t			 kids[TAKERS];
	char			 id[32];
	int64_t			 deadline;
	int32_t			*stop;

	stop = mmap(NULL, sizeof(*stop), PROT_READ | PROT_WRITE,
	    MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (stop == MAP_FAILED || pipe(fds) == -1) {
		ok(0, "mmap/pipe for the concurrency test");
		return;
	}
	*stop = 0;
	for (i = 0; i < TAKERS; i++) {
		if ((kids[i] = fork()) == 0) {
			close(fds[0]);
			for (;;) {
				if (scoreboard_take_orphan(sb, &o) == 1) {
					n = (int)strtol(o.job_id, NULL, 10);
					if (write(fds[1], &n, sizeof(n)) != sizeof(n))
						_exit(1);
				} else if (__atomic_load_n(stop, __ATOMIC_ACQUIRE))
					_exit(0);
			}
		}
	}
	close(fds[1]);
	scoreboard_runner_job(s, NULL, NULL, NULL, "cc");
	deadline = scoreboard_now_ms() + 30000;
	for (i = 0; i < RECORDS && scoreboard_now_ms() < deadline; ) {
		snprintf(id, sizeof(id), "%d", i);
		scoreboard_runner_job(s, "s", "t", id, NULL);
		if (scoreboard_orphan_runner(sb, s, 1, 1) == 1)
			i++;
		else
			usleep(100);	/* full: let the takers catch up */
	}
	while (scoreboard_orphans_pending(sb) > 0 && scoreboard_now_ms() < deadline)
		usleep(1000);
	__atomic_store_n(stop, 1, __ATOMIC_RELEASE);
	while (read(fds[0], &n, sizeof(n)) == sizeof(n)) {
		total++;
		if (n < 0 || n >= RECORDS)
			bad++;
		else if (seen[n]++)
			dup++;
	}
	for (i = 0; i < TAKERS; i++)
		if (waitpid(kids[i], &st, 0) == -1 || !WIFEXITED(st) ||
		    WEXITSTATUS(st) != 0)
			bad++;
	ok(total == RECORDS && dup == 0 && bad == 0,
	    "%d takers: %d of %d records taken, %d twice, %d bad", TAKERS,
	    total, RECORDS, dup, bad);
	munmap(stop, sizeof(*stop));
	scoreboard_release(s);
}

int
main(void)
{
	if ((sb = scoreboard_create()) == NULL) {
		printf("Bail out! cannot map the scoreboard\n");
		return 1;
	}
	test_record();
	test_full();
	test_recover();
	test_concurrent();
	return done_testing();
}
