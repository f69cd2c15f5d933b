/*
 * subagent: the task tool. A child run inside one tool call of the parent
 * run: its own context (a fresh messages array: the prompt as the first
 * user message, a sub-agent system prompt), the session's model, a subset
 * of the tools (never task itself, never todo_write), its own loop of model
 * calls (claude.c) and tool calls (the registry's executors), at most
 * SUBAGENT_MAX_TURNS model calls. Its events carry parent_tool_use_id (the
 * task call's id) so clients nest them under the task card; its usage is
 * added to the run, session and user totals; the parent's cancel stops it;
 * its final text is the tool result.
 *
 * Permissions inside the child: what the session's mode (or a remembered
 * grant) allows runs; a call that would need a person is denied with a
 * message telling Claude to ask from the main conversation (a tool call
 * cannot park: the child's state lives only in this runner).
 */
#ifndef CW_SUBAGENT_H
#define CW_SUBAGENT_H

#include <json-c/json.h>

#include "buf.h"

#define SUBAGENT_MAX_TURNS	20
#define SUBAGENT_RESULT_MAX	(64 * 1024)	/* bytes of the final text */
#define SUBAGENT_PROMPT_MAX	(64 * 1024)
#define SUBAGENT_STEPS_MAX	100		/* steps kept for the card */

struct tool_ctx;
struct tool_def;

extern const char subagent_description[];
extern const char subagent_schema[];

/* The executor (the task tool). */
int	subagent_run(struct tool_ctx *, const struct tool_def *, json_object *input,
	    struct buf *out, json_object *detail);

#endif
