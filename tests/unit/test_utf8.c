/*
 * test_utf8: jsonio's strict UTF-8 decoder (RFC 3629) against Markus
 * Kuhn's UTF-8 decoder stress test cases, an exhaustive comparison with an
 * independent reference decoder, the U+FFFD repair (maximal subparts, as
 * in Unicode table 3-8), the tree repair, and jsonio_parse refusing bodies
 * with bad bytes or lone surrogate escapes.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "buf.h"
#include "config.h"
#include "http.h"
#include "jsonio.h"
#include "tap.h"

#define S(lit)	lit, sizeof(lit) - 1

/*
 * The reference: decode by arithmetic, then judge the code point (shortest
 * form, no surrogate, at most U+10FFFF). Written differently on purpose.
 */
static int
ref_valid(const unsigned char *s, size_t n)
{
	static const unsigned long min[5] = { 0, 0, 0x80, 0x800, 0x10000 };
	unsigned long	 cp;
	size_t		 i = 0, len, k;

	while (i < n) {
		if (s[i] < 0x80) {
			i++;
			continue;
		}
		if ((s[i] & 0xE0) == 0xC0) {
			len = 2;
			cp = s[i] & 0x1F;
		} else if ((s[i] & 0xF0) == 0xE0) {
			len = 3;
			cp = s[i] & 0x0F;
		} else if ((s[i] & 0xF8) == 0xF0) {
			len = 4;
			cp = s[i] & 0x07;
		} else
			return 0;
		if (i + len > n)
			return 0;
		for (k = 1; k < len; k++) {
			if ((s[i + k] & 0xC0) != 0x80)
				return 0;
			cp = (cp << 6) | (s[i + k] & 0x3F);
		}
		if (cp < min[len] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
			return 0;
		i += len;
	}
	return 1;
}

/* The repair of s, compared with want; frees the result. */
static int
repairs_to(const char *s, size_t n, const char *want, size_t wn)
{
	size_t	 m = 0;
	char	*r = jsonio_utf8_repair(s, n, &m);
	int	 same = r != NULL && m == wn && memcmp(r, want, wn) == 0 &&
	    r[m] == '\0';

	if (!same && r != NULL) {
		size_t i;

		printf("#   got:");
		for (i = 0; i < m; i++)
			printf(" %02X", (unsigned char)r[i]);
		printf("\n");
	}
	free(r);
	return same;
}

static int
problem_is(const char *s, size_t n, const char *want, size_t want_off)
{
	size_t		 off = 9999;
	const char	*why = jsonio_utf8_problem(s, n, &off);

	if (why == NULL || strcmp(why, want) != 0 || off != want_off) {
		printf("#   got: %s at %zu\n", why ? why : "(valid)", off);
		return 0;
	}
	return 1;
}

#define FFFD	"\xEF\xBF\xBD"

static void
kuhn_cases(void)
{
	/* 1, 2.1-2.3: correct text, first and last sequences, boundaries. */
	ok(jsonio_utf8_valid(S("")), "empty string");
	ok(jsonio_utf8_valid(S("\xCE\xBA\xE1\xBD\xB9\xCF\x83\xCE\xBC\xCE\xB5")),
	    "1: Greek kosme");
	ok(jsonio_utf8_valid(S("\x00")), "2.1.1: U+0000 (NUL is valid UTF-8)");
	ok(jsonio_utf8_valid(S("\xC2\x80")), "2.1.2: U+0080");
	ok(jsonio_utf8_valid(S("\xE0\xA0\x80")), "2.1.3: U+0800");
	ok(jsonio_utf8_valid(S("\xF0\x90\x80\x80")), "2.1.4: U+10000");
	ok(jsonio_utf8_valid(S("\x7F")), "2.2.1: U+007F");
	ok(jsonio_utf8_valid(S("\xDF\xBF")), "2.2.2: U+07FF");
	ok(jsonio_utf8_valid(S("\xEF\xBF\xBF")), "2.2.3: U+FFFF");
	ok(jsonio_utf8_valid(S("\xF4\x8F\xBF\xBF")), "U+10FFFF is valid");
	ok(jsonio_utf8_valid(S("\xED\x9F\xBF")), "2.3.1: U+D7FF");
	ok(jsonio_utf8_valid(S("\xEE\x80\x80")), "2.3.2: U+E000");
	ok(jsonio_utf8_valid(S("\xEF\xBF\xBD")), "2.3.3: U+FFFD");
	ok(jsonio_utf8_valid(S("\xEF\xBF\xBE")), "5.3.1: U+FFFE (a noncharacter, "
	    "but well-formed)");

	/* 2.1.5, 2.1.6, 2.2.4-6: the old 5/6-byte and above U+10FFFF forms. */
	ok(!jsonio_utf8_valid(S("\xF4\x90\x80\x80")), "U+110000 is invalid");
	ok(!jsonio_utf8_valid(S("\xF8\x88\x80\x80\x80")), "2.1.5: 5-byte U+200000");
	ok(!jsonio_utf8_valid(S("\xFC\x84\x80\x80\x80\x80")), "2.1.6: 6-byte "
	    "U+4000000");
	ok(!jsonio_utf8_valid(S("\xF7\xBF\xBF\xBF")), "2.2.4: U+1FFFFF");
	ok(!jsonio_utf8_valid(S("\xFB\xBF\xBF\xBF\xBF")), "2.2.5: U+3FFFFFF");
	ok(!jsonio_utf8_valid(S("\xFD\xBF\xBF\xBF\xBF\xBF")), "2.2.6: U+7FFFFFFF");

	/* 3.1: unexpected continuation bytes. */
	ok(!jsonio_utf8_valid(S("\x80")), "3.1.1: lone 0x80");
	ok(!jsonio_utf8_valid(S("\xBF")), "3.1.2: lone 0xBF");
	ok(!jsonio_utf8_valid(S("\x80\xBF\x80\xBF")), "3.1.6: four continuation "
	    "bytes");
	/* 3.2: lonely start characters followed by a space. */
	ok(!jsonio_utf8_valid(S("\xC0 ")), "3.2.1: C0 then space");
	ok(!jsonio_utf8_valid(S("\xE0 ")), "3.2.2: E0 then space");
	ok(!jsonio_utf8_valid(S("\xF0 ")), "3.2.3: F0 then space");
	ok(!jsonio_utf8_valid(S("\xF8 ")), "3.2.4: F8 then space");
	ok(!jsonio_utf8_valid(S("\xFC ")), "3.2.5: FC then space");
	/* 3.3: sequences with the last byte missing. */
	ok(!jsonio_utf8_valid(S("\xC2")), "3.3.1: 2-byte without its last byte");
	ok(!jsonio_utf8_valid(S("\xE0\xA0")), "3.3.2: 3-byte without its last byte");
	ok(!jsonio_utf8_valid(S("\xF0\x90\x80")), "3.3.3: 4-byte without its last "
	    "byte");
	ok(!jsonio_utf8_valid(S("\xDF")), "3.3.6: U+07FF without its last byte");
	ok(!jsonio_utf8_valid(S("\xEF\xBF")), "3.3.7: U+FFFF without its last byte");
	ok(!jsonio_utf8_valid(S("abc\xE2\x82")), "truncated at the end of a string");
	/* 3.5: impossible bytes. */
	ok(!jsonio_utf8_valid(S("\xFE")), "3.5.1: FE");
	ok(!jsonio_utf8_valid(S("\xFF")), "3.5.2: FF");
	ok(!jsonio_utf8_valid(S("\xFE\xFE\xFF\xFF")), "3.5.3: FE FE FF FF");
	ok(!jsonio_utf8_valid(S("\xF5\x80\x80\x80")), "F5 lead");
	/* 4.1, 4.2, 4.3: overlongs. */
	ok(!jsonio_utf8_valid(S("\xC0\xAF")), "4.1.1: overlong '/' C0 AF");
	ok(!jsonio_utf8_valid(S("\xE0\x80\xAF")), "4.1.2: overlong '/' E0 80 AF");
	ok(!jsonio_utf8_valid(S("\xF0\x80\x80\xAF")), "4.1.3: overlong '/' "
	    "F0 80 80 AF");
	ok(!jsonio_utf8_valid(S("\xF8\x80\x80\x80\xAF")), "4.1.4: 5-byte overlong");
	ok(!jsonio_utf8_valid(S("\xC1\xBF")), "4.2.1: largest 2-byte overlong");
	ok(!jsonio_utf8_valid(S("\xE0\x9F\xBF")), "4.2.2: largest 3-byte overlong");
	ok(!jsonio_utf8_valid(S("\xF0\x8F\xBF\xBF")), "4.2.3: largest 4-byte "
	    "overlong");
	ok(!jsonio_utf8_valid(S("\xC0\x80")), "4.3.1: overlong NUL C0 80");
	ok(!jsonio_utf8_valid(S("\xE0\x80\x80")), "4.3.2: overlong NUL E0 80 80");
	/* 5.1, 5.2: UTF-16 surrogates. */
	ok(!jsonio_utf8_valid(S("\xED\xA0\x80")), "5.1.1: U+D800");
	ok(!jsonio_utf8_valid(S("\xED\xAD\xBF")), "5.1.2: U+DB7F");
	ok(!jsonio_utf8_valid(S("\xED\xAF\xBF")), "5.1.4: U+DBFF");
	ok(!jsonio_utf8_valid(S("\xED\xB0\x80")), "5.1.5: U+DC00");
	ok(!jsonio_utf8_valid(S("\xED\xBF\xBF")), "5.1.7: U+DFFF");
	ok(!jsonio_utf8_valid(S("\xED\xA0\x80\xED\xB0\x80")), "5.2.1: a paired "
	    "surrogate U+D800 U+DC00 (CESU-8)");
}

static void
problems(void)
{
	ok(problem_is(S("ab\xC0\xAF"), "an overlong encoding", 2),
	    "C0 AF: an overlong encoding at byte 2");
	ok(problem_is(S("\xE0\x80\xAF"), "an overlong encoding", 0), "E0 80 AF: overlong");
	ok(problem_is(S("x\xED\xA0\x80"), "a UTF-16 surrogate", 1),
	    "ED A0 80: a surrogate at byte 1");
	ok(problem_is(S("\xF4\x90\x80\x80"), "a code point above U+10FFFF", 0),
	    "F4 90 80 80: above U+10FFFF");
	ok(problem_is(S("\xF5\x80"), "a code point above U+10FFFF", 0),
	    "F5: above U+10FFFF");
	ok(problem_is(S("\xF8\x88\x80\x80\x80"), "a 5- or 6-byte sequence", 0),
	    "F8: a 5-byte sequence");
	ok(problem_is(S("\xFF"), "a byte that never occurs in UTF-8 (FE or FF)", 0),
	    "FF: never occurs");
	ok(problem_is(S("a\x80"), "a continuation byte without a lead byte", 1),
	    "80: a stray continuation byte");
	ok(problem_is(S("abc\xE2\x82"), "a truncated sequence", 3),
	    "E2 82 at the end: truncated");
	ok(problem_is(S("\xE2\x82z"), "a truncated sequence", 0),
	    "E2 82 'z': truncated");
	ok(jsonio_utf8_problem(S("\xF0\x9F\x98\x80"), NULL) == NULL,
	    "an emoji has no problem (and off may be NULL)");
}

static void
repairs(void)
{
	ok(repairs_to(S(""), S("")), "empty stays empty");
	ok(repairs_to(S("plain ascii"), S("plain ascii")), "ASCII is unchanged");
	ok(repairs_to(S("\xCE\xBA\xF0\x9F\x98\x80\xF4\x8F\xBF\xBF"),
	    S("\xCE\xBA\xF0\x9F\x98\x80\xF4\x8F\xBF\xBF")), "valid UTF-8 is unchanged");
	ok(repairs_to(S("a\x00z"), S("a\x00z")), "NUL is kept");
	ok(repairs_to(S("\xC0\xAF"), S(FFFD FFFD)), "C0 AF: two U+FFFD");
	ok(repairs_to(S("\xE0\x80\xAF"), S(FFFD FFFD FFFD)), "E0 80 AF: three");
	ok(repairs_to(S("\xED\xA0\x80"), S(FFFD FFFD FFFD)), "ED A0 80: three");
	ok(repairs_to(S("\xF4\x90\x80\x80"), S(FFFD FFFD FFFD FFFD)),
	    "F4 90 80 80: four");
	ok(repairs_to(S("ab\xE2\x82"), S("ab" FFFD)), "a truncated sequence is one");
	ok(repairs_to(S("\xF0\x9F\x98z"), S(FFFD "z")), "3 of 4 bytes, then 'z': one");
	ok(repairs_to(S("\xFF\xFE"), S(FFFD FFFD)), "FF FE: two");
	/* Unicode 15, table 3-8 (U+FFFD for maximal subparts). */
	ok(repairs_to(S("\x61\xF1\x80\x80\xE1\x80\xC2\x62\x80\x63\x80\xBF\x64"),
	    S("a" FFFD FFFD FFFD "b" FFFD "c" FFFD FFFD "d")),
	    "Unicode table 3-8 example");
	ok(repairs_to(S("\x61\xF1\x80\x80\xE1\x80\xC2\x62"),
	    S("a" FFFD FFFD FFFD "b")), "...its first part");
}

/* Every string of 1..3 bytes, and 4-byte ones around every boundary. */
static void
exhaustive(void)
{
	static const unsigned char edge[] = { 0x00, 0x41, 0x7F, 0x80, 0x8F, 0x90,
	    0x9F, 0xA0, 0xBF, 0xC0, 0xC1, 0xC2, 0xDF, 0xE0, 0xE1, 0xEC, 0xED,
	    0xEE, 0xEF, 0xF0, 0xF1, 0xF3, 0xF4, 0xF5, 0xF7, 0xF8, 0xFB, 0xFC,
	    0xFD, 0xFE, 0xFF };
	unsigned char	 s[4];
	unsigned	 a, b, c, d;
	unsigned long	 mismatches = 0, repaired_bad = 0, checked = 0;
	char		*r;
	size_t		 m, len;

	for (len = 1; len <= 3; len++)
		for (a = 0; a < 256; a++)
			for (b = 0; b < (len > 1 ? 256u : 1u); b++)
				for (c = 0; c < (len > 2 ? 256u : 1u); c++) {
					s[0] = (unsigned char)a;
					s[1] = (unsigned char)b;
					s[2] = (unsigned char)c;
					checked++;
					if (jsonio_utf8_valid((char *)s, len) !=
					    ref_valid(s, len))
						mismatches++;
				}
	for (a = 0xC0; a < 256; a++)
		for (b = 0; b < sizeof(edge); b++)
			for (c = 0; c < sizeof(edge); c++)
				for (d = 0; d < sizeof(edge); d++) {
					s[0] = (unsigned char)a;
					s[1] = edge[b];
					s[2] = edge[c];
					s[3] = edge[d];
					checked++;
					if (jsonio_utf8_valid((char *)s, 4) !=
					    ref_valid(s, 4))
						mismatches++;
					r = jsonio_utf8_repair((char *)s, 4, &m);
					if (r == NULL || !ref_valid((unsigned char *)r, m) ||
					    (ref_valid(s, 4) && (m != 4 ||
					    memcmp(r, s, 4) != 0)) || m > 12)
						repaired_bad++;
					free(r);
				}
	ok(mismatches == 0, "strict decoder == reference decoder on %lu strings "
	    "(%lu differ)", checked, mismatches);
	ok(repaired_bad == 0, "repair output is always valid, valid input "
	    "unchanged, at most 3x (%lu bad)", repaired_bad);
}

static void
trees(void)
{
	json_object	*o, *v;
	const char	*js;
	int		 n;

	o = json_tokener_parse("{\"ok\":\"fine\",\"list\":[\"a\",1,null,"
	    "{\"deep\":\"x\"}]}");
	ok(jsonio_utf8_repair_tree(o) == 0, "a valid tree needs no repair");
	json_object_put(o);

	o = json_object_new_object();
	json_object_object_add(o, "first", json_object_new_string("1"));
	json_object_object_add(o, "bad\xC0\xAFkey", json_object_new_string_len(
	    "v\xED\xA0\x80", 4));
	v = json_object_new_array();
	json_object_array_add(v, json_object_new_string_len("\xFF", 1));
	json_object_array_add(v, json_object_new_int(7));
	json_object_object_add(o, "arr", v);
	n = jsonio_utf8_repair_tree(o);
	ok(n == 3, "a bad key, a bad value and a bad array element: 3 fixes (%d)", n);
	js = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN |
	    JSON_C_TO_STRING_NOSLASHESCAPE);
	is_str(js, "{\"first\":\"1\",\"bad" FFFD FFFD "key\":\"v" FFFD FFFD FFFD
	    "\",\"arr\":[\"" FFFD "\",7]}", "repaired in place, members in order");
	ok(jsonio_utf8_repair_tree(o) == 0, "a second repair finds nothing");
	json_object_put(o);

	v = json_object_new_string_len("\xC0", 1);
	ok(jsonio_utf8_repair_tree(v) == 1 && strcmp(json_object_get_string(v),
	    FFFD) == 0, "a bare string is repaired too");
	json_object_put(v);
}

/* jsonio_parse(body): the status and the error message. */
static int
parse(const char *body, size_t n, char *msg, size_t cap)
{
	static struct config	 cfg;
	struct http_req		 r;
	json_object		*o;
	json_object		*e, *m;
	int			 st;

	http_req_init(&r, &cfg);
	msg[0] = '\0';
	if (jsonio_parse(&r, body, n, &o) == 0) {
		json_object_put(o);
		http_req_free(&r);
		return 0;
	}
	st = r.status;
	if ((e = json_tokener_parse(r.body.p)) != NULL &&
	    json_object_object_get_ex(e, "error", &m) &&
	    json_object_object_get_ex(m, "message", &m))
		snprintf(msg, cap, "%s", json_object_get_string(m));
	if (e != NULL)
		json_object_put(e);
	if (!jsonio_utf8_valid(r.body.p, r.body.len))
		st = -2;	/* the error itself must be valid UTF-8 */
	http_req_free(&r);
	return st;
}

static void
bodies(void)
{
	char	 msg[1024];
	int	 st;

	ok(parse(S("{\"content\":\"caf\xC3\xA9 \\ud83d\\ude00 \\u00e9\"}"), msg,
	    sizeof(msg)) == 0, "valid UTF-8 and a valid surrogate pair are accepted");
	ok(parse(S("{\"a\":\"\\\\ud800\"}"), msg, sizeof(msg)) == 0,
	    "an escaped backslash before 'ud800' is not an escape");
	ok(parse(S("{\"a\":\"\\u00ff\\ufffd\"}"), msg, sizeof(msg)) == 0,
	    "an explicit \\ufffd is fine");

	st = parse(S("{\"content\":\"x\xC0\xAF\"}"), msg, sizeof(msg));
	ok(st == 400, "overlong C0 AF in a value: 400 (%d)", st);
	is_str(msg, "request body is not valid UTF-8: field 'content' has an "
	    "overlong encoding at byte 1", "...naming the field and the problem");
	st = parse(S("{\"content\":[{\"type\":\"text\",\"text\":\"\xED\xA0\x80\"}]}"),
	    msg, sizeof(msg));
	ok(st == 400, "a surrogate deep inside: 400");
	is_str(msg, "request body is not valid UTF-8: field 'content[0].text' has "
	    "a UTF-16 surrogate at byte 0", "...with the path to it");
	st = parse(S("{\"t\":{\"\xF4\x90\x80\x80\":1}}"), msg, sizeof(msg));
	ok(st == 400, "above U+10FFFF in a key: 400");
	is_str(msg, "request body is not valid UTF-8: a key in 't' has a code "
	    "point above U+10FFFF at byte 0", "...naming the key's object, not the key");
	ok(parse(S("{\"title\":\"\xF5\x80\x80\x80\"}"), msg, sizeof(msg)) == 400,
	    "F5 lead: 400");
	ok(parse(S("{\"title\":\"\xFF\"}"), msg, sizeof(msg)) == 400, "FF: 400");
	ok(parse(S("{\"title\":\"ab\xE2\x82\"}"), msg, sizeof(msg)) == 400,
	    "a truncated sequence: 400");

	st = parse(S("{\"content\":\"a\\ud800\"}"), msg, sizeof(msg));
	ok(st == 400, "a lone high surrogate escape: 400 (json-c alone would make "
	    "it U+FFFD)");
	is_str(msg, "request body is not valid UTF-8: an unpaired UTF-16 surrogate "
	    "escape (\\ud800) at byte 13 of the body", "...naming the escape");
	ok(parse(S("{\"content\":\"\\uDC00x\"}"), msg, sizeof(msg)) == 400,
	    "a lone low surrogate escape: 400");
	ok(parse(S("{\"content\":\"\\ud800\\u0041\"}"), msg, sizeof(msg)) == 400,
	    "a high surrogate followed by a non-surrogate escape: 400");
	ok(parse(S("{\"content\":\"\\ud800\\ud800\"}"), msg, sizeof(msg)) == 400,
	    "two high surrogates: 400");
	ok(parse(S("{\"content\":\"\\udc00\\ud800\"}"), msg, sizeof(msg)) == 400,
	    "a reversed pair: 400");
	ok(parse(S("{\"\\ud800\":1}"), msg, sizeof(msg)) == 400,
	    "a lone surrogate escape in a key: 400");
	ok(parse(S("{\"content\":\"\\ud800\"}"), msg, sizeof(msg)) == 400,
	    "a high surrogate at the end of a string: 400");
	ok(parse(S("{\"a\":1}  \n"), msg, sizeof(msg)) == 0,
	    "trailing whitespace is still fine");
	ok(parse(S("[1]"), msg, sizeof(msg)) == 400, "not an object: still 400");
}

int
main(void)
{
	kuhn_cases();
	problems();
	repairs();
	exhaustive();
	trees();
	bodies();
	{
		struct buf	 b;

		buf_init(&b, 64);
		ok(buf_utf8_clean(&b, S("ok\xE2\x82 \xC0")) == 0 &&
		    b.len == 2 + 3 + 1 + 3 && memcmp(b.p, "ok" FFFD " " FFFD, b.len) == 0,
		    "buf_utf8_clean uses the same decoder");
		buf_free(&b);
	}
	return done_testing();
}
