/*
 * tools: the tool registry, the tools declared to Claude and their
 * execution.
 *
 * One table (tools.c: tools_table, in the style of router.c's route table)
 * holds one entry per tool: its name, the Anthropic tool type or the JSON
 * schema of a custom tool, its permission class, how a call is summarised
 * on the approval card, which key a remembered grant uses, its executor
 * and the UI card that shows it. Adding a tool is one entry plus its
 * executor.
 *
 * A run works with a toolset: the table's default entries, filtered and
 * extended per session (network policy, MCP servers, a sub-agent's
 * subset). Declarations are built from the set in a fixed order (table
 * order, then the other entries by name), byte-stable across turns for
 * prompt caching; the Anthropic-defined types Claude is trained on
 * (text_editor_20250728, bash_20250124) are declared exactly as before.
 * A tool_use whose name is not in the set fails closed: an error
 * tool_result, nothing runs.
 *
 * Every successful edit is recorded in .claude/edits/ (so the person can
 * revert Claude's last edit to a file) and announced as file.changed.
 */
#ifndef CW_TOOLS_H
#define CW_TOOLS_H

#include <stddef.h>

#include <json-c/json.h>

#include "buf.h"

struct config;
struct store;
struct toolset;

/*
 * Permission classes (perm_policy decides per mode):
 *   TC_READ      never asks; allowed in every mode, plan included.
 *   TC_EDIT      asks in default; allowed in acceptEdits and
 *                bypassPermissions; denied in plan.
 *   TC_EXEC      asks unless bypassPermissions; plan asks too (plan mode
 *                forbids changing things, not looking: `ls` is fine).
 *   TC_INTERNAL  never asks (todo_write; exit_plan_mode shows its own
 *                card; task: the child's calls ask).
 *   TC_NETWORK   MCP and other remote calls: asks like TC_EXEC.
 */
enum tool_class { TC_READ, TC_EDIT, TC_EXEC, TC_INTERNAL, TC_NETWORK };

/* tool_def.flags */
#define TOOL_SERVER	0x1	/* executed by Anthropic (no executor; web_search...) */
#define TOOL_DYNAMIC	0x2	/* not from the table (MCP); data points at its owner */
#define TOOL_DEFAULT	0x4	/* in every run's set (tools_set_new_default) */

struct tool_ctx {
	const struct config	*cfg;
	struct store		*store;
	const char		*sid;
	const char		*run_id;
	const char		*tool_use_id;
	const struct toolset	*set;		/* the run's tools */
	int			(*should_abort)(void *);
	void			*arg;		/* the run (struct run_ctx *) */
	/* Emits an event (data consumed). */
	void			(*emit)(void *, const char *type, json_object *data);
	/*
	 * Set by an executor (a new reference, a JSON array of content blocks
	 * such as an image block): the tool_result's content is that array
	 * instead of the text in out (out still goes to the tool.result
	 * event). The caller releases it.
	 */
	json_object		*content;
};

struct tool_def {
	const char	*name;		/* the name Claude calls */
	const char	*anthropic_type; /* "bash_20250124", ... or NULL: custom tool */
	const char	*description;	/* custom tools */
	const char	*input_schema;	/* custom tools: JSON text */
	/*
	 * Anthropic-typed tools: JSON object text whose members follow type
	 * and name in the declaration (e.g. {"max_characters":16000}); NULL
	 * for none.
	 */
	const char	*decl_extra;
	unsigned	 flags;		/* TOOL_* */
	const char	*card;		/* UI card: "bash","editor","search","todo",
					   "task","web","mcp","plan","generic" */
	/* The class of one call; NULL: default_class. */
	enum tool_class	(*classify)(const struct tool_def *, json_object *input);
	enum tool_class	 default_class;
	/* One line for the approval card; NULL: "Use <name>: <input>". */
	void		(*summary)(const struct tool_def *, json_object *input,
			    char *out, size_t cap);
	/* The remembered-grant key; NULL: "tool:<name>". */
	void		(*grant_key)(const struct tool_def *, json_object *input,
			    char *out, size_t cap);
	/*
	 * May a remembered grant cover this call at all? NULL: yes. (bash:
	 * only commands made of literal words, perm_literal_command.)
	 */
	int		(*grantable)(const struct tool_def *, json_object *input);
	/*
	 * Runs the call: the tool_result text goes to out, extra fields for
	 * the tool.result event (exit code, duration, ...) into detail (an
	 * object the caller owns). Returns 1 when the result is an error.
	 * NULL for TOOL_SERVER tools.
	 */
	int		(*run)(struct tool_ctx *, const struct tool_def *,
			    json_object *input, struct buf *out, json_object *detail);
	void		*data;		/* dynamic tools: e.g. the MCP server */
};

/* The static table, in declaration order. */
extern const struct tool_def tools_table[];
extern const size_t tools_table_len;
/* The table's entry named name, or NULL. */
const struct tool_def *tools_find_static(const char *name);

/* The set: entries are borrowed (a static entry, or one the set owns). */
struct toolset *tools_set_new(void);
/* A new set with every TOOL_DEFAULT entry of the table. */
struct toolset *tools_set_new_default(void);
/* Adds def (replacing an entry of the same name). 0, or -1 (full). */
int	tools_set_add(struct toolset *, const struct tool_def *def);
/* Removes the entry named name (a sub-agent's subset); 1 removed, 0 absent. */
int	tools_set_remove(struct toolset *, const char *name);
/*
 * Gives the set something to free with it (a dynamic def, its strings):
 * fn(p) runs in tools_set_free, in reverse order of registration.
 */
int	tools_set_own(struct toolset *, void *p, void (*fn)(void *));
const struct tool_def *tools_set_find(const struct toolset *, const char *name);
size_t	tools_set_len(const struct toolset *);
const struct tool_def *tools_set_at(const struct toolset *, size_t i);
/* The declarations (new reference): table order, then the others by name. */
json_object *tools_set_declarations(const struct toolset *);
void	tools_set_free(struct toolset *);

/* Per call, through the entry's hooks (defaults when the hook is NULL). */
enum tool_class tools_class(const struct tool_def *, json_object *input);
const char *tools_class_name(enum tool_class);
void	tools_summary(const struct tool_def *, json_object *input, char *out,
	    size_t cap);
/* The key a "remember" answer stores for this call. */
void	tools_grant_key(const struct tool_def *, json_object *input, char *out,
	    size_t cap);
/* 1 when a remembered grant may cover this call (tool_def.grantable). */
int	tools_grantable(const struct tool_def *, json_object *input);
const char *tools_card(const struct tool_def *);

/*
 * Runs one call of def (which must have an executor; TOOL_SERVER tools
 * have none): see tool_def.run. tc->content may be set on return.
 */
int	tools_run(struct tool_ctx *, const struct tool_def *def, json_object *input,
	    struct buf *out, json_object *detail);

/* Helpers for executors (searchtools.c, ...). */
void	tools_emit_changed(struct tool_ctx *, const char *path, const char *tool);
const char *tools_jstr(json_object *o, const char *k);

/* Edit history (used by the files API). */
/* Reverts the last recorded edit of rel; 0 done, 1 nothing to revert, -1 error. */
int	tools_revert_last_edit(const struct config *, const char *sid,
	    const char *rel, char *err, size_t errcap);
/* The edit log as a JSON array (new reference), newest last. */
json_object *tools_edit_log(const struct config *, const char *sid);

#endif
