#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "pathsafe.h"
#include "sandbox.h"
#include "searchtools.h"
#include "sessions.h"
#include "tools.h"

const char searchtools_glob_description[] =
    "Fast file pattern matching in the session's project (/workspace).\n"
    "- Supports glob patterns like \"**/*.js\" or \"src/**/*.ts\"\n"
    "- Returns matching file paths relative to /workspace, most recently "
    "modified first (at most 100)\n"
    "- Use it to find files by name; use grep to search their contents\n"
    "- Files ignored by .gitignore and the .git directory are skipped";

const char searchtools_glob_schema[] =
    "{\"type\":\"object\",\"properties\":{"
    "\"pattern\":{\"type\":\"string\",\"description\":\"The glob pattern to "
    "match files against\"},"
    "\"path\":{\"type\":\"string\",\"description\":\"The directory to search "
    "in (under /workspace). Omit it to search the whole project.\"}},"
    "\"required\":[\"pattern\"],\"additionalProperties\":false}";

const char searchtools_grep_description[] =
    "A powerful search tool built on ripgrep, over the session's project "
    "(/workspace).\n"
    "- Supports full regex syntax (e.g. \"log.*Error\", \"function\\\\s+\\\\w+\")\n"
    "- Filter files with the glob parameter (e.g. \"*.js\", \"**/*.tsx\") or "
    "the type parameter (e.g. \"js\", \"py\", \"rust\")\n"
    "- Output modes: \"content\" shows matching lines, \"files_with_matches\" "
    "shows only file paths (default), \"count\" shows match counts\n"
    "- Pattern syntax is ripgrep's: literal braces need escaping "
    "(use `interface\\\\{\\\\}` to find `interface{}`)\n"
    "- Patterns match within single lines unless multiline is true\n"
    "- Results are relative to /workspace and capped (250 lines, 30 kB); "
    "use head_limit, path or glob to narrow them";

const char searchtools_grep_schema[] =
    "{\"type\":\"object\",\"properties\":{"
    "\"pattern\":{\"type\":\"string\",\"description\":\"The regular expression "
    "pattern to search for in file contents\"},"
    "\"path\":{\"type\":\"string\",\"description\":\"File or directory to "
    "search in (under /workspace). Defaults to the whole project.\"},"
    "\"glob\":{\"type\":\"string\",\"description\":\"Glob pattern to filter "
    "files (e.g. \\\"*.js\\\", \\\"*.{ts,tsx}\\\")\"},"
    "\"type\":{\"type\":\"string\",\"description\":\"File type to search "
    "(rg --type), e.g. js, py, rust, go, java\"},"
    "\"output_mode\":{\"type\":\"string\",\"enum\":[\"content\","
    "\"files_with_matches\",\"count\"],\"description\":\"Output mode: "
    "\\\"content\\\" shows matching lines (supports -A/-B/-C context, -n line "
    "numbers, head_limit), \\\"files_with_matches\\\" shows file paths "
    "(supports head_limit), \\\"count\\\" shows match counts (supports "
    "head_limit). Defaults to \\\"files_with_matches\\\".\"},"
    "\"-i\":{\"type\":\"boolean\",\"description\":\"Case insensitive search\"},"
    "\"-n\":{\"type\":\"boolean\",\"description\":\"Show line numbers in output "
    "(content mode). Defaults to true.\"},"
    "\"-A\":{\"type\":\"number\",\"description\":\"Number of lines to show "
    "after each match (content mode)\"},"
    "\"-B\":{\"type\":\"number\",\"description\":\"Number of lines to show "
    "before each match (content mode)\"},"
    "\"-C\":{\"type\":\"number\",\"description\":\"Number of lines to show "
    "before and after each match (content mode)\"},"
    "\"multiline\":{\"type\":\"boolean\",\"description\":\"Enable multiline "
    "mode where . matches newlines and patterns can span lines. Default: "
    "false.\"},"
    "\"head_limit\":{\"type\":\"number\",\"description\":\"Limit output to "
    "the first N lines/entries. At most 250.\"}},"
    "\"required\":[\"pattern\"],\"additionalProperties\":false}";

int
searchtools_shell_quote(struct buf *b, const char *s, size_t len)
{
	size_t	 i;

	if (memchr(s, '\0', len) != NULL)
		return -1;
	buf_putc(b, '\'');
	for (i = 0; i < len; i++) {
		if (s[i] == '\'')
			buf_puts(b, "'\\''");
		else
			buf_putc(b, s[i]);
	}
	buf_putc(b, '\'');
	return 0;
}

/* One argument word (with a leading space). */

/*
 * A line of ripgrep's output as a JSON string for the tool.result event:
 * file names and contents in the workspace need not be UTF-8 (the text
 * for Claude is cleaned by the caller of tools_run).
 */
static json_object *
clean_string(const char *line)
{
	struct buf	 b;
	json_object	*o;
	size_t		 n = strlen(line);

	buf_init(&b, n * 3 + 16);
	buf_utf8_clean(&b, line, n);
	o = json_object_new_string_len(b.p ? b.p : "", (int)b.len);
	buf_free(&b);
	return o;
}
static int
word(struct buf *cmd, const char *s)
{
	buf_putc(cmd, ' ');
	return searchtools_shell_quote(cmd, s, strlen(s));
}

/* A string parameter; *bad = 1 when present but not a string or with a NUL. */
static const char *
sparam(json_object *in, const char *k, int *bad)
{
	json_object	*v;

	if (in == NULL || !json_object_object_get_ex(in, k, &v) || v == NULL)
		return NULL;
	if (!json_object_is_type(v, json_type_string) ||
	    strlen(json_object_get_string(v)) !=
	    (size_t)json_object_get_string_len(v)) {
		*bad = 1;
		return NULL;
	}
	return json_object_get_string(v);
}

static int
bparam(json_object *in, const char *k, int dflt)
{
	json_object	*v;

	if (in == NULL || !json_object_object_get_ex(in, k, &v) || v == NULL)
		return dflt;
	return json_object_get_boolean(v);
}

/* An integer parameter in [0, max]; -1 when absent. */
static long
iparam(json_object *in, const char *k, long max)
{
	json_object	*v;
	long		 n;

	if (in == NULL || !json_object_object_get_ex(in, k, &v) || v == NULL)
		return -1;
	n = (long)json_object_get_int64(v);
	if (n < 0)
		n = 0;
	return n > max ? max : n;
}

/*
 * The search path relative to /workspace ("" the root); -1 (out written)
 * when it leads outside.
 */
static int
search_path(const char *p, char *rel, size_t cap, struct buf *out)
{
	const char	*q = p;

	rel[0] = '\0';
	if (p == NULL || *p == '\0')
		return 0;
	if (strncmp(p, "/workspace", 10) == 0 && (p[10] == '\0' || p[10] == '/'))
		q = p + 10;
	else if (p[0] == '/') {
		buf_printf(out, "Error: the path %.300s is outside the project; give "
		    "a path under /workspace (or relative to it).", p);
		return -1;
	}
	if (ps_relative(q, rel, cap) == -1) {
		buf_printf(out, "Error: the path %.300s is not usable: it must stay "
		    "under /workspace (no \"..\" that climbs out).", p);
		return -1;
	}
	return 0;
}

/* rg's common options: no config file, hidden files, never .git. */
static void
common_args(struct buf *cmd)
{
	buf_puts(cmd, "rg --no-config --color=never --hidden --no-messages "
	    "--glob '!.git'");
}

/*
 * rg's --sort works per directory; the newest files first overall means
 * stat-ing the list (rg --null; inside the sandbox too): "<mtime>\t<path>" lines,
 * newest first, then by name. rg's exit status survives (pipefail); a file
 * that vanished meanwhile is skipped.
 */
static const char by_mtime[] =
    " | (xargs -0 -r stat --printf '%.9Y\\t%n\\n' -- 2>/dev/null; exit 0)"
    " | sort -t \"$(printf '\\t')\" -k1,1rn -k2,2";

/* Drops the "<mtime>\t" of each line (by_mtime). */
static void
strip_mtimes(char **lines, size_t n)
{
	char	*t;
	size_t	 i;

	for (i = 0; i < n; i++)
		if ((t = strchr(lines[i], '\t')) != NULL)
			lines[i] = t + 1;
}

/* Runs cmd in the session's sandbox; 0, or 1 with out written. */
static int
run_rg(struct tool_ctx *tc, const char *cmd, struct sandbox_result *res,
    struct buf *out)
{
	char	 files[PATH_MAX];

	if (sessions_path(tc->cfg, tc->sid, "files", files, sizeof(files)) == -1) {
		buf_puts(out, "Error: the session workspace is unavailable.");
		return 1;
	}
	sandbox_run(tc->cfg, files, "/workspace", cmd, tc->should_abort, tc->arg,
	    res);
	if (res->failed) {
		buf_printf(out, "Error: %s", res->errmsg);
		return 1;
	}
	if (res->timed_out) {
		buf_printf(out, "Error: the search timed out after %lld seconds; "
		    "narrow it with path or glob.", tc->cfg->sandbox_timeout);
		return 1;
	}
	if (res->cancelled) {
		buf_puts(out, "The search was stopped because the run was cancelled.");
		return 1;
	}
	/* 0 matches, 1 none; 127: rg is not installed in the image. */
	if (res->exit_code == 127) {
		buf_puts(out, "Error: ripgrep (rg) is not installed on the server; "
		    "use bash (find, grep) instead.");
		return 1;
	}
	if (res->exit_code != 0 && res->exit_code != 1) {
		buf_puts(out, "Error: ");
		if (res->err.len > 0)
			buf_append(out, res->err.p, res->err.len);
		else
			buf_printf(out, "rg exited with code %d", res->exit_code);
		return 1;
	}
	return 0;
}

/* The lines of b (bounded by max), each NUL-terminated in place. */
static size_t
split_lines(struct buf *b, char **lines, size_t max, size_t *total)
{
	char	*p = b->p, *e, *end;
	size_t	 n = 0;

	*total = 0;
	if (p == NULL)		/* no output at all */
		return 0;
	end = p + b->len;
	while (p != NULL && p < end) {
		e = memchr(p, '\n', (size_t)(end - p));
		if (e != NULL)
			*e = '\0';
		if (*p != '\0') {
			if (n < max)
				lines[n++] = p;
			(*total)++;
		}
		p = e != NULL ? e + 1 : NULL;
	}
	return n;
}

static void
set_summary_fields(json_object *detail, const char *pattern, const char *path,
    const char *mode)
{
	json_object_object_add(detail, "pattern", json_object_new_string(pattern));
	json_object_object_add(detail, "path", json_object_new_string(
	    path != NULL && *path ? path : "/workspace"));
	if (mode != NULL)
		json_object_object_add(detail, "mode", json_object_new_string(mode));
}

void
searchtools_summary(const struct tool_def *def, json_object *input, char *out,
    size_t cap)
{
	const char	*pat = tools_jstr(input, "pattern"), *path =
			    tools_jstr(input, "path");

	snprintf(out, cap, "%s %.200s%s%.200s", strcmp(def->name, "glob") == 0 ?
	    "Find files matching" : "Search for", pat ? pat : "?",
	    path ? " in " : "", path ? path : "");
}

int
searchtools_glob_run(struct tool_ctx *tc, const struct tool_def *def,
    json_object *input, struct buf *out, json_object *detail)
{
	struct sandbox_result	 res;
	struct buf		 cmd;
	const char		*pattern, *path;
	char			 rel[PS_PATH_MAX];
	char			*lines[SEARCH_GLOB_MAX];
	json_object		*arr;
	size_t			 n, total, i;
	int			 bad = 0, rc;

	(void)def;
	pattern = sparam(input, "pattern", &bad);
	path = sparam(input, "path", &bad);
	if (bad || pattern == NULL || *pattern == '\0') {
		buf_puts(out, "Error: glob needs `pattern` (a string, e.g. "
		    "\"**/*.c\") and optionally `path` (a string).");
		return 1;
	}
	if (search_path(path, rel, sizeof(rel), out) == -1)
		return 1;
	set_summary_fields(detail, pattern, path, NULL);
	buf_init(&cmd, 64 * 1024);
	buf_puts(&cmd, "set -o pipefail; ");
	common_args(&cmd);
	/* Newest first, like Claude Code's Glob. */
	buf_puts(&cmd, " --files --null --glob");
	rc = word(&cmd, pattern);
	if (rel[0]) {
		buf_puts(&cmd, " --");
		rc |= word(&cmd, rel);
	}
	buf_puts(&cmd, by_mtime);
	if (rc != 0) {
		buf_free(&cmd);
		buf_puts(out, "Error: a parameter contains a NUL character.");
		return 1;
	}
	sandbox_result_init(&res, (size_t)tc->cfg->sandbox_output_limit);
	rc = run_rg(tc, cmd.p, &res, out);
	buf_free(&cmd);
	if (rc != 0) {
		sandbox_result_free(&res);
		return 1;
	}
	n = split_lines(&res.out, lines, SEARCH_GLOB_MAX, &total);
	strip_mtimes(lines, n);
	arr = json_object_new_array();
	if (n == 0)
		buf_puts(out, "No files found");
	for (i = 0; i < n; i++) {
		buf_printf(out, "%s%s", i ? "\n" : "", lines[i]);
		json_object_array_add(arr, clean_string(lines[i]));
	}
	if (total > n || res.out_dropped > 0)
		buf_printf(out, "\n(Results are truncated: showing the %zu most "
		    "recently modified of %s%zu files. Use a more specific path or "
		    "pattern.)", n, res.out_dropped > 0 ? "more than " : "", total);
	json_object_object_add(detail, "results", arr);
	json_object_object_add(detail, "total", json_object_new_int64((int64_t)total));
	json_object_object_add(detail, "truncated", json_object_new_boolean(
	    total > n || res.out_dropped > 0));
	sandbox_result_free(&res);
	return 0;
}

/* A file type name for rg --type: letters, digits, _ + - only. */
static int
type_ok(const char *t)
{
	size_t	 i, n = strlen(t);

	if (n == 0 || n > 32)
		return 0;
	for (i = 0; i < n; i++)
		if (!((t[i] >= 'a' && t[i] <= 'z') || (t[i] >= 'A' && t[i] <= 'Z') ||
		    (t[i] >= '0' && t[i] <= '9') || strchr("_+-", t[i]) != NULL))
			return 0;
	return 1;
}

int
searchtools_grep_run(struct tool_ctx *tc, const struct tool_def *def,
    json_object *input, struct buf *out, json_object *detail)
{
	struct sandbox_result	 res;
	struct buf		 cmd;
	const char		*pattern, *path, *glob, *type, *mode;
	char			 rel[PS_PATH_MAX], num[32];
	char			**lines;
	json_object		*arr;
	size_t			 n, total, i, limit = SEARCH_GREP_LINES, shown;
	long			 a, b, c, hl;
	int			 bad = 0, rc, files_mode, count_mode, bytes_cut = 0;

	(void)def;
	pattern = sparam(input, "pattern", &bad);
	path = sparam(input, "path", &bad);
	glob = sparam(input, "glob", &bad);
	type = sparam(input, "type", &bad);
	mode = sparam(input, "output_mode", &bad);
	if (bad || pattern == NULL || *pattern == '\0') {
		buf_puts(out, "Error: grep needs `pattern` (a string); path, glob, "
		    "type and output_mode must be strings too.");
		return 1;
	}
	if (mode == NULL)
		mode = "files_with_matches";
	files_mode = strcmp(mode, "files_with_matches") == 0;
	count_mode = strcmp(mode, "count") == 0;
	if (!files_mode && !count_mode && strcmp(mode, "content") != 0) {
		buf_printf(out, "Error: output_mode must be \"content\", "
		    "\"files_with_matches\" or \"count\", not \"%.100s\".", mode);
		return 1;
	}
	if (type != NULL && !type_ok(type)) {
		buf_printf(out, "Error: type \"%.100s\" is not a file type name "
		    "(e.g. js, py, rust).", type);
		return 1;
	}
	if (search_path(path, rel, sizeof(rel), out) == -1)
		return 1;
	if ((hl = iparam(input, "head_limit", SEARCH_GREP_LINES)) > 0)
		limit = (size_t)hl;
	set_summary_fields(detail, pattern, path, mode);
	buf_init(&cmd, 64 * 1024);
	buf_puts(&cmd, "set -o pipefail; ");
	common_args(&cmd);
	buf_puts(&cmd, " --max-columns=500 --max-columns-preview");
	if (files_mode)
		buf_puts(&cmd, " --files-with-matches --null");
	else if (count_mode)
		buf_puts(&cmd, " --count --sort=path");
	else {
		buf_puts(&cmd, " --no-heading --with-filename --sort=path");
		if (bparam(input, "-n", 1))
			buf_puts(&cmd, " --line-number");
		a = iparam(input, "-A", SEARCH_CONTEXT_MAX);
		b = iparam(input, "-B", SEARCH_CONTEXT_MAX);
		c = iparam(input, "-C", SEARCH_CONTEXT_MAX);
		if (c >= 0) {
			snprintf(num, sizeof(num), " -C %ld", c);
			buf_puts(&cmd, num);
		}
		if (a >= 0) {
			snprintf(num, sizeof(num), " -A %ld", a);
			buf_puts(&cmd, num);
		}
		if (b >= 0) {
			snprintf(num, sizeof(num), " -B %ld", b);
			buf_puts(&cmd, num);
		}
	}
	if (bparam(input, "-i", 0))
		buf_puts(&cmd, " --ignore-case");
	if (bparam(input, "multiline", 0))
		buf_puts(&cmd, " --multiline --multiline-dotall");
	rc = 0;
	if (glob != NULL && *glob != '\0') {
		buf_puts(&cmd, " --glob");
		rc |= word(&cmd, glob);
	}
	if (type != NULL) {
		buf_puts(&cmd, " --type");
		rc |= word(&cmd, type);
	}
	buf_puts(&cmd, " -e");
	rc |= word(&cmd, pattern);
	if (rel[0]) {
		buf_puts(&cmd, " --");
		rc |= word(&cmd, rel);
	}
	if (files_mode)
		buf_puts(&cmd, by_mtime);
	if (rc != 0) {
		buf_free(&cmd);
		buf_puts(out, "Error: a parameter contains a NUL character.");
		return 1;
	}
	sandbox_result_init(&res, (size_t)tc->cfg->sandbox_output_limit);
	rc = run_rg(tc, cmd.p, &res, out);
	buf_free(&cmd);
	if (rc != 0) {
		sandbox_result_free(&res);
		return 1;
	}
	lines = calloc(limit, sizeof(*lines));
	n = lines != NULL ? split_lines(&res.out, lines, limit, &total) : 0;
	if (files_mode)
		strip_mtimes(lines, n);
	arr = json_object_new_array();
	if (n == 0)
		buf_puts(out, files_mode ? "No files found" : "No matches found");
	else if (files_mode)
		buf_printf(out, "Found %zu file%s\n", total, total == 1 ? "" : "s");
	for (i = shown = 0; i < n; i++, shown++) {
		if (out->len + strlen(lines[i]) + 1 > SEARCH_GREP_BYTES) {
			bytes_cut = 1;
			break;
		}
		buf_printf(out, "%s%s", i ? "\n" : "", lines[i]);
		if (i < SEARCH_UI_ITEMS)
			json_object_array_add(arr, clean_string(lines[i]));
	}
	if (shown < total || res.out_dropped > 0)
		buf_printf(out, "\n(Results are truncated: showing %zu of %s%zu %s%s. "
		    "Narrow the search with path, glob or type, or a more specific "
		    "pattern.)", shown, res.out_dropped > 0 ? "more than " : "", total,
		    files_mode ? "files" : "lines", bytes_cut ? " (30 kB)" : "");
	json_object_object_add(detail, "results", arr);
	json_object_object_add(detail, "total", json_object_new_int64((int64_t)total));
	json_object_object_add(detail, "truncated", json_object_new_boolean(
	    shown < total || res.out_dropped > 0));
	free(lines);
	sandbox_result_free(&res);
	return 0;
}
