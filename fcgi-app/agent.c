#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <fcntl.h>
#include <time.h>
#include <unistd.h>

#include "agent.h"
#include "app.h"
#include "attach.h"
#include "auth.h"
#include "claude.h"
#include "config.h"
#include "events.h"
#include "fsutil.h"
#include "history.h"
#include "keys.h"
#include "log.h"
#include "mcp.h"
#include "metrics.h"
#include "models.h"
#include "notices.h"
#include "netpolicy.h"
#include "notices.h"
#include "pathsafe.h"
#include "perm.h"
#include "plantool.h"
#include "runs.h"
#include "sandbox.h"
#include "scheduler.h"
#include "scoreboard.h"
#include "sessions.h"
#include "store.h"
#include "todo.h"
#include "tools.h"
#include "users.h"
#include "worker.h"

#define CHECK_EVERY_MS		200
#define CLAUDE_MD_MAX		(32 * 1024)

static const char renew_script[] =
    "if redis.call('GET', KEYS[1]) == ARGV[1] then "
    "return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end return 0";

static const char system_base[] =
    "You are Claude, a coding agent in claude-web, a web version of Claude "
    "Code. You work on the files of one session for the person you are "
    "talking to.\n\n"
    "Environment:\n"
    "- The session's project is the working directory /workspace. Give the "
    "tools paths under /workspace (or relative to it).\n"
    "- `bash` runs each command in a fresh Linux sandbox (bubblewrap): only "
    "/workspace and a small /tmp are writable, there is no network access "
    "unless the administrator enabled it, and the working directory "
    "persists between calls. Commands have time, memory and output limits.\n"
    "- `str_replace_based_edit_tool` views, creates and edits files.\n"
    "- `glob` finds files by name pattern and `grep` searches their contents "
    "(ripgrep, results relative to /workspace); prefer them to find/grep "
    "in bash: they never need the person's approval.\n"
    "- The person watches your answer stream in and may have to approve "
    "commands and edits before they run; a denied call comes back with "
    "their reason.\n\n"
    "Work in small, verifiable steps and keep answers concise.";

/*
 * Renews the session lock (at most every 500 ms). On success the lock is
 * ours until lock_until_ms; a lock that names someone else means lost.
 */
static void
lock_renew(struct run_ctx *c, int force)
{
	redisReply	*r;
	char		 key[96], ms[32];
	int64_t		 now = scoreboard_now_ms();
	long long	 ttl_ms = c->app->cfg->run_lock_ttl * 1000;

	if (!force && now - c->last_renew_ms < 500)
		return;
	c->last_renew_ms = now;
	snprintf(key, sizeof(key), CW_KP "lock:%s", c->sid);
	snprintf(ms, sizeof(ms), "%lld", ttl_ms);
	r = store_cmdv(c->app->store, "EVAL", renew_script, "1", key,
	    c->lock_token, ms, NULL);
	if (r == NULL)
		return;		/* Redis away: lock_until_ms says how long we may wait */
	if (r->type == REDIS_REPLY_INTEGER && r->integer == 0) {
		log_kv(LOG_WARNING, "run lock lost", "s:session", c->sid, NULL);
		c->lost = 1;
	} else
		c->lock_until_ms = now + ttl_ms;
	freeReplyObject(r);
}

/*
 * Appends one event durably. A Redis failure is retried with backoff for as
 * long as the lock is surely ours (lock_until_ms, less a margin) and at most
 * RUN_LOCK_TTL seconds (Redis full: the lock renews, writes fail); past that
 * the run stops with log_failed set, its job stays pending, and recovery
 * redoes the step (announcing it with run.resumed): no client ever sees a
 * hole in the log. 0 appended, -1 fenced out or given up.
 */
static int
append_durable(struct run_ctx *c, const char *type, json_object *data,
    const char *final_status)
{
	static unsigned long	 seq;
	const struct config	*cfg = c->app->cfg;
	int64_t			 now, first_fail = 0;
	long			 delay = 50;
	int			 rv, tries = 0;
	char			 tok[48];

	/* Unique in the session's stream: this lock's fence, this append. */
	snprintf(tok, sizeof(tok), "%lld.%lu", c->fence, ++seq);
	for (;;) {
		rv = final_status == NULL ?
		    events_append_tok(c->app->store, c->sid, c->fence, cfg, type,
		    data, NULL, tok) :
		    sched_finish(c->app->store, cfg, c->sid, c->fence, c->run_id,
		    final_status, type, data);
		if (rv == 0) {
			if (tries > 0)
				log_kv(LOG_INFO, "event appended after retries",
				    "s:run_id", c->run_id, "i:tries", tries, NULL);
			return 0;
		}
		if (rv == 1) {
			log_kv(LOG_WARNING, "fenced out: another runner owns the "
			    "session", "s:session", c->sid, "s:run_id", c->run_id,
			    NULL);
			c->lost = 1;
			return -1;
		}
		now = scoreboard_now_ms();
		if (first_fail == 0)
			first_fail = now;
		if (c->lost || now + delay + 1000 >= c->lock_until_ms ||
		    now - first_fail >= cfg->run_lock_ttl * 1000) {
			log_kv(LOG_ERROR, "event log unwritable: leaving the job "
			    "pending for recovery", "s:run_id", c->run_id, "s:type",
			    type, "s:error", c->app->store->errstr, NULL);
			c->lost = 1;
			c->log_failed = 1;
			return -1;
		}
		tries++;
		scoreboard_heartbeat(c->app->slot);
		usleep((useconds_t)delay * 1000);
		delay = delay * 2 > 1000 ? 1000 : delay * 2;
		lock_renew(c, 0);
	}
}

/* The history of the run in progress, for the notices' anchors (notices.h). */
static json_object **notice_hist;

/*
 * An appended event that belongs to the durable transcript (approvals,
 * errors, stops, retries, resumes) is also kept in .claude/notices.jsonl.
 */
static void
notice(struct run_ctx *c, const char *type, json_object *data)
{
	char		 by[128] = "";
	json_object	*v;

	if (!notices_wanted(type))
		return;
	if (strcmp(type, "permission.request") == 0)
		snprintf(by, sizeof(by), "%s", c->user);
	else if (json_object_object_get_ex(data, "by", &v))
		snprintf(by, sizeof(by), "%s", json_object_get_string(v));
	else if (strcmp(type, "run.cancelled") == 0)
		(void)runs_get(c->app->store, c->run_id, "cancelled_by", by,
		    sizeof(by));
	notices_event(c->app->cfg, c->sid, c->run_id, type, data,
	    notice_hist != NULL ? *notice_hist : NULL, by);
}

/* Adds run_id and appends a fenced event durably (see append_durable). */
static void
emit(struct run_ctx *c, const char *type, json_object *data)
{
	json_object_object_add(data, "run_id", json_object_new_string(c->run_id));
	if (!c->lost && append_durable(c, type, data, NULL) == 0)
		notice(c, type, data);
	json_object_put(data);
}

static int
still_owner(struct run_ctx *c)
{
	redisReply	*r;
	char		 key[96], f[32];
	int		 ok;

	snprintf(key, sizeof(key), CW_KP "fence:%s", c->sid);
	snprintf(f, sizeof(f), "%lld", c->fence);
	if ((r = store_cmdv(c->app->store, "GET", key, NULL)) == NULL)
		return 1;	/* Redis hiccup: the next fenced write decides */
	ok = r->type == REDIS_REPLY_STRING && strcmp(r->str, f) == 0;
	freeReplyObject(r);
	if (!ok)
		c->lost = 1;
	return ok;
}

/* Persists the history only while this runner still owns the session. */
static int
save(struct run_ctx *c, json_object *h)
{
	if (!still_owner(c))
		return -1;
	if (history_save(c->app->cfg, c->sid, h) == -1) {
		log_kv(LOG_ERROR, "cannot save history", "s:session", c->sid, NULL);
		return -1;
	}
	return 0;
}

int
agent_should_abort(void *arg)
{
	struct run_ctx	*c = arg;
	redisReply	*r;
	char		 id[48];
	int64_t		 now = scoreboard_now_ms();
	long long	 ttl_ms = c->app->cfg->run_lock_ttl * 1000;

	scoreboard_heartbeat(c->app->slot);
	if (c->lost || c->cancelled)
		return 1;
	/*
	 * A graceful stop while the model call has shown nothing yet (waiting
	 * for headers, or backing off after a 429/529): give it up now and
	 * hand the run off, instead of holding the stop for the whole answer.
	 * The next runner makes the same call; the person saw nothing twice.
	 */
	if (c->yield_ok && worker_quitting()) {
		c->yield_ok = 0;
		c->yielded = 1;
		return 1;
	}
	if (now - c->last_check_ms < CHECK_EVERY_MS)
		return 0;
	c->last_check_ms = now;
	if (runs_cancel_requested(c->app->store, c->sid, c->run_id) == 1) {
		c->cancelled = 1;
		return 1;
	}
	if (now - c->last_renew_ms >= ttl_ms / 3) {
		lock_renew(c, 1);
		/* Keep the job's idle time low so no one reclaims it while we work. */
		snprintf(id, sizeof(id), "%s", c->job_id);
		r = store_cmdv(c->app->store, "XCLAIM", RUNS_JOBS, RUNS_GROUP,
		    c->consumer, "0", id, "JUSTID", NULL);
		if (r != NULL)
			freeReplyObject(r);
	}
	return c->lost;
}

/* The system prompt: fixed text plus files/CLAUDE.md (byte-stable per turn). */
static json_object *
system_blocks(struct run_ctx *c)
{
	json_object	*arr = json_object_new_array(), *b, *cc;
	struct buf	 txt;
	char		 path[PATH_MAX], data[CLAUDE_MD_MAX + 1];
	struct stat	 st;
	ssize_t		 n = 0, got;
	int		 fd, root;

	buf_init(&txt, CLAUDE_MD_MAX + sizeof(system_base) + 4096);
	buf_puts(&txt, system_base);
	/*
	 * files/ belongs to the agent: CLAUDE.md may be a FIFO, a device, a
	 * symlink out, or huge. Open it beneath files/ without blocking or
	 * following links, take it only if it is a regular file, read a
	 * bounded prefix.
	 */
	if (sessions_path(c->app->cfg, c->sid, "files", path,
	    sizeof(path)) == 0 && (root = ps_open_root(path)) != -1) {
		fd = ps_openat(root, "CLAUDE.md", O_RDONLY | O_NONBLOCK |
		    O_NOFOLLOW, 0);
		close(root);
		if (fd != -1 && fstat(fd, &st) == 0 && S_ISREG(st.st_mode)) {
			while (n < CLAUDE_MD_MAX && (got = read(fd, data + n,
			    (size_t)(CLAUDE_MD_MAX - n))) > 0)
				n += got;
		}
		if (fd != -1)
			close(fd);
		if (n > 0) {
			buf_puts(&txt, "\n\n# Project memory (CLAUDE.md in /workspace)\n\n");
			buf_utf8_clean(&txt, data, (size_t)n);
			if (n == CLAUDE_MD_MAX)
				buf_puts(&txt, "\n[CLAUDE.md truncated]");
		}
	}
	/* Plan mode: how to end it (plantool.h); byte-stable while the mode is. */
	{
		struct session	 ss;

		if (sessions_get(c->app->store, c->sid, &ss) == 1 &&
		    strcmp(ss.permission_mode, "plan") == 0)
			buf_puts(&txt, plantool_system_text());
	}
	b = json_object_new_object();
	json_object_object_add(b, "type", json_object_new_string("text"));
	json_object_object_add(b, "text", json_object_new_string_len(txt.p, (int)txt.len));
	cc = json_object_new_object();
	json_object_object_add(cc, "type", json_object_new_string("ephemeral"));
	json_object_object_add(b, "cache_control", cc);
	json_object_array_add(arr, b);
	buf_free(&txt);
	return arr;
}

/*
 * The run's tools (tools.h): rebuilt from the session before each model
 * request (run_toolset), then used by the declarations, tool.use's card
 * and run_tools. A runner process runs one run at a time.
 */
static struct toolset *cur_tools;

/* The session's enabled MCP servers, read with the toolset (mcp.h). */
static char cur_mcp[MCP_LIST_MAX];

/*
 * The session's network policy (netpolicy.h), bound by its owner's role:
 * the web server tools in the set, the anthropic-beta header web_fetch
 * needs, and the network of the sandboxes this run starts. Unknown (Redis
 * away): off.
 */
static int cur_web_fetch;	/* web_fetch is in the run's tools */

static void
web_tools(struct run_ctx *c, struct toolset *set)
{
	const struct config	*cfg = c->app->cfg;
	struct session		 s;
	struct auth_user	 u;
	enum netpolicy		 p = NP_OFF;
	int			 fetch = 0;

	if (sessions_get(c->app->store, c->sid, &s) == 1 &&
	    users_get(c->app->store, s.owner, &u, NULL, 0) == 1) {
		p = netpolicy_effective(cfg, u.role, s.network_policy);
		fetch = netpolicy_add_to_set(set, cfg, p, s.network_policy[0] ?
		    s.allowed_domains : cfg->network_default_domains);
	}
	sandbox_set_network(netpolicy_sandbox_network(cfg, p));
	cur_web_fetch = fetch;
	/* The betas of this step's requests are set anew (build_request). */
	if (c->claude != NULL)
		(void)claude_client_set_beta(c->claude, NULL);
}

static struct toolset *
run_toolset(struct run_ctx *c)
{
	struct toolset	*set = tools_set_new_default();

	web_tools(c, set);

	(void)c;
	/*
	 * Hook: the session's network policy (web tools), its MCP servers,
	 * a sub-agent's subset and exit_plan_mode add to or filter the set
	 * here. Whatever is added must depend only on the session's settings
	 * (the declarations are byte-stable for prompt caching).
	 */
	{
		struct session	 ms;

		cur_mcp[0] = '\0';
		if (c->app->cfg->mcp != NULL &&
		    sessions_get(c->app->store, c->sid, &ms) == 1) {
			snprintf(cur_mcp, sizeof(cur_mcp), "%s", ms.mcp_servers);
			mcp_toolset_add(set, c->app->cfg, cur_mcp, agent_should_abort, c);
		}
	}
	return set;
}

static const struct toolset *
tools_of(struct run_ctx *c)
{
	if (cur_tools == NULL)
		cur_tools = run_toolset(c);
	return cur_tools;
}

static void
tools_refresh(struct run_ctx *c)
{
	tools_set_free(cur_tools);
	cur_tools = NULL;
	(void)tools_of(c);
}

/*
 * The request body. The history is deep-copied so cache_control markers on
 * the last block of the two newest user turns never reach the file.
 */
static char *
build_request(struct run_ctx *c, const char *model, json_object *messages,
    int stream)
{
	const struct config	*cfg = c->app->cfg;
	json_object		*req = json_object_new_object(), *msgs = NULL, *m,
				*role, *content, *last, *cc, *th;
	char			*out;
	size_t			 i, n;
	int			 marked = 0;

	json_object_deep_copy(messages, &msgs, NULL);
	n = json_object_array_length(msgs);
	for (i = n; i > 0 && marked < 2; i--) {
		m = json_object_array_get_idx(msgs, i - 1);
		if (!json_object_object_get_ex(m, "role", &role) ||
		    strcmp(json_object_get_string(role), "user") != 0 ||
		    !json_object_object_get_ex(m, "content", &content))
			continue;
		if (!json_object_is_type(content, json_type_array)) {
			content = history_as_blocks(content);
			json_object_object_add(m, "content", content);
		}
		if (json_object_array_length(content) == 0)
			continue;
		last = json_object_array_get_idx(content,
		    json_object_array_length(content) - 1);
		cc = json_object_new_object();
		json_object_object_add(cc, "type", json_object_new_string("ephemeral"));
		json_object_object_add(last, "cache_control", cc);
		marked++;
	}
	json_object_object_add(req, "model", json_object_new_string(model));
	json_object_object_add(req, "max_tokens", json_object_new_int64(cfg->max_tokens));
	json_object_object_add(req, "system", system_blocks(c));
	json_object_object_add(req, "tools", tools_set_declarations(tools_of(c)));
	json_object_object_add(req, "messages", msgs);
	{
		/* Remote MCP servers: Anthropic's connector (beta). */
		json_object *ms = mcp_connector_servers(cfg, cur_mcp);

		if (ms != NULL)
			json_object_object_add(req, "mcp_servers", ms);
		claude_client_set_beta(c->claude, ms != NULL ? MCP_CONNECTOR_BETA : NULL);
	}
	/* web_fetch (netpolicy.h) is a beta tool. */
	if (cur_web_fetch)
		(void)claude_client_add_beta(c->claude, NETPOLICY_FETCH_BETA);
	if (cfg->claude_thinking_budget > 0) {
		th = json_object_new_object();
		json_object_object_add(th, "type", json_object_new_string("enabled"));
		json_object_object_add(th, "budget_tokens",
		    json_object_new_int64(cfg->claude_thinking_budget));
		json_object_object_add(req, "thinking", th);
	}
	if (stream)
		json_object_object_add(req, "stream", json_object_new_boolean(1));
	out = strdup(json_object_to_json_string_ext(req, JSON_C_TO_STRING_PLAIN |
	    JSON_C_TO_STRING_NOSLASHESCAPE));
	json_object_put(req);
	return out;
}

/* Hooks: every streamed piece becomes an event. */
static void
hk_message_start(void *arg, const struct claude_msg *m)
{
	struct run_ctx	*c = arg;
	json_object	*d = json_object_new_object();

	c->yield_ok = 0;	/* from now on the person sees this answer */
	json_object_object_add(d, "message_id", json_object_new_string(m->id));
	json_object_object_add(d, "model", json_object_new_string(m->model));
	json_object_object_add(d, "turn", json_object_new_int(c->turn));
	emit(c, "message.start", d);
}

static void
hk_text(void *arg, int idx, const char *s, size_t n)
{
	json_object	*d = json_object_new_object();

	json_object_object_add(d, "index", json_object_new_int(idx));
	json_object_object_add(d, "text", json_object_new_string_len(s, (int)n));
	emit(arg, "text.delta", d);
}

static void
hk_thinking(void *arg, int idx, const char *s, size_t n)
{
	json_object	*d = json_object_new_object();

	json_object_object_add(d, "index", json_object_new_int(idx));
	json_object_object_add(d, "thinking", json_object_new_string_len(s, (int)n));
	emit(arg, "thinking.delta", d);
}

/* A string member of o, or NULL. */
static const char *
web_str(json_object *o, const char *k)
{
	json_object	*v;

	return json_object_object_get_ex(o, k, &v) &&
	    json_object_is_type(v, json_type_string) ? json_object_get_string(v) :
	    NULL;
}

static void
web_copy(json_object *to, json_object *from, const char *k)
{
	const char	*v = web_str(from, k);

	if (v != NULL)
		json_object_object_add(to, k, json_object_new_string(v));
}

/*
 * Server tool blocks and cited text as events for the UI: a server tool
 * call is a tool.use (server: true), its result a tool.result with the
 * results' urls, titles and ages (never the encrypted content), a cited
 * text block's citations one text.citations event. The history keeps the
 * blocks whole.
 */
static void
web_block_event(struct run_ctx *c, int idx, const struct claude_block *b)
{
	json_object	*d, *content = NULL, *res, *r, *e, *doc;
	const char	*type, *s;
	char		 name[64], msg[256];
	size_t		 i, n;
	int		 err = 0;

	d = json_object_new_object();
	if (b->type == CB_SERVER_TOOL_USE) {
		json_object_object_add(d, "index", json_object_new_int(idx));
		json_object_object_add(d, "id", json_object_new_string(b->id));
		json_object_object_add(d, "name", json_object_new_string(b->name));
		json_object_object_add(d, "input", json_object_get(b->input));
		json_object_object_add(d, "card", json_object_new_string(tools_card(
		    tools_set_find(tools_of(c), b->name))));
		json_object_object_add(d, "server", json_object_new_boolean(1));
		emit(c, "tool.use", d);
		return;
	}
	if (b->type == CB_TEXT && b->citations != NULL &&
	    (n = json_object_array_length(b->citations)) > 0) {
		res = json_object_new_array();
		for (i = 0; i < n; i++) {
			e = json_object_array_get_idx(b->citations, i);
			r = json_object_new_object();
			web_copy(r, e, "type");
			web_copy(r, e, "url");
			web_copy(r, e, "title");
			web_copy(r, e, "cited_text");
			json_object_array_add(res, r);
		}
		json_object_object_add(d, "index", json_object_new_int(idx));
		json_object_object_add(d, "citations", res);
		emit(c, "text.citations", d);
		return;
	}
	if (b->type != CB_SERVER_RESULT || b->raw == NULL ||
	    (type = web_str(b->raw, "type")) == NULL) {
		json_object_put(d);
		return;
	}
	snprintf(name, sizeof(name), "%.*s", (int)(strlen(type) -
	    strlen("_tool_result")), type);
	json_object_object_get_ex(b->raw, "content", &content);
	json_object_object_add(d, "tool_use_id", json_object_new_string(b->id));
	json_object_object_add(d, "name", json_object_new_string(name));
	json_object_object_add(d, "server", json_object_new_boolean(1));
	if (json_object_is_type(content, json_type_array)) {
		/* web_search: the results. */
		res = json_object_new_array();
		n = json_object_array_length(content);
		for (i = 0; i < n; i++) {
			e = json_object_array_get_idx(content, i);
			r = json_object_new_object();
			web_copy(r, e, "url");
			web_copy(r, e, "title");
			web_copy(r, e, "page_age");
			json_object_array_add(res, r);
		}
		json_object_object_add(d, "results", res);
		snprintf(msg, sizeof(msg), "%zu result%s", n, n == 1 ? "" : "s");
	} else if ((s = web_str(content, "type")) != NULL &&
	    strstr(s, "error") != NULL) {
		err = 1;
		s = web_str(content, "error_code");
		json_object_object_add(d, "error_code",
		    json_object_new_string(s ? s : "unavailable"));
		snprintf(msg, sizeof(msg), "%s failed: %.100s", name,
		    s ? s : "unavailable");
	} else {
		/* web_fetch: the page fetched. */
		web_copy(d, content, "url");
		web_copy(d, content, "retrieved_at");
		if (json_object_object_get_ex(content, "content", &doc))
			web_copy(d, doc, "title");
		snprintf(msg, sizeof(msg), "fetched %.140s", web_str(content, "url") ?
		    web_str(content, "url") : "a page");
	}
	json_object_object_add(d, "content", json_object_new_string(msg));
	json_object_object_add(d, "is_error", json_object_new_boolean(err));
	emit(c, "tool.result", d);
}

/*
 * The MCP connector's blocks (remote servers, mcp.h): mcp_tool_use becomes
 * a tool.use named mcp__<server>__<tool> (card "mcp"), mcp_tool_result its
 * tool.result with the text. 1 when b was one of them.
 */
static int
mcp_remote_event(struct run_ctx *c, int idx, const struct claude_block *b)
{
	json_object	*d, *v, *content, *e;
	const char	*type;
	char		 name[300];
	struct buf	 text;
	size_t		 i;

	if (b->raw == NULL || !json_object_object_get_ex(b->raw, "type", &v) ||
	    (type = json_object_get_string(v)) == NULL)
		return 0;
	if (strcmp(type, "mcp_tool_use") == 0) {
		snprintf(name, sizeof(name), "mcp__%.64s__%.128s",
		    json_object_object_get_ex(b->raw, "server_name", &v) &&
		    json_object_is_type(v, json_type_string) ?
		    json_object_get_string(v) : "remote", b->name);
		d = json_object_new_object();
		json_object_object_add(d, "index", json_object_new_int(idx));
		json_object_object_add(d, "id", json_object_new_string(b->id));
		json_object_object_add(d, "name", json_object_new_string(name));
		json_object_object_add(d, "input", b->input != NULL ?
		    json_object_get(b->input) : json_object_new_object());
		json_object_object_add(d, "card", json_object_new_string("mcp"));
		json_object_object_add(d, "server", json_object_new_boolean(1));
		emit(c, "tool.use", d);
		return 1;
	}
	if (strcmp(type, "mcp_tool_result") != 0)
		return 0;
	buf_init(&text, 256 * 1024);
	if (json_object_object_get_ex(b->raw, "content", &content)) {
		if (json_object_is_type(content, json_type_string))
			buf_puts(&text, json_object_get_string(content));
		for (i = 0; json_object_is_type(content, json_type_array) &&
		    i < json_object_array_length(content); i++) {
			e = json_object_array_get_idx(content, i);
			if (json_object_object_get_ex(e, "text", &v) &&
			    json_object_is_type(v, json_type_string)) {
				if (text.len > 0)
					buf_putc(&text, '\n');
				buf_puts(&text, json_object_get_string(v));
			}
		}
	}
	d = json_object_new_object();
	json_object_object_add(d, "tool_use_id", json_object_new_string(b->id));
	json_object_object_add(d, "name", json_object_new_string("mcp"));
	json_object_object_add(d, "server", json_object_new_boolean(1));
	json_object_object_add(d, "content", json_object_new_string_len(
	    text.p ? text.p : "", (int)text.len));
	json_object_object_add(d, "is_error", json_object_new_boolean(
	    json_object_object_get_ex(b->raw, "is_error", &v) &&
	    json_object_get_boolean(v)));
	buf_free(&text);
	emit(c, "tool.result", d);
	return 1;
}

static void
hk_block_stop(void *arg, int idx, const struct claude_block *b)
{
	json_object	*d;

	if (b->type != CB_TOOL_USE && mcp_remote_event(arg, idx, b))
		return;
	if (b->type != CB_TOOL_USE) {
		web_block_event(arg, idx, b);
		return;
	}
	d = json_object_new_object();
	json_object_object_add(d, "index", json_object_new_int(idx));
	json_object_object_add(d, "id", json_object_new_string(b->id));
	json_object_object_add(d, "name", json_object_new_string(b->name));
	json_object_object_add(d, "input", json_object_get(b->input));
	json_object_object_add(d, "card", json_object_new_string(tools_card(
	    tools_set_find(tools_of(arg), b->name))));
	emit(arg, "tool.use", d);
}

static void
hk_retrying(void *arg, int attempt, long delay_ms, const char *reason)
{
	json_object	*d = json_object_new_object();

	json_object_object_add(d, "attempt", json_object_new_int(attempt));
	json_object_object_add(d, "delay_ms", json_object_new_int64(delay_ms));
	json_object_object_add(d, "reason", json_object_new_string(reason));
	emit(arg, "run.retrying", d);
}

static json_object *
usage_json(long long in, long long out, long long cw, long long cr, double cost)
{
	json_object	*u = json_object_new_object();

	json_object_object_add(u, "input_tokens", json_object_new_int64(in));
	json_object_object_add(u, "output_tokens", json_object_new_int64(out));
	json_object_object_add(u, "cache_creation_input_tokens", json_object_new_int64(cw));
	json_object_object_add(u, "cache_read_input_tokens", json_object_new_int64(cr));
	json_object_object_add(u, "cost_usd", json_object_new_double(cost));
	return u;
}

/* Adds one call's usage to the run, the session and the user; emits usage. */
static void
account(struct run_ctx *c, const struct claude_msg *m, const struct model_info *mi)
{
	struct store	*st = c->app->store;
	redisReply	*r;
	json_object	*d, *sess;
	const char	*keys[2];
	char		 key[2][200], v[4][32], cost[64];
	double		 dc;
	long long	 tot[4] = { 0, 0, 0, 0 };
	double		 tcost = 0;
	size_t		 i;
	int		 k;

	dc = models_cost(mi, m->input_tokens, m->output_tokens,
	    m->cache_creation_tokens, m->cache_read_tokens) +
	    (double)m->web_search_requests * MODELS_WEB_SEARCH_USD;
	c->in += m->input_tokens;
	c->out += m->output_tokens;
	c->cache_write += m->cache_creation_tokens;
	c->cache_read += m->cache_read_tokens;
	c->cost += dc;
	metrics_tokens(m->input_tokens, m->output_tokens, m->cache_read_tokens,
	    m->cache_creation_tokens);
	snprintf(key[0], sizeof(key[0]), CW_KP "usage:session:%s", c->sid);
	snprintf(key[1], sizeof(key[1]), CW_KP "usage:user:%s", c->user);
	keys[0] = key[0];
	keys[1] = key[1];
	snprintf(v[0], sizeof(v[0]), "%lld", m->input_tokens);
	snprintf(v[1], sizeof(v[1]), "%lld", m->output_tokens);
	snprintf(v[2], sizeof(v[2]), "%lld", m->cache_creation_tokens);
	snprintf(v[3], sizeof(v[3]), "%lld", m->cache_read_tokens);
	snprintf(cost, sizeof(cost), "%.10f", dc);
	/* The run's own totals survive parking and a runner's death. */
	{
		static const char *const rf[4] = { "u_in", "u_out", "u_cw", "u_cr" };
		char rk[96];

		snprintf(rk, sizeof(rk), CW_KP "run:%s", c->run_id);
		for (i = 0; i < 4; i++)
			if ((r = store_cmdv(st, "HINCRBY", rk, rf[i], v[i], NULL)) != NULL)
				freeReplyObject(r);
		if ((r = store_cmdv(st, "HINCRBYFLOAT", rk, "u_cost", cost,
		    NULL)) != NULL)
			freeReplyObject(r);
	}
	for (k = 0; k < 2; k++) {
		static const char *const f[4] = { "input_tokens", "output_tokens",
		    "cache_creation_input_tokens", "cache_read_input_tokens" };
		for (i = 0; i < 4; i++)
			if ((r = store_cmdv(st, "HINCRBY", keys[k], f[i], v[i], NULL)) != NULL)
				freeReplyObject(r);
		if ((r = store_cmdv(st, "HINCRBYFLOAT", keys[k], "cost_usd", cost,
		    NULL)) != NULL)
			freeReplyObject(r);
		if (m->web_search_requests > 0) {
			char ws[32];

			snprintf(ws, sizeof(ws), "%lld", m->web_search_requests);
			if ((r = store_cmdv(st, "HINCRBY", keys[k],
			    "web_search_requests", ws, NULL)) != NULL)
				freeReplyObject(r);
		}
	}
	if ((r = store_cmdv(st, "HMGET", key[0], "input_tokens", "output_tokens",
	    "cache_creation_input_tokens", "cache_read_input_tokens", "cost_usd",
	    NULL)) != NULL) {
		if (r->type == REDIS_REPLY_ARRAY && r->elements == 5) {
			for (i = 0; i < 4; i++)
				if (r->element[i]->str)
					tot[i] = strtoll(r->element[i]->str, NULL, 10);
			if (r->element[4]->str)
				tcost = strtod(r->element[4]->str, NULL);
		}
		freeReplyObject(r);
	}
	d = json_object_new_object();
	sess = usage_json(tot[0], tot[1], tot[2], tot[3], tcost);
	json_object_object_add(d, "session", sess);
	json_object_object_add(d, "run", usage_json(c->in, c->out, c->cache_write,
	    c->cache_read, c->cost));
	json_object_object_add(d, "model", json_object_new_string(mi->id));
	emit(c, "usage", d);
}

/* A sub-agent's model call (the task tool) is paid by its run, too. */
void
agent_account(struct run_ctx *c, const struct claude_msg *m,
    const struct model_info *mi)
{
	account(c, m, mi);
}

/* Last message's role and whether it has tool_use blocks. */
static json_object *
last_message(json_object *h, const char **role)
{
	json_object	*msgs = history_messages(h), *m, *r;
	size_t		 n = json_object_array_length(msgs);

	*role = NULL;
	if (n == 0)
		return NULL;
	m = json_object_array_get_idx(msgs, n - 1);
	if (json_object_object_get_ex(m, "role", &r))
		*role = json_object_get_string(r);
	return m;
}

static json_object *
tool_uses(json_object *msg)
{
	json_object	*content, *out = json_object_new_array(), *b, *t;
	size_t		 i;

	if (msg != NULL && json_object_object_get_ex(msg, "content", &content) &&
	    json_object_is_type(content, json_type_array))
		for (i = 0; i < json_object_array_length(content); i++) {
			b = json_object_array_get_idx(content, i);
			if (json_object_object_get_ex(b, "type", &t) &&
			    strcmp(json_object_get_string(t), "tool_use") == 0)
				json_object_array_add(out, json_object_get(b));
		}
	return out;
}

/* blocks (a content array from the executor, tool_ctx.content) wins over text. */
static json_object *
tool_result(const char *id, const char *text, json_object *blocks, int is_error)
{
	json_object	*r = json_object_new_object();

	json_object_object_add(r, "type", json_object_new_string("tool_result"));
	json_object_object_add(r, "tool_use_id", json_object_new_string(id));
	json_object_object_add(r, "content", blocks != NULL ?
	    json_object_get(blocks) : json_object_new_string(text));
	if (is_error)
		json_object_object_add(r, "is_error", json_object_new_boolean(1));
	return r;
}

static const char *
jget(json_object *o, const char *k)
{
	json_object	*v;

	return json_object_object_get_ex(o, k, &v) ? json_object_get_string(v) : "";
}

/*
 * What the history cannot hold (it is exactly what the API accepts): a
 * tool's stdout/stderr, exit code, duration, path, denial. Appended to
 * .claude/tool_details.jsonl so a reloaded page shows full tool cards.
 */
static void
save_tool_detail(struct run_ctx *c, json_object *d)
{
	char		 path[PATH_MAX];
	const char	*js;
	int		 fd;

	if (sessions_path(c->app->cfg, c->sid, ".claude/tool_details.jsonl", path,
	    sizeof(path)) == -1)
		return;
	if ((fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640)) == -1)
		return;
	js = json_object_to_json_string_ext(d, JSON_C_TO_STRING_PLAIN |
	    JSON_C_TO_STRING_NOSLASHESCAPE);
	(void)!write(fd, js, strlen(js));
	(void)!write(fd, "\n", 1);
	close(fd);
}

static void
tool_emit(void *arg, const char *type, json_object *data)
{
	emit(arg, type, data);
}

/*
 * The run's tool-call state (runs_state_*): {"results": {tool_use_id:
 * tool_result block}, "running": id, "asking": {tool_use_id, request_id,
 * expires_at}}. Written before a tool starts and after it ends, so a run
 * resumed anywhere knows which calls are done, which one was cut off, and
 * which one waits for a person.
 */
static json_object *
ts_load(struct run_ctx *c)
{
	json_object	*ts = runs_state_read(c->app->cfg, c->sid, c->run_id), *v;

	if (ts == NULL || !json_object_is_type(ts, json_type_object)) {
		if (ts != NULL)
			json_object_put(ts);
		ts = json_object_new_object();
	}
	if (!json_object_object_get_ex(ts, "results", &v) ||
	    !json_object_is_type(v, json_type_object))
		json_object_object_add(ts, "results", json_object_new_object());
	return ts;
}

static int
ts_save(struct run_ctx *c, json_object *ts)
{
	if (!still_owner(c))
		return -1;
	if (runs_state_write(c->app->cfg, c->sid, c->run_id, ts) == -1) {
		log_kv(LOG_ERROR, "cannot save the run's tool state", "s:run_id",
		    c->run_id, NULL);
		return -1;
	}
	return 0;
}

static const char *
ts_str(json_object *ts, const char *k)
{
	json_object	*v;

	return json_object_object_get_ex(ts, k, &v) &&
	    json_object_is_type(v, json_type_string) ?
	    json_object_get_string(v) : NULL;
}

static void
emit_resolved(struct run_ctx *c, const char *rid, const char *tool_use_id,
    const char *status, int verdict, int remember, const char *msg)
{
	json_object	*d = json_object_new_object();

	json_object_object_add(d, "request_id", json_object_new_string(rid));
	json_object_object_add(d, "tool_use_id", json_object_new_string(tool_use_id));
	json_object_object_add(d, "decision", json_object_new_string(status));
	if (verdict == 1)
		json_object_object_add(d, "remember", json_object_new_boolean(remember));
	if (verdict == 0 && strcmp(status, "deny") == 0 && msg[0])
		json_object_object_add(d, "message", json_object_new_string(msg));
	if (verdict >= 0 && strcmp(status, "expired") != 0) {
		char by[128];

		/* Who answered (the API records it with the answer). */
		if (notices_answerer(c->app->store, c->sid, rid, by, sizeof(by)) == 1)
			json_object_object_add(d, "by", json_object_new_string(by));
	}
	emit(c, "permission.resolved", d);
}

/*
 * What became of request rid: 1 allowed, 0 denied (why filled), -1
 * cancelled, 2 nobody has answered yet and it has not expired (park).
 */
static int
answer_of(struct run_ctx *c, const char *tool, const char *tool_use_id,
    json_object *input, const char *rid, long expires, char *why, size_t whycap)
{
	const struct config	*cfg = c->app->cfg;
	struct store		*st = c->app->store;
	char			 status[32], msg[1024];
	int			 remember = 0, verdict, tries;

	for (tries = 0; tries < 2; tries++) {
		msg[0] = '\0';
		if (perm_status(st, c->sid, rid, status, sizeof(status), &remember,
		    msg, sizeof(msg)) == -1) {
			/* Redis away: leave the run for recovery. */
			c->lost = 1;
			c->log_failed = 1;
			return -1;
		}
		if (strcmp(status, "allow") == 0 || strcmp(status, "deny") == 0) {
			perm_close(st, c->sid, rid, status);
			if (strcmp(status, "allow") == 0 && plantool_is(tool)) {
				/* A plan approved: the session leaves plan mode. */
				char pm[32];

				verdict = 1;
				remember = 0;
				plantool_apply(st, cfg, c->sid, rid, pm, why, whycap);
			} else if (strcmp(status, "allow") == 0) {
				verdict = 1;
				if (remember) {
					const struct tool_def *def =
					    tools_set_find(tools_of(c), tool);
					char grant[512];

					if (def != NULL) {
						tools_grant_key(def, input, grant,
						    sizeof(grant));
						perm_remember(st, c->sid, grant);
					}
				}
			} else if (plantool_is(tool)) {
				verdict = 0;
				plantool_keep_planning(msg, why, whycap);
			} else {
				verdict = 0;
				snprintf(why, whycap, "The user denied this tool call.%s%s",
				    msg[0] ? " Their message: " : "", msg);
			}
			emit_resolved(c, rid, tool_use_id, status, verdict, remember, msg);
			return verdict;
		}
		if (strcmp(status, "cancelled") == 0 || c->cancelled ||
		    agent_should_abort(c)) {
			perm_close(st, c->sid, rid, "cancelled");
			emit_resolved(c, rid, tool_use_id, "cancelled", -1, 0, "");
			return -1;
		}
		if (strcmp(status, "pending") == 0 && time(NULL) <= expires)
			return 2;
		/* perm_close keeps an answer that raced in: look once more. */
		perm_close(st, c->sid, rid, "expired");
	}
	snprintf(why, whycap, "Permission denied: nobody approved this call "
	    "within %lld seconds.", cfg->permission_timeout);
	emit_resolved(c, rid, tool_use_id, "expired", 0, 0, "");
	return 0;
}

/*
 * The call needs a person: record the request (once), then park the run
 * and let the runner go. Returns 2 parked, or the verdict when the answer
 * came in before the run was parked (see answer_of).
 */
static int
ask_or_park(struct run_ctx *c, json_object *ts, const char *tool,
    const char *tool_use_id, json_object *input, char *why, size_t whycap)
{
	const struct config	*cfg = c->app->cfg;
	struct store		*st = c->app->store;
	json_object		*asking, *d;
	char			 rid[40], summary[512];
	const char		*a_id, *a_rid;
	const struct tool_def	*def;
	long			 expires;
	int			 rc, verdict;

	asking = NULL;
	json_object_object_get_ex(ts, "asking", &asking);
	a_id = asking != NULL ? ts_str(asking, "tool_use_id") : NULL;
	a_rid = asking != NULL ? ts_str(asking, "request_id") : NULL;
	if (a_id != NULL && a_rid != NULL && strcmp(a_id, tool_use_id) == 0) {
		/* Continued (or resumed) while this call waited for a person. */
		snprintf(rid, sizeof(rid), "%s", a_rid);
		{
			json_object *e;

			expires = json_object_object_get_ex(asking, "expires_at", &e) ?
			    (long)json_object_get_int64(e) : 0;
		}
		if ((verdict = answer_of(c, tool, tool_use_id, input, rid, expires,
		    why, whycap)) != 2)
			return verdict;
	} else {
		def = tools_set_find(tools_of(c), tool);
		if (def != NULL)
			tools_summary(def, input, summary, sizeof(summary));
		else
			snprintf(summary, sizeof(summary), "Use %.300s", tool);
		if (perm_create(st, c->sid, c->run_id, tool_use_id, tool, input,
		    summary, cfg->permission_timeout, rid, &expires) == -1) {
			snprintf(why, whycap, "the permission request could not be "
			    "recorded");
			return 0;
		}
		asking = json_object_new_object();
		json_object_object_add(asking, "tool_use_id",
		    json_object_new_string(tool_use_id));
		json_object_object_add(asking, "request_id", json_object_new_string(rid));
		json_object_object_add(asking, "expires_at", json_object_new_int64(expires));
		json_object_object_add(ts, "asking", asking);
		if (ts_save(c, ts) == -1)
			return -1;
		d = json_object_new_object();
		json_object_object_add(d, "request_id", json_object_new_string(rid));
		json_object_object_add(d, "tool_use_id", json_object_new_string(tool_use_id));
		json_object_object_add(d, "tool", json_object_new_string(tool));
		json_object_object_add(d, "card", json_object_new_string(
		    tools_card(def)));
		json_object_object_add(d, "input", json_object_get(input));
		json_object_object_add(d, "summary", json_object_new_string(summary));
		json_object_object_add(d, "expires_at", json_object_new_int64(expires));
		emit(c, "permission.request", d);
		if (c->lost)
			return -1;
	}
	/* Park: the job is acked in the same step; the answer queues a new one. */
	rc = sched_park(st, cfg, c->sid, c->run_id, c->fence, rid, expires,
	    c->job_id);
	if (rc == 1) {
		c->parked = 1;
		log_kv(LOG_INFO, "run parked", "s:run_id", c->run_id, "s:request_id",
		    rid, NULL);
		return 2;
	}
	if (rc == 0)	/* answered before we could park: carry on here */
		return answer_of(c, tool, tool_use_id, input, rid, expires, why,
		    whycap);
	c->lost = 1;
	if (rc == -1)
		c->log_failed = 1;	/* Redis away: recovery parks it again */
	return -1;
}

/*
 * exit_plan_mode (plantool.h): outside plan mode, or without a plan, it is
 * refused at once; otherwise the plan card asks the person like an
 * approval (and parks the run). Returns as ask_or_park.
 */
static int
plan_call(struct run_ctx *c, json_object *ts, const char *name,
    const char *id, json_object *input, const char *mode, char *why,
    size_t whycap)
{
	if (strcmp(mode, "plan") != 0) {
		plantool_not_in_plan(mode, why, whycap);
		return 0;
	}
	if (plantool_check(input, why, whycap) == -1)
		return 0;
	return ask_or_park(c, ts, name, id, input, why, whycap);
}

/* 1 when the call tool_use_id has an open permission request. */
static int
waits_for_person(json_object *ts, const char *tool_use_id)
{
	json_object	*asking;
	const char	*a_id;

	if (!json_object_object_get_ex(ts, "asking", &asking))
		return 0;
	a_id = ts_str(asking, "tool_use_id");
	return a_id != NULL && strcmp(a_id, tool_use_id) == 0;
}

/*
 * Room for a tool result's content blocks with images (the editor's view
 * of an image, an MCP image) in the conversation, counted like a person's
 * images (attach.h: the history, the inbox) plus this turn's results so
 * far (done): past ATTACH_HISTORY_MAX no request could carry it. 1 room
 * (or no image), 0 none: out then holds the text for Claude.
 */
static int
image_room(struct run_ctx *c, json_object *done, json_object *blocks,
    struct buf *out)
{
	const int	 fl = JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE;
	json_object	*t;
	long long	 have, add;
	size_t		 i;
	int		 images = 0;

	for (i = 0; json_object_is_type(blocks, json_type_array) &&
	    i < json_object_array_length(blocks); i++)
		if (json_object_object_get_ex(json_object_array_get_idx(blocks, i),
		    "type", &t) && strcmp(json_object_get_string(t), "image") == 0)
			images++;
	if (images == 0)
		return 1;
	add = (long long)strlen(json_object_to_json_string_ext(blocks, fl));
	have = attach_conversation_bytes(c->app->cfg, c->sid) +
	    (long long)strlen(json_object_to_json_string_ext(done, fl));
	if (have + add <= ATTACH_HISTORY_MAX)
		return 1;
	buf_reset(out);
	buf_printf(out, "Error: the image was not sent: this conversation "
	    "already holds %lld kB (its images above all) and all of it is sent "
	    "with each request; with this image it would pass %d MB, more than a "
	    "request may carry. Do not view or fetch more images in this "
	    "conversation. The user can make room by compacting it (/compact) or "
	    "clearing it (/clear).", have / 1024, ATTACH_HISTORY_MAX / 1048576);
	return 0;
}

/*
 * Runs the tool_use calls of msg that have no result yet and appends one
 * user message with all the results. 0 done, 1 parked (waiting for a
 * person), -1 lost or the history could not be saved.
 */
static int
run_tools(struct run_ctx *c, json_object *h, json_object *msg)
{
	json_object	*uses = tool_uses(msg), *results, *done, *u, *input,
			*detail, *d, *ts = ts_load(c);
	json_object	*blocks;
	struct tool_ctx	 tc;
	struct session	 s;
	struct buf	 out;
	const struct tool_def *def;
	const char	*name, *id, *mode, *running;
	char		 why[1400], grant[512];
	size_t		 i;
	int		 err, allowed, rc = 0;

	json_object_object_get_ex(ts, "results", &done);
	if (ts_save(c, ts) == -1) {
		rc = -1;
		goto out;
	}
	for (i = 0; i < json_object_array_length(uses); i++) {
		u = json_object_array_get_idx(uses, i);
		name = jget(u, "name");
		id = jget(u, "id");
		if (json_object_object_get_ex(done, id, NULL))
			continue;
		if (!json_object_object_get_ex(u, "input", &input))
			input = NULL;
		buf_init(&out, 2 * 1024 * 1024);
		detail = json_object_new_object();
		blocks = NULL;
		why[0] = '\0';
		def = tools_set_find(tools_of(c), name);
		if (def == NULL || def->run == NULL) {
			/* Fail closed: nothing runs, nobody is asked. */
			buf_printf(&out, "Error: unknown tool: %.200s is not one of "
			    "the tools of this session.", name);
			err = 1;
			goto record;
		}
		running = ts_str(ts, "running");
		if (running != NULL && strcmp(running, id) == 0) {
			/* A runner died while this call ran. */
			buf_puts(&out, "Error: this tool call was interrupted (the "
			    "server process running it stopped); it may or may not "
			    "have taken effect. Check before retrying.");
			err = 1;
			goto record;
		}
		/* The mode may have changed since the run started. */
		mode = sessions_get(c->app->store, c->sid, &s) == 1 ?
		    s.permission_mode : "default";
		allowed = 1;
		if (waits_for_person(ts, id))
			/* Its request is open: answered, expired or cancelled now. */
			allowed = ask_or_park(c, ts, name, id, input, why, sizeof(why));
		else if (c->cancelled || agent_should_abort(c))
			allowed = -1;
		else if (plantool_is(name))
			/* The plan card: approved, keep planning, or refused. */
			allowed = plan_call(c, ts, name, id, input, mode, why,
			    sizeof(why));
		else switch (perm_policy(mode, tools_class(def, input))) {
		case PERM_ALLOW:
			break;
		case PERM_DENY_PLAN:
			allowed = 0;
			/* Only promise what the session offers (plantool.h). */
			snprintf(why, sizeof(why), "Permission denied: this session is in "
			    "plan mode: files can be viewed and searched, and commands "
			    "run with the user's approval, but nothing may be edited. %s",
			    tools_set_find(tools_of(c), "exit_plan_mode") != NULL ?
			    "When your plan is ready, present it with exit_plan_mode; "
			    "the user approves it or asks you to keep planning." :
			    "Describe your plan in your answer instead; the user "
			    "decides whether and when it is carried out.");
			break;
		default:
			grant[0] = '\0';
			if (tools_grantable(def, input))
				tools_grant_key(def, input, grant, sizeof(grant));
			if (!perm_remembered(c->app->store, c->sid, grant))
				allowed = ask_or_park(c, ts, name, id, input, why,
				    sizeof(why));
			break;
		}
		if (allowed == 2 || c->lost) {
			buf_free(&out);
			json_object_put(detail);
			rc = allowed == 2 ? 1 : -1;
			goto out;
		}
		json_object_object_del(ts, "asking");
		if (allowed == 1 && plantool_is(name)) {
			/* Approved: answer_of switched the mode and wrote the text. */
			buf_puts(&out, why);
			err = 0;
			json_object_object_add(detail, "plan_approved",
			    json_object_new_boolean(1));
		} else if (allowed == 1) {
			json_object_object_add(ts, "running", json_object_new_string(id));
			if (ts_save(c, ts) == -1) {
				buf_free(&out);
				json_object_put(detail);
				rc = -1;
				goto out;
			}
			memset(&tc, 0, sizeof(tc));
			tc.cfg = c->app->cfg;
			tc.store = c->app->store;
			tc.sid = c->sid;
			tc.run_id = c->run_id;
			tc.tool_use_id = id;
			tc.set = tools_of(c);
			tc.should_abort = agent_should_abort;
			tc.arg = c;
			tc.emit = tool_emit;
			err = tools_run(&tc, def, input, &out, detail);
			blocks = tc.content;
			if (blocks != NULL && !image_room(c, done, blocks, &out)) {
				json_object_put(blocks);
				blocks = NULL;
				err = 1;
			}
		} else if (allowed == 0) {
			buf_puts(&out, why);
			err = 1;
			json_object_object_add(detail, "denied", json_object_new_boolean(1));
		} else {
			buf_puts(&out, "The run was cancelled before this tool ran.");
			err = 1;
		}
record:
		/* Tool output goes into JSON for the API: it must be valid UTF-8. */
		{
			struct buf clean;

			buf_init(&clean, out.len * 3 + 16);
			buf_utf8_clean(&clean, out.p ? out.p : "", out.len);
			buf_free(&out);
			out = clean;
		}
		d = detail;
		json_object_object_add(d, "tool_use_id", json_object_new_string(id));
		json_object_object_add(d, "name", json_object_new_string(name));
		json_object_object_add(d, "card", json_object_new_string(
		    tools_card(def)));
		json_object_object_add(d, "content", json_object_new_string_len(
		    out.p ? out.p : "", (int)out.len));
		json_object_object_add(d, "is_error", json_object_new_boolean(err));
		save_tool_detail(c, d);
		json_object_object_add(done, id, tool_result(id, out.p ? out.p : "",
		    blocks, err));
		if (blocks != NULL)
			json_object_put(blocks);
		json_object_object_del(ts, "running");
		buf_free(&out);
		if (ts_save(c, ts) == -1) {
			json_object_put(d);
			rc = -1;
			goto out;
		}
		emit(c, "tool.result", d);
		if (c->lost) {
			rc = -1;
			goto out;
		}
	}
	/* Every call answered: one user message, in the calls' order. */
	results = json_object_new_array();
	for (i = 0; i < json_object_array_length(uses); i++) {
		id = jget(json_object_array_get_idx(uses, i), "id");
		if (json_object_object_get_ex(done, id, &d))
			json_object_array_add(results, json_object_get(d));
	}
	history_append_user(h, results);
	if ((rc = save(c, h)) == 0)
		runs_state_remove(c->app->cfg, c->sid, c->run_id);
out:
	json_object_put(uses);
	json_object_put(ts);
	return rc;
}

/* First real user turn (text, not tool results) at or after from. */
static int
is_prompt_turn(json_object *m)
{
	json_object	*r, *content, *b, *t;
	size_t		 i;

	if (!json_object_object_get_ex(m, "role", &r) ||
	    strcmp(json_object_get_string(r), "user") != 0 ||
	    !json_object_object_get_ex(m, "content", &content))
		return 0;
	if (!json_object_is_type(content, json_type_array))
		return 1;
	for (i = 0; i < json_object_array_length(content); i++) {
		b = json_object_array_get_idx(content, i);
		if (json_object_object_get_ex(b, "type", &t) &&
		    strcmp(json_object_get_string(t), "tool_result") == 0)
			return 0;
	}
	return 1;
}

/*
 * Compaction: the turns before the newest prompt are summarised by Claude
 * (same model, system and tools, so the cached prefix is reused) and
 * replaced by the summary, which is prepended to that prompt. Returns 1
 * compacted, 0 nothing to compact, -1 failure.
 */
static int
compact(struct run_ctx *c, json_object *h, const char *model, const char *focus)
{
	json_object		*msgs = history_messages(h), *head, *req_msgs, *m,
				*content, *blocks, *nb, *newmsgs, *d;
	struct claude_hooks	 hooks;
	struct claude_msg	 cm;
	struct claude_result	 res;
	struct buf		 summary;
	size_t			 n = json_object_array_length(msgs), k, i;
	char			*body;
	int			 rc = -1, b;

	for (k = n; k > 0; k--)
		if (is_prompt_turn(json_object_array_get_idx(msgs, k - 1)))
			break;
	if (k <= 1)
		return 0;
	k--;	/* index of the newest prompt */
	head = json_object_array_get_idx(msgs, k - 1);
	{
		json_object *uses = tool_uses(head);
		int pending = json_object_array_length(uses) > 0;

		json_object_put(uses);
		if (pending)
			return 0;
	}
	req_msgs = json_object_new_array();
	for (i = 0; i < k; i++)
		json_object_array_add(req_msgs, json_object_get(
		    json_object_array_get_idx(msgs, i)));
	m = json_object_new_object();
	json_object_object_add(m, "role", json_object_new_string("user"));
	{
		static const char ask[] = "Summarize our conversation so far for "
		    "your own future reference: the goals, decisions, files touched "
		    "and their state, commands that mattered and their outcome, and "
		    "open questions. Be complete but terse; this summary will "
		    "replace the conversation.";
		struct buf q;

		/* /compact <focus>: the person says what matters most. */
		buf_init(&q, sizeof(ask) + 4096 + 64);
		buf_puts(&q, ask);
		if (focus != NULL && *focus != '\0')
			buf_printf(&q, "\n\nFocus the summary on: %.4000s", focus);
		json_object_object_add(m, "content",
		    json_object_new_string_len(q.p, (int)q.len));
		buf_free(&q);
	}
	json_object_array_add(req_msgs, m);
	body = build_request(c, model, req_msgs, 1);
	json_object_put(req_msgs);

	memset(&hooks, 0, sizeof(hooks));
	hooks.arg = c;
	hooks.should_abort = agent_should_abort;
	claude_msg_init(&cm);
	claude_stream(c->claude, body, &hooks, &cm, &res);
	free(body);
	if (res.code != CLAUDE_OK)
		goto out;
	{
		const struct model_info *mi = models_find(model);

		if (mi != NULL)
			account(c, &cm, mi);	/* the summary call costs too */
	}
	buf_init(&summary, 8 * 1024 * 1024);
	for (b = 0; b < cm.nblocks; b++)
		if (cm.blocks[b].type == CB_TEXT && cm.blocks[b].text.len > 0)
			buf_append(&summary, cm.blocks[b].text.p, cm.blocks[b].text.len);
	if (summary.len == 0) {
		buf_free(&summary);
		goto out;
	}
	/* New history: [prompt k with the summary in front] + the rest. */
	m = json_object_array_get_idx(msgs, k);
	json_object_object_get_ex(m, "content", &content);
	blocks = json_object_new_array();
	nb = json_object_new_object();
	json_object_object_add(nb, "type", json_object_new_string("text"));
	{
		struct buf t;

		buf_init(&t, summary.len + 256);
		buf_puts(&t, "<summary of the earlier conversation>\n");
		buf_append(&t, summary.p, summary.len);
		buf_puts(&t, "\n</summary>");
		json_object_object_add(nb, "text",
		    json_object_new_string_len(t.p, (int)t.len));
		buf_free(&t);
	}
	json_object_array_add(blocks, nb);
	content = history_as_blocks(content);
	for (i = 0; i < json_object_array_length(content); i++)
		json_object_array_add(blocks, json_object_get(
		    json_object_array_get_idx(content, i)));
	json_object_put(content);
	newmsgs = json_object_new_array();
	m = json_object_new_object();
	json_object_object_add(m, "role", json_object_new_string("user"));
	json_object_object_add(m, "content", blocks);
	json_object_array_add(newmsgs, m);
	for (i = k + 1; i < n; i++)
		json_object_array_add(newmsgs, json_object_get(
		    json_object_array_get_idx(msgs, i)));
	json_object_object_add(h, "messages", newmsgs);
	json_object_object_add(h, "last_input_tokens", json_object_new_int64(0));
	if (save(c, h) == 0) {
		d = json_object_new_object();
		json_object_object_add(d, "messages_before", json_object_new_int64((int64_t)n));
		json_object_object_add(d, "messages_after",
		    json_object_new_int64((int64_t)(n - k)));
		json_object_object_add(d, "summary", json_object_new_string_len(
		    summary.p, (int)summary.len));
		emit(c, "compacted", d);
		rc = 1;
	}
	buf_free(&summary);
out:
	claude_msg_free(&cm);
	return rc;
}

static long long
last_input(json_object *h)
{
	json_object	*v;

	return json_object_object_get_ex(h, "last_input_tokens", &v) ?
	    json_object_get_int64(v) : 0;
}

/*
 * The one final event (with the run's final state, the guard cleared and
 * the session's status, atomically). Durable like every event: if it
 * cannot be written the job stays pending and recovery finishes the run.
 */
static void
finish(struct run_ctx *c, const char *status, const char *event,
    json_object *d)
{
	/* First its standby: once a run has ended, no sandbox of it is left. */
	sandbox_standby_drop();
	json_object_object_add(d, "run_id", json_object_new_string(c->run_id));
	json_object_object_add(d, "usage", usage_json(c->in, c->out,
	    c->cache_write, c->cache_read, c->cost));
	if (strcmp(event, "run.cancelled") == 0) {
		char by[128] = "";

		/* Who pressed Stop (h_runs.c notes it): the live view says so too. */
		if (runs_get(c->app->store, c->run_id, "cancelled_by", by,
		    sizeof(by)) == 1 && by[0] != '\0')
			json_object_object_add(d, "by", json_object_new_string(by));
	}
	if (!c->lost && append_durable(c, event, d, status) == 0) {
		char q[64] = "";

		notice(c, event, d);

		/* A run that ended inside a tool batch leaves no state behind. */
		runs_state_remove(c->app->cfg, c->sid, c->run_id);
		(void)runs_get(c->app->store, c->run_id, "first_event_id", q,
		    sizeof(q));
		metrics_run_end(status, q);
	}
	json_object_put(d);
}

static void
finish_error(struct run_ctx *c, const char *type, const char *msg)
{
	json_object	*d = json_object_new_object();

	json_object_object_add(d, "type", json_object_new_string(type));
	json_object_object_add(d, "message", json_object_new_string(msg));
	runs_set(c->app->store, c->run_id, "error", msg);
	finish(c, "error", "run.error", d);
}

void
agent_fail(struct run_ctx *c, const char *type, const char *msg)
{
	finish_error(c, type, msg);
}

/*
 * Did the abandoned attempt of this run stream text since its last
 * completed message? Scans the newest events (bounded).
 */
static int
partial_text_pending(struct run_ctx *c)
{
	struct events_keys	 k;
	redisReply		*r, *e, *kv;
	const char		*type, *data;
	size_t			 i, j;
	int			 found = 0, done = 0;

	events_keys(c->sid, &k);
	if ((r = store_cmdv(c->app->store, "XREVRANGE", k.stream, "+", "-",
	    "COUNT", "500", NULL)) == NULL)
		return 0;
	for (i = 0; r->type == REDIS_REPLY_ARRAY && i < r->elements && !done; i++) {
		e = r->element[i];
		if (e->type != REDIS_REPLY_ARRAY || e->elements < 2 ||
		    (kv = e->element[1])->type != REDIS_REPLY_ARRAY)
			continue;
		type = data = NULL;
		for (j = 0; j + 1 < kv->elements; j += 2) {
			if (kv->element[j]->str == NULL)
				continue;
			if (strcmp(kv->element[j]->str, "type") == 0)
				type = kv->element[j + 1]->str;
			else if (strcmp(kv->element[j]->str, "data") == 0)
				data = kv->element[j + 1]->str;
		}
		if (type == NULL || data == NULL || strstr(data, c->run_id) == NULL)
			continue;
		/* A sub-agent's events (inside a tool call) are not the message's. */
		if (strstr(data, "\"parent_tool_use_id\"") != NULL)
			continue;
		if (strcmp(type, "text.delta") == 0 ||
		    strcmp(type, "thinking.delta") == 0)
			found = 1;
		else if (strcmp(type, "message.stop") == 0 ||
		    strcmp(type, "run.started") == 0 ||
		    strcmp(type, "run.resumed") == 0 ||
		    strcmp(type, "tool.result") == 0)
			done = 1;
	}
	freeReplyObject(r);
	return found;
}

/*
 * The run as a state machine: begin → request ⇄ tools → end, with
 * "waiting" (parked) between tools and the next request. Each step is
 * recorded in the run hash and starts from what Redis and the history
 * hold, so any runner can continue a run at any step boundary.
 */
enum step {
	STEP_BEGIN,
	STEP_REQUEST,
	STEP_TOOLS,
	STEP_DONE
};

struct run {
	json_object		*h;
	const struct model_info	*mi;
	int			 resumed;	/* the history already has the run */
};

static void
set_step(struct run_ctx *c, const char *step)
{
	redisReply	*r;
	char		 key[96], turn[16];

	snprintf(key, sizeof(key), CW_KP "run:%s", c->run_id);
	snprintf(turn, sizeof(turn), "%d", c->turn);
	if ((r = store_cmdv(c->app->store, "HSET", key, "step", step, "turn",
	    turn, NULL)) != NULL)
		freeReplyObject(r);
}

/* The run's totals so far (earlier steps, earlier runners). */
static void
load_progress(struct run_ctx *c, char *cont, size_t cap)
{
	redisReply	*r;
	char		 key[96];

	cont[0] = '\0';
	snprintf(key, sizeof(key), CW_KP "run:%s", c->run_id);
	if ((r = store_cmdv(c->app->store, "HMGET", key, "u_in", "u_out", "u_cw",
	    "u_cr", "u_cost", "turn", "cont_reason", NULL)) == NULL)
		return;
	if (r->type == REDIS_REPLY_ARRAY && r->elements == 7) {
#define F(i) (r->element[i]->str != NULL ? r->element[i]->str : "0")
		c->in = strtoll(F(0), NULL, 10);
		c->out = strtoll(F(1), NULL, 10);
		c->cache_write = strtoll(F(2), NULL, 10);
		c->cache_read = strtoll(F(3), NULL, 10);
		c->cost = strtod(F(4), NULL);
		c->turn = (int)strtol(F(5), NULL, 10);
#undef F
		if (r->element[6]->str != NULL)
			snprintf(cont, cap, "%s", r->element[6]->str);
	}
	freeReplyObject(r);
}

static enum step
fail_save(struct run_ctx *c)
{
	if (!c->lost)
		finish_error(c, "internal_error", "the session history could not "
		    "be saved");
	return STEP_DONE;
}

static enum step
end_with(struct run_ctx *c, const char *status, const char *event,
    const char *stop_reason)
{
	json_object	*d = json_object_new_object();

	if (stop_reason != NULL)
		json_object_object_add(d, "stop_reason",
		    json_object_new_string(stop_reason));
	finish(c, status, event, d);
	return STEP_DONE;
}

/* What to do with the history as it stands. */
static enum step
next_from_history(struct run_ctx *c, struct run *r)
{
	json_object	*last, *uses;
	const char	*role;
	int		 n;

	last = last_message(r->h, &role);
	if (role == NULL || strcmp(role, "assistant") != 0)
		return STEP_REQUEST;
	uses = tool_uses(last);
	n = (int)json_object_array_length(uses);
	json_object_put(uses);
	if (n > 0)
		return STEP_TOOLS;
	/* Resumed after the final answer was saved. */
	return end_with(c, "finished", "run.finished", "end_turn");
}

/*
 * A "clear" run (POST …/clear, /clear): the conversation is archived as
 * .claude/history-<time>-<run>.json and an empty one begins (same files,
 * same usage totals); the new history says when and where the old went.
 */
static enum step
step_clear(struct run_ctx *c, struct run *r)
{
	const struct config	*cfg = c->app->cfg;
	json_object		*nh, *cl, *d;
	const char		*js;
	char			 name[96], sub[128], path[PATH_MAX], stem[48];
	size_t			 n = json_object_array_length(history_messages(r->h));

	name[0] = '\0';
	snprintf(stem, sizeof(stem), "%lld-%.8s", (long long)time(NULL), c->run_id);
	if (!r->resumed) {
		if (n > 0) {
			snprintf(name, sizeof(name), "history-%s.json", stem);
			snprintf(sub, sizeof(sub), ".claude/%s", name);
			js = json_object_to_json_string_ext(r->h,
			    JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
			if (sessions_path(cfg, c->sid, sub, path, sizeof(path)) == -1 ||
			    fsutil_write_atomic(path, js, strlen(js)) == -1) {
				finish_error(c, "internal_error", "the conversation "
				    "could not be archived; nothing was cleared");
				return STEP_DONE;
			}
		}
		/*
		 * The notices (notices.h) are anchored in the old conversation:
		 * they go with it (notices-<same stem>.jsonl); only the newest
		 * NOTICES_ARCHIVES_KEEP archives stay, so repeated clears of a
		 * big conversation do not fill the disk.
		 */
		(void)notices_archive(cfg, c->sid, stem);
		nh = json_object_new_object();
		json_object_object_add(nh, "version", json_object_new_int(1));
		json_object_object_add(nh, "messages", json_object_new_array());
		json_object_object_add(nh, "runs", json_object_new_array());
		json_object_object_add(nh, "last_input_tokens", json_object_new_int64(0));
		cl = json_object_new_object();
		json_object_object_add(cl, "at", json_object_new_int64((int64_t)time(NULL)));
		json_object_object_add(cl, "run_id", json_object_new_string(c->run_id));
		json_object_object_add(cl, "archived", name[0] ?
		    json_object_new_string(name) : NULL);
		json_object_object_add(cl, "messages_before",
		    json_object_new_int64((int64_t)n));
		json_object_object_add(nh, "cleared", cl);
		history_add_run(nh, c->run_id);
		if (save(c, nh) == -1) {
			json_object_put(nh);
			return fail_save(c);
		}
		json_object_put(r->h);
		r->h = nh;
	}
	/* A fresh context starts without the old todo list (todo.h). */
	{
		json_object	*none = json_object_new_array(), *td;

		if (todo_save(cfg, c->sid, none) == 0) {
			td = json_object_new_object();
			json_object_object_add(td, "todos", json_object_get(none));
			emit(c, "todos.updated", td);
		}
		json_object_put(none);
	}
	d = json_object_new_object();
	if (json_object_object_get_ex(r->h, "cleared", &cl))
		json_object_object_add(d, "cleared", json_object_get(cl));
	emit(c, "cleared", d);
	return end_with(c, "finished", "run.finished", "cleared");
}

static enum step
step_begin(struct run_ctx *c, struct run *r)
{
	const struct config	*cfg = c->app->cfg;
	struct session		 s;
	json_object		*content, *last, *uses, *d;
	const char		*role;
	char			 cont[32];
	int			 rc;

	set_step(c, "begin");
	if (sessions_get(c->app->store, c->sid, &s) != 1) {
		finish_error(c, "not_found", "the session no longer exists");
		return STEP_DONE;
	}
	if ((r->mi = models_find(s.model)) == NULL)
		r->mi = models_find(cfg->claude_model);
	/* The open tail (unanswered tool calls) is ours to answer, with events. */
	if ((r->h = history_load_flags(cfg, c->sid, HISTORY_KEEP_OPEN_TAIL)) == NULL) {
		finish_error(c, "internal_error", "the session history is unreadable");
		return STEP_DONE;
	}
	r->resumed = history_has_run(r->h, c->run_id);
	load_progress(c, cont, sizeof(cont));
	if (cont[0] != '\0' && c->deliveries <= 1) {
		/* A parked run picked up again: not a crash, nothing is redone. */
		d = json_object_new_object();
		json_object_object_add(d, "reason", json_object_new_string(cont));
		metrics_run_continued(cont);
		emit(c, "run.continued", d);
		runs_set(c->app->store, c->run_id, "cont_reason", "");
		{
			char key[96];
			redisReply *rr;

			snprintf(key, sizeof(key), CW_KP "run:%s", c->run_id);
			if ((rr = store_cmdv(c->app->store, "HDEL", key,
			    "cont_reason", NULL)) != NULL)
				freeReplyObject(rr);
		}
	} else if (r->resumed || c->deliveries > 1) {
		/*
		 * An earlier runner died in this run: say at once what is
		 * redone, so clients retract that attempt's partial text
		 * instead of showing it twice.
		 */
		last = last_message(r->h, &role);
		uses = role != NULL && strcmp(role, "assistant") == 0 ?
		    tool_uses(last) : NULL;
		d = json_object_new_object();
		/*
		 * tools: interrupted tool calls get results, then a new message;
		 * none: the final answer was saved, nothing is regenerated;
		 * message: the message in progress is generated again.
		 */
		json_object_object_add(d, "redo", json_object_new_string(
		    uses != NULL && json_object_array_length(uses) > 0 ? "tools" :
		    role != NULL && strcmp(role, "assistant") == 0 && r->resumed ?
		    "none" : "message"));
		json_object_object_add(d, "discarded_text",
		    json_object_new_boolean(partial_text_pending(c)));
		json_object_object_add(d, "attempt",
		    json_object_new_int(c->deliveries > 1 ? c->deliveries : 2));
		if (uses != NULL)
			json_object_put(uses);
		metrics_run_resumed(json_object_get_string(
		    json_object_object_get(d, "redo")));
		emit(c, "run.resumed", d);
		log_kv(LOG_INFO, "run resumed", "s:run_id", c->run_id,
		    "i:attempt", c->deliveries, NULL);
	}
	/* A new turn may not follow an unanswered call (a failed save). */
	if (!r->resumed || strcmp(c->kind, "compact") == 0)
		history_repair(r->h);
	if (cont[0] == '\0') {
		d = json_object_new_object();
		json_object_object_add(d, "kind", json_object_new_string(c->kind));
		json_object_object_add(d, "resumed", json_object_new_boolean(r->resumed));
		json_object_object_add(d, "model", json_object_new_string(r->mi->id));
		emit(c, "run.started", d);
	}
	runs_set_session_status(c->app->store, c->sid, "running");
	if (strcmp(c->kind, "clear") == 0)
		return step_clear(c, r);

	if (cfg->anthropic_api_key == NULL || *cfg->anthropic_api_key == '\0') {
		finish_error(c, "configuration_error", "ANTHROPIC_API_KEY is not set "
		    "on the server; ask the administrator to configure it");
		return STEP_DONE;
	}
	if (sandbox_unavailable(cfg) != NULL) {
		finish_error(c, "sandbox_unavailable", sandbox_unavailable(cfg));
		return STEP_DONE;
	}
	if (strcmp(c->kind, "compact") == 0) {
		/* POST …/compact {"focus"} left it in the inbox. */
		char focus[4096] = "";
		json_object *in = runs_inbox_read(cfg, c->sid, c->run_id), *f;

		if (in != NULL && json_object_object_get_ex(in, "focus", &f) &&
		    json_object_is_type(f, json_type_string))
			snprintf(focus, sizeof(focus), "%s", json_object_get_string(f));
		if (in != NULL)
			json_object_put(in);
		rc = compact(c, r->h, r->mi->id, focus);
		runs_inbox_remove(cfg, c->sid, c->run_id);
		if (rc == -1 && !c->cancelled)
			finish_error(c, "api_error", "compaction failed");
		else if (c->cancelled)
			end_with(c, "cancelled", "run.cancelled", "compacted");
		else
			end_with(c, "finished", "run.finished", rc == 1 ?
			    "compacted" : "nothing_to_compact");
		return STEP_DONE;
	}
	if (!r->resumed) {
		/* The message waits in the inbox (older runs: in the run hash). */
		if ((content = runs_inbox_read(cfg, c->sid, c->run_id)) == NULL) {
			char key[96];
			redisReply *rr;

			snprintf(key, sizeof(key), CW_KP "run:%s", c->run_id);
			rr = store_cmdv(c->app->store, "HGET", key, "content", NULL);
			if (rr != NULL && rr->type == REDIS_REPLY_STRING)
				content = json_tokener_parse(rr->str);
			if (rr != NULL)
				freeReplyObject(rr);
		}
		if (content == NULL) {
			finish_error(c, "invalid_request", "the message content is missing");
			return STEP_DONE;
		}
		history_append_user(r->h, content);
		history_add_run(r->h, c->run_id);
		if (save(c, r->h) == -1)
			return fail_save(c);
		runs_inbox_remove(cfg, c->sid, c->run_id);
		return STEP_REQUEST;
	}
	return next_from_history(c, r);
}

static enum step
step_request(struct run_ctx *c, struct run *r)
{
	const struct config	*cfg = c->app->cfg;
	const struct model_info	*mi = r->mi;
	struct claude_hooks	 hooks;
	struct claude_msg	 cm;
	struct claude_result	 res;
	json_object		*content, *d, *uses;
	const char		*role;
	char			*body;
	int			 ntools;

	if (c->turn >= cfg->max_turns)
		return end_with(c, "finished", "run.finished", "max_turns");
	set_step(c, "request");
	/* The model may have been switched since the last step (PATCH). */
	{
		struct session		 ss;
		const struct model_info	*nm;

		if (sessions_get(c->app->store, c->sid, &ss) == 1 &&
		    (nm = models_find(ss.model)) != NULL)
			r->mi = mi = nm;
	}
	if (last_input(r->h) * 100 > (long long)mi->context_window *
	    cfg->compact_threshold && compact(c, r->h, mi->id, NULL) == -1 && c->lost)
		return fail_save(c);
	memset(&hooks, 0, sizeof(hooks));
	hooks.arg = c;
	hooks.message_start = hk_message_start;
	hooks.text_delta = hk_text;
	hooks.thinking_delta = hk_thinking;
	hooks.block_stop = hk_block_stop;
	hooks.retrying = hk_retrying;
	hooks.should_abort = agent_should_abort;
	tools_refresh(c);	/* the session's tools as they are now */
	body = build_request(c, mi->id, history_messages(r->h), 1);
	/* While the model answers, the next command's sandbox starts (sandbox.h). */
	{
		char	 files[PATH_MAX];

		if (sessions_path(cfg, c->sid, "files", files, sizeof(files)) == 0)
			sandbox_prewarm(cfg, files);
	}
	claude_msg_init(&cm);
	/* Once per step: a failed hand-off must not make this loop. */
	c->yield_ok = !c->yielded;
	claude_stream(c->claude, body, &hooks, &cm, &res);
	c->yield_ok = 0;
	free(body);
	if (c->lost) {
		claude_msg_free(&cm);
		return STEP_DONE;
	}
	if (c->yielded && res.code == CLAUDE_CANCELLED && !c->cancelled) {
		/* Back to the step boundary: agent_run hands the run off. */
		claude_msg_free(&cm);
		log_kv(LOG_INFO, "model call given up for a hand-off (nothing "
		    "shown yet)", "s:run_id", c->run_id, NULL);
		return STEP_REQUEST;
	}
	c->turn++;
	if (res.code == CLAUDE_CANCELLED) {
		/* Keep what was said; unanswerable tool calls are dropped. */
		json_object *kept = json_object_new_array(), *b, *t;
		size_t i;

		content = claude_msg_content(&cm);
		for (i = 0; i < json_object_array_length(content); i++) {
			b = json_object_array_get_idx(content, i);
			if (json_object_object_get_ex(b, "type", &t) &&
			    strcmp(json_object_get_string(t), "tool_use") == 0)
				continue;
			/* A web search cut short: no server blocks, no citations. */
			if (t != NULL && (strcmp(json_object_get_string(t),
			    "server_tool_use") == 0 || strstr(json_object_get_string(t),
			    "_tool_result") != NULL))
				continue;
			json_object_object_del(b, "citations");
			json_object_array_add(kept, json_object_get(b));
		}
		json_object_put(content);
		if (json_object_array_length(kept) > 0) {
			history_append_assistant(r->h, kept);
			save(c, r->h);
		} else
			json_object_put(kept);
		claude_msg_free(&cm);
		return end_with(c, "cancelled", "run.cancelled", NULL);
	}
	if (res.code != CLAUDE_OK) {
		claude_msg_free(&cm);
		finish_error(c, res.err_type[0] ? res.err_type : "api_error",
		    res.err_msg[0] ? res.err_msg : "the Claude API call failed");
		return STEP_DONE;
	}
	content = claude_msg_content(&cm);
	if (last_message(r->h, &role) != NULL && role != NULL &&
	    strcmp(role, "assistant") == 0) {
		/* The continuation of a paused turn (pause_turn): one message. */
		json_object *prev = json_object_object_get(last_message(r->h,
		    &role), "content");
		size_t k;

		for (k = 0; json_object_is_type(prev, json_type_array) &&
		    k < json_object_array_length(content); k++)
			json_object_array_add(prev, json_object_get(
			    json_object_array_get_idx(content, k)));
		json_object_put(content);
	} else
		history_append_assistant(r->h, content);
	json_object_object_add(r->h, "last_input_tokens", json_object_new_int64(
	    cm.input_tokens + cm.cache_read_tokens + cm.cache_creation_tokens));
	if (save(c, r->h) == -1) {
		claude_msg_free(&cm);
		return fail_save(c);
	}
	d = json_object_new_object();
	json_object_object_add(d, "stop_reason", json_object_new_string(
	    cm.stop_reason[0] ? cm.stop_reason : "end_turn"));
	json_object_object_add(d, "usage", usage_json(cm.input_tokens,
	    cm.output_tokens, cm.cache_creation_tokens, cm.cache_read_tokens,
	    models_cost(mi, cm.input_tokens, cm.output_tokens,
	    cm.cache_creation_tokens, cm.cache_read_tokens) +
	    (double)cm.web_search_requests * MODELS_WEB_SEARCH_USD));
	if (cm.web_search_requests > 0)
		json_object_object_add(json_object_object_get(d, "usage"),
		    "web_search_requests", json_object_new_int64(cm.web_search_requests));
	emit(c, "message.stop", d);
	account(c, &cm, mi);
	if (strcmp(cm.stop_reason, "pause_turn") == 0) {
		/* A server tool's loop paused: sent back as it is, Claude goes on. */
		claude_msg_free(&cm);
		return STEP_REQUEST;
	}
	uses = tool_uses(last_message(r->h, &role));
	ntools = (int)json_object_array_length(uses);
	json_object_put(uses);
	if (strcmp(cm.stop_reason, "tool_use") != 0 || ntools == 0) {
		enum step s = end_with(c, "finished", "run.finished",
		    cm.stop_reason[0] ? cm.stop_reason : "end_turn");

		claude_msg_free(&cm);
		return s;
	}
	claude_msg_free(&cm);
	return STEP_TOOLS;
}

static enum step
step_tools(struct run_ctx *c, struct run *r)
{
	const char	*role;
	int		 rc;

	set_step(c, "tools");
	rc = run_tools(c, r->h, last_message(r->h, &role));
	if (rc == 1)
		return STEP_DONE;	/* parked: the answer brings it back */
	if (rc == -1)
		return fail_save(c);
	if (c->cancelled)
		return end_with(c, "cancelled", "run.cancelled", NULL);
	return STEP_REQUEST;
}

/*
 * The runner is quitting (stop, reload, pool shrink): at a step boundary
 * the run goes back to the queue for another runner instead of holding
 * this one until RUNNER_DRAIN_TIMEOUT. 1 handed off.
 */
static int
hand_off(struct run_ctx *c)
{
	int	 rc;

	rc = sched_handoff(c->app->store, c->app->cfg, c->sid, c->run_id,
	    c->fence, c->job_id);
	if (rc == 2)
		c->lost = 1;
	if (rc != 1)
		return 0;
	c->parked = 1;
	log_kv(LOG_INFO, "run handed off: this runner is quitting", "s:run_id",
	    c->run_id, NULL);
	return 1;
}

void
agent_run(struct run_ctx *c)
{
	struct run	 r;
	enum step	 s;

	memset(&r, 0, sizeof(r));
	notice_hist = &r.h;
	for (s = STEP_BEGIN; s != STEP_DONE && !c->lost;) {
		if (s != STEP_BEGIN && worker_quitting() && hand_off(c))
			break;
		switch (s) {
		case STEP_BEGIN:
			s = step_begin(c, &r);
			break;
		case STEP_REQUEST:
			s = step_request(c, &r);
			break;
		case STEP_TOOLS:
			s = step_tools(c, &r);
			break;
		default:
			s = STEP_DONE;
			break;
		}
	}
	notice_hist = NULL;
	if (r.h != NULL)
		json_object_put(r.h);
	tools_set_free(cur_tools);
	cur_tools = NULL;
	/* The next run (another session) sets its own network policy. */
	sandbox_set_network(0);
	sandbox_standby_drop();
}
