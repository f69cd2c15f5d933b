/*
 * mcp: Model Context Protocol servers configured by the admin
 * (MCP_SERVERS_FILE), enabled per session, their tools offered to Claude.
 *
 * Two kinds:
 *  - "stdio": a command (argv, never a shell string from model input) run
 *    INSIDE the session's sandbox (sandbox_run_io: the same bwrap, seccomp,
 *    rlimits and cgroup as bash; /workspace is the session's files; MCP_DIR
 *    bound read-only) speaking JSON-RPC 2.0 over newline-delimited stdio.
 *    Lifecycle: one process per exchange. tools/list runs once per server
 *    configuration (initialize, notifications/initialized, tools/list with
 *    its pages, exit) in an empty probe workspace; the sanitised list is
 *    cached in WORKSPACE_PATH/.mcp/<server>-<config hash>.json, so the
 *    declarations are byte-stable across turns and sessions. Each
 *    tools/call starts a fresh process in the session's sandbox
 *    (initialize, notifications/initialized, tools/call, kill). Bounded:
 *    MCP_TIMEOUT per exchange, 1 MiB per message, 8 MiB of output per
 *    exchange, MCP_MAX_TOOLS tools per server, 16 KiB per input schema.
 *  - "url": a remote server reached by Anthropic through the Messages API
 *    MCP connector (mcp_servers in the request, beta header
 *    mcp-client-2025-04-04); its mcp_tool_use / mcp_tool_result blocks come
 *    back in the answer and stay in the history.
 *
 * Tool names offered to Claude: mcp__<server>__<tool>.
 */
#ifndef CW_MCP_H
#define CW_MCP_H

#include <stddef.h>

#include <json-c/json.h>

#include "buf.h"

#define MCP_NAME_MAX		32	/* [a-z0-9_-] */
#define MCP_MAX_SERVERS		16
#define MCP_MAX_TOOLS		64	/* per server */
#define MCP_MSG_MAX		(1024 * 1024)	/* one JSON-RPC message */
#define MCP_OUTPUT_MAX		(8 * 1024 * 1024) /* one exchange's stdout */
#define MCP_SCHEMA_MAX		(16 * 1024)
#define MCP_DESC_MAX		1024
#define MCP_TOOL_NAME_MAX	64	/* the whole mcp__s__t name */
#define MCP_PROTOCOL_VERSION	"2025-06-18"
#define MCP_CONNECTOR_BETA	"mcp-client-2025-04-04"
/* A session's enabled servers, comma-separated, as stored. */
#define MCP_LIST_MAX		(MCP_MAX_SERVERS * (MCP_NAME_MAX + 1) + 1)

struct config;

enum mcp_type {
	MCP_STDIO = 0,
	MCP_URL
};

/* A server's "templates": at most 16 names of at most 100 characters. */
#define MCP_TEMPLATES_MAX	16
#define MCP_TEMPLATES_LEN	(MCP_TEMPLATES_MAX * 101 + 2)

struct mcp_server {
	char		 name[MCP_NAME_MAX + 1];
	enum mcp_type	 type;
	char		**argv;		/* stdio: NULL-terminated */
	char		**env;		/* stdio: "NAME=value", NULL-terminated (secret) */
	int		 enabled_by_default;
	char		 templates[MCP_TEMPLATES_LEN]; /* ",a,b,": templates that enable it */
	char		*url;		/* url */
	char		*token;		/* url: authorization token (secret) or NULL */
	char		 hash[17];	/* of the stdio configuration (cache key) */
};

struct mcp_config {
	struct mcp_server	*servers;
	int			 n;
};

/*
 * Reads and validates path (a JSON object {"servers": [...]}); every
 * problem is appended to problems as one line "MCP_SERVERS_FILE: ...".
 * Returns the number of problems; on 0, *out is set (caller frees).
 */
int	mcp_config_load(const char *path, struct mcp_config **out,
	    struct buf *problems);
void	mcp_config_free(struct mcp_config *);

const struct mcp_server *mcp_find(const struct config *, const char *name);

/*
 * Validates a JSON array of server names (from the API) into the stored
 * comma-separated form (sorted as configured, duplicates dropped). 0, or
 * -1 with err set (a name that is not configured, not a string, ...).
 */
int	mcp_names_from_json(const struct config *, json_object *arr,
	    char *out, size_t cap, char *err, size_t errcap);
/* The servers enabled_by_default, comma-separated. */
void	mcp_default_names(const struct config *, char *out, size_t cap);
/*
 * The servers a session created from template tpl starts with: those
 * enabled_by_default and those whose "templates" name tpl (NULL: none).
 */
void	mcp_template_names(const struct config *, const char *tpl, char *out,
	    size_t cap);
/* The stored list as a JSON array (names no longer configured dropped). */
json_object *mcp_names_json(const struct config *, const char *list);
/* Is name in the comma-separated list? */
int	mcp_list_has(const char *list, const char *name);

/*
 * The sanitised tools of a stdio server: a JSON array of
 * {"name": "mcp__s__t", "tool": t, "description", "input_schema"}
 * (new reference), from the cache or by running the server once; NULL
 * with err set when the server could not be listed.
 */
json_object *mcp_server_tools(const struct config *, const struct mcp_server *,
	    int (*should_abort)(void *), void *arg, char *err, size_t errcap);

/*
 * tools/call of tool on a stdio server inside the session's sandbox.
 * The text of the result goes to out; *content (when not NULL on return:
 * a new JSON array of content blocks) is set when the result has an
 * image. detail gets server, tool, duration_ms and what went wrong.
 * Returns 1 when the result is an error (isError, timeout, ...), else 0.
 */
int	mcp_call(const struct config *, const char *sid,
	    const struct mcp_server *, const char *tool, json_object *args,
	    int (*should_abort)(void *), void *arg, struct buf *out,
	    json_object **content, json_object *detail);

/*
 * The Messages API connector list for the session's enabled url servers
 * (a new array), or NULL when there are none.
 */
json_object *mcp_connector_servers(const struct config *, const char *list);

/*
 * Adds the tools of the session's enabled stdio servers (list) to a run's
 * toolset as dynamic entries (class network, card "mcp", executor
 * mcp_call). A server that cannot be listed is left out (logged).
 */
struct toolset;
void	mcp_toolset_add(struct toolset *, const struct config *, const char *list,
	    int (*should_abort)(void *), void *arg);

/*
 * GET /api/mcp/servers: names, types, tool names (no commands, env, tokens).
 * probe 0 (the API): from the cache only, never starting a server (a
 * listing can take MCP_TIMEOUT; runs list the servers they use); an
 * unlisted server has tools null and an error saying why.
 */
json_object *mcp_servers_json(const struct config *, int probe);

/*
 * For fuzzing and tests: bytes as a server's stdout in chunks of chunk
 * bytes, to a tools/list (list != 0) or tools/call exchange whose requests
 * go to /dev/null; the result is sanitised or converted as a real one.
 */
void	mcp_feed_output(const char *p, size_t n, size_t chunk, int list);

/* "mcp__server__tool" → server and tool; 0, or -1 when not an MCP name. */
int	mcp_split_name(const char *name, char *server, size_t scap,
	    char *tool, size_t tcap);

#endif
