/*
 * Fuzzes the REDIS_URL parser. Invariants (abort on violation):
 *   - a refused URL leaves the struct empty (no user, no password) and a
 *     non-empty message;
 *   - an accepted one has a kind that matches its scheme, ports 1-65535,
 *     db 0-15, NUL-terminated fields, 1..8 sentinels and a master name for
 *     redis+sentinel://;
 *   - when the parser found a password, the redacted URL has ":***" right
 *     before its last '@' and the same text after it.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "redisurl.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
node_ok(const struct redisurl_node *n)
{
	if (memchr(n->host, '\0', sizeof(n->host)) == NULL || n->host[0] == '\0' ||
	    n->port < 1 || n->port > 65535)
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct redisurl	 u;
	char		*url, err[256], red[1024];
	const char	*at, *uat;
	const char	*sch;
	int		 i, rc;

	if (size > 900)
		return 0;
	if ((url = malloc(size + 1)) == NULL)
		return 0;
	memcpy(url, data, size);
	url[size] = '\0';
	rc = redisurl_parse(url, &u, err, sizeof(err));
	if (rc == -1) {
		if (err[0] == '\0' || u.user != NULL || u.password != NULL ||
		    u.nsentinels != 0)
			abort();
		free(url);
		return 0;
	}
	if (rc != 0 || u.db < 0 || u.db > REDISURL_MAX_DB)
		abort();
	sch = strncmp(url, "unix://", 7) == 0 ? "unix" :
	    strncmp(url, "redis://", 8) == 0 ? "tcp" :
	    strncmp(url, "redis+sentinel://", 17) == 0 ? "sentinel" : NULL;
	switch (u.kind) {
	case REDISURL_UNIX:
		if (sch == NULL || strcmp(sch, "unix") != 0 || u.path[0] != '/' ||
		    memchr(u.path, '\0', sizeof(u.path)) == NULL)
			abort();
		break;
	case REDISURL_TCP:
		if (sch == NULL || strcmp(sch, "tcp") != 0)
			abort();
		node_ok(&u.node);
		break;
	case REDISURL_SENTINEL:
		if (sch == NULL || strcmp(sch, "sentinel") != 0 ||
		    u.nsentinels < 1 || u.nsentinels > REDISURL_MAX_SENTINELS ||
		    u.master[0] == '\0' ||
		    memchr(u.master, '\0', sizeof(u.master)) == NULL)
			abort();
		for (i = 0; i < u.nsentinels; i++)
			node_ok(&u.sentinel[i]);
		break;
	default:
		abort();
	}
	/* The redacted URL: ":***" right before its last '@', the rest kept. */
	redisurl_redact(url, red, sizeof(red));
	if (u.password != NULL) {
		at = strrchr(red, '@');
		uat = strrchr(url, '@');
		if (at == NULL || uat == NULL || at - red < 4 ||
		    memcmp(at - 4, ":***", 4) != 0 || strcmp(at, uat) != 0 ||
		    strncmp(red, url, 4) != 0)
			abort();
	}
	redisurl_free(&u);
	free(url);
	return 0;
}
