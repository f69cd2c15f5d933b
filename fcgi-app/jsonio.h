/*
 * jsonio: JSON request bodies in, JSON responses out (json-c).
 *
 * jsonio_body() enforces the content type, the size cap and a nesting
 * depth cap before json-c sees a byte; the object it returns is owned by
 * the caller (json_object_put). Field getters write a 400 that names the
 * field, so every handler reports bad input the same way. Getters return
 * 0 (ok, *out may be NULL when optional and absent) or -1 (error written).
 */
#ifndef CW_JSONIO_H
#define CW_JSONIO_H

#include <json-c/json.h>

struct http_req;

#define JSONIO_MAX_DEPTH	32

int	jsonio_body(struct http_req *, json_object **out);
int	jsonio_str(struct http_req *, json_object *obj, const char *field,
	    int required, size_t maxlen, const char **out);
int	jsonio_bool(struct http_req *, json_object *obj, const char *field,
	    int *out, int *present);
/* ISO 8601 UTC string for a Unix time, or JSON null when t <= 0. */
json_object *jsonio_time(long t);
/* Replies with obj (not consumed) serialized compactly. */
int	jsonio_reply(struct http_req *, int status, json_object *obj);
/* Replies with obj and releases it. */
int	jsonio_reply_put(struct http_req *, int status, json_object *obj);

#endif
