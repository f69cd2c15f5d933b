#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ifaddrs.h>
#include <limits.h>
#include <net/if.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <linux/audit.h>
#include <linux/fib_rules.h>
#include <linux/filter.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/seccomp.h>

#include "config.h"
#include "log.h"
#include "quota.h"
#include "sandbox.h"

#define READ_LIMIT	(64 * 1024 * 1024)	/* then the command is killed */

/* Descriptors the child hands to bwrap (bwrap closes 4, 6 and 7 itself). */
#define STATE_FD	3	/* the wrapper reports the final $PWD */
#define SECCOMP_FD	4
#define CMD_FD		5	/* the command text, read by the wrapper */
#define ARGS_FD		6	/* bwrap's arguments (--args) */
#define RESOLV_FD	7	/* the sandbox's resolv.conf (network on) */
#define GO_FD		8	/* the working directory and file-size cap: the
				   wrapper waits for them (sbx_go) */

#define ARGS_MAX	(64 * 1024)
#define SETUP_MAX	2048		/* setup messages kept */
#define NET_READY_MS	5000		/* pasta must configure the netns by then */
#define DNS_FORWARD	"169.254.0.53"	/* pasta forwards DNS sent here to the host's resolver */
#define HOSTADDR_MAX	64
#define QUOTA_SLACK	(1024 * 1024)	/* growth noticed before a walk is due */
#define QUOTA_WALK_MS	500		/* at most one walk per this, during a command */
#define FSIZE_FLOOR	(64 * 1024)	/* bwrap itself writes small files (resolv.conf) */

#ifndef __NR_cachestat
#define __NR_cachestat		451
#endif
#ifndef __NR_fchmodat2
#define __NR_fchmodat2		452
#endif
#define SECCOMP_MAX_NR		__NR_fchmodat2	/* newer calls: ENOSYS */

/*
 * The command runs under `bash -c WRAPPER bash`: wait on GO_FD for the
 * working directory and the file-size cap (KiB; 0: as started), read the
 * command from CMD_FD (so it is in no process's argv: not in the host's ps,
 * not in the sandbox's /proc/1/cmdline), restore the working directory, run
 * it with no positional parameters, and report the final $PWD on fd 3 even
 * when the command calls exit. Until GO_FD speaks nothing else runs: a
 * sandbox can be started before its command is known (the standby).
 */
static const char wrapper[] =
    "IFS= read -r -d '' __cw_cwd <&8\n"
    "IFS= read -r -d '' __cw_fsize <&8\n"
    "exec 8<&-\n"
    "trap 'printf %s \"$PWD\" >&3' EXIT\n"
    "[ \"$__cw_fsize\" = 0 ] || ulimit -f \"$__cw_fsize\"\n"
    "IFS= read -r -d '' __cw_command <&5\n"
    "exec 5<&-\n"
    "cd -- \"$__cw_cwd\" 2>/dev/null || cd /workspace\n"
    "unset -v __cw_cwd __cw_fsize\n"
    "set --\n"
    "eval \"unset -v __cw_command; $__cw_command\"\n";

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
	if (cfg->sandbox_network && access(cfg->sandbox_pasta, X_OK) == -1) {
		snprintf(msg, sizeof(msg), "the sandbox is unavailable: "
		    "SANDBOX_NETWORK=on needs %s (install the Debian package passt); "
		    "commands never share the host's network", cfg->sandbox_pasta);
		return msg;
	}
	return NULL;
}

/* ---- cgroups: pids.max and the memory limit ------------------------------------ */

/*
 * RLIMIT_NPROC does not bind a process whose real uid is 0 on the host
 * (the server run as root), and RLIMIT_AS only caps address space, so the
 * process count and the memory (RAM, swap, tmpfs pages) of a command are
 * capped by a cgroup when one is writable: cgroup v2 with the pids and
 * memory controllers, or the v1 pids and memory hierarchies. The child
 * writes itself into each group's cgroup.procs before it executes bwrap.
 */
struct cgroups {
	int	 v2;
	char	 dir[2][PATH_MAX];	/* created groups ("" none) */
	int	 procs[2];		/* their cgroup.procs, or -1 */
	char	 oom[PATH_MAX];		/* memory.events / memory.oom_control */
};

static int
cg_write(const char *dir, const char *file, const char *val)
{
	char	 path[PATH_MAX];
	int	 fd, ok;

	snprintf(path, sizeof(path), "%s/%s", dir, file);
	if ((fd = open(path, O_WRONLY | O_CLOEXEC)) == -1)
		return -1;
	ok = write(fd, val, strlen(val)) == (ssize_t)strlen(val);
	close(fd);
	return ok ? 0 : -1;
}

static int
cg_exists(const char *dir, const char *file)
{
	char	 path[PATH_MAX];

	if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir, file) >=
	    sizeof(path))
		return 0;
	return access(path, F_OK) == 0;
}

/*
 * Groups left behind by a runner that was killed mid-command (its own
 * cleanup never ran): removed once per process. rmdir refuses a group that
 * still has processes, so a live one is never touched.
 */
static void
cg_sweep(const char *parent)
{
	char		 path[PATH_MAX];
	struct dirent	*e;
	DIR		*d;
	long		 pid;

	if ((d = opendir(parent)) == NULL)
		return;
	while ((e = readdir(d)) != NULL) {
		if (strncmp(e->d_name, "run-", 4) != 0 ||
		    (pid = strtol(e->d_name + 4, NULL, 10)) <= 0 ||
		    pid == (long)getpid() || kill((pid_t)pid, 0) == 0 || errno != ESRCH)
			continue;
		if (snprintf(path, sizeof(path), "%s/%s", parent, e->d_name) <
		    (int)sizeof(path))
			(void)rmdir(path);
	}
	closedir(d);
}

/*
 * base/claude-web-sandbox/run-PID-SEQ into dir; -1 when it cannot be made.
 * v2: the pids and memory controllers are enabled on the way down (each
 * on its own: one missing must not cost the other).
 */
static int
cg_mkdir(const char *base, int v2, char *dir, size_t cap)
{
	static unsigned	 seq;
	static int	 swept;
	char		 parent[PATH_MAX];

	if (access(base, W_OK) == -1)
		return -1;
	if (v2) {
		(void)cg_write(base, "cgroup.subtree_control", "+pids");
		(void)cg_write(base, "cgroup.subtree_control", "+memory");
	}
	snprintf(parent, sizeof(parent), "%s/claude-web-sandbox", base);
	if (mkdir(parent, 0755) == -1 && errno != EEXIST)
		return -1;
	if (v2) {
		(void)cg_write(parent, "cgroup.subtree_control", "+pids");
		(void)cg_write(parent, "cgroup.subtree_control", "+memory");
	}
	if (swept < 2) {
		swept++;	/* (two bases on v1) */
		cg_sweep(parent);
	}
	if (snprintf(dir, cap, "%s/run-%ld-%u", parent, (long)getpid(),
	    seq++) >= (int)cap || (mkdir(dir, 0755) == -1 && errno != EEXIST))
		return -1;
	return 0;
}

static int
cg_open_procs(const char *dir)
{
	char	 path[PATH_MAX];

	snprintf(path, sizeof(path), "%s/cgroup.procs", dir);
	return open(path, O_WRONLY | O_CLOEXEC);
}

static void
cg_setup(const struct config *cfg, struct cgroups *cg)
{
	static int	 warned;
	char		 procs[32], mem[32];
	int		 have_mem = 0;

	memset(cg, 0, sizeof(*cg));
	cg->procs[0] = cg->procs[1] = -1;
	snprintf(procs, sizeof(procs), "%lld", cfg->sandbox_max_procs);
	snprintf(mem, sizeof(mem), "%lld", cfg->sandbox_memory_max_mb << 20);
	if (access("/sys/fs/cgroup/cgroup.controllers", F_OK) == 0) {
		/* v2: one group, both controllers enabled on the way down. */
		cg->v2 = 1;
		if (cg_mkdir("/sys/fs/cgroup", 1, cg->dir[0],
		    sizeof(cg->dir[0])) == 0) {
			(void)cg_write(cg->dir[0], "pids.max", procs);
			if (cfg->sandbox_memory_max_mb > 0 &&
			    cg_write(cg->dir[0], "memory.max", mem) == 0) {
				have_mem = 1;
				(void)cg_write(cg->dir[0], "memory.swap.max", "0");
				if (snprintf(cg->oom, sizeof(cg->oom), "%s/memory.events",
				    cg->dir[0]) >= (int)sizeof(cg->oom))
					cg->oom[0] = '\0';
			}
			if ((cg->procs[0] = cg_open_procs(cg->dir[0])) == -1) {
				rmdir(cg->dir[0]);
				cg->dir[0][0] = '\0';
				have_mem = 0;
			}
		}
	} else {
		if (cg_mkdir("/sys/fs/cgroup/pids", 0, cg->dir[0],
		    sizeof(cg->dir[0])) == 0 &&
		    (cg_write(cg->dir[0], "pids.max", procs) == -1 ||
		    (cg->procs[0] = cg_open_procs(cg->dir[0])) == -1)) {
			rmdir(cg->dir[0]);
			cg->dir[0][0] = '\0';
		}
		if (cfg->sandbox_memory_max_mb > 0 &&
		    cg_mkdir("/sys/fs/cgroup/memory", 0, cg->dir[1],
		    sizeof(cg->dir[1])) == 0) {
			/* memsw (memory + swap) equal to the limit: no swap. */
			if (cg_write(cg->dir[1], "memory.limit_in_bytes", mem) == 0 &&
			    (!cg_exists(cg->dir[1], "memory.memsw.limit_in_bytes") ||
			    cg_write(cg->dir[1], "memory.memsw.limit_in_bytes", mem) == 0) &&
			    (cg->procs[1] = cg_open_procs(cg->dir[1])) != -1) {
				have_mem = 1;
				if (snprintf(cg->oom, sizeof(cg->oom),
				    "%s/memory.oom_control", cg->dir[1]) >= (int)sizeof(cg->oom))
					cg->oom[0] = '\0';
			} else {
				rmdir(cg->dir[1]);
				cg->dir[1][0] = '\0';
			}
		}
	}
	if (cfg->sandbox_memory_max_mb > 0 && !have_mem && !warned) {
		warned = 1;
		log_kv(LOG_WARNING, "no writable memory cgroup: SANDBOX_MEMORY_MAX_MB "
		    "is not enforced (only RLIMIT_AS, SANDBOX_MEMORY_MB)", NULL);
	}
}

/* The number of OOM kills in the memory group (its "oom_kill N" line). */
static long long
cg_oom_kills(const struct cgroups *cg)
{
	char		 text[1024], *p;
	ssize_t		 n;
	int		 fd;

	if (cg->oom[0] == '\0' || (fd = open(cg->oom, O_RDONLY | O_CLOEXEC)) == -1)
		return 0;
	n = read(fd, text, sizeof(text) - 1);
	close(fd);
	if (n <= 0)
		return 0;
	text[n] = '\0';
	for (p = text; p != NULL && *p != '\0'; p = strchr(p, '\n'), p = p ? p + 1 : p)
		if (strncmp(p, "oom_kill ", 9) == 0)
			return strtoll(p + 9, NULL, 10);
	return 0;
}

/*
 * The groups empty as the pid namespace dies (the kernel may still count
 * the last exiting task for a moment after bwrap was reaped): removed as
 * soon as they are, retrying after 0.1 ms, doubling up to 10 ms, for about
 * a second in all (the sweep of a later command takes what is left).
 */
static void
cg_remove(struct cgroups *cg)
{
	struct timespec	 ts;
	long		 ns, slept;
	int		 k;

	for (k = 0; k < 2; k++) {
		if (cg->procs[k] != -1)
			close(cg->procs[k]);
		cg->procs[k] = -1;
		if (cg->dir[k][0] == '\0')
			continue;
		for (ns = 100000, slept = 0; rmdir(cg->dir[k]) == -1 &&
		    errno == EBUSY && slept < 1000000000L; slept += ns,
		    ns = ns < 10000000L ? ns * 2 : ns) {
			ts.tv_sec = 0;
			ts.tv_nsec = ns;
			nanosleep(&ts, NULL);
		}
		cg->dir[k][0] = '\0';
	}
}

/* ---- seccomp -------------------------------------------------------------------- */

/*
 * The seccomp program, written by hand (no libseccomp here), x86_64 only
 * (other architectures are killed, the x32 ABI refused). It denies with
 * EPERM what Docker's default profile denies a container without extra
 * capabilities, plus what this sandbox never needs:
 *  - kernel keyrings (keyctl, add_key, request_key), ptrace and reading
 *    other processes (process_vm_*, kcmp, pidfd_getfd), bpf,
 *    perf_event_open, userfaultfd, fanotify, io_uring;
 *  - modules, kexec, reboot, swap, accounting, quotas, iopl/ioperm,
 *    modify_ldt, syslog, uselib, lookup_dcookie, file handles
 *    (name_to_handle_at, open_by_handle_at);
 *  - namespaces and mounts: mount and the new mount API, umount2,
 *    pivot_root, chroot, setns, unshare, clone with any CLONE_NEW* flag;
 *  - socket() for any family but AF_INET and AF_INET6 (so no AF_UNIX to
 *    reach host sockets, no AF_NETLINK, AF_VSOCK, AF_PACKET, ...);
 *  - personality() other than PER_LINUX, PER_LINUX32, UNAME26 and the
 *    query (so no ADDR_NO_RANDOMIZE);
 *  - setting S_ISUID or S_ISGID through chmod, fchmod, fchmodat,
 *    fchmodat2, or creating a file with them (open, openat, creat, mknod,
 *    mknodat): what a command creates is owned by the server's uid on the
 *    host.
 * clone3 and openat2 (whose arguments sit behind a pointer the filter
 * cannot read) and every call newer than SECCOMP_MAX_NR fail with ENOSYS,
 * which C libraries treat as "not supported here" and fall back from.
 */
static const unsigned short deny_nr[] = {
	__NR_keyctl, __NR_add_key, __NR_request_key,
	__NR_ptrace, __NR_process_vm_readv, __NR_process_vm_writev, __NR_kcmp,
	__NR_pidfd_getfd,
	__NR_bpf, __NR_perf_event_open, __NR_userfaultfd, __NR_fanotify_init,
	__NR_io_uring_setup, __NR_io_uring_enter, __NR_io_uring_register,
	__NR_kexec_load, __NR_kexec_file_load, __NR_init_module,
	__NR_finit_module, __NR_delete_module, __NR_reboot,
	__NR_swapon, __NR_swapoff, __NR_acct, __NR_quotactl, __NR_quotactl_fd,
	__NR_iopl, __NR_ioperm, __NR_modify_ldt, __NR_syslog, __NR_uselib,
	__NR_lookup_dcookie, __NR_name_to_handle_at, __NR_open_by_handle_at,
	__NR_mount, __NR_umount2, __NR_pivot_root, __NR_chroot, __NR_setns,
	__NR_unshare, __NR_open_tree, __NR_move_mount, __NR_fsopen,
	__NR_fsconfig, __NR_fsmount, __NR_fspick, __NR_mount_setattr,
	__NR_vhangup, __NR_move_pages, __NR_migrate_pages,
};

#define SUID_BITS	(S_ISUID | S_ISGID)
#define CREATE_FLAGS	(O_CREAT | 020000000)	/* O_CREAT | __O_TMPFILE */
#define CLONE_NS_FLAGS	0x7E020000u		/* every CLONE_NEW* of clone() */

struct bpf {
	struct sock_filter	 p[256];
	size_t			 n;
	int			 overflow;
};

static void
emit(struct bpf *b, unsigned short code, unsigned k, unsigned char jt,
    unsigned char jf)
{
	if (b->n >= sizeof(b->p) / sizeof(b->p[0])) {
		b->overflow = 1;
		return;
	}
	b->p[b->n].code = code;
	b->p[b->n].jt = jt;
	b->p[b->n].jf = jf;
	b->p[b->n].k = k;
	b->n++;
}

#define LD_NR(b)	emit(b, BPF_LD | BPF_W | BPF_ABS, \
			    offsetof(struct seccomp_data, nr), 0, 0)
#define LD_ARG(b, i)	emit(b, BPF_LD | BPF_W | BPF_ABS, \
			    offsetof(struct seccomp_data, args[i]), 0, 0)
#define RET(b, v)	emit(b, BPF_RET | BPF_K, (v), 0, 0)
#define ERRNO(e)	(SECCOMP_RET_ERRNO | ((e) & SECCOMP_RET_DATA))

/* nr with any of the mode bits SUID_BITS in argument i: EPERM. */
static void
deny_mode(struct bpf *b, unsigned nr, int arg)
{
	emit(b, BPF_JMP | BPF_JEQ | BPF_K, nr, 0, 4);
	LD_ARG(b, arg);
	emit(b, BPF_JMP | BPF_JSET | BPF_K, SUID_BITS, 0, 1);
	RET(b, ERRNO(EPERM));
	RET(b, SECCOMP_RET_ALLOW);
}

/* nr creating a file (flags in argument fl) with SUID_BITS in argument md. */
static void
deny_create_mode(struct bpf *b, unsigned nr, int fl, int md)
{
	emit(b, BPF_JMP | BPF_JEQ | BPF_K, nr, 0, 6);
	LD_ARG(b, fl);
	emit(b, BPF_JMP | BPF_JSET | BPF_K, CREATE_FLAGS, 0, 3);
	LD_ARG(b, md);
	emit(b, BPF_JMP | BPF_JSET | BPF_K, SUID_BITS, 0, 1);
	RET(b, ERRNO(EPERM));
	RET(b, SECCOMP_RET_ALLOW);
}

static int
seccomp_program(struct bpf *b)
{
	static const unsigned personas[] = { 0x0, 0x0008, 0x20000, 0x20008,
	    0xffffffffu };
	size_t	 i, np = sizeof(personas) / sizeof(personas[0]);

	memset(b, 0, sizeof(*b));
	emit(b, BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch), 0, 0);
	emit(b, BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_X86_64, 1, 0);
	RET(b, SECCOMP_RET_KILL_PROCESS);
	LD_NR(b);
	emit(b, BPF_JMP | BPF_JGE | BPF_K, 0x40000000, 0, 1);	/* x32 */
	RET(b, ERRNO(EPERM));
	emit(b, BPF_JMP | BPF_JGT | BPF_K, SECCOMP_MAX_NR, 0, 1);
	RET(b, ERRNO(ENOSYS));
	for (i = 0; i < sizeof(deny_nr) / sizeof(deny_nr[0]); i++) {
		emit(b, BPF_JMP | BPF_JEQ | BPF_K, deny_nr[i], 0, 1);
		RET(b, ERRNO(EPERM));
	}
	emit(b, BPF_JMP | BPF_JEQ | BPF_K, __NR_clone3, 0, 1);
	RET(b, ERRNO(ENOSYS));
	emit(b, BPF_JMP | BPF_JEQ | BPF_K, __NR_openat2, 0, 1);
	RET(b, ERRNO(ENOSYS));

	/* socket(): AF_INET and AF_INET6 only. */
	emit(b, BPF_JMP | BPF_JEQ | BPF_K, __NR_socket, 0, 5);
	LD_ARG(b, 0);
	emit(b, BPF_JMP | BPF_JEQ | BPF_K, AF_INET, 2, 0);
	emit(b, BPF_JMP | BPF_JEQ | BPF_K, AF_INET6, 1, 0);
	RET(b, ERRNO(EPERM));
	RET(b, SECCOMP_RET_ALLOW);

	/* personality(): the harmless values only. */
	emit(b, BPF_JMP | BPF_JEQ | BPF_K, __NR_personality, 0,
	    (unsigned char)(np + 3));
	LD_ARG(b, 0);
	for (i = 0; i < np; i++)
		emit(b, BPF_JMP | BPF_JEQ | BPF_K, personas[i],
		    (unsigned char)(np - i), 0);
	RET(b, ERRNO(EPERM));
	RET(b, SECCOMP_RET_ALLOW);

	/* clone(): no new namespaces. */
	emit(b, BPF_JMP | BPF_JEQ | BPF_K, __NR_clone, 0, 4);
	LD_ARG(b, 0);
	emit(b, BPF_JMP | BPF_JSET | BPF_K, CLONE_NS_FLAGS, 0, 1);
	RET(b, ERRNO(EPERM));
	RET(b, SECCOMP_RET_ALLOW);

	/* No setuid/setgid bits, set or created. */
	deny_mode(b, __NR_chmod, 1);
	deny_mode(b, __NR_fchmod, 1);
	deny_mode(b, __NR_fchmodat, 2);
	deny_mode(b, __NR_fchmodat2, 2);
	deny_mode(b, __NR_creat, 1);
	deny_mode(b, __NR_mknod, 1);
	deny_mode(b, __NR_mknodat, 2);
	deny_create_mode(b, __NR_open, 1, 2);
	deny_create_mode(b, __NR_openat, 2, 3);

	RET(b, SECCOMP_RET_ALLOW);
	return b->overflow ? -1 : 0;
}

static int
memfd_with(const char *name, const void *data, size_t len)
{
	int	 fd;

	if ((fd = (int)syscall(SYS_memfd_create, name, MFD_CLOEXEC)) == -1)
		return -1;
	if (write(fd, data, len) != (ssize_t)len || lseek(fd, 0, SEEK_SET) == -1) {
		close(fd);
		return -1;
	}
	return fd;
}

static int
seccomp_fd(void)
{
	struct bpf	 b;

	if (seccomp_program(&b) == -1) {
		errno = E2BIG;
		return -1;
	}
	return memfd_with("cw-seccomp", b.p, b.n * sizeof(b.p[0]));
}

/* ---- network: a private netns behind pasta -------------------------------------- */

/*
 * SANDBOX_NETWORK=on never shares the host's network namespace. The child
 * unshares a network namespace of its own (owned by the host's user
 * namespace, so nothing inside, uid 1000 without capabilities, can change
 * it), brings up lo, and installs policy rules before any route exists:
 * destinations in loopback, private (RFC 1918, ULA), shared (CGNAT),
 * link-local (cloud metadata at 169.254.169.254 and fd00:ec2::254),
 * multicast and reserved ranges, and every address the host has, are
 * refused (EACCES). pasta (package passt) then gives the namespace user-mode
 * NAT to the outside: --no-map-gw (the gateway address is not the host's
 * loopback), -T none -U none (no ports of the host's loopback forwarded
 * in), -t none -u none (nothing forwarded out), and DNS only through
 * DNS_FORWARD, which pasta relays to the host's resolver. So a command
 * reaches the Internet but not nginx, Redis over TCP, code-server, the
 * metrics endpoint or the metadata service.
 */
struct net_rule {
	int		 family;
	unsigned char	 addr[16];
	int		 plen;
};

struct net_plan {
	struct net_rule	 deny[HOSTADDR_MAX + 32];
	int		 ndeny;
	int		 resolv_fd;
};

static const char *const deny_v4[] = {
	"0.0.0.0/8", "10.0.0.0/8", "100.64.0.0/10", "127.0.0.0/8",
	"169.254.0.0/16", "172.16.0.0/12", "192.0.0.0/24", "192.168.0.0/16",
	"168.63.129.16/32", "224.0.0.0/3",
};
static const char *const deny_v6[] = {
	"::/96", "::ffff:0:0/96", "64:ff9b::/96", "64:ff9b:1::/48", "100::/64",
	"fc00::/7", "fe80::/10", "ff00::/8",
};

static void
plan_add(struct net_plan *p, int family, const void *addr, int plen)
{
	struct net_rule	*r;

	if (p->ndeny >= (int)(sizeof(p->deny) / sizeof(p->deny[0])))
		return;
	r = &p->deny[p->ndeny++];
	memset(r, 0, sizeof(*r));
	r->family = family;
	memcpy(r->addr, addr, family == AF_INET ? 4 : 16);
	r->plen = plen;
}

static void
plan_add_cidr(struct net_plan *p, int family, const char *cidr)
{
	char		 a[64], *slash;
	unsigned char	 bin[16];

	snprintf(a, sizeof(a), "%s", cidr);
	if ((slash = strchr(a, '/')) == NULL)
		return;
	*slash = '\0';
	if (inet_pton(family, a, bin) == 1)
		plan_add(p, family, bin, atoi(slash + 1));
}

/* The resolv.conf commands see: pasta's DNS address, the host's search list. */
static int
resolv_conf_fd(void)
{
	char	 out[2048], line[512];
	size_t	 n;
	FILE	*fp;

	n = (size_t)snprintf(out, sizeof(out), "# claude-web sandbox: DNS goes "
	    "through pasta to the host's resolver\nnameserver %s\n", DNS_FORWARD);
	if ((fp = fopen("/etc/resolv.conf", "re")) != NULL) {
		while (fgets(line, sizeof(line), fp) != NULL && n < sizeof(out) - 1)
			if (strncmp(line, "search", 6) == 0 ||
			    strncmp(line, "domain", 6) == 0 ||
			    strncmp(line, "options", 7) == 0)
				n += (size_t)snprintf(out + n, sizeof(out) - n, "%s", line);
		fclose(fp);
	}
	if (n >= sizeof(out))
		n = sizeof(out) - 1;
	return memfd_with("cw-resolv", out, n);
}

static int
net_plan(struct net_plan *p)
{
	struct ifaddrs	*ifa, *i;
	size_t		 k;

	memset(p, 0, sizeof(*p));
	p->resolv_fd = -1;
	for (k = 0; k < sizeof(deny_v4) / sizeof(deny_v4[0]); k++)
		plan_add_cidr(p, AF_INET, deny_v4[k]);
	for (k = 0; k < sizeof(deny_v6) / sizeof(deny_v6[0]); k++)
		plan_add_cidr(p, AF_INET6, deny_v6[k]);
	/* The host's own addresses: services bound to 0.0.0.0 listen there. */
	if (getifaddrs(&ifa) == 0) {
		for (i = ifa; i != NULL; i = i->ifa_next) {
			if (i->ifa_addr == NULL)
				continue;
			if (i->ifa_addr->sa_family == AF_INET)
				plan_add(p, AF_INET, &((struct sockaddr_in *)(void *)
				    i->ifa_addr)->sin_addr, 32);
			else if (i->ifa_addr->sa_family == AF_INET6)
				plan_add(p, AF_INET6, &((struct sockaddr_in6 *)(void *)
				    i->ifa_addr)->sin6_addr, 128);
		}
		freeifaddrs(ifa);
	}
	if ((p->resolv_fd = resolv_conf_fd()) == -1)
		return -1;
	return 0;
}

static void
nl_attr(struct nlmsghdr *nh, size_t cap, unsigned short type, const void *data,
    size_t len)
{
	struct rtattr	*rta;
	size_t		 off = NLMSG_ALIGN(nh->nlmsg_len);

	if (off + RTA_SPACE(len) > cap)
		return;
	rta = (struct rtattr *)(void *)((char *)nh + off);
	rta->rta_type = type;
	rta->rta_len = (unsigned short)RTA_LENGTH(len);
	memcpy(RTA_DATA(rta), data, len);
	nh->nlmsg_len = (unsigned)(off + RTA_SPACE(len));
}

/* One FIB rule: prohibit (or, with proto, look up main for that port). */
static int
nl_rule(int fd, int family, const void *addr, int plen, unsigned prio,
    unsigned char proto, unsigned short port)
{
	union {
		struct nlmsghdr	 nh;
		char		 raw[256];
	} req, ans;
	struct fib_rule_hdr		*frh;
	struct fib_rule_port_range	 pr;
	struct nlmsgerr			*err;
	ssize_t				 n;

	memset(&req, 0, sizeof(req));
	req.nh.nlmsg_len = NLMSG_LENGTH(sizeof(*frh));
	req.nh.nlmsg_type = RTM_NEWRULE;
	req.nh.nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL;
	frh = NLMSG_DATA(&req.nh);
	frh->family = (unsigned char)family;
	frh->dst_len = (unsigned char)plen;
	if (proto != 0) {
		frh->action = FR_ACT_TO_TBL;
		frh->table = RT_TABLE_MAIN;
	} else
		frh->action = FR_ACT_PROHIBIT;
	nl_attr(&req.nh, sizeof(req), FRA_PRIORITY, &prio, sizeof(prio));
	if (plen > 0)
		nl_attr(&req.nh, sizeof(req), FRA_DST, addr, family == AF_INET ? 4 : 16);
	if (proto != 0) {
		pr.start = pr.end = port;
		nl_attr(&req.nh, sizeof(req), FRA_IP_PROTO, &proto, 1);
		nl_attr(&req.nh, sizeof(req), FRA_DPORT_RANGE, &pr, sizeof(pr));
	}
	if (send(fd, &req, req.nh.nlmsg_len, 0) != (ssize_t)req.nh.nlmsg_len)
		return -1;
	if ((n = recv(fd, &ans, sizeof(ans), 0)) < (ssize_t)NLMSG_LENGTH(sizeof(*err)))
		return -1;
	if (ans.nh.nlmsg_type != NLMSG_ERROR)
		return -1;
	err = NLMSG_DATA(&ans.nh);
	if (err->error != 0) {
		errno = -err->error;
		return -1;
	}
	return 0;
}

/* In the child, inside its new netns: lo up, then the rules. */
static int
net_child_setup(const struct net_plan *p, char *why, size_t cap)
{
	struct ifreq	 ifr;
	unsigned char	 dns[4];
	int		 s, fd, i, v6 = 1;

	if ((s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0)) == -1) {
		snprintf(why, cap, "socket: %s", strerror(errno));
		return -1;
	}
	memset(&ifr, 0, sizeof(ifr));
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "lo");
	if (ioctl(s, SIOCGIFFLAGS, &ifr) == -1 ||
	    (ifr.ifr_flags |= IFF_UP, ioctl(s, SIOCSIFFLAGS, &ifr)) == -1) {
		snprintf(why, cap, "cannot bring up lo: %s", strerror(errno));
		close(s);
		return -1;
	}
	close(s);
	if ((fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE)) == -1) {
		snprintf(why, cap, "netlink: %s", strerror(errno));
		return -1;
	}
	inet_pton(AF_INET, DNS_FORWARD, dns);
	if (nl_rule(fd, AF_INET, dns, 32, 100, IPPROTO_UDP, 53) == -1 ||
	    nl_rule(fd, AF_INET, dns, 32, 101, IPPROTO_TCP, 53) == -1) {
		snprintf(why, cap, "cannot add the DNS rule: %s", strerror(errno));
		close(fd);
		return -1;
	}
	for (i = 0; i < p->ndeny; i++) {
		if (p->deny[i].family == AF_INET6 && !v6)
			continue;
		if (nl_rule(fd, p->deny[i].family, p->deny[i].addr, p->deny[i].plen,
		    200, 0, 0) == 0 || errno == EEXIST)
			continue;
		if (p->deny[i].family == AF_INET6 && errno == EAFNOSUPPORT) {
			v6 = 0;		/* no IPv6 in this kernel: nothing to refuse */
			continue;
		}
		snprintf(why, cap, "cannot add a network rule: %s", strerror(errno));
		close(fd);
		return -1;
	}
	close(fd);
	return 0;
}

/* A default route in this netns: pasta has configured it. */
static int
net_has_default(void)
{
	char	 line[512];
	FILE	*fp;
	int	 found = 0;

	if ((fp = fopen("/proc/net/route", "re")) != NULL) {
		while (!found && fgets(line, sizeof(line), fp) != NULL) {
			char *t = strchr(line, '\t');

			found = t != NULL && strncmp(t + 1, "00000000\t", 9) == 0;
		}
		fclose(fp);
	}
	if (!found && (fp = fopen("/proc/net/ipv6_route", "re")) != NULL) {
		while (!found && fgets(line, sizeof(line), fp) != NULL)
			found = strncmp(line, "00000000000000000000000000000000 00 ",
			    36) == 0 && strstr(line, " lo\n") == NULL;
		fclose(fp);
	}
	return found;
}

/* Starts pasta for the child's netns; its pid, or -1. stderr goes to errfd. */
static pid_t
pasta_start(const struct config *cfg, pid_t child, int errfd)
{
	char	 ns[64];
	pid_t	 parent = getpid(), pid;
	int	 nsfd, devnull;

	snprintf(ns, sizeof(ns), "/proc/%ld/ns/net", (long)child);
	if ((nsfd = open(ns, O_RDONLY | O_CLOEXEC)) == -1)
		return -1;
	if ((pid = fork()) == -1) {
		close(nsfd);
		return -1;
	}
	if (pid == 0) {
		/*
		 * pasta drops to "nobody" before it joins a namespace, and
		 * nobody cannot join one the host's root owns: it keeps root
		 * (--runas 0) and confines itself (empty mount namespace,
		 * capabilities dropped, its own seccomp filter) once the tap
		 * device exists.
		 */
		static char env_path[] = "PATH=/usr/bin:/bin";
		char *const envp[] = { env_path, NULL };
		const char *argv[] = { cfg->sandbox_pasta, "--runas", "0",
		    "--config-net", "--foreground", "--quiet",
		    "-t", "none", "-u", "none", "-T", "none", "-U", "none",
		    "--no-map-gw", "--dns-forward", DNS_FORWARD,
		    "--netns", "/proc/self/fd/3", NULL };

		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != parent)
			_exit(127);
		setsid();
		devnull = open("/dev/null", O_RDWR);
		nsfd = fcntl(nsfd, F_DUPFD, 10);
		errfd = fcntl(errfd, F_DUPFD, 10);
		dup2(devnull, 0);
		dup2(devnull, 1);
		dup2(errfd, 2);
		dup2(nsfd, 3);
		syscall(SYS_close_range, 4U, ~0U, 0U);
		signal(SIGPIPE, SIG_DFL);
		execve(argv[0], (char *const *)argv, envp);
		dprintf(2, "cannot execute %s: %s\n", argv[0], strerror(errno));
		_exit(127);
	}
	close(nsfd);
	return pid;
}

/* ---- running a command -------------------------------------------------------- */

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

/* One bwrap argument, NUL-terminated, for --args. */
static void
arg(struct buf *b, const char *s)
{
	buf_append(b, s, strlen(s) + 1);
}

static long long
fs_free(int fd)
{
	struct statfs	 sf;

	if (fstatfs(fd, &sf) == -1)
		return -1;
	return (long long)sf.f_bfree * (long long)sf.f_bsize;
}

/*
 * The use measured after a session's last command, so the next one needs
 * no walk before it (per process; a runner serves few sessions at a time).
 * What the files API or the editor added since only makes the room and the
 * watch's threshold a little generous; the walk after the command decides.
 * A use over the quota is never taken from here: files may be gone since.
 */
#define USAGE_CACHE	8
#define USAGE_CACHE_MS	60000.0

static struct {
	char		 dir[PATH_MAX];
	long long	 bytes;
	int		 truncated;
	double		 at;
} ucache[USAGE_CACHE];

static int
usage_cached(const char *dir, struct quota_usage *u)
{
	int	 i;

	for (i = 0; i < USAGE_CACHE; i++)
		if (ucache[i].dir[0] != '\0' && strcmp(ucache[i].dir, dir) == 0 &&
		    now_ms() - ucache[i].at < USAGE_CACHE_MS) {
			memset(u, 0, sizeof(*u));
			u->bytes = ucache[i].bytes;
			u->truncated = ucache[i].truncated;
			return 1;
		}
	return 0;
}

static void
usage_remember(const char *dir, const struct quota_usage *u)
{
	int	 i, slot = 0;

	if (strlen(dir) >= sizeof(ucache[0].dir))
		return;
	for (i = 0; i < USAGE_CACHE; i++) {
		if (strcmp(ucache[i].dir, dir) == 0) {
			slot = i;
			break;
		}
		if (ucache[i].at < ucache[slot].at)
			slot = i;	/* the oldest (or an empty) slot */
	}
	snprintf(ucache[slot].dir, sizeof(ucache[slot].dir), "%s", dir);
	ucache[slot].bytes = u->bytes;
	ucache[slot].truncated = u->truncated;
	ucache[slot].at = now_ms();
}

/* The child's setup failed: the message goes to the parent, then exit. */
static void __attribute__((noreturn))
child_fail(int fd, const char *what, const char *why)
{
	dprintf(fd, "sandbox: %s: %s\n", what, why);
	_exit(127);
}

/* sandbox_set_network(): -1 SANDBOX_NETWORK decides, 0 off, 1 on if it allows. */
static int net_choice = -1;

void
sandbox_set_network(int on)
{
	net_choice = on < 0 ? -1 : on != 0;
}

/* ---- a sandbox, started with its command or before it -------------------------- */

/*
 * A started sandbox and what the parent holds of it. bash inside runs the
 * wrapper, which waits on GO_FD: the command is written into the memfd on
 * CMD_FD first, then the working directory and the file-size cap go to
 * GO_FD and our end of it is closed. So a sandbox can be started before its
 * command is known (the standby below) and both ways share one path.
 */
struct sbx {
	pid_t		 pid;		/* bwrap; 0: reaped; -1: none */
	pid_t		 owner;		/* the process that started it */
	pid_t		 pasta;		/* -1: none */
	int		 rd[4];		/* stdout, stderr, STATE_FD, setup messages */
	int		 go;		/* our end of GO_FD */
	int		 cmdfd;		/* the command's memfd, shared with the child */
	int		 net;
	const struct config *cfg;
	struct cgroups	 cg;
	double		 born;
	char		 dir[PATH_MAX];	/* the files_dir bound at /workspace */
	char		 errmsg[256];
};

static void
sbx_init(struct sbx *s)
{
	int	 i;

	memset(s, 0, sizeof(*s));
	s->pid = s->pasta = -1;
	for (i = 0; i < 4; i++)
		s->rd[i] = -1;
	s->go = s->cmdfd = -1;
	s->cg.procs[0] = s->cg.procs[1] = -1;
}

static void
close_fd(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

/*
 * Kills (the whole pid namespace: bwrap's session), reaps, closes and
 * removes its cgroups. In a process that did not start it (a fork) only
 * the descriptors are closed.
 */
static void
sbx_release(struct sbx *s)
{
	int	 i, mine = s->owner == getpid();

	if (mine && s->pid > 0) {
		kill(-s->pid, SIGKILL);
		kill(s->pid, SIGKILL);
		while (waitpid(s->pid, NULL, 0) == -1 && errno == EINTR)
			;
	}
	if (mine && s->pasta > 0) {
		kill(s->pasta, SIGKILL);
		while (waitpid(s->pasta, NULL, 0) == -1 && errno == EINTR)
			;
	}
	for (i = 0; i < 4; i++)
		close_fd(&s->rd[i]);
	close_fd(&s->go);
	close_fd(&s->cmdfd);
	if (mine)
		cg_remove(&s->cg);
	else
		for (i = 0; i < 2; i++)
			close_fd(&s->cg.procs[i]);
	sbx_init(s);
}

/*
 * Starts bwrap with bash waiting for its command. 0 when it runs (s->errmsg
 * may still say that its network could not be set up); -1 with s->errmsg.
 */
static int
sbx_start(const struct config *cfg, const char *files_dir,
    const struct sandbox_io *io, int net, struct sbx *s)
{
	char		 size[32], libs[PATH_MAX];
	struct stat	 st;
	struct buf	 args;
	struct net_plan	 plan;
	int		 po[2] = { -1, -1 }, pe[2] = { -1, -1 }, ps[2] = { -1, -1 };
	int		 pf[2] = { -1, -1 }, sync[2] = { -1, -1 }, go[2] = { -1, -1 };
	int		 sec = -1, argfd = -1, ok = -1, i;
	long long	 fsize = cfg->sandbox_file_size_mb * 1024 * 1024;
	pid_t		 pid;

	sbx_init(s);
	s->owner = getpid();
	s->net = net;
	s->cfg = cfg;
	s->born = now_ms();
	snprintf(s->dir, sizeof(s->dir), "%s", files_dir);
	memset(&plan, 0, sizeof(plan));
	plan.resolv_fd = -1;
	buf_init(&args, ARGS_MAX);
	if ((sec = seccomp_fd()) == -1 ||
	    (s->cmdfd = memfd_with("cw-command", "", 0)) == -1 ||
	    pipe2(po, O_CLOEXEC) == -1 || pipe2(pe, O_CLOEXEC) == -1 ||
	    pipe2(ps, O_CLOEXEC) == -1 || pipe2(pf, O_CLOEXEC) == -1 ||
	    socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, go) == -1 ||
	    (net && (pipe2(sync, O_CLOEXEC) == -1 || net_plan(&plan) == -1))) {
		snprintf(s->errmsg, sizeof(s->errmsg), "cannot set up the sandbox: %s",
		    strerror(errno));
		goto out;
	}
	snprintf(size, sizeof(size), "%lld", cfg->sandbox_tmp_size_mb * 1024 * 1024);
	snprintf(libs, sizeof(libs), "%s/shared/libraries", cfg->workspace_path);

	/*
	 * bwrap's options go through ARGS_FD, so neither the host's ps nor
	 * /proc/1/cmdline inside shows a host path; the command is on CMD_FD.
	 */
	arg(&args, "--unshare-user"); arg(&args, "--unshare-pid");
	arg(&args, "--unshare-ipc"); arg(&args, "--unshare-uts");
	arg(&args, "--unshare-cgroup-try");
	if (!net)
		arg(&args, "--unshare-net");	/* else the child's own netns */
	arg(&args, "--uid"); arg(&args, "1000"); arg(&args, "--gid"); arg(&args, "1000");
	arg(&args, "--disable-userns"); arg(&args, "--cap-drop"); arg(&args, "ALL");
	arg(&args, "--die-with-parent"); arg(&args, "--new-session");
	arg(&args, "--hostname"); arg(&args, "sandbox");
	arg(&args, "--clearenv");
	arg(&args, "--setenv"); arg(&args, "PATH"); arg(&args, "/usr/local/bin:/usr/bin:/bin");
	arg(&args, "--setenv"); arg(&args, "HOME"); arg(&args, "/workspace");
	arg(&args, "--setenv"); arg(&args, "TERM"); arg(&args, "dumb");
	arg(&args, "--setenv"); arg(&args, "LANG"); arg(&args, "C.UTF-8");
	arg(&args, "--setenv"); arg(&args, "TMPDIR"); arg(&args, "/tmp");
	arg(&args, "--ro-bind"); arg(&args, "/usr"); arg(&args, "/usr");
	arg(&args, "--symlink"); arg(&args, "usr/bin"); arg(&args, "/bin");
	arg(&args, "--symlink"); arg(&args, "usr/sbin"); arg(&args, "/sbin");
	arg(&args, "--symlink"); arg(&args, "usr/lib"); arg(&args, "/lib");
	arg(&args, "--symlink"); arg(&args, "usr/lib64"); arg(&args, "/lib64");
	arg(&args, "--ro-bind-try"); arg(&args, "/etc/alternatives"); arg(&args, "/etc/alternatives");
	arg(&args, "--ro-bind-try"); arg(&args, "/etc/ssl"); arg(&args, "/etc/ssl");
	arg(&args, "--ro-bind-try"); arg(&args, "/etc/ld.so.cache"); arg(&args, "/etc/ld.so.cache");
	arg(&args, "--ro-bind-try"); arg(&args, "/etc/ld.so.conf"); arg(&args, "/etc/ld.so.conf");
	arg(&args, "--ro-bind-try"); arg(&args, "/etc/ld.so.conf.d"); arg(&args, "/etc/ld.so.conf.d");
	arg(&args, "--ro-bind-try"); arg(&args, "/etc/localtime"); arg(&args, "/etc/localtime");
	if (net) {
		char	 fdnum[16];

		snprintf(fdnum, sizeof(fdnum), "%d", RESOLV_FD);
		arg(&args, "--ro-bind-data"); arg(&args, fdnum); arg(&args, "/etc/resolv.conf");
		arg(&args, "--ro-bind-try"); arg(&args, "/etc/hosts"); arg(&args, "/etc/hosts");
	}
	arg(&args, "--proc"); arg(&args, "/proc");
	arg(&args, "--dev"); arg(&args, "/dev");
	arg(&args, "--size"); arg(&args, size); arg(&args, "--tmpfs"); arg(&args, "/tmp");
	/* bwrap binds are nosuid,nodev: a setuid bit does nothing inside. */
	arg(&args, "--bind"); arg(&args, files_dir); arg(&args, "/workspace");
	if (stat(libs, &st) == 0 && S_ISDIR(st.st_mode)) {
		arg(&args, "--ro-bind"); arg(&args, libs); arg(&args, "/libraries");
	}
	if (io != NULL && io->ro_bind != NULL && io->ro_bind[0] == '/') {
		arg(&args, "--ro-bind-try"); arg(&args, io->ro_bind);
		arg(&args, io->ro_bind);
	}
	arg(&args, "--size"); arg(&args, size); arg(&args, "--tmpfs"); arg(&args, "/dev/shm");
	/* Last: everything not bound writable above becomes read-only. */
	arg(&args, "--remount-ro"); arg(&args, "/");
	arg(&args, "--remount-ro"); arg(&args, "/dev");
	arg(&args, "--chdir"); arg(&args, "/workspace");
	{
		char	 fdnum[16];

		snprintf(fdnum, sizeof(fdnum), "%d", SECCOMP_FD);
		arg(&args, "--seccomp"); arg(&args, fdnum);
	}
	/* (At most a few KiB: paths are below PATH_MAX.) */
	if ((argfd = memfd_with("cw-args", args.p, args.len)) == -1) {
		snprintf(s->errmsg, sizeof(s->errmsg), "cannot set up the sandbox: "
		    "%s", strerror(errno));
		goto out;
	}

	cg_setup(cfg, &s->cg);
	if ((pid = fork()) == -1) {
		snprintf(s->errmsg, sizeof(s->errmsg), "fork: %s", strerror(errno));
		goto out;
	}
	if (pid == 0) {
		static char env_path[] = "PATH=/usr/bin:/bin";
		char *const clean_env[] = { env_path, NULL };
		char	 why[256], fdnum[16];
		/*
		 * bwrap stops reading --args at the first non-option, so the
		 * command line itself stays in argv: the fixed wrapper only.
		 */
		const char *bw[] = { cfg->sandbox_bwrap, "--args", fdnum, "--",
		    "/bin/bash", "--noprofile", "--norc", "-c", wrapper, "bash",
		    NULL };
		int	 devnull = open("/dev/null", O_RDONLY), k;
		int	 hi[9], errfd;
		double	 t;

		setsid();
		signal(SIGPIPE, SIG_DFL);
		signal(SIGINT, SIG_DFL);
		signal(SIGHUP, SIG_DFL);
		signal(SIGQUIT, SIG_DFL);
		signal(SIGTERM, SIG_DFL);
		{
			sigset_t none;

			sigemptyset(&none);
			sigprocmask(SIG_SETMASK, &none, NULL);
		}
		for (k = 0; k < 2; k++)
			if (s->cg.procs[k] != -1)
				dprintf(s->cg.procs[k], "%ld", (long)getpid());
		errfd = pf[1];
		if (net) {
			/* Before anything can use it: lo, the rules, then pasta. */
			if (unshare(CLONE_NEWNET) == -1)
				child_fail(errfd, "cannot create the network namespace",
				    strerror(errno));
			if (net_child_setup(&plan, why, sizeof(why)) == -1)
				child_fail(errfd, "network setup failed", why);
			if (write(sync[1], "N", 1) != 1)
				_exit(127);
			for (t = now_ms(); !net_has_default(); ) {
				struct timespec ts = { 0, 2 * 1000000L };

				if (now_ms() - t > NET_READY_MS)
					child_fail(errfd, "network setup failed", "pasta did "
					    "not configure the namespace in time");
				nanosleep(&ts, NULL);
			}
		}
		/* Lift every source above the targets first, so no dup2 clobbers one. */
		hi[0] = fcntl(io != NULL && io->stdin_fd >= 0 ? io->stdin_fd :
		    devnull, F_DUPFD, 20);
		hi[1] = fcntl(po[1], F_DUPFD, 20);
		hi[2] = fcntl(pe[1], F_DUPFD, 20);
		hi[3] = fcntl(ps[1], F_DUPFD, 20);
		hi[4] = fcntl(sec, F_DUPFD, 20);
		hi[5] = fcntl(s->cmdfd, F_DUPFD, 20);
		hi[6] = fcntl(argfd, F_DUPFD, 20);
		hi[7] = net ? fcntl(plan.resolv_fd, F_DUPFD, 20) : -1;
		hi[8] = fcntl(go[1], F_DUPFD, 20);
		errfd = fcntl(errfd, F_DUPFD_CLOEXEC, 20);
		if (dup2(hi[0], 0) == -1 || dup2(hi[1], 1) == -1 ||
		    dup2(hi[2], 2) == -1 || dup2(hi[3], STATE_FD) == -1 ||
		    dup2(hi[4], SECCOMP_FD) == -1 || dup2(hi[5], CMD_FD) == -1 ||
		    dup2(hi[6], ARGS_FD) == -1 || dup2(hi[8], GO_FD) == -1 ||
		    (net && dup2(hi[7], RESOLV_FD) == -1))
			child_fail(errfd, "cannot pass descriptors", strerror(errno));
		/* Nothing else crosses: not the FastCGI or Redis sockets, not curl. */
		if (errfd != 20 && dup2(errfd, 20) != -1) {
			fcntl(20, F_SETFD, FD_CLOEXEC);
			errfd = 20;
		}
		if (!net)
			close(RESOLV_FD);
		syscall(SYS_close_range, (unsigned)GO_FD + 1, 19U, 0U);
		syscall(SYS_close_range, 21U, ~0U, 0U);
		setlim(RLIMIT_CPU, (rlim_t)cfg->sandbox_cpu_seconds);
		setlim(RLIMIT_AS, (rlim_t)cfg->sandbox_memory_mb * 1024 * 1024);
		setlim(RLIMIT_NPROC, (rlim_t)cfg->sandbox_max_procs);
		/* (The wrapper lowers it to the room under the disk quota.) */
		setlim(RLIMIT_FSIZE, (rlim_t)fsize);
		setlim(RLIMIT_NOFILE, (rlim_t)cfg->sandbox_open_files);
		setlim(RLIMIT_CORE, 0);
		snprintf(fdnum, sizeof(fdnum), "%d", ARGS_FD);
		/* bwrap's own environment would be visible as /proc/1/environ. */
		execve(bw[0], (char *const *)bw, clean_env);
		child_fail(errfd, "cannot execute bubblewrap", strerror(errno));
	}
	s->pid = pid;
	close_fd(&po[1]);
	close_fd(&pe[1]);
	close_fd(&ps[1]);
	close_fd(&go[1]);
	if (net) {
		struct pollfd	 sp = { .fd = sync[0], .events = POLLIN };
		char		 c;

		close_fd(&sync[1]);
		/* The child has its netns and rules (or has failed: EOF). */
		if (poll(&sp, 1, NET_READY_MS) == 1 && read(sync[0], &c, 1) == 1 &&
		    (s->pasta = pasta_start(cfg, pid, pf[1])) == -1)
			snprintf(s->errmsg, sizeof(s->errmsg), "cannot start %s: %s",
			    cfg->sandbox_pasta, strerror(errno));
	}
	/* The parent's ends, owned by s from here on. */
	s->rd[0] = po[0];
	s->rd[1] = pe[0];
	s->rd[2] = ps[0];
	s->rd[3] = pf[0];
	s->go = go[0];
	po[0] = pe[0] = ps[0] = pf[0] = go[0] = -1;
	ok = 0;
out:
	for (i = 0; i < 2; i++) {
		close_fd(&po[i]);
		close_fd(&pe[i]);
		close_fd(&ps[i]);
		close_fd(&pf[i]);
		close_fd(&sync[i]);
		close_fd(&go[i]);
	}
	close_fd(&sec);
	close_fd(&argfd);
	close_fd(&plan.resolv_fd);
	buf_free(&args);
	if (ok == -1) {
		char	 msg[sizeof(s->errmsg)];

		memcpy(msg, s->errmsg, sizeof(msg));
		sbx_release(s);
		memcpy(s->errmsg, msg, sizeof(msg));
	}
	return ok;
}

/*
 * Hands the command over: its text into the memfd, then the working
 * directory and the file-size cap (KiB, 0: as started) to GO_FD. -1 when
 * the sandbox is gone (a standby that died while it waited).
 */
static int
sbx_go(struct sbx *s, const char *cwd, const char *command, long long fsize_kb)
{
	char		 hdr[4096 + 64];
	size_t		 len = strlen(command), off = 0, n, k;
	ssize_t		 w;

	if (cwd == NULL || *cwd == '\0' || strlen(cwd) >= 4096)
		cwd = "/workspace";
	while (off < len) {
		if ((w = pwrite(s->cmdfd, command + off, len - off, (off_t)off)) <= 0) {
			if (w == -1 && errno == EINTR)
				continue;
			return -1;
		}
		off += (size_t)w;
	}
	n = strlen(cwd) + 1;
	memcpy(hdr, cwd, n);
	n += (size_t)snprintf(hdr + n, sizeof(hdr) - n, "%lld", fsize_kb) + 1;
	for (off = 0; off < n; off += k) {
		if ((w = send(s->go, hdr + off, n - off, MSG_NOSIGNAL)) <= 0) {
			if (w == -1 && errno == EINTR) {
				k = 0;
				continue;
			}
			return -1;
		}
		k = (size_t)w;
	}
	close_fd(&s->go);
	return 0;
}

/* ---- the standby: the next command's sandbox, started ahead ---------------------- */

#define STANDBY_MAX_MS	60000.0	/* older: dropped, the command starts its own */

static struct sbx standby;
static int	 have_standby;

void
sandbox_standby_drop(void)
{
	if (!have_standby)
		return;
	have_standby = 0;
	sbx_release(&standby);
}

/* Takes the standby when it fits this command; else drops it. */
static int
standby_take(const struct config *cfg, const char *files_dir, int net,
    struct sbx *s)
{
	pid_t	 w;

	if (!have_standby)
		return 0;
	have_standby = 0;
	if (standby.owner != getpid() || standby.cfg != cfg || standby.net != net ||
	    strcmp(standby.dir, files_dir) != 0 ||
	    now_ms() - standby.born > STANDBY_MAX_MS) {
		sbx_release(&standby);
		return 0;
	}
	if ((w = waitpid(standby.pid, NULL, WNOHANG)) != 0) {
		if (w == standby.pid)
			standby.pid = 0;	/* reaped: its pid may be reused */
		sbx_release(&standby);
		return 0;
	}
	*s = standby;
	sbx_init(&standby);
	return 1;
}

static void
standby_start(const struct config *cfg, const char *files_dir, int net)
{
	if (!cfg->sandbox_prewarm || net || sandbox_unavailable(cfg) != NULL)
		return;
	if (have_standby && standby.owner == getpid() && standby.cfg == cfg &&
	    standby.net == net && strcmp(standby.dir, files_dir) == 0 &&
	    now_ms() - standby.born < STANDBY_MAX_MS / 2)
		return;
	sandbox_standby_drop();
	if (sbx_start(cfg, files_dir, NULL, net, &standby) == 0)
		have_standby = 1;
}

void
sandbox_prewarm(const struct config *cfg, const char *files_dir)
{
	standby_start(cfg, files_dir, cfg->sandbox_network && net_choice != 0);
}

/* ---- running a command ------------------------------------------------------------ */

int
sandbox_run(const struct config *cfg, const char *files_dir, const char *cwd,
    const char *command, int (*should_abort)(void *), void *arg_,
    struct sandbox_result *res)
{
	return sandbox_run_io(cfg, files_dir, cwd, command, should_abort, arg_,
	    NULL, res);
}

int
sandbox_run_io(const struct config *cfg, const char *files_dir, const char *cwd,
    const char *command, int (*should_abort)(void *), void *arg_,
    struct sandbox_io *io, struct sandbox_result *res)
{
	char		 chunk[65536], setup[SETUP_MAX];
	struct pollfd	 pfd[4];
	struct quota_usage qu;
	struct sbx	 s;
	int		 status = 0, open_fds, i, started = 0;
	int		 root = -1, net = cfg->sandbox_network && net_choice != 0;
	int		 pasta_died = 0;
	size_t		 total = 0, nsetup = 0;
	long long	 quota = quota_limit(cfg), room = -1, fsize, free0 = -1, fr;
	double		 t0 = now_ms(), deadline, last_walk = 0;
	pid_t		 pid = -1, pasta = -1;
	ssize_t		 r;

	sbx_init(&s);
	for (i = 0; i < 4; i++)
		pfd[i].fd = -1;
	setup[0] = '\0';
	if (sandbox_unavailable(cfg) != NULL) {
		snprintf(res->errmsg, sizeof(res->errmsg), "%.250s", sandbox_unavailable(cfg));
		res->failed = 1;
		goto out;
	}
	/*
	 * The workspace before the command: the room left under
	 * SESSION_DISK_QUOTA_MB (and setuid bits dropped, when it is walked:
	 * files also arrive through the files API or code-server; inside, the
	 * mount is nosuid anyway).
	 */
	if ((root = open(files_dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
	    O_CLOEXEC)) == -1) {
		snprintf(res->errmsg, sizeof(res->errmsg), "the session workspace is "
		    "unavailable: %s", strerror(errno));
		res->failed = 1;
		goto out;
	}
	/* (Over the quota per the cache: files may have been deleted since.) */
	if (!usage_cached(files_dir, &qu) || quota_over(cfg, &qu))
		quota_usage(root, 1, &qu);
	res->suid_stripped = qu.stripped;
	res->disk_quota = quota;
	fsize = cfg->sandbox_file_size_mb * 1024 * 1024;
	if (quota > 0) {
		room = qu.truncated ? 0 : quota - qu.bytes;
		/* Over the quota a command can still read and delete. */
		if (room < fsize) {
			fsize = room > FSIZE_FLOOR ? room : FSIZE_FLOOR;
			res->disk_room = fsize;
		}
		free0 = fs_free(root);
	}
	res->disk_before = qu.bytes;

	/*
	 * The standby of this workspace when there is one (MCP servers get
	 * their own: another stdin, another bind), else a sandbox started now;
	 * a standby that died while it waited is replaced the same way.
	 */
	if (io != NULL || !standby_take(cfg, files_dir, net, &s) ||
	    sbx_go(&s, cwd, command, res->disk_room / 1024) == -1) {
		sbx_release(&s);
		if (sbx_start(cfg, files_dir, io, net, &s) == -1 ||
		    sbx_go(&s, cwd, command, res->disk_room / 1024) == -1) {
			snprintf(res->errmsg, sizeof(res->errmsg), "%s", s.errmsg[0] ?
			    s.errmsg : "the sandbox stopped before its command");
			res->failed = 1;
			goto out;
		}
	}
	started = 1;
	pid = s.pid;
	pasta = s.pasta;
	s.pasta = -1;		/* ours from here on, like pid */
	if (s.errmsg[0] != '\0')
		snprintf(res->errmsg, sizeof(res->errmsg), "%s", s.errmsg);

	deadline = now_ms() + (io != NULL && io->timeout_ms > 0 ?
	    (double)io->timeout_ms : (double)cfg->sandbox_timeout * 1000.0);
	/* pfd owns the read ends from here on. */
	for (i = 0; i < 4; i++) {
		pfd[i].fd = s.rd[i];
		pfd[i].events = POLLIN;
		s.rd[i] = -1;
	}
	open_fds = 3;
	while (open_fds > 0) {
		if (now_ms() >= deadline) {
			res->timed_out = 1;
			break;
		}
		if (should_abort != NULL && should_abort(arg_)) {
			res->cancelled = 1;
			break;
		}
		/*
		 * The disk quota while the command runs: the filesystem's free
		 * space is a cheap signal; a walk, at most every QUOTA_WALK_MS,
		 * decides.
		 */
		if (quota > 0 && free0 >= 0 && (fr = fs_free(root)) >= 0 &&
		    free0 - fr > (room > 0 ? room : 0) + QUOTA_SLACK &&
		    now_ms() - last_walk >= QUOTA_WALK_MS) {
			struct quota_usage now;

			last_walk = now_ms();
			quota_usage(root, 0, &now);
			if (quota_over(cfg, &now) &&
			    now.bytes > res->disk_before + QUOTA_SLACK) {
				res->quota_exceeded = 2;	/* stopped for it */
				res->disk_used = now.bytes;
				break;
			}
		}
		/* Without pasta the command has no network: stop (and say why). */
		if (pasta > 0 && waitpid(pasta, NULL, WNOHANG) == pasta) {
			pasta = 0;
			pasta_died = 1;
			break;
		}
		if (poll(pfd, 4, 200) <= 0)
			continue;
		for (i = 0; i < 4; i++) {
			if (pfd[i].fd < 0 || !(pfd[i].revents & (POLLIN | POLLHUP | POLLERR)))
				continue;
			r = read(pfd[i].fd, chunk, sizeof(chunk));
			if (r <= 0) {
				close_fd(&pfd[i].fd);
				if (i < 3)
					open_fds--;
				continue;
			}
			if (i == 3) {
				if (nsetup < sizeof(setup) - 1) {
					size_t k = (size_t)r < sizeof(setup) - 1 - nsetup ?
					    (size_t)r : sizeof(setup) - 1 - nsetup;

					memcpy(setup + nsetup, chunk, k);
					nsetup += k;
					setup[nsetup] = '\0';
				}
				continue;
			}
			total += (size_t)r;
			if (i == 0 && io != NULL && io->on_stdout != NULL) {
				if (io->on_stdout(io->arg, chunk, (size_t)r) != 0) {
					io->done = 1;
					break;
				}
			} else if (i == 0)
				take(&res->out, &res->out_dropped, chunk, (size_t)r);
			else if (i == 1)
				take(&res->err, &res->err_dropped, chunk, (size_t)r);
			else if ((size_t)r < sizeof(res->cwd) - strlen(res->cwd))
				strncat(res->cwd, chunk, (size_t)r);
		}
		if (io != NULL && io->done)
			break;
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
	s.pid = 0;		/* reaped */
	if (pasta > 0) {
		kill(pasta, SIGKILL);
		while (waitpid(pasta, NULL, 0) == -1 && errno == EINTR)
			;
	}
	/* The child's setup messages (and pasta's), all writers gone now. */
	if (pfd[3].fd >= 0) {
		while (nsetup < sizeof(setup) - 1 && (r = read(pfd[3].fd,
		    setup + nsetup, sizeof(setup) - 1 - nsetup)) > 0)
			nsetup += (size_t)r;
		setup[nsetup] = '\0';
	}
	if (strncmp(setup, "sandbox: ", 9) == 0) {
		setup[strcspn(setup, "\n")] = '\0';
		snprintf(res->errmsg, sizeof(res->errmsg), "%.250s", setup + 9);
		res->failed = 1;
	} else if (pasta_died) {
		setup[strcspn(setup, "\n")] = '\0';
		snprintf(res->errmsg, sizeof(res->errmsg), "the sandbox's network "
		    "stopped: %s exited%s%.180s", cfg->sandbox_pasta,
		    setup[0] ? ": " : "", setup);
		res->failed = 1;
	} else if (net && pasta == -1 && res->errmsg[0] == '\0') {
		snprintf(res->errmsg, sizeof(res->errmsg), "the sandbox's network "
		    "could not be set up");
		res->failed = 1;
	}
	if (WIFEXITED(status))
		res->exit_code = WEXITSTATUS(status);
	else if (WIFSIGNALED(status))
		res->exit_code = 128 + WTERMSIG(status);
	if (res->timed_out || res->cancelled)
		res->exit_code = res->timed_out ? 124 : 130;
	res->oom_killed = cg_oom_kills(&s.cg) > 0;
out:
	sbx_release(&s);
	/* After: setuid bits dropped again, and the use to report. */
	if (root >= 0 && started) {
		quota_usage(root, 1, &qu);
		usage_remember(files_dir, &qu);
		res->suid_stripped += qu.stripped;
		res->disk_used = qu.bytes;
		res->disk_truncated = qu.truncated;
		if (quota_over(cfg, &qu) && !res->quota_exceeded)
			res->quota_exceeded = 1;
	}
	res->duration_ms = now_ms() - t0;
	for (i = 0; i < 4; i++)
		close_fd(&pfd[i].fd);
	close_fd(&root);
	/* The next command of this workspace finds its sandbox started. */
	if (io == NULL && started && !res->failed)
		standby_start(cfg, files_dir, net);
	return res->failed ? -1 : 0;
}
