/*
 * Fuzzes what attach.c reads from a client: image blocks of POST
 * …/messages (the source object's shape, the media type, the strict
 * base64 and the magic bytes) and the query of the @ menu's fuzzy search.
 * The first byte picks the mode, the rest is the input:
 *
 *   0: the rest is JSON, given as the image block (any shape);
 *   1: the rest is the base64 text, with a media type chosen by byte 1;
 *   2: the rest (after byte 1) is base64-encoded here first, so valid
 *      base64 reaches the magic-byte and size checks;
 *   3: "query\0path": the fuzzy score;
 *   4: the rest is a search query over a small fixed tree.
 *
 * Invariants (abort on violation): an image is accepted iff its source is
 * {"type":"base64","media_type":<one of four>,"data":<string>}, the data is
 * strict padded base64 whose decoded bytes start with that type's magic,
 * and the copy returned is exactly type + source with the same data; a
 * refusal is a 400 with a JSON error body. A fuzzy score is -1 iff the query
 * is not a case-insensitive subsequence of the path, else >= 0; search
 * results are at most limit paths that all match.
 */
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <json-c/json.h>

#include "attach.h"
#include "config.h"
#include "http.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const types[] = { "image/png", "image/jpeg", "image/gif",
    "image/webp", "image/svg+xml", "IMAGE/PNG", "", "image/png\n" };

static const char b64chars[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static char *
b64_encode(const uint8_t *p, size_t n)
{
	char	*s, *o;
	size_t	 i;
	unsigned v;

	if ((s = malloc((n + 2) / 3 * 4 + 1)) == NULL)
		abort();
	o = s;
	for (i = 0; i + 2 < n; i += 3) {
		v = (unsigned)p[i] << 16 | (unsigned)p[i + 1] << 8 | p[i + 2];
		*o++ = b64chars[v >> 18 & 63];
		*o++ = b64chars[v >> 12 & 63];
		*o++ = b64chars[v >> 6 & 63];
		*o++ = b64chars[v & 63];
	}
	if (n - i == 1) {
		v = (unsigned)p[i] << 16;
		*o++ = b64chars[v >> 18 & 63];
		*o++ = b64chars[v >> 12 & 63];
		*o++ = '=';
		*o++ = '=';
	} else if (n - i == 2) {
		v = (unsigned)p[i] << 16 | (unsigned)p[i + 1] << 8;
		*o++ = b64chars[v >> 18 & 63];
		*o++ = b64chars[v >> 12 & 63];
		*o++ = b64chars[v >> 6 & 63];
		*o++ = '=';
	}
	*o = '\0';
	return s;
}

/*
 * An independent strict decoder: the decoded bytes (up to cap) in out and
 * their full count in *dlen; -1 when s is not padded standard base64.
 */
static int
ref_decode(const char *s, size_t n, uint8_t *out, size_t cap, size_t *dlen)
{
	size_t		 i, k, o = 0, pad = 0;
	const char	*c;
	unsigned	 v = 0;

	if (n == 0 || n % 4 != 0)
		return -1;
	while (pad < 2 && s[n - 1 - pad] == '=')
		pad++;
	for (i = 0; i < n - pad; i++) {
		if (s[i] == '\0' || (c = strchr(b64chars, s[i])) == NULL)
			return -1;
		v = v << 6 | (unsigned)(c - b64chars);
		if (i % 4 == 3) {
			for (k = 0; k < 3; k++, o++)
				if (o < cap)
					out[o] = (uint8_t)(v >> (16 - 8 * k));
			v = 0;
		}
	}
	/* The last group: 2 or 3 characters before the padding. */
	if (pad > 0) {
		if ((n - pad) % 4 < 2)
			return -1;
		v <<= 6 * pad;
		for (k = 0; k < 3 - pad; k++, o++)
			if (o < cap)
				out[o] = (uint8_t)(v >> (16 - 8 * k));
	}
	*dlen = o;
	return 0;
}

static int
ref_magic(const char *t, const uint8_t *h, size_t n)
{
	if (strcmp(t, "image/png") == 0)
		return n >= 8 && memcmp(h, "\x89PNG\r\n\x1a\n", 8) == 0;
	if (strcmp(t, "image/jpeg") == 0)
		return n >= 3 && h[0] == 0xff && h[1] == 0xd8 && h[2] == 0xff;
	if (strcmp(t, "image/gif") == 0)
		return n >= 6 && (memcmp(h, "GIF87a", 6) == 0 ||
		    memcmp(h, "GIF89a", 6) == 0);
	if (strcmp(t, "image/webp") == 0)
		return n >= 12 && memcmp(h, "RIFF", 4) == 0 &&
		    memcmp(h + 8, "WEBP", 4) == 0;
	return 0;
}

static const char *
str_field(json_object *o, const char *k)
{
	json_object	*v;

	if (!json_object_is_type(o, json_type_object) ||
	    !json_object_object_get_ex(o, k, &v) ||
	    !json_object_is_type(v, json_type_string))
		return NULL;
	return json_object_get_string(v);
}

/* What attach_image_block must decide, by the reference. */
static int
expect_ok(json_object *b)
{
	json_object	*src, *d;
	const char	*t, *mt;
	uint8_t		 head[12];
	size_t		 dlen = 0;

	if (!json_object_is_type(b, json_type_object) ||
	    !json_object_object_get_ex(b, "source", &src) ||
	    (t = str_field(src, "type")) == NULL ||
	    (mt = str_field(src, "media_type")) == NULL ||
	    str_field(src, "data") == NULL)
		return 0;
	json_object_object_get_ex(src, "data", &d);
	if (strcmp(t, "base64") != 0 || strlen(t) != 6)
		return 0;
	memset(head, 0, sizeof(head));
	if (ref_decode(json_object_get_string(d),
	    (size_t)json_object_get_string_len(d), head, sizeof(head), &dlen) == -1)
		return 0;
	if (dlen > ATTACH_IMAGE_MAX)
		return 0;
	return ref_magic(mt, head, dlen < sizeof(head) ? dlen : sizeof(head));
}

static void
check_image(json_object *b)
{
	static struct config	 cfg;
	struct http_req		 r;
	json_object		*out, *src, *v, *in_src, *in_d;
	int			 want;

	want = expect_ok(b);
	http_req_init(&r, &cfg);
	out = attach_image_block(&r, b, 3);
	if (out == NULL) {
		if (want || r.status != 400 || r.body.len == 0)
			abort();
		/* The error body is JSON. */
		v = json_tokener_parse(r.body.p);
		if (v == NULL)
			abort();
		json_object_put(v);
	} else {
		if (!want || r.status != 200 ||
		    json_object_object_length(out) != 2 ||
		    str_field(out, "type") == NULL ||
		    strcmp(str_field(out, "type"), "image") != 0 ||
		    !json_object_object_get_ex(out, "source", &src) ||
		    json_object_object_length(src) != 3)
			abort();
		json_object_object_get_ex(b, "source", &in_src);
		json_object_object_get_ex(in_src, "data", &in_d);
		if (!json_object_object_get_ex(src, "data", &v) || v != in_d ||
		    strcmp(str_field(src, "media_type"),
		    str_field(in_src, "media_type")) != 0)
			abort();
		/* The copy outlives the request body it came from. */
		json_object_put(out);
	}
	http_req_free(&r);
}

static json_object *
image(const char *mt, const char *data, size_t n)
{
	json_object	*b, *s;

	s = json_object_new_object();
	json_object_object_add(s, "type", json_object_new_string("base64"));
	json_object_object_add(s, "media_type", json_object_new_string(mt));
	json_object_object_add(s, "data", json_object_new_string_len(data, (int)n));
	b = json_object_new_object();
	json_object_object_add(b, "type", json_object_new_string("image"));
	json_object_object_add(b, "source", s);
	return b;
}

static int
lc(int c)
{
	return c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c;
}

static int
subseq(const char *q, const char *p)
{
	for (; *q != '\0'; q++) {
		while (*p != '\0' && lc((unsigned char)*p) != lc((unsigned char)*q))
			p++;
		if (*p == '\0')
			return 0;
		p++;
	}
	return 1;
}

/* A small tree under a private temporary directory, made once. */
static const char *const tree_files[] = { "README.md", "src/main.c",
    "src/util/strings.c", "src/util/Strings.h", "docs/a b.txt",
    ".git/config", "node_modules/x/index.js", "deep/a/b/c/d/e/f.txt" };
static char tree_dir[] = "/tmp/fuzz_attach.XXXXXX";

/* Removes the tree at exit: its files, then each directory, deepest first. */
static void
tree_remove(void)
{
	char	 p[512], *s;
	size_t	 i;

	for (i = 0; i < sizeof(tree_files) / sizeof(tree_files[0]); i++) {
		snprintf(p, sizeof(p), "%s/%s", tree_dir, tree_files[i]);
		unlink(p);
		while ((s = strrchr(p, '/')) != NULL && s > p + strlen(tree_dir)) {
			*s = '\0';
			rmdir(p);
		}
	}
	snprintf(p, sizeof(p), "%s/link", tree_dir);
	unlink(p);
	rmdir(tree_dir);
}

static int
tree_root(void)
{
	static int	 root = -2;
	const char *const *files = tree_files;
	char		*dir = tree_dir, p[512], *s;
	size_t		 i;
	int		 fd;

	if (root != -2)
		return root;
	root = -1;
	if (mkdtemp(dir) == NULL)
		return -1;
	atexit(tree_remove);
	for (i = 0; i < sizeof(tree_files) / sizeof(tree_files[0]); i++) {
		snprintf(p, sizeof(p), "%s/%s", dir, files[i]);
		for (s = p + strlen(dir) + 1; (s = strchr(s, '/')) != NULL; s++) {
			*s = '\0';
			mkdir(p, 0700);
			*s = '/';
		}
		if ((fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0600)) != -1)
			close(fd);
	}
	snprintf(p, sizeof(p), "%s/link", dir);
	(void)symlink("/etc", p);
	root = open(dir, O_PATH | O_DIRECTORY);
	return root;
}

static void
check_search(const char *q, int limit)
{
	json_object	*o, *res, *e, *p;
	size_t		 i, n;
	int		 root;

	if ((root = tree_root()) < 0)
		return;
	if ((o = attach_search(root, q, limit)) == NULL)
		abort();
	if (!json_object_object_get_ex(o, "results", &res) ||
	    (n = json_object_array_length(res)) > (size_t)limit)
		abort();
	for (i = 0; i < n; i++) {
		e = json_object_array_get_idx(res, i);
		if (!json_object_object_get_ex(e, "path", &p) ||
		    !subseq(q, json_object_get_string(p)) ||
		    strncmp(json_object_get_string(p), ".git/", 5) == 0 ||
		    strncmp(json_object_get_string(p), "link", 4) == 0 ||
		    strncmp(json_object_get_string(p), "node_modules/", 13) == 0)
			abort();
	}
	json_object_put(o);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	json_tokener	*tok;
	json_object	*b;
	char		*s, *q, *path;
	size_t		 qn;
	long		 score;

	if (size < 2 || size > 64 * 1024)
		return 0;
	switch (data[0] % 5) {
	case 0:
		if ((tok = json_tokener_new_ex(32)) == NULL)
			return 0;
		b = json_tokener_parse_ex(tok, (const char *)data + 1,
		    (int)(size - 1));
		json_tokener_free(tok);
		if (b != NULL) {
			check_image(b);
			json_object_put(b);
		}
		break;
	case 1:
		b = image(types[data[1] % 8], (const char *)data + 2, size - 2);
		check_image(b);
		json_object_put(b);
		break;
	case 2:
		s = b64_encode(data + 2, size - 2);
		b = image(types[data[1] % 8], s, strlen(s));
		check_image(b);
		json_object_put(b);
		free(s);
		break;
	case 3:
		if ((q = malloc(size)) == NULL)
			return 0;
		memcpy(q, data + 1, size - 1);
		q[size - 1] = '\0';
		qn = strlen(q);
		path = qn + 1 < size - 1 ? q + qn + 1 : q + qn;
		score = attach_fuzzy_score(q, path);
		if ((score < 0) != !subseq(q, path) || score < -1 ||
		    (qn == 0 && score != 0))
			abort();
		free(q);
		break;
	case 4:
		if (size - 2 > ATTACH_SEARCH_QUERY_MAX)
			return 0;
		if ((q = malloc(size)) == NULL)
			return 0;
		memcpy(q, data + 2, size - 2);
		q[size - 2] = '\0';
		check_search(q, data[1] % ATTACH_SEARCH_LIMIT_MAX + 1);
		free(q);
		break;
	}
	return 0;
}
