#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "commands.h"
#include "pathsafe.h"
#include "sessions.h"

#define SCAN_MAX	1000	/* directory entries looked at */
#define DESC_MAX	200

int
commands_valid_name(const char *name)
{
	size_t	 i, n;

	if (name == NULL || (n = strlen(name)) == 0 || n > COMMANDS_NAME_MAX)
		return 0;
	for (i = 0; i < n; i++)
		if (!((name[i] >= 'a' && name[i] <= 'z') ||
		    (name[i] >= 'A' && name[i] <= 'Z') ||
		    (name[i] >= '0' && name[i] <= '9') || name[i] == '_' ||
		    name[i] == '-'))
			return 0;
	return 1;
}

/* files/.claude/commands as a directory fd, no link followed; -1 errno. */
static int
open_dir(const struct config *cfg, const char *sid)
{
	char	 path[PATH_MAX];
	int	 root, cl, dd, e;

	if (sessions_path(cfg, sid, "files", path, sizeof(path)) == -1 ||
	    (root = ps_open_root(path)) == -1)
		return -1;
	cl = ps_openat(root, ".claude", O_RDONLY | O_DIRECTORY | O_NOFOLLOW, 0);
	e = errno;
	close(root);
	if (cl == -1) {
		errno = e;
		return -1;
	}
	dd = ps_openat(cl, "commands", O_RDONLY | O_DIRECTORY | O_NOFOLLOW, 0);
	e = errno;
	close(cl);
	errno = e;
	return dd;
}

/* Reads dd/<file> (regular, no link, size-capped) into out. */
static enum commands_err
read_cmd(int dd, const char *file, struct buf *out)
{
	struct stat	 st;
	char		 chunk[4096];
	ssize_t		 n;
	int		 fd;

	if ((fd = ps_openat(dd, file, O_RDONLY | O_NONBLOCK | O_NOFOLLOW, 0)) == -1)
		return errno == ENOENT ? CMD_ENOENT : errno == ELOOP ||
		    errno == EXDEV ? CMD_ELINK : CMD_EIO;
	if (fstat(fd, &st) == -1 || !S_ISREG(st.st_mode)) {
		close(fd);
		return CMD_ELINK;
	}
	if (st.st_size > COMMANDS_FILE_MAX) {
		close(fd);
		return CMD_EBIG;
	}
	buf_init(out, COMMANDS_FILE_MAX);
	while ((n = read(fd, chunk, sizeof(chunk))) > 0)
		if (buf_append(out, chunk, (size_t)n) == -1) {
			close(fd);
			buf_free(out);
			return CMD_EBIG;	/* grew while we read */
		}
	close(fd);
	if (n < 0) {
		buf_free(out);
		return CMD_EIO;
	}
	return CMD_OK;
}

/* Where the body starts (after a frontmatter block, if any). */
static const char *
body_of(const char *s)
{
	const char	*e;

	if (strncmp(s, "---\n", 4) != 0 && strncmp(s, "---\r\n", 5) != 0)
		return s;
	for (e = strchr(s, '\n'); e != NULL; e = strchr(e + 1, '\n'))
		if (strncmp(e + 1, "---", 3) == 0 && (e[4] == '\n' ||
		    e[4] == '\r' || e[4] == '\0')) {
			e = strchr(e + 1, '\n');
			return e != NULL ? e + 1 : s + strlen(s);
		}
	return s;	/* unterminated: no frontmatter */
}

/* A frontmatter value (key: value) into out, quotes stripped; 1 found. */
static int
front_value(const char *s, const char *key, char *out, size_t cap)
{
	const char	*body = body_of(s), *l, *v, *e;
	size_t		 kl = strlen(key), n;

	if (body == s)
		return 0;
	for (l = strchr(s, '\n') + 1; l != NULL && l < body; l = e ? e + 1 : NULL) {
		e = strchr(l, '\n');
		if (strncmp(l, key, kl) != 0 || l[kl] != ':')
			continue;
		v = l + kl + 1;
		while (*v == ' ' || *v == '\t')
			v++;
		n = (size_t)((e ? e : v + strlen(v)) - v);
		while (n > 0 && (v[n - 1] == '\r' || v[n - 1] == ' '))
			n--;
		if (n >= 2 && ((v[0] == '"' && v[n - 1] == '"') ||
		    (v[0] == '\'' && v[n - 1] == '\''))) {
			v++;
			n -= 2;
		}
		snprintf(out, cap, "%.*s", (int)(n < cap ? n : cap - 1), v);
		return 1;
	}
	return 0;
}

static json_object *
clean_string(const char *s, size_t n)
{
	struct buf	 b;
	json_object	*o;

	buf_init(&b, n * 3 + 8);
	buf_utf8_clean(&b, s, n);
	o = json_object_new_string_len(b.p ? b.p : "", (int)b.len);
	buf_free(&b);
	return o;
}

static json_object *
describe(const char *name, const char *text)
{
	json_object	*o = json_object_new_object();
	char		 v[DESC_MAX * 2];
	const char	*b;
	size_t		 n;

	json_object_object_add(o, "name", json_object_new_string(name));
	if (front_value(text, "description", v, sizeof(v)))
		json_object_object_add(o, "description", clean_string(v, strlen(v)));
	else {
		b = body_of(text);
		while (*b == '\n' || *b == '\r' || *b == ' ' || *b == '#')
			b++;
		n = strcspn(b, "\r\n");
		json_object_object_add(o, "description",
		    clean_string(b, n > DESC_MAX ? DESC_MAX : n));
	}
	if (front_value(text, "argument-hint", v, sizeof(v)))
		json_object_object_add(o, "argument_hint", clean_string(v, strlen(v)));
	else
		json_object_object_add(o, "argument_hint", json_object_new_string(""));
	return o;
}

static int
by_name(const void *a, const void *b)
{
	json_object *const *x = a, *const *y = b;

	return strcmp(json_object_get_string(json_object_object_get(*x, "name")),
	    json_object_get_string(json_object_object_get(*y, "name")));
}

json_object *
commands_list(const struct config *cfg, const char *sid)
{
	json_object	*arr = json_object_new_array();
	struct dirent	*de;
	struct buf	 b;
	DIR		*d;
	char		 stem[COMMANDS_NAME_MAX + 1];
	size_t		 n;
	int		 dd, scanned = 0;

	if ((dd = open_dir(cfg, sid)) == -1)
		return arr;
	if ((d = fdopendir(dd)) == NULL) {
		close(dd);
		return arr;
	}
	while ((de = readdir(d)) != NULL && scanned++ < SCAN_MAX &&
	    json_object_array_length(arr) < COMMANDS_MAX_LIST) {
		n = strlen(de->d_name);
		if (n < 4 || n - 3 > COMMANDS_NAME_MAX ||
		    strcmp(de->d_name + n - 3, ".md") != 0)
			continue;
		snprintf(stem, sizeof(stem), "%.*s", (int)(n - 3), de->d_name);
		if (!commands_valid_name(stem))
			continue;
		if (read_cmd(dirfd(d), de->d_name, &b) != CMD_OK)
			continue;
		json_object_array_add(arr, describe(stem, b.p ? b.p : ""));
		buf_free(&b);
	}
	closedir(d);
	json_object_array_sort(arr, by_name);
	return arr;
}

enum commands_err
commands_expand(const struct config *cfg, const char *sid, const char *name,
    const char *args, struct buf *out)
{
	static const char	 var[] = "$ARGUMENTS";
	struct buf		 b;
	enum commands_err	 rc;
	const char		*p, *q;
	char			 file[COMMANDS_NAME_MAX + 4];
	int			 dd, used = 0;

	if (!commands_valid_name(name))
		return CMD_ENOENT;
	if ((dd = open_dir(cfg, sid)) == -1)
		return errno == ENOENT ? CMD_ENOENT : errno == ELOOP ||
		    errno == ENOTDIR || errno == EXDEV ? CMD_ELINK : CMD_EIO;
	snprintf(file, sizeof(file), "%s.md", name);
	rc = read_cmd(dd, file, &b);
	close(dd);
	if (rc != CMD_OK)
		return rc;
	for (p = body_of(b.p ? b.p : ""); (q = strstr(p, var)) != NULL;
	    p = q + sizeof(var) - 1) {
		if (buf_append(out, p, (size_t)(q - p)) == -1 ||
		    buf_puts(out, args) == -1) {
			buf_free(&b);
			return CMD_EBIG;
		}
		used = 1;
	}
	if (buf_puts(out, p) == -1 || (!used && args[0] != '\0' &&
	    buf_printf(out, "\n\nARGUMENTS: %s", args) == -1)) {
		buf_free(&b);
		return CMD_EBIG;
	}
	buf_free(&b);
	return CMD_OK;
}
