/*
 * sandbox: runs one bash command in a fresh bubblewrap sandbox.
 *
 * Only the session's files/ (as /workspace) and a size-capped /tmp are
 * writable; /usr and a few /etc files are bound read-only instead of the
 * whole root (so host sockets under /run, /var and STATE_DIR are simply
 * absent); WORKSPACE_PATH/shared/libraries appears read-only at
 * /libraries. New user/pid/ipc/uts/net/cgroup namespaces (net shared only
 * with SANDBOX_NETWORK=on), uid 1000 inside, every capability dropped, no
 * new user namespaces, a seccomp filter refusing AF_UNIX sockets and
 * io_uring, a clean environment, rlimits (CPU, address space, processes,
 * file size, open files), and a wall-clock timeout that kills the whole
 * pid namespace, daemons included. Output is captured through pipes with
 * a cap; what is dropped is counted.
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
	char		 cwd[4096];	/* working directory after the command */
	char		 errmsg[256];
};

void	sandbox_result_init(struct sandbox_result *, size_t cap);
void	sandbox_result_free(struct sandbox_result *);
/* NULL when bwrap is usable, else a message saying what is missing. */
const char *sandbox_unavailable(const struct config *);
/*
 * Runs command with cwd (inside the sandbox) in files_dir. should_abort
 * (may be NULL) is polled; non-zero kills the command (cancel).
 */
int	sandbox_run(const struct config *, const char *files_dir,
	    const char *cwd, const char *command,
	    int (*should_abort)(void *), void *arg, struct sandbox_result *);

#endif
