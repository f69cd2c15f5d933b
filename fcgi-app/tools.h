/*
 * tools: the client tools declared to Claude and their execution.
 *
 * The declarations are the Anthropic-defined tool types Claude is trained
 * on; they are byte-stable across turns (prompt caching). tools_run()
 * executes one tool_use and fills a tool_result content string.
 */
#ifndef CW_TOOLS_H
#define CW_TOOLS_H

#include <json-c/json.h>

#include "buf.h"

struct config;

/* A new reference to the (shared, immutable) declarations array. */
json_object *tools_declarations(void);

struct tool_ctx {
	const struct config	*cfg;
	const char		*sid;
};

/* Runs name(input); output into out; returns 1 when the result is an error. */
int	tools_run(struct tool_ctx *, const char *name, json_object *input,
	    struct buf *out);

#endif
