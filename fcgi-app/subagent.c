#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent.h"
#include "app.h"
#include "claude.h"
#include "config.h"
#include "jsonio.h"
#include "log.h"
#include "models.h"
#include "perm.h"
#include "sessions.h"
#include "subagent.h"
#include "tools.h"

#define STEP_TEXT_MAX	2000	/* bytes of a text or a result kept per step */
#define STEP_INPUT_MAX	2000	/* bytes of a call's input kept per step */
#define STEPS_BYTES_MAX	(256 * 1024)	/* all steps kept, as JSON */

const char subagent_description[] =
    "Launch a sub-agent: a separate Claude with its own fresh context that "
    "works on one task on its own and answers with a single final report, "
    "which you receive as this tool's result. Use it for a self-contained "
    "search or investigation across many files (where is X done, what uses "
    "Y, why does Z fail) so that its reading does not fill your context, "
    "or for independent pieces of work. The sub-agent sees none of this "
    "conversation: give it the complete task in prompt, with every detail "
    "it needs, and say what its report should contain. It can use the "
    "read-only tools, the editor and bash (subagent_type \"explore\": the "
    "read-only tools and file views only); it cannot ask the user anything "
    "(a call that needs approval is denied to it), cannot use todo_write "
    "and cannot launch sub-agents itself. description is a 3-5 word label "
    "shown to the user.";

const char subagent_schema[] =
    "{\"type\":\"object\",\"properties\":{"
    "\"description\":{\"type\":\"string\","
    "\"description\":\"A short (3-5 word) label of the task\"},"
    "\"prompt\":{\"type\":\"string\","
    "\"description\":\"The complete task for the sub-agent\"},"
    "\"subagent_type\":{\"type\":\"string\","
    "\"enum\":[\"general-purpose\",\"explore\"],"
    "\"description\":\"general-purpose (default): read-only tools, the "
    "editor and bash; explore: read-only tools and file views only\"}},"
    "\"required\":[\"description\",\"prompt\"],\"additionalProperties\":false}";

static const char sub_system[] =
    "You are a sub-agent of Claude in claude-web, a web version of Claude "
    "Code. The main agent gave you one task: the message below. Work on it "
    "on your own with your tools, then end with one final message. That "
    "message is returned to the main agent as the result of its task (the "
    "user does not read it directly), so make it complete and "
    "self-contained: what you found or did, with file paths, names and the "
    "facts that matter.\n\n"
    "Environment:\n"
    "- The session's project is the working directory /workspace. Give the "
    "tools paths under /workspace (or relative to it).\n"
    "- `bash`, when you have it, runs each command in a fresh Linux sandbox "
    "(bubblewrap): only /workspace and a small /tmp are writable, there is "
    "no network access unless the administrator enabled it. Commands have "
    "time, memory and output limits.\n"
    "- You cannot ask the user anything. A tool call that needs the user's "
    "approval is denied to you: then say in your final message what you "
    "would need, so the main agent can ask the user.\n\n"
    "Be efficient: search before reading whole files, and stop as soon as "
    "you can answer.";

/* One child run. */
struct sub {
	struct tool_ctx		*ptc;		/* the parent's tool call */
	struct run_ctx		*rc;
	const struct model_info	*mi;
	const char		*parent_id;
	int			 explore;
	int			 turn;
	int			 cancelled;
	json_object		*steps;		/* for the card after a reload */
	size_t			 steps_bytes;
	int			 steps_dropped;
	long long		 in, out, cw, cr;
	double			 cost;
};

/* Adds parent_tool_use_id and emits through the parent run (data consumed). */
static void
sub_emit(struct sub *s, const char *type, json_object *d)
{
	json_object_object_add(d, "parent_tool_use_id",
	    json_object_new_string(s->parent_id));
	if (s->ptc->emit != NULL)
		s->ptc->emit(s->ptc->arg, type, d);
	else
		json_object_put(d);
}

static int
sub_abort(void *arg)
{
	struct sub	*s = arg;

	if (s->cancelled)
		return 1;
	if (s->ptc->should_abort != NULL && s->ptc->should_abort(s->ptc->arg))
		s->cancelled = 1;
	return s->cancelled;
}

static void
child_tool_emit(void *arg, const char *type, json_object *d)
{
	sub_emit(arg, type, d);
}

/* Keeps a valid UTF-8 prefix of at most max bytes of s. */
static json_object *
clipped(const char *s, size_t n, size_t max)
{
	struct buf	 b;
	json_object	*o;

	if (n > max) {
		n = max;
		/* Back off to a character boundary. */
		while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80)
			n--;
	}
	buf_init(&b, n * 3 + 64);
	buf_utf8_clean(&b, s, n);
	if (n < strlen(s))
		buf_puts(&b, " […]");
	o = json_object_new_string_len(b.p ? b.p : "", (int)b.len);
	buf_free(&b);
	return o;
}

/*
 * Keeps a step for the card (the tool.result event and tool_details), while
 * there are fewer than SUBAGENT_STEPS_MAX and they fit in STEPS_BYTES_MAX;
 * later ones are only counted (steps_dropped).
 */
static void
add_step(struct sub *s, json_object *step)
{
	size_t	 n = strlen(json_object_to_json_string_ext(step,
		    JSON_C_TO_STRING_PLAIN));

	if (json_object_array_length(s->steps) >= SUBAGENT_STEPS_MAX ||
	    s->steps_bytes + n > STEPS_BYTES_MAX) {
		s->steps_dropped++;
		json_object_put(step);
		return;
	}
	s->steps_bytes += n;
	json_object_array_add(s->steps, step);
}

/* ---- the model call's hooks ---------------------------------------------- */
static void
hk_message_start(void *arg, const struct claude_msg *m)
{
	struct sub	*s = arg;
	json_object	*d = json_object_new_object();

	json_object_object_add(d, "message_id", json_object_new_string(m->id));
	json_object_object_add(d, "model", json_object_new_string(m->model));
	json_object_object_add(d, "turn", json_object_new_int(s->turn));
	sub_emit(s, "message.start", d);
}

static void
hk_text(void *arg, int idx, const char *t, size_t n)
{
	json_object	*d = json_object_new_object();

	json_object_object_add(d, "index", json_object_new_int(idx));
	json_object_object_add(d, "text", json_object_new_string_len(t, (int)n));
	sub_emit(arg, "text.delta", d);
}

static void
hk_thinking(void *arg, int idx, const char *t, size_t n)
{
	json_object	*d = json_object_new_object();

	json_object_object_add(d, "index", json_object_new_int(idx));
	json_object_object_add(d, "thinking", json_object_new_string_len(t, (int)n));
	sub_emit(arg, "thinking.delta", d);
}

static void
hk_block_stop(void *arg, int idx, const struct claude_block *b)
{
	json_object	*d;

	if (b->type != CB_TOOL_USE)
		return;
	d = json_object_new_object();
	json_object_object_add(d, "index", json_object_new_int(idx));
	json_object_object_add(d, "id", json_object_new_string(b->id));
	json_object_object_add(d, "name", json_object_new_string(b->name));
	json_object_object_add(d, "input", json_object_get(b->input));
	sub_emit(arg, "tool.use", d);
}

static void
hk_retrying(void *arg, int attempt, long delay_ms, const char *reason)
{
	json_object	*d = json_object_new_object();

	json_object_object_add(d, "attempt", json_object_new_int(attempt));
	json_object_object_add(d, "delay_ms", json_object_new_int64(delay_ms));
	json_object_object_add(d, "reason", json_object_new_string(reason));
	sub_emit(arg, "run.retrying", d);
}

/* ---- the request ------------------------------------------------------------ */
static json_object *
text_block(const char *text)
{
	json_object	*b = json_object_new_object();

	json_object_object_add(b, "type", json_object_new_string("text"));
	json_object_object_add(b, "text", json_object_new_string(text));
	return b;
}

static void
mark_cache(json_object *block)
{
	json_object	*cc = json_object_new_object();

	json_object_object_add(cc, "type", json_object_new_string("ephemeral"));
	json_object_object_add(block, "cache_control", cc);
}

/*
 * The body: the parent's shape (model, max_tokens, system, tools, messages,
 * thinking, stream) with the sub-agent's system prompt, tools and messages;
 * cache_control on the system prompt and the newest user turn.
 */
static char *
build_body(struct sub *s, json_object *tools, json_object *messages)
{
	const struct config	*cfg = s->ptc->cfg;
	json_object		*req = json_object_new_object(), *sys, *b, *msgs = NULL,
				*m, *content, *th;
	size_t			 i, n;
	char			*body;

	json_object_deep_copy(messages, &msgs, NULL);
	n = json_object_array_length(msgs);
	for (i = n; i > 0; i--) {
		m = json_object_array_get_idx(msgs, i - 1);
		if (strcmp(json_object_get_string(json_object_object_get(m, "role")),
		    "user") != 0)
			continue;
		content = json_object_object_get(m, "content");
		if (json_object_is_type(content, json_type_array) &&
		    json_object_array_length(content) > 0)
			mark_cache(json_object_array_get_idx(content,
			    json_object_array_length(content) - 1));
		break;
	}
	sys = json_object_new_array();
	b = text_block(sub_system);
	mark_cache(b);
	json_object_array_add(sys, b);
	json_object_object_add(req, "model", json_object_new_string(s->mi->id));
	json_object_object_add(req, "max_tokens", json_object_new_int64(cfg->max_tokens));
	json_object_object_add(req, "system", sys);
	json_object_object_add(req, "tools", json_object_get(tools));
	json_object_object_add(req, "messages", msgs);
	if (cfg->claude_thinking_budget > 0) {
		th = json_object_new_object();
		json_object_object_add(th, "type", json_object_new_string("enabled"));
		json_object_object_add(th, "budget_tokens",
		    json_object_new_int64(cfg->claude_thinking_budget));
		json_object_object_add(req, "thinking", th);
	}
	json_object_object_add(req, "stream", json_object_new_boolean(1));
	body = strdup(json_object_to_json_string_ext(req, JSON_C_TO_STRING_PLAIN |
	    JSON_C_TO_STRING_NOSLASHESCAPE));
	json_object_put(req);
	return body;
}

/* ---- the child's tools ------------------------------------------------------ */
/*
 * The child's tools, from the run's set: no task (no recursion), no
 * todo_write, nothing internal (plan cards), nothing executed by Anthropic
 * or by an MCP server. general-purpose: the read-class tools, the editor
 * (its views are read-class; its edits follow the session's mode) and
 * bash; explore: only tools that can read (read-class calls only).
 */
struct child_tools {
	struct toolset	*set;
	json_object	*decl;		/* the tools array of the request */
};

static int
child_keeps(const struct tool_def *def, int explore)
{
	if (strcmp(def->name, "task") == 0 || strcmp(def->name, "todo_write") == 0)
		return 0;
	if ((def->flags & (TOOL_SERVER | TOOL_DYNAMIC)) || def->run == NULL)
		return 0;
	switch (def->default_class) {
	case TC_READ:
		return 1;
	case TC_EDIT:	/* the editor: views are read-class (classify) */
		return def->classify != NULL;
	case TC_EXEC:
		return !explore;
	default:
		return 0;
	}
}

static void
child_tools_init(struct child_tools *ct, struct tool_ctx *ptc, int explore)
{
	const struct tool_def	*def;
	size_t			 i, n;

	ct->set = tools_set_new();
	if (ptc->set != NULL) {
		n = tools_set_len(ptc->set);
		for (i = 0; i < n; i++)
			if ((def = tools_set_at(ptc->set, i)) != NULL &&
			    child_keeps(def, explore))
				tools_set_add(ct->set, def);
	} else {
		for (i = 0; i < tools_table_len; i++)
			if ((tools_table[i].flags & TOOL_DEFAULT) &&
			    child_keeps(&tools_table[i], explore))
				tools_set_add(ct->set, &tools_table[i]);
	}
	ct->decl = tools_set_declarations(ct->set);
}

static void
child_tools_free(struct child_tools *ct)
{
	json_object_put(ct->decl);
	tools_set_free(ct->set);
}

/*
 * May the child run this call? 1 yes; 0 no, why filled (for Claude). What
 * would need a person is denied: a tool call cannot park.
 */
static int
child_permission(struct sub *s, struct child_tools *ct, const char *name,
    json_object *input, char *why, size_t cap)
{
	const struct tool_def	*def = tools_set_find(ct->set, name);
	struct session		 sess;
	enum tool_class		 cls;
	const char		*mode;
	char			 key[512];

	if (def == NULL) {
		snprintf(why, cap, "Error: the sub-agent has no tool named %.128s.",
		    name);
		return 0;
	}
	cls = tools_class(def, input);
	if (s->explore && cls != TC_READ) {
		snprintf(why, cap, "Permission denied: an explore sub-agent only "
		    "reads; report what should be changed instead.");
		return 0;
	}
	mode = sessions_get(s->ptc->store, s->ptc->sid, &sess) == 1 ?
	    sess.permission_mode : "default";
	switch (perm_policy(mode, cls)) {
	case PERM_ALLOW:
		return 1;
	case PERM_DENY_PLAN:
		snprintf(why, cap, "Permission denied: this session is in plan mode "
		    "(read-only). You can look at files, but not change them; "
		    "describe what should be done in your report instead.");
		return 0;
	default:
		tools_grant_key(def, input, key, sizeof(key));
		if (tools_grantable(def, input) &&
		    perm_remembered(s->ptc->store, s->ptc->sid, key) == 1)
			return 1;
		snprintf(why, cap, "Permission denied: this call needs the user's "
		    "approval, and a sub-agent cannot ask for it. Do not retry it; "
		    "say in your final report what you need, so the main agent can "
		    "ask the user from the main conversation.");
		return 0;
	}
}

static int
child_exec(struct sub *s, struct child_tools *ct, struct tool_ctx *tc,
    const char *name, json_object *input, struct buf *out, json_object *detail)
{
	(void)s;
	tc->set = ct->set;
	return tools_run(tc, tools_set_find(ct->set, name), input, out, detail);
}

static json_object *
tool_result_block(const char *id, const char *text, size_t len, int is_error)
{
	json_object	*r = json_object_new_object();

	json_object_object_add(r, "type", json_object_new_string("tool_result"));
	json_object_object_add(r, "tool_use_id", json_object_new_string(id));
	json_object_object_add(r, "content", json_object_new_string_len(text,
	    (int)len));
	if (is_error)
		json_object_object_add(r, "is_error", json_object_new_boolean(1));
	return r;
}

/* Runs the tool calls of one assistant message: the user message of results. */
static json_object *
run_calls(struct sub *s, struct child_tools *ct, json_object *content)
{
	json_object	*results = json_object_new_array(), *b, *t, *input, *detail,
			*d, *step, *st, *rcontent = NULL;
	struct tool_ctx	 tc;
	struct buf	 out, clean;
	const char	*name, *id, *js;
	char		 why[1024];
	size_t		 i;
	int		 err, verdict, denied;

	for (i = 0; i < json_object_array_length(content); i++) {
		b = json_object_array_get_idx(content, i);
		if (!json_object_object_get_ex(b, "type", &t) ||
		    strcmp(json_object_get_string(t), "tool_use") != 0)
			continue;
		if ((name = json_object_get_string(json_object_object_get(b,
		    "name"))) == NULL)
			name = "";
		if ((id = json_object_get_string(json_object_object_get(b,
		    "id"))) == NULL)
			id = "";
		if (!json_object_object_get_ex(b, "input", &input))
			input = NULL;
		buf_init(&out, 2 * 1024 * 1024);
		detail = json_object_new_object();
		denied = 0;
		why[0] = '\0';
		if (sub_abort(s)) {
			buf_puts(&out, "The run was cancelled before this tool ran.");
			err = 1;
		} else if ((verdict = child_permission(s, ct, name, input, why,
		    sizeof(why))) != 1) {
			buf_puts(&out, why);
			err = 1;
			denied = 1;
			json_object_object_add(detail, "denied", json_object_new_boolean(1));
		} else {
			tc = *s->ptc;
			tc.tool_use_id = id;
			tc.should_abort = sub_abort;
			tc.emit = child_tool_emit;
			tc.arg = s;
			tc.content = NULL;
			err = child_exec(s, ct, &tc, name, input, &out, detail);
			rcontent = tc.content;
		}
		buf_init(&clean, out.len * 3 + 16);
		buf_utf8_clean(&clean, out.p ? out.p : "", out.len);
		buf_free(&out);
		b = tool_result_block(id, clean.p ? clean.p : "", clean.len, err);
		if (rcontent != NULL) {
			/* An executor's own content blocks (an image). */
			json_object_object_add(b, "content", rcontent);
			rcontent = NULL;
		}
		json_object_array_add(results, b);
		/* The card's step: the call, its input (clipped) and the result. */
		step = json_object_new_object();
		json_object_object_add(step, "type", json_object_new_string("tool"));
		json_object_object_add(step, "id", json_object_new_string(id));
		json_object_object_add(step, "name", json_object_new_string(name));
		js = input != NULL ? json_object_to_json_string_ext(input,
		    JSON_C_TO_STRING_PLAIN) : "{}";
		if (strlen(js) <= STEP_INPUT_MAX)
			json_object_object_add(step, "input", input != NULL ?
			    json_object_get(input) : json_object_new_object());
		else {
			json_object	*small = json_object_new_object(), *v;
			static const char *const keep[] = { "command", "path",
			    "pattern", "description" };
			size_t		 k;

			for (k = 0; k < sizeof(keep) / sizeof(keep[0]); k++)
				if (json_object_object_get_ex(input, keep[k], &v) &&
				    json_object_is_type(v, json_type_string))
					json_object_object_add(small, keep[k],
					    clipped(json_object_get_string(v),
					    (size_t)json_object_get_string_len(v), 1000));
			json_object_object_add(small, "_clipped",
			    json_object_new_boolean(1));
			json_object_object_add(step, "input", small);
		}
		st = json_object_new_object();
		json_object_object_add(st, "content", clipped(clean.p ? clean.p : "",
		    clean.len, STEP_TEXT_MAX));
		json_object_object_add(st, "is_error", json_object_new_boolean(err));
		if (denied)
			json_object_object_add(st, "denied", json_object_new_boolean(1));
		json_object_object_add(step, "result", st);
		add_step(s, step);
		/* The child's tool.result, as the parent's are (details included). */
		d = detail;
		json_object_object_add(d, "tool_use_id", json_object_new_string(id));
		json_object_object_add(d, "name", json_object_new_string(name));
		json_object_object_add(d, "content", json_object_new_string_len(
		    clean.p ? clean.p : "", (int)clean.len));
		json_object_object_add(d, "is_error", json_object_new_boolean(err));
		sub_emit(s, "tool.result", d);
		buf_free(&clean);
	}
	d = json_object_new_object();
	json_object_object_add(d, "role", json_object_new_string("user"));
	json_object_object_add(d, "content", results);
	return d;
}

/*
 * The text blocks of an assistant content array, joined, as much as fits
 * in b (cut at a character boundary, with a note).
 */
static void
content_text(json_object *content, struct buf *b)
{
	static const char note[] = "\n[report truncated]";
	json_object	*blk, *t;
	const char	*s;
	size_t		 i, n, room;

	for (i = 0; i < json_object_array_length(content); i++) {
		blk = json_object_array_get_idx(content, i);
		if (!json_object_object_get_ex(blk, "type", &t) ||
		    strcmp(json_object_get_string(t), "text") != 0 ||
		    (s = json_object_get_string(json_object_object_get(blk,
		    "text"))) == NULL)
			continue;
		n = strlen(s);
		room = b->max - b->len;
		if (n + sizeof(note) > room) {
			n = room > sizeof(note) ? room - sizeof(note) : 0;
			while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80)
				n--;
			buf_append(b, s, n);
			buf_puts(b, note);
			return;
		}
		buf_append(b, s, n);
	}
}

static int
has_tool_use(json_object *content)
{
	json_object	*t;
	size_t		 i;

	for (i = 0; i < json_object_array_length(content); i++)
		if (json_object_object_get_ex(json_object_array_get_idx(content, i),
		    "type", &t) && strcmp(json_object_get_string(t), "tool_use") == 0)
			return 1;
	return 0;
}

/* Checks the input; 0 fine, else err filled. */
static int
check_input(json_object *input, const char **desc, const char **prompt,
    int *explore, char *err, size_t cap)
{
	json_object	*v;
	const char	*type = NULL;

	*desc = *prompt = NULL;
	*explore = 0;
	if (input == NULL || !json_object_is_type(input, json_type_object)) {
		snprintf(err, cap, "the input must be an object {description, prompt, "
		    "subagent_type?}");
		return -1;
	}
	json_object_object_foreach(input, key, val) {
		(void)val;
		if (strcmp(key, "description") != 0 && strcmp(key, "prompt") != 0 &&
		    strcmp(key, "subagent_type") != 0) {
			snprintf(err, cap, "unknown field '%.64s' (allowed: description, "
			    "prompt, subagent_type)", key);
			return -1;
		}
	}
	if (!json_object_object_get_ex(input, "prompt", &v) ||
	    !json_object_is_type(v, json_type_string) ||
	    strspn(json_object_get_string(v), " \t\r\n") ==
	    (size_t)json_object_get_string_len(v)) {
		snprintf(err, cap, "'prompt' is required: the complete task for the "
		    "sub-agent");
		return -1;
	}
	if (json_object_get_string_len(v) > SUBAGENT_PROMPT_MAX ||
	    strlen(json_object_get_string(v)) !=
	    (size_t)json_object_get_string_len(v)) {
		snprintf(err, cap, "'prompt' must be text of at most %d bytes",
		    SUBAGENT_PROMPT_MAX);
		return -1;
	}
	*prompt = json_object_get_string(v);
	if (json_object_object_get_ex(input, "description", &v) &&
	    json_object_is_type(v, json_type_string))
		*desc = json_object_get_string(v);
	if (*desc == NULL || strlen(*desc) > 200) {
		snprintf(err, cap, "'description' is required: a 3-5 word label (at "
		    "most 200 bytes)");
		return -1;
	}
	if (json_object_object_get_ex(input, "subagent_type", &v) &&
	    !json_object_is_type(v, json_type_null)) {
		type = json_object_get_string(v);
		if (!json_object_is_type(v, json_type_string) ||
		    (strcmp(type, "general-purpose") != 0 &&
		    strcmp(type, "explore") != 0)) {
			snprintf(err, cap, "'subagent_type' must be general-purpose or "
			    "explore");
			return -1;
		}
		*explore = strcmp(type, "explore") == 0;
	}
	return 0;
}

int
subagent_run(struct tool_ctx *ptc, const struct tool_def *def, json_object *input,
    struct buf *out, json_object *detail)
{
	const struct config	*cfg = ptc->cfg;
	struct sub		 s;
	struct child_tools	 ct;
	struct claude_hooks	 hooks;
	struct claude_msg	 cm;
	struct claude_result	 res;
	struct session		 sess;
	struct buf		 last;
	json_object		*messages, *m, *content, *d, *step, *u;
	const char		*desc, *prompt;
	char			 err[512], *body;
	int			 max_turns, rc = 0, done = 0, explore;

	(void)def;
	if (check_input(input, &desc, &prompt, &explore, err, sizeof(err)) == -1) {
		buf_printf(out, "Error: the sub-agent was not started: %s.", err);
		return 1;
	}
	memset(&s, 0, sizeof(s));
	s.ptc = ptc;
	s.rc = ptc->arg;
	s.parent_id = ptc->tool_use_id != NULL ? ptc->tool_use_id : "";
	s.explore = explore;
	s.steps = json_object_new_array();
	s.mi = sessions_get(ptc->store, ptc->sid, &sess) == 1 ?
	    models_find(sess.model) : NULL;
	if (s.mi == NULL)
		s.mi = models_find(cfg->claude_model);
	if (s.mi == NULL) {
		json_object_put(s.steps);
		buf_puts(out, "Error: the sub-agent was not started: no model is "
		    "configured.");
		return 1;
	}
	child_tools_init(&ct, ptc, explore);
	max_turns = cfg->max_turns < SUBAGENT_MAX_TURNS ? (int)cfg->max_turns :
	    SUBAGENT_MAX_TURNS;
	messages = json_object_new_array();
	m = json_object_new_object();
	json_object_object_add(m, "role", json_object_new_string("user"));
	content = json_object_new_array();
	json_object_array_add(content, text_block(prompt));
	json_object_object_add(m, "content", content);
	json_object_array_add(messages, m);
	buf_init(&last, SUBAGENT_RESULT_MAX);

	memset(&hooks, 0, sizeof(hooks));
	hooks.arg = &s;
	hooks.message_start = hk_message_start;
	hooks.text_delta = hk_text;
	hooks.thinking_delta = hk_thinking;
	hooks.block_stop = hk_block_stop;
	hooks.retrying = hk_retrying;
	hooks.should_abort = sub_abort;
	log_kv(LOG_INFO, "sub-agent started", "s:session", ptc->sid,
	    "s:tool_use_id", s.parent_id, NULL);
	while (!done) {
		if (s.turn >= max_turns) {
			if (last.len == 0)
				buf_puts(&last, "(no report)");
			buf_printf(out, "%s\n\n[The sub-agent stopped after %d model "
			    "calls (its limit) before it finished; the above is its "
			    "last message.]", last.p, max_turns);
			rc = 1;
			break;
		}
		if (sub_abort(&s)) {
			buf_puts(out, "The sub-agent was stopped: the run was cancelled.");
			rc = 1;
			break;
		}
		body = build_body(&s, ct.decl, messages);
		claude_msg_init(&cm);
		claude_stream(s.rc->claude, body, &hooks, &cm, &res);
		free(body);
		s.turn++;
		if (res.code == CLAUDE_CANCELLED || sub_abort(&s)) {
			claude_msg_free(&cm);
			buf_puts(out, "The sub-agent was stopped: the run was cancelled.");
			rc = 1;
			break;
		}
		if (res.code != CLAUDE_OK) {
			claude_msg_free(&cm);
			buf_printf(out, "Error: the sub-agent's model call failed (%s): %s",
			    res.err_type[0] ? res.err_type : "api_error",
			    res.err_msg[0] ? res.err_msg : "the Claude API call failed");
			rc = 1;
			break;
		}
		content = claude_msg_content(&cm);
		d = json_object_new_object();
		json_object_object_add(d, "stop_reason", json_object_new_string(
		    cm.stop_reason[0] ? cm.stop_reason : "end_turn"));
		u = json_object_new_object();
		json_object_object_add(u, "input_tokens", json_object_new_int64(cm.input_tokens));
		json_object_object_add(u, "output_tokens", json_object_new_int64(cm.output_tokens));
		json_object_object_add(u, "cache_creation_input_tokens",
		    json_object_new_int64(cm.cache_creation_tokens));
		json_object_object_add(u, "cache_read_input_tokens",
		    json_object_new_int64(cm.cache_read_tokens));
		json_object_object_add(d, "usage", u);
		sub_emit(&s, "message.stop", d);
		s.in += cm.input_tokens;
		s.out += cm.output_tokens;
		s.cw += cm.cache_creation_tokens;
		s.cr += cm.cache_read_tokens;
		s.cost += models_cost(s.mi, cm.input_tokens, cm.output_tokens,
		    cm.cache_creation_tokens, cm.cache_read_tokens);
		agent_account(s.rc, &cm, s.mi);
		buf_reset(&last);
		content_text(content, &last);
		if (last.len > 0) {
			step = json_object_new_object();
			json_object_object_add(step, "type", json_object_new_string("text"));
			json_object_object_add(step, "text", clipped(last.p, last.len,
			    STEP_TEXT_MAX));
			add_step(&s, step);
		}
		if (strcmp(cm.stop_reason, "tool_use") != 0 || !has_tool_use(content)) {
			if (last.len == 0)
				buf_puts(out, "(The sub-agent finished without a report.)");
			else
				buf_append(out, last.p, last.len);
			if (strcmp(cm.stop_reason, "max_tokens") == 0)
				buf_puts(out, "\n\n[The sub-agent's last message was cut "
				    "at the output limit.]");
			done = 1;
			json_object_put(content);
			claude_msg_free(&cm);
			break;
		}
		claude_msg_free(&cm);
		m = json_object_new_object();
		json_object_object_add(m, "role", json_object_new_string("assistant"));
		json_object_object_add(m, "content", content);
		json_object_array_add(messages, m);
		json_object_array_add(messages, run_calls(&s, &ct, content));
	}
	log_kv(LOG_INFO, "sub-agent ended", "s:session", ptc->sid,
	    "s:tool_use_id", s.parent_id, "i:turns", s.turn, NULL);
	/* For the task card: what it did, what it cost. */
	d = json_object_new_object();
	json_object_object_add(d, "description", json_object_new_string(desc));
	json_object_object_add(d, "subagent_type", json_object_new_string(
	    explore ? "explore" : "general-purpose"));
	json_object_object_add(d, "turns", json_object_new_int(s.turn));
	json_object_object_add(d, "steps", s.steps);
	if (s.steps_dropped > 0)
		json_object_object_add(d, "steps_dropped",
		    json_object_new_int(s.steps_dropped));
	u = json_object_new_object();
	json_object_object_add(u, "input_tokens", json_object_new_int64(s.in));
	json_object_object_add(u, "output_tokens", json_object_new_int64(s.out));
	json_object_object_add(u, "cache_creation_input_tokens", json_object_new_int64(s.cw));
	json_object_object_add(u, "cache_read_input_tokens", json_object_new_int64(s.cr));
	json_object_object_add(u, "cost_usd", json_object_new_double(s.cost));
	json_object_object_add(d, "usage", u);
	json_object_object_add(detail, "subagent", d);
	json_object_put(messages);
	child_tools_free(&ct);
	buf_free(&last);
	return rc;
}
