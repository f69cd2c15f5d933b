/*
 * jsonio: JSON request bodies in, JSON responses out (json-c).
 *
 * jsonio_body() enforces the content type, the size cap and a nesting
 * depth cap before json-c sees a byte; the object it returns is owned by
 * the caller (json_object_put). Field getters write a 400 that names the
 * field, so every handler reports bad input the same way. Getters return
 * 0 (ok, *out may be NULL when optional and absent) or -1 (error written).
 * Every string and key of an accepted body is strictly valid UTF-8: raw
 * bytes are checked after parsing and lone surrogate escapes ("\ud800",
 * which json-c would silently turn into U+FFFD) are refused before.
 */
#ifndef CW_JSONIO_H
#define CW_JSONIO_H

#include <json-c/json.h>

struct http_req;

#define JSONIO_MAX_DEPTH	32
#define JSONIO_PATH_MAX		128	/* a field's path in error messages */

int	jsonio_body(struct http_req *, json_object **out);
/* jsonio_body with another size cap (POST …/messages: images). */
int	jsonio_body_cap(struct http_req *, size_t cap, json_object **out);
/* jsonio_body after the body is read: p[0..n) must be one JSON object. */
int	jsonio_parse(struct http_req *, const char *p, size_t n, json_object **out);
int	jsonio_str(struct http_req *, json_object *obj, const char *field,
	    int required, size_t maxlen, const char **out);
int	jsonio_bool(struct http_req *, json_object *obj, const char *field,
	    int *out, int *present);
/*
 * Strict UTF-8 (RFC 3629, Unicode table 3-7): no overlongs (C0 AF,
 * E0 80 AF), no UTF-16 surrogates (ED A0 80), nothing above U+10FFFF
 * (F4 90.., F5..FF), no 5/6-byte forms, no stray or missing continuation
 * bytes. U+0000 is valid (a caller that forbids NUL checks for it).
 *
 * jsonio_utf8_valid: 1 when s[0..n) is valid, else 0.
 * jsonio_utf8_problem: NULL when valid, else a static phrase naming the
 *   first problem ("an overlong encoding", ...) with its byte offset in *off.
 * jsonio_utf8_repair: a new NUL-terminated copy (malloc, owned by the
 *   caller) in which every maximal ill-formed subpart is replaced by one
 *   U+FFFD, as browsers' TextDecoder does; valid input comes back unchanged.
 *   The output is at most 3 * n bytes; *outlen (may be NULL) gets its
 *   length. NULL only when out of memory.
 * jsonio_utf8_repair_tree: repairs every string and object key in o in
 *   place; returns how many it had to repair.
 */
int	jsonio_utf8_valid(const char *s, size_t n);
const char *jsonio_utf8_problem(const char *s, size_t n, size_t *off);
char	*jsonio_utf8_repair(const char *s, size_t n, size_t *outlen);
int	jsonio_utf8_repair_tree(json_object *o);
/* ISO 8601 UTC string for a Unix time, or JSON null when t <= 0. */
json_object *jsonio_time(long t);
/*
 * JSON written straight into a buffer (hot paths, no json-c objects):
 * jsonio_buf_str appends s as a quoted JSON string (null when NULL),
 * jsonio_buf_time the same value jsonio_time gives. 0, or -1 when the
 * buffer is full.
 */
struct buf;
int	jsonio_buf_str(struct buf *, const char *s);
int	jsonio_buf_time(struct buf *, long t);
/* Replies with obj (not consumed) serialized compactly. */
int	jsonio_reply(struct http_req *, int status, json_object *obj);
/* Replies with obj and releases it. */
int	jsonio_reply_put(struct http_req *, int status, json_object *obj);

#endif
