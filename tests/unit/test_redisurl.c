/*
 * redisurl_parse(): every REDIS_URL form (TCP with and without ACL user,
 * IPv6, unix socket, sentinel lists), percent-decoding of the user and
 * password, the refusals (rediss://, bad ports and dbs, junk) and that no
 * error text and no redacted URL holds the password.
 */
#include <stdio.h>
#include <string.h>

#include "redisurl.h"
#include "tap.h"

static char	 err[256];

static int
parse(const char *url, struct redisurl *u)
{
	return redisurl_parse(url, u, err, sizeof(err));
}

/* Refused, with a message that does not hold needle (a password). */
static void
refused(const char *url, const char *needle, const char *want, const char *d)
{
	struct redisurl	 u;
	int		 rc = parse(url, &u);

	ok(rc == -1 && err[0] != '\0' && (needle == NULL ||
	    strstr(err, needle) == NULL) && (want == NULL ||
	    strstr(err, want) != NULL) && u.user == NULL &&
	    u.password == NULL, "%s", d);
	if (rc != -1 || (want != NULL && strstr(err, want) == NULL))
		printf("#   error: %s\n", err);
	redisurl_free(&u);
}

int
main(void)
{
	struct redisurl	 u;
	char		 red[256];

	/* TCP */
	ok(parse("redis://localhost", &u) == 0 && u.kind == REDISURL_TCP &&
	    strcmp(u.node.host, "localhost") == 0 && u.node.port == 6379 &&
	    u.db == 0 && u.user == NULL && u.password == NULL,
	    "redis://host: port 6379, db 0, no auth");
	redisurl_free(&u);
	ok(parse("redis://:pw@cache:6380/2", &u) == 0 &&
	    strcmp(u.node.host, "cache") == 0 && u.node.port == 6380 &&
	    u.db == 2 && u.user == NULL && strcmp(u.password, "pw") == 0,
	    "redis://:password@host:port/db (default user)");
	redisurl_free(&u);
	ok(parse("redis://claude-web:s3cret@10.0.0.5:6379/0", &u) == 0 &&
	    strcmp(u.user, "claude-web") == 0 &&
	    strcmp(u.password, "s3cret") == 0 &&
	    strcmp(u.node.host, "10.0.0.5") == 0, "ACL user and password");
	redisurl_free(&u);
	ok(parse("redis://alice@h", &u) == 0 && strcmp(u.user, "alice") == 0 &&
	    u.password == NULL, "a user without a password in the URL");
	redisurl_free(&u);
	ok(parse("redis://u%3Ax:p%40ss%2Fw%3Ard%25@h/3", &u) == 0 &&
	    strcmp(u.user, "u:x") == 0 && strcmp(u.password, "p@ss/w:rd%") == 0 &&
	    u.db == 3, "user and password are percent-decoded");
	redisurl_free(&u);
	ok(parse("redis://u:p@s:s/w@rd@host:7000/1", &u) == 0 &&
	    strcmp(u.user, "u") == 0 && strcmp(u.password, "p@s:s/w@rd") == 0 &&
	    strcmp(u.node.host, "host") == 0 && u.node.port == 7000 && u.db == 1,
	    "raw '@', ':' and '/' in a password (the last '@' ends it)");
	redisurl_free(&u);
	ok(parse("redis://h/", &u) == 0 && u.db == 0, "redis://host/ is db 0");
	redisurl_free(&u);
	ok(parse("redis://[::1]:6390/4", &u) == 0 &&
	    strcmp(u.node.host, "::1") == 0 && u.node.port == 6390 && u.db == 4,
	    "IPv6 in brackets");
	redisurl_free(&u);
	ok(parse("redis://[fe80::1%eth0]", &u) == 0 &&
	    strcmp(u.node.host, "fe80::1%eth0") == 0 && u.node.port == 6379,
	    "IPv6 with a zone, default port");
	redisurl_node_str(&u.node, red, sizeof(red));
	is_str(red, "[fe80::1%eth0]:6379", "an IPv6 node prints in brackets");
	redisurl_free(&u);

	/* unix */
	ok(parse("unix:///run/redis.sock?db=3", &u) == 0 &&
	    u.kind == REDISURL_UNIX && strcmp(u.path, "/run/redis.sock") == 0 &&
	    u.db == 3, "unix:///path?db=N");
	redisurl_free(&u);
	ok(parse("unix:///run/redis.sock", &u) == 0 && u.db == 0,
	    "unix:///path is db 0");
	redisurl_free(&u);

	/* sentinel */
	ok(parse("redis+sentinel://s1,s2:26380,[::1]:26381/mymaster/2", &u) == 0 &&
	    u.kind == REDISURL_SENTINEL && u.nsentinels == 3 &&
	    strcmp(u.sentinel[0].host, "s1") == 0 && u.sentinel[0].port == 26379 &&
	    strcmp(u.sentinel[1].host, "s2") == 0 && u.sentinel[1].port == 26380 &&
	    strcmp(u.sentinel[2].host, "::1") == 0 && u.sentinel[2].port == 26381 &&
	    strcmp(u.master, "mymaster") == 0 && u.db == 2,
	    "redis+sentinel:// with three sentinels, a master name and a db");
	redisurl_free(&u);
	ok(parse("redis+sentinel://cw:pw@127.0.0.1:26379/m", &u) == 0 &&
	    strcmp(u.user, "cw") == 0 && strcmp(u.password, "pw") == 0 &&
	    u.nsentinels == 1 && u.db == 0 && strcmp(u.master, "m") == 0,
	    "sentinel URL with an ACL user, one sentinel, db 0");
	redisurl_free(&u);

	/* refusals */
	refused("rediss://:pw@h:6380/0", "pw", "stunnel", "rediss:// refused, "
	    "pointing to stunnel");
	refused("http://h", NULL, "expected", "another scheme refused");
	refused("", NULL, NULL, "empty refused");
	refused("redis://host:99999/0", NULL, "port", "port out of range");
	refused("redis://host:0", NULL, "port", "port 0");
	refused("redis://host:/0", NULL, "port", "empty port");
	refused("redis://host/16", NULL, "database", "db out of range");
	refused("redis://host/x", NULL, "database", "db not a number");
	refused("redis://host/1/2", NULL, "database", "junk after the db");
	refused("redis://::1:6379", NULL, "bracket", "a bare IPv6 address");
	refused("redis://[::1:6379", NULL, "]", "an unclosed bracket");
	refused("redis://[h]:1", NULL, "IPv6", "brackets without an IPv6 address");
	refused("redis://:topsecret@", "topsecret", "host", "no host");
	refused("redis://:topsecret@h/0?x=1", "topsecret", "parameters",
	    "parameters on redis://");
	refused("redis://:bad%zzsecret@h", "secret", "escape", "a bad %-escape");
	refused("redis://:nul%00x@h", NULL, "escape", "%00 refused");
	refused("redis://:x%4@h", NULL, "escape", "a cut %-escape");
	refused("redis://ho st", NULL, "host", "a space in the host");
	refused("unix://relative.sock", NULL, "absolute", "a relative socket");
	refused("unix:///r.sock?db=99", NULL, "db", "unix db out of range");
	refused("unix:///r.sock?timeout=3", NULL, "db", "another unix parameter");
	refused("redis+sentinel://s1,s2", NULL, "master", "sentinel URL "
	    "without a master name");
	refused("redis+sentinel://s1//0", NULL, "master", "empty master name");
	refused("redis+sentinel:///m", NULL, "sentinel", "no sentinels");
	refused("redis+sentinel://s1,,s2/m", NULL, "host", "an empty sentinel");
	refused("redis+sentinel://s1:70000/m", NULL, "port", "a sentinel port "
	    "out of range");
	refused("redis+sentinel://a,b,c,d,e,f,g,h,i/m", NULL, "sentinels",
	    "too many sentinels");
	refused("redis+sentinel://s/m/17", NULL, "database", "sentinel db out "
	    "of range");
	{
		char	 longpath[200];

		memset(longpath, 'a', sizeof(longpath));
		memcpy(longpath, "unix:///", 8);
		longpath[sizeof(longpath) - 1] = '\0';
		refused(longpath, NULL, "longer", "a socket path too long");
	}

	/* redaction */
	redisurl_redact("redis://cw:topsecret@h:1/0", red, sizeof(red));
	is_str(red, "redis://cw:***@h:1/0", "redacted: ACL user kept, password "
	    "masked");
	redisurl_redact("redis://:a:b@c@h", red, sizeof(red));
	is_str(red, "redis://:***@h", "redacted: a password with ':' and '@'");
	redisurl_redact("redis+sentinel://u:p@s1,s2/m", red, sizeof(red));
	is_str(red, "redis+sentinel://u:***@s1,s2/m", "redacted: sentinel URL");
	redisurl_redact("redis://h:6379/0", red, sizeof(red));
	is_str(red, "redis://h:6379/0", "redacted: nothing to hide");
	redisurl_redact("redis://alice@h", red, sizeof(red));
	is_str(red, "redis://alice@h", "redacted: a user alone is kept");
	return done_testing();
}
