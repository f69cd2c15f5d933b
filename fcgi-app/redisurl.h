/*
 * redisurl: REDIS_URL, parsed. The forms (docs/redis.md):
 *
 *   redis://[user[:password]@]host[:port][/db]        host: name, IPv4, [IPv6]
 *   unix:///path/to/redis.sock[?db=N]
 *   redis+sentinel://[user[:password]@]h1[:p1],h2[:p2],[v6]:p3/MASTER[/db]
 *
 * user and password are percent-decoded (%40 is '@'); everything up to the
 * last '@' is the userinfo, so a raw '@', ':' or '/' in a password works too.
 * Ports default to 6379 (26379 for sentinels), db to 0 (0-15). rediss://
 * (TLS) is refused: Debian's hiredis 0.14 has no TLS (use a stunnel client,
 * docs/redis.md).
 *
 * struct redisurl owns user and password (heap, wiped when freed); the rest
 * is inline. Error texts never hold the password.
 */
#ifndef CW_REDISURL_H
#define CW_REDISURL_H

#include <stddef.h>

#define REDISURL_MAX_SENTINELS	8
#define REDISURL_HOST_MAX	256
#define REDISURL_PATH_MAX	108	/* sun_path */
#define REDISURL_NAME_MAX	128	/* a sentinel master name */
#define REDISURL_MAX_DB		15
#define REDISURL_SENTINEL_PORT	26379

enum redisurl_kind {
	REDISURL_TCP = 0,
	REDISURL_UNIX,
	REDISURL_SENTINEL
};

struct redisurl_node {
	char	host[REDISURL_HOST_MAX];	/* without the IPv6 brackets */
	int	port;
};

struct redisurl {
	enum redisurl_kind	 kind;
	struct redisurl_node	 node;		/* TCP: the server */
	char			 path[REDISURL_PATH_MAX];	/* UNIX */
	struct redisurl_node	 sentinel[REDISURL_MAX_SENTINELS];
	int			 nsentinels;
	char			 master[REDISURL_NAME_MAX];	/* SENTINEL */
	int			 db;
	char			*user;		/* NULL: the default user */
	char			*password;	/* secret; NULL: none in the URL */
};

/*
 * Fills *u (zeroed first). 0 on success; -1 with a message in err (never
 * the password) and *u left empty.
 */
int	redisurl_parse(const char *url, struct redisurl *u, char *err,
	    size_t errlen);
/* Frees user and password (the password wiped first); *u becomes empty. */
void	redisurl_free(struct redisurl *u);
/*
 * url with the password (everything after the first ':' of the userinfo)
 * replaced by "***", for messages. Truncated to fit out.
 */
void	redisurl_redact(const char *url, char *out, size_t outlen);
/* "host:port" or "[v6]:port" of a node, for messages. */
void	redisurl_node_str(const struct redisurl_node *, char *out,
	    size_t outlen);

#endif
