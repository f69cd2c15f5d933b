#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "attach.h"
#include "editor.h"
#include "pathsafe.h"

static const char truncated_note[] =
    "<response clipped><NOTE>To save on context only part of this file has "
    "been shown to you. You should retry this tool after you have searched "
    "inside the file with `grep -n` in order to find the line numbers of what "
    "you are looking for.</NOTE>";

void
editor_change_init(struct editor_change *c)
{
	memset(c, 0, sizeof(*c));
	buf_init(&c->before, 64 * 1024 * 1024);
}

void
editor_change_free(struct editor_change *c)
{
	buf_free(&c->before);
	if (c->content != NULL)
		json_object_put(c->content);
	c->content = NULL;
}

void
editor_expandtabs(const char *s, size_t n, struct buf *out)
{
	size_t	 i, col = 0, sp;

	for (i = 0; i < n; i++) {
		if (s[i] == '\t') {
			sp = 8 - col % 8;
			while (sp-- > 0) {
				buf_putc(out, ' ');
				col++;
			}
			continue;
		}
		buf_putc(out, s[i]);
		if (s[i] == '\n' || s[i] == '\r')
			col = 0;
		else if (((unsigned char)s[i] & 0xC0) != 0x80)
			col++;
	}
	if (out->p == NULL)
		buf_puts(out, "");
}

static void
errf(struct buf *out, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void
errf(struct buf *out, const char *fmt, ...)
{
	va_list	 ap;

	buf_reset(out);
	va_start(ap, fmt);
	buf_vprintf(out, fmt, ap);
	va_end(ap);
}

/* Cuts at max bytes without splitting a UTF-8 sequence; appends the note. */
static void
maybe_truncate(const char *s, size_t n, struct buf *out)
{
	size_t	 cut = 0, chars = 0;

	/* Characters (UTF-8 code points), like the reference's len(str). */
	while (cut < n) {
		if (((unsigned char)s[cut] & 0xC0) != 0x80) {
			if (chars == EDITOR_MAX_CHARS)
				break;
			chars++;
		}
		cut++;
	}
	buf_append(out, s, cut);
	if (cut < n)
		buf_puts(out, truncated_note);
}

/* The reference `cat -n` rendering: truncate, expand tabs, "%6d\t" numbers. */
static void
make_output(struct buf *out, const char *content, size_t n,
    const char *descriptor, long init_line)
{
	struct buf	 t, e;
	const char	*p, *nl, *end;
	long		 line = init_line;

	buf_init(&t, n + sizeof(truncated_note) + 16);
	buf_init(&e, (n + sizeof(truncated_note)) * 8 + 16);
	maybe_truncate(content, n, &t);
	editor_expandtabs(t.p ? t.p : "", t.len, &e);
	buf_printf(out, "Here's the result of running `cat -n` on %s:\n", descriptor);
	p = e.p ? e.p : "";
	end = p + e.len;
	for (;;) {
		nl = memchr(p, '\n', (size_t)(end - p));
		buf_printf(out, "%6ld\t", line++);
		buf_append(out, p, (size_t)((nl ? nl : end) - p));
		if (nl == NULL)
			break;
		buf_putc(out, '\n');
		p = nl + 1;
	}
	buf_putc(out, '\n');
	buf_free(&t);
	buf_free(&e);
}

static long
count_lines(const char *s, size_t n)
{
	long	 c = 1;
	size_t	 i;

	for (i = 0; i < n; i++)
		if (s[i] == '\n')
			c++;
	return c;
}

/* Pointer to the start of 0-based line idx (or end). */
static const char *
line_at(const char *s, size_t n, long idx)
{
	const char	*p = s, *end = s + n, *nl;

	while (idx-- > 0) {
		nl = memchr(p, '\n', (size_t)(end - p));
		if (nl == NULL)
			return end;
		p = nl + 1;
	}
	return p;
}

/*
 * out += "\n".join(s.split("\n")[from:to]) with Python's slice clamping,
 * which is how the reference builds every view and snippet.
 */
static void
join_lines(const char *s, size_t n, long from, long to, struct buf *out)
{
	const char	*p = s, *end = s + n, *nl;
	long		 idx = 0, total = count_lines(s, n);
	int		 first = 1;

	if (from < 0)
		from = 0;
	if (to > total)
		to = total;
	for (; idx < to; idx++) {
		nl = memchr(p, '\n', (size_t)(end - p));
		if (idx >= from) {
			if (!first)
				buf_putc(out, '\n');
			buf_append(out, p, (size_t)((nl ? nl : end) - p));
			first = 0;
		}
		if (nl == NULL)
			break;
		p = nl + 1;
	}
	if (out->p == NULL)
		buf_puts(out, "");
}

/* A string parameter; *present = 2 when it holds a NUL (always refused). */
static const char *
jstr(json_object *o, const char *k, int *present)
{
	json_object	*v;
	const char	*s;

	*present = json_object_object_get_ex(o, k, &v) && v != NULL;
	if (!*present || !json_object_is_type(v, json_type_string))
		return NULL;
	s = json_object_get_string(v);
	if (strlen(s) != (size_t)json_object_get_string_len(v)) {
		*present = 2;
		return NULL;
	}
	return s;
}

/* Any string parameter with a NUL byte makes the call invalid. */
static const char *
nul_param(json_object *in)
{
	static const char *const names[] = { "command", "path", "file_text",
	    "old_str", "new_str", "insert_text" };
	size_t	 i;
	int	 present;

	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (jstr(in, names[i], &present) == NULL && present == 2)
			return names[i];
	return NULL;
}

/*
 * pathlib's normalisation of an absolute path: repeated slashes collapse,
 * "." segments and a trailing slash go; ".." stays as written.
 */
static void
normalise(const char *p, char *out, size_t cap)
{
	out[0] = '/';
	if (ps_normalize(p, PS_DOTS_KEEP, out + 1, cap - 1) == -1)
		snprintf(out, cap, "%s", p);
}

static int
cmp_name(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* `find DIR -maxdepth 2 -not -path '*\/.*'`, sorted per directory. */
static void
list_dir(int root, const char *rel, const char *shown, int depth, struct buf *out)
{
	DIR		*d;
	struct dirent	*e;
	char		**names = NULL, sub[PS_PATH_MAX], subshown[PS_PATH_MAX + 16];
	size_t		 n = 0, i;
	struct stat	 st;
	int		 fd;

	buf_printf(out, "%s\n", shown);
	if (depth >= 2)
		return;
	if ((fd = ps_openat(root, rel, O_RDONLY | O_DIRECTORY, 0)) == -1)
		return;
	if ((d = fdopendir(fd)) == NULL) {
		close(fd);
		return;
	}
	while ((e = readdir(d)) != NULL) {
		if (e->d_name[0] == '.')
			continue;
		names = reallocarray(names, n + 1, sizeof(char *));
		names[n++] = strdup(e->d_name);
	}
	closedir(d);
	if (n > 1)
		qsort(names, n, sizeof(char *), cmp_name);
	for (i = 0; i < n; i++) {
		snprintf(sub, sizeof(sub), "%s%s%s", rel, rel[0] ? "/" : "", names[i]);
		snprintf(subshown, sizeof(subshown), "%s/%s", shown, names[i]);
		/* Like find(1): a symlink is listed, never followed. */
		fd = ps_openat(root, sub, O_PATH | O_NOFOLLOW, 0);
		if (fd != -1 && fstat(fd, &st) == 0 && S_ISDIR(st.st_mode))
			list_dir(root, sub, subshown, depth + 1, out);
		else
			buf_printf(out, "%s\n", subshown);
		if (fd != -1)
			close(fd);
		free(names[i]);
	}
	free(names);
}

static int
has_nul(const struct buf *b)
{
	return b->len > 0 && memchr(b->p, '\0', b->len) != NULL;
}

/* Reads the file; on failure writes the reference-style error. */
static int
read_text(int root, const char *rel, const char *p, size_t max, struct buf *data,
    struct buf *out)
{
	if (ps_read_file(root, rel, max, data) == -1) {
		if (errno == EFBIG)
			errf(out, "The file %s is larger than %zu bytes and cannot be "
			    "opened with this tool; use bash (grep, sed, head) instead.",
			    p, max);
		else
			errf(out, "Ran into %s while trying to read %s", strerror(errno), p);
		return -1;
	}
	if (has_nul(data)) {
		errf(out, "The file %s is binary; this tool only works on text files.", p);
		return -1;
	}
	return 0;
}

static int
write_text(int root, const char *rel, const char *p, const char *d, size_t n,
    int create, struct buf *out)
{
	if (ps_write_file(root, rel, d, n, create) == -1) {
		errf(out, "Ran into %s while trying to write to %s", strerror(errno), p);
		return -1;
	}
	return 0;
}

static int
cmd_view(int root, const char *rel, const char *p, int is_dir, json_object *in,
    size_t max, struct buf *out)
{
	json_object	*vr = NULL, *a, *b;
	struct buf	 data;
	long		 nlines, s, e;
	int		 has_range;

	/* The reference tests `if view_range:`, so [] means "no range". */
	has_range = json_object_object_get_ex(in, "view_range", &vr) && vr != NULL &&
	    !(json_object_is_type(vr, json_type_array) &&
	    json_object_array_length(vr) == 0);
	if (is_dir) {
		if (has_range) {
			errf(out, "The `view_range` parameter is not allowed when `path` "
			    "points to a directory.");
			return 1;
		}
		struct buf	 listing;

		buf_init(&listing, 64 * 1024 * 1024);
		list_dir(root, rel, p, 0, &listing);
		buf_printf(out, "Here's the files and directories up to 2 levels deep "
		    "in %s, excluding hidden items:\n", p);
		maybe_truncate(listing.p ? listing.p : "", listing.len, out);
		buf_putc(out, '\n');
		buf_free(&listing);
		return 0;
	}
	buf_init(&data, max);
	if (read_text(root, rel, p, max, &data, out) == -1) {
		buf_free(&data);
		return 1;
	}
	if (!has_range) {
		make_output(out, data.p ? data.p : "", data.len, p, 1);
		buf_free(&data);
		return 0;
	}
	if (!json_object_is_type(vr, json_type_array) ||
	    json_object_array_length(vr) != 2 ||
	    !json_object_is_type((a = json_object_array_get_idx(vr, 0)), json_type_int) ||
	    !json_object_is_type((b = json_object_array_get_idx(vr, 1)), json_type_int)) {
		errf(out, "Invalid `view_range`. It should be a list of two integers.");
		buf_free(&data);
		return 1;
	}
	s = (long)json_object_get_int64(a);
	e = (long)json_object_get_int64(b);
	nlines = count_lines(data.p ? data.p : "", data.len);
	if (s < 1 || s > nlines) {
		errf(out, "Invalid `view_range`: [%ld, %ld]. Its first element `%ld` "
		    "should be within the range of lines of the file: [1, %ld]",
		    s, e, s, nlines);
	} else if (e > nlines) {
		errf(out, "Invalid `view_range`: [%ld, %ld]. Its second element `%ld` "
		    "should be smaller than the number of lines in the file: `%ld`",
		    s, e, e, nlines);
	} else if (e != -1 && e < s) {
		errf(out, "Invalid `view_range`: [%ld, %ld]. Its second element `%ld` "
		    "should be larger or equal than its first `%ld`", s, e, e, s);
	} else {
		struct buf sel;

		buf_init(&sel, data.len + 1);
		join_lines(data.p ? data.p : "", data.len, s - 1, e == -1 ? nlines : e,
		    &sel);
		make_output(out, sel.p, sel.len, p, s);
		buf_free(&sel);
		buf_free(&data);
		return 0;
	}
	buf_free(&data);
	return 1;
}

/* Python list of 1-based line numbers containing needle. */
static void
lines_containing(const char *s, size_t n, const char *needle, struct buf *out)
{
	const char	*p = s, *end = s + n, *nl;
	long		 line = 1;
	int		 first = 1;

	buf_putc(out, '[');
	while (p <= end) {
		nl = memchr(p, '\n', (size_t)(end - p));
		if (memmem(p, (size_t)((nl ? nl : end) - p), needle, strlen(needle))) {
			buf_printf(out, "%s%ld", first ? "" : ", ", line);
			first = 0;
		}
		if (nl == NULL)
			break;
		p = nl + 1;
		line++;
	}
	buf_putc(out, ']');
}

static int
cmd_str_replace(int root, const char *rel, const char *p, json_object *in,
    size_t max, struct buf *out, struct editor_change *chg)
{
	struct buf	 raw, file, old, nw, res, list;
	const char	*o, *ns, *hit, *q;
	int		 present, rc = 1;
	long		 count = 0, rline, start, endl;
	size_t		 olen;

	o = jstr(in, "old_str", &present);
	if (o == NULL) {
		errf(out, "Parameter `old_str` is required for command: str_replace");
		return 1;
	}
	ns = jstr(in, "new_str", &present);
	buf_init(&raw, max);
	buf_init(&file, max * 8 + 16);
	buf_init(&old, strlen(o) * 8 + 16);
	buf_init(&nw, (ns ? strlen(ns) : 0) * 8 + 16);
	buf_init(&res, max * 9 + 16);
	buf_init(&list, 1 << 20);
	if (read_text(root, rel, p, max, &raw, out) == -1)
		goto out;
	editor_expandtabs(raw.p ? raw.p : "", raw.len, &file);
	editor_expandtabs(o, strlen(o), &old);
	editor_expandtabs(ns ? ns : "", ns ? strlen(ns) : 0, &nw);
	olen = old.len;
	if (olen == 0) {
		/* Python counts len+1 empty matches; never unique unless empty. */
		count = (long)file.len + 1;
	} else
		for (q = file.p; (hit = memmem(q, file.len - (size_t)(q - file.p),
		    old.p, olen)) != NULL; q = hit + olen)
			count++;
	if (count == 0) {
		errf(out, "No replacement was performed, old_str `%s` did not appear "
		    "verbatim in %s.", old.p, p);
		goto out;
	}
	if (count > 1) {
		lines_containing(file.p, file.len, old.p, &list);
		errf(out, "No replacement was performed. Multiple occurrences of old_str "
		    "`%s` in lines %s. Please ensure it is unique", old.p, list.p);
		goto out;
	}
	hit = memmem(file.p, file.len, old.p, olen);
	buf_append(&res, file.p, (size_t)(hit - file.p));
	buf_append(&res, nw.p, nw.len);
	buf_append(&res, hit + olen, file.len - (size_t)(hit - file.p) - olen);
	if (res.p == NULL)
		buf_puts(&res, "");
	buf_append(&chg->before, raw.p ? raw.p : "", raw.len);
	if (write_text(root, rel, p, res.p, res.len, 0, out) == -1)
		goto out;
	chg->changed = 1;
	rline = 0;
	for (q = file.p; q < hit; q++)
		if (*q == '\n')
			rline++;
	start = rline - EDITOR_SNIPPET_LINES > 0 ? rline - EDITOR_SNIPPET_LINES : 0;
	endl = rline + EDITOR_SNIPPET_LINES;
	for (q = nw.p; q && *q; q++)
		if (*q == '\n')
			endl++;
	{
		struct buf	 sn;
		char		 desc[4300];

		buf_init(&sn, res.len + 1);
		join_lines(res.p, res.len, start, endl + 1, &sn);
		buf_printf(out, "The file %s has been edited. ", p);
		snprintf(desc, sizeof(desc), "a snippet of %s", p);
		make_output(out, sn.p, sn.len, desc, start + 1);
		buf_free(&sn);
		buf_puts(out, "Review the changes and make sure they are as expected. "
		    "Edit the file again if necessary.");
	}
	rc = 0;
out:
	buf_free(&raw);
	buf_free(&file);
	buf_free(&old);
	buf_free(&nw);
	buf_free(&res);
	buf_free(&list);
	return rc;
}

static int
cmd_insert(int root, const char *rel, const char *p, json_object *in,
    size_t max, struct buf *out, struct editor_change *chg)
{
	json_object	*il;
	struct buf	 raw, file, nw, res, snip;
	const char	*ns, *cut;
	long		 line, nlines, s0;
	int		 present, rc = 1;

	if (!json_object_object_get_ex(in, "insert_line", &il) || il == NULL) {
		errf(out, "Parameter `insert_line` is required for command: insert");
		return 1;
	}
	/* text_editor_20250728 models send insert_text; older ones new_str. */
	ns = jstr(in, "insert_text", &present);
	if (ns == NULL)
		ns = jstr(in, "new_str", &present);
	if (ns == NULL) {
		errf(out, "Parameter `new_str` is required for command: insert");
		return 1;
	}
	if (!json_object_is_type(il, json_type_int)) {
		errf(out, "Invalid `insert_line` parameter: %s. It should be an integer.",
		    json_object_to_json_string(il));
		return 1;
	}
	line = (long)json_object_get_int64(il);
	buf_init(&raw, max);
	buf_init(&file, max * 8 + 16);
	buf_init(&nw, strlen(ns) * 8 + 16);
	buf_init(&res, max * 9 + strlen(ns) * 8 + 16);
	buf_init(&snip, max * 9 + strlen(ns) * 8 + 16);
	if (read_text(root, rel, p, max, &raw, out) == -1)
		goto out;
	editor_expandtabs(raw.p ? raw.p : "", raw.len, &file);
	editor_expandtabs(ns, strlen(ns), &nw);
	nlines = count_lines(file.p, file.len);
	if (line < 0 || line > nlines) {
		errf(out, "Invalid `insert_line` parameter: %ld. It should be within the "
		    "range of lines of the file: [0, %ld]", line, nlines);
		goto out;
	}
	/* lines[:L] + new + lines[L:], joined with "\n". */
	cut = line_at(file.p, file.len, line);
	if (line == 0) {
		buf_append(&res, nw.p, nw.len);
		buf_putc(&res, '\n');
		buf_append(&res, file.p, file.len);
	} else if (line == nlines) {
		buf_append(&res, file.p, file.len);
		buf_putc(&res, '\n');
		buf_append(&res, nw.p, nw.len);
	} else {
		buf_append(&res, file.p, (size_t)(cut - file.p));
		buf_append(&res, nw.p, nw.len);
		buf_putc(&res, '\n');
		buf_append(&res, cut, file.len - (size_t)(cut - file.p));
	}
	buf_append(&chg->before, raw.p ? raw.p : "", raw.len);
	if (write_text(root, rel, p, res.p, res.len, 0, out) == -1)
		goto out;
	chg->changed = 1;
	/* Snippet: "\n".join(lines[max(0,L-4):L] + new_lines + lines[L:L+4]). */
	s0 = line - EDITOR_SNIPPET_LINES > 0 ? line - EDITOR_SNIPPET_LINES : 0;
	if (line > s0) {
		join_lines(file.p, file.len, s0, line, &snip);
		buf_putc(&snip, '\n');
	}
	buf_append(&snip, nw.p, nw.len);
	if (line < nlines) {
		buf_putc(&snip, '\n');
		join_lines(file.p, file.len, line, line + EDITOR_SNIPPET_LINES, &snip);
	}
	buf_printf(out, "The file %s has been edited. ", p);
	make_output(out, snip.p ? snip.p : "", snip.len, "a snippet of the edited file",
	    line - EDITOR_SNIPPET_LINES + 1 > 1 ? line - EDITOR_SNIPPET_LINES + 1 : 1);
	buf_puts(out, "Review the changes and make sure they are as expected (correct "
	    "indentation, no duplicate lines, etc). Edit the file again if necessary.");
	rc = 0;
out:
	buf_free(&raw);
	buf_free(&file);
	buf_free(&nw);
	buf_free(&res);
	buf_free(&snip);
	return rc;
}

/* The image type of a file's first bytes, or NULL. */
static const char *
image_type(const unsigned char *h, size_t n)
{
	if (n >= 8 && memcmp(h, "\x89PNG\r\n\x1a\n", 8) == 0)
		return "image/png";
	if (n >= 3 && h[0] == 0xff && h[1] == 0xd8 && h[2] == 0xff)
		return "image/jpeg";
	if (n >= 6 && (memcmp(h, "GIF87a", 6) == 0 || memcmp(h, "GIF89a", 6) == 0))
		return "image/gif";
	if (n >= 12 && memcmp(h, "RIFF", 4) == 0 && memcmp(h + 8, "WEBP", 4) == 0)
		return "image/webp";
	return NULL;
}

static void
base64(const unsigned char *d, size_t n, struct buf *out)
{
	static const char a[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	char		 q[4];
	size_t		 i;
	unsigned long	 v;

	for (i = 0; i + 2 < n; i += 3) {
		v = (unsigned long)d[i] << 16 | (unsigned long)d[i + 1] << 8 | d[i + 2];
		q[0] = a[v >> 18 & 63];
		q[1] = a[v >> 12 & 63];
		q[2] = a[v >> 6 & 63];
		q[3] = a[v & 63];
		buf_append(out, q, 4);
	}
	if (i < n) {
		v = (unsigned long)d[i] << 16 | (i + 1 < n ? (unsigned long)d[i + 1] << 8 : 0);
		q[0] = a[v >> 18 & 63];
		q[1] = a[v >> 12 & 63];
		q[2] = i + 1 < n ? a[v >> 6 & 63] : '=';
		q[3] = '=';
		buf_append(out, q, 4);
	}
}

/*
 * view of an image file: -1 when rel is not an image (the text view goes
 * on), else 0 (chg->content set) or 1 (error written).
 */
static int
view_image(int root, const char *rel, const char *p, json_object *in,
    struct buf *out, struct editor_change *chg)
{
	unsigned char	 head[16];
	char		 chunk[65536];
	const char	*type, *why = NULL;
	struct stat	 st;
	struct buf	 data, b64;
	json_object	*img, *src, *arr, *vr;
	ssize_t		 n;
	off_t		 off;
	int		 fd;

	if ((fd = ps_openat(root, rel, O_RDONLY | O_NONBLOCK | O_NOFOLLOW, 0)) == -1)
		return -1;
	if (fstat(fd, &st) == -1 || !S_ISREG(st.st_mode) ||
	    (n = pread(fd, head, sizeof(head), 0)) <= 0 ||
	    (type = image_type(head, (size_t)n)) == NULL) {
		close(fd);
		return -1;
	}
	if (json_object_object_get_ex(in, "view_range", &vr) && vr != NULL) {
		close(fd);
		errf(out, "The `view_range` parameter is not allowed when `path` "
		    "points to an image (%s).", p);
		return 1;
	}
	if (st.st_size > EDITOR_IMAGE_MAX) {
		close(fd);
		errf(out, "The image %s is %lld bytes; images larger than 5 MB (%d "
		    "bytes) cannot be viewed. Make a smaller copy with bash first.",
		    p, (long long)st.st_size, EDITOR_IMAGE_MAX);
		return 1;
	}
	/*
	 * The bytes come from this same fd (never the name again: a file
	 * swapped in meanwhile is not read), at most EDITOR_IMAGE_MAX of
	 * them; a file that grew past that is refused, and the data must
	 * still be a valid image of the type its first bytes named.
	 */
	buf_init(&data, EDITOR_IMAGE_MAX);
	off = 0;
	for (;;) {
		n = pread(fd, chunk, sizeof(chunk), off);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		if (buf_append(&data, chunk, (size_t)n) == -1) {
			n = -1;
			errno = EFBIG;
			break;
		}
		off += n;
	}
	close(fd);
	if (n == -1) {
		buf_free(&data);
		errf(out, "Ran into %s while trying to read %s", strerror(errno), p);
		return 1;
	}
	buf_init(&b64, EDITOR_IMAGE_MAX / 3 * 4 + 16);
	base64((const unsigned char *)(data.p ? data.p : ""), data.len, &b64);
	if (attach_image_data_ok(type, b64.p ? b64.p : "", b64.len, &why) == -1) {
		buf_free(&data);
		buf_free(&b64);
		errf(out, "The image %s changed while it was read and cannot be "
		    "viewed: %s.", p, why);
		return 1;
	}
	src = json_object_new_object();
	json_object_object_add(src, "type", json_object_new_string("base64"));
	json_object_object_add(src, "media_type", json_object_new_string(type));
	json_object_object_add(src, "data", json_object_new_string_len(
	    b64.p ? b64.p : "", (int)b64.len));
	img = json_object_new_object();
	json_object_object_add(img, "type", json_object_new_string("image"));
	json_object_object_add(img, "source", src);
	arr = json_object_new_array();
	json_object_array_add(arr, img);
	chg->content = arr;
	buf_printf(out, "Image %s (%s, %zu bytes), sent to Claude as an image.",
	    p, type, data.len);
	buf_free(&data);
	buf_free(&b64);
	return 0;
}

int
editor_run(int root, size_t max, json_object *in, struct buf *out,
    struct editor_change *chg)
{
	const char	*cmd, *p, *ft;
	char		 rel[PS_PATH_MAX];
	struct stat	 st;
	int		 present, exists, is_dir, fd;
	size_t		 rlen = strlen(EDITOR_ROOT);
	const char	*bad;
	char		 norm[PS_PATH_MAX + 16];

	if ((bad = nul_param(in)) != NULL) {
		errf(out, "Parameter `%s` contains a NUL character, which is not "
		    "allowed.", bad);
		return 1;
	}
	cmd = jstr(in, "command", &present);
	p = jstr(in, "path", &present);
	if (cmd == NULL) {
		errf(out, "Parameter `command` is required.");
		return 1;
	}
	if (p == NULL) {
		errf(out, "Parameter `path` is required.");
		return 1;
	}
	if (p[0] != '/') {
		errf(out, "The path %s is not an absolute path, it should start with "
		    "`/`. Maybe you meant %s?", p, p);
		return 1;
	}
	normalise(p, norm, sizeof(norm));
	p = norm;
	if (strncmp(p, EDITOR_ROOT, rlen) != 0 || (p[rlen] != '\0' && p[rlen] != '/') ||
	    ps_relative(p + rlen, rel, sizeof(rel)) == -1) {
		errf(out, "The path %s is outside the workspace; only files under %s "
		    "(the session's project) can be viewed or edited.", p, EDITOR_ROOT);
		return 1;
	}
	snprintf(chg->path, sizeof(chg->path), "%s", p);
	snprintf(chg->rel, sizeof(chg->rel), "%s", rel);
	fd = ps_openat(root, rel, O_PATH, 0);
	if (fd == -1 && errno != ENOENT) {
		errf(out, errno == EXDEV ? "The path %s leads outside the workspace "
		    "(through a symlink or ..) and cannot be used." :
		    "The path %s does not exist. Please provide a valid path.", p);
		return 1;
	}
	exists = fd != -1 && fstat(fd, &st) == 0;
	is_dir = exists && S_ISDIR(st.st_mode);
	if (fd != -1)
		close(fd);
	if (!exists && strcmp(cmd, "create") != 0) {
		errf(out, "The path %s does not exist. Please provide a valid path.", p);
		return 1;
	}
	if (exists && strcmp(cmd, "create") == 0) {
		errf(out, "File already exists at: %s. Cannot overwrite files using "
		    "command `create`.", p);
		return 1;
	}
	if (is_dir && strcmp(cmd, "view") != 0) {
		errf(out, "The path %s is a directory and only the `view` command can "
		    "be used on directories", p);
		return 1;
	}
	if (strcmp(cmd, "view") != 0 && strcmp(cmd, "create") != 0 &&
	    strcmp(cmd, "str_replace") != 0 && strcmp(cmd, "insert") != 0) {
		errf(out, "Unrecognized command %s. The allowed commands for the "
		    "str_replace_based_edit_tool tool are: view, create, str_replace, "
		    "insert", cmd);
		return 1;
	}
	if (strcmp(cmd, "view") == 0) {
		int	 rc;

		if (!is_dir && (rc = view_image(root, rel, p, in, out, chg)) != -1)
			return rc;
		return cmd_view(root, rel, p, is_dir, in, max, out);
	}
	if (strcmp(cmd, "create") == 0) {
		if ((ft = jstr(in, "file_text", &present)) == NULL) {
			errf(out, "Parameter `file_text` is required for command: create");
			return 1;
		}
		if (strlen(ft) > max) {
			errf(out, "The file_text for %s is larger than %zu bytes.", p, max);
			return 1;
		}
		if (write_text(root, rel, p, ft, strlen(ft), 1, out) == -1)
			return 1;
		chg->changed = chg->created = 1;
		buf_printf(out, "File created successfully at: %s", p);
		return 0;
	}
	if (strcmp(cmd, "str_replace") == 0)
		return cmd_str_replace(root, rel, p, in, max, out, chg);
	return cmd_insert(root, rel, p, in, max, out, chg);
}
