#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "editor.h"
#include "fsutil.h"
#include "jsonio.h"
#include "log.h"
#include "pathsafe.h"
#include "plantool.h"
#include "perm.h"
#include "quota.h"
#include "sandbox.h"
#include "searchtools.h"
#include "sessions.h"
#include "subagent.h"
#include "todo.h"
#include "tools.h"

#define EDITS_MAX_LOG	(4 * 1024 * 1024)

static int
edits_dir(const struct config *cfg, const char *sid, char *out, size_t cap)
{
	if (sessions_path(cfg, sid, ".claude/edits", out, cap) == -1)
		return -1;
	/* Only the last component: never recreate a deleted session's tree. */
	return mkdir(out, 0750) == -1 && errno != EEXIST ? -1 : 0;
}

/* Appends one line to the edit index (O_APPEND, one write). */
static int
edits_append(const char *dir, json_object *rec)
{
	char		 path[PATH_MAX];
	const char	*s;
	struct buf	 line;
	int		 fd, rc = -1;

	snprintf(path, sizeof(path), "%s/index.jsonl", dir);
	s = json_object_to_json_string_ext(rec, JSON_C_TO_STRING_PLAIN);
	buf_init(&line, strlen(s) + 2);
	buf_puts(&line, s);
	buf_putc(&line, '\n');
	if ((fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640)) != -1) {
		rc = write(fd, line.p, line.len) == (ssize_t)line.len ? 0 : -1;
		fsync(fd);
		close(fd);
	}
	buf_free(&line);
	return rc;
}

static void
record_edit(const struct config *cfg, const char *sid, const char *tool_use_id,
    const struct editor_change *chg)
{
	char		 dir[PATH_MAX], path[PATH_MAX + 64];
	struct timeval	 tv;
	long long	 seq;
	json_object	*rec;

	if (edits_dir(cfg, sid, dir, sizeof(dir)) == -1)
		return;
	gettimeofday(&tv, NULL);
	seq = (long long)tv.tv_sec * 1000000 + tv.tv_usec;
	if (!chg->created) {
		snprintf(path, sizeof(path), "%s/%lld.before", dir, seq);
		if (fsutil_write_atomic(path, chg->before.p ? chg->before.p : "",
		    chg->before.len) == -1)
			return;
	}
	rec = json_object_new_object();
	json_object_object_add(rec, "seq", json_object_new_int64(seq));
	json_object_object_add(rec, "path", json_object_new_string(chg->path));
	json_object_object_add(rec, "rel", json_object_new_string(chg->rel));
	json_object_object_add(rec, "created", json_object_new_boolean(chg->created));
	json_object_object_add(rec, "ts", json_object_new_int64(tv.tv_sec));
	json_object_object_add(rec, "tool_use_id",
	    json_object_new_string(tool_use_id ? tool_use_id : ""));
	edits_append(dir, rec);
	json_object_put(rec);
}

json_object *
tools_edit_log(const struct config *cfg, const char *sid)
{
	char		 path[PATH_MAX];
	json_object	*arr = json_object_new_array(), *o;
	FILE		*fp;
	char		*line = NULL;
	size_t		 cap = 0;

	if (sessions_path(cfg, sid, ".claude/edits/index.jsonl", path,
	    sizeof(path)) == -1 || (fp = fopen(path, "re")) == NULL)
		return arr;
	while (getline(&line, &cap, fp) != -1)
		if ((o = json_tokener_parse(line)) != NULL)
			json_object_array_add(arr, o);
	free(line);
	fclose(fp);
	return arr;
}

static long long
jint(json_object *o, const char *k)
{
	json_object	*v;

	return json_object_object_get_ex(o, k, &v) ? json_object_get_int64(v) : 0;
}

static const char *
jstr(json_object *o, const char *k)
{
	json_object	*v;

	return json_object_object_get_ex(o, k, &v) && json_object_is_type(v,
	    json_type_string) ? json_object_get_string(v) : NULL;
}

int
tools_revert_last_edit(const struct config *cfg, const char *sid,
    const char *rel, char *err, size_t errcap)
{
	json_object	*log = tools_edit_log(cfg, sid), *e, *rec, *cr;
	char		 dir[PATH_MAX], files[PATH_MAX], bpath[PATH_MAX + 64];
	struct buf	 before;
	long long	 seq = 0;
	size_t		 i, n = json_object_array_length(log);
	int		 root, created = 0, rc = -1;
	long long	 reverted;

	/* Newest edit of rel that was not itself reverted. */
	for (i = n; i > 0; i--) {
		e = json_object_array_get_idx(log, i - 1);
		if (jstr(e, "rel") == NULL || strcmp(jstr(e, "rel"), rel) != 0)
			continue;
		reverted = 0;
		{
			size_t j;

			for (j = i; j < n; j++)
				if (jint(json_object_array_get_idx(log, j), "reverts") ==
				    jint(e, "seq"))
					reverted = 1;
		}
		if (jint(e, "reverts") != 0 || reverted)
			continue;
		seq = jint(e, "seq");
		created = json_object_object_get_ex(e, "created", &cr) &&
		    json_object_get_boolean(cr);
		break;
	}
	json_object_put(log);
	if (seq == 0)
		return 1;
	if (sessions_path(cfg, sid, "files", files, sizeof(files)) == -1 ||
	    edits_dir(cfg, sid, dir, sizeof(dir)) == -1 ||
	    (root = ps_open_root(files)) == -1) {
		snprintf(err, errcap, "session workspace unavailable");
		return -1;
	}
	buf_init(&before, 1LL << 30);
	if (created) {
		if (ps_unlink(root, rel) == -1 && errno != ENOENT)
			snprintf(err, errcap, "cannot remove %s: %s", rel, strerror(errno));
		else
			rc = 0;
	} else {
		int fd;
		char chunk[65536];
		ssize_t k;

		snprintf(bpath, sizeof(bpath), "%s/%lld.before", dir, seq);
		if ((fd = open(bpath, O_RDONLY | O_CLOEXEC)) == -1)
			snprintf(err, errcap, "the saved copy is missing");
		else {
			while ((k = read(fd, chunk, sizeof(chunk))) > 0)
				buf_append(&before, chunk, (size_t)k);
			close(fd);
			if (ps_write_file(root, rel, before.p ? before.p : "",
			    before.len, 0) == -1)
				snprintf(err, errcap, "cannot write %s: %s", rel,
				    strerror(errno));
			else
				rc = 0;
		}
	}
	close(root);
	buf_free(&before);
	if (rc == 0) {
		rec = json_object_new_object();
		json_object_object_add(rec, "reverts", json_object_new_int64(seq));
		json_object_object_add(rec, "rel", json_object_new_string(rel));
		json_object_object_add(rec, "ts", json_object_new_int64(time(NULL)));
		edits_append(dir, rec);
		json_object_put(rec);
	}
	return rc;
}

void
tools_emit_changed(struct tool_ctx *tc, const char *path, const char *tool)
{
	json_object	*d;

	if (tc->emit == NULL)
		return;
	d = json_object_new_object();
	json_object_object_add(d, "path", path ? json_object_new_string(path) : NULL);
	json_object_object_add(d, "tool", json_object_new_string(tool));
	tc->emit(tc->arg, "file.changed", d);
}

static int
run_editor(struct tool_ctx *tc, const struct tool_def *def, json_object *input,
    struct buf *out, json_object *detail)
{
	struct editor_change	 chg;
	char			 files[PATH_MAX];
	int			 root, err;

	(void)def;
	if (sessions_path(tc->cfg, tc->sid, "files", files, sizeof(files)) == -1 ||
	    (root = ps_open_root(files)) == -1) {
		buf_printf(out, "Error: the session workspace is unavailable.");
		return 1;
	}
	/* SESSION_DISK_QUOTA_MB: what an edit may add must fit (an upper bound). */
	{
		static const char *const grow_fields[] = { "file_text", "new_str" };
		json_object	*v;
		long long	 add = 0;
		char		 qmsg[512];
		size_t		 i;

		for (i = 0; i < sizeof(grow_fields) / sizeof(grow_fields[0]); i++)
			if (input != NULL && json_object_object_get_ex(input,
			    grow_fields[i], &v) && json_object_is_type(v,
			    json_type_string))
				add += json_object_get_string_len(v);
		if (add > 0 && quota_check_write(tc->cfg, tc->sid, add, qmsg,
		    sizeof(qmsg)) == 1) {
			close(root);
			buf_printf(out, "Error: %s. Delete files in /workspace to "
			    "make room.", qmsg);
			return 1;
		}
	}
	editor_change_init(&chg);
	err = editor_run(root, (size_t)tc->cfg->max_file_size, input, out, &chg);
	close(root);
	if (!err && chg.content != NULL)	/* an image: the block goes to Claude */
		tc->content = json_object_get(chg.content);
	if (!err && chg.changed) {
		record_edit(tc->cfg, tc->sid, tc->tool_use_id, &chg);
		json_object_object_add(detail, "path", json_object_new_string(chg.path));
		tools_emit_changed(tc, chg.path, "str_replace_based_edit_tool");
	}
	editor_change_free(&chg);
	return err;
}

static void
cwd_file(struct tool_ctx *tc, char *out, size_t cap)
{
	if (sessions_path(tc->cfg, tc->sid, ".claude/bash_cwd", out, cap) == -1)
		out[0] = '\0';
}

/* Strips one trailing newline, like the reference tool. */
static void
chomp(struct buf *b)
{
	if (b->len > 0 && b->p[b->len - 1] == '\n')
		b->p[--b->len] = '\0';
}

static int
run_bash(struct tool_ctx *tc, const struct tool_def *def, json_object *input,
    struct buf *out, json_object *detail)
{
	struct sandbox_result	 res;
	json_object		*v;
	const char		*cmd;
	char			 files[PATH_MAX], cf[PATH_MAX], cwd[4096] = "/workspace";
	int			 fd, restart = 0, rc;
	ssize_t			 n;

	(void)def;
	if (json_object_object_get_ex(input, "restart", &v) &&
	    json_object_get_boolean(v))
		restart = 1;
	cwd_file(tc, cf, sizeof(cf));
	if (restart) {
		unlink(cf);
		buf_puts(out, "tool has been restarted.");
		return 0;
	}
	if ((cmd = jstr(input, "command")) == NULL || *cmd == '\0') {
		buf_puts(out, "no command provided.");
		return 1;
	}
	if ((fd = open(cf, O_RDONLY | O_CLOEXEC)) != -1) {
		n = read(fd, cwd, sizeof(cwd) - 1);
		cwd[n > 0 ? n : 0] = '\0';
		close(fd);
		if (cwd[0] != '/')
			snprintf(cwd, sizeof(cwd), "/workspace");
	}
	if (sessions_path(tc->cfg, tc->sid, "files", files, sizeof(files)) == -1) {
		buf_puts(out, "Error: the session workspace is unavailable.");
		return 1;
	}
	sandbox_result_init(&res, (size_t)tc->cfg->sandbox_output_limit);
	sandbox_run(tc->cfg, files, cwd, cmd, tc->should_abort, tc->arg, &res);
	if (res.failed) {
		buf_printf(out, "Error: %s", res.errmsg);
		sandbox_result_free(&res);
		return 1;
	}
	if (res.cwd[0] == '/' && strcmp(res.cwd, cwd) != 0)
		fsutil_write_atomic(cf, res.cwd, strlen(res.cwd));
	chomp(&res.out);
	chomp(&res.err);
	if (res.out.len > 0)
		buf_append(out, res.out.p, res.out.len);
	if (res.out_dropped > 0)
		buf_printf(out, "\n[output truncated: %zu more bytes of stdout were "
		    "dropped]", res.out_dropped);
	if (res.err.len > 0) {
		if (out->len > 0)
			buf_putc(out, '\n');
		buf_append(out, res.err.p, res.err.len);
	}
	if (res.err_dropped > 0)
		buf_printf(out, "\n[output truncated: %zu more bytes of stderr were "
		    "dropped]", res.err_dropped);
	rc = 0;
	if (res.timed_out) {
		buf_printf(out, "%sError: the command timed out after %lld seconds and "
		    "was killed, together with every process it started.",
		    out->len ? "\n" : "", tc->cfg->sandbox_timeout);
		rc = 1;
	} else if (res.cancelled) {
		buf_printf(out, "%sThe command was stopped because the run was "
		    "cancelled.", out->len ? "\n" : "");
		rc = 1;
	} else if (res.errmsg[0]) {
		buf_printf(out, "%sError: %s", out->len ? "\n" : "", res.errmsg);
		rc = 1;
	} else if (res.exit_code != 0)
		buf_printf(out, "%sExit code: %d", out->len ? "\n" : "", res.exit_code);
	if (res.oom_killed) {
		char	 lim[32];

		quota_human(tc->cfg->sandbox_memory_max_mb << 20, lim, sizeof(lim));
		buf_printf(out, "%sError: the command ran out of memory: a process was "
		    "killed at the sandbox's memory limit of %s (SANDBOX_MEMORY_MAX_MB).",
		    out->len ? "\n" : "", lim);
		rc = 1;
	}
	if (res.quota_exceeded) {
		struct quota_usage	 u;
		char			 msg[320];

		memset(&u, 0, sizeof(u));
		u.bytes = res.disk_used;
		u.truncated = res.disk_truncated;
		quota_describe(tc->cfg, &u, msg, sizeof(msg));
		buf_printf(out, "%sError: %s%s. Delete files in /workspace to get under "
		    "the quota (SESSION_DISK_QUOTA_MB); until then new messages and "
		    "uploads are refused and commands can only delete or write small "
		    "files.", out->len ? "\n" : "", msg, res.quota_exceeded == 2 ?
		    "; the command was stopped" : "");
		rc = 1;
	}
	if (res.disk_room > 0 && !res.quota_exceeded && (res.exit_code == 153 ||
	    (res.err.p != NULL && strstr(res.err.p, "File size limit") != NULL))) {
		char	 room[32], lim[32];

		quota_human(res.disk_room, room, sizeof(room));
		quota_human(res.disk_quota, lim, sizeof(lim));
		buf_printf(out, "%sNote: files could grow by at most %s in this "
		    "command: that is what the session's disk quota of %s "
		    "(SESSION_DISK_QUOTA_MB) had left.", out->len ? "\n" : "",
		    room, lim);
		rc = 1;
	}
	if (res.suid_stripped > 0)
		buf_printf(out, "%sNote: the setuid/setgid bits of %lld file(s) in "
		    "/workspace were removed (not allowed there).", out->len ? "\n" : "",
		    res.suid_stripped);
	{
		struct buf	 o, e;

		buf_init(&o, res.out.len * 3 + 16);
		buf_init(&e, res.err.len * 3 + 16);
		buf_utf8_clean(&o, res.out.p ? res.out.p : "", res.out.len);
		buf_utf8_clean(&e, res.err.p ? res.err.p : "", res.err.len);
		json_object_object_add(detail, "stdout",
		    json_object_new_string_len(o.p, (int)o.len));
		json_object_object_add(detail, "stderr",
		    json_object_new_string_len(e.p, (int)e.len));
		buf_free(&o);
		buf_free(&e);
	}
	json_object_object_add(detail, "exit_code", json_object_new_int(res.exit_code));
	json_object_object_add(detail, "duration_ms",
	    json_object_new_double(res.duration_ms));
	json_object_object_add(detail, "timed_out", json_object_new_boolean(res.timed_out));
	json_object_object_add(detail, "oom_killed", json_object_new_boolean(res.oom_killed));
	json_object_object_add(detail, "quota_exceeded",
	    json_object_new_boolean(res.quota_exceeded != 0));
	json_object_object_add(detail, "disk_used_bytes",
	    json_object_new_int64(res.disk_used));
	if (res.disk_quota > 0)
		json_object_object_add(detail, "disk_quota_bytes",
		    json_object_new_int64(res.disk_quota));
	json_object_object_add(detail, "truncated_bytes",
	    json_object_new_int64((int64_t)(res.out_dropped + res.err_dropped)));
	{
		/* A directory name is any bytes; the event must be UTF-8. */
		const char	*wd = res.cwd[0] ? res.cwd : cwd;
		char		*fixed = jsonio_utf8_repair(wd, strlen(wd), NULL);

		json_object_object_add(detail, "cwd", json_object_new_string(
		    fixed ? fixed : "/workspace"));
		free(fixed);
	}
	sandbox_result_free(&res);
	/* Commands can change anything under /workspace. */
	tools_emit_changed(tc, NULL, "bash");
	return rc;
}

/* ---- the registry ------------------------------------------------------ */

#define XSTR(x)		#x
#define STR(x)		XSTR(x)
#define SET_MAX		256	/* tools in one run's set */
#define OWN_MAX		1024	/* things a set frees with it */

const char *
tools_jstr(json_object *o, const char *k)
{
	return o != NULL ? jstr(o, k) : NULL;
}

static enum tool_class
editor_class(const struct tool_def *def, json_object *input)
{
	const char	*cmd = tools_jstr(input, "command");

	(void)def;
	return cmd != NULL && strcmp(cmd, "view") == 0 ? TC_READ : TC_EDIT;
}

static void
editor_summary(const struct tool_def *def, json_object *input, char *out,
    size_t cap)
{
	const char	*cmd = tools_jstr(input, "command");
	const char	*path = tools_jstr(input, "path");

	(void)def;
	if (cmd != NULL && strcmp(cmd, "create") == 0)
		snprintf(out, cap, "Create %.300s", path ? path : "?");
	else if (cmd != NULL && strcmp(cmd, "insert") == 0)
		snprintf(out, cap, "Insert lines into %.300s", path ? path : "?");
	else if (cmd != NULL && strcmp(cmd, "view") == 0)
		snprintf(out, cap, "View %.300s", path ? path : "?");
	else
		snprintf(out, cap, "Edit %.300s", path ? path : "?");
}

/* The editor keeps the key it always had (grants stored before stay valid). */
static void
editor_grant_key(const struct tool_def *def, json_object *input, char *out,
    size_t cap)
{
	(void)def;
	(void)input;
	snprintf(out, cap, "editor");
}

static void
bash_summary(const struct tool_def *def, json_object *input, char *out,
    size_t cap)
{
	const char	*cmd = tools_jstr(input, "command");

	(void)def;
	snprintf(out, cap, "Run a command: %.300s", cmd ? cmd : "(restart)");
}

static void
bash_grant_key(const struct tool_def *def, json_object *input, char *out,
    size_t cap)
{
	(void)def;
	perm_bash_grant_key(tools_jstr(input, "command"), out, cap);
}

static int
bash_grantable(const struct tool_def *def, json_object *input)
{
	(void)def;
	return perm_literal_command(tools_jstr(input, "command"));
}

/*
 * The registry. Order is declaration order (byte-stable: changing it
 * invalidates every session's prompt cache once). The first two are the
 * Anthropic-defined tools Claude is trained on, declared as they always
 * were.
 */
const struct tool_def tools_table[] = {
	{
		.name = "str_replace_based_edit_tool",
		.anthropic_type = "text_editor_20250728",
		.decl_extra = "{\"max_characters\":" STR(EDITOR_MAX_CHARS) "}",
		.flags = TOOL_DEFAULT,
		.card = "editor",
		.classify = editor_class,
		.default_class = TC_EDIT,
		.summary = editor_summary,
		.grant_key = editor_grant_key,
		.run = run_editor,
	},
	{
		.name = "bash",
		.anthropic_type = "bash_20250124",
		.flags = TOOL_DEFAULT,
		.card = "bash",
		.default_class = TC_EXEC,
		.summary = bash_summary,
		.grant_key = bash_grant_key,
		.grantable = bash_grantable,
		.run = run_bash,
	},
	/* Search (searchtools.h): ripgrep in the sandbox, read-only. */
	{
		.name = "glob",
		.description = searchtools_glob_description,
		.input_schema = searchtools_glob_schema,
		.flags = TOOL_DEFAULT,
		.card = "search",
		.default_class = TC_READ,
		.summary = searchtools_summary,
		.run = searchtools_glob_run,
	},
	{
		.name = "grep",
		.description = searchtools_grep_description,
		.input_schema = searchtools_grep_schema,
		.flags = TOOL_DEFAULT,
		.card = "search",
		.default_class = TC_READ,
		.summary = searchtools_summary,
		.run = searchtools_grep_run,
	},
	/*
	 * Anthropic's server tools: Claude calls them and Anthropic runs them
	 * inside the request (no executor, nothing to approve). Not in every
	 * set: the session's network policy adds copies with its options
	 * (netpolicy_add_to_set: max_uses, allowed_domains).
	 */
	{
		.name = "web_search",
		.anthropic_type = "web_search_20250305",
		.flags = TOOL_SERVER,
		.card = "web",
		.default_class = TC_READ,
	},
	{
		.name = "web_fetch",
		.anthropic_type = "web_fetch_20250910",
		.flags = TOOL_SERVER,
		.card = "web",
		.default_class = TC_READ,
	},
	/*
	 * Plan mode's way out (plantool.h): always declared, so the tools
	 * array is the same in every mode; refused outside plan mode. agent.c
	 * answers it with the plan card (a permission request of card "plan").
	 */
	{
		.name = PLANTOOL_NAME,
		.description = plantool_description,
		.input_schema = plantool_schema,
		.flags = TOOL_DEFAULT,
		.card = "plan",
		.default_class = TC_INTERNAL,
		.summary = plantool_summary_hook,
		.grantable = plantool_grantable,
		.run = plantool_run,
	},
	/*
	 * The session's todo list (todo.h) and sub-agents (subagent.h):
	 * internal, they never ask; a sub-agent's own calls are checked one
	 * by one.
	 */
	{
		.name = "todo_write",
		.description = todo_description,
		.input_schema = todo_schema,
		.flags = TOOL_DEFAULT,
		.card = "todo",
		.default_class = TC_INTERNAL,
		.run = todo_run,
	},
	{
		.name = "task",
		.description = subagent_description,
		.input_schema = subagent_schema,
		.flags = TOOL_DEFAULT,
		.card = "task",
		.default_class = TC_INTERNAL,
		.run = subagent_run,
	},
};
const size_t tools_table_len = sizeof(tools_table) / sizeof(tools_table[0]);

const struct tool_def *
tools_find_static(const char *name)
{
	size_t	 i;

	for (i = 0; name != NULL && i < tools_table_len; i++)
		if (strcmp(tools_table[i].name, name) == 0)
			return &tools_table[i];
	return NULL;
}

struct toolset_own {
	void	*p;
	void	(*fn)(void *);
};

struct toolset {
	const struct tool_def	*defs[SET_MAX];
	size_t			 n;
	struct toolset_own	*own;
	size_t			 nown, capown;
};

struct toolset *
tools_set_new(void)
{
	return calloc(1, sizeof(struct toolset));
}

struct toolset *
tools_set_new_default(void)
{
	struct toolset	*set = tools_set_new();
	size_t		 i;

	for (i = 0; set != NULL && i < tools_table_len; i++)
		if (tools_table[i].flags & TOOL_DEFAULT)
			tools_set_add(set, &tools_table[i]);
	return set;
}

int
tools_set_add(struct toolset *set, const struct tool_def *def)
{
	size_t	 i;

	if (set == NULL || def == NULL || def->name == NULL)
		return -1;
	for (i = 0; i < set->n; i++)
		if (strcmp(set->defs[i]->name, def->name) == 0) {
			set->defs[i] = def;
			return 0;
		}
	if (set->n >= SET_MAX)
		return -1;
	set->defs[set->n++] = def;
	return 0;
}

int
tools_set_remove(struct toolset *set, const char *name)
{
	size_t	 i;

	for (i = 0; set != NULL && i < set->n; i++)
		if (strcmp(set->defs[i]->name, name) == 0) {
			memmove(&set->defs[i], &set->defs[i + 1],
			    (set->n - i - 1) * sizeof(set->defs[0]));
			set->n--;
			return 1;
		}
	return 0;
}

int
tools_set_own(struct toolset *set, void *p, void (*fn)(void *))
{
	struct toolset_own	*o;

	if (set == NULL || set->nown >= OWN_MAX)
		return -1;
	if (set->nown == set->capown) {
		size_t ncap = set->capown ? set->capown * 2 : 16;

		if ((o = realloc(set->own, ncap * sizeof(*o))) == NULL)
			return -1;
		set->own = o;
		set->capown = ncap;
	}
	set->own[set->nown].p = p;
	set->own[set->nown].fn = fn;
	set->nown++;
	return 0;
}

const struct tool_def *
tools_set_find(const struct toolset *set, const char *name)
{
	size_t	 i;

	for (i = 0; set != NULL && name != NULL && i < set->n; i++)
		if (strcmp(set->defs[i]->name, name) == 0)
			return set->defs[i];
	return NULL;
}

size_t
tools_set_len(const struct toolset *set)
{
	return set != NULL ? set->n : 0;
}

const struct tool_def *
tools_set_at(const struct toolset *set, size_t i)
{
	return set != NULL && i < set->n ? set->defs[i] : NULL;
}

void
tools_set_free(struct toolset *set)
{
	size_t	 i;

	if (set == NULL)
		return;
	for (i = set->nown; i > 0; i--)
		if (set->own[i - 1].fn != NULL)
			set->own[i - 1].fn(set->own[i - 1].p);
	free(set->own);
	free(set);
}

/* Table entries first, in table order; then the others by name. */
static long
table_pos(const struct tool_def *d)
{
	if (d >= &tools_table[0] && d < &tools_table[tools_table_len])
		return (long)(d - &tools_table[0]);
	return -1;
}

static int
decl_cmp(const void *a, const void *b)
{
	const struct tool_def	*x = *(const struct tool_def *const *)a;
	const struct tool_def	*y = *(const struct tool_def *const *)b;
	long			 px = table_pos(x), py = table_pos(y);

	if (px >= 0 && py >= 0)
		return px < py ? -1 : px > py;
	if (px >= 0 || py >= 0)
		return px >= 0 ? -1 : 1;
	return strcmp(x->name, y->name);
}

static json_object *
declaration(const struct tool_def *d)
{
	json_object	*t = json_object_new_object(), *x;

	if (d->anthropic_type != NULL) {
		json_object_object_add(t, "type",
		    json_object_new_string(d->anthropic_type));
		json_object_object_add(t, "name", json_object_new_string(d->name));
		if (d->decl_extra != NULL && (x = json_tokener_parse(
		    d->decl_extra)) != NULL) {
			json_object_object_foreach(x, k, v)
				json_object_object_add(t, k, json_object_get(v));
			json_object_put(x);
		}
		return t;
	}
	json_object_object_add(t, "name", json_object_new_string(d->name));
	if (d->description != NULL)
		json_object_object_add(t, "description",
		    json_object_new_string(d->description));
	x = d->input_schema != NULL ? json_tokener_parse(d->input_schema) : NULL;
	if (x == NULL) {
		log_kv(LOG_ERROR, "tool schema is not JSON: declared as taking "
		    "no input", "s:tool", d->name, NULL);
		x = json_tokener_parse("{\"type\":\"object\",\"properties\":{}}");
	}
	json_object_object_add(t, "input_schema", x);
	return t;
}

json_object *
tools_set_declarations(const struct toolset *set)
{
	const struct tool_def	*sorted[SET_MAX];
	json_object		*arr = json_object_new_array();
	size_t			 i, n = tools_set_len(set);

	for (i = 0; i < n; i++)
		sorted[i] = set->defs[i];
	qsort(sorted, n, sizeof(sorted[0]), decl_cmp);
	for (i = 0; i < n; i++)
		json_object_array_add(arr, declaration(sorted[i]));
	return arr;
}

enum tool_class
tools_class(const struct tool_def *d, json_object *input)
{
	return d->classify != NULL ? d->classify(d, input) : d->default_class;
}

const char *
tools_class_name(enum tool_class c)
{
	switch (c) {
	case TC_READ:
		return "read";
	case TC_EDIT:
		return "edit";
	case TC_EXEC:
		return "exec";
	case TC_INTERNAL:
		return "internal";
	case TC_NETWORK:
		return "network";
	}
	return "exec";
}

void
tools_summary(const struct tool_def *d, json_object *input, char *out,
    size_t cap)
{
	if (d->summary != NULL) {
		d->summary(d, input, out, cap);
		return;
	}
	snprintf(out, cap, "Use %.100s: %.300s", d->name, input != NULL ?
	    json_object_to_json_string_ext(input, JSON_C_TO_STRING_PLAIN |
	    JSON_C_TO_STRING_NOSLASHESCAPE) : "{}");
}

void
tools_grant_key(const struct tool_def *d, json_object *input, char *out,
    size_t cap)
{
	if (d->grant_key != NULL)
		d->grant_key(d, input, out, cap);
	else
		snprintf(out, cap, "tool:%s", d->name);
}

int
tools_grantable(const struct tool_def *d, json_object *input)
{
	return d->grantable != NULL ? d->grantable(d, input) : 1;
}

const char *
tools_card(const struct tool_def *d)
{
	return d != NULL && d->card != NULL ? d->card : "generic";
}

int
tools_run(struct tool_ctx *tc, const struct tool_def *def, json_object *input,
    struct buf *out, json_object *detail)
{
	if (def == NULL || def->run == NULL) {
		buf_printf(out, "Error: the tool %s is not run here.",
		    def != NULL ? def->name : "?");
		return 1;
	}
	return def->run(tc, def, input, out, detail);
}
