#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <linux/openat2.h>

#include "fsutil.h"
#include "pathsafe.h"

int
ps_open_root(const char *dir)
{
	return open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
}

int
ps_normalize(const char *path, enum ps_dots dots, char *out, size_t cap)
{
	const char	*p = path, *seg;
	size_t		 o = 0, n;

	if (path == NULL || strlen(path) >= PS_PATH_MAX || cap == 0) {
		errno = ENAMETOOLONG;
		return -1;
	}
	while (*p != '\0') {
		while (*p == '/')
			p++;
		if (*p == '\0')
			break;
		seg = p;
		while (*p != '\0' && *p != '/')
			p++;
		n = (size_t)(p - seg);
		if (n == 1 && seg[0] == '.')
			continue;
		if (n == 2 && seg[0] == '.' && seg[1] == '.' && dots != PS_DOTS_KEEP) {
			if (dots == PS_DOTS_REFUSE || o == 0) {
				errno = EXDEV;	/* climbing out */
				return -1;
			}
			while (o > 0 && out[o - 1] != '/')
				o--;
			if (o > 0)
				o--;
			continue;
		}
		if (o + n + 2 > cap) {
			errno = ENAMETOOLONG;
			return -1;
		}
		if (o > 0)
			out[o++] = '/';
		memcpy(out + o, seg, n);
		o += n;
	}
	out[o] = '\0';
	return 0;
}

int
ps_relative(const char *path, char *out, size_t cap)
{
	return ps_normalize(path, PS_DOTS_REFUSE, out, cap);
}

int
ps_openat(int root, const char *rel, int flags, mode_t mode)
{
	struct open_how	 how;
	long		 fd;

	memset(&how, 0, sizeof(how));
	how.flags = (unsigned long long)(flags | O_CLOEXEC);
	if (flags & O_CREAT)
		how.mode = mode;
	how.resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS;
	do {
		fd = syscall(SYS_openat2, root, rel[0] ? rel : ".", &how, sizeof(how));
	} while (fd == -1 && errno == EAGAIN);
	return (int)fd;
}

int
ps_read_file(int root, const char *rel, size_t cap, struct buf *out)
{
	struct stat	 st;
	char		 chunk[65536];
	ssize_t		 n;
	int		 fd;

	/* O_NONBLOCK: a FIFO planted in files/ must not block the reader. */
	if ((fd = ps_openat(root, rel, O_RDONLY | O_NONBLOCK, 0)) == -1)
		return -1;
	if (fstat(fd, &st) == -1 || !S_ISREG(st.st_mode)) {
		close(fd);
		errno = S_ISDIR(st.st_mode) ? EISDIR : EINVAL;
		return -1;
	}
	if ((size_t)st.st_size > cap) {
		close(fd);
		errno = EFBIG;
		return -1;
	}
	while ((n = read(fd, chunk, sizeof(chunk))) > 0)
		if (buf_append(out, chunk, (size_t)n) == -1) {
			close(fd);
			errno = EFBIG;
			return -1;
		}
	close(fd);
	return n < 0 ? -1 : 0;
}

int
ps_open_parent(int root, const char *rel, const char **base, char *tmp,
    size_t cap)
{
	const char	*slash = strrchr(rel, '/');

	if (rel[0] == '\0') {
		errno = EINVAL;
		return -1;
	}
	if (slash == NULL) {
		*base = rel;
		tmp[0] = '\0';
	} else {
		if ((size_t)(slash - rel) >= cap) {
			errno = ENAMETOOLONG;
			return -1;
		}
		memcpy(tmp, rel, (size_t)(slash - rel));
		tmp[slash - rel] = '\0';
		*base = slash + 1;
	}
	return ps_openat(root, tmp, O_PATH | O_DIRECTORY, 0);
}

/*
 * Lexically joins the directory of rel with a relative symlink target,
 * resolving "..": a result above the root is EXDEV. (The final open still
 * goes through openat2, so a lexical mistake cannot escape either.)
 */
static int
join_link(const char *rel, const char *target, char *out, size_t cap)
{
	char		 tmp[PS_PATH_MAX * 2];
	const char	*slash = strrchr(rel, '/');

	if (target[0] == '/') {
		errno = EXDEV;
		return -1;
	}
	if (snprintf(tmp, sizeof(tmp), "%.*s%s%s", slash ? (int)(slash - rel) : 0,
	    rel, slash ? "/" : "", target) >= PS_PATH_MAX) {
		errno = ENAMETOOLONG;
		return -1;
	}
	return ps_normalize(tmp, PS_DOTS_RESOLVE, out, cap);
}

int
ps_write_file(int root, const char *rel, const void *data, size_t len,
    int create_only)
{
	char		 dir[PS_PATH_MAX], tmp[64], target[PS_PATH_MAX], cur[PS_PATH_MAX];
	const char	*base, *p = data;
	struct stat	 st;
	ssize_t		 n;
	int		 dfd, fd, saved, hops, exists = 0;

	snprintf(cur, sizeof(cur), "%s", rel);
	/* Writing to a symlink inside the workspace writes its target. */
	for (hops = 0;; hops++) {
		if ((dfd = ps_open_parent(root, cur, &base, dir, sizeof(dir))) == -1)
			return -1;
		if (fstatat(dfd, base, &st, AT_SYMLINK_NOFOLLOW) == -1 ||
		    !S_ISLNK(st.st_mode) || create_only)
			break;
		if (hops == 8 || (n = readlinkat(dfd, base, target,
		    sizeof(target) - 1)) <= 0) {
			close(dfd);
			errno = ELOOP;
			return -1;
		}
		target[n] = '\0';
		close(dfd);
		if (join_link(cur, target, cur, sizeof(cur)) == -1)	/* reads cur first */
			return -1;
	}
	if (fstatat(dfd, base, &st, AT_SYMLINK_NOFOLLOW) == 0) {
		if (create_only) {
			close(dfd);
			errno = EEXIST;
			return -1;
		}
		if (S_ISDIR(st.st_mode)) {
			close(dfd);
			errno = EISDIR;
			return -1;
		}
		exists = S_ISREG(st.st_mode);
	}
	snprintf(tmp, sizeof(tmp), ".cw-tmp-%ld-%d", (long)getpid(), rand());
	fd = openat(dfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
	    0644);
	if (fd == -1) {
		saved = errno;
		close(dfd);
		errno = saved;
		return -1;
	}
	/* An edit keeps the file's mode and owner (a 0600 file stays private). */
	if (exists) {
		fchmod(fd, st.st_mode & 07777);
		if (fchown(fd, st.st_uid, st.st_gid) == -1)
			(void)0;
	}
	if (fsutil_write_all(fd, p, len) == -1)
		goto fail;
	close(fd);
	fd = -1;
	/* renameat replaces a symlink itself, never what it points to. */
	if (renameat(dfd, tmp, dfd, base) == -1)
		goto fail;
	fsync(dfd);
	close(dfd);
	return 0;
fail:
	saved = errno;
	if (fd != -1)
		close(fd);
	unlinkat(dfd, tmp, 0);
	close(dfd);
	errno = saved;
	return -1;
}

int
ps_unlink(int root, const char *rel)
{
	char		 dir[PS_PATH_MAX];
	const char	*base;
	struct stat	 st;
	int		 dfd, rc, saved;

	if ((dfd = ps_open_parent(root, rel, &base, dir, sizeof(dir))) == -1)
		return -1;
	rc = fstatat(dfd, base, &st, AT_SYMLINK_NOFOLLOW);
	if (rc == 0)
		rc = unlinkat(dfd, base, S_ISDIR(st.st_mode) ? AT_REMOVEDIR : 0);
	saved = errno;
	close(dfd);
	errno = saved;
	return rc;
}

/*
 * The one host-side tree remover. Every tree the server removes (a session
 * being deleted, the quarantine, a failed creation, a files API delete,
 * fsutil_remove_tree) goes through walk(), which never resolves a path: each step
 * is openat(O_DIRECTORY | O_NOFOLLOW) or unlinkat() relative to a
 * directory it holds open, so a directory swapped for a symlink (even in a
 * loop, from a sandbox that is still running) is at worst unlinked as a
 * link, never entered. It does not cross mount points. The stack of open
 * directories is explicit and bounded (PS_WALK_DEPTH); when removing, a
 * directory deeper than that is moved up to the top of the tree and
 * removed in a later pass, so any depth is handled with bounded memory.
 * Every walk has a deadline.
 */
struct ps_frame {
	DIR	*d;
	int	 fd;			/* dirfd(d) */
	int	 passes;		/* rewinds after ENOTEMPTY */
	int	 chmodded;
	char	 name[NAME_MAX + 1];	/* its name in the parent frame */
};

struct ps_walk {
	struct ps_frame		*f;
	int			 n;		/* frames in use */
	int			 base;		/* holds the top name */
	dev_t			 dev;
	int64_t			 deadline;	/* CLOCK_MONOTONIC ms */
	unsigned long long	 entries;
	unsigned		 spilled;
	int			 err;		/* first errno */
};

static int64_t
mono_ms(void)
{
	struct timespec	 ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void
walk_fail(struct ps_walk *w, int e)
{
	if (w->err == 0)
		w->err = e;
}

/*
 * Opens name in dfd as a directory, never through a symlink. A directory
 * without read or search permission for its owner (us) is given them
 * (fchmodat with AT_SYMLINK_NOFOLLOW acts on the entry itself, never on a
 * link's target).
 */
static int
open_dir_nofollow(int dfd, const char *name)
{
	int	 fd;

	fd = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd == -1 && errno == EACCES &&
	    fchmodat(dfd, name, 0700, AT_SYMLINK_NOFOLLOW) == 0)
		fd = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
		    O_CLOEXEC);
	return fd;
}

/* Pushes the directory open at fd; takes fd. -1 when it cannot be walked. */
static int
walk_push(struct ps_walk *w, int fd, const char *name)
{
	struct ps_frame	*fr;
	struct stat	 st;
	DIR		*d;

	if (fstat(fd, &st) == -1) {
		walk_fail(w, errno);
		close(fd);
		return -1;
	}
	if (w->n > 0 && st.st_dev != w->dev) {
		walk_fail(w, EXDEV);	/* a mount point: never crossed */
		close(fd);
		return -1;
	}
	if (w->n == 0)
		w->dev = st.st_dev;
	if ((st.st_mode & 0700) != 0700)
		(void)fchmod(fd, (st.st_mode & 07777) | 0700);
	if ((d = fdopendir(fd)) == NULL) {
		walk_fail(w, errno);
		close(fd);
		return -1;
	}
	fr = &w->f[w->n++];
	memset(fr, 0, sizeof(*fr));
	fr->d = d;
	fr->fd = dirfd(d);
	snprintf(fr->name, sizeof(fr->name), "%s", name);
	return 0;
}

/* Done with the top frame: removes it (or rewinds it for another pass). */
static void
walk_leave(struct ps_walk *w)
{
	struct ps_frame	*fr = &w->f[w->n - 1];
	int		 parent = w->n > 1 ? w->f[w->n - 2].fd : w->base;
	int		 limit = 3 + (w->n == 1 ? (int)w->spilled : 0);

	if (unlinkat(parent, fr->name, AT_REMOVEDIR) == -1 && errno != ENOENT) {
		if ((errno == ENOTEMPTY || errno == EEXIST) && fr->passes < limit) {
			/* Entries appeared meanwhile, or spilled ones. */
			fr->passes++;
			rewinddir(fr->d);
			return;
		}
		walk_fail(w, errno);
	}
	closedir(fr->d);
	w->n--;
}

/* One entry of the top frame. */
static void
walk_entry(struct ps_walk *w, const char *name)
{
	struct ps_frame	*fr = &w->f[w->n - 1];
	char		 tmp[64];
	int		 sub;

	w->entries++;
	if (unlinkat(fr->fd, name, 0) == 0 || errno == ENOENT)
		return;
	if ((errno == EACCES || errno == EPERM) && !fr->chmodded) {
		/* A directory we may not write: make it ours again. */
		fr->chmodded = 1;
		(void)fchmod(fr->fd, 0700);
		if (unlinkat(fr->fd, name, 0) == 0 || errno == ENOENT)
			return;
	}
	if (errno != EISDIR) {
		walk_fail(w, errno);
		return;
	}
	/* A directory. */
	if (w->n == PS_WALK_DEPTH) {
		/* Too deep for the stack: move it to the top, remove it later. */
		snprintf(tmp, sizeof(tmp), ".cw-deep-%ld-%u", (long)getpid(),
		    ++w->spilled);
		if (renameat(fr->fd, name, w->f[0].fd, tmp) == -1 && errno != ENOENT)
			walk_fail(w, errno);
		return;
	}
	if ((sub = open_dir_nofollow(fr->fd, name)) == -1) {
		if (errno == ENOENT)
			return;
		/* Swapped for a link or a file since: remove that instead. */
		if (errno == ENOTDIR || errno == ELOOP) {
			if (unlinkat(fr->fd, name, 0) == -1 && errno != ENOENT)
				walk_fail(w, errno);
			return;
		}
		walk_fail(w, errno);
		return;
	}
	(void)walk_push(w, sub, name);
}

/*
 * Removes the tree at name in the directory base. 0 when it is gone, else
 * -1 with errno: the first problem met (the walk goes on past problems, so
 * as much as possible is gone), ETIMEDOUT past the deadline, E2BIG past
 * the entry cap.
 */
static int
walk(struct ps_walk *w, int base, const char *name)
{
	struct dirent	*e;
	struct stat	 st;
	int		 fd;

	if (name[0] == '\0' || strchr(name, '/') != NULL ||
	    strcmp(name, ".") == 0 || strcmp(name, "..") == 0) {
		errno = EINVAL;
		return -1;
	}
	w->base = base;
	if ((w->f = calloc(PS_WALK_DEPTH, sizeof(*w->f))) == NULL)
		return -1;
	fd = open_dir_nofollow(base, name);
	if (fd == -1) {
		if (errno == ENOENT)
			;
		else if (errno != ENOTDIR && errno != ELOOP)
			walk_fail(w, errno);
		else if (unlinkat(base, name, 0) == -1 && errno != ENOENT)
			walk_fail(w, errno);	/* a file or a link: itself */
	} else
		(void)walk_push(w, fd, name);
	while (w->n > 0) {
		if ((w->entries & 255) == 0 && mono_ms() > w->deadline) {
			walk_fail(w, ETIMEDOUT);
			break;
		}
		if (w->entries >= PS_WALK_MAX_ENTRIES) {
			walk_fail(w, E2BIG);
			break;
		}
		errno = 0;
		if ((e = readdir(w->f[w->n - 1].d)) == NULL) {
			if (errno != 0)
				walk_fail(w, errno);
			walk_leave(w);
			continue;
		}
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		walk_entry(w, e->d_name);
	}
	while (w->n > 0)
		closedir(w->f[--w->n].d);
	free(w->f);
	/* Removing: what counts is that the tree is gone. */
	if (w->err != 0 && w->err != ETIMEDOUT &&
	    fstatat(base, name, &st, AT_SYMLINK_NOFOLLOW) == -1 && errno == ENOENT)
		w->err = 0;
	if (w->err != 0) {
		errno = w->err;
		return -1;
	}
	return 0;
}

int
ps_remove_tree_at(int dirfd, const char *name, int budget_ms)
{
	struct ps_walk	 w;

	memset(&w, 0, sizeof(w));
	w.deadline = mono_ms() + (budget_ms > 0 ? budget_ms : PS_WALK_BUDGET_MS);
	return walk(&w, dirfd, name);
}

int
ps_remove_tree(int root, const char *rel)
{
	char		 dir[PS_PATH_MAX];
	const char	*base;
	struct stat	 st;
	int		 dfd, rc, saved;

	if ((dfd = ps_open_parent(root, rel, &base, dir, sizeof(dir))) == -1)
		return -1;
	if (fstatat(dfd, base, &st, AT_SYMLINK_NOFOLLOW) == -1)
		rc = -1;	/* ENOENT: the caller answers 404 */
	else
		rc = ps_remove_tree_at(dfd, base, 0);
	saved = errno;
	close(dfd);
	errno = saved;
	return rc;
}

int
ps_mkdir(int root, const char *rel)
{
	char		 dir[PS_PATH_MAX];
	const char	*base;
	int		 dfd, rc, saved;

	if ((dfd = ps_open_parent(root, rel, &base, dir, sizeof(dir))) == -1)
		return -1;
	rc = mkdirat(dfd, base, 0755);
	saved = errno;
	close(dfd);
	errno = saved;
	return rc;
}

int
ps_rename(int root, const char *from, const char *to)
{
	char		 d1[PS_PATH_MAX], d2[PS_PATH_MAX];
	const char	*b1, *b2;
	int		 f1, f2, rc, saved;

	if ((f1 = ps_open_parent(root, from, &b1, d1, sizeof(d1))) == -1)
		return -1;
	if ((f2 = ps_open_parent(root, to, &b2, d2, sizeof(d2))) == -1) {
		saved = errno;
		close(f1);
		errno = saved;
		return -1;
	}
	rc = renameat2(f1, b1, f2, b2, RENAME_NOREPLACE);
	saved = errno;
	close(f1);
	close(f2);
	errno = saved;
	return rc;
}
