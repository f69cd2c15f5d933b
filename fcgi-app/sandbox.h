/*
 * sandbox: runs one bash command in a fresh bubblewrap sandbox.
 *
 * Only the session's files/ (as /workspace, nosuid,nodev) and a size-capped
 * /tmp are writable; /usr and a few /etc files are bound read-only instead
 * of the whole root (so host sockets under /run, /var and STATE_DIR are
 * simply absent); WORKSPACE_PATH/shared/libraries appears read-only at
 * /libraries. New user/pid/ipc/uts/net/cgroup namespaces, uid 1000 inside,
 * every capability dropped, no new user namespaces, a seccomp filter (see
 * sandbox.c: Docker's default denials, only AF_INET/AF_INET6 sockets, no
 * setuid/setgid bits, no namespaces or mounts), a clean environment,
 * rlimits (CPU, address space, processes, file size, open files), a pids
 * and memory cgroup (SANDBOX_MAX_PROCS, SANDBOX_MEMORY_MAX_MB, no swap),
 * and a wall-clock timeout that kills the whole pid namespace, daemons
 * included. Output is captured through pipes with a cap; what is dropped
 * is counted.
 *
 * bwrap gets its arguments and bash its command through descriptors, so
 * neither the host's ps nor /proc/1/cmdline inside shows the command or a
 * host path. SANDBOX_NETWORK=on gives the command its own network
 * namespace behind pasta (user-mode NAT) that refuses loopback, private,
 * link-local and the host's own addresses; the host's network namespace
 * is never shared.
 *
 * The session's SESSION_DISK_QUOTA_MB is enforced around each command
 * (quota.h): measured before (what is left also caps RLIMIT_FSIZE; over
 * the quota a command can still read and delete), watched while it runs
 * (the command is killed when it takes the workspace over the quota) and
 * measured after. setuid/setgid bits are removed from files/ before and
 * after.
 */
#ifndef CW_SANDBOX_H
#define CW_SANDBOX_H

#include <stddef.h>

#include "buf.h"

struct config;

struct sandbox_result {
	struct buf	 out;		/* stdout, capped */
	struct buf	 err;		/* stderr, capped */
	size_t		 out_dropped;
	size_t		 err_dropped;
	int		 exit_code;	/* 128+N when killed by signal N */
	int		 timed_out;
	int		 cancelled;
	int		 failed;	/* the sandbox itself could not start */
	double		 duration_ms;
	int		 oom_killed;	/* the memory cgroup killed a process */
	int		 quota_exceeded; /* files/ over SESSION_DISK_QUOTA_MB after
					    the command (1), or it was stopped
					    for going over (2) */
	long long	 disk_quota;	/* bytes; 0: no quota */
	long long	 disk_before;	/* bytes used in files/ before ... */
	long long	 disk_used;	/* ... and after the command */
	int		 disk_truncated; /* the walk hit a bound (quota.h) */
	long long	 suid_stripped;	/* files whose setuid/setgid went */
	long long	 disk_room;	/* RLIMIT_FSIZE was lowered to this by the
					   quota (0: it was not) */
	char		 cwd[4096];	/* working directory after the command */
	char		 errmsg[256];
};

void	sandbox_result_init(struct sandbox_result *, size_t cap);
void	sandbox_result_free(struct sandbox_result *);
/* NULL when bwrap is usable, else a message saying what is missing. */
const char *sandbox_unavailable(const struct config *);
/*
 * The network of the sandboxes this process starts from now on (a runner
 * sets it for each run from the session's network policy, netpolicy.h):
 * -1 follows SANDBOX_NETWORK (the default), 0 no network, 1 the network of
 * SANDBOX_NETWORK=on, and only when SANDBOX_NETWORK is on (the bound).
 */
void	sandbox_set_network(int);
/*
 * The standby (SANDBOX_PREWARM): a sandbox of files_dir started before its
 * command is known, bash inside waiting for it, so the next command there
 * skips bubblewrap's start. At most one per process; sandbox_run takes it
 * when the workspace and the network match (and starts the next one after
 * each command), else drops it. Not for SANDBOX_NETWORK sandboxes (pasta)
 * nor for sandbox_run_io. A runner starts one when a run begins and drops
 * it when the run ends; one older than a minute is not used.
 */
void	sandbox_prewarm(const struct config *, const char *files_dir);
void	sandbox_standby_drop(void);
/*
 * Runs command with cwd (inside the sandbox) in files_dir. should_abort
 * (may be NULL) is polled; non-zero kills the command (cancel).
 */
int	sandbox_run(const struct config *, const char *files_dir,
	    const char *cwd, const char *command,
	    int (*should_abort)(void *), void *arg, struct sandbox_result *);

/*
 * A long-lived process talking over pipes (MCP stdio servers), in the same
 * sandbox as a command. stdin_fd (the read end of a pipe the caller writes,
 * or -1 for /dev/null) becomes the process's stdin; what it writes to stdout
 * goes to on_stdout as it arrives (not into res->out), which returns non-zero
 * when the exchange is over: the whole sandbox is then killed. timeout_ms
 * (0: SANDBOX_TIMEOUT) bounds it; ro_bind (NULL: none) is a host directory
 * bound read-only at the same path inside (where the servers are installed).
 */
struct sandbox_io {
	int		 stdin_fd;
	int		(*on_stdout)(void *, const char *, size_t);
	void		*arg;
	long long	 timeout_ms;
	const char	*ro_bind;
	int		 done;		/* out: on_stdout ended it */
};

int	sandbox_run_io(const struct config *, const char *files_dir,
	    const char *cwd, const char *command,
	    int (*should_abort)(void *), void *arg, struct sandbox_io *,
	    struct sandbox_result *);

#endif
