#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

#include "config.h"
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
	snprintf(s->errstr, sizeof(s->errstr), "%s", what);
	s->errors++;
	metrics_inc(M_REDIS_ERRORS);
}

static int
store_connect(struct store *s)
{
	const struct config	*cfg = s->cfg;
	struct timeval		 tv;
	redisReply		*r;
	char			 db[16];

	tv.tv_sec = s->timeout_ms / 1000;
	tv.tv_usec = (s->timeout_ms % 1000) * 1000;
	if (cfg->redis_unix != NULL)
		s->c = redisConnectUnixWithTimeout(cfg->redis_unix, tv);
	else
		s->c = redisConnectWithTimeout(cfg->redis_host, cfg->redis_port, tv);
	if (s->c == NULL || s->c->err) {
		store_fail(s, s->c ? s->c->errstr : "out of memory");
		store_close(s);
		return -1;
	}
	/* hiredis 0.14 has no CLOEXEC option; sandboxed children must not inherit it. */
	fcntl(s->c->fd, F_SETFD, FD_CLOEXEC);
	redisSetTimeout(s->c, tv);
	if (cfg->redis_password != NULL && *cfg->redis_password != '\0') {
		r = redisCommand(s->c, "AUTH %s", cfg->redis_password);
		if (r == NULL || r->type == REDIS_REPLY_ERROR) {
			store_fail(s, r ? "authentication failed" :
			    (s->c->errstr[0] ? s->c->errstr : "AUTH failed"));
			if (r != NULL)
				freeReplyObject(r);
			store_close(s);
			return -1;
		}
		freeReplyObject(r);
	}
	if (cfg->redis_db != 0) {
		snprintf(db, sizeof(db), "%d", cfg->redis_db);
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

/* Is this failure one where Redis cannot have run the command? */
static int
stale_connection(const redisContext *c)
{
	return c->err == REDIS_ERR_EOF ||
	    (c->err == REDIS_ERR_IO && (errno == EPIPE || errno == ECONNRESET));
}

redisReply *
store_cmd(struct store *s, int argc, const char **argv, const size_t *lens)
{
	redisReply	*r;
	time_t		 now;
	int		 attempt, fresh;

	for (attempt = 0; attempt < 2; attempt++) {
		fresh = 0;
		if (s->c == NULL) {
			if (store_connect(s) == -1) {
				s->last = STORE_ERR_CONN;
				return NULL;
			}
			fresh = 1;
		}
		r = redisCommandArgv(s->c, argc, argv, lens);
		if (r != NULL) {
			if (r->type != REDIS_REPLY_ERROR) {
				s->last = STORE_OK;
				return r;
			}
			/*
			 * An error reply is a failure, never a result: the
			 * caller sees NULL and s->errstr/s->last say why.
			 */
			store_fail(s, r->str != NULL ? r->str : "error reply");
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
			freeReplyObject(r);
			return NULL;
		}
		store_fail(s, s->c->errstr[0] ? s->c->errstr : "connection lost");
		s->last = STORE_ERR_CONN;
		log_kv(LOG_WARNING, "redis command failed", "s:error", s->errstr,
		    NULL);
		if (fresh || !stale_connection(s->c)) {
			store_close(s);
			return NULL;
		}
		store_close(s);
	}
	return NULL;
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
