#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "redisurl.h"

#define FORMS	"expected redis://[user[:password]@]host[:port][/db], " \
		"unix:///path/redis.sock[?db=N] or " \
		"redis+sentinel://[user[:password]@]host[:port],.../MASTER[/db]"

static int
fail(struct redisurl *u, char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int
fail(struct redisurl *u, char *err, size_t errlen, const char *fmt, ...)
{
	va_list	 ap;

	redisurl_free(u);
	if (err != NULL && errlen > 0) {
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return -1;
}

static int
hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Percent-decodes s[0..len) into a new string; NULL on a bad escape or %00. */
static char *
pct_decode(const char *s, size_t len)
{
	char	*out, *o;
	size_t	 i;
	int	 hi, lo;

	if ((out = malloc(len + 1)) == NULL)
		return NULL;
	for (i = 0, o = out; i < len; i++) {
		if (s[i] != '%') {
			*o++ = s[i];
			continue;
		}
		if (i + 2 >= len)
			goto bad;
		if ((hi = hexval((unsigned char)s[i + 1])) == -1 ||
		    (lo = hexval((unsigned char)s[i + 2])) == -1 ||
		    (hi == 0 && lo == 0))
			goto bad;
		*o++ = (char)(hi << 4 | lo);
		i += 2;
	}
	*o = '\0';
	return out;
bad:
	free(out);
	return NULL;
}

/* Decimal in [lo, hi] spelling the whole of s[0..len); -1 otherwise. */
static int
number(const char *s, size_t len, int lo, int hi, int *out)
{
	long	 v = 0;
	size_t	 i;

	if (len == 0 || len > 6)
		return -1;
	for (i = 0; i < len; i++) {
		if (!isdigit((unsigned char)s[i]))
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	if (v < lo || v > hi)
		return -1;
	*out = (int)v;
	return 0;
}

static int
host_char(int c)
{
	return isalnum(c) || c == '.' || c == '-' || c == '_';
}

/*
 * One "host[:port]" or "[v6][:port]" of s[0..len). 0, or -1 with a reason
 * in why.
 */
static int
parse_node(const char *s, size_t len, int defport, struct redisurl_node *n,
    const char **why)
{
	const char	*end = s + len, *h, *he, *p;
	size_t		 i;

	n->port = defport;
	if (len > 0 && s[0] == '[') {
		h = s + 1;
		if ((he = memchr(h, ']', (size_t)(end - h))) == NULL) {
			*why = "an IPv6 address misses its ']'";
			return -1;
		}
		p = he + 1;
		if (he == h || memchr(h, ':', (size_t)(he - h)) == NULL) {
			*why = "the brackets must hold an IPv6 address";
			return -1;
		}
		for (i = 0; i < (size_t)(he - h); i++)
			if (!isxdigit((unsigned char)h[i]) && h[i] != ':' &&
			    h[i] != '.' && h[i] != '%' &&
			    !isalnum((unsigned char)h[i])) {
				*why = "bad character in an IPv6 address";
				return -1;
			}
	} else {
		h = s;
		he = memchr(s, ':', len);
		if (he == NULL)
			he = end;
		p = he;
		if (he != end && memchr(he + 1, ':', (size_t)(end - he - 1))) {
			*why = "an IPv6 address goes in brackets: [::1]:6379";
			return -1;
		}
		if (he == h) {
			*why = "a host is missing";
			return -1;
		}
		for (i = 0; i < (size_t)(he - h); i++)
			if (!host_char((unsigned char)h[i])) {
				*why = "bad character in a host name "
				    "(an IPv6 address goes in brackets: [::1]:6379)";
				return -1;
			}
	}
	if ((size_t)(he - h) >= sizeof(n->host)) {
		*why = "a host name is too long";
		return -1;
	}
	memcpy(n->host, h, (size_t)(he - h));
	n->host[he - h] = '\0';
	if (p == end)
		return 0;
	if (*p != ':' || number(p + 1, (size_t)(end - p - 1), 1, 65535,
	    &n->port) == -1) {
		*why = "a port must be a number from 1 to 65535";
		return -1;
	}
	return 0;
}

static int
parse_unix(const char *url, struct redisurl *u, char *err, size_t errlen)
{
	const char	*p = url + strlen("unix://"), *q;
	size_t		 len;

	u->kind = REDISURL_UNIX;
	if (*p != '/')
		return fail(u, err, errlen, "unix:// needs an absolute path "
		    "(unix:///path/redis.sock)");
	q = strchr(p, '?');
	len = q != NULL ? (size_t)(q - p) : strlen(p);
	if (len >= sizeof(u->path))
		return fail(u, err, errlen, "the socket path is longer than "
		    "%zu bytes", sizeof(u->path) - 1);
	memcpy(u->path, p, len);
	u->path[len] = '\0';
	if (q == NULL)
		return 0;
	if (strncmp(q + 1, "db=", 3) != 0 || number(q + 4, strlen(q + 4), 0,
	    REDISURL_MAX_DB, &u->db) == -1)
		return fail(u, err, errlen, "the only parameter of unix:// is "
		    "?db=N (0-%d)", REDISURL_MAX_DB);
	return 0;
}

static int
parse_userinfo(const char *s, size_t len, struct redisurl *u)
{
	const char	*colon = memchr(s, ':', len);
	size_t		 ulen = colon != NULL ? (size_t)(colon - s) : len;

	if (ulen > 0 && (u->user = pct_decode(s, ulen)) == NULL)
		return -1;
	if (colon != NULL && (u->password = pct_decode(colon + 1,
	    len - ulen - 1)) == NULL)
		return -1;
	if (u->password != NULL && *u->password == '\0') {
		free(u->password);
		u->password = NULL;
	}
	return 0;
}

int
redisurl_parse(const char *url, struct redisurl *u, char *err, size_t errlen)
{
	const char	*rest, *at, *slash, *hend, *p, *comma, *why = "";
	size_t		 len;

	memset(u, 0, sizeof(*u));
	if (err != NULL && errlen > 0)
		*err = '\0';
	if (url == NULL || *url == '\0')
		return fail(u, err, errlen, "empty; " FORMS);
	if (strncmp(url, "unix://", 7) == 0)
		return parse_unix(url, u, err, errlen);
	if (strncmp(url, "rediss://", 9) == 0 ||
	    strncmp(url, "rediss+sentinel://", 18) == 0)
		return fail(u, err, errlen, "rediss:// (TLS) is not supported: "
		    "this hiredis has no TLS; run a stunnel client next to "
		    "claude-web and point REDIS_URL at its local port "
		    "(docs/redis.md, \"TLS\")");
	if (strncmp(url, "redis://", 8) == 0) {
		u->kind = REDISURL_TCP;
		rest = url + 8;
	} else if (strncmp(url, "redis+sentinel://", 17) == 0) {
		u->kind = REDISURL_SENTINEL;
		rest = url + 17;
	} else
		return fail(u, err, errlen, FORMS);

	/* The userinfo runs to the last '@': passwords may hold any byte. */
	if ((at = strrchr(rest, '@')) != NULL) {
		if (parse_userinfo(rest, (size_t)(at - rest), u) == -1)
			return fail(u, err, errlen, "bad %%-escape in the user "
			    "or password (%%XX, not %%00)");
		rest = at + 1;
	}
	if (strchr(rest, '?') != NULL || strchr(rest, '#') != NULL)
		return fail(u, err, errlen, "parameters (?...) are only "
		    "accepted by unix:// (?db=N)");
	slash = strchr(rest, '/');
	hend = slash != NULL ? slash : rest + strlen(rest);

	if (u->kind == REDISURL_TCP) {
		if (parse_node(rest, (size_t)(hend - rest), 6379, &u->node,
		    &why) == -1)
			return fail(u, err, errlen, "%s", why);
		if (slash != NULL && slash[1] != '\0' && number(slash + 1,
		    strlen(slash + 1), 0, REDISURL_MAX_DB, &u->db) == -1)
			return fail(u, err, errlen, "the database must be a "
			    "number from 0 to %d", REDISURL_MAX_DB);
		return 0;
	}

	/* Sentinels: host[:port] separated by commas. */
	for (p = rest; p < hend; p = comma + 1) {
		if ((comma = memchr(p, ',', (size_t)(hend - p))) == NULL)
			comma = hend;
		if (u->nsentinels == REDISURL_MAX_SENTINELS)
			return fail(u, err, errlen, "more than %d sentinels",
			    REDISURL_MAX_SENTINELS);
		if (parse_node(p, (size_t)(comma - p), REDISURL_SENTINEL_PORT,
		    &u->sentinel[u->nsentinels], &why) == -1)
			return fail(u, err, errlen, "sentinel %d: %s",
			    u->nsentinels + 1, why);
		u->nsentinels++;
		if (comma == hend)
			break;
	}
	if (u->nsentinels == 0)
		return fail(u, err, errlen, "redis+sentinel:// needs at least "
		    "one sentinel host[:port]");
	if (slash == NULL || slash[1] == '\0' || slash[1] == '/')
		return fail(u, err, errlen, "redis+sentinel:// needs the "
		    "master's name after the hosts: .../MASTER[/db]");
	p = slash + 1;
	slash = strchr(p, '/');
	len = slash != NULL ? (size_t)(slash - p) : strlen(p);
	if (len >= sizeof(u->master))
		return fail(u, err, errlen, "the master name is longer than "
		    "%zu bytes", sizeof(u->master) - 1);
	for (hend = p; hend < p + len; hend++)
		if (!isgraph((unsigned char)*hend))
			return fail(u, err, errlen, "bad character in the "
			    "master name");
	memcpy(u->master, p, len);
	u->master[len] = '\0';
	if (slash != NULL && slash[1] != '\0' && number(slash + 1,
	    strlen(slash + 1), 0, REDISURL_MAX_DB, &u->db) == -1)
		return fail(u, err, errlen, "the database must be a number "
		    "from 0 to %d", REDISURL_MAX_DB);
	return 0;
}

void
redisurl_free(struct redisurl *u)
{
	if (u->password != NULL) {
		explicit_bzero(u->password, strlen(u->password));
		free(u->password);
	}
	free(u->user);
	memset(u, 0, sizeof(*u));
}

void
redisurl_redact(const char *url, char *out, size_t outlen)
{
	const char	*rest, *at, *colon;

	if (outlen == 0)
		return;
	if (url == NULL) {
		*out = '\0';
		return;
	}
	rest = strstr(url, "://");
	at = strrchr(url, '@');
	if (rest == NULL || at == NULL || at < rest) {
		snprintf(out, outlen, "%s", url);
		return;
	}
	rest += 3;
	colon = memchr(rest, ':', (size_t)(at - rest));
	if (colon == NULL) {
		snprintf(out, outlen, "%s", url);
		return;
	}
	snprintf(out, outlen, "%.*s***%s", (int)(colon + 1 - url), url, at);
}

void
redisurl_node_str(const struct redisurl_node *n, char *out, size_t outlen)
{
	if (strchr(n->host, ':') != NULL)
		snprintf(out, outlen, "[%s]:%d", n->host, n->port);
	else
		snprintf(out, outlen, "%s:%d", n->host, n->port);
}
