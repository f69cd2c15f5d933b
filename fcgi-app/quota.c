#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "quota.h"
#include "sessions.h"

/* Inodes with several links, each counted once (open addressing). */
struct linkset {
	struct { dev_t dev; ino_t ino; } *slot;
	size_t	 used;
};

struct walk {
	struct quota_usage	*u;
	struct linkset		 links;
	dev_t			 dev;
	int			 strip;
};

/* 1 when (dev, ino) was seen before; records it otherwise (if there is room). */
static int
link_seen(struct linkset *ls, dev_t dev, ino_t ino)
{
	size_t	 i;

	if (ls->slot == NULL &&
	    (ls->slot = calloc(QUOTA_MAX_LINKS, sizeof(*ls->slot))) == NULL)
		return 0;	/* counted once per link: more, never less */
	i = (size_t)((uint64_t)ino * 0x9E3779B97F4A7C15ULL >> 48) % QUOTA_MAX_LINKS;
	for (;;) {
		if (ls->slot[i].ino == 0)
			break;
		if (ls->slot[i].ino == ino && ls->slot[i].dev == dev)
			return 1;
		i = (i + 1) % QUOTA_MAX_LINKS;
	}
	/* Keep a quarter free so probing stays short. */
	if (ls->used < QUOTA_MAX_LINKS - QUOTA_MAX_LINKS / 4) {
		ls->slot[i].dev = dev;
		ls->slot[i].ino = ino;
		ls->used++;
	}
	return 0;
}

/* Walks the directory open at fd (taken). */
static void
walk_dir(struct walk *w, int fd, int depth)
{
	struct dirent	*e;
	struct stat	 st;
	DIR		*d;
	int		 cfd;

	if ((d = fdopendir(fd)) == NULL) {
		close(fd);
		return;
	}
	while ((e = readdir(d)) != NULL) {
		if (e->d_name[0] == '.' && (e->d_name[1] == '\0' ||
		    (e->d_name[1] == '.' && e->d_name[2] == '\0')))
			continue;
		if (w->u->entries >= QUOTA_MAX_ENTRIES) {
			w->u->truncated = 1;
			break;
		}
		w->u->entries++;
		if (fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) == -1)
			continue;	/* gone meanwhile */
		if (st.st_dev != w->dev)
			continue;	/* a mount point: not ours to count */
		if (!S_ISDIR(st.st_mode) && st.st_nlink > 1 && st.st_ino != 0 &&
		    link_seen(&w->links, st.st_dev, st.st_ino))
			continue;
		w->u->bytes += (long long)st.st_blocks * 512;
		/*
		 * (A file with other links was linked in from the host, not
		 * made inside, which cannot set these bits: never strip a
		 * host program's bits through such a link.)
		 */
		if (w->strip && S_ISREG(st.st_mode) && st.st_nlink == 1 &&
		    (st.st_mode & (S_ISUID | S_ISGID)) != 0 &&
		    fchmodat(dirfd(d), e->d_name, st.st_mode & 01777,
		    AT_SYMLINK_NOFOLLOW) == 0)
			w->u->stripped++;
		if (!S_ISDIR(st.st_mode))
			continue;
		if (depth + 1 >= QUOTA_MAX_DEPTH) {
			w->u->truncated = 1;
			continue;
		}
		cfd = openat(dirfd(d), e->d_name, O_RDONLY | O_DIRECTORY |
		    O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
		if (cfd != -1)
			walk_dir(w, cfd, depth + 1);
	}
	closedir(d);
}

int
quota_usage(int dirfd, int strip, struct quota_usage *u)
{
	struct walk	 w;
	struct stat	 st;
	int		 fd;

	memset(u, 0, sizeof(*u));
	/* A fresh descriptor: readdir moves the offset and closedir closes it. */
	if ((fd = openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1)
		return -1;
	if (fstat(fd, &st) == -1) {
		close(fd);
		return -1;
	}
	memset(&w, 0, sizeof(w));
	w.u = u;
	w.dev = st.st_dev;
	w.strip = strip;
	walk_dir(&w, fd, 0);
	free(w.links.slot);
	return 0;
}

int
quota_session_usage(const struct config *cfg, const char *sid, int strip,
    struct quota_usage *u)
{
	char	 path[PATH_MAX];
	int	 fd, rc, saved;

	memset(u, 0, sizeof(*u));
	if (sessions_path(cfg, sid, "files", path, sizeof(path)) == -1)
		return -1;
	if ((fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)) == -1)
		return -1;
	rc = quota_usage(fd, strip, u);
	saved = errno;
	close(fd);
	errno = saved;
	return rc;
}

long long
quota_limit(const struct config *cfg)
{
	return cfg->session_disk_quota_mb > 0 ? cfg->session_disk_quota_mb << 20 : 0;
}

int
quota_over(const struct config *cfg, const struct quota_usage *u)
{
	long long	 q = quota_limit(cfg);

	return q > 0 && (u->truncated || u->bytes > q);
}

int
quota_exceeded_why(const struct config *cfg, const char *sid, char *msg,
    size_t cap)
{
	struct quota_usage	 u;
	char			 desc[256];

	if (quota_limit(cfg) == 0)
		return 0;
	if (quota_session_usage(cfg, sid, 0, &u) == -1)
		return errno == ENOENT ? 0 : -1;
	if (!quota_over(cfg, &u))
		return 0;
	if (msg != NULL && cap > 0) {
		quota_describe(cfg, &u, desc, sizeof(desc));
		snprintf(msg, cap, "%s in this session (SESSION_DISK_QUOTA_MB): "
		    "delete files before sending a message", desc);
	}
	return 1;
}

int
quota_exceeded(const struct config *cfg, const char *sid)
{
	return quota_exceeded_why(cfg, sid, NULL, 0);
}

void
quota_human(long long b, char *out, size_t cap)
{
	static const char *const unit[] = { "bytes", "KiB", "MiB", "GiB", "TiB" };
	double		 v = (double)b;
	int		 i = 0;

	if (b < 1024) {
		snprintf(out, cap, "%lld bytes", b);
		return;
	}
	while (v >= 1024 && i < 4) {
		v /= 1024;
		i++;
	}
	snprintf(out, cap, "%.1f %s", v, unit[i]);
}

void
quota_describe(const struct config *cfg, const struct quota_usage *u,
    char *out, size_t cap)
{
	char	 used[32], lim[32];

	quota_human(u->bytes, used, sizeof(used));
	quota_human(quota_limit(cfg), lim, sizeof(lim));
	if (u->truncated)
		snprintf(out, cap, "disk quota exceeded: the workspace holds more "
		    "than %lld files or directories nested deeper than %d levels "
		    "(at least %s used, quota %s)", QUOTA_MAX_ENTRIES,
		    QUOTA_MAX_DEPTH, used, lim);
	else
		snprintf(out, cap, "disk quota exceeded: %s of %s used", used, lim);
}

int
quota_check_write(const struct config *cfg, const char *sid, long long add,
    char *msg, size_t cap)
{
	struct quota_usage	 u;
	char			 desc[256], used[32], lim[32];

	if (quota_limit(cfg) == 0 || add <= 0)
		return 0;
	if (quota_session_usage(cfg, sid, 0, &u) == -1)
		return -1;
	if (!u.truncated && u.bytes + add <= quota_limit(cfg))
		return 0;
	if (quota_over(cfg, &u))
		quota_describe(cfg, &u, desc, sizeof(desc));
	else {
		quota_human(u.bytes, used, sizeof(used));
		quota_human(quota_limit(cfg), lim, sizeof(lim));
		snprintf(desc, sizeof(desc), "disk quota exceeded: %s of %s used",
		    used, lim);
	}
	snprintf(msg, cap, "%s (SESSION_DISK_QUOTA_MB); this write of %lld bytes "
	    "does not fit: delete files in the session first", desc, add);
	return 1;
}
