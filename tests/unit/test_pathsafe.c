/*
 * test_pathsafe: the one host-side tree remover (ps_remove_tree_at,
 * fsutil_remove_tree) against what an agent can leave in a
 * workspace: symlinks to the host, directories without permissions, trees
 * deeper than the walker's stack, and a process that keeps exchanging a
 * directory with a symlink to a canary directory while the tree is removed.
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "fsutil.h"
#include "pathsafe.h"
#include "tap.h"

#define NCANARY		200

static char	 top[PATH_MAX];

/* snprintf into a PATH_MAX buffer. */
static void pf(char *, const char *, ...) __attribute__((format(printf, 2, 3)));
static void
pf(char *out, const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	vsnprintf(out, PATH_MAX, fmt, ap);
	va_end(ap);
}

static void
put(const char *path, const char *text)
{
	FILE	*f = fopen(path, "w");

	if (f != NULL) {
		fputs(text, f);
		fclose(f);
	}
}

static void
mkcanary(const char *dir)
{
	char	 p[PATH_MAX];
	int	 i;

	mkdir(dir, 0755);
	pf(p, "%s/sub", dir);
	mkdir(p, 0755);
	pf(p, "%s/sub/x", dir);
	put(p, "keep\n");
	for (i = 0; i < NCANARY; i++) {
		pf(p, "%s/c%d", dir, i);
		put(p, "keep\n");
	}
}

static int
canaries(const char *dir)
{
	char		 p[PATH_MAX], b[16];
	struct stat	 st;
	int		 i, n = 0;
	FILE		*f;

	for (i = -1; i < NCANARY; i++) {
		if (i < 0)
			pf(p, "%s/sub/x", dir);
		else
			pf(p, "%s/c%d", dir, i);
		if (lstat(p, &st) == -1 || !S_ISREG(st.st_mode) ||
		    (f = fopen(p, "r")) == NULL)
			continue;
		if (fgets(b, sizeof(b), f) != NULL && strcmp(b, "keep\n") == 0)
			n++;
		fclose(f);
	}
	return n;
}

static int
exists(const char *path)
{
	struct stat	 st;

	return lstat(path, &st) == 0;
}

static int
open_top(void)
{
	return open(top, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
}

/* A chain of depth directories a/a/a/... with a file at the bottom. */
static int
deep_tree(const char *name, int depth)
{
	int	 fd, sub, i;

	if ((fd = open_top()) == -1 || mkdirat(fd, name, 0755) == -1)
		return -1;
	sub = openat(fd, name, O_RDONLY | O_DIRECTORY);
	close(fd);
	for (i = 0; i < depth && sub != -1; i++) {
		if (mkdirat(sub, "a", 0755) == -1)
			break;
		fd = openat(sub, "a", O_RDONLY | O_DIRECTORY);
		close(sub);
		sub = fd;
	}
	if (sub == -1)
		return -1;
	fd = openat(sub, "bottom", O_WRONLY | O_CREAT, 0644);
	if (fd != -1)
		close(fd);
	close(sub);
	return i == depth ? 0 : -1;
}

/*
 * The attack: in dir, d/ holds files named like the canaries and l is a
 * symlink to the canaries; a child exchanges d and l in a loop.
 */
static pid_t
start_swapper(const char *dir, const char *canary_dir)
{
	char	 p[PATH_MAX];
	pid_t	 pid;
	int	 i;

	pf(p, "%s/d", dir);
	mkdir(p, 0755);
	pf(p, "%s/d/sub", dir);
	mkdir(p, 0755);
	pf(p, "%s/d/sub/x", dir);
	put(p, "mine\n");
	for (i = 0; i < NCANARY; i++) {
		pf(p, "%s/d/c%d", dir, i);
		put(p, "mine\n");
	}
	pf(p, "%s/l", dir);
	if (symlink(canary_dir, p) == -1)
		return -1;
	if ((pid = fork()) != 0)
		return pid;
	if (chdir(dir) == -1)
		_exit(1);
	for (;;)
		(void)renameat2(AT_FDCWD, "d", AT_FDCWD, "l", RENAME_EXCHANGE);
}

/* The old, path-based removal: only for the control below. */
static int
rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)ftw;
	if (flag == FTW_DP || flag == FTW_D)
		(void)rmdir(path);
	else
		(void)unlink(path);
	return 0;
}

static void
stop(pid_t pid)
{
	int	 st;

	kill(pid, SIGKILL);
	while (waitpid(pid, &st, 0) == -1 && errno == EINTR)
		;
}

int
main(void)
{
	char		 p[PATH_MAX], q[PATH_MAX], canary[PATH_MAX];
	struct timespec	 ts = { 0, 20 * 1000000L };
	int		 fd, round, lost;
	pid_t		 pid;

	snprintf(top, sizeof(top), "%s/cw-ps-XXXXXX", getenv("TMPDIR") ?
	    getenv("TMPDIR") : "/tmp");
	if (mkdtemp(top) == NULL) {
		printf("Bail out! mkdtemp: %s\n", strerror(errno));
		return 1;
	}
	pf(canary, "%s/canary", top);
	mkcanary(canary);

	/* 1. Symlinks are removed as links, never followed. */
	pf(p, "%s/t1", top);
	mkdir(p, 0755);
	pf(q, "%s/t1/link", top);
	ok(symlink(canary, q) == 0, "a symlink to the canaries in the tree");
	pf(q, "%s/t1/sub", top);
	mkdir(q, 0755);
	pf(q, "%s/t1/sub/link2", top);
	(void)!symlink(canary, q);
	fd = open_top();
	ok(ps_remove_tree_at(fd, "t1", 0) == 0, "ps_remove_tree_at removes the tree");
	ok(!exists(p), "... all of it");
	ok(canaries(canary) == NCANARY + 1, "... without following its symlinks");
	ok(ps_remove_tree_at(fd, "t1", 0) == 0, "a missing name is not an error");
	ok(ps_remove_tree_at(fd, "..", 0) == -1 && errno == EINVAL, "'..' is refused");
	ok(ps_remove_tree_at(fd, "a/b", 0) == -1 && errno == EINVAL,
	    "a name with a slash is refused");

	/* A symlink as the top name: the link goes, not its target. */
	pf(q, "%s/toplink", top);
	(void)!symlink(canary, q);
	ok(ps_remove_tree_at(fd, "toplink", 0) == 0 && !exists(q) &&
	    canaries(canary) == NCANARY + 1, "a top-level symlink is unlinked, "
	    "its target untouched");

	/* 2. Directories without permissions (chmod 000) are removed. */
	pf(p, "%s/t2/locked/inner", top);
	fsutil_mkdirs(p);
	pf(q, "%s/t2/locked/inner/f", top);
	put(q, "x");
	chmod(p, 0);
	pf(p, "%s/t2/locked", top);
	chmod(p, 0);
	ok(ps_remove_tree_at(fd, "t2", 0) == 0, "a tree with mode-000 directories "
	    "is removed");
	pf(p, "%s/t2", top);
	ok(!exists(p), "... entirely");

	/* 3. Deeper than the walker's stack: moved up and removed too. */
	ok(deep_tree("t3", PS_WALK_DEPTH * 3 + 7) == 0, "a tree %d levels deep",
	    PS_WALK_DEPTH * 3 + 7);
	ok(ps_remove_tree_at(fd, "t3", 0) == 0, "ps_remove_tree_at removes it");
	pf(p, "%s/t3", top);
	ok(!exists(p), "... entirely");

	/* 4. fsutil_remove_tree is the same walker behind a path. */
	pf(p, "%s/t4/a/b", top);
	fsutil_mkdirs(p);
	pf(q, "%s/t4/a/b/link", top);
	(void)!symlink(canary, q);
	pf(p, "%s/t4/", top);
	ok(fsutil_remove_tree(p) == 0, "fsutil_remove_tree (trailing slash)");
	pf(p, "%s/t4", top);
	ok(!exists(p) && canaries(canary) == NCANARY + 1, "... removed it, canaries "
	    "intact");
	ok(fsutil_remove_tree(p) == 0, "... a missing path is not an error");
	ok(fsutil_remove_tree("/") == -1, "... '/' is refused");

	/*
	 * 5. The race: remove a tree while a process exchanges d with a
	 * symlink to the canaries. (A path-based rm, nftw included, deletes
	 * canaries here within a few rounds.)
	 */
	lost = 0;
	for (round = 0; round < 20; round++) {
		pf(p, "%s/t6", top);
		mkdir(p, 0755);
		if ((pid = start_swapper(p, canary)) == -1) {
			ok(0, "cannot start the swapper");
			break;
		}
		nanosleep(&ts, NULL);
		(void)ps_remove_tree_at(fd, "t6", 2000);
		stop(pid);
		/* What the race left (the swapper recreated nothing: it only swaps). */
		ps_remove_tree_at(fd, "t6", 0);
		lost += NCANARY + 1 - canaries(canary);
		if (canaries(canary) != NCANARY + 1)
			mkcanary(canary);
	}
	ok(lost == 0, "20 removals racing a d <-> symlink exchanger lost no canary "
	    "(%d lost)", lost);
	pf(p, "%s/t6", top);
	ok(!exists(p), "... and the tree is gone");

	/* Control: the same race against nftw (what sessions_delete used). */
	lost = 0;
	for (round = 0; round < 10; round++) {
		pf(p, "%s/t7", top);
		mkdir(p, 0755);
		if ((pid = start_swapper(p, canary)) == -1)
			break;
		nanosleep(&ts, NULL);
		nftw(p, rm_entry, 32, FTW_DEPTH | FTW_PHYS | FTW_MOUNT);
		stop(pid);
		ps_remove_tree_at(fd, "t7", 0);
		lost += NCANARY + 1 - canaries(canary);
		mkcanary(canary);
	}
	printf("# control: a path-based nftw removal under the same race lost %d "
	    "canaries in 10 rounds\n", lost);

	close(fd);
	fsutil_remove_tree(top);
	return done_testing();
}
