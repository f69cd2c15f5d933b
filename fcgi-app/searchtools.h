/*
 * searchtools: the glob and grep client tools (registry entries in
 * tools.c), close to Claude Code's Glob and Grep.
 *
 * Both run ripgrep (rg, Debian's ripgrep) INSIDE the session's sandbox
 * (sandbox_run: the same bwrap, rlimits, timeout and output cap as bash),
 * with the working directory /workspace. Every argument from the model is
 * passed as one single-quoted word (a quote inside becomes '\'' and a NUL
 * is refused), after `-e`/`--` where it could be taken for an option, so no
 * input can inject shell syntax or rg options. Results are relative to
 * /workspace and capped: glob lists at most SEARCH_GLOB_MAX paths, newest
 * first (by modification time); grep at most SEARCH_GREP_LINES lines (or
 * head_limit) and SEARCH_GREP_BYTES bytes; a note says what was left out.
 * Hidden files are searched; .git is not; .gitignore is honoured (rg's
 * default). Class read: allowed in every mode, plan included.
 */
#ifndef CW_SEARCHTOOLS_H
#define CW_SEARCHTOOLS_H

#include <stddef.h>

#include <json-c/json.h>

#include "buf.h"

#define SEARCH_GLOB_MAX		100
#define SEARCH_GREP_LINES	250
#define SEARCH_GREP_BYTES	(30 * 1024)
#define SEARCH_CONTEXT_MAX	50	/* -A/-B/-C */
#define SEARCH_UI_ITEMS		250	/* results kept in the tool.result event */

struct tool_ctx;
struct tool_def;

extern const char searchtools_glob_description[];
extern const char searchtools_glob_schema[];
extern const char searchtools_grep_description[];
extern const char searchtools_grep_schema[];

void	searchtools_summary(const struct tool_def *, json_object *input,
	    char *out, size_t cap);
int	searchtools_glob_run(struct tool_ctx *, const struct tool_def *,
	    json_object *input, struct buf *out, json_object *detail);
int	searchtools_grep_run(struct tool_ctx *, const struct tool_def *,
	    json_object *input, struct buf *out, json_object *detail);

/* Appends s to b as one single-quoted shell word; -1 when s holds a NUL. */
int	searchtools_shell_quote(struct buf *b, const char *s, size_t len);

#endif
