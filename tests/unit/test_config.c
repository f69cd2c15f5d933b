#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "tap.h"

static char	 dir[] = "/tmp/cw-test-config-XXXXXX";

static const char *const vars[] = {
	"ENVIRONMENT", "DEBUG", "LOG_LEVEL", "LOG_FILE", "PID_FILE",
	"ANTHROPIC_API_KEY", "ANTHROPIC_API_KEY_FILE", "ANTHROPIC_BASE_URL",
	"CLAUDE_MODEL", "MAX_TOKENS", "REDIS_URL", "REDIS_PASSWORD",
	"REDIS_PASSWORD_FILE", "REDIS_MAX_CONNECTIONS", "SESSION_TIMEOUT",
	"MAX_SESSIONS", "ALLOWED_ORIGINS", "SECRET_KEY", "SECRET_KEY_FILE",
	"WORKSPACE_PATH", "MAX_FILE_SIZE", "RATE_LIMIT_PER_MINUTE", "API_SOCKET",
	"STREAM_SOCKET", "API_WORKERS", "STREAM_WORKERS", "STREAM_MAX_CONNECTIONS",
	"RUNNER_WORKERS",
	"MAX_REQUESTS", "REQUEST_TIMEOUT", "STREAM_TIMEOUT",
	"PROCESS_CONTROL_TIMEOUT", "LOGIN_RATE_LIMIT_PER_MINUTE", "LOGIN_MAX_FAILURES",
	"LOGIN_LOCKOUT_SECONDS",
};

static void
base_env(void)
{
	char	 p[256];
	size_t	 i;

	for (i = 0; i < sizeof(vars) / sizeof(vars[0]); i++)
		unsetenv(vars[i]);
	setenv("SECRET_KEY", "0123456789abcdef0123456789abcdef", 1);
	setenv("WORKSPACE_PATH", dir, 1);
	snprintf(p, sizeof(p), "%s/api.sock", dir);
	setenv("API_SOCKET", p, 1);
	snprintf(p, sizeof(p), "%s/stream.sock", dir);
	setenv("STREAM_SOCKET", p, 1);
}

static int
load(struct config *c, const char *file, struct buf *pr)
{
	buf_reset(pr);
	return config_load(c, file, pr);
}

static void
write_file(const char *path, const char *text)
{
	FILE	*fp = fopen(path, "w");

	fputs(text, fp);
	fclose(fp);
}

int
main(void)
{
	struct config	 c;
	struct buf	 pr;
	char		 file[256], secret[256];
	char		*host, *unixp, *pw;
	int		 port, db, n;

	if (mkdtemp(dir) == NULL)
		return 1;
	buf_init(&pr, 64 * 1024);

	base_env();
	ok(load(&c, NULL, &pr) == 0, "minimal valid environment loads");
	ok(c.api_workers == 4 && c.stream_workers == 2 && c.runner_workers == 2,
	    "pool sizes default to 4/2/2 (a stream worker serves many streams)");
	ok(c.stream_max_connections == 5000,
	    "STREAM_MAX_CONNECTIONS defaults to 5000");
	ok(c.max_file_size == 10485760 && c.rate_limit_per_minute == 120 &&
	    c.session_timeout == 3600 && c.max_sessions == 100,
	    "defaults from the original design");
	ok(c.environment == ENV_PRODUCTION, "ENVIRONMENT defaults to production");
	is_str(c.claude_model, "claude-sonnet-4-5", "CLAUDE_MODEL default is a real model id");
	config_free(&c);

	/* Every problem is listed, one per line, secrets never echoed. */
	base_env();
	setenv("SECRET_KEY", "tooshort-secret-value", 1);
	setenv("LOG_LEVEL", "verbose", 1);
	setenv("ENVIRONMENT", "prod", 1);
	setenv("API_WORKERS", "0", 1);
	setenv("MAX_FILE_SIZE", "12abc", 1);
	n = load(&c, NULL, &pr);
	ok(n == 5, "five independent problems are all reported (got %d)", n);
	ok(strstr(pr.p, "SECRET_KEY: must be at least 32") != NULL,
	    "short SECRET_KEY reported");
	ok(strstr(pr.p, "tooshort-secret-value") == NULL,
	    "the secret's value never appears in a problem");
	ok(strstr(pr.p, "LOG_LEVEL") && strstr(pr.p, "debug|info|warning|error"),
	    "LOG_LEVEL problem names the allowed values");
	ok(strstr(pr.p, "ENVIRONMENT") != NULL, "ENVIRONMENT problem reported");
	ok(strstr(pr.p, "API_WORKERS: 0 is out of range 1..256") != NULL,
	    "out-of-range pool size reported with its range");
	ok(strstr(pr.p, "MAX_FILE_SIZE: not an integer") != NULL,
	    "non-numeric size reported");

	base_env();
	unsetenv("SECRET_KEY");
	ok(load(&c, NULL, &pr) == 1 && strstr(pr.p, "SECRET_KEY: required"),
	    "missing SECRET_KEY is a problem");

	base_env();
	setenv("WORKSPACE_PATH", "/proc/definitely/not/here", 1);
	ok(load(&c, NULL, &pr) == 1 && strstr(pr.p, "WORKSPACE_PATH"),
	    "unwritable WORKSPACE_PATH is a problem");

	base_env();
	setenv("API_SOCKET", "relative.sock", 1);
	ok(load(&c, NULL, &pr) == 1 && strstr(pr.p, "API_SOCKET: must be an absolute path"),
	    "relative socket path is a problem");

	base_env();
	setenv("API_WORKERS", "40", 1);
	setenv("STREAM_WORKERS", "20", 1);
	ok(load(&c, NULL, &pr) == 1 && strstr(pr.p, "REDIS_MAX_CONNECTIONS"),
	    "more workers than REDIS_MAX_CONNECTIONS is a problem");

	/* A stream worker holds two connections: 4 + 2 x 17 + 16 > 50. */
	base_env();
	setenv("STREAM_WORKERS", "17", 1);
	ok(load(&c, NULL, &pr) == 1 && strstr(pr.p, "2 * STREAM_WORKERS"),
	    "REDIS_MAX_CONNECTIONS counts two connections per stream worker");
	base_env();
	setenv("STREAM_WORKERS", "15", 1);
	ok(load(&c, NULL, &pr) == 0, "...and 4 + 2 x 15 + 16 = 50 fits");
	config_free(&c);

	base_env();
	setenv("STREAM_MAX_CONNECTIONS", "0", 1);
	ok(load(&c, NULL, &pr) == 1 && strstr(pr.p, "STREAM_MAX_CONNECTIONS"),
	    "STREAM_MAX_CONNECTIONS 0 is a problem");

	base_env();
	setenv("ALLOWED_ORIGINS", "https://a.example, http://b.example:3000", 1);
	ok(load(&c, NULL, &pr) == 0, "valid ALLOWED_ORIGINS list");
	config_free(&c);
	setenv("ALLOWED_ORIGINS", "*", 1);
	ok(load(&c, NULL, &pr) == 1, "\"*\" refused outside development");
	setenv("ENVIRONMENT", "development", 1);
	ok(load(&c, NULL, &pr) == 0, "\"*\" accepted in development");
	config_free(&c);
	setenv("ALLOWED_ORIGINS", "https://a.example/path", 1);
	ok(load(&c, NULL, &pr) == 1, "an origin with a path is refused");

	/* env-file: values, comments, quotes; the environment wins. */
	base_env();
	snprintf(file, sizeof(file), "%s/app.env", dir);
	write_file(file, "# comment\n\nexport MAX_SESSIONS=7\nLOG_LEVEL = \"debug\"\n"
	    "RATE_LIMIT_PER_MINUTE='99'\nAPI_WORKERS=3\n");
	setenv("API_WORKERS", "5", 1);
	ok(load(&c, file, &pr) == 0, "env-file loads");
	ok(c.max_sessions == 7 && c.rate_limit_per_minute == 99 &&
	    c.log_level == 0, "env-file values applied (export, spaces, quotes)");
	ok(c.api_workers == 5, "the environment wins over the env-file");
	config_free(&c);
	write_file(file, "THIS IS NOT VALID\n");
	ok(load(&c, file, &pr) == 1 && strstr(pr.p, ":1: expected KEY=VALUE"),
	    "a malformed env-file line is reported with its line number");
	ok(load(&c, "/nonexistent/app.env", &pr) == 1 && strstr(pr.p, "cannot open"),
	    "a missing env-file is reported");

	/* NAME_FILE secrets (Docker secrets). */
	base_env();
	unsetenv("SECRET_KEY");
	snprintf(secret, sizeof(secret), "%s/secret", dir);
	write_file(secret, "abcdefghijabcdefghijabcdefghij-from-file\n");
	setenv("SECRET_KEY_FILE", secret, 1);
	ok(load(&c, NULL, &pr) == 0, "SECRET_KEY_FILE accepted");
	is_str(c.secret_key, "abcdefghijabcdefghijabcdefghij-from-file",
	    "secret read from file with the trailing newline trimmed");
	config_free(&c);
	setenv("SECRET_KEY_FILE", "/nonexistent/secret", 1);
	ok(load(&c, NULL, &pr) == 2 && strstr(pr.p, "SECRET_KEY_FILE: cannot read"),
	    "unreadable SECRET_KEY_FILE reported");
	unsetenv("SECRET_KEY_FILE");
	write_file(file, "SECRET_KEY_FILE=");
	{
		FILE *fp = fopen(file, "a");
		fprintf(fp, "%s\n", secret);
		fclose(fp);
	}
	ok(load(&c, file, &pr) == 0 && strcmp(c.secret_key,
	    "abcdefghijabcdefghijabcdefghij-from-file") == 0,
	    "SECRET_KEY_FILE from the env-file");
	config_free(&c);

	/* REDIS_URL forms. */
	ok(config_parse_redis_url("redis://:pw@cache:6380/2", &host, &port, &unixp,
	    &db, &pw) == 0 && strcmp(host, "cache") == 0 && port == 6380 &&
	    db == 2 && strcmp(pw, "pw") == 0 && unixp == NULL,
	    "redis://:pw@host:port/db");
	free(host); free(pw);
	ok(config_parse_redis_url("redis://localhost", &host, &port, &unixp,
	    &db, &pw) == 0 && port == 6379 && db == 0 && pw == NULL,
	    "redis://host uses port 6379 db 0");
	free(host);
	ok(config_parse_redis_url("unix:///run/redis.sock?db=3", &host, &port,
	    &unixp, &db, &pw) == 0 && strcmp(unixp, "/run/redis.sock") == 0 &&
	    db == 3 && host == NULL, "unix:///path?db=N");
	free(unixp);
	ok(config_parse_redis_url("redis://host:99999/0", &host, &port, &unixp,
	    &db, &pw) == -1, "port out of range refused");
	ok(config_parse_redis_url("http://host", &host, &port, &unixp, &db,
	    &pw) == -1, "wrong scheme refused");
	ok(config_parse_redis_url("redis://host/16", &host, &port, &unixp, &db,
	    &pw) == -1, "db out of range refused");
	base_env();
	setenv("REDIS_URL", "mysql://x", 1);
	ok(load(&c, NULL, &pr) == 1 && strstr(pr.p, "REDIS_URL"),
	    "bad REDIS_URL is a configuration problem");

	buf_free(&pr);
	return done_testing();
}
