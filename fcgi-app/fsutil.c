#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fsutil.h"
#include "pathsafe.h"

static int
fsync_dir_of(const char *path)
{
	char	 dir[PATH_MAX];
	char	*slash;
	int	 fd, rc;

	snprintf(dir, sizeof(dir), "%s", path);
	if ((slash = strrchr(dir, '/')) == NULL)
		return 0;
	*slash = '\0';
	if ((fd = open(dir[0] ? dir : "/", O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1)
		return -1;
	rc = fsync(fd);
	close(fd);
	return rc;
}

int
fsutil_write_all(int fd, const void *data, size_t len)
{
	const char	*p = data;
	size_t		 off = 0;
	ssize_t		 n;

	while (off < len) {
		n = write(fd, p + off, len - off);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0) {
			if (n == 0)
				errno = EIO;
			return -1;
		}
		off += (size_t)n;
	}
	return fsync(fd);
}

int
fsutil_write_atomic(const char *path, const void *data, size_t len)
{
	char		 tmp[PATH_MAX];
	int		 fd, saved;

	if (snprintf(tmp, sizeof(tmp), "%s.tmp.%ld", path, (long)getpid()) >=
	    (int)sizeof(tmp)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0640);
	if (fd == -1)
		return -1;
	if (fsutil_write_all(fd, data, len) == -1)
		goto fail;
	close(fd);
	if (rename(tmp, path) == -1) {
		saved = errno;
		unlink(tmp);
		errno = saved;
		return -1;
	}
	return fsync_dir_of(path);
fail:
	saved = errno;
	close(fd);
	unlink(tmp);
	errno = saved;
	return -1;
}

int
fsutil_mkdirs(const char *path)
{
	char	 p[PATH_MAX];
	size_t	 i;

	if (snprintf(p, sizeof(p), "%s", path) >= (int)sizeof(p)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	for (i = 1; p[i] != '\0'; i++) {
		if (p[i] != '/')
			continue;
		p[i] = '\0';
		if (mkdir(p, 0750) == -1 && errno != EEXIST)
			return -1;
		p[i] = '/';
	}
	if (mkdir(p, 0750) == -1 && errno != EEXIST)
		return -1;
	return 0;
}

static int
copy_file(int sdir, int ddir, const char *name, mode_t mode)
{
	char	 b[65536];
	ssize_t	 n;
	int	 in, out, rc = 0;

	if ((in = openat(sdir, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)) == -1)
		return -1;
	out = openat(ddir, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW |
	    O_CLOEXEC, mode & 0755);
	if (out == -1) {
		close(in);
		return -1;
	}
	while ((n = read(in, b, sizeof(b))) > 0)
		if (write(out, b, (size_t)n) != n) {
			rc = -1;
			break;
		}
	if (n < 0)
		rc = -1;
	close(in);
	close(out);
	return rc;
}

/* Copies the directory open at sdir into the directory open at ddir. */
static int
copy_dir(int sdir, int ddir, int depth)
{
	DIR		*d;
	struct dirent	*e;
	struct stat	 st;
	int		 sfd, dfd, rc = 0;

	if (depth > 64)
		return -1;
	if ((sfd = dup(sdir)) == -1 || (d = fdopendir(sfd)) == NULL)
		return -1;
	while ((e = readdir(d)) != NULL) {
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		if (fstatat(sdir, e->d_name, &st, AT_SYMLINK_NOFOLLOW) == -1)
			continue;
		if (S_ISREG(st.st_mode)) {
			if (copy_file(sdir, ddir, e->d_name, st.st_mode) == -1)
				rc = -1;
		} else if (S_ISDIR(st.st_mode)) {
			if (mkdirat(ddir, e->d_name, 0750) == -1 && errno != EEXIST) {
				rc = -1;
				continue;
			}
			sfd = openat(sdir, e->d_name, O_RDONLY | O_DIRECTORY |
			    O_NOFOLLOW | O_CLOEXEC);
			dfd = openat(ddir, e->d_name, O_RDONLY | O_DIRECTORY |
			    O_NOFOLLOW | O_CLOEXEC);
			if (sfd == -1 || dfd == -1 || copy_dir(sfd, dfd, depth + 1) == -1)
				rc = -1;
			if (sfd != -1)
				close(sfd);
			if (dfd != -1)
				close(dfd);
		}
		/* Symlinks, devices and sockets are not copied. */
	}
	closedir(d);
	return rc;
}

int
fsutil_copy_tree(const char *src, const char *dst)
{
	int	 s, d, rc;

	if ((s = open(src, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)) == -1)
		return -1;
	if ((d = open(dst, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)) == -1) {
		close(s);
		return -1;
	}
	rc = copy_dir(s, d, 0);
	close(s);
	close(d);
	return rc;
}

/* The parent directory of path opened, by path (the caller's own path). */
int
fsutil_remove_tree(const char *path)
{
	char		 dir[PATH_MAX];
	const char	*base;
	char		*slash;
	int		 dfd, rc, saved;

	if (snprintf(dir, sizeof(dir), "%s", path) >= (int)sizeof(dir)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	while ((slash = strrchr(dir, '/')) != NULL && slash[1] == '\0' &&
	    slash != dir)
		*slash = '\0';		/* trailing slashes */
	if ((slash = strrchr(dir, '/')) == NULL) {
		base = path;
		dfd = open(".", O_PATH | O_DIRECTORY | O_CLOEXEC);
	} else {
		*slash = '\0';
		base = path + (slash - dir) + 1;
		dfd = open(dir[0] ? dir : "/", O_PATH | O_DIRECTORY | O_CLOEXEC);
	}
	if (dfd == -1)
		return errno == ENOENT ? 0 : -1;
	/* base may still carry trailing slashes: cut them off in a copy. */
	{
		char	 name[NAME_MAX + 1];
		size_t	 n = strcspn(base, "/");

		if (n == 0 || n > NAME_MAX) {
			close(dfd);
			errno = n == 0 ? EINVAL : ENAMETOOLONG;
			return -1;
		}
		memcpy(name, base, n);
		name[n] = '\0';
		rc = ps_remove_tree_at(dfd, name, 0);
	}
	saved = errno;
	close(dfd);
	errno = saved;
	return rc;
}
