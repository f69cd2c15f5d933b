#include <stdio.h>
#include <string.h>
#include <time.h>

#include "keys.h"
#include "plantool.h"
#include "sessions.h"
#include "store.h"

static const char plan_system[] =
    "\n\n# Plan mode\n\n"
    "This session is in plan mode: explore and plan, do not change anything. "
    "You may read files and search (the editor's view; commands you run still "
    "need the person's approval and must not modify anything). Creating, "
    "editing or deleting files is refused. When your plan is ready, call the "
    "`exit_plan_mode` tool with the complete plan as Markdown in `plan`: the "
    "person reviews it and either approves it (the session then leaves plan "
    "mode and you carry the plan out) or asks you to keep planning, with "
    "their reasons. Do not ask for approval in plain text.";

int
plantool_is(const char *tool)
{
	return tool != NULL && strcmp(tool, PLANTOOL_NAME) == 0;
}

const char plantool_description[] =
    "Use this tool only in plan mode, when you have finished planning and are "
    "ready to carry the plan out. Pass the complete plan as Markdown: the "
    "steps, the files you will change and how you will check the result. The "
    "person approves it (the session leaves plan mode and you go on) or asks "
    "you to keep planning. Outside plan mode the call is refused.";

const char plantool_schema[] =
    "{\"type\":\"object\",\"properties\":{\"plan\":{\"type\":\"string\","
    "\"description\":\"The plan, in Markdown.\"}},\"required\":[\"plan\"]}";

int
plantool_grantable(const struct tool_def *def, json_object *input)
{
	(void)def;
	(void)input;
	return 0;
}

void
plantool_summary_hook(const struct tool_def *def, json_object *input,
    char *out, size_t cap)
{
	(void)def;
	plantool_summary(input, out, cap);
}

int
plantool_run(struct tool_ctx *tc, const struct tool_def *def,
    json_object *input, struct buf *out, json_object *detail)
{
	(void)tc;
	(void)def;
	(void)input;
	(void)detail;
	buf_puts(out, "Error: exit_plan_mode is answered by the person, not run.");
	return 1;
}

const char *
plantool_system_text(void)
{
	return plan_system;
}

int
plantool_check(json_object *input, char *why, size_t cap)
{
	json_object	*p;
	size_t		 n;

	if (input == NULL || !json_object_object_get_ex(input, "plan", &p) ||
	    !json_object_is_type(p, json_type_string)) {
		snprintf(why, cap, "Error: exit_plan_mode needs {\"plan\": "
		    "\"<the plan as Markdown>\"}.");
		return -1;
	}
	n = (size_t)json_object_get_string_len(p);
	if (n == 0 || n > PLANTOOL_PLAN_MAX) {
		snprintf(why, cap, "Error: the plan must be 1 to %d bytes of "
		    "Markdown.", PLANTOOL_PLAN_MAX);
		return -1;
	}
	return 0;
}

void
plantool_not_in_plan(const char *mode, char *out, size_t cap)
{
	snprintf(out, cap, "Error: exit_plan_mode is only for plan mode; this "
	    "session is in %s mode, so there is no plan to approve. Carry on with "
	    "the task.", mode);
}

void
plantool_summary(json_object *input, char *out, size_t cap)
{
	json_object	*p;
	const char	*s = "";
	size_t		 n;

	if (input != NULL && json_object_object_get_ex(input, "plan", &p) &&
	    json_object_is_type(p, json_type_string))
		s = json_object_get_string(p);
	/* The first non-empty line, without Markdown heading marks. */
	while (*s == '\n' || *s == '\r' || *s == ' ' || *s == '#')
		s++;
	n = strcspn(s, "\r\n");
	if (n > 200)
		n = 200;
	snprintf(out, cap, "Approve the plan%s%.*s", n ? ": " : "", (int)n, s);
}

int
plantool_valid_target(const char *mode)
{
	return mode != NULL && (strcmp(mode, "acceptEdits") == 0 ||
	    strcmp(mode, "default") == 0);
}

int
plantool_is_request(struct store *st, const char *sid, const char *rid)
{
	redisReply	*r;
	char		 key[128];
	int		 rc;

	snprintf(key, sizeof(key), CW_KP "perm:%s:%s", sid, rid);
	if ((r = store_cmdv(st, "HGET", key, "tool", NULL)) == NULL)
		return -1;
	rc = r->type == REDIS_REPLY_STRING && plantool_is(r->str);
	freeReplyObject(r);
	return rc;
}

int
plantool_set_target(struct store *st, const char *sid, const char *rid,
    const char *mode)
{
	redisReply	*r;
	char		 key[128];

	snprintf(key, sizeof(key), CW_KP "perm:%s:%s", sid, rid);
	/* Only on a request that exists (never creates a stray hash). */
	r = store_cmdv(st, "EVAL", "if redis.call('EXISTS', KEYS[1]) == 1 then "
	    "return redis.call('HSET', KEYS[1], 'plan_mode', ARGV[1]) end "
	    "return -1", "1", key, mode, NULL);
	if (r == NULL)
		return -1;
	freeReplyObject(r);
	return 0;
}

/*
 * Only the permission_mode field (and updated_at), and only into a record
 * that still has its owner, like runs_set_session_status: a whole-record
 * save from here (the API or the runner) would undo a PATCH of the title,
 * model or network policy made meanwhile, and must never revive a deleted
 * session. (metadata.json catches up at the session's next save.)
 */
static const char switch_mode_script[] =
    "if redis.call('HEXISTS', KEYS[1], 'owner') == 0 then return -1 end "
    "if redis.call('HGET', KEYS[1], 'permission_mode') == ARGV[1] then "
    "return 0 end "
    "redis.call('HSET', KEYS[1], 'permission_mode', ARGV[1], 'updated_at', ARGV[2]) "
    SESSIONS_LUA_UNSUMMARIZE("KEYS[1]")
    "return 1";

int
plantool_switch_mode(struct store *st, const struct config *cfg,
    const char *sid, const char *mode)
{
	redisReply	*r;
	char		 key[96], now[32];
	int		 rc;

	(void)cfg;
	snprintf(key, sizeof(key), CW_KP "session:%s", sid);
	snprintf(now, sizeof(now), "%ld", (long)time(NULL));
	if ((r = store_cmdv(st, "EVAL", switch_mode_script, "1", key, mode, now,
	    NULL)) == NULL)
		return -1;
	rc = r->type == REDIS_REPLY_INTEGER && r->integer >= 0 ? 0 : -1;
	freeReplyObject(r);
	return rc;
}

void
plantool_apply(struct store *st, const struct config *cfg, const char *sid,
    const char *rid, char *mode, char *out, size_t cap)
{
	redisReply	*r;
	char		 key[128];

	snprintf(mode, 32, "default");
	snprintf(key, sizeof(key), CW_KP "perm:%s:%s", sid, rid);
	if ((r = store_cmdv(st, "HGET", key, "plan_mode", NULL)) != NULL) {
		if (r->type == REDIS_REPLY_STRING && plantool_valid_target(r->str))
			snprintf(mode, 32, "%s", r->str);
		freeReplyObject(r);
	}
	(void)plantool_switch_mode(st, cfg, sid, mode);
	snprintf(out, cap, "The user approved your plan. The session has left plan "
	    "mode and is now in %s mode (%s). Carry out the plan now.", mode,
	    strcmp(mode, "acceptEdits") == 0 ? "your file edits are accepted "
	    "without asking; commands still ask" : "the user approves each edit "
	    "and command");
}

void
plantool_keep_planning(const char *msg, char *out, size_t cap)
{
	snprintf(out, cap, "The user did not approve the plan and wants you to "
	    "keep planning; the session stays in plan mode.%s%s", msg[0] ?
	    " Their message: " : "", msg);
}
