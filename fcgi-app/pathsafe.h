/*
 * pathsafe: every file access inside a session's files/ goes through here.
 *
 * Paths are resolved with openat2(RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS)
 * relative to a descriptor of files/, so "..", absolute symlinks and
 * /proc magic links can never lead out, whatever the agent planted. Names
 * are validated before the kernel sees them (no NUL, no empty segments).
 * Writes go to a temporary file in the same directory and are renamed
 * into place after fsync.
 */
#ifndef CW_PATHSAFE_H
#define CW_PATHSAFE_H

#include <stddef.h>
#include <sys/types.h>

#include "buf.h"

#define PS_PATH_MAX	4096

/* What ps_normalize does with "..". */
enum ps_dots {
	PS_DOTS_REFUSE,		/* EXDEV: a user path may not climb at all */
	PS_DOTS_RESOLVE,	/* pop a segment; EXDEV above the root (symlink targets) */
	PS_DOTS_KEEP		/* keep as written (pathlib's normalisation) */
};

/*
 * Collapses repeated slashes, drops "." segments and leading/trailing
 * slashes, handles ".." as told. out is relative ("" is the root).
 */
int	ps_normalize(const char *path, enum ps_dots, char *out, size_t cap);
/* Opens files/ of a session as the root of all lookups (O_PATH). */
int	ps_open_root(const char *files_dir);
/*
 * Normalises a user path to one relative to the root: strips leading
 * slashes (the root is "/"), refuses NUL bytes, "." / ".." segments that
 * would climb, and over-long paths. "" means the root itself. 0 or -1.
 */
int	ps_relative(const char *path, char *out, size_t cap);
/* openat2 beneath root; returns fd or -1 (errno). */
int	ps_openat(int root, const char *rel, int flags, mode_t mode);
/* Reads a regular file (cap bytes max; EFBIG above). 0 or -1. */
int	ps_read_file(int root, const char *rel, size_t cap, struct buf *out);
/* Atomic write: temp + fsync + rename. create_only fails with EEXIST. */
int	ps_write_file(int root, const char *rel, const void *data, size_t len,
	    int create_only);
/* Opens the parent directory of rel and returns it; *base gets the last name. */
int	ps_open_parent(int root, const char *rel, const char **base, char *tmp,
	    size_t cap);
int	ps_unlink(int root, const char *rel);	/* file or empty directory */
/* rm -rf of rel beneath root, through ps_remove_tree_at. */
int	ps_remove_tree(int root, const char *rel);

/*
 * The one remover of host-side trees (see pathsafe.c): fd-relative, never
 * follows a symlink, never crosses a mount point, an explicit stack of at
 * most PS_WALK_DEPTH open directories (deeper ones are moved up and
 * removed too), PS_WALK_MAX_ENTRIES entries and a deadline (budget_ms;
 * 0 = PS_WALK_BUDGET_MS). Removes name (a directory tree, a file or a
 * link) in the directory dirfd; a missing name is not an error. 0, or -1
 * with errno (the first problem; ETIMEDOUT when the budget ran out) with
 * what could not be removed left in place. (Disk use is measured by
 * quota.c's walker.)
 */
#define PS_WALK_DEPTH		128
#define PS_WALK_MAX_ENTRIES	5000000ULL
#define PS_WALK_BUDGET_MS	15000
int	ps_remove_tree_at(int dirfd, const char *name, int budget_ms);
int	ps_mkdir(int root, const char *rel);
int	ps_rename(int root, const char *from, const char *to);

#endif
