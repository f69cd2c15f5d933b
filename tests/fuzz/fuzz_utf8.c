/*
 * Fuzzes the strict UTF-8 decoder, the JSON body check and the history
 * repair. Invariants (abort on violation):
 *   - jsonio_utf8_valid(x) == (jsonio_utf8_problem(x) == NULL), and the
 *     offset of a problem is inside x;
 *   - jsonio_utf8_repair(x) is valid, at most 3 |x| bytes, equal to x when
 *     x is valid, and a fixed point (repairing it again changes nothing);
 *   - a body jsonio_parse accepts has only valid strings and keys, and one
 *     it refuses leaves a 4xx JSON error that is itself valid UTF-8;
 *   - history_repair of any JSON object leaves nothing to repair: a second
 *     history_repair returns 0, and every string is valid UTF-8.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "config.h"
#include "history.h"
#include "http.h"
#include "jsonio.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
check_tree_valid(json_object *o)
{
	struct json_object_iterator	 it, end;
	const char			*k;
	size_t				 i;

	switch (json_object_get_type(o)) {
	case json_type_string:
		if (!jsonio_utf8_valid(json_object_get_string(o),
		    (size_t)json_object_get_string_len(o)))
			abort();
		return;
	case json_type_array:
		for (i = 0; i < json_object_array_length(o); i++)
			check_tree_valid(json_object_array_get_idx(o, i));
		return;
	case json_type_object:
		it = json_object_iter_begin(o);
		end = json_object_iter_end(o);
		for (; !json_object_iter_equal(&it, &end); json_object_iter_next(&it)) {
			k = json_object_iter_peek_name(&it);
			if (!jsonio_utf8_valid(k, strlen(k)))
				abort();
			check_tree_valid(json_object_iter_peek_value(&it));
		}
		return;
	default:
		return;
	}
}

/* JSON as history_load reads it: no UTF-8 check at all. */
static json_object *
lax_parse(const char *s, size_t n)
{
	struct json_tokener	*tok = json_tokener_new_ex(JSONIO_MAX_DEPTH);
	json_object		*o;

	o = json_tokener_parse_ex(tok, s, (int)n);
	json_tokener_free(tok);
	return o;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct config	 cfg;
	const char		*s = (const char *)data, *why;
	struct http_req		 r;
	json_object		*o, *h;
	char			*fixed, *again;
	size_t			 m, m2, off = 0;
	int			 valid;

	if (size > 1 << 20)
		return 0;
	/* The decoder and the repair. */
	valid = jsonio_utf8_valid(s, size);
	why = jsonio_utf8_problem(s, size, &off);
	if (valid != (why == NULL) || (why != NULL && off >= size))
		abort();
	if ((fixed = jsonio_utf8_repair(s, size, &m)) == NULL)
		abort();
	if (!jsonio_utf8_valid(fixed, m) || m > 3 * size || fixed[m] != '\0' ||
	    (valid && (m != size || memcmp(fixed, s, size) != 0)))
		abort();
	if ((again = jsonio_utf8_repair(fixed, m, &m2)) == NULL || m2 != m ||
	    memcmp(again, fixed, m) != 0)
		abort();
	free(again);
	free(fixed);

	/* The body check. */
	http_req_init(&r, &cfg);
	if (jsonio_parse(&r, s, size, &o) == 0) {
		check_tree_valid(o);
		json_object_put(o);
	} else if (r.status < 400 || r.status > 499 ||
	    !jsonio_utf8_valid(r.body.p, r.body.len))
		abort();
	http_req_free(&r);

	/* The history repair, on whatever json-c makes of the bytes. */
	if ((h = lax_parse(s, size)) != NULL) {
		if (json_object_is_type(h, json_type_object)) {
			history_repair(h);
			if (history_repair(h) != 0)
				abort();
			check_tree_valid(h);
		}
		json_object_put(h);
	}
	return 0;
}
