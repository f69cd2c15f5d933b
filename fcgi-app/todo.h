/*
 * todo: the todo_write tool. Claude keeps a structured task list for the
 * session ({todos: [{content, status, activeForm?, id?}]}, the whole list
 * each time, like Claude Code's TodoWrite); the list is validated (at most
 * TODO_MAX_ITEMS items, each text at most TODO_MAX_TEXT bytes), stored in
 * the session's .claude/todos.json (atomic write), announced as the event
 * todos.updated and served by GET /api/sessions/<id>/todos. Internal class:
 * it never asks the person.
 *
 * Every json_object returned here is a new reference the caller owns.
 */
#ifndef CW_TODO_H
#define CW_TODO_H

#include <stddef.h>

#include <json-c/json.h>

#include "buf.h"

#define TODO_MAX_ITEMS		100
#define TODO_MAX_TEXT		1024	/* bytes of content / activeForm */
#define TODO_MAX_ID		64
#define TODO_FILE_MAX		(512 * 1024)

struct config;
struct tool_ctx;
struct tool_def;

/* The tool's description and JSON schema (custom tool). */
extern const char todo_description[];
extern const char todo_schema[];

/*
 * Checks the tool input: the normalized list (fields content, status,
 * activeForm, id in that order), or NULL with a message for Claude in err.
 */
json_object *todo_validate(json_object *input, char *err, size_t errcap);
/* Stores the list in .claude/todos.json: 0 or -1. */
int	todo_save(const struct config *, const char *sid, json_object *todos);
/*
 * The stored list as {"todos": [...], "updated_at": unix seconds or null}
 * (an empty list when there is none or the file is unreadable).
 */
json_object *todo_load(const struct config *, const char *sid);

/* The executor: validate, store, emit todos.updated, answer Claude. */
int	todo_run(struct tool_ctx *, const struct tool_def *, json_object *input,
	    struct buf *out, json_object *detail);

#endif
