#include <string.h>
#include <time.h>

#include "http.h"
#include "jsonio.h"

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

int
jsonio_body(struct http_req *r, json_object **out)
{
	struct json_tokener	*tok;
	struct buf		 body;
	enum json_tokener_error	 jerr;
	int			 st;

	*out = NULL;
	if (r->content_length <= 0) {
		http_error(r, 400, NULL, "a JSON request body is required");
		return -1;
	}
	if (!is_json_type(r->content_type)) {
		http_error(r, 415, NULL, "Content-Type must be application/json");
		return -1;
	}
	buf_init(&body, HTTP_BODY_JSON_MAX);
	if ((st = http_read_body(r, HTTP_BODY_JSON_MAX, &body)) != 0) {
		buf_free(&body);
		return -1;
	}
	if (memchr(body.p, '\0', body.len) != NULL) {
		buf_free(&body);
		http_error(r, 400, NULL, "request body contains a NUL byte");
		return -1;
	}
	tok = json_tokener_new_ex(JSONIO_MAX_DEPTH);
	json_tokener_set_flags(tok, JSON_TOKENER_STRICT | JSON_TOKENER_VALIDATE_UTF8);
	*out = json_tokener_parse_ex(tok, body.p, (int)body.len);
	jerr = json_tokener_get_error(tok);
	if (*out != NULL && jerr == json_tokener_success &&
	    json_tokener_get_parse_end(tok) < body.len) {
		/* Trailing bytes after the value (other than whitespace). */
		size_t i;

		for (i = json_tokener_get_parse_end(tok); i < body.len; i++)
			if (body.p[i] != ' ' && body.p[i] != '\n' &&
			    body.p[i] != '\r' && body.p[i] != '\t')
				break;
		if (i < body.len) {
			json_object_put(*out);
			*out = NULL;
			jerr = json_tokener_error_parse_unexpected;
		}
	}
	json_tokener_free(tok);
	buf_free(&body);
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
	return 0;
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
