#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <sys/wait.h>
#include <unistd.h>

#include "config.h"
#include "log.h"
#include "master.h"
#include "metrics.h"
#include "migrate.h"
#include "pool.h"
#include "scoreboard.h"
#include "sessions.h"
#include "worker.h"

#define TICK_MS			200
#define CRASH_LOOP_COUNT	5	/* this many crashes ... */
#define CRASH_LOOP_WINDOW_MS	10000	/* ... within this window = a loop */
#define CRASH_BACKOFF_MAX_MS	30000
#define RETIRE_WAIT_MS		5000	/* max wait for a new generation to be ready */
#define RUNNER_STALL_MS		60000
#define AT_MAX_LOG_EVERY_MS	60000	/* "pool at RUNNER_MAX" at most this often */
#define LISTEN_BACKLOG		511

enum master_state {
	M_RUNNING = 0,
	M_STOPPING,		/* graceful: let requests finish */
	M_STOPPING_FAST
};

/* Master-only bookkeeping, indexed like the scoreboard slots. */
struct child {
	pid_t		 pid;
	int		 pool;
	uint32_t	 gen;
	int64_t		 spawned_ms;
	int64_t		 quit_ms;	/* when SIGQUIT was sent, 0 if not */
	int		 term_sent;
	int		 kill_sent;
	int		 timed_out;	/* killed by us for a request timeout */
};

struct pool_state {
	int64_t		 crashes[CRASH_LOOP_COUNT];	/* ring of crash times */
	unsigned	 ncrash;
	int64_t		 backoff_ms;
	int64_t		 respawn_after_ms;
};

static struct config		*cfg;
static const char		*cfg_path;
static struct scoreboard	*sb;
static struct child		 children[SB_SLOTS];
static struct pool_state	 pools[POOL_COUNT];
static int			 listen_fds[POOL_COUNT] = { -1, -1, -1 };
static int			 sigpipe_fds[2] = { -1, -1 };
static uint32_t			 cur_gen = 1;
static int			 retire_pending;
static int64_t			 retire_deadline_ms;
static enum master_state	 state = M_RUNNING;
static int64_t			 stop_started_ms;
static int64_t			 drain_until_ms;	/* graceful stop: close listeners then */
static int			 listeners_closed;

static void	close_listeners(int);

/*
 * The runner pool's size moves (issue 11, pool.c): runner_target is the
 * number of runners of the current generation the master keeps (respawning
 * one that dies), not counting those it retired. It starts at
 * RUNNER_WORKERS (again at every reload) and pool_decide() moves it between
 * one runner and RUNNER_MAX.
 */
static int			 runner_target;
static struct pool_dyn		 runner_dyn;
static int64_t			 runner_at_max_logged_ms;
/* The keyspace migration (migrate.h): retried from tick() until done. */
static int			 migrate_pending;
static int64_t			 migrate_next_ms;
#define MIGRATE_RETRY_MS	5000
#define MIGRATE_TIMEOUT_MS	2000

static void
on_signal(int sig)
{
	unsigned char	 c = (unsigned char)sig;
	int		 saved = errno;

	(void)!write(sigpipe_fds[1], &c, 1);
	errno = saved;
}

/*
 * Secrets in the environment. The configuration is loaded by now, so the
 * values live in struct config; left in the environment they would show in
 * /proc/<pid>/environ of the master and of every worker (forked copies),
 * and pass to anything a worker executes. Each such variable is moved into
 * env_stash (the master's heap, never in a child's environment block) and
 * its bytes in the original block are zeroed: unsetenv() alone leaves them
 * there, and /proc/<pid>/environ reads that block. A reload puts the
 * stashed values back around config_load() and takes them out again.
 */
#define ENV_STASH_MAX	64

static char	*env_stash[ENV_STASH_MAX];	/* "NAME=value", owned */
static size_t	 env_nstash;

extern char	**environ;

/* A variable whose value is a secret (never a *_FILE path). */
static int
env_is_secret(const char *kv)
{
	static const char *const marks[] = { "PASSWORD", "SECRET", "TOKEN",
	    "API_KEY", "PRIVATE_KEY", "CREDENTIAL" };
	const char	*eq = strchr(kv, '=');
	char		 name[128];
	size_t		 len, i;

	if (eq == NULL || (len = (size_t)(eq - kv)) == 0 || len >= sizeof(name))
		return 0;
	memcpy(name, kv, len);
	name[len] = '\0';
	if (len > 5 && strcmp(name + len - 5, "_FILE") == 0)
		return 0;
	/* redis://:password@host carries its password in the URL. */
	if (strcmp(name, "REDIS_URL") == 0)
		return strchr(eq + 1, '@') != NULL;
	for (i = 0; i < sizeof(marks) / sizeof(marks[0]); i++)
		if (strstr(name, marks[i]) != NULL)
			return 1;
	return 0;
}

static void
env_scrub(void)
{
	char	*found[ENV_STASH_MAX], name[128];
	size_t	 i, n = 0, len;

	/* Collect first: unsetenv() drops every duplicate of a name at once. */
	for (i = 0; environ != NULL && environ[i] != NULL && n < ENV_STASH_MAX; i++)
		if (env_is_secret(environ[i]))
			found[n++] = environ[i];
	for (i = 0; i < n; i++) {
		len = (size_t)(strchr(found[i], '=') - found[i]);
		memcpy(name, found[i], len);
		name[len] = '\0';
		if (getenv(name) != NULL &&
		    (env_stash[env_nstash] = strdup(found[i])) != NULL)
			env_nstash++;
		unsetenv(name);
	}
	for (i = 0; i < n; i++)
		explicit_bzero(found[i], strlen(found[i]));
	if (n > 0)
		log_kv(LOG_INFO, "secrets removed from the environment",
		    "i:variables", (long long)n, NULL);
}

/* Puts the stashed variables back (put) or takes them out again. */
static void
env_stash_apply(int put)
{
	char	 name[128];
	char	*eq;
	size_t	 i, len;

	for (i = 0; i < env_nstash; i++) {
		eq = strchr(env_stash[i], '=');
		len = (size_t)(eq - env_stash[i]);
		memcpy(name, env_stash[i], len);
		name[len] = '\0';
		if (put)
			setenv(name, eq + 1, 1);
		else
			unsetenv(name);
	}
}

static int
install_signals(void)
{
	struct sigaction	 sa;
	const int		 sigs[] = { SIGCHLD, SIGHUP, SIGQUIT, SIGTERM,
				    SIGINT, SIGUSR1 };
	size_t			 i;

	if (pipe2(sigpipe_fds, O_NONBLOCK | O_CLOEXEC) == -1)
		return -1;
	memset(&sa, 0, sizeof(sa));
	sigemptyset(&sa.sa_mask);
	sa.sa_handler = on_signal;
	sa.sa_flags = SA_RESTART;
	for (i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
		sigaction(sigs[i], &sa, NULL);
	sa.sa_handler = SIG_IGN;
	sigaction(SIGPIPE, &sa, NULL);
	return 0;
}

/*
 * Binds a unix listen socket. A leftover path is removed only when nothing
 * answers on it; a live one means another master owns it.
 */
static int
open_listener(const char *path)
{
	struct sockaddr_un	 sun;
	int			 fd, probe;

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(sun.sun_path))
		return -1;
	memcpy(sun.sun_path, path, strlen(path) + 1);
	if ((probe = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1)
		return -1;
	if (connect(probe, (struct sockaddr *)&sun, sizeof(sun)) == 0) {
		close(probe);
		log_kv(LOG_ERROR, "socket already in use: is another claude-web "
		    "running?", "s:path", path, NULL);
		fprintf(stderr, "claude-web: %s is in use: is another claude-web "
		    "running?\n", path);
		errno = EADDRINUSE;
		return -1;
	}
	close(probe);
	unlink(path);
	/* Not CLOEXEC: workers inherit it across fork (no exec happens). */
	if ((fd = socket(AF_UNIX, SOCK_STREAM, 0)) == -1)
		return -1;
	if (bind(fd, (struct sockaddr *)&sun, sizeof(sun)) == -1 ||
	    chmod(path, 0660) == -1 || listen(fd, LISTEN_BACKLOG) == -1) {
		log_kv(LOG_ERROR, "cannot listen", "s:path", path,
		    "s:error", strerror(errno), NULL);
		fprintf(stderr, "claude-web: cannot listen on %s: %s\n", path,
		    strerror(errno));
		close(fd);
		return -1;
	}
	return fd;
}

/*
 * API_LISTEN / STREAM_LISTEN: a TCP listener for a pool instead of its unix
 * socket, so one nginx can front several instances. FastCGI has no
 * authentication: bind it to loopback or a private network only.
 */
static int
open_tcp_listener(const char *hostport)
{
	struct sockaddr_storage	 ss;
	struct sockaddr_in	*sin = (struct sockaddr_in *)&ss;
	struct sockaddr_in6	*sin6 = (struct sockaddr_in6 *)&ss;
	socklen_t		 len;
	char			 host[64];
	int			 fd, port, one = 1;

	if (config_parse_hostport(hostport, host, sizeof(host), &port) == -1)
		return -1;
	memset(&ss, 0, sizeof(ss));
	if (hostport[0] == '[') {
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons((uint16_t)port);
		inet_pton(AF_INET6, host, &sin6->sin6_addr);
		len = sizeof(*sin6);
	} else {
		sin->sin_family = AF_INET;
		sin->sin_port = htons((uint16_t)port);
		inet_pton(AF_INET, host, &sin->sin_addr);
		len = sizeof(*sin);
	}
	/* Not CLOEXEC: workers inherit it across fork (no exec happens). */
	if ((fd = socket(ss.ss_family, SOCK_STREAM, 0)) == -1)
		return -1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&ss, len) == -1 ||
	    listen(fd, LISTEN_BACKLOG) == -1) {
		log_kv(LOG_ERROR, "cannot listen", "s:address", hostport,
		    "s:error", strerror(errno), NULL);
		fprintf(stderr, "claude-web: cannot listen on %s: %s%s\n", hostport,
		    strerror(errno), errno == EADDRINUSE ?
		    " (is another claude-web running?)" : "");
		close(fd);
		return -1;
	}
	if (strcmp(host, "127.0.0.1") != 0 && strcmp(host, "::1") != 0)
		log_kv(LOG_WARNING, "FastCGI listener is not on loopback: only "
		    "nginx may reach it (FastCGI has no authentication)",
		    "s:address", hostport, NULL);
	return fd;
}

static int
open_pool_listener(const char *tcp, const char *path)
{
	return tcp != NULL ? open_tcp_listener(tcp) : open_listener(path);
}

static int
pool_size(int pool)
{
	switch (pool) {
	case POOL_API: return cfg->api_workers;
	case POOL_STREAM: return cfg->stream_workers;
	default: return runner_target;
	}
}

static int
nchildren(void)
{
	size_t	 i;
	int	 n = 0;

	for (i = 0; i < SB_SLOTS; i++)
		if (children[i].pid > 0)
			n++;
	return n;
}

static void
spawn(int pool)
{
	struct worker_args	 wa;
	struct sb_slot		*slot;
	sigset_t		 all, old;
	size_t			 idx;
	pid_t			 pid;
	int			 i;

	if ((slot = scoreboard_alloc(sb, pool, cur_gen)) == NULL) {
		log_msg(LOG_ERROR, "scoreboard full: cannot spawn a %s worker",
		    scoreboard_pool_name(pool));
		return;
	}
	idx = (size_t)(slot - sb->slots);
	/* Block signals so the child cannot run the master's handlers. */
	sigfillset(&all);
	sigprocmask(SIG_BLOCK, &all, &old);
	pid = fork();
	if (pid == 0) {
		struct sigaction sa;

		memset(&sa, 0, sizeof(sa));
		sa.sa_handler = SIG_DFL;
		for (i = 1; i < NSIG; i++)
			sigaction(i, &sa, NULL);
		close(sigpipe_fds[0]);
		close(sigpipe_fds[1]);
		for (i = 0; i < POOL_COUNT; i++)
			if (i != pool && listen_fds[i] >= 0)
				close(listen_fds[i]);
		prctl(PR_SET_PDEATHSIG, SIGTERM);
		slot->pid = getpid();
		sigprocmask(SIG_SETMASK, &old, NULL);
		if (getppid() == 1)
			_exit(0);
		wa.pool = pool;
		wa.listen_fd = listen_fds[pool];
		wa.cfg = cfg;
		wa.sb = sb;
		wa.slot = slot;
		worker_main(&wa);
	}
	sigprocmask(SIG_SETMASK, &old, NULL);
	if (pid == -1) {
		log_msg(LOG_ERROR, "fork: %s", strerror(errno));
		scoreboard_release(slot);
		pools[pool].respawn_after_ms = scoreboard_now_ms() + 1000;
		return;
	}
	slot->pid = pid;
	memset(&children[idx], 0, sizeof(children[idx]));
	children[idx].pid = pid;
	children[idx].pool = pool;
	children[idx].gen = cur_gen;
	children[idx].spawned_ms = scoreboard_now_ms();
	log_kv(LOG_DEBUG, "worker spawned", "s:worker_pool",
	    scoreboard_pool_name(pool), "i:worker_pid", (long long)pid,
	    "i:generation", (long long)cur_gen, NULL);
}

static int
count_pool(int pool, uint32_t gen)
{
	size_t	 i;
	int	 n = 0;

	for (i = 0; i < SB_SLOTS; i++)
		if (children[i].pid > 0 && children[i].pool == pool &&
		    children[i].gen == gen && children[i].quit_ms == 0)
			n++;
	return n;
}

/* Records a crash and decides how long the next respawn must wait. */
static void
note_crash(int pool, int64_t now)
{
	struct pool_state	*ps = &pools[pool];
	int64_t			 oldest;

	ps->crashes[ps->ncrash % CRASH_LOOP_COUNT] = now;
	ps->ncrash++;
	if (ps->ncrash < CRASH_LOOP_COUNT)
		return;
	oldest = ps->crashes[ps->ncrash % CRASH_LOOP_COUNT];
	if (now - oldest > CRASH_LOOP_WINDOW_MS) {
		ps->backoff_ms = 0;
		return;
	}
	ps->backoff_ms = ps->backoff_ms ? ps->backoff_ms * 2 : 1000;
	if (ps->backoff_ms > CRASH_BACKOFF_MAX_MS)
		ps->backoff_ms = CRASH_BACKOFF_MAX_MS;
	ps->respawn_after_ms = now + ps->backoff_ms;
	log_kv(LOG_ERROR, "crash loop: workers keep dying; delaying respawn",
	    "s:worker_pool", scoreboard_pool_name(pool),
	    "i:crashes", (long long)CRASH_LOOP_COUNT,
	    "i:window_ms", (long long)(now - oldest),
	    "i:respawn_delay_ms", (long long)ps->backoff_ms, NULL);
}

/*
 * A runner is gone: what it held goes to the orphan ring, where the other
 * runners pick it up (release its session lock at once instead of after
 * RUN_LOCK_TTL, delete its consumer from the jobs group).
 */
static void
orphan(const struct sb_slot *s, pid_t pid, int died)
{
	int	 has_job, rc;

	has_job = __atomic_load_n(&s->job_set, __ATOMIC_ACQUIRE) == 1;
	rc = scoreboard_orphan_runner(sb, s, pid, died);
	if (rc == -1)
		log_kv(LOG_WARNING, "orphan ring full: a dead runner's record is "
		    "dropped (its lock expires after RUN_LOCK_TTL)",
		    "i:worker_pid", (long long)pid, NULL);
	else if (rc == 1 && has_job)
		log_kv(LOG_WARNING, "runner gone in the middle of a job: its lock "
		    "is handed to the other runners", "i:worker_pid", (long long)pid,
		    "s:session", s->job_sid, "s:job_id", s->job_id, NULL);
}

static void
reap(void)
{
	struct child	*c;
	int64_t		 now;
	pid_t		 pid;
	size_t		 i;
	int		 st, crashed;
	char		 how[64];

	while ((pid = waitpid(-1, &st, WNOHANG)) > 0) {
		now = scoreboard_now_ms();
		for (i = 0; i < SB_SLOTS; i++)
			if (children[i].pid == pid)
				break;
		if (i == SB_SLOTS)
			continue;
		c = &children[i];
		crashed = 0;
		if (WIFEXITED(st)) {
			snprintf(how, sizeof(how), "exit %d", WEXITSTATUS(st));
			crashed = WEXITSTATUS(st) != 0;
		} else {
			snprintf(how, sizeof(how), "signal %d (%s)", WTERMSIG(st),
			    strsignal(WTERMSIG(st)));
			/*
			 * A worker told to terminate (SIGTERM from an admin or a
			 * process-group signal) is replaced but is not a crash.
			 */
			crashed = !c->timed_out && !c->term_sent && !c->kill_sent &&
			    WTERMSIG(st) != SIGTERM && WTERMSIG(st) != SIGINT;
		}
		log_kv(crashed ? LOG_WARNING : LOG_INFO, "worker exited",
		    "s:worker_pool", scoreboard_pool_name(c->pool),
		    "i:worker_pid", (long long)pid, "s:status", how,
		    "i:generation", (long long)c->gen,
		    "i:uptime_ms", (long long)(now - c->spawned_ms),
		    "i:requests", (long long)sb->slots[i].requests, NULL);
		if (crashed) {
			metrics_inc(M_WORKER_CRASHES);
			if (state == M_RUNNING && c->gen == cur_gen)
				note_crash(c->pool, now);
		}
		if (c->timed_out)
			metrics_inc(M_REQUEST_TIMEOUTS);
		if (c->pool == POOL_RUNNER)
			orphan(&sb->slots[i], pid, c->timed_out ||
			    !WIFEXITED(st) || WEXITSTATUS(st) != 0);
		/* A runner that died while popping an orphan must not lose it. */
		scoreboard_orphans_recover(sb, pid);
		/* A runner the pool retired is not replaced: no restart. */
		if (state == M_RUNNING && c->gen == cur_gen && c->quit_ms == 0)
			metrics_inc(c->pool == POOL_API ? M_WORKER_RESTARTS_API :
			    c->pool == POOL_STREAM ? M_WORKER_RESTARTS_STREAM :
			    M_WORKER_RESTARTS_RUNNER);
		scoreboard_release(&sb->slots[i]);
		memset(c, 0, sizeof(*c));
	}
}

static void
signal_children(int sig, int only_old)
{
	int64_t	 now = scoreboard_now_ms();
	size_t	 i;

	for (i = 0; i < SB_SLOTS; i++) {
		struct child *c = &children[i];

		if (c->pid <= 0 || (only_old && c->gen >= cur_gen))
			continue;
		if (sig == SIGQUIT && c->quit_ms == 0)
			c->quit_ms = now;
		if (sig == SIGTERM)
			c->term_sent = 1;
		if (sig == SIGKILL)
			c->kill_sent = 1;
		kill(c->pid, sig);
	}
}

/* The runners of the current generation as pool_decide() sees them. */
static void
runner_view(struct pool_view *v)
{
	size_t	 i;

	memset(v, 0, sizeof(*v));
	for (i = 0; i < SB_SLOTS; i++) {
		if (children[i].pid <= 0 || children[i].pool != POOL_RUNNER ||
		    children[i].gen != cur_gen)
			continue;
		v->live++;
		if (children[i].quit_ms > 0) {
			v->retiring++;
			continue;
		}
		switch (__atomic_load_n(&sb->slots[i].state, __ATOMIC_ACQUIRE)) {
		case SB_IDLE:
			v->idle++;
			break;
		case SB_BUSY:
			v->busy++;
			break;
		default:
			/* Starting, or quitting on its own (it is replaced). */
			v->starting++;
			break;
		}
	}
	v->backlog = scoreboard_backlog(sb, &v->backlog_age_ms);
}

/*
 * The idle runner to retire: the one whose last run started longest ago
 * (php-fpm retires the child idle longest). -1 when none is idle.
 */
static ssize_t
runner_to_retire(void)
{
	ssize_t	 best = -1;
	int64_t	 at, best_at = 0;
	size_t	 i;

	for (i = 0; i < SB_SLOTS; i++) {
		if (children[i].pid <= 0 || children[i].pool != POOL_RUNNER ||
		    children[i].gen != cur_gen || children[i].quit_ms > 0 ||
		    __atomic_load_n(&sb->slots[i].state, __ATOMIC_ACQUIRE) !=
		    SB_IDLE)
			continue;
		at = __atomic_load_n(&sb->slots[i].req_start_ms, __ATOMIC_RELAXED);
		if (at < children[i].spawned_ms)
			at = children[i].spawned_ms;
		if (best == -1 || at < best_at) {
			best = (ssize_t)i;
			best_at = at;
		}
	}
	return best;
}

/*
 * Grows or shrinks the runner pool (pool.c), from the scoreboard only.
 * Decided on a settled pool: every runner of the target forked, no
 * crash-loop backoff running, no reload half-way. A retired runner gets a
 * graceful SIGQUIT, which a runner honours between jobs (if it took a job
 * after all, it finishes it within RUNNER_DRAIN_TIMEOUT like a reload);
 * the target drops first, so the respawn loop does not replace it.
 */
static void
runner_pool_adjust(int64_t now)
{
	struct pool_params	 p;
	struct pool_view	 v;
	enum pool_reason	 why;
	ssize_t			 victim;
	int			 n, i, was_at_max;

	if (retire_pending || now < pools[POOL_RUNNER].respawn_after_ms)
		return;
	runner_view(&v);
	if (v.live - v.retiring != runner_target)
		return;
	p.min_spare = cfg->runner_min_spare;
	p.max_spare = cfg->runner_max_spare;
	p.max = cfg->runner_max;
	p.idle_grace_ms = cfg->runner_idle_grace * 1000;
	was_at_max = runner_dyn.at_max;
	n = pool_decide(&runner_dyn, &p, &v, now, &why);
	if (runner_dyn.at_max && !was_at_max && (runner_at_max_logged_ms == 0 ||
	    now - runner_at_max_logged_ms >= AT_MAX_LOG_EVERY_MS)) {
		runner_at_max_logged_ms = now;
		log_kv(LOG_WARNING, "runner pool at RUNNER_MAX: runs wait for a "
		    "runner", "i:live", (long long)v.live, "i:busy",
		    (long long)v.busy, "i:backlog", (long long)v.backlog,
		    "i:runner_max", (long long)p.max, NULL);
	}
	if (n > 0) {
		runner_target += n;
		sb->expected[POOL_RUNNER] = runner_target;
		for (i = 0; i < n; i++)
			spawn(POOL_RUNNER);
		__atomic_add_fetch(&sb->runner_spawns, (uint64_t)n,
		    __ATOMIC_RELAXED);
		log_kv(LOG_INFO, "runner pool grows", "s:reason",
		    pool_reason_name(why), "i:spawned", (long long)n,
		    "i:target", (long long)runner_target,
		    "i:live", (long long)(v.live + n), "i:idle", (long long)v.idle,
		    "i:busy", (long long)v.busy, "i:starting", (long long)v.starting,
		    "i:backlog", (long long)v.backlog, NULL);
	} else if (n < 0 && (victim = runner_to_retire()) >= 0) {
		runner_target--;
		sb->expected[POOL_RUNNER] = runner_target;
		children[victim].quit_ms = now;
		kill(children[victim].pid, SIGQUIT);
		__atomic_add_fetch(&sb->runner_retirements, 1, __ATOMIC_RELAXED);
		log_kv(LOG_INFO, "runner pool shrinks", "s:reason",
		    pool_reason_name(why), "i:worker_pid",
		    (long long)children[victim].pid,
		    "i:target", (long long)runner_target,
		    "i:live", (long long)v.live, "i:idle", (long long)(v.idle - 1),
		    "i:busy", (long long)v.busy, "i:backlog", (long long)v.backlog,
		    "i:idle_grace_s", (long long)cfg->runner_idle_grace, NULL);
	}
}

/* The heartbeat: timeouts, stop escalation, respawns and retirement. */
static void
tick(void)
{
	int64_t		 now = scoreboard_now_ms(), limit, pctl;
	struct sb_slot	*s;
	struct child	*c;
	size_t		 i;
	int		 pool, need, ready;

	if (migrate_pending && now >= migrate_next_ms) {
		migrate_pending = migrate_keys(cfg, MIGRATE_TIMEOUT_MS / 4) == -1;
		migrate_next_ms = now + MIGRATE_RETRY_MS;
	}
	for (i = 0; i < SB_SLOTS; i++) {
		c = &children[i];
		if (c->pid <= 0)
			continue;
		s = &sb->slots[i];
		/*
		 * Escalate a graceful quit that takes too long. A runner gets
		 * RUNNER_DRAIN_TIMEOUT to finish the run it is in (an agent run
		 * lasts minutes; cutting it means redoing it from scratch), the
		 * others PROCESS_CONTROL_TIMEOUT.
		 */
		pctl = (c->pool == POOL_RUNNER ? cfg->runner_drain_timeout :
		    cfg->process_control_timeout) * 1000;
		if (c->quit_ms > 0 && !c->term_sent && now - c->quit_ms > pctl) {
			log_kv(LOG_WARNING, c->pool == POOL_RUNNER ?
			    "runner still busy after RUNNER_DRAIN_TIMEOUT; terminating" :
			    "worker ignored graceful quit; terminating",
			    "s:worker_pool", scoreboard_pool_name(c->pool),
			    "i:worker_pid", (long long)c->pid, "i:limit_ms",
			    (long long)pctl, NULL);
			c->term_sent = 1;
			kill(c->pid, SIGTERM);
		} else if (c->quit_ms > 0 && c->term_sent && !c->kill_sent &&
		    now - c->quit_ms > pctl + 1000) {
			c->kill_sent = 1;
			kill(c->pid, SIGKILL);
		}
		if (c->timed_out)
			continue;
		limit = 0;
		if (c->pool == POOL_API)
			limit = cfg->request_timeout * 1000;
		else if (c->pool == POOL_STREAM)
			limit = cfg->stream_timeout * 1000;
		if (limit > 0 && __atomic_load_n(&s->state, __ATOMIC_ACQUIRE) == SB_BUSY &&
		    now - __atomic_load_n(&s->req_start_ms, __ATOMIC_RELAXED) > limit) {
			log_kv(LOG_ERROR, "request timeout: killing worker",
			    "s:worker_pool", scoreboard_pool_name(c->pool),
			    "i:worker_pid", (long long)c->pid,
			    "s:request_id", s->request_id, "s:method", s->method,
			    "s:route", s->route, "i:limit_ms", (long long)limit, NULL);
			c->timed_out = 1;
			kill(c->pid, SIGKILL);
		}
		/* Also while draining: a hung run must not hold a reload for long. */
		if (c->pool == POOL_RUNNER && !c->term_sent &&
		    now - __atomic_load_n(&s->heartbeat_ms, __ATOMIC_RELAXED) >
		    RUNNER_STALL_MS) {
			log_kv(LOG_ERROR, "runner stopped reporting: killing it",
			    "i:worker_pid", (long long)c->pid, NULL);
			c->timed_out = 1;
			kill(c->pid, SIGKILL);
		}
	}

	if (state == M_STOPPING && !listeners_closed && now >= drain_until_ms)
		close_listeners(0);
	if (state == M_STOPPING_FAST && now - stop_started_ms > 1000)
		signal_children(SIGKILL, 0);
	if (state != M_RUNNING)
		return;

	for (pool = 0; pool < POOL_COUNT; pool++) {
		if (now < pools[pool].respawn_after_ms)
			continue;
		need = pool_size(pool) - count_pool(pool, cur_gen);
		while (need-- > 0)
			spawn(pool);
	}
	runner_pool_adjust(now);

	/* Retire the old generation once the new one accepts (or waited enough). */
	if (retire_pending) {
		ready = 1;
		for (i = 0; i < SB_SLOTS; i++)
			if (children[i].pid > 0 && children[i].gen == cur_gen &&
			    __atomic_load_n(&sb->slots[i].state, __ATOMIC_ACQUIRE) ==
			    SB_STARTING)
				ready = 0;
		if (ready || now >= retire_deadline_ms) {
			__atomic_store_n(&sb->generation, cur_gen, __ATOMIC_RELEASE);
			for (pool = 0; pool < POOL_COUNT; pool++)
				sb->expected[pool] = pool_size(pool);
			signal_children(SIGQUIT, 1);
			retire_pending = 0;
			log_kv(LOG_INFO, "reload complete: old workers draining",
			    "i:generation", (long long)cur_gen, NULL);
		}
	}
}

/* Keeps an unchangeable setting from the running config, with a warning. */
static void
keep_setting(char **newv, char *const *oldv, const char *name)
{
	if (strcmp(*newv, *oldv) == 0)
		return;
	log_kv(LOG_WARNING, "setting needs a restart to change; keeping the old value",
	    "s:setting", name, NULL);
	free(*newv);
	*newv = strdup(*oldv);
}

static void
keep_setting_opt(char **newv, char *const *oldv, const char *name)
{
	if (*newv == NULL && *oldv == NULL)
		return;
	if (*newv != NULL && *oldv != NULL) {
		keep_setting(newv, oldv, name);
		return;
	}
	log_kv(LOG_WARNING, "setting needs a restart to change; keeping the old value",
	    "s:setting", name, NULL);
	free(*newv);
	*newv = *oldv != NULL ? strdup(*oldv) : NULL;
}

static void
reload(void)
{
	struct config	*ncfg;
	struct buf	 problems;
	char		*line, *save = NULL;
	int		 rc;

	log_msg(LOG_INFO, "reloading configuration");
	ncfg = calloc(1, sizeof(*ncfg));
	buf_init(&problems, 64 * 1024);
	/* The environment the master started with, secrets included. */
	env_stash_apply(1);
	rc = ncfg == NULL ? 1 : config_load(ncfg, cfg_path, &problems);
	env_stash_apply(0);
	if (rc > 0) {
		for (line = strtok_r(problems.p, "\n", &save); line != NULL;
		    line = strtok_r(NULL, "\n", &save))
			log_kv(LOG_ERROR, "reload refused: invalid configuration; "
			    "keeping the running one", "s:problem", line, NULL);
		buf_free(&problems);
		free(ncfg);
		return;
	}
	buf_free(&problems);
	keep_setting(&ncfg->api_socket, &cfg->api_socket, "API_SOCKET");
	keep_setting(&ncfg->stream_socket, &cfg->stream_socket, "STREAM_SOCKET");
	keep_setting(&ncfg->pid_file, &cfg->pid_file, "PID_FILE");
	keep_setting_opt(&ncfg->api_listen, &cfg->api_listen, "API_LISTEN");
	keep_setting_opt(&ncfg->stream_listen, &cfg->stream_listen,
	    "STREAM_LISTEN");
	log_set_instance(ncfg->instance_id);
	if ((ncfg->log_file == NULL) != (cfg->log_file == NULL) ||
	    (ncfg->log_file && strcmp(ncfg->log_file, cfg->log_file) != 0))
		log_init(ncfg->log_file, (enum log_level)ncfg->log_level);
	log_set_level((enum log_level)ncfg->log_level);
	/*
	 * Old workers keep their copy of the old config (their own address
	 * space), so the master's copy can go now.
	 */
	config_free(cfg);
	free(cfg);
	cfg = ncfg;
	cur_gen++;
	memset(pools, 0, sizeof(pools));
	/* The new generation starts like a fresh master: RUNNER_WORKERS. */
	runner_target = cfg->runner_workers;
	memset(&runner_dyn, 0, sizeof(runner_dyn));
	retire_pending = 1;
	retire_deadline_ms = scoreboard_now_ms() + RETIRE_WAIT_MS;
	log_kv(LOG_INFO, "starting new generation", "i:generation",
	    (long long)cur_gen, NULL);
	tick();
}

/* Stop accepting and tell every worker to go (the end of a stop). */
static void
close_listeners(int fast)
{
	int	 i;

	listeners_closed = 1;
	/* New connections now fail fast instead of queueing for no one. */
	if (cfg->api_listen == NULL)
		unlink(cfg->api_socket);
	if (cfg->stream_listen == NULL)
		unlink(cfg->stream_socket);
	for (i = 0; i < POOL_COUNT; i++)
		if (listen_fds[i] >= 0) {
			close(listen_fds[i]);
			listen_fds[i] = -1;
		}
	signal_children(fast ? SIGTERM : SIGQUIT, 0);
}

/*
 * SIGTERM / SIGQUIT: graceful. /api/ready answers 503 "draining" from now
 * on and runners hand their runs off at the next step boundary at once;
 * the API and stream pools keep serving for STOP_DRAIN_DELAY seconds (so a
 * load balancer sees the readiness change and stops sending), then the
 * listeners close and the in-flight requests finish. SIGINT: fast.
 */
static void
begin_stop(int fast)
{
	size_t	 i;

	if (state == M_STOPPING_FAST || (state == M_STOPPING && !fast))
		return;
	__atomic_store_n(&sb->draining, 1, __ATOMIC_RELEASE);
	if (state == M_STOPPING && fast) {
		/* A fast stop during a graceful one. */
		state = M_STOPPING_FAST;
		stop_started_ms = scoreboard_now_ms();
		log_kv(LOG_INFO, "fast stop", "i:workers", (long long)nchildren(),
		    NULL);
		if (!listeners_closed)
			close_listeners(1);
		else
			signal_children(SIGTERM, 0);
		return;
	}
	state = fast ? M_STOPPING_FAST : M_STOPPING;
	stop_started_ms = scoreboard_now_ms();
	drain_until_ms = stop_started_ms + (fast ? 0 : cfg->stop_drain_delay * 1000);
	log_kv(LOG_INFO, fast ? "fast stop" : "graceful stop: draining",
	    "i:workers", (long long)nchildren(),
	    "i:drain_delay_s", (long long)(fast ? 0 : cfg->stop_drain_delay), NULL);
	if (fast || cfg->stop_drain_delay == 0) {
		close_listeners(fast);
		return;
	}
	/* Runs move to other runners (other replicas) right away. */
	for (i = 0; i < SB_SLOTS; i++)
		if (children[i].pid > 0 && children[i].pool == POOL_RUNNER &&
		    children[i].quit_ms == 0) {
			children[i].quit_ms = stop_started_ms;
			kill(children[i].pid, SIGQUIT);
		}
}

static void
write_pid_file(void)
{
	FILE	*fp;

	if (cfg->pid_file == NULL)
		return;
	if ((fp = fopen(cfg->pid_file, "we")) == NULL) {
		log_kv(LOG_WARNING, "cannot write pid file", "s:path",
		    cfg->pid_file, "s:error", strerror(errno), NULL);
		return;
	}
	fprintf(fp, "%ld\n", (long)getpid());
	fclose(fp);
}

int
master_run(struct config *c, const char *path)
{
	struct pollfd	 pfd;
	unsigned char	 sigs[64];
	ssize_t		 n, k;
	int		 pool;

	cfg = c;
	cfg_path = path;
	log_set_instance(cfg->instance_id);
	env_scrub();
	if ((sb = scoreboard_create()) == NULL) {
		log_msg(LOG_ERROR, "cannot map the scoreboard: %s", strerror(errno));
		return 1;
	}
	if (metrics_create() == -1) {
		log_msg(LOG_ERROR, "cannot map the metrics: %s", strerror(errno));
		return 1;
	}
	if (install_signals() == -1) {
		log_msg(LOG_ERROR, "cannot install signal handlers: %s",
		    strerror(errno));
		return 1;
	}
	if ((listen_fds[POOL_API] = open_pool_listener(cfg->api_listen,
	    cfg->api_socket)) == -1 ||
	    (listen_fds[POOL_STREAM] = open_pool_listener(cfg->stream_listen,
	    cfg->stream_socket)) == -1)
		return 1;
	write_pid_file();
	sb->generation = cur_gen;
	runner_target = cfg->runner_workers;
	for (pool = 0; pool < POOL_COUNT; pool++)
		sb->expected[pool] = pool_size(pool);
	log_kv(LOG_INFO, "master started", "s:version", PACKAGE_VERSION,
	    "s:environment", config_env_name(cfg->environment),
	    "i:api_workers", (long long)cfg->api_workers,
	    "i:stream_workers", (long long)cfg->stream_workers,
	    "i:runner_workers", (long long)cfg->runner_workers,
	    "i:runner_min_spare", (long long)cfg->runner_min_spare,
	    "i:runner_max_spare", (long long)cfg->runner_max_spare,
	    "i:runner_max", (long long)cfg->runner_max,
	    "s:api_listen", cfg->api_listen != NULL ? cfg->api_listen :
	    cfg->api_socket,
	    "s:stream_listen", cfg->stream_listen != NULL ? cfg->stream_listen :
	    cfg->stream_socket, NULL);
	if (cfg->anthropic_api_key == NULL)
		log_msg(LOG_WARNING, "ANTHROPIC_API_KEY is not set: agent runs "
		    "will fail until it is");
	/* Finish removing what deletions before a crash left in quarantine. */
	sessions_sweep_trash(cfg, 5000);
	/* Old key names renamed before any worker reads the keyspace. */
	if (migrate_keys(cfg, MIGRATE_TIMEOUT_MS) == -1) {
		migrate_pending = 1;
		migrate_next_ms = scoreboard_now_ms() + MIGRATE_RETRY_MS;
	}
	tick();

	pfd.fd = sigpipe_fds[0];
	pfd.events = POLLIN;
	for (;;) {
		if (poll(&pfd, 1, TICK_MS) > 0) {
			while ((n = read(sigpipe_fds[0], sigs, sizeof(sigs))) > 0) {
				for (k = 0; k < n; k++) {
					switch (sigs[k]) {
					case SIGHUP:
						if (state == M_RUNNING)
							reload();
						break;
					case SIGQUIT:
					case SIGTERM:
						begin_stop(0);
						break;
					case SIGINT:
						begin_stop(1);
						break;
					case SIGUSR1:
						log_reopen();
						log_msg(LOG_INFO, "log reopened");
						signal_children(SIGUSR1, 0);
						break;
					default:
						break;
					}
				}
			}
		}
		reap();
		if (state != M_RUNNING && nchildren() == 0)
			break;
		tick();
	}
	if (cfg->pid_file != NULL)
		unlink(cfg->pid_file);
	log_msg(LOG_INFO, "master exiting");
	config_free(cfg);
	free(cfg);
	return 0;
}
