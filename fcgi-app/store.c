#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>

#include <openssl/sha.h>

#include "config.h"
#include "keys.h"
#include "log.h"
#include "metrics.h"
#include "store.h"

void
store_init(struct store *s, const struct config *cfg, int timeout_ms)
{
	memset(s, 0, sizeof(*s));
	s->cfg = cfg;
	s->timeout_ms = timeout_ms;
}

void
store_close(struct store *s)
{
	if (s->c != NULL)
		redisFree(s->c);
	s->c = NULL;
}

static void
store_fail(struct store *s, const char *what)
{
	size_t	 n = strlen(what);

	if (n >= sizeof(s->errstr))
		n = sizeof(s->errstr) - 1;
	memcpy(s->errstr, what, n);
	s->errstr[n] = '\0';
	s->errors++;
	metrics_inc(M_REDIS_ERRORS);
}

static void
ms_tv(struct timeval *tv, int ms)
{
	tv->tv_sec = ms / 1000;
	tv->tv_usec = (ms % 1000) * 1000;
}

/*
 * A connection that could not be opened: logged once per distinct reason,
 * again after 10 s (a worker retries on every command while Redis is away).
 */
static void
conn_log(struct store *s)
{
	time_t	 now = time(NULL);
	char	 url[256];

	if (strcmp(s->conn_logged, s->errstr) == 0 &&
	    now - s->last_conn_log < 10)
		return;
	s->last_conn_log = now;
	snprintf(s->conn_logged, sizeof(s->conn_logged), "%s", s->errstr);
	redisurl_redact(s->cfg->redis_url, url, sizeof(url));
	log_kv(LOG_WARNING, "redis connect failed", "s:error", s->errstr,
	    "s:redis_url", url, NULL);
}

/* Opens a connection (path: unix socket, else host:port) bounded by ms. */
static redisContext *
open_ctx(const char *host, int port, const char *path, int ms)
{
	struct timeval	 tv;
	redisContext	*c;
	int		 tries;

	ms_tv(&tv, ms);
	for (tries = 0;; tries++) {
		if (path != NULL)
			c = redisConnectUnixWithTimeout(path, tv);
		else
			c = redisConnectWithTimeout(host, port, tv);
		/*
		 * hiredis' connect wait (poll) fails on a signal: the api
		 * worker's slow-request timer (worker.c) may land there. Once
		 * more, then it is a real failure.
		 */
		if (tries == 0 && c != NULL && c->err == REDIS_ERR_IO &&
		    strstr(c->errstr, "nterrupted") != NULL) {
			redisFree(c);
			continue;
		}
		break;
	}
	if (c == NULL || c->err)
		return c;
	/* hiredis 0.14 has no CLOEXEC option; sandboxed children must not inherit it. */
	fcntl(c->fd, F_SETFD, FD_CLOEXEC);
	redisSetTimeout(c, tv);
	return c;
}

/*
 * AUTH [user] password. 0, or -1 with s->errstr set to the server's reason
 * (never the password).
 */
static int
auth(struct store *s, redisContext *c, const char *user, const char *pw,
    const char *who)
{
	const char	*argv[3];
	size_t		 lens[3];
	int		 argc = 0;
	redisReply	*r;
	char		 why[128];
	int		 i;

	argv[argc++] = "AUTH";
	if (user != NULL)
		argv[argc++] = user;
	argv[argc++] = pw;
	for (i = 0; i < argc; i++)
		lens[i] = strlen(argv[i]);
	r = redisCommandArgv(c, argc, argv, lens);
	if (r != NULL && r->type != REDIS_REPLY_ERROR) {
		freeReplyObject(r);
		return 0;
	}
	if (r != NULL)
		snprintf(why, sizeof(why), "%s authentication failed%s%s%s: %.80s",
		    who, user ? " (user " : "", user ? user : "", user ? ")" : "",
		    r->str != NULL ? r->str : "error reply");
	else
		snprintf(why, sizeof(why), "%s AUTH: %.80s", who,
		    c->errstr[0] ? c->errstr : "connection lost");
	store_fail(s, why);
	if (r != NULL)
		freeReplyObject(r);
	return -1;
}

/*
 * Asks the sentinels, in order, where the master is. 0 with host/port set,
 * or -1 with s->errstr saying why (the last sentinel's reason).
 */
static int
sentinel_master(struct store *s, char *host, size_t hostsz, int *port)
{
	const struct config		*cfg = s->cfg;
	const struct redisurl_node	*n;
	redisContext			*c;
	redisReply			*r;
	char				 where[REDISURL_HOST_MAX + 8], why[192];
	const char			*argv[3];
	size_t				 lens[3];
	int				 i, ms, ok;

	/* Sentinels answer from memory: a short bound each, then the next. */
	ms = s->timeout_ms / 2;
	ms = ms < 100 ? 100 : ms > 500 ? 500 : ms;
	argv[0] = "SENTINEL";
	argv[1] = "get-master-addr-by-name";
	argv[2] = cfg->redis.master;
	for (i = 0; i < 3; i++)
		lens[i] = strlen(argv[i]);
	snprintf(why, sizeof(why), "no sentinel");
	for (i = 0; i < cfg->redis.nsentinels; i++) {
		n = &cfg->redis.sentinel[i];
		redisurl_node_str(n, where, sizeof(where));
		c = open_ctx(n->host, n->port, NULL, ms);
		if (c == NULL || c->err) {
			snprintf(why, sizeof(why), "sentinel %.60s: %.60s", where,
			    c ? c->errstr : "out of memory");
			if (c != NULL)
				redisFree(c);
			continue;
		}
		if (cfg->redis_sentinel_password != NULL && auth(s, c, NULL,
		    cfg->redis_sentinel_password, "sentinel") == -1) {
			snprintf(why, sizeof(why), "sentinel %.60s: %.60s", where,
			    s->errstr);
			redisFree(c);
			continue;
		}
		r = redisCommandArgv(c, 3, argv, lens);
		ok = r != NULL && r->type == REDIS_REPLY_ARRAY &&
		    r->elements == 2 &&
		    r->element[0]->type == REDIS_REPLY_STRING &&
		    r->element[1]->type == REDIS_REPLY_STRING &&
		    r->element[0]->len < hostsz &&
		    (*port = atoi(r->element[1]->str)) > 0 && *port < 65536;
		if (ok)
			snprintf(host, hostsz, "%s", r->element[0]->str);
		else if (r == NULL)
			snprintf(why, sizeof(why), "sentinel %.60s: %.60s", where,
			    c->errstr[0] ? c->errstr : "no answer");
		else if (r->type == REDIS_REPLY_NIL)
			snprintf(why, sizeof(why), "sentinel %.60s does not know "
			    "master %.40s", where, cfg->redis.master);
		else
			snprintf(why, sizeof(why), "sentinel %.60s: %.60s", where,
			    r->type == REDIS_REPLY_ERROR && r->str ? r->str :
			    "unexpected reply");
		if (r != NULL)
			freeReplyObject(r);
		redisFree(c);
		if (ok)
			return 0;
	}
	store_fail(s, why);
	return -1;
}

/* The server says ROLE master (or will not tell this ACL user). */
static int
check_master(struct store *s, const char *where)
{
	redisReply	*r;
	char		 why[128];
	int		 ok;

	r = redisCommand(s->c, "ROLE");
	if (r == NULL) {
		store_fail(s, s->c->errstr[0] ? s->c->errstr : "ROLE failed");
		return -1;
	}
	if (r->type == REDIS_REPLY_ERROR)
		ok = r->str != NULL && strncmp(r->str, "NOPERM", 6) == 0;
	else
		ok = r->type == REDIS_REPLY_ARRAY && r->elements > 0 &&
		    r->element[0]->type == REDIS_REPLY_STRING &&
		    strcmp(r->element[0]->str, "master") == 0;
	if (!ok) {
		snprintf(why, sizeof(why), "%.80s is not a master (failover in "
		    "progress?)", where);
		store_fail(s, why);
	}
	freeReplyObject(r);
	return ok ? 0 : -1;
}

static int
store_connect(struct store *s)
{
	const struct config	*cfg = s->cfg;
	const struct redisurl	*u = &cfg->redis;
	redisReply		*r;
	char			 db[16], host[REDISURL_HOST_MAX];
	char			 where[REDISURL_HOST_MAX + 8] = "";
	struct redisurl_node	 m;
	int			 port = 0;

	if (u->kind == REDISURL_SENTINEL) {
		if (sentinel_master(s, host, sizeof(host), &port) == 0) {
			snprintf(s->master_host, sizeof(s->master_host), "%s",
			    host);
			s->master_port = port;
		} else if (s->master_host[0] == '\0')
			return -1;
		/* No sentinel answered: the last master found, if still one. */
		snprintf(m.host, sizeof(m.host), "%s", s->master_host);
		m.port = s->master_port;
		redisurl_node_str(&m, where, sizeof(where));
		s->c = open_ctx(m.host, m.port, NULL, s->timeout_ms);
	} else if (s->node_port > 0) {
		/* The cluster node a MOVED named; else the URL's node again. */
		s->c = open_ctx(s->node_host, s->node_port, NULL, s->timeout_ms);
		if (s->c == NULL || s->c->err) {
			if (s->c != NULL)
				redisFree(s->c);
			s->node_port = 0;
			s->c = u->kind == REDISURL_UNIX ?
			    open_ctx(NULL, 0, u->path, s->timeout_ms) :
			    open_ctx(u->node.host, u->node.port, NULL,
			    s->timeout_ms);
		}
	} else if (u->kind == REDISURL_UNIX)
		s->c = open_ctx(NULL, 0, u->path, s->timeout_ms);
	else
		s->c = open_ctx(u->node.host, u->node.port, NULL,
		    s->timeout_ms);
	if (s->c == NULL || s->c->err) {
		store_fail(s, s->c ? s->c->errstr : "out of memory");
		store_close(s);
		return -1;
	}
	if (u->password != NULL && auth(s, s->c, u->user, u->password,
	    "redis") == -1) {
		store_close(s);
		return -1;
	}
	if (u->kind == REDISURL_SENTINEL) {
		if (check_master(s, where) == -1) {
			store_close(s);
			return -1;
		}
		/* Which master this process uses, when it changes. */
		if (strcmp(where, s->master) != 0) {
			log_kv(LOG_INFO, "redis master", "s:master", where,
			    "s:previous", s->master[0] ? s->master : NULL,
			    "s:sentinel_master", u->master, NULL);
			snprintf(s->master, sizeof(s->master), "%s", where);
		}
	}
	if (u->db != 0) {
		snprintf(db, sizeof(db), "%d", u->db);
		r = redisCommand(s->c, "SELECT %s", db);
		if (r == NULL || r->type == REDIS_REPLY_ERROR) {
			store_fail(s, "SELECT failed");
			if (r != NULL)
				freeReplyObject(r);
			store_close(s);
			return -1;
		}
		freeReplyObject(r);
	}
	return 0;
}

/*
 * An error reply from a server that is no longer (or not yet) the master:
 * READONLY (a write on a replica), UNBLOCKED (a blocking read cut off by a
 * demotion), MASTERDOWN (a replica that lost its master).
 */
static int
not_master_reply(const char *e)
{
	return strncmp(e, "READONLY", 8) == 0 ||
	    strncmp(e, "UNBLOCKED", 9) == 0 ||
	    strncmp(e, "MASTERDOWN", 10) == 0;
}

/*
 * A cluster redirect, "MOVED slot host:port" or "ASK slot host:port": 1
 * (MOVED) or 2 (ASK) with host and port set, else 0. An empty host (Redis
 * 7 may send ":port") is the host of the current connection.
 */
static int
redirect_reply(const struct store *s, const char *e, char *host, size_t hostsz,
    int *port)
{
	const char	*p, *colon;
	int		 kind;
	long		 v;
	char		*end;

	if (strncmp(e, "MOVED ", 6) == 0) {
		kind = 1;
		p = e + 6;
	} else if (strncmp(e, "ASK ", 4) == 0) {
		kind = 2;
		p = e + 4;
	} else
		return 0;
	p += strspn(p, "0123456789");
	if (*p++ != ' ' || (colon = strrchr(p, ':')) == NULL)
		return 0;
	v = strtol(colon + 1, &end, 10);
	if (end == colon + 1 || *end != '\0' || v <= 0 || v > 65535 ||
	    (size_t)(colon - p) >= hostsz)
		return 0;
	if (colon == p) {
		if (s->node_port > 0)
			snprintf(host, hostsz, "%s", s->node_host);
		else if (s->cfg->redis.kind == REDISURL_TCP)
			snprintf(host, hostsz, "%s", s->cfg->redis.node.host);
		else
			return 0;
	} else {
		memcpy(host, p, colon - p);
		host[colon - p] = '\0';
	}
	*port = (int)v;
	return kind;
}

/* -ASK: ASKING, then the command, once, on a connection of its own. */
static redisReply *
ask_once(struct store *s, const char *host, int port, int argc,
    const char **argv, const size_t *lens)
{
	const struct redisurl	*u = &s->cfg->redis;
	redisContext		*c;
	redisReply		*r = NULL;

	c = open_ctx(host, port, NULL, s->timeout_ms);
	if (c == NULL || c->err) {
		store_fail(s, c ? c->errstr : "out of memory");
		if (c != NULL)
			redisFree(c);
		return NULL;
	}
	log_kv(LOG_DEBUG, "redis cluster ask", "s:node", host,
	    "s:command", argc > 0 ? argv[0] : "", NULL);
	if (u->password == NULL || auth(s, c, u->user, u->password,
	    "redis") == 0) {
		if ((r = redisCommand(c, "ASKING")) != NULL) {
			freeReplyObject(r);
			r = redisCommandArgv(c, argc, argv, lens);
		}
		if (r == NULL)
			store_fail(s, c->errstr[0] ? c->errstr : "connection lost");
	}
	redisFree(c);
	return r;
}

/*
 * Has the server closed this idle connection (a restart, a failover, its
 * idle timeout)? Asked before a command goes out, so such a connection is
 * replaced while nothing has been sent on it. Unsolicited bytes (nothing
 * is outstanding on a synchronous connection) mean it is out of step:
 * replaced too.
 */
static int
conn_closed(const redisContext *c)
{
	ssize_t	 n;
	char	 b;

	if (c->fd < 0)
		return 1;
	n = recv(c->fd, &b, 1, MSG_PEEK | MSG_DONTWAIT);
	if (n >= 0)
		return 1;
	return errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR;
}

/* Commands that only read: running one twice changes nothing. */
static int
read_only(int argc, const char **argv)
{
	static const char *const ro[] = { "GET", "MGET", "HGET", "HGETALL",
	    "HMGET", "HEXISTS", "HLEN", "EXISTS", "TTL", "PTTL", "TYPE",
	    "STRLEN", "LRANGE", "LLEN", "LINDEX", "SMEMBERS", "SISMEMBER",
	    "SCARD", "ZRANGE", "ZRANGEBYSCORE", "ZREVRANGE", "ZSCORE", "ZCARD",
	    "ZCOUNT", "XRANGE", "XREVRANGE", "XLEN", "XINFO", "XPENDING",
	    "XREAD", "SCAN", "PING", "INFO", "DBSIZE", "TIME", "ROLE" };
	size_t	 i;

	if (argc < 1 || argv[0] == NULL)
		return 0;
	for (i = 0; i < sizeof(ro) / sizeof(ro[0]); i++)
		if (strcasecmp(argv[0], ro[i]) == 0)
			return 1;
	return 0;
}

/*
 * Did the connection break (errno as the command failed): the server closed
 * it or reset it? A timeout is not a broken connection.
 */
static int
conn_broken(const redisContext *c, int err)
{
	return c->err == REDIS_ERR_EOF ||
	    (c->err == REDIS_ERR_IO && (err == EPIPE || err == ECONNRESET));
}

/*
 * The connection broke under a command (errno as it failed): may it go
 * out again on a new one? When Redis cannot have run it (EPIPE: the peer
 * closed before the command was whole), or when running it twice does no
 * harm (a read). A reply that never came (EOF, a reset while reading) may
 * follow a write that ran: that one is not sent again blindly, the caller
 * sees the error (an event append carries a token for its own retries,
 * events_append_tok; queueing a run is idempotent by its id, sched_queue).
 * A timeout is not a broken connection: never sent again.
 */
static int
may_resend(const redisContext *c, int err, int argc, const char **argv)
{
	if (c->err == REDIS_ERR_IO && err == EPIPE)
		return 1;
	return conn_broken(c, err) && read_only(argc, argv);
}

/* Before a command: a connection the server closed is dropped (store_close). */
static void
drop_if_closed(struct store *s)
{
	if (s->c != NULL && conn_closed(s->c)) {
		log_kv(LOG_DEBUG, "redis connection closed by the server; "
		    "reconnecting", NULL);
		store_close(s);
	}
}

/*
 * Error replies that mean the server ran nothing of the command and it is
 * safe to send it again (by store_cmd): a script it does not know, a
 * cluster redirect, a server that is not the master (any more).
 */
static int
ran_nothing_reply(const char *e)
{
	return strncmp(e, "NOSCRIPT", 8) == 0 || strncmp(e, "MOVED ", 6) == 0 ||
	    strncmp(e, "ASK ", 4) == 0 || not_master_reply(e);
}

static redisReply *
cmd_raw(struct store *s, int argc, const char **argv, const size_t *lens)
{
	redisReply	*r;
	time_t		 now;
	char		 host[REDISURL_HOST_MAX];
	int		 attempt, fresh, rk, port, err;

	for (attempt = 0; attempt < 2; attempt++) {
		fresh = 0;
		drop_if_closed(s);
		if (s->c == NULL) {
			if (store_connect(s) == -1) {
				s->last = STORE_ERR_CONN;
				conn_log(s);
				return NULL;
			}
			fresh = 1;
			/*
			 * The {c} slot moved: writes made while it migrated may
			 * have missed dropping a session's list summary (its
			 * hash could be on the other node already), so every
			 * summary goes; the next pages build them again.
			 */
			if (s->moved) {
				s->moved = 0;
				if ((r = redisCommand(s->c, "UNLINK %s",
				    CW_KEY_SUMMARIES)) != NULL)
					freeReplyObject(r);
			}
		}
		r = redisCommandArgv(s->c, argc, argv, lens);
		err = errno;
		if (r != NULL) {
			if (r->type != REDIS_REPLY_ERROR) {
				s->last = STORE_OK;
				return r;
			}
			/*
			 * EVALSHA of a script this server has not cached yet
			 * (new process, restart, failover, SCRIPT FLUSH): not
			 * a failure, store_cmd sends EVAL next.
			 */
			if (r->str != NULL && (strncmp(r->str, "NOSCRIPT", 8) == 0 ||
			    strncmp(r->str, "NOPERM", 6) == 0) &&
			    argc > 0 && strcmp(argv[0], "EVALSHA") == 0) {
				snprintf(s->errstr, sizeof(s->errstr), "%.100s",
				    r->str);
				s->last = STORE_ERR_REPLY;
				freeReplyObject(r);
				return NULL;
			}
			/*
			 * An error reply is a failure, never a result: the
			 * caller sees NULL and s->errstr/s->last say why.
			 */
			store_fail(s, r->str != NULL ? r->str : "error reply");
			/* Cluster: the slot is served elsewhere; the node ran nothing. */
			rk = redirect_reply(s, s->errstr, host, sizeof(host), &port);
			if (rk == 1 && attempt == 0) {
				log_kv(LOG_INFO, "redis cluster redirect",
				    "s:moved", s->errstr, NULL);
				freeReplyObject(r);
				store_close(s);
				snprintf(s->node_host, sizeof(s->node_host), "%s",
				    host);
				s->node_port = port;
				s->moved = 1;
				continue;
			}
			if (rk == 2) {
				freeReplyObject(r);
				if ((r = ask_once(s, host, port, argc, argv,
				    lens)) == NULL) {
					s->last = STORE_ERR_CONN;
					return NULL;
				}
				if (r->type != REDIS_REPLY_ERROR) {
					s->last = STORE_OK;
					return r;
				}
				store_fail(s, r->str != NULL ? r->str :
				    "error reply");
			}
			s->last = strncmp(s->errstr, "OOM", 3) == 0 ?
			    STORE_ERR_OOM : STORE_ERR_REPLY;
			/* Every kind of reply, but an OOM storm once a second. */
			now = time(NULL);
			if (s->last == STORE_ERR_REPLY || now != s->last_oom_log) {
				if (s->last == STORE_ERR_OOM)
					s->last_oom_log = now;
				log_kv(LOG_WARNING, "redis error reply", "s:error",
				    s->errstr, "s:command", argc > 0 ? argv[0] : "",
				    NULL);
			}
			/* A restarted Redis may demand AUTH again. */
			if (strncmp(s->errstr, "NOAUTH", 6) == 0)
				store_close(s);
			/*
			 * Not the master any more (failover): find the new one.
			 * A write a replica refused ran nothing: once more.
			 */
			if (not_master_reply(s->errstr)) {
				store_close(s);
				s->last = STORE_ERR_CONN;
				if (!fresh && strncmp(s->errstr, "READONLY",
				    8) == 0) {
					freeReplyObject(r);
					continue;
				}
			}
			freeReplyObject(r);
			return NULL;
		}
		store_fail(s, s->c->errstr[0] ? s->c->errstr : "connection lost");
		s->last = STORE_ERR_CONN;
		log_kv(LOG_WARNING, "redis command failed", "s:error", s->errstr,
		    NULL);
		if (fresh || !may_resend(s->c, err, argc, argv)) {
			store_close(s);
			return NULL;
		}
		store_close(s);
	}
	return NULL;
}

/*
 * Scripts by SHA1: each script text's digest is computed once per process
 * (the cache keeps a copy of the text, so a buffer reused for another
 * script never gets a stale digest), EVAL becomes EVALSHA, and a server
 * without the script (-NOSCRIPT) gets EVAL once, which also caches it
 * there for the next EVALSHA.
 */
#define SHA_CACHE	64

static struct sha_entry {
	const char	*ptr;	/* the caller's text, compared by address ... */
	char		*copy;	/* ... and by content (owned by the cache) */
	size_t		 len;
	char		 hex[41];
} sha_cache[SHA_CACHE];
static int	 sha_n;

/* The script's SHA1 in hex into out (41 bytes). */
static void
script_sha(const char *text, size_t len, char *out)
{
	static const char hex[] = "0123456789abcdef";
	unsigned char	 md[SHA_DIGEST_LENGTH];
	struct sha_entry *e;
	int		 i;

	for (i = 0; i < sha_n; i++) {
		e = &sha_cache[i];
		if (e->ptr == text && e->len == len &&
		    memcmp(e->copy, text, len) == 0) {
			memcpy(out, e->hex, 41);
			return;
		}
	}
	SHA1((const unsigned char *)text, len, md);
	for (i = 0; i < SHA_DIGEST_LENGTH; i++) {
		out[2 * i] = hex[md[i] >> 4];
		out[2 * i + 1] = hex[md[i] & 0xf];
	}
	out[40] = '\0';
	/* A full cache only costs a digest per call. */
	if (sha_n < SHA_CACHE && (sha_cache[sha_n].copy = malloc(len + 1)) != NULL) {
		e = &sha_cache[sha_n++];
		memcpy(e->copy, text, len);
		e->copy[len] = '\0';
		e->ptr = text;
		e->len = len;
		memcpy(e->hex, out, 41);
	}
}

#define STORE_ARGV_MAX	128

/*
 * An ACL user without +evalsha (docs/redis.md's line before EVALSHA):
 * this process says EVAL from then on, and says why once.
 */
static int	 evalsha_refused;

static void
evalsha_refused_now(struct store *s)
{
	evalsha_refused = 1;
	log_kv(LOG_WARNING, "redis refuses EVALSHA to this user: scripts go "
	    "by EVAL (add +evalsha to its ACL, docs/redis.md)", "s:error",
	    s->errstr, NULL);
}

/*
 * EVAL script ... → EVALSHA sha ... in argv2/lens2 (caller's arrays of
 * STORE_ARGV_MAX), sha into hex. 1 when rewritten, else 0.
 */
static int
to_evalsha(int argc, const char **argv, const size_t *lens, const char **argv2,
    size_t *lens2, char *hex)
{
	size_t	 slen;
	int	 i;

	if (evalsha_refused || argc < 3 || argc > STORE_ARGV_MAX ||
	    strcmp(argv[0], "EVAL") != 0)
		return 0;
	slen = lens != NULL ? lens[1] : strlen(argv[1]);
	script_sha(argv[1], slen, hex);
	argv2[0] = "EVALSHA";
	lens2[0] = 7;
	argv2[1] = hex;
	lens2[1] = 40;
	for (i = 2; i < argc; i++) {
		argv2[i] = argv[i];
		lens2[i] = lens != NULL ? lens[i] : strlen(argv[i]);
	}
	return 1;
}

redisReply *
store_cmd(struct store *s, int argc, const char **argv, const size_t *lens)
{
	const char	*argv2[STORE_ARGV_MAX];
	size_t		 lens2[STORE_ARGV_MAX];
	char		 hex[41];
	redisReply	*r;

	if (!to_evalsha(argc, argv, lens, argv2, lens2, hex))
		return cmd_raw(s, argc, argv, lens);
	if ((r = cmd_raw(s, argc, argv2, lens2)) != NULL)
		return r;
	if (store_error_is(s, "NOPERM"))
		evalsha_refused_now(s);
	else if (!store_error_is(s, "NOSCRIPT"))
		return NULL;
	return cmd_raw(s, argc, argv, lens);
}

/*
 * For a connection driven outside store_cmd (the stream loop's watch): when
 * e is "MOVED slot host:port", the next connect goes to that node. 1 when
 * it was a MOVED, else 0.
 */
int
store_follow_moved(struct store *s, const char *e)
{
	char	 host[sizeof(s->node_host)];
	int	 port;

	if (e == NULL || redirect_reply(s, e, host, sizeof(host), &port) != 1)
		return 0;
	log_kv(LOG_INFO, "redis cluster redirect", "s:moved", e, NULL);
	snprintf(s->node_host, sizeof(s->node_host), "%s", host);
	s->node_port = port;
	return 1;
}

/*
 * may_resend for a pipeline. Of several commands the first ones may have
 * run before the peer closed (EPIPE proves nothing then): only reads.
 */
static int
pipe_may_resend(const redisContext *c, int err, int n,
    const struct store_pcmd *cmds)
{
	int	 i;

	if (n == 1)
		return may_resend(c, err, cmds[0].argc, cmds[0].argv);
	if (!conn_broken(c, err))
		return 0;
	for (i = 0; i < n; i++)
		if (!read_only(cmds[i].argc, cmds[i].argv))
			return 0;
	return 1;
}

/*
 * Pipeline: every command written, then every reply read, one round trip.
 * A reply saying the server ran nothing (NOSCRIPT, a redirect, not the
 * master) is followed by that command alone through store_cmd, which
 * knows what to do; any other error reply is that command's failure.
 */
int
store_pipe(struct store *s, int n, const struct store_pcmd *cmds,
    redisReply **out)
{
	const char	*argv2[STORE_ARGV_MAX];
	size_t		 lens2[STORE_ARGV_MAX];
	char		 hex[41];
	redisReply	*r;
	void		*rp;
	int		 i, attempt, fresh, ok = 1, got, err;

	for (i = 0; i < n; i++)
		out[i] = NULL;
	for (attempt = 0; attempt < 2; attempt++) {
		fresh = 0;
		drop_if_closed(s);
		if (s->c == NULL) {
			if (store_connect(s) == -1) {
				s->last = STORE_ERR_CONN;
				conn_log(s);
				return -1;
			}
			fresh = 1;
		}
		for (i = 0; i < n; i++) {
			if (to_evalsha(cmds[i].argc, cmds[i].argv, cmds[i].lens,
			    argv2, lens2, hex))
				redisAppendCommandArgv(s->c, cmds[i].argc, argv2,
				    lens2);
			else
				redisAppendCommandArgv(s->c, cmds[i].argc,
				    cmds[i].argv, cmds[i].lens);
		}
		err = 0;
		for (got = 0; got < n; got++) {
			rp = NULL;
			if (redisGetReply(s->c, &rp) != REDIS_OK || rp == NULL) {
				err = errno;
				break;
			}
			out[got] = rp;
		}
		if (got == n)
			break;
		/* Connection lost: nothing usable; once more if nothing ran. */
		for (i = 0; i < got; i++) {
			freeReplyObject(out[i]);
			out[i] = NULL;
		}
		store_fail(s, s->c->errstr[0] ? s->c->errstr : "connection lost");
		s->last = STORE_ERR_CONN;
		log_kv(LOG_WARNING, "redis command failed", "s:error", s->errstr,
		    NULL);
		if (fresh || got > 0 || !pipe_may_resend(s->c, err, n, cmds)) {
			store_close(s);
			return -1;
		}
		store_close(s);
	}
	if (attempt == 2)
		return -1;
	s->last = STORE_OK;
	for (i = 0; i < n; i++) {
		r = out[i];
		if (r->type != REDIS_REPLY_ERROR)
			continue;
		out[i] = NULL;
		if (r->str != NULL && (ran_nothing_reply(r->str) ||
		    (strncmp(r->str, "NOPERM", 6) == 0 &&
		    strcmp(cmds[i].argv[0], "EVAL") == 0))) {
			freeReplyObject(r);
			if ((out[i] = store_cmd(s, cmds[i].argc, cmds[i].argv,
			    cmds[i].lens)) == NULL)
				ok = 0;
			continue;
		}
		store_fail(s, r->str != NULL ? r->str : "error reply");
		s->last = strncmp(s->errstr, "OOM", 3) == 0 ? STORE_ERR_OOM :
		    STORE_ERR_REPLY;
		log_kv(LOG_WARNING, "redis error reply", "s:error", s->errstr,
		    "s:command", cmds[i].argc > 0 ? cmds[i].argv[0] : "", NULL);
		if (strncmp(s->errstr, "NOAUTH", 6) == 0)
			store_close(s);
		freeReplyObject(r);
		ok = 0;
	}
	return ok ? 0 : -1;
}

redisReply *
store_cmdv(struct store *s, const char *arg0, ...)
{
	const char	*argv[32];
	size_t		 lens[32];
	int		 argc = 0;
	va_list		 ap;
	const char	*a;

	va_start(ap, arg0);
	for (a = arg0; a != NULL && argc < 32; a = va_arg(ap, const char *)) {
		argv[argc] = a;
		lens[argc++] = strlen(a);
	}
	va_end(ap);
	return store_cmd(s, argc, argv, lens);
}

redisReply *
store_cmdf(struct store *s, const char *fmt, ...)
{
	const char	*argv[16];
	size_t		 lens[16];
	char		 copy[256], *save = NULL, *tok;
	int		 argc = 0;
	va_list		 ap;

	/* Only literal words: split the formatted text on spaces. */
	va_start(ap, fmt);
	vsnprintf(copy, sizeof(copy), fmt, ap);
	va_end(ap);
	for (tok = strtok_r(copy, " ", &save); tok != NULL && argc < 16;
	    tok = strtok_r(NULL, " ", &save)) {
		argv[argc] = tok;
		lens[argc++] = strlen(tok);
	}
	return store_cmd(s, argc, argv, lens);
}

int
store_ping(struct store *s, double *ms)
{
	struct timespec	 a, b;
	redisReply	*r;
	int		 ok;

	clock_gettime(CLOCK_MONOTONIC, &a);
	r = store_cmdf(s, "PING");
	clock_gettime(CLOCK_MONOTONIC, &b);
	*ms = (double)(b.tv_sec - a.tv_sec) * 1e3 +
	    (double)(b.tv_nsec - a.tv_nsec) / 1e6;
	ok = r != NULL && r->type == REDIS_REPLY_STATUS;
	if (r != NULL)
		freeReplyObject(r);
	return ok ? 0 : -1;
}

int
store_error_is(const struct store *s, const char *prefix)
{
	return s->last != STORE_OK && strncmp(s->errstr, prefix,
	    strlen(prefix)) == 0;
}
