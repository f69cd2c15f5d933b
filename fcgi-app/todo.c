#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "fsutil.h"
#include "jsonio.h"
#include "sessions.h"
#include "todo.h"
#include "tools.h"

const char todo_description[] =
    "Keep a structured task list for this session; the user sees it as a "
    "live checklist above the message box. Use it for work with several "
    "steps (three or more), or when the user gives you a list of things to "
    "do: write the list first, mark one item in_progress before you start "
    "on it, and mark it completed as soon as it is done (then the next one "
    "in_progress). Send the whole list every time: it replaces the previous "
    "one. content says what to do (\"Run the tests\"); activeForm says it "
    "while it happens (\"Running the tests\"). Skip it for a single, simple "
    "step.";

const char todo_schema[] =
    "{\"type\":\"object\",\"properties\":{\"todos\":{\"type\":\"array\","
    "\"description\":\"The whole updated list (replaces the previous one)\","
    "\"items\":{\"type\":\"object\",\"properties\":{"
    "\"content\":{\"type\":\"string\",\"minLength\":1,"
    "\"description\":\"The task, imperative: Run the tests\"},"
    "\"status\":{\"type\":\"string\","
    "\"enum\":[\"pending\",\"in_progress\",\"completed\"]},"
    "\"activeForm\":{\"type\":\"string\","
    "\"description\":\"Present continuous, shown while in progress: "
    "Running the tests\"},"
    "\"id\":{\"type\":\"string\"}},"
    "\"required\":[\"content\",\"status\"],\"additionalProperties\":false}}},"
    "\"required\":[\"todos\"],\"additionalProperties\":false}";

static int
valid_status(const char *s)
{
	return strcmp(s, "pending") == 0 || strcmp(s, "in_progress") == 0 ||
	    strcmp(s, "completed") == 0;
}

/*
 * A string field of item i: 1 present and fine (*out set), 0 absent, -1
 * wrong (err filled).
 */
static int
str_field(json_object *item, size_t i, const char *k, size_t max, int nonempty,
    const char **out, char *err, size_t errcap)
{
	json_object	*v;
	const char	*s;
	size_t		 n;

	if (!json_object_object_get_ex(item, k, &v) || json_object_is_type(v,
	    json_type_null))
		return 0;
	if (!json_object_is_type(v, json_type_string)) {
		snprintf(err, errcap, "todos[%zu].%s must be a string", i, k);
		return -1;
	}
	s = json_object_get_string(v);
	n = (size_t)json_object_get_string_len(v);
	if (n != strlen(s) || !jsonio_utf8_valid(s, n)) {
		snprintf(err, errcap, "todos[%zu].%s must be valid UTF-8 text "
		    "without NUL characters", i, k);
		return -1;
	}
	if (n > max) {
		snprintf(err, errcap, "todos[%zu].%s is %zu bytes long; at most "
		    "%zu are allowed", i, k, n, max);
		return -1;
	}
	if (nonempty && strspn(s, " \t\r\n") == n) {
		snprintf(err, errcap, "todos[%zu].%s must not be empty", i, k);
		return -1;
	}
	*out = s;
	return 1;
}

/* The first key of o not in known[0..n), or NULL. */
static const char *
unknown_key(json_object *o, const char *const *known, size_t n)
{
	size_t	 k;

	json_object_object_foreach(o, key, val) {
		(void)val;
		for (k = 0; k < n; k++)
			if (strcmp(key, known[k]) == 0)
				break;
		if (k == n)
			return key;
	}
	return NULL;
}

json_object *
todo_validate(json_object *input, char *err, size_t errcap)
{
	static const char *const known[] = { "content", "status", "activeForm",
	    "id" };
	static const char *const top[] = { "todos" };
	json_object	*todos, *item, *out, *o;
	const char	*content, *status, *active, *id, *unk;
	size_t		 i, n;

	if (input == NULL || !json_object_is_type(input, json_type_object)) {
		snprintf(err, errcap, "the input must be an object {\"todos\": [...]}");
		return NULL;
	}
	if ((unk = unknown_key(input, top, 1)) != NULL) {
		snprintf(err, errcap, "unknown field '%.64s': the input has only "
		    "'todos'", unk);
		return NULL;
	}
	if (!json_object_object_get_ex(input, "todos", &todos) ||
	    !json_object_is_type(todos, json_type_array)) {
		snprintf(err, errcap, "'todos' is required and must be an array "
		    "of {content, status, activeForm}");
		return NULL;
	}
	n = json_object_array_length(todos);
	if (n > TODO_MAX_ITEMS) {
		snprintf(err, errcap, "the list has %zu items; at most %d are "
		    "allowed: merge or drop finished ones", n, TODO_MAX_ITEMS);
		return NULL;
	}
	out = json_object_new_array();
	for (i = 0; i < n; i++) {
		item = json_object_array_get_idx(todos, i);
		if (!json_object_is_type(item, json_type_object)) {
			snprintf(err, errcap, "todos[%zu] must be an object {content, "
			    "status, activeForm}", i);
			goto bad;
		}
		if ((unk = unknown_key(item, known, sizeof(known) /
		    sizeof(known[0]))) != NULL) {
			snprintf(err, errcap, "todos[%zu]: unknown field '%.64s' "
			    "(allowed: content, status, activeForm, id)", i, unk);
			goto bad;
		}
		content = status = active = id = NULL;
		switch (str_field(item, i, "content", TODO_MAX_TEXT, 1, &content,
		    err, errcap)) {
		case -1:
			goto bad;
		case 0:
			snprintf(err, errcap, "todos[%zu].content is required", i);
			goto bad;
		}
		switch (str_field(item, i, "status", 16, 1, &status, err, errcap)) {
		case -1:
			goto bad;
		case 0:
			snprintf(err, errcap, "todos[%zu].status is required (pending, "
			    "in_progress or completed)", i);
			goto bad;
		}
		if (!valid_status(status)) {
			snprintf(err, errcap, "todos[%zu].status must be pending, "
			    "in_progress or completed, not '%.16s'", i, status);
			goto bad;
		}
		if (str_field(item, i, "activeForm", TODO_MAX_TEXT, 0, &active,
		    err, errcap) == -1 || str_field(item, i, "id", TODO_MAX_ID, 1,
		    &id, err, errcap) == -1)
			goto bad;
		o = json_object_new_object();
		json_object_object_add(o, "content", json_object_new_string(content));
		json_object_object_add(o, "status", json_object_new_string(status));
		if (active != NULL && *active != '\0')
			json_object_object_add(o, "activeForm",
			    json_object_new_string(active));
		if (id != NULL)
			json_object_object_add(o, "id", json_object_new_string(id));
		json_object_array_add(out, o);
	}
	return out;
bad:
	json_object_put(out);
	return NULL;
}

int
todo_save(const struct config *cfg, const char *sid, json_object *todos)
{
	char		 path[PATH_MAX];
	json_object	*o;
	const char	*js;
	int		 rc;

	if (sessions_path(cfg, sid, ".claude/todos.json", path, sizeof(path)) == -1) {
		errno = ENAMETOOLONG;
		return -1;
	}
	o = json_object_new_object();
	json_object_object_add(o, "todos", json_object_get(todos));
	json_object_object_add(o, "updated_at", json_object_new_int64(time(NULL)));
	js = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN |
	    JSON_C_TO_STRING_NOSLASHESCAPE);
	rc = fsutil_write_atomic(path, js, strlen(js));
	json_object_put(o);
	return rc;
}

json_object *
todo_load(const struct config *cfg, const char *sid)
{
	json_object	*o = NULL, *todos, *at, *res;
	char		 path[PATH_MAX], *data;
	struct stat	 st;
	ssize_t		 got;
	size_t		 n = 0;
	int		 fd;

	res = json_object_new_object();
	if (sessions_path(cfg, sid, ".claude/todos.json", path, sizeof(path)) == 0 &&
	    (fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC)) != -1) {
		if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) &&
		    st.st_size <= TODO_FILE_MAX &&
		    (data = malloc((size_t)st.st_size + 1)) != NULL) {
			while (n < (size_t)st.st_size && (got = read(fd, data + n,
			    (size_t)st.st_size - n)) > 0)
				n += (size_t)got;
			data[n] = '\0';
			o = json_tokener_parse(data);
			free(data);
		}
		close(fd);
	}
	if (o != NULL && json_object_object_get_ex(o, "todos", &todos) &&
	    json_object_is_type(todos, json_type_array)) {
		json_object_object_add(res, "todos", json_object_get(todos));
		json_object_object_add(res, "updated_at",
		    json_object_object_get_ex(o, "updated_at", &at) ?
		    json_object_get(at) : NULL);
	} else {
		json_object_object_add(res, "todos", json_object_new_array());
		json_object_object_add(res, "updated_at", NULL);
	}
	if (o != NULL)
		json_object_put(o);
	return res;
}

int
todo_run(struct tool_ctx *tc, const struct tool_def *def, json_object *input,
    struct buf *out, json_object *detail)
{
	json_object	*todos, *d;
	char		 err[512];
	size_t		 i, n;
	int		 cnt[3] = { 0, 0, 0 };
	const char	*st;

	(void)def;
	if ((todos = todo_validate(input, err, sizeof(err))) == NULL) {
		buf_printf(out, "Error: the todo list was not changed: %s.", err);
		return 1;
	}
	if (todo_save(tc->cfg, tc->sid, todos) == -1) {
		json_object_put(todos);
		buf_puts(out, "Error: the todo list could not be saved (the "
		    "session's storage is unavailable).");
		return 1;
	}
	n = json_object_array_length(todos);
	for (i = 0; i < n; i++) {
		st = json_object_get_string(json_object_object_get(
		    json_object_array_get_idx(todos, i), "status"));
		cnt[strcmp(st, "completed") == 0 ? 2 :
		    strcmp(st, "in_progress") == 0 ? 1 : 0]++;
	}
	json_object_object_add(detail, "todos", json_object_get(todos));
	if (tc->emit != NULL) {
		d = json_object_new_object();
		json_object_object_add(d, "todos", json_object_get(todos));
		json_object_object_add(d, "tool_use_id",
		    json_object_new_string(tc->tool_use_id ? tc->tool_use_id : ""));
		tc->emit(tc->arg, "todos.updated", d);
	}
	json_object_put(todos);
	if (n == 0)
		buf_puts(out, "The todo list is now empty.");
	else
		buf_printf(out, "The todo list is saved: %zu item%s (%d completed, "
		    "%d in progress, %d pending). Keep it current: mark each item "
		    "completed as soon as it is done.", n, n == 1 ? "" : "s",
		    cnt[2], cnt[1], cnt[0]);
	return 0;
}
