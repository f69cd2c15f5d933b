#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "config.h"
#include "fsutil.h"
#include "history.h"
#include "jsonio.h"
#include "log.h"
#include "sessions.h"

#define HISTORY_MAX_BYTES	(256 * 1024 * 1024)

#define INTERRUPTED_RESULT	"Error: the tool call was interrupted and did not " \
	"complete; it may or may not have taken effect. Check before relying on it."
#define DROPPED_RESULTS_NOTE	"[tool results without a matching tool call " \
	"were removed from this turn]"

/* s when o has a string member k, else NULL. */
static const char *
str_member(json_object *o, const char *k)
{
	json_object	*v;

	if (!json_object_is_type(o, json_type_object) ||
	    !json_object_object_get_ex(o, k, &v) ||
	    !json_object_is_type(v, json_type_string))
		return NULL;
	return json_object_get_string(v);
}

/* 'u' for a user message, 'a' for an assistant one, 0 for anything else. */
static int
role_of(json_object *m)
{
	const char	*r = str_member(m, "role");

	if (r == NULL)
		return 0;
	return strcmp(r, "user") == 0 ? 'u' : strcmp(r, "assistant") == 0 ? 'a' : 0;
}

/* The API refuses empty content (a string or a non-empty block array). */
static int
content_ok(json_object *m)
{
	json_object	*c;

	if (!json_object_object_get_ex(m, "content", &c))
		return 0;
	if (json_object_is_type(c, json_type_string))
		return json_object_get_string_len(c) > 0;
	return json_object_is_type(c, json_type_array) &&
	    json_object_array_length(c) > 0;
}

/* The content of m as a block array owned by m (a string is converted). */
static json_object *
blocks_of(json_object *m)
{
	json_object	*c;

	json_object_object_get_ex(m, "content", &c);
	if (!json_object_is_type(c, json_type_array)) {
		c = history_as_blocks(c);
		json_object_object_add(m, "content", c);
	}
	return c;
}

/* The distinct tool_use ids of an assistant message, in order (new array). */
static json_object *
use_ids(json_object *m)
{
	json_object	*ids = json_object_new_array(), *c, *b;
	const char	*t, *id;
	size_t		 i, j, n;
	int		 seen;

	if (!json_object_object_get_ex(m, "content", &c) ||
	    !json_object_is_type(c, json_type_array))
		return ids;
	n = json_object_array_length(c);
	for (i = 0; i < n; i++) {
		b = json_object_array_get_idx(c, i);
		if ((t = str_member(b, "type")) == NULL || strcmp(t, "tool_use") != 0 ||
		    (id = str_member(b, "id")) == NULL)
			continue;
		for (seen = 0, j = 0; j < json_object_array_length(ids) && !seen; j++)
			seen = strcmp(json_object_get_string(
			    json_object_array_get_idx(ids, j)), id) == 0;
		if (!seen)
			json_object_array_add(ids, json_object_new_string(id));
	}
	return ids;
}

static json_object *
interrupted_result(const char *id)
{
	json_object	*r = json_object_new_object();

	json_object_object_add(r, "type", json_object_new_string("tool_result"));
	json_object_object_add(r, "tool_use_id", json_object_new_string(id));
	json_object_object_add(r, "content", json_object_new_string(INTERRUPTED_RESULT));
	json_object_object_add(r, "is_error", json_object_new_boolean(1));
	return r;
}

static json_object *
new_message(const char *role, json_object *content)
{
	json_object	*m = json_object_new_object();

	json_object_object_add(m, "role", json_object_new_string(role));
	json_object_object_add(m, "content", content);
	return m;
}

/*
 * Rewrites the user message m, which follows a turn that made the tool
 * calls ids (maybe none): one tool_result per id first, in order (missing
 * ones made up as interrupted), then its other blocks; orphan and repeated
 * tool_results dropped. Returns the number of fixes.
 */
static int
fix_results(json_object *m, json_object *ids)
{
	json_object	*c, *out, *b, *used;
	const char	*t, *id, *want;
	size_t		 i, j, n, nids = json_object_array_length(ids);
	int		 fixes = 0, found;

	json_object_object_get_ex(m, "content", &c);
	if (nids == 0 && !json_object_is_type(c, json_type_array))
		return 0;
	c = blocks_of(m);
	n = json_object_array_length(c);
	out = json_object_new_array();
	/* used[i]: block i of c is the answer chosen for its id. */
	used = json_object_new_array();
	for (i = 0; i < n; i++)
		json_object_array_add(used, json_object_new_boolean(0));
	for (j = 0; j < nids; j++) {
		want = json_object_get_string(json_object_array_get_idx(ids, j));
		for (found = 0, i = 0; i < n && !found; i++) {
			b = json_object_array_get_idx(c, i);
			if ((t = str_member(b, "type")) != NULL &&
			    strcmp(t, "tool_result") == 0 &&
			    (id = str_member(b, "tool_use_id")) != NULL &&
			    strcmp(id, want) == 0) {
				json_object_array_add(out, json_object_get(b));
				json_object_array_put_idx(used, i,
				    json_object_new_boolean(1));
				found = 1;
			}
		}
		if (!found) {
			json_object_array_add(out, interrupted_result(want));
			fixes++;
		}
	}
	for (i = 0; i < n; i++) {
		b = json_object_array_get_idx(c, i);
		if (json_object_get_boolean(json_object_array_get_idx(used, i)))
			continue;
		if ((t = str_member(b, "type")) != NULL && strcmp(t, "tool_result") == 0) {
			fixes++;	/* an orphan or a repeat */
			continue;
		}
		json_object_array_add(out, json_object_get(b));
	}
	json_object_put(used);
	if (json_object_array_length(out) == 0) {
		b = json_object_new_object();
		json_object_object_add(b, "type", json_object_new_string("text"));
		json_object_object_add(b, "text", json_object_new_string(
		    DROPPED_RESULTS_NOTE));
		json_object_array_add(out, b);
	}
	/* Same blocks in another order (results after text) is a fix too. */
	if (fixes == 0) {
		for (i = 0; i < n; i++)
			if (json_object_array_get_idx(out, i) !=
			    json_object_array_get_idx(c, i))
				break;
		if (i < n)
			fixes++;
	}
	json_object_object_add(m, "content", out);
	return fixes;
}

int
history_repair_flags(json_object *h, int flags)
{
	json_object	*msgs, *merged, *out, *m, *last, *ids, *src;
	size_t		 i, j, k, n;
	int		 fixes, role, lrole;

	fixes = jsonio_utf8_repair_tree(h);
	if (!json_object_object_get_ex(h, "messages", &msgs) ||
	    !json_object_is_type(msgs, json_type_array))
		return fixes;

	/* 1. Valid messages only, same roles merged. */
	merged = json_object_new_array();
	n = json_object_array_length(msgs);
	for (i = 0; i < n; i++) {
		m = json_object_array_get_idx(msgs, i);
		if ((role = role_of(m)) == 0 || !content_ok(m)) {
			fixes++;
			continue;
		}
		j = json_object_array_length(merged);
		last = j > 0 ? json_object_array_get_idx(merged, j - 1) : NULL;
		lrole = last != NULL ? role_of(last) : 0;
		if (lrole == role) {
			ids = role == 'a' ? use_ids(last) : NULL;
			if (ids == NULL || json_object_array_length(ids) == 0) {
				src = blocks_of(m);
				last = blocks_of(last);
				/* Bounded by the length before: src may be last. */
				k = json_object_array_length(src);
				for (j = 0; j < k; j++)
					json_object_array_add(last, json_object_get(
					    json_object_array_get_idx(src, j)));
				if (ids != NULL)
					json_object_put(ids);
				fixes++;
				continue;
			}
			/* Tool calls, then another assistant turn: step 2 answers them. */
			json_object_put(ids);
		}
		json_object_array_add(merged, json_object_get(m));
	}

	/* 2. Every tool call answered by the next user turn, nothing else. */
	out = json_object_new_array();
	n = json_object_array_length(merged);
	ids = json_object_new_array();
	for (i = 0; i < n; i++) {
		m = json_object_array_get_idx(merged, i);
		if (role_of(m) == 'u') {
			fixes += fix_results(m, ids);
			json_object_put(ids);
			ids = json_object_new_array();
			json_object_array_add(out, json_object_get(m));
			continue;
		}
		json_object_put(ids);
		ids = use_ids(m);
		json_object_array_add(out, json_object_get(m));
		if (json_object_array_length(ids) == 0 ||
		    (i + 1 < n && role_of(json_object_array_get_idx(merged, i + 1)) == 'u') ||
		    (i + 1 == n && (flags & HISTORY_KEEP_OPEN_TAIL)))
			continue;
		/* No user turn follows: one made of interrupted results. */
		m = new_message("user", json_object_new_array());
		fixes += fix_results(m, ids);
		json_object_array_add(out, m);
		json_object_put(ids);
		ids = json_object_new_array();
	}
	json_object_put(ids);
	json_object_put(merged);
	json_object_object_add(h, "messages", out);
	return fixes;
}

int
history_repair(json_object *h)
{
	return history_repair_flags(h, 0);
}

json_object *
history_load(const struct config *cfg, const char *sid)
{
	return history_load_flags(cfg, sid, 0);
}

json_object *
history_load_flags(const struct config *cfg, const char *sid, int flags)
{
	char		 path[PATH_MAX];
	json_object	*h, *v;
	struct stat	 st;
	int		 fixes;

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
	if ((fixes = history_repair_flags(h, flags)) > 0)
		log_kv(LOG_WARNING, "history repaired on load", "s:session", sid,
		    "i:fixes", (long long)fixes, NULL);
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
