/*
 * history: a session's conversation on disk, .claude/history.json:
 *   {"version":1,"messages":[{role,content},...],"runs":[run ids applied],
 *    "last_input_tokens":N}
 * messages are exactly what is sent to the Messages API. Saved atomically
 * (temp + fsync + rename) after every assistant message and tool result.
 * The json_object returned by history_load() is owned by the caller.
 */
#ifndef CW_HISTORY_H
#define CW_HISTORY_H

#include <json-c/json.h>

struct config;

/* Loads (an empty history when the file does not exist); NULL on corruption. */
json_object *history_load(const struct config *, const char *sid);
int	history_save(const struct config *, const char *sid, json_object *h);
json_object *history_messages(json_object *h);
/* Appends a user message, merging into a trailing user message. */
void	history_append_user(json_object *h, json_object *content);
void	history_append_assistant(json_object *h, json_object *content);
int	history_has_run(json_object *h, const char *run_id);
void	history_add_run(json_object *h, const char *run_id);
/* Content as blocks: a string becomes [{"type":"text","text":...}] (new ref). */
json_object *history_as_blocks(json_object *content);

#endif
