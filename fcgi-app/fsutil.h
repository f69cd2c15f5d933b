/*
 * fsutil: the few filesystem operations the workspace needs, written so a
 * crash never leaves a half-written file (temp + fsync + rename) and a
 * symlink never leads a copy or a delete out of its tree.
 */
#ifndef CW_FSUTIL_H
#define CW_FSUTIL_H

#include <stddef.h>

/* Writes all of data to fd and fsyncs it: 0 or -1 with errno. */
int	fsutil_write_all(int fd, const void *data, size_t len);
/* Writes path atomically (mode 0640): 0 or -1 with errno. */
int	fsutil_write_atomic(const char *path, const void *data, size_t len);
/* mkdir -p for one path (mode 0750). */
int	fsutil_mkdirs(const char *path);
/* Copies regular files and directories of src into dst; symlinks skipped. */
int	fsutil_copy_tree(const char *src, const char *dst);
/*
 * rm -rf without following symlinks; a missing path is not an error. The
 * parent is opened by path, everything below through ps_remove_tree_at
 * (pathsafe.h), the one fd-relative walker.
 */
int	fsutil_remove_tree(const char *path);

#endif
