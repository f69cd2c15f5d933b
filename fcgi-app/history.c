#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "config.h"
#include "fsutil.h"
#include "history.h"
#include "log.h"
#include "sessions.h"

#define HISTORY_MAX_BYTES	(256 * 1024 * 1024)

json_object *
history_load(const struct config *cfg, const char *sid)
{
	char		 path[PATH_MAX];
	json_object	*h, *v;
	struct stat	 st;

	if (sessions_path(cfg, sid, ".claude/history.json", path, sizeof(path)) == -1)
		return NULL;
	if (stat(path, &st) == -1) {
		if (errno != ENOENT)
			return NULL;
		h = json_object_new_object();
		json_object_object_add(h, "version", json_object_new_int(1));
		json_object_object_add(h, "messages", json_object_new_array());
		json_object_object_add(h, "runs", json_object_new_array());
		return h;
	}
	if (st.st_size > HISTORY_MAX_BYTES)
		return NULL;
	h = json_object_from_file(path);
	if (h == NULL || !json_object_is_type(h, json_type_object) ||
	    !json_object_object_get_ex(h, "messages", &v) ||
	    !json_object_is_type(v, json_type_array)) {
		log_kv(LOG_ERROR, "history file is corrupt", "s:path", path, NULL);
		if (h != NULL)
			json_object_put(h);
		return NULL;
	}
	if (!json_object_object_get_ex(h, "runs", &v))
		json_object_object_add(h, "runs", json_object_new_array());
	return h;
}

int
history_save(const struct config *cfg, const char *sid, json_object *h)
{
	char		 path[PATH_MAX];
	const char	*s;

	if (sessions_path(cfg, sid, ".claude/history.json", path, sizeof(path)) == -1)
		return -1;
	s = json_object_to_json_string_ext(h, JSON_C_TO_STRING_PLAIN |
	    JSON_C_TO_STRING_NOSLASHESCAPE);
	return fsutil_write_atomic(path, s, strlen(s));
}

json_object *
history_messages(json_object *h)
{
	json_object	*v = NULL;

	json_object_object_get_ex(h, "messages", &v);
	return v;
}

json_object *
history_as_blocks(json_object *content)
{
	json_object	*arr, *b;

	if (json_object_is_type(content, json_type_array))
		return json_object_get(content);
	arr = json_object_new_array();
	b = json_object_new_object();
	json_object_object_add(b, "type", json_object_new_string("text"));
	json_object_object_add(b, "text", json_object_new_string(
	    json_object_get_string(content)));
	json_object_array_add(arr, b);
	return arr;
}

void
history_append_user(json_object *h, json_object *content)
{
	json_object	*msgs = history_messages(h), *last, *role, *lc, *blocks, *m;
	size_t		 n = json_object_array_length(msgs), i;

	if (n > 0) {
		last = json_object_array_get_idx(msgs, n - 1);
		if (json_object_object_get_ex(last, "role", &role) &&
		    strcmp(json_object_get_string(role), "user") == 0 &&
		    json_object_object_get_ex(last, "content", &lc)) {
			/* Two user turns in a row are not allowed: merge them. */
			if (!json_object_is_type(lc, json_type_array)) {
				lc = history_as_blocks(lc);
				json_object_object_add(last, "content", lc);
			}
			blocks = history_as_blocks(content);
			for (i = 0; i < json_object_array_length(blocks); i++)
				json_object_array_add(lc, json_object_get(
				    json_object_array_get_idx(blocks, i)));
			json_object_put(blocks);
			json_object_put(content);
			return;
		}
	}
	m = json_object_new_object();
	json_object_object_add(m, "role", json_object_new_string("user"));
	json_object_object_add(m, "content", content);
	json_object_array_add(msgs, m);
}

void
history_append_assistant(json_object *h, json_object *content)
{
	json_object	*m = json_object_new_object();

	json_object_object_add(m, "role", json_object_new_string("assistant"));
	json_object_object_add(m, "content", content);
	json_object_array_add(history_messages(h), m);
}

int
history_has_run(json_object *h, const char *run_id)
{
	json_object	*runs;
	size_t		 i;

	if (!json_object_object_get_ex(h, "runs", &runs))
		return 0;
	for (i = 0; i < json_object_array_length(runs); i++)
		if (strcmp(json_object_get_string(json_object_array_get_idx(runs, i)),
		    run_id) == 0)
			return 1;
	return 0;
}

void
history_add_run(json_object *h, const char *run_id)
{
	json_object	*runs;

	if (json_object_object_get_ex(h, "runs", &runs))
		json_object_array_add(runs, json_object_new_string(run_id));
}
