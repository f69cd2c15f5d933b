#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "http.h"
#include "jsonio.h"

/*
 * The one strict UTF-8 decoder. Returns the length (1..4) of the
 * well-formed sequence at s[0..n), n >= 1; or 0 when it is ill-formed,
 * with *bad = the length of its maximal ill-formed subpart (the longest
 * prefix of some well-formed sequence, at least 1 byte: Unicode 3.9,
 * "U+FFFD substitution of maximal subparts") and *why naming the problem.
 * Well-formed sequences (Unicode table 3-7):
 *   00..7F | C2..DF 80..BF | E0 A0..BF 80..BF | E1..EC,EE..EF 80..BF 80..BF
 *   | ED 80..9F 80..BF | F0 90..BF 80..BF 80..BF | F1..F3 80..BF x3
 *   | F4 80..8F 80..BF 80..BF
 */
static size_t
utf8_seq(const unsigned char *s, size_t n, size_t *bad, const char **why)
{
	unsigned char	 lo = 0x80, hi = 0xBF;
	size_t		 len, i;

	*bad = 1;
	if (s[0] < 0x80)
		return 1;
	if (s[0] < 0xC0) {
		*why = "a continuation byte without a lead byte";
		return 0;
	}
	if (s[0] < 0xC2) {
		*why = "an overlong encoding";
		return 0;
	}
	if (s[0] < 0xE0)
		len = 2;
	else if (s[0] < 0xF0) {
		len = 3;
		if (s[0] == 0xE0)
			lo = 0xA0;
		else if (s[0] == 0xED)
			hi = 0x9F;
	} else if (s[0] < 0xF5) {
		len = 4;
		if (s[0] == 0xF0)
			lo = 0x90;
		else if (s[0] == 0xF4)
			hi = 0x8F;
	} else {
		*why = s[0] < 0xF8 ? "a code point above U+10FFFF" :
		    s[0] < 0xFE ? "a 5- or 6-byte sequence" :
		    "a byte that never occurs in UTF-8 (FE or FF)";
		return 0;
	}
	if (n < 2) {
		*why = "a truncated sequence";
		return 0;
	}
	if (s[1] < lo || s[1] > hi) {
		if (s[1] < 0x80 || s[1] > 0xBF)
			*why = "a truncated sequence";
		else if (s[0] == 0xED)
			*why = "a UTF-16 surrogate";
		else if (s[0] == 0xF4)
			*why = "a code point above U+10FFFF";
		else
			*why = "an overlong encoding";
		return 0;
	}
	for (i = 2; i < len; i++) {
		if (i >= n || s[i] < 0x80 || s[i] > 0xBF) {
			*bad = i;
			*why = "a truncated sequence";
			return 0;
		}
	}
	return len;
}

const char *
jsonio_utf8_problem(const char *s, size_t n, size_t *off)
{
	const unsigned char	*p = (const unsigned char *)s;
	const char		*why = NULL;
	size_t			 i = 0, k, bad;

	while (i < n) {
		/* ASCII runs are the common case. */
		if (p[i] < 0x80) {
			i++;
			continue;
		}
		if ((k = utf8_seq(p + i, n - i, &bad, &why)) == 0) {
			if (off != NULL)
				*off = i;
			return why;
		}
		i += k;
	}
	return NULL;
}

int
jsonio_utf8_valid(const char *s, size_t n)
{
	return jsonio_utf8_problem(s, n, NULL) == NULL;
}

char *
jsonio_utf8_repair(const char *s, size_t n, size_t *outlen)
{
	const unsigned char	*p = (const unsigned char *)s;
	const char		*why;
	char			*out;
	size_t			 i = 0, o = 0, k, bad;

	if (jsonio_utf8_valid(s, n)) {
		/* The usual case: a plain copy, no 3x allocation. */
		if ((out = malloc(n + 1)) == NULL)
			return NULL;
		if (n > 0)
			memcpy(out, s, n);
		out[n] = '\0';
		if (outlen != NULL)
			*outlen = n;
		return out;
	}
	/* Each ill-formed subpart is >= 1 byte and becomes 3: at most 3n. */
	if (n > (((size_t)-1) - 1) / 3 || (out = malloc(3 * n + 1)) == NULL)
		return NULL;
	while (i < n) {
		if (p[i] < 0x80) {
			out[o++] = (char)p[i++];
			continue;
		}
		if ((k = utf8_seq(p + i, n - i, &bad, &why)) > 0) {
			memcpy(out + o, p + i, k);
			o += k;
			i += k;
		} else {
			memcpy(out + o, "\xEF\xBF\xBD", 3);
			o += 3;
			i += bad;
		}
	}
	out[o] = '\0';
	if (outlen != NULL)
		*outlen = o;
	return out;
}

/*
 * Replaces the string of v (json_type_string) by its repair when it is not
 * valid UTF-8. Returns 1 when repaired, 0 when it was valid.
 */
static int
repair_string(json_object *v)
{
	const char	*s = json_object_get_string(v);
	size_t		 n = (size_t)json_object_get_string_len(v), m;
	char		*fixed;

	if (jsonio_utf8_valid(s, n))
		return 0;
	if ((fixed = jsonio_utf8_repair(s, n, &m)) == NULL || m > (size_t)INT_MAX) {
		/* Out of memory: an empty string is still valid UTF-8. */
		json_object_set_string_len(v, "", 0);
		free(fixed);
		return 1;
	}
	json_object_set_string_len(v, fixed, (int)m);
	free(fixed);
	return 1;
}

int
jsonio_utf8_repair_tree(json_object *o)
{
	struct json_object_iterator	 it, end;
	json_object			*v, *moved;
	const char			*k;
	char				*fk;
	size_t				 i, n;
	int				 fixes = 0, badkeys = 0;

	switch (json_object_get_type(o)) {
	case json_type_string:
		return repair_string(o);
	case json_type_array:
		n = json_object_array_length(o);
		for (i = 0; i < n; i++)
			fixes += jsonio_utf8_repair_tree(json_object_array_get_idx(o, i));
		return fixes;
	case json_type_object:
		break;
	default:
		return 0;
	}
	it = json_object_iter_begin(o);
	end = json_object_iter_end(o);
	for (; !json_object_iter_equal(&it, &end); json_object_iter_next(&it)) {
		k = json_object_iter_peek_name(&it);
		if (!jsonio_utf8_valid(k, strlen(k)))
			badkeys++;
		fixes += jsonio_utf8_repair_tree(json_object_iter_peek_value(&it));
	}
	if (badkeys == 0)
		return fixes;
	/*
	 * Keys cannot be renamed in place: move every member, in order, to a
	 * scratch object, then back under repaired keys (a later member wins
	 * when two keys repair to the same one).
	 */
	moved = json_object_new_object();
	while (it = json_object_iter_begin(o), end = json_object_iter_end(o),
	    !json_object_iter_equal(&it, &end)) {
		k = json_object_iter_peek_name(&it);
		v = json_object_iter_peek_value(&it);
		json_object_object_add(moved, k, json_object_get(v));
		json_object_object_del(o, k);
	}
	it = json_object_iter_begin(moved);
	end = json_object_iter_end(moved);
	for (; !json_object_iter_equal(&it, &end); json_object_iter_next(&it)) {
		k = json_object_iter_peek_name(&it);
		v = json_object_get(json_object_iter_peek_value(&it));
		if ((fk = jsonio_utf8_repair(k, strlen(k), NULL)) == NULL) {
			json_object_put(v);
			continue;
		}
		json_object_object_add(o, fk, v);
		free(fk);
	}
	json_object_put(moved);
	return fixes + badkeys;
}

/*
 * Finds the first string or key in o that is not valid UTF-8 and writes
 * where it is ("content[0].text") to path, or "a key in <path>". Returns
 * the problem (see jsonio_utf8_problem) or NULL. Keys that are themselves
 * invalid are never copied into path, so the message stays valid UTF-8.
 */
static const char *
utf8_tree_problem(json_object *o, char *path, size_t cap, size_t *off)
{
	struct json_object_iterator	 it, end;
	const char			*why, *k;
	size_t				 len = strlen(path), i, n, kl;
	int				 w;

	switch (json_object_get_type(o)) {
	case json_type_string:
		return jsonio_utf8_problem(json_object_get_string(o),
		    (size_t)json_object_get_string_len(o), off);
	case json_type_array:
		n = json_object_array_length(o);
		for (i = 0; i < n; i++) {
			w = snprintf(path + len, cap - len, "[%zu]", i);
			if (w < 0 || (size_t)w >= cap - len)
				path[len] = '\0';
			if ((why = utf8_tree_problem(json_object_array_get_idx(o, i),
			    path, cap, off)) != NULL)
				return why;
			path[len] = '\0';
		}
		return NULL;
	case json_type_object:
		break;
	default:
		return NULL;
	}
	it = json_object_iter_begin(o);
	end = json_object_iter_end(o);
	for (; !json_object_iter_equal(&it, &end); json_object_iter_next(&it)) {
		k = json_object_iter_peek_name(&it);
		if ((why = jsonio_utf8_problem(k, strlen(k), off)) != NULL) {
			static const char pre[] = "a key in '";

			if (len == 0 || len + sizeof(pre) + 1 > cap)
				snprintf(path, cap, "a key of the body");
			else {
				memmove(path + sizeof(pre) - 1, path, len);
				memcpy(path, pre, sizeof(pre) - 1);
				memcpy(path + sizeof(pre) - 1 + len, "'", 2);
			}
			return why;
		}
		/* At most 40 bytes of a key, cut between characters. */
		kl = strlen(k);
		if (kl > 40)
			for (kl = 40; kl > 0 && ((unsigned char)k[kl] & 0xC0) == 0x80;)
				kl--;
		w = snprintf(path + len, cap - len, "%s%.*s", len ? "." : "",
		    (int)kl, k);
		if (w < 0 || (size_t)w >= cap - len)
			path[len] = '\0';
		if ((why = utf8_tree_problem(json_object_iter_peek_value(&it),
		    path, cap, off)) != NULL)
			return why;
		path[len] = '\0';
	}
	return NULL;
}

static int
hex4(const char *p, unsigned *cp)
{
	unsigned	 v = 0;
	int		 i, d;

	for (i = 0; i < 4; i++) {
		d = (unsigned char)p[i];
		if (d >= '0' && d <= '9')
			d -= '0';
		else if (d >= 'a' && d <= 'f')
			d -= 'a' - 10;
		else if (d >= 'A' && d <= 'F')
			d -= 'A' - 10;
		else
			return -1;
		v = v * 16 + (unsigned)d;
	}
	*cp = v;
	return 0;
}

/*
 * json-c decodes an unpaired surrogate escape ("\ud800", "\udc00") to
 * U+FFFD without an error, so a surrogate would slip through as a
 * replacement character. This scans the raw text (already accepted as
 * JSON) for \uXXXX escapes: a high surrogate must be followed at once
 * by an escaped low one, and a low one must never come alone. Returns the
 * byte offset of the first bad escape, or -1.
 */
static long
lone_surrogate_escape(const char *s, size_t n)
{
	size_t		 i;
	unsigned	 cp, lo;
	int		 in_str = 0;

	for (i = 0; i < n; i++) {
		if (!in_str) {
			if (s[i] == '"')
				in_str = 1;
			continue;
		}
		if (s[i] == '"') {
			in_str = 0;
			continue;
		}
		if (s[i] != '\\' || i + 1 >= n)
			continue;
		if (s[i + 1] != 'u' || i + 6 > n || hex4(s + i + 2, &cp) == -1) {
			i++;	/* a two-character escape */
			continue;
		}
		if (cp >= 0xDC00 && cp <= 0xDFFF)
			return (long)i;
		if (cp >= 0xD800 && cp <= 0xDBFF) {
			if (i + 12 > n || s[i + 6] != '\\' || s[i + 7] != 'u' ||
			    hex4(s + i + 8, &lo) == -1 || lo < 0xDC00 || lo > 0xDFFF)
				return (long)i;
			i += 6;	/* the low half */
		}
		i += 5;
	}
	return -1;
}

static int
is_json_type(const char *ct)
{
	size_t	 n = strlen("application/json");

	if (ct == NULL)
		return 0;
	while (*ct == ' ')
		ct++;
	return strncasecmp(ct, "application/json", n) == 0 &&
	    (ct[n] == '\0' || ct[n] == ';' || ct[n] == ' ');
}

/*
 * Every string and key of a parsed body must be strictly valid UTF-8,
 * both as bytes and as escapes: the Messages API refuses anything else,
 * so one stored bad byte would break every later call of the session.
 * Returns 0, or -1 with a 400 naming the field and the problem written.
 */
static int
utf8_body_problem(struct http_req *r, json_object *o, const char *text, size_t n)
{
	char		 path[JSONIO_PATH_MAX] = "";
	const char	*why;
	size_t		 off = 0;
	long		 esc;

	if ((why = utf8_tree_problem(o, path, sizeof(path), &off)) != NULL) {
		if (strncmp(path, "a key", 5) == 0)
			http_error(r, 400, NULL, "request body is not valid UTF-8: "
			    "%s has %s at byte %zu", path, why, off);
		else
			http_error(r, 400, NULL, "request body is not valid UTF-8: "
			    "field '%s' has %s at byte %zu", path, why, off);
		return -1;
	}
	if ((esc = lone_surrogate_escape(text, n)) >= 0) {
		http_error(r, 400, NULL, "request body is not valid UTF-8: an "
		    "unpaired UTF-16 surrogate escape (\\u%.4s) at byte %ld of the "
		    "body", text + esc + 2, esc);
		return -1;
	}
	return 0;
}

int
jsonio_parse(struct http_req *r, const char *p, size_t n, json_object **out)
{
	struct json_tokener	*tok;
	enum json_tokener_error	 jerr;
	size_t			 i;

	*out = NULL;
	if (n > INT_MAX) {
		http_error(r, 413, NULL, "request body is too large");
		return -1;
	}
	if (memchr(p, '\0', n) != NULL) {
		http_error(r, 400, NULL, "request body contains a NUL byte");
		return -1;
	}
	tok = json_tokener_new_ex(JSONIO_MAX_DEPTH);
	/*
	 * Not JSON_TOKENER_VALIDATE_UTF8: json-c's check is lax (it takes
	 * overlongs, surrogates and F5..F7 leads). The strict check follows.
	 */
	json_tokener_set_flags(tok, JSON_TOKENER_STRICT);
	*out = json_tokener_parse_ex(tok, p, (int)n);
	jerr = json_tokener_get_error(tok);
	if (*out != NULL && jerr == json_tokener_success &&
	    json_tokener_get_parse_end(tok) < n) {
		/* Trailing bytes after the value (other than whitespace). */
		for (i = json_tokener_get_parse_end(tok); i < n; i++)
			if (p[i] != ' ' && p[i] != '\n' && p[i] != '\r' && p[i] != '\t')
				break;
		if (i < n) {
			json_object_put(*out);
			*out = NULL;
			jerr = json_tokener_error_parse_unexpected;
		}
	}
	json_tokener_free(tok);
	if (*out == NULL || jerr != json_tokener_success) {
		if (*out != NULL)
			json_object_put(*out);
		*out = NULL;
		http_error(r, 400, NULL, "request body is not valid JSON: %s",
		    jerr == json_tokener_continue ? "unexpected end of input" :
		    json_tokener_error_desc(jerr));
		return -1;
	}
	if (!json_object_is_type(*out, json_type_object)) {
		json_object_put(*out);
		*out = NULL;
		http_error(r, 400, NULL, "request body must be a JSON object");
		return -1;
	}
	if (utf8_body_problem(r, *out, p, n) == -1) {
		json_object_put(*out);
		*out = NULL;
		return -1;
	}
	return 0;
}

int
jsonio_body(struct http_req *r, json_object **out)
{
	return jsonio_body_cap(r, HTTP_BODY_JSON_MAX, out);
}

int
jsonio_body_cap(struct http_req *r, size_t cap, json_object **out)
{
	struct buf	 body;
	int		 rc;

	*out = NULL;
	if (r->content_length <= 0) {
		http_error(r, 400, NULL, "a JSON request body is required");
		return -1;
	}
	if (!is_json_type(r->content_type)) {
		http_error(r, 415, NULL, "Content-Type must be application/json");
		return -1;
	}
	buf_init(&body, cap);
	if (http_read_body(r, cap, &body) != 0) {
		buf_free(&body);
		return -1;
	}
	rc = jsonio_parse(r, body.p ? body.p : "", body.len, out);
	buf_free(&body);
	return rc;
}

/* Length in characters (UTF-8 code points), which is what people count. */
static size_t
utf8_chars(const char *s, size_t n)
{
	size_t	 i, c = 0;

	for (i = 0; i < n; i++)
		if (((unsigned char)s[i] & 0xC0) != 0x80)
			c++;
	return c;
}

int
jsonio_str(struct http_req *r, json_object *obj, const char *field,
    int required, size_t maxlen, const char **out)
{
	json_object	*v;
	size_t		 len;

	*out = NULL;
	if (!json_object_object_get_ex(obj, field, &v) || v == NULL) {
		if (!required)
			return 0;
		http_error(r, 400, NULL, "field '%s' is required", field);
		return -1;
	}
	if (!json_object_is_type(v, json_type_string)) {
		http_error(r, 400, NULL, "field '%s' must be a string", field);
		return -1;
	}
	len = utf8_chars(json_object_get_string(v),
	    (size_t)json_object_get_string_len(v));
	if (len > maxlen) {
		http_error(r, 400, NULL, "field '%s' is longer than %zu characters",
		    field, maxlen);
		return -1;
	}
	*out = json_object_get_string(v);
	if (strlen(*out) != (size_t)json_object_get_string_len(v)) {
		http_error(r, 400, NULL, "field '%s' contains a NUL character", field);
		return -1;
	}
	return 0;
}

int
jsonio_bool(struct http_req *r, json_object *obj, const char *field, int *out,
    int *present)
{
	json_object	*v;

	*present = 0;
	if (!json_object_object_get_ex(obj, field, &v) || v == NULL)
		return 0;
	if (!json_object_is_type(v, json_type_boolean)) {
		http_error(r, 400, NULL, "field '%s' must be true or false", field);
		return -1;
	}
	*present = 1;
	*out = json_object_get_boolean(v);
	return 0;
}

int
jsonio_reply(struct http_req *r, int status, json_object *obj)
{
	const char	*s;

	s = json_object_to_json_string_ext(obj, JSON_C_TO_STRING_PLAIN |
	    JSON_C_TO_STRING_NOSLASHESCAPE);
	return http_json(r, status, s);
}

int
jsonio_reply_put(struct http_req *r, int status, json_object *obj)
{
	int	 rc = jsonio_reply(r, status, obj);

	json_object_put(obj);
	return rc;
}

json_object *
jsonio_time(long t)
{
	struct tm	 tm;
	time_t		 tt = (time_t)t;
	char		 s[32];

	if (t <= 0)
		return NULL;
	gmtime_r(&tt, &tm);
	strftime(s, sizeof(s), "%Y-%m-%dT%H:%M:%SZ", &tm);
	return json_object_new_string(s);
}

/*
 * Days since 1970-01-01 → civil date (proleptic Gregorian), by eras of
 * 400 years (146097 days): no table, no locale, no allocation.
 */
static void
civil_from_days(long long z, long long *y, unsigned *m, unsigned *d)
{
	long long	 era, yy;
	unsigned	 doe, yoe, doy, mp;

	z += 719468;
	era = (z >= 0 ? z : z - 146096) / 146097;
	doe = (unsigned)(z - era * 146097);
	yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	yy = (long long)yoe + era * 400;
	doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	mp = (5 * doy + 2) / 153;
	*d = doy - (153 * mp + 2) / 5 + 1;
	*m = mp < 10 ? mp + 3 : mp - 9;
	*y = yy + (*m <= 2);
}

int
jsonio_buf_time(struct buf *b, long t)
{
	char		 s[40];
	long long	 y, days, secs;
	unsigned	 mo, d;
	int		 n;

	if (t <= 0)
		return buf_append(b, "null", 4);
	days = (long long)t / 86400;
	secs = (long long)t % 86400;
	civil_from_days(days, &y, &mo, &d);
	if (y < 0 || y > 9999)
		n = snprintf(s, sizeof(s), "\"%lld-%02u-%02uT%02lld:%02lld:%02lldZ\"",
		    y, mo, d, secs / 3600, secs / 60 % 60, secs % 60);
	else {
		s[0] = '"';
		s[1] = (char)('0' + y / 1000);
		s[2] = (char)('0' + y / 100 % 10);
		s[3] = (char)('0' + y / 10 % 10);
		s[4] = (char)('0' + y % 10);
		s[5] = '-';
		s[6] = (char)('0' + mo / 10);
		s[7] = (char)('0' + mo % 10);
		s[8] = '-';
		s[9] = (char)('0' + d / 10);
		s[10] = (char)('0' + d % 10);
		s[11] = 'T';
		s[12] = (char)('0' + secs / 36000);
		s[13] = (char)('0' + secs / 3600 % 10);
		s[14] = ':';
		s[15] = (char)('0' + secs / 60 % 60 / 10);
		s[16] = (char)('0' + secs / 60 % 10);
		s[17] = ':';
		s[18] = (char)('0' + secs % 60 / 10);
		s[19] = (char)('0' + secs % 10);
		s[20] = 'Z';
		s[21] = '"';
		n = 22;
	}
	return n > 0 && (size_t)n < sizeof(s) ? buf_append(b, s, (size_t)n) : -1;
}

int
jsonio_buf_str(struct buf *b, const char *s)
{
	if (s == NULL)
		return buf_append(b, "null", 4);
	if (buf_putc(b, '"') == -1 || buf_json_escape(b, s, strlen(s)) == -1)
		return -1;
	return buf_putc(b, '"');
}
