/*
 * attach: @-mentioned files, image blocks and the file search of the @ menu
 * (see attach.h). Workspace files are touched only fd-relative through
 * pathsafe (openat2 RESOLVE_BENEATH), one name at a time with O_NOFOLLOW.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "attach.h"
#include "buf.h"
#include "http.h"
#include "jsonio.h"
#include "pathsafe.h"
#include "sessions.h"

/* ---- images ------------------------------------------------------------ */

static int
b64val(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

/*
 * Strict base64 (RFC 4648 section 4, padded, no whitespace): the decoded
 * length in *dlen and the first bytes (up to headcap) in head. 0 or -1
 * with *why set.
 */
static int
b64_check(const char *s, size_t n, size_t *dlen, unsigned char *head,
    size_t headcap, const char **why)
{
	size_t		 i, pad = 0, o = 0;
	unsigned	 acc = 0;
	int		 v, bits = 0;

	if (n == 0 || n % 4 != 0) {
		*why = "its length is not a multiple of 4";
		return -1;
	}
	if (s[n - 1] == '=')
		pad = s[n - 2] == '=' ? 2 : 1;
	for (i = 0; i < n - pad; i++) {
		if ((v = b64val((unsigned char)s[i])) < 0) {
			*why = s[i] == '=' ? "'=' appears before the end" :
			    "it has a character outside the base64 alphabet";
			return -1;
		}
		if (o < headcap) {
			acc = (acc << 6) | (unsigned)v;
			bits += 6;
			if (bits >= 8) {
				bits -= 8;
				head[o++] = (unsigned char)(acc >> bits);
				acc &= (1u << bits) - 1;
			}
		}
	}
	*dlen = n / 4 * 3 - pad;
	return 0;
}

static const struct {
	const char	*type;
	const char	*name;
} image_types[] = {
	{ "image/png", "PNG" },
	{ "image/jpeg", "JPEG" },
	{ "image/gif", "GIF" },
	{ "image/webp", "WebP" },
};

static int
magic_ok(const char *type, const unsigned char *h, size_t n)
{
	if (strcmp(type, "image/png") == 0)
		return n >= 8 && memcmp(h, "\x89PNG\r\n\x1a\n", 8) == 0;
	if (strcmp(type, "image/jpeg") == 0)
		return n >= 3 && h[0] == 0xFF && h[1] == 0xD8 && h[2] == 0xFF;
	if (strcmp(type, "image/gif") == 0)
		return n >= 6 && (memcmp(h, "GIF87a", 6) == 0 ||
		    memcmp(h, "GIF89a", 6) == 0);
	if (strcmp(type, "image/webp") == 0)
		return n >= 12 && memcmp(h, "RIFF", 4) == 0 &&
		    memcmp(h + 8, "WEBP", 4) == 0;
	return 0;
}

int
attach_image_data_ok(const char *media_type, const char *b64, size_t len,
    const char **why)
{
	unsigned char	 head[12];
	size_t		 i, dlen = 0;
	const char	*bwhy = NULL;
	int		 known = 0;

	for (i = 0; i < sizeof(image_types) / sizeof(image_types[0]); i++)
		if (media_type != NULL && strcmp(media_type, image_types[i].type) == 0)
			known = 1;
	if (!known) {
		*why = "its media type is not image/png, image/jpeg, image/gif "
		    "or image/webp";
		return -1;
	}
	memset(head, 0, sizeof(head));
	if (b64 == NULL || b64_check(b64, len, &dlen, head, sizeof(head),
	    &bwhy) == -1) {
		*why = "its data is not valid base64 (the standard alphabet, "
		    "padded, no whitespace)";
		return -1;
	}
	if (dlen > ATTACH_IMAGE_MAX) {
		*why = "it is larger than 5 MiB";
		return -1;
	}
	if (!magic_ok(media_type, head, dlen < sizeof(head) ? dlen : sizeof(head))) {
		*why = "its first bytes do not match its media type";
		return -1;
	}
	return 0;
}

json_object *
attach_image_block(struct http_req *r, json_object *b, size_t idx)
{
	json_object	*src, *t, *mt, *data, *o, *so;
	const char	*mts, *why = NULL, *name = NULL;
	unsigned char	 head[12];
	size_t		 i, dlen = 0;

	if (!json_object_object_get_ex(b, "source", &src) ||
	    !json_object_is_type(src, json_type_object) ||
	    !json_object_object_get_ex(src, "type", &t) ||
	    !json_object_is_type(t, json_type_string) ||
	    !json_object_object_get_ex(src, "media_type", &mt) ||
	    !json_object_is_type(mt, json_type_string) ||
	    !json_object_object_get_ex(src, "data", &data) ||
	    !json_object_is_type(data, json_type_string)) {
		http_error(r, 400, NULL, "field 'content[%zu]' (an image) must be "
		    "{\"type\":\"image\",\"source\":{\"type\":\"base64\","
		    "\"media_type\":\"image/png\",\"data\":\"...\"}}", idx);
		return NULL;
	}
	if (strcmp(json_object_get_string(t), "base64") != 0) {
		http_error(r, 400, NULL, "field 'content[%zu].source.type' must be "
		    "\"base64\" (image URLs and file ids are not accepted)", idx);
		return NULL;
	}
	mts = json_object_get_string(mt);
	for (i = 0; i < sizeof(image_types) / sizeof(image_types[0]); i++)
		if (strcmp(mts, image_types[i].type) == 0)
			name = image_types[i].name;
	if (name == NULL) {
		http_error(r, 400, NULL, "field 'content[%zu].source.media_type' "
		    "must be image/png, image/jpeg, image/gif or image/webp", idx);
		return NULL;
	}
	memset(head, 0, sizeof(head));
	if (b64_check(json_object_get_string(data),
	    (size_t)json_object_get_string_len(data), &dlen, head, sizeof(head),
	    &why) == -1) {
		http_error(r, 400, NULL, "field 'content[%zu].source.data' is not "
		    "valid base64: %s", idx, why);
		return NULL;
	}
	if (dlen > ATTACH_IMAGE_MAX) {
		http_error(r, 400, NULL, "field 'content[%zu]': the image is %zu "
		    "bytes; at most %d bytes (5 MiB) per image", idx, dlen,
		    ATTACH_IMAGE_MAX);
		return NULL;
	}
	if (!magic_ok(mts, head, dlen < sizeof(head) ? dlen : sizeof(head))) {
		http_error(r, 400, NULL, "field 'content[%zu]': the data is not a "
		    "%s image (its first bytes do not match %s)", idx, name, mts);
		return NULL;
	}
	so = json_object_new_object();
	json_object_object_add(so, "type", json_object_new_string("base64"));
	json_object_object_add(so, "media_type", json_object_new_string(mts));
	json_object_object_add(so, "data", json_object_get(data));
	o = json_object_new_object();
	json_object_object_add(o, "type", json_object_new_string("image"));
	json_object_object_add(o, "source", so);
	return o;
}

/* ---- attached files ---------------------------------------------------- */

/*
 * Opens rel beneath root without following a symlink at any component:
 * each directory is looked at (lstat-like) and opened by its one name with
 * O_NOFOLLOW. The last one must be a regular file of at most cap bytes;
 * its bytes are appended to out. 0 or -1 with errno (ELOOP: a link,
 * EINVAL: not a regular file, EFBIG: too large).
 */
static int
read_nofollow(int root, const char *rel, size_t cap, struct buf *out)
{
	char		 tmp[PS_PATH_MAX], chunk[16384];
	char		*p, *slash;
	struct stat	 st;
	ssize_t		 n;
	int		 cur, fd, e;

	if (snprintf(tmp, sizeof(tmp), "%s", rel) >= (int)sizeof(tmp)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	cur = root;
	p = tmp;
	while ((slash = strchr(p, '/')) != NULL) {
		*slash = '\0';
		if (fstatat(cur, p, &st, AT_SYMLINK_NOFOLLOW) == -1)
			goto fail;
		if (S_ISLNK(st.st_mode)) {
			errno = ELOOP;
			goto fail;
		}
		if (!S_ISDIR(st.st_mode)) {
			errno = ENOTDIR;
			goto fail;
		}
		fd = ps_openat(cur, p, O_RDONLY | O_DIRECTORY | O_NOFOLLOW, 0);
		if (fd == -1)
			goto fail;
		if (cur != root)
			close(cur);
		cur = fd;
		p = slash + 1;
	}
	if (fstatat(cur, p, &st, AT_SYMLINK_NOFOLLOW) == -1)
		goto fail;
	if (S_ISLNK(st.st_mode)) {
		errno = ELOOP;
		goto fail;
	}
	/* O_NONBLOCK: a FIFO swapped in meanwhile must not block. */
	fd = ps_openat(cur, p, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY, 0);
	if (fd == -1)
		goto fail;
	if (cur != root)
		close(cur);
	cur = -1;
	if (fstat(fd, &st) == -1 || !S_ISREG(st.st_mode)) {
		close(fd);
		errno = EINVAL;
		return -1;
	}
	if ((size_t)st.st_size > cap) {
		close(fd);
		errno = EFBIG;
		return -1;
	}
	while ((n = read(fd, chunk, sizeof(chunk))) > 0) {
		if (out->len + (size_t)n > cap || buf_append(out, chunk, (size_t)n) == -1) {
			close(fd);
			errno = EFBIG;
			return -1;
		}
	}
	e = errno;
	close(fd);
	errno = e;
	return n < 0 ? -1 : 0;
fail:
	e = errno;
	if (cur != root && cur >= 0)
		close(cur);
	errno = e;
	return -1;
}

static int
file_error(struct http_req *r, size_t i, const char *rel, int e)
{
	switch (e) {
	case ENOENT:
		return http_error(r, 400, NULL, "field 'attachments[%zu]': no such "
		    "file: %s", i, rel);
	case ELOOP:
	case EXDEV:
		return http_error(r, 400, NULL, "field 'attachments[%zu]': %s is a "
		    "symbolic link or has one on its path (links are not followed)",
		    i, rel);
	case ENOTDIR:
		return http_error(r, 400, NULL, "field 'attachments[%zu]': a "
		    "component of %s is not a directory", i, rel);
	case EISDIR:
	case EINVAL:
		return http_error(r, 400, NULL, "field 'attachments[%zu]': %s is not "
		    "a regular file", i, rel);
	case EFBIG:
		return http_error(r, 400, NULL, "field 'attachments[%zu]': %s is "
		    "larger than %d bytes (100 kB), the limit for an attached file",
		    i, rel, ATTACH_FILE_MAX);
	case EACCES:
	case EPERM:
		return http_error(r, 400, NULL, "field 'attachments[%zu]': %s is not "
		    "readable", i, rel);
	default:
		return http_error(r, 500, NULL, "attachments[%zu]: %s could not be "
		    "read: %s", i, rel, strerror(e));
	}
}

/* The text block of one attached file. */
static json_object *
file_block(const char *rel, const struct buf *content)
{
	struct buf	 t;
	const char	*p;
	json_object	*o;

	buf_init(&t, ATTACH_FILE_MAX + PS_PATH_MAX * 6 + 64);
	buf_puts(&t, ATTACH_FILE_PREFIX);
	for (p = rel; *p != '\0'; p++) {
		switch (*p) {
		case '"': buf_puts(&t, "&quot;"); break;
		case '&': buf_puts(&t, "&amp;"); break;
		case '<': buf_puts(&t, "&lt;"); break;
		case '>': buf_puts(&t, "&gt;"); break;
		default: buf_putc(&t, *p);
		}
	}
	buf_puts(&t, "\">\n");
	if (content->len > 0) {
		buf_append(&t, content->p, content->len);
		if (content->p[content->len - 1] != '\n')
			buf_putc(&t, '\n');
	}
	buf_puts(&t, "</attached_file>");
	o = json_object_new_object();
	json_object_object_add(o, "type", json_object_new_string("text"));
	json_object_object_add(o, "text", json_object_new_string_len(
	    t.p ? t.p : "", (int)t.len));
	buf_free(&t);
	return o;
}

int
attach_files(struct http_req *r, const struct config *cfg, const char *sid,
    json_object *body, json_object **content)
{
	json_object	*a, *it, *pv, *blocks, *c, *tb;
	char		 rels[ATTACH_FILES_MAX][PS_PATH_MAX], dir[PATH_MAX];
	const char	*raw, *why;
	struct buf	 data;
	size_t		 i, j, n, nrel = 0, off;
	int		 root, dup;

	if (!json_object_object_get_ex(body, "attachments", &a) || a == NULL)
		return 0;
	if (!json_object_is_type(a, json_type_array))
		return http_error(r, 400, NULL, "field 'attachments' must be an "
		    "array of {\"path\": \"...\"}"), -1;
	if ((n = json_object_array_length(a)) == 0)
		return 0;
	if (n > ATTACH_FILES_MAX)
		return http_error(r, 400, NULL, "field 'attachments' may name at "
		    "most %d files", ATTACH_FILES_MAX), -1;
	if (sessions_path(cfg, sid, "files", dir, sizeof(dir)) == -1 ||
	    (root = ps_open_root(dir)) == -1)
		return http_error(r, 500, NULL, "the session workspace is "
		    "unavailable"), -1;
	blocks = json_object_new_array();
	for (i = 0; i < n; i++) {
		it = json_object_array_get_idx(a, i);
		if (!json_object_is_type(it, json_type_object) ||
		    !json_object_object_get_ex(it, "path", &pv) ||
		    !json_object_is_type(pv, json_type_string) ||
		    json_object_get_string_len(pv) == 0) {
			http_error(r, 400, NULL, "field 'attachments[%zu]' must be "
			    "{\"path\": \"...\"} with a non-empty path", i);
			goto bad;
		}
		raw = json_object_get_string(pv);
		if ((why = jsonio_utf8_problem(raw, strlen(raw), &off)) != NULL ||
		    (size_t)json_object_get_string_len(pv) != strlen(raw)) {
			http_error(r, 400, NULL, "field 'attachments[%zu].path' is "
			    "not a valid path", i);
			goto bad;
		}
		if (strncmp(raw, "/workspace", 10) == 0 &&
		    (raw[10] == '/' || raw[10] == '\0'))
			raw += 10;
		if (ps_relative(raw, rels[nrel], sizeof(rels[nrel])) == -1 ||
		    rels[nrel][0] == '\0') {
			http_error(r, 400, NULL, "field 'attachments[%zu].path' must "
			    "name a file under the session's files ('..' and "
			    "over-long paths are not allowed)", i);
			goto bad;
		}
		for (dup = 0, j = 0; j < nrel; j++)
			if (strcmp(rels[j], rels[nrel]) == 0)
				dup = 1;
		if (dup)
			continue;
		buf_init(&data, ATTACH_FILE_MAX);
		if (read_nofollow(root, rels[nrel], ATTACH_FILE_MAX, &data) == -1) {
			file_error(r, i, rels[nrel], errno);
			buf_free(&data);
			goto bad;
		}
		if ((data.len > 0 && memchr(data.p, '\0', data.len) != NULL) ||
		    !jsonio_utf8_valid(data.p ? data.p : "", data.len)) {
			http_error(r, 400, NULL, "field 'attachments[%zu]': %s is not "
			    "a text file (binary or not UTF-8); attach text files "
			    "only, or add images as images", i, rels[nrel]);
			buf_free(&data);
			goto bad;
		}
		json_object_array_add(blocks, file_block(rels[nrel], &data));
		buf_free(&data);
		nrel++;
	}
	close(root);
	c = *content;
	if (json_object_is_type(c, json_type_string)) {
		tb = json_object_new_object();
		json_object_object_add(tb, "type", json_object_new_string("text"));
		json_object_object_add(tb, "text", json_object_get(c));
		json_object_array_add(blocks, tb);
	} else
		for (i = 0; i < json_object_array_length(c); i++)
			json_object_array_add(blocks, json_object_get(
			    json_object_array_get_idx(c, i)));
	json_object_put(c);
	*content = blocks;
	return 0;
bad:
	close(root);
	json_object_put(blocks);
	return -1;
}

/* ---- room in the conversation ------------------------------------------ */

long long
attach_conversation_bytes(const struct config *cfg, const char *sid)
{
	char		 path[PATH_MAX];
	struct stat	 st;
	struct dirent	*de;
	long long	 n = 0;
	int		 fd, k = 0;
	DIR		*d;

	if (sessions_path(cfg, sid, ".claude/history.json", path, sizeof(path)) == 0 &&
	    lstat(path, &st) == 0 && S_ISREG(st.st_mode))
		n += st.st_size;
	if (sessions_path(cfg, sid, ".claude/inbox", path, sizeof(path)) == -1 ||
	    (fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)) == -1)
		return n;
	if ((d = fdopendir(fd)) == NULL) {
		close(fd);
		return n;
	}
	/* Bounded: the inbox holds SESSION_QUEUE_MAX messages or so. */
	while ((de = readdir(d)) != NULL && k++ < 1000)
		if (de->d_name[0] != '.' && fstatat(dirfd(d), de->d_name, &st,
		    AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(st.st_mode))
			n += st.st_size;
	closedir(d);
	return n;
}

int
attach_room(struct http_req *r, const struct config *cfg, const char *sid,
    json_object *content)
{
	json_object	*b, *t;
	long long	 have, add;
	size_t		 i;
	int		 images = 0;

	if (!json_object_is_type(content, json_type_array))
		return 0;
	for (i = 0; i < json_object_array_length(content); i++) {
		b = json_object_array_get_idx(content, i);
		if (json_object_object_get_ex(b, "type", &t) &&
		    strcmp(json_object_get_string(t), "image") == 0)
			images++;
	}
	if (images == 0)
		return 0;
	add = (long long)strlen(json_object_to_json_string_ext(content,
	    JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
	have = attach_conversation_bytes(cfg, sid);
	if (have + add <= ATTACH_HISTORY_MAX)
		return 0;
	return http_error(r, 413, NULL, "this conversation already holds %lld "
	    "kB (its images above all), and Claude is sent all of it with each "
	    "request: with this message it would pass %d MB. Compact it "
	    "(/compact), clear it (/clear) or start a new session, or send "
	    "fewer or smaller images", have / 1024, ATTACH_HISTORY_MAX / 1048576),
	    -1;
}

/* ---- the file search --------------------------------------------------- */

static int
lower(int c)
{
	return c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c;
}

static int
boundary(const char *path, size_t i)
{
	return i == 0 || strchr("/._- ", path[i - 1]) != NULL;
}

long
attach_fuzzy_score(const char *q, const char *path)
{
	size_t		 i = 0, j, qn = strlen(q), pn = strlen(path), base, last = 0;
	const char	*slash = strrchr(path, '/');
	long		 score = 0;
	int		 started = 0;

	base = slash ? (size_t)(slash - path) + 1 : 0;
	for (j = 0; j < qn; j++) {
		while (i < pn && lower((unsigned char)path[i]) !=
		    lower((unsigned char)q[j]))
			i++;
		if (i >= pn)
			return -1;
		/*
		 * Each matched character earns at least 1, so any match scores
		 * >= 0 and -1 stays "no match": a gap costs at most 9.
		 */
		score += 10;
		if (started && i == last + 1)
			score += 15;		/* consecutive */
		else if (started)
			score -= (long)(i - last > 18 ? 9 : (i - last) / 2);
		if (boundary(path, i))
			score += 12;		/* starts a name or word */
		if (i >= base)
			score += 6;		/* in the file's own name */
		last = i;
		started = 1;
		i++;
	}
	/* Whole-query substring matches, in the name above all. */
	if (qn > 0) {
		for (j = base; j + qn <= pn; j++)
			if (strncasecmp(path + j, q, qn) == 0) {
				score += 60;
				break;
			}
		for (j = 0; j + qn <= pn; j++)
			if (strncasecmp(path + j, q, qn) == 0) {
				score += 30;
				break;
			}
	}
	return score;
}

struct hit {
	char		*path;
	long		 score;
	long long	 size;
};

/* a before b? */
static int
better(const struct hit *a, long score, const char *path)
{
	size_t	 la = strlen(a->path), lb = strlen(path);

	if (a->score != score)
		return a->score > score;
	if (la != lb)
		return la < lb;
	return strcmp(a->path, path) < 0;
}

static void
keep(struct hit *hits, int *n, int limit, const char *path, long score,
    long long size)
{
	int	 at, k;
	char	*dup;

	for (at = *n; at > 0 && !better(&hits[at - 1], score, path); at--)
		;
	if (at >= limit)
		return;
	if ((dup = strdup(path)) == NULL)
		return;
	if (*n == limit) {
		free(hits[limit - 1].path);
		(*n)--;
	}
	for (k = *n; k > at; k--)
		hits[k] = hits[k - 1];
	hits[at].path = dup;
	hits[at].score = score;
	hits[at].size = size;
	(*n)++;
}

static long long
now_ms(void)
{
	struct timespec	 ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

json_object *
attach_search(int root, const char *q, int limit)
{
	struct {
		DIR	*d;
		size_t	 plen;
	}		 st[ATTACH_SEARCH_DEPTH];
	struct hit	*hits;
	struct dirent	*de;
	struct stat	 sb, rootst;
	char		 path[PS_PATH_MAX];
	json_object	*o, *arr, *e;
	long long	 deadline = now_ms() + ATTACH_SEARCH_BUDGET_MS;
	long		 score;
	size_t		 nl, plen;
	int		 depth = 0, n = 0, fd, truncated = 0, i;
	unsigned long	 visited = 0;

	if ((hits = calloc((size_t)limit, sizeof(*hits))) == NULL)
		return NULL;
	fd = ps_openat(root, "", O_RDONLY | O_DIRECTORY, 0);
	if (fd != -1 && fstat(fd, &rootst) == 0 &&
	    (st[0].d = fdopendir(fd)) != NULL) {
		st[0].plen = 0;
		depth = 1;
	} else if (fd != -1)
		close(fd);
	path[0] = '\0';
	while (depth > 0) {
		if ((de = readdir(st[depth - 1].d)) == NULL) {
			closedir(st[depth - 1].d);
			depth--;
			continue;
		}
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		if (++visited > ATTACH_SEARCH_VISIT ||
		    ((visited & 63) == 0 && now_ms() > deadline)) {
			truncated = 1;
			break;
		}
		plen = st[depth - 1].plen;
		nl = strlen(de->d_name);
		if (plen + 1 + nl >= sizeof(path) ||
		    !jsonio_utf8_valid(de->d_name, nl))
			continue;
		if (plen > 0)
			path[plen] = '/';
		memcpy(path + plen + (plen > 0), de->d_name, nl + 1);
		if (fstatat(dirfd(st[depth - 1].d), de->d_name, &sb,
		    AT_SYMLINK_NOFOLLOW) == -1)
			continue;
		if (S_ISDIR(sb.st_mode)) {
			if (strcmp(de->d_name, ".git") == 0 ||
			    strcmp(de->d_name, "node_modules") == 0 ||
			    sb.st_dev != rootst.st_dev ||
			    depth >= ATTACH_SEARCH_DEPTH)
				continue;
			fd = ps_openat(dirfd(st[depth - 1].d), de->d_name,
			    O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_NONBLOCK, 0);
			if (fd == -1)
				continue;
			if ((st[depth].d = fdopendir(fd)) == NULL) {
				close(fd);
				continue;
			}
			st[depth].plen = plen + (plen > 0) + nl;
			depth++;
			continue;
		}
		if (!S_ISREG(sb.st_mode))
			continue;
		if ((score = attach_fuzzy_score(q, path)) < 0)
			continue;
		keep(hits, &n, limit, path, score, (long long)sb.st_size);
	}
	while (depth > 0)
		closedir(st[--depth].d);
	arr = json_object_new_array();
	for (i = 0; i < n; i++) {
		e = json_object_new_object();
		json_object_object_add(e, "path", json_object_new_string(hits[i].path));
		json_object_object_add(e, "size", json_object_new_int64(hits[i].size));
		json_object_array_add(arr, e);
		free(hits[i].path);
	}
	free(hits);
	o = json_object_new_object();
	json_object_object_add(o, "query", json_object_new_string(q));
	json_object_object_add(o, "results", arr);
	json_object_object_add(o, "truncated", json_object_new_boolean(truncated));
	return o;
}
