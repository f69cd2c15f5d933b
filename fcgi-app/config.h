/*
 * config: the whole configuration, read from the environment plus an
 * optional env-file (KEY=VALUE lines; the environment wins), validated in
 * one pass that lists every problem.
 *
 * struct config owns every string in it; config_free() releases them.
 * Secrets (SECRET_KEY, ANTHROPIC_API_KEY, REDIS_PASSWORD,
 * REDIS_SENTINEL_PASSWORD) may come from
 * NAME_FILE; their values are never written into a problem message.
 */
#ifndef CW_CONFIG_H
#define CW_CONFIG_H

#include <stddef.h>

#include "buf.h"
#include "redisurl.h"

#define CONFIG_EX_INVALID	78	/* EX_CONFIG from sysexits.h */

enum config_env {
	ENV_DEVELOPMENT = 0,
	ENV_STAGING,
	ENV_PRODUCTION
};

struct mcp_config;

struct config {
	/* Application */
	enum config_env	 environment;
	int		 debug;
	int		 log_level;		/* enum log_level */
	char		*log_file;		/* NULL: stderr */
	char		*pid_file;		/* NULL: none */

	/* Claude API */
	char		*anthropic_api_key;	/* secret; NULL when unset */
	char		*anthropic_base_url;
	char		*claude_model;
	char		*title_model;		/* auto titles; "off": derived locally */
	long long	 max_tokens;

	long long	 claude_max_retries;
	long long	 claude_retry_base_ms;
	long long	 claude_retry_max_seconds;
	long long	 claude_connect_timeout;	/* seconds */
	long long	 claude_stall_timeout;		/* seconds below 1 byte/s */
	long long	 claude_request_timeout;	/* seconds, whole transfer */
	long long	 claude_thinking_budget;	/* 0: thinking off */
	long long	 max_turns;			/* model calls per run */
	long long	 compact_threshold;		/* % of the context window */

	/* Runs and events */
	long long	 run_lock_ttl;			/* seconds */
	long long	 events_maxlen;
	long long	 events_max_bytes;		/* per session stream */
	long long	 job_max_deliveries;		/* then the run ends in error */
	long long	 sse_max_duration;		/* seconds */
	long long	 sse_ping_interval;		/* seconds */
	long long	 max_streams_per_user;		/* open event streams */

	/* Sandbox (bash tool) */
	char		*sandbox_bwrap;
	int		 sandbox_network;
	int		 sandbox_prewarm;		/* a standby sandbox */
	long long	 sandbox_timeout;		/* wall clock, seconds */
	long long	 sandbox_cpu_seconds;
	long long	 sandbox_memory_mb;		/* address space */
	long long	 sandbox_max_procs;
	long long	 sandbox_file_size_mb;
	long long	 sandbox_tmp_size_mb;
	long long	 sandbox_open_files;
	long long	 sandbox_output_limit;		/* bytes per stream */
	long long	 sandbox_memory_max_mb;		/* memory cgroup; 0 off */
	char		*sandbox_pasta;			/* SANDBOX_NETWORK=on */
	/* Network policy per session (netpolicy.h): enum netpolicy values */
	int		 network_policy_max_user;
	int		 network_policy_max_admin;
	int		 network_default_policy;
	char		*network_default_domains;	/* comma-joined, validated */
	long long	 web_search_max_uses;		/* per request */
	long long	 web_fetch_max_uses;		/* per request; 0: no web_fetch */
	long long	 web_fetch_max_content_tokens;
	/* MCP servers (mcp.h) */
	char		*mcp_servers_file;		/* NULL: none configured */
	char		*mcp_dir;			/* bound read-only in the sandbox */
	long long	 mcp_timeout;			/* seconds per exchange */
	struct mcp_config *mcp;				/* parsed; NULL: none */
	long long	 session_disk_quota_mb;		/* files/ of a session; 0 off */
	long long	 permission_timeout;		/* seconds */

	/* code-server */
	char		*code_server_role;		/* "admin" or "user" */
	char		*code_server_url;		/* health probe base, or NULL */

	/* Redis */
	char		*redis_url;
	struct redisurl	 redis;			/* REDIS_URL parsed; password:
						   REDIS_PASSWORD[_FILE] wins */
	char		*redis_sentinel_password; /* secret; NULL when unset */
	long long	 redis_max_connections;

	/* Sessions and security */
	long long	 session_timeout;
	long long	 max_sessions;
	long long	 user_storage_quota_mb;	/* all of a user's sessions; 0 off */
	long long	 session_delete_wait;	/* seconds for a run to stop */
	char		*allowed_origins;
	char		*secret_key;		/* secret */

	/* Workspace */
	char		*workspace_path;
	long long	 max_file_size;
	long long	 rate_limit_per_minute;
	long long	 login_rate_limit_per_minute;	/* attempts per client address */
	long long	 login_max_failures;		/* per (user, address) before lockout */
	long long	 login_lockout_seconds;		/* first lockout; failure window */
	long long	 login_lockout_max_seconds;	/* cap of the doubling lockout */
	long long	 login_slowdown_max_seconds;	/* cap of the per-user delay; 0 off */
	char		*health_details;		/* "admin" or "local" */

	/* Process model */
	char		*api_socket;
	char		*stream_socket;
	char		*api_listen;		/* "host:port" TCP listener, or NULL */
	char		*stream_listen;		/* "host:port" TCP listener, or NULL */
	char		*instance_id;		/* INSTANCE_ID (default: host name) */
	long long	 stop_drain_delay;	/* seconds ready says draining before a stop */
	int		 api_workers;
	int		 stream_workers;
	int		 stream_max_connections; /* per stream worker (its loop) */
	int		 runner_workers;	/* runners started (pm.start_servers) */
	int		 runner_min_spare;	/* idle runners kept at least */
	int		 runner_max_spare;	/* idle runners above this retire */
	int		 runner_max;		/* runners at most */
	long long	 runner_idle_grace;	/* seconds above max spare before retiring */
	/* Scheduler */
	int		 max_runs_per_user;	/* runs of one user using runners at once */
	int		 session_queue_max;	/* messages queued behind a session's run */
	long long	 max_requests;		/* 0: never recycle */
	long long	 request_timeout;	/* seconds, api pool */
	long long	 stream_timeout;	/* seconds, stream pool; 0 off */
	long long	 process_control_timeout; /* seconds */
	long long	 runner_drain_timeout;	/* seconds a quitting runner may finish its run */
	int		 allow_root;		/* run as root outside a container */
};

/*
 * Loads and validates. Returns the number of problems found (0 = valid);
 * each problem is appended to *problems as one line. On success the caller
 * owns cfg and frees it with config_free(); on failure cfg is freed here.
 */
int	config_load(struct config *cfg, const char *envfile, struct buf *problems);
void	config_free(struct config *);
const char *config_env_name(enum config_env);

/*
 * Parses "redis://[user:pass@]host[:port][/db]" or "unix:///path[?db=N]"
 * (redisurl.c; kept for the tests, refuses redis+sentinel://).
 */
int	config_parse_hostport(const char *s, char *host, size_t hostsz,
	    int *port);
int	config_parse_redis_url(const char *url, char **host, int *port,
	    char **unixpath, int *db, char **password);

/* Checked decimal parse of the whole string; -1 on junk or overflow. */
int	config_parse_ll(const char *s, long long *out);
int	config_parse_bool(const char *s, int *out);

#endif
