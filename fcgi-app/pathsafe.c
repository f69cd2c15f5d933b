#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
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

/* Removes everything below the directory open at dfd, never following links. */
static int
clear_dir(int dfd, int depth)
{
	DIR		*d;
	struct dirent	*e;
	int		 fd, sub, rc = 0;

	if (depth > 128 || (fd = dup(dfd)) == -1 || (d = fdopendir(fd)) == NULL)
		return -1;
	while ((e = readdir(d)) != NULL) {
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		if (unlinkat(dfd, e->d_name, 0) == 0)
			continue;
		if (errno != EISDIR && errno != EPERM) {
			rc = -1;
			continue;
		}
		sub = openat(dfd, e->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
		    O_CLOEXEC);
		if (sub == -1 || clear_dir(sub, depth + 1) == -1)
			rc = -1;
		if (sub != -1)
			close(sub);
		if (unlinkat(dfd, e->d_name, AT_REMOVEDIR) == -1)
			rc = -1;
	}
	closedir(d);
	return rc;
}

int
ps_remove_tree(int root, const char *rel)
{
	char		 dir[PS_PATH_MAX];
	const char	*base;
	struct stat	 st;
	int		 dfd, sub, rc;

	if ((dfd = ps_open_parent(root, rel, &base, dir, sizeof(dir))) == -1)
		return -1;
	if ((rc = fstatat(dfd, base, &st, AT_SYMLINK_NOFOLLOW)) == 0) {
		if (S_ISDIR(st.st_mode)) {
			sub = openat(dfd, base, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
			    O_CLOEXEC);
			rc = sub == -1 ? -1 : clear_dir(sub, 0);
			if (sub != -1)
				close(sub);
			if (rc == 0)
				rc = unlinkat(dfd, base, AT_REMOVEDIR);
		} else
			rc = unlinkat(dfd, base, 0);
	}
	close(dfd);
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
