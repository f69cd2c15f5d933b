/*
 * store: this process's one Redis connection (hiredis), created after fork.
 *
 * The connection is opened lazily and re-opened on the next command after
 * any error, so a Redis that restarts or pauses never wedges a worker: a
 * command either answers within the command timeout or fails, and the one
 * after Redis returns works. Replies are owned by the caller and released
 * with freeReplyObject().
 *
 * Opening a connection (REDIS_URL, redisurl.h): connect, AUTH [user]
 * password, SELECT db. With redis+sentinel:// the sentinels are asked in
 * order (each bounded by a short connect/read timeout) for the master's
 * address, and the server found must say ROLE master; when no sentinel
 * answers, the last master found is tried. A reply that says the server
 * is no longer the master (-READONLY, -UNBLOCKED, -MASTERDOWN) closes the
 * connection like a connection error does, so the next command finds the
 * current master; a -READONLY write is retried once at once on the new
 * connection (the replica ran nothing).
 *
 * Redis Cluster (hiredis 0.14 has no cluster support): a -MOVED slot
 * host:port reply makes the connection move to that node (kept for the
 * next commands; if it cannot be reached, the URL's node is asked again)
 * and the command is sent there once; -ASK host:port sends ASKING and the
 * command once on a connection of its own. claude-web's keys all share one
 * slot (keys.h), so REDIS_URL may name any node of the cluster.
 */
#ifndef CW_STORE_H
#define CW_STORE_H

#include <hiredis/hiredis.h>

#include "redisurl.h"

struct config;

enum store_status {
	STORE_OK = 0,
	STORE_ERR_CONN,		/* unreachable, timed out, connection lost */
	STORE_ERR_OOM,		/* -OOM: Redis is at maxmemory (noeviction) */
	STORE_ERR_REPLY		/* any other error reply (-NOGROUP, -ERR ...) */
};

struct store {
	redisContext		*c;
	enum store_status	 last;		/* outcome of the last command */
	const struct config	*cfg;
	int			 timeout_ms;
	char			 errstr[128];	/* last failure, for health */
	unsigned long		 errors;
	long long		 last_oom_log;	/* time(): OOM logged once a second */
	long long		 last_conn_log;	/* time() of the last connect failure logged */
	char			 conn_logged[128]; /* ... and its text */
	char			 master[REDISURL_HOST_MAX + 8]; /* sentinel: "host:port" in use */
	char			 master_host[REDISURL_HOST_MAX]; /* sentinel: last master found */
	int			 master_port;
	char			 node_host[REDISURL_HOST_MAX]; /* cluster: node a MOVED named */
	int			 node_port;	/* ... 0: the URL's node */
	int			 moved;		/* followed a MOVED: drop derived keys */
};

void		 store_init(struct store *, const struct config *, int timeout_ms);
void		 store_close(struct store *);
/*
 * Runs one command (argv form: user data never goes through a format
 * string). Returns the reply (caller frees), or NULL when Redis is
 * unreachable or answered with an error reply (-OOM, -NOGROUP, -ERR ...):
 * an error reply is never handed to a caller. s->last says which kind of
 * failure, s->errstr its text (logged here). A command that
 * fails because a stale connection was closed is retried once on a fresh
 * connection: the server never received it.
 */
redisReply	*store_cmd(struct store *, int argc, const char **argv,
		    const size_t *lens);
/*
 * Scripts: a command "EVAL script numkeys ..." is sent as EVALSHA with the
 * script's SHA1 (computed once per process); a server that answers
 * -NOSCRIPT (restarted, failed over, SCRIPT FLUSH, another cluster node)
 * gets the EVAL once, which caches it there. Callers just say EVAL.
 */
struct store_pcmd {
	int		 argc;
	const char	**argv;
	const size_t	*lens;	/* NULL: NUL-terminated strings */
};
/*
 * n commands in one round trip (pipelined); out[i] gets the reply of
 * cmds[i] (caller frees each non-NULL), NULL for one that failed (as
 * store_cmd: an error reply is never handed out). A command the server
 * ran nothing of (-NOSCRIPT, a cluster redirect, not the master) is sent
 * again alone through store_cmd. 0 when every command has a reply, else -1.
 */
int		 store_pipe(struct store *, int n, const struct store_pcmd *cmds,
		    redisReply **out);
/* argv from NUL-terminated strings, NULL-terminated list. */
redisReply	*store_cmdv(struct store *, const char *arg0, ...)
		    __attribute__((sentinel));
/* Convenience for fixed-text commands without user data. */
redisReply	*store_cmdf(struct store *, const char *fmt, ...)
		    __attribute__((format(printf, 2, 3)));
/* 1 when the last command failed with an error reply starting prefix. */
int		 store_error_is(const struct store *, const char *prefix);
/* PING; returns 0 and the round-trip in *ms, or -1. */
int		 store_ping(struct store *, double *ms);

/* A MOVED error seen on s's connection outside store_cmd: follow it next. */
int	store_follow_moved(struct store *, const char *);

#endif
