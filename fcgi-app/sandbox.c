#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sys/socket.h>

#include "config.h"
#include "log.h"
#include "sandbox.h"

#define READ_LIMIT	(64 * 1024 * 1024)	/* then the command is killed */
#define SECCOMP_FD	4
#define STATE_FD	3

/*
 * The command runs under `bash -c WRAPPER bash CWD COMMAND`: restore the
 * working directory, run the command, and report the final $PWD on fd 3
 * even when the command calls exit.
 */
static const char wrapper[] =
    "trap 'printf %s \"$PWD\" >&3' EXIT\n"
    "cd -- \"$1\" 2>/dev/null || cd /workspace\n"
    "eval \"$2\"\n";

void
sandbox_result_init(struct sandbox_result *r, size_t cap)
{
	memset(r, 0, sizeof(*r));
	buf_init(&r->out, cap);
	buf_init(&r->err, cap);
}

void
sandbox_result_free(struct sandbox_result *r)
{
	buf_free(&r->out);
	buf_free(&r->err);
}

const char *
sandbox_unavailable(const struct config *cfg)
{
	static char	 msg[512];

	if (access(cfg->sandbox_bwrap, X_OK) == -1) {
		snprintf(msg, sizeof(msg), "the sandbox is unavailable: %s is missing "
		    "(install the Debian package bubblewrap); commands are never run "
		    "unsandboxed", cfg->sandbox_bwrap);
		return msg;
	}
	return NULL;
}

/*
 * RLIMIT_NPROC does not bind a process whose real uid is 0 on the host
 * (the server run as root), so the process cap is also enforced with a
 * pids cgroup when one is writable: cgroup v2 with the pids controller, or
 * the v1 pids hierarchy. Returns an open fd of the new group's
 * cgroup.procs (the child writes itself into it) or -1 when unavailable.
 */
static int
cgroup_create(const struct config *cfg, char *dir, size_t cap)
{
	static const char *const bases[] = { "/sys/fs/cgroup/pids",
	    "/sys/fs/cgroup" };
	static unsigned	 seq;
	char		 path[PATH_MAX], v[32];
	size_t		 i;
	int		 fd;

	for (i = 0; i < sizeof(bases) / sizeof(bases[0]); i++) {
		snprintf(path, sizeof(path), "%s/pids.max", bases[i]);
		snprintf(dir, cap, "%s/claude-web-sandbox", bases[i]);
		/* v1 hierarchy, or a v2 root that delegates pids. */
		if (access(bases[i], W_OK) == -1)
			continue;
		if (i == 1) {
			snprintf(path, sizeof(path), "%s/cgroup.subtree_control", bases[i]);
			if ((fd = open(path, O_WRONLY | O_CLOEXEC)) == -1)
				continue;
			(void)!write(fd, "+pids", 5);
			close(fd);
		}
		if (mkdir(dir, 0755) == -1 && errno != EEXIST)
			continue;
		snprintf(dir, cap, "%s/claude-web-sandbox/run-%ld-%u", bases[i],
		    (long)getpid(), seq++);
		if (mkdir(dir, 0755) == -1 && errno != EEXIST)
			continue;
		snprintf(path, sizeof(path), "%s/pids.max", dir);
		if ((fd = open(path, O_WRONLY | O_CLOEXEC)) == -1) {
			rmdir(dir);
			continue;
		}
		snprintf(v, sizeof(v), "%lld", cfg->sandbox_max_procs);
		if (write(fd, v, strlen(v)) != (ssize_t)strlen(v)) {
			close(fd);
			rmdir(dir);
			continue;
		}
		close(fd);
		snprintf(path, sizeof(path), "%s/cgroup.procs", dir);
		if ((fd = open(path, O_WRONLY | O_CLOEXEC)) != -1)
			return fd;
		rmdir(dir);
	}
	dir[0] = '\0';
	return -1;
}

/* The group empties as the pid namespace dies; wait briefly, then remove it. */
static void
cgroup_remove(const char *dir)
{
	struct timespec	 ts = { 0, 10 * 1000000L };
	int		 i;

	if (dir[0] == '\0')
		return;
	for (i = 0; i < 100 && rmdir(dir) == -1 && errno == EBUSY; i++)
		nanosleep(&ts, NULL);
}

/*
 * The seccomp program, written by hand (no libseccomp here): on x86_64,
 * socket(AF_UNIX, ...) and the io_uring calls fail with EPERM; the x32 ABI
 * and foreign architectures are refused outright.
 */
static int
seccomp_fd(void)
{
	struct sock_filter prog[] = {
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_X86_64, 1, 0),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS),
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
		BPF_JUMP(BPF_JMP | BPF_JGE | BPF_K, 0x40000000, 0, 1),	/* x32 */
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EPERM),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_io_uring_setup, 5, 0),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_io_uring_enter, 4, 0),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_io_uring_register, 3, 0),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_socket, 0, 3),
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, args[0])),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AF_UNIX, 0, 1),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EPERM),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	};
	int	 fd;

	if ((fd = (int)syscall(SYS_memfd_create, "cw-seccomp", 0)) == -1)
		return -1;
	if (write(fd, prog, sizeof(prog)) != (ssize_t)sizeof(prog) ||
	    lseek(fd, 0, SEEK_SET) == -1) {
		close(fd);
		return -1;
	}
	return fd;
}

static void
setlim(int res, rlim_t v)
{
	struct rlimit	 rl = { v, v };

	setrlimit(res, &rl);
}

static double
now_ms(void)
{
	struct timespec	 ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* Appends up to the cap and counts the rest. */
static void
take(struct buf *b, size_t *dropped, const char *p, size_t n)
{
	size_t	 room = b->max - b->len;

	if (n <= room)
		buf_append(b, p, n);
	else {
		buf_append(b, p, room);
		*dropped += n - room;
	}
}

int
sandbox_run(const struct config *cfg, const char *files_dir, const char *cwd,
    const char *command, int (*should_abort)(void *), void *arg,
    struct sandbox_result *res)
{
	const char	*argv[128];
	char		 size[32], libs[PATH_MAX], sfd[16], chunk[65536];
	struct pollfd	 pfd[3];
	struct stat	 st;
	int		 po[2] = { -1, -1 }, pe[2] = { -1, -1 }, ps[2] = { -1, -1 };
	int		 sec = -1, n = 0, status, open_fds, i, cgfd = -1;
	char		 cgdir[PATH_MAX] = "";
	size_t		 total = 0;
	double		 t0 = now_ms(), deadline;
	pid_t		 pid;
	ssize_t		 r;

	if (sandbox_unavailable(cfg) != NULL) {
		snprintf(res->errmsg, sizeof(res->errmsg), "%.250s", sandbox_unavailable(cfg));
		res->failed = 1;
		return -1;
	}
	if ((sec = seccomp_fd()) == -1 || pipe2(po, O_CLOEXEC) == -1 ||
	    pipe2(pe, O_CLOEXEC) == -1 || pipe2(ps, O_CLOEXEC) == -1) {
		snprintf(res->errmsg, sizeof(res->errmsg), "cannot set up the sandbox: %s",
		    strerror(errno));
		res->failed = 1;
		goto out;
	}
	snprintf(size, sizeof(size), "%lld", cfg->sandbox_tmp_size_mb * 1024 * 1024);
	snprintf(sfd, sizeof(sfd), "%d", SECCOMP_FD);
	snprintf(libs, sizeof(libs), "%s/shared/libraries", cfg->workspace_path);

#define A(x) (argv[n++] = (x))
	A(cfg->sandbox_bwrap);
	A("--unshare-user"); A("--unshare-pid"); A("--unshare-ipc");
	A("--unshare-uts"); A("--unshare-cgroup-try");
	if (!cfg->sandbox_network)
		A("--unshare-net");
	A("--uid"); A("1000"); A("--gid"); A("1000");
	A("--disable-userns"); A("--cap-drop"); A("ALL");
	A("--die-with-parent"); A("--new-session");
	A("--hostname"); A("sandbox");
	A("--clearenv");
	A("--setenv"); A("PATH"); A("/usr/local/bin:/usr/bin:/bin");
	A("--setenv"); A("HOME"); A("/workspace");
	A("--setenv"); A("TERM"); A("dumb");
	A("--setenv"); A("LANG"); A("C.UTF-8");
	A("--setenv"); A("TMPDIR"); A("/tmp");
	A("--ro-bind"); A("/usr"); A("/usr");
	A("--symlink"); A("usr/bin"); A("/bin");
	A("--symlink"); A("usr/sbin"); A("/sbin");
	A("--symlink"); A("usr/lib"); A("/lib");
	A("--symlink"); A("usr/lib64"); A("/lib64");
	A("--ro-bind-try"); A("/etc/alternatives"); A("/etc/alternatives");
	A("--ro-bind-try"); A("/etc/ssl"); A("/etc/ssl");
	A("--ro-bind-try"); A("/etc/ld.so.cache"); A("/etc/ld.so.cache");
	A("--ro-bind-try"); A("/etc/ld.so.conf"); A("/etc/ld.so.conf");
	A("--ro-bind-try"); A("/etc/ld.so.conf.d"); A("/etc/ld.so.conf.d");
	A("--ro-bind-try"); A("/etc/localtime"); A("/etc/localtime");
	if (cfg->sandbox_network) {
		A("--ro-bind-try"); A("/etc/resolv.conf"); A("/etc/resolv.conf");
		A("--ro-bind-try"); A("/etc/hosts"); A("/etc/hosts");
	}
	A("--proc"); A("/proc");
	A("--dev"); A("/dev");
	A("--size"); A(size); A("--tmpfs"); A("/tmp");
	A("--bind"); A(files_dir); A("/workspace");
	if (stat(libs, &st) == 0 && S_ISDIR(st.st_mode)) {
		A("--ro-bind"); A(libs); A("/libraries");
	}
	A("--size"); A(size); A("--tmpfs"); A("/dev/shm");
	/* Last: everything not bound writable above becomes read-only. */
	A("--remount-ro"); A("/");
	A("--remount-ro"); A("/dev");
	A("--chdir"); A("/workspace");
	A("--seccomp"); A(sfd);
	A("--");
	A("/bin/bash"); A("--noprofile"); A("--norc"); A("-c"); A(wrapper);
	A("bash"); A(cwd && *cwd ? cwd : "/workspace"); A(command);
	argv[n] = NULL;
#undef A

	cgfd = cgroup_create(cfg, cgdir, sizeof(cgdir));
	if ((pid = fork()) == -1) {
		snprintf(res->errmsg, sizeof(res->errmsg), "fork: %s", strerror(errno));
		res->failed = 1;
		goto out;
	}
	if (pid == 0) {
		int devnull = open("/dev/null", O_RDONLY);
		int hi_o, hi_e, hi_s, hi_sec;

		setsid();
		signal(SIGPIPE, SIG_DFL);
		if (cgfd != -1)
			dprintf(cgfd, "%ld", (long)getpid());
		/* Lift every source above the targets first, so no dup2 clobbers one. */
		hi_o = fcntl(po[1], F_DUPFD, 10);
		hi_e = fcntl(pe[1], F_DUPFD, 10);
		hi_s = fcntl(ps[1], F_DUPFD, 10);
		hi_sec = fcntl(sec, F_DUPFD, 10);
		devnull = fcntl(devnull, F_DUPFD, 10);
		dup2(devnull, 0);
		dup2(hi_o, 1);
		dup2(hi_e, 2);
		dup2(hi_s, STATE_FD);
		dup2(hi_sec, SECCOMP_FD);
		/* Nothing else crosses: not the FastCGI or Redis sockets, not curl. */
		syscall(SYS_close_range, SECCOMP_FD + 1, ~0U, 0);
		setlim(RLIMIT_CPU, (rlim_t)cfg->sandbox_cpu_seconds);
		setlim(RLIMIT_AS, (rlim_t)cfg->sandbox_memory_mb * 1024 * 1024);
		setlim(RLIMIT_NPROC, (rlim_t)cfg->sandbox_max_procs);
		setlim(RLIMIT_FSIZE, (rlim_t)cfg->sandbox_file_size_mb * 1024 * 1024);
		setlim(RLIMIT_NOFILE, (rlim_t)cfg->sandbox_open_files);
		setlim(RLIMIT_CORE, 0);
		{
			/* bwrap's own environment would be visible as /proc/1/environ. */
			static char env_path[] = "PATH=/usr/bin:/bin";
			char *const clean_env[] = { env_path, NULL };

			execve(argv[0], (char *const *)argv, clean_env);
		}
		dprintf(2, "sandbox: cannot execute %s: %s\n", argv[0], strerror(errno));
		_exit(127);
	}
	close(po[1]);
	close(pe[1]);
	close(ps[1]);
	po[1] = pe[1] = ps[1] = -1;

	deadline = t0 + (double)cfg->sandbox_timeout * 1000.0;
	pfd[0].fd = po[0];
	pfd[1].fd = pe[0];
	pfd[2].fd = ps[0];
	for (i = 0; i < 3; i++)
		pfd[i].events = POLLIN;
	open_fds = 3;
	while (open_fds > 0) {
		int timeout = 200;

		if (now_ms() >= deadline) {
			res->timed_out = 1;
			break;
		}
		if (should_abort != NULL && should_abort(arg)) {
			res->cancelled = 1;
			break;
		}
		if (poll(pfd, 3, timeout) <= 0)
			continue;
		for (i = 0; i < 3; i++) {
			if (pfd[i].fd < 0 || !(pfd[i].revents & (POLLIN | POLLHUP | POLLERR)))
				continue;
			r = read(pfd[i].fd, chunk, sizeof(chunk));
			if (r <= 0) {
				close(pfd[i].fd);
				pfd[i].fd = -1;
				open_fds--;
				continue;
			}
			total += (size_t)r;
			if (i == 0)
				take(&res->out, &res->out_dropped, chunk, (size_t)r);
			else if (i == 1)
				take(&res->err, &res->err_dropped, chunk, (size_t)r);
			else if ((size_t)r < sizeof(res->cwd) - strlen(res->cwd))
				strncat(res->cwd, chunk, (size_t)r);
		}
		if (total > READ_LIMIT) {
			snprintf(res->errmsg, sizeof(res->errmsg),
			    "output exceeded %d MiB; the command was stopped", READ_LIMIT >> 20);
			break;
		}
	}
	/*
	 * Whatever happened, nothing the command started may survive: killing
	 * bwrap's session takes down the pid namespace and every daemon in it.
	 */
	kill(-pid, SIGKILL);
	kill(pid, SIGKILL);
	while (waitpid(pid, &status, 0) == -1 && errno == EINTR)
		;
	for (i = 0; i < 3; i++)
		if (pfd[i].fd >= 0)
			close(pfd[i].fd);
	po[0] = pe[0] = ps[0] = -1;
	if (WIFEXITED(status))
		res->exit_code = WEXITSTATUS(status);
	else if (WIFSIGNALED(status))
		res->exit_code = 128 + WTERMSIG(status);
	if (res->timed_out || res->cancelled)
		res->exit_code = res->timed_out ? 124 : 130;
out:
	if (cgfd != -1)
		close(cgfd);
	cgroup_remove(cgdir);
	res->duration_ms = now_ms() - t0;
	for (i = 0; i < 2; i++) {
		if (po[i] >= 0) close(po[i]);
		if (pe[i] >= 0) close(pe[i]);
		if (ps[i] >= 0) close(ps[i]);
	}
	if (sec >= 0)
		close(sec);
	return res->failed ? -1 : 0;
}
