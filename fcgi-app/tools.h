/*
 * tools: the client tools declared to Claude and their execution.
 *
 * The declarations are the Anthropic-defined tool types Claude is trained
 * on, byte-stable across turns (prompt caching). tools_run() executes one
 * tool_use: the editor through pathsafe on files/, bash in the sandbox.
 * Every successful edit is recorded in .claude/edits/ (so the person can
 * revert Claude's last edit to a file) and announced as file.changed.
 */
#ifndef CW_TOOLS_H
#define CW_TOOLS_H

#include <json-c/json.h>

#include "buf.h"

struct config;
struct store;

/* A new reference to the (shared, immutable) declarations array. */
json_object *tools_declarations(void);

struct tool_ctx {
	const struct config	*cfg;
	struct store		*store;
	const char		*sid;
	const char		*tool_use_id;
	int			(*should_abort)(void *);
	void			*arg;
	/* Emits an event (data consumed). */
	void			(*emit)(void *, const char *type, json_object *data);
};

/*
 * Runs name(input): the tool_result text goes to out, extra fields for the
 * tool.result event (exit code, duration, ...) into detail (an object the
 * caller owns). Returns 1 when the result is an error.
 */
int	tools_run(struct tool_ctx *, const char *name, json_object *input,
	    struct buf *out, json_object *detail);

/* Edit history (used by the files API). */
/* Reverts the last recorded edit of rel; 0 done, 1 nothing to revert, -1 error. */
int	tools_revert_last_edit(const struct config *, const char *sid,
	    const char *rel, char *err, size_t errcap);
/* The edit log as a JSON array (new reference), newest last. */
json_object *tools_edit_log(const struct config *, const char *sid);

#endif
