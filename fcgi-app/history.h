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

/*
 * Loads (an empty history when the file does not exist); NULL on
 * corruption. What is loaded is repaired (history_repair) and the repair
 * logged, so every reader gets a history the Messages API accepts.
 * history_load_flags takes HISTORY_* flags for history_repair_flags.
 */
json_object *history_load(const struct config *, const char *sid);
json_object *history_load_flags(const struct config *, const char *sid,
	    int flags);
/*
 * Makes h valid for the Messages API and returns how many fixes it made
 * (0 when it already was):
 *  - every string and key becomes valid UTF-8 (U+FFFD for bad bytes);
 *  - messages without a user/assistant role or with empty content go;
 *  - consecutive user messages are merged, and so are consecutive
 *    assistant messages unless the first one calls tools;
 *  - the user turn after an assistant turn with tool_use blocks begins
 *    with one tool_result per tool_use, in tool_use order: a missing one
 *    is added as an is_error result saying the call was interrupted (a
 *    user turn is inserted when there is none, also at the end);
 *  - tool_results whose tool_use is not in the turn before, and repeats,
 *    are dropped (a turn left empty keeps a short text note).
 * HISTORY_KEEP_OPEN_TAIL leaves unanswered tool_use blocks of the last
 * message alone: a resumed run answers those itself.
 */
#define HISTORY_KEEP_OPEN_TAIL	0x1
int	history_repair(json_object *h);
int	history_repair_flags(json_object *h, int flags);
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
