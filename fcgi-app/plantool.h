/*
 * plantool: plan mode's way out. Claude calls exit_plan_mode {plan} when
 * its plan is ready; the call becomes a permission request of kind "plan"
 * (the card shows the plan's Markdown). Approving it names the mode the
 * session continues in (acceptEdits or default): the session switches,
 * the tool_result tells Claude, and the run continues. "Keep planning" is
 * a deny: an is_error tool_result with the person's message, and the
 * session stays in plan mode.
 *
 * The tool is always declared (one declaration for every mode: the
 * tools array stays byte-stable when the mode changes, so the prompt
 * cache survives a switch); outside plan mode a call is refused with an
 * error result and nothing asks.
 *
 * The chosen mode travels in the permission request's hash (field
 * plan_mode, written by the API before the answer) and is applied by the
 * runner when it reads the answer (plantool_apply) and by the API right
 * after the answer, whichever comes first; both are idempotent.
 */
#ifndef CW_PLANTOOL_H
#define CW_PLANTOOL_H

#include <stddef.h>

#include <json-c/json.h>

#include "buf.h"

struct store;
struct config;

#define PLANTOOL_NAME		"exit_plan_mode"
#define PLANTOOL_PLAN_MAX	(64 * 1024)	/* bytes of plan Markdown */

/* 1 when tool is exit_plan_mode. */
int	plantool_is(const char *tool);
/* The registry entry's parts (tools.c: tools_table). */
extern const char plantool_description[];
extern const char plantool_schema[];
struct tool_def;
struct tool_ctx;
/* Never remembered: each plan is approved on its own. */
int	plantool_grantable(const struct tool_def *, json_object *input);
void	plantool_summary_hook(const struct tool_def *, json_object *input,
	    char *out, size_t cap);
/*
 * The executor is never reached: agent.c answers exit_plan_mode itself
 * (the plan card parks the run like an approval). Returns an error.
 */
int	plantool_run(struct tool_ctx *, const struct tool_def *, json_object *input,
	    struct buf *out, json_object *detail);
/* The system prompt's plan-mode paragraph (appended while the session is in plan mode). */
const char *plantool_system_text(void);
/* 0 when input is {plan: non-empty string <= PLANTOOL_PLAN_MAX}; else why. */
int	plantool_check(json_object *input, char *why, size_t cap);
/* The text of a refused call outside plan mode. */
void	plantool_not_in_plan(const char *mode, char *out, size_t cap);
/* The approval card's one-line summary. */
void	plantool_summary(json_object *input, char *out, size_t cap);
/* 1 for a mode a plan may be approved into (acceptEdits, default). */
int	plantool_valid_target(const char *mode);
/* 1 when request rid of sid is an exit_plan_mode request, 0 not (or none), -1 error. */
int	plantool_is_request(struct store *, const char *sid, const char *rid);
/* Records the mode chosen with an approval on request rid (before the answer). */
int	plantool_set_target(struct store *, const char *sid, const char *rid,
	    const char *mode);
/* Sets the session's permission_mode (no-op when it already is). 0 or -1. */
int	plantool_switch_mode(struct store *, const struct config *,
	    const char *sid, const char *mode);
/*
 * An approved plan request rid: switches the session into the chosen mode
 * and writes the tool_result text to out; the mode into mode (cap 32).
 */
void	plantool_apply(struct store *, const struct config *, const char *sid,
	    const char *rid, char *mode, char *out, size_t cap);
/* The is_error text of "Keep planning" (msg: the person's message, may be ""). */
void	plantool_keep_planning(const char *msg, char *out, size_t cap);

#endif
