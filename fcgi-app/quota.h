/*
 * quota: a session's disk use against SESSION_DISK_QUOTA_MB, and the
 * setuid/setgid clean-up of its files.
 *
 * What counts is files/ (the /workspace Claude sees): the allocated blocks
 * (st_blocks, so sparse files cost what they use) of every entry, found by
 * a walk that is fd-relative, never follows a symlink, never crosses a
 * mount point and is bounded (QUOTA_MAX_ENTRIES entries, QUOTA_MAX_DEPTH
 * levels). A file with several hard links inside the tree counts once (up
 * to QUOTA_MAX_LINKS such inodes; past that, once per link). A tree that
 * hits a bound is "truncated" and counts as over the quota: its use is
 * unknown, and so many files are themselves a way to exhaust the disk.
 *
 * The same walk, with strip set, removes S_ISUID and S_ISGID from every
 * regular file with a single link: files a command creates belong to the
 * server's uid on the host (root, when it runs as root), so a setuid bit
 * set inside would be a setuid-root program outside. (The sandbox's seccomp
 * filter already refuses to set them; this also covers files that arrive
 * otherwise. A multiply-linked one was linked in from the host: its bits
 * are the host's business.)
 *
 * Nothing here allocates anything the caller must free.
 */
#ifndef CW_QUOTA_H
#define CW_QUOTA_H

#include <stddef.h>

struct config;

#define QUOTA_MAX_ENTRIES	500000LL
#define QUOTA_MAX_DEPTH		128
#define QUOTA_MAX_LINKS		65536

struct quota_usage {
	long long	 bytes;		/* allocated bytes */
	long long	 entries;	/* entries seen */
	long long	 stripped;	/* files whose setuid/setgid bits went */
	int		 truncated;	/* a bound was hit: bytes is a minimum */
};

/* Walks the tree under the directory dirfd (not closed). 0 or -1 (errno). */
int	quota_usage(int dirfd, int strip, struct quota_usage *);
/* The same for a session's files/. */
int	quota_session_usage(const struct config *, const char *sid, int strip,
	    struct quota_usage *);
/* SESSION_DISK_QUOTA_MB in bytes; 0 when there is no quota. */
long long quota_limit(const struct config *);
/* 1 when u is over the quota (or truncated), else 0. */
int	quota_over(const struct config *, const struct quota_usage *u);
/*
 * 1 when the session is over its quota now (walks files/), 0 when not or
 * when there is no quota, -1 when files/ cannot be read.
 */
int	quota_exceeded(const struct config *, const char *sid);
/* The same, with the reason ("disk quota exceeded: ...") in msg when 1. */
int	quota_exceeded_why(const struct config *, const char *sid, char *msg,
	    size_t cap);
/*
 * Whether add more bytes fit in the session's quota: 0 yes (or no quota),
 * 1 no (with the reason in msg), -1 files/ cannot be read.
 */
int	quota_check_write(const struct config *, const char *sid, long long add,
	    char *msg, size_t cap);
/*
 * "disk quota exceeded: 1.2 GiB of 1.0 GiB used" (or "more than N files"
 * for a truncated walk) into out.
 */
void	quota_describe(const struct config *, const struct quota_usage *,
	    char *out, size_t cap);
/* 1536 -> "1.5 KiB". */
void	quota_human(long long bytes, char *out, size_t cap);

#endif
