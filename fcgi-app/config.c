#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <arpa/inet.h>
#include <unistd.h>

#include "config.h"
#include "log.h"
#include "mcp.h"
#include "models.h"
#include "netpolicy.h"

#define ENVFILE_MAX_BYTES	(1024 * 1024)
#define SECRET_FILE_MAX		(64 * 1024)

/* The env-file, parsed: parallel arrays owned by struct envfile. */
struct envfile {
	char	**keys;
	char	**vals;
	size_t	  n;
};

static void
envfile_free(struct envfile *ef)
{
	size_t	 i;

	for (i = 0; i < ef->n; i++) {
		free(ef->keys[i]);
		free(ef->vals[i]);
	}
	free(ef->keys);
	free(ef->vals);
	memset(ef, 0, sizeof(*ef));
}

static void
problem(struct buf *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void
problem(struct buf *p, const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	buf_vprintf(p, fmt, ap);
	va_end(ap);
	buf_putc(p, '\n');
}

static int
valid_key(const char *k, size_t n)
{
	size_t	 i;

	if (n == 0 || isdigit((unsigned char)k[0]))
		return 0;
	for (i = 0; i < n; i++)
		if (!isalnum((unsigned char)k[i]) && k[i] != '_')
			return 0;
	return 1;
}

/*
 * Reads KEY=VALUE lines. Blank lines and '#' comments are skipped, an
 * optional "export " prefix is allowed, and a value wrapped in matching
 * single or double quotes is unwrapped (no escapes are interpreted).
 */
static int
envfile_read(const char *path, struct envfile *ef, struct buf *problems)
{
	FILE	*fp;
	char	*line = NULL, *k, *v, *eq, *end;
	size_t	 cap = 0, lineno = 0, total = 0;
	ssize_t	 n;
	int	 bad = 0;

	if ((fp = fopen(path, "re")) == NULL) {
		problem(problems, "--config %s: cannot open: %s", path,
		    strerror(errno));
		return -1;
	}
	while ((n = getline(&line, &cap, fp)) != -1) {
		lineno++;
		total += (size_t)n;
		if (total > ENVFILE_MAX_BYTES) {
			problem(problems, "%s: larger than %d bytes", path,
			    ENVFILE_MAX_BYTES);
			bad = 1;
			break;
		}
		while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
			line[--n] = '\0';
		for (k = line; *k == ' ' || *k == '\t'; k++)
			;
		if (*k == '\0' || *k == '#')
			continue;
		if (strncmp(k, "export ", 7) == 0)
			k += 7;
		if ((eq = strchr(k, '=')) == NULL) {
			problem(problems, "%s:%zu: expected KEY=VALUE", path,
			    lineno);
			bad = 1;
			continue;
		}
		for (end = eq; end > k && (end[-1] == ' ' || end[-1] == '\t'); end--)
			;
		if (!valid_key(k, (size_t)(end - k))) {
			problem(problems, "%s:%zu: invalid variable name", path,
			    lineno);
			bad = 1;
			continue;
		}
		*end = '\0';
		v = eq + 1;
		while (*v == ' ' || *v == '\t')
			v++;
		n = (ssize_t)strlen(v);
		while (n > 0 && (v[n - 1] == ' ' || v[n - 1] == '\t'))
			v[--n] = '\0';
		if (n >= 2 && (v[0] == '"' || v[0] == '\'') && v[n - 1] == v[0]) {
			v[n - 1] = '\0';
			v++;
		}
		ef->keys = reallocarray(ef->keys, ef->n + 1, sizeof(char *));
		ef->vals = reallocarray(ef->vals, ef->n + 1, sizeof(char *));
		if (ef->keys == NULL || ef->vals == NULL) {
			fclose(fp);
			free(line);
			return -1;
		}
		ef->keys[ef->n] = strdup(k);
		ef->vals[ef->n] = strdup(v);
		ef->n++;
	}
	free(line);
	fclose(fp);
	return bad ? -1 : 0;
}

/* Last assignment in the file wins, like a shell would do. */
static const char *
envfile_get(const struct envfile *ef, const char *key)
{
	size_t	 i;

	for (i = ef->n; i > 0; i--)
		if (strcmp(ef->keys[i - 1], key) == 0)
			return ef->vals[i - 1];
	return NULL;
}

static const char *
lookup(const struct envfile *ef, const char *key)
{
	const char	*v;

	if ((v = getenv(key)) != NULL)
		return v;
	return envfile_get(ef, key);
}

/* Reads a secret file; trailing newlines are trimmed (Docker secrets). */
static char *
read_secret_file(const char *name, const char *path, struct buf *problems)
{
	char	 data[SECRET_FILE_MAX + 1];
	ssize_t	 n, total = 0;
	int	 fd;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1) {
		problem(problems, "%s_FILE: cannot read %s: %s", name, path,
		    strerror(errno));
		return NULL;
	}
	while ((n = read(fd, data + total, sizeof(data) - 1 - (size_t)total)) > 0)
		total += n;
	close(fd);
	if (n == -1 || total >= SECRET_FILE_MAX) {
		problem(problems, "%s_FILE: %s is unreadable or larger than %d bytes",
		    name, path, SECRET_FILE_MAX);
		return NULL;
	}
	while (total > 0 && (data[total - 1] == '\n' || data[total - 1] == '\r'))
		total--;
	data[total] = '\0';
	return strdup(data);
}

/*
 * A secret: NAME from the environment, else NAME_FILE from the environment,
 * else NAME, else NAME_FILE from the env-file. Returns an owned copy or NULL.
 */
static char *
lookup_secret(const struct envfile *ef, const char *name, struct buf *problems)
{
	char		 fkey[128];
	const char	*v;

	snprintf(fkey, sizeof(fkey), "%s_FILE", name);
	if ((v = getenv(name)) != NULL)
		return strdup(v);
	if ((v = getenv(fkey)) != NULL)
		return read_secret_file(name, v, problems);
	if ((v = envfile_get(ef, name)) != NULL)
		return strdup(v);
	if ((v = envfile_get(ef, fkey)) != NULL)
		return read_secret_file(name, v, problems);
	return NULL;
}

int
config_parse_ll(const char *s, long long *out)
{
	char		*end;
	long long	 v;

	if (s == NULL || *s == '\0' || isspace((unsigned char)*s))
		return -1;
	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno != 0 || *end != '\0')
		return -1;
	*out = v;
	return 0;
}

int
config_parse_bool(const char *s, int *out)
{
	static const char *const yes[] = { "1", "true", "yes", "on" };
	static const char *const no[] = { "0", "false", "no", "off", "" };
	size_t	 i;

	for (i = 0; i < sizeof(yes) / sizeof(yes[0]); i++)
		if (strcasecmp(s, yes[i]) == 0)
			return *out = 1, 0;
	for (i = 0; i < sizeof(no) / sizeof(no[0]); i++)
		if (strcasecmp(s, no[i]) == 0)
			return *out = 0, 0;
	return -1;
}

static void
get_ll(const struct envfile *ef, const char *key, long long def, long long lo,
    long long hi, long long *out, struct buf *problems)
{
	const char	*v = lookup(ef, key);
	long long	 n;

	*out = def;
	if (v == NULL)
		return;
	if (config_parse_ll(v, &n) == -1) {
		problem(problems, "%s: not an integer: \"%.64s\"", key, v);
		return;
	}
	if (n < lo || n > hi) {
		problem(problems, "%s: %lld is out of range %lld..%lld", key,
		    n, lo, hi);
		return;
	}
	*out = n;
}

static void
get_int(const struct envfile *ef, const char *key, int def, int lo, int hi,
    int *out, struct buf *problems)
{
	long long	 v;

	get_ll(ef, key, def, lo, hi, &v, problems);
	*out = (int)v;
}

static char *
get_str(const struct envfile *ef, const char *key, const char *def)
{
	const char	*v = lookup(ef, key);

	if (v == NULL || *v == '\0')
		v = def;
	return v ? strdup(v) : NULL;
}

int
config_parse_redis_url(const char *url, char **host, int *port,
    char **unixpath, int *db, char **password)
{
	struct redisurl	 u;

	*host = *unixpath = *password = NULL;
	if (redisurl_parse(url, &u, NULL, 0) == -1 ||
	    u.kind == REDISURL_SENTINEL) {
		redisurl_free(&u);
		return -1;
	}
	*port = u.node.port;
	*db = u.db;
	if ((u.kind == REDISURL_TCP && (*host = strdup(u.node.host)) == NULL) ||
	    (u.kind == REDISURL_UNIX && (*unixpath = strdup(u.path)) == NULL) ||
	    (u.password != NULL && (*password = strdup(u.password)) == NULL)) {
		free(*host);
		free(*unixpath);
		free(*password);
		*host = *unixpath = *password = NULL;
		redisurl_free(&u);
		return -1;
	}
	redisurl_free(&u);
	return 0;
}

/*
 * A directory we must write into. Creates it (one level) if missing, since
 * a fresh STATE_DIR is normal; anything else that fails is a problem.
 */
static void
check_dir_writable(const char *key, const char *dir, struct buf *problems)
{
	struct stat	 st;

	if (stat(dir, &st) == -1) {
		if (errno == ENOENT && mkdir(dir, 0750) == 0)
			return;
		problem(problems, "%s: %s: %s", key, dir, strerror(errno));
		return;
	}
	if (!S_ISDIR(st.st_mode)) {
		problem(problems, "%s: %s is not a directory", key, dir);
		return;
	}
	if (access(dir, W_OK | X_OK) == -1)
		problem(problems, "%s: %s is not writable", key, dir);
}

/* The directory part of a file path must exist and be writable. */
static void
check_parent_writable(const char *key, const char *path, struct buf *problems)
{
	char	 dir[PATH_MAX];
	char	*slash;

	if (strlen(path) >= sizeof(dir)) {
		problem(problems, "%s: path too long", key);
		return;
	}
	memcpy(dir, path, strlen(path) + 1);
	if ((slash = strrchr(dir, '/')) == NULL)
		memcpy(dir, ".", 2);
	else if (slash == dir)
		slash[1] = '\0';
	else
		*slash = '\0';
	if (access(dir, W_OK | X_OK) == -1)
		problem(problems, "%s: directory %s is not writable: %s", key,
		    dir, strerror(errno));
}

/*
 * "host:port" or "[v6]:port" with a numeric host (the listener binds it and
 * nginx connects to it: no resolver in either). host gets the bare address.
 */
int
config_parse_hostport(const char *s, char *host, size_t hostsz, int *port)
{
	const char	*h, *colon;
	size_t		 hlen;
	char		*end;
	long		 p;
	unsigned char	 addr[16];

	if (s[0] == '[') {
		h = s + 1;
		if ((colon = strstr(h, "]:")) == NULL)
			return -1;
		hlen = (size_t)(colon - h);
		colon++;
	} else {
		h = s;
		if ((colon = strrchr(s, ':')) == NULL || strchr(s, ':') != colon)
			return -1;
		hlen = (size_t)(colon - h);
	}
	if (hlen == 0 || hlen >= hostsz)
		return -1;
	memcpy(host, h, hlen);
	host[hlen] = '\0';
	if (inet_pton(s[0] == '[' ? AF_INET6 : AF_INET, host, addr) != 1)
		return -1;
	errno = 0;
	p = strtol(colon + 1, &end, 10);
	if (errno != 0 || end == colon + 1 || *end != '\0' || p < 1 || p > 65535)
		return -1;
	*port = (int)p;
	return 0;
}

static void
check_listen(const char *key, const char *v, struct buf *problems)
{
	char	 host[64];
	int	 port;

	if (v != NULL && config_parse_hostport(v, host, sizeof(host), &port) == -1)
		problem(problems, "%s: \"%.64s\" is not host:port or [v6]:port with "
		    "a numeric address", key, v);
}

/* A list of addresses or CIDRs (TRUSTED_PROXIES), or of host:port. */
static void
check_addr_list(const char *key, const char *list, int hostport,
    struct buf *problems)
{
	char		 tok[80], host[64], *slash, *end;
	const char	*p = list;
	size_t		 n;
	long		 bits;
	int		 port, v6;
	unsigned char	 addr[16];

	while (*p != '\0') {
		p += strspn(p, " ,\t");
		if ((n = strcspn(p, " ,\t")) == 0)
			break;
		if (n >= sizeof(tok)) {
			problem(problems, "%s: an entry is too long", key);
			return;
		}
		memcpy(tok, p, n);
		tok[n] = '\0';
		p += n;
		if (hostport) {
			if (config_parse_hostport(tok, host, sizeof(host), &port) == -1)
				problem(problems, "%s: \"%s\" is not host:port or "
				    "[v6]:port with a numeric address", key, tok);
			continue;
		}
		bits = -1;
		if ((slash = strchr(tok, '/')) != NULL) {
			*slash = '\0';
			errno = 0;
			bits = strtol(slash + 1, &end, 10);
			if (errno != 0 || end == slash + 1 || *end != '\0')
				bits = 999;
		}
		v6 = strchr(tok, ':') != NULL;
		if (inet_pton(v6 ? AF_INET6 : AF_INET, tok, addr) != 1 ||
		    bits > (v6 ? 128 : 32) || (slash != NULL && bits < 0))
			problem(problems, "%s: \"%s%s%s\" is not an IPv4/IPv6 address "
			    "or CIDR", key, tok, slash != NULL ? "/" : "",
			    slash != NULL ? slash + 1 : "");
	}
}

/* INSTANCE_ID: a name for logs and runner ids, at most 63 of [A-Za-z0-9._-]. */
static char *
instance_id(const struct envfile *ef, struct buf *problems)
{
	char		 host[256];
	const char	*v;
	size_t		 i;

	if ((v = lookup(ef, "INSTANCE_ID")) == NULL || *v == '\0') {
		if (gethostname(host, sizeof(host)) == -1)
			snprintf(host, sizeof(host), "localhost");
		host[sizeof(host) - 1] = '\0';
		host[strspn(host, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
		    "0123456789._-")] = '\0';
		host[63] = '\0';
		return strdup(host[0] != '\0' ? host : "localhost");
	}
	for (i = 0; v[i] != '\0'; i++)
		if (!isalnum((unsigned char)v[i]) && strchr("._-", v[i]) == NULL)
			break;
	if (v[i] != '\0' || i > 63) {
		problem(problems, "INSTANCE_ID: at most 63 characters of "
		    "[A-Za-z0-9._-]");
		return strdup("invalid");
	}
	return strdup(v);
}

static void
check_socket_path(const char *key, const char *path, struct buf *problems)
{
	if (path[0] != '/') {
		problem(problems, "%s: must be an absolute path", key);
		return;
	}
	if (strlen(path) >= sizeof(((struct sockaddr_un *)0)->sun_path)) {
		problem(problems, "%s: longer than %zu bytes (unix socket limit)",
		    key, sizeof(((struct sockaddr_un *)0)->sun_path) - 1);
		return;
	}
	check_parent_writable(key, path, problems);
}

/* Each origin must be scheme://host[:port] with no path; "*" only in development. */
static void
check_origins(const char *list, enum config_env env, struct buf *problems)
{
	const char	*p = list, *e, *host;
	size_t		 len;

	while (*p != '\0') {
		e = strchr(p, ',');
		len = e ? (size_t)(e - p) : strlen(p);
		while (len > 0 && *p == ' ')
			p++, len--;
		while (len > 0 && p[len - 1] == ' ')
			len--;
		if (len == 1 && *p == '*') {
			if (env != ENV_DEVELOPMENT)
				problem(problems, "ALLOWED_ORIGINS: \"*\" is only "
				    "allowed when ENVIRONMENT=development");
		} else if (len > 0) {
			host = NULL;
			if (len > 8 && strncmp(p, "https://", 8) == 0)
				host = p + 8;
			else if (len > 7 && strncmp(p, "http://", 7) == 0)
				host = p + 7;
			if (host == NULL || memchr(host, '/', len - (size_t)(host - p)) != NULL)
				problem(problems, "ALLOWED_ORIGINS: \"%.*s\" is not "
				    "an origin like https://host[:port]",
				    (int)(len > 128 ? 128 : len), p);
		}
		if (e == NULL)
			break;
		p = e + 1;
	}
}

const char *
config_env_name(enum config_env e)
{
	switch (e) {
	case ENV_DEVELOPMENT: return "development";
	case ENV_STAGING: return "staging";
	default: return "production";
	}
}

/* NETWORK_* and WEB_*: the per-session network policy's bounds (netpolicy.h). */
static void
network_policy(struct config *c, const struct envfile *ef, struct buf *problems)
{
	static const char *const keys[3] = { "NETWORK_POLICY_MAX_USER",
	    "NETWORK_POLICY_MAX_ADMIN", "NETWORK_DEFAULT_POLICY" };
	int		*dst[3] = { &c->network_policy_max_user,
	    &c->network_policy_max_admin, &c->network_default_policy };
	const char	*def[3] = { "on", "on", "off" }, *val[3], *v;
	char		 dom[NETPOLICY_DOMAINS_LEN], err[160];
	enum netpolicy	 p;
	int		 i;

	/* (Literal names: scripts/lib-common.sh's cw_config_vars finds them.) */
	val[0] = lookup(ef, "NETWORK_POLICY_MAX_USER");
	val[1] = lookup(ef, "NETWORK_POLICY_MAX_ADMIN");
	val[2] = lookup(ef, "NETWORK_DEFAULT_POLICY");
	for (i = 0; i < 3; i++) {
		v = val[i];
		if (v == NULL || *v == '\0')
			v = def[i];
		if (netpolicy_parse(v, &p) == -1) {
			problem(problems, "%s: \"%.32s\" is not off|allowlist|on",
			    keys[i], v);
			p = NP_OFF;
		}
		*dst[i] = (int)p;
	}
	v = lookup(ef, "NETWORK_DEFAULT_ALLOWED_DOMAINS");
	if (netpolicy_domains_from_list(v, dom, sizeof(dom), err,
	    sizeof(err)) == -1) {
		problem(problems, "NETWORK_DEFAULT_ALLOWED_DOMAINS: %s", err);
		dom[0] = '\0';
	}
	c->network_default_domains = strdup(dom);
	if (c->network_default_policy == NP_ALLOWLIST && dom[0] == '\0')
		problem(problems, "NETWORK_DEFAULT_POLICY=allowlist needs "
		    "NETWORK_DEFAULT_ALLOWED_DOMAINS");
	get_ll(ef, "WEB_SEARCH_MAX_USES", 5, 1, 100, &c->web_search_max_uses,
	    problems);
	get_ll(ef, "WEB_FETCH_MAX_USES", 5, 0, 100, &c->web_fetch_max_uses,
	    problems);
	get_ll(ef, "WEB_FETCH_MAX_CONTENT_TOKENS", 25000, 1000, 1000000,
	    &c->web_fetch_max_content_tokens, problems);
}

void
config_free(struct config *c)
{
	free(c->log_file);
	free(c->pid_file);
	free(c->anthropic_api_key);
	free(c->anthropic_base_url);
	free(c->claude_model);
	free(c->title_model);
	free(c->redis_url);
	free(c->sandbox_bwrap);
	free(c->sandbox_pasta);
	free(c->network_default_domains);
	free(c->code_server_role);
	free(c->health_details);
	free(c->code_server_url);
	redisurl_free(&c->redis);
	if (c->redis_sentinel_password != NULL)
		explicit_bzero(c->redis_sentinel_password,
		    strlen(c->redis_sentinel_password));
	free(c->redis_sentinel_password);
	free(c->allowed_origins);
	free(c->secret_key);
	free(c->workspace_path);
	free(c->mcp_servers_file);
	free(c->mcp_dir);
	mcp_config_free(c->mcp);
	free(c->api_socket);
	free(c->stream_socket);
	free(c->api_listen);
	free(c->stream_listen);
	free(c->instance_id);
	memset(c, 0, sizeof(*c));
}

int
config_load(struct config *c, const char *envfile, struct buf *problems)
{
	struct envfile	 ef;
	const char	*v;
	char		*url_pw = NULL;
	char		 url_err[256];
	size_t		 before = problems->len;
	enum log_level	 lvl;
	int		 nprob = 0;
	size_t		 i;

	memset(c, 0, sizeof(*c));
	memset(&ef, 0, sizeof(ef));
	if (envfile != NULL)
		envfile_read(envfile, &ef, problems);

	v = lookup(&ef, "ENVIRONMENT");
	c->environment = ENV_PRODUCTION;
	if (v != NULL) {
		if (strcmp(v, "development") == 0)
			c->environment = ENV_DEVELOPMENT;
		else if (strcmp(v, "staging") == 0)
			c->environment = ENV_STAGING;
		else if (strcmp(v, "production") != 0)
			problem(problems, "ENVIRONMENT: \"%.32s\" is not one of "
			    "development|staging|production", v);
	}
	v = lookup(&ef, "DEBUG");
	if (v != NULL && config_parse_bool(v, &c->debug) == -1)
		problem(problems, "DEBUG: \"%.32s\" is not a boolean (true|false)", v);
	v = lookup(&ef, "LOG_LEVEL");
	c->log_level = LOG_INFO;
	if (v != NULL) {
		if (log_level_parse(v, &lvl) == -1)
			problem(problems, "LOG_LEVEL: \"%.32s\" is not one of "
			    "debug|info|warning|error", v);
		else
			c->log_level = (int)lvl;
	}
	c->log_file = get_str(&ef, "LOG_FILE", NULL);
	if (c->log_file != NULL)
		check_parent_writable("LOG_FILE", c->log_file, problems);
	c->pid_file = get_str(&ef, "PID_FILE", NULL);
	if (c->pid_file != NULL)
		check_parent_writable("PID_FILE", c->pid_file, problems);

	c->anthropic_api_key = lookup_secret(&ef, "ANTHROPIC_API_KEY", problems);
	c->anthropic_base_url = get_str(&ef, "ANTHROPIC_BASE_URL",
	    "https://api.anthropic.com");
	if (strncmp(c->anthropic_base_url, "https://", 8) != 0 &&
	    strncmp(c->anthropic_base_url, "http://", 7) != 0)
		problem(problems, "ANTHROPIC_BASE_URL: must start with https:// or http://");
	c->claude_model = get_str(&ef, "CLAUDE_MODEL", "claude-sonnet-4-5");
	if (models_find(c->claude_model) == NULL)
		problem(problems, "CLAUDE_MODEL: \"%.64s\" is not a known model id "
		    "(see docs/configuration.md for the catalogue)", c->claude_model);
	c->title_model = get_str(&ef, "TITLE_MODEL", "claude-haiku-4-5");
	if (strcmp(c->title_model, "off") != 0 && models_find(c->title_model) == NULL)
		problem(problems, "TITLE_MODEL: \"%.64s\" is not a known model id "
		    "(or \"off\")", c->title_model);
	get_ll(&ef, "MAX_TOKENS", 8192, 1, 128000, &c->max_tokens, problems);
	get_ll(&ef, "CLAUDE_MAX_RETRIES", 4, 0, 20, &c->claude_max_retries, problems);
	get_ll(&ef, "CLAUDE_RETRY_BASE_MS", 1000, 1, 60000,
	    &c->claude_retry_base_ms, problems);
	get_ll(&ef, "CLAUDE_RETRY_MAX_SECONDS", 120, 1, 3600,
	    &c->claude_retry_max_seconds, problems);
	get_ll(&ef, "CLAUDE_CONNECT_TIMEOUT", 10, 1, 300,
	    &c->claude_connect_timeout, problems);
	get_ll(&ef, "CLAUDE_STALL_TIMEOUT", 60, 1, 3600, &c->claude_stall_timeout,
	    problems);
	get_ll(&ef, "CLAUDE_REQUEST_TIMEOUT", 900, 1, 86400,
	    &c->claude_request_timeout, problems);
	get_ll(&ef, "CLAUDE_THINKING_BUDGET", 0, 0, 128000,
	    &c->claude_thinking_budget, problems);
	if (c->claude_thinking_budget > 0 && (c->claude_thinking_budget < 1024 ||
	    c->claude_thinking_budget >= c->max_tokens))
		problem(problems, "CLAUDE_THINKING_BUDGET: must be 0 (off) or at "
		    "least 1024 and less than MAX_TOKENS");
	get_ll(&ef, "MAX_TURNS", 50, 1, 1000, &c->max_turns, problems);
	get_ll(&ef, "COMPACT_THRESHOLD", 80, 10, 100, &c->compact_threshold,
	    problems);
	/* Short: a dead replica's run is taken over within ~RUN_LOCK_TTL + 1 s. */
	get_ll(&ef, "RUN_LOCK_TTL", 8, 2, 3600, &c->run_lock_ttl, problems);
	get_ll(&ef, "EVENTS_MAXLEN", 10000, 100, 10000000, &c->events_maxlen,
	    problems);
	get_ll(&ef, "EVENTS_MAX_BYTES", 8LL << 20, 64LL << 10, 1LL << 30,
	    &c->events_max_bytes, problems);
	get_ll(&ef, "JOB_MAX_DELIVERIES", 3, 1, 100, &c->job_max_deliveries,
	    problems);
	get_ll(&ef, "SSE_MAX_DURATION", 1800, 1, 7 * 86400, &c->sse_max_duration,
	    problems);
	get_ll(&ef, "SSE_PING_INTERVAL", 15, 1, 300, &c->sse_ping_interval,
	    problems);
	get_ll(&ef, "MAX_STREAMS_PER_USER", 6, 1, 4096, &c->max_streams_per_user,
	    problems);

	c->sandbox_bwrap = get_str(&ef, "SANDBOX_BWRAP", "/usr/bin/bwrap");
	v = lookup(&ef, "SANDBOX_NETWORK");
	if (v != NULL && config_parse_bool(v, &c->sandbox_network) == -1)
		problem(problems, "SANDBOX_NETWORK: \"%.32s\" is not on|off", v);
	c->sandbox_prewarm = 1;
	v = lookup(&ef, "SANDBOX_PREWARM");
	if (v != NULL && config_parse_bool(v, &c->sandbox_prewarm) == -1)
		problem(problems, "SANDBOX_PREWARM: \"%.32s\" is not on|off", v);
	get_ll(&ef, "SANDBOX_TIMEOUT", 120, 1, 86400, &c->sandbox_timeout, problems);
	get_ll(&ef, "SANDBOX_CPU_SECONDS", 120, 1, 86400, &c->sandbox_cpu_seconds,
	    problems);
	get_ll(&ef, "SANDBOX_MEMORY_MB", 4096, 64, 1048576, &c->sandbox_memory_mb,
	    problems);
	get_ll(&ef, "SANDBOX_MAX_PROCS", 256, 8, 65536, &c->sandbox_max_procs,
	    problems);
	get_ll(&ef, "SANDBOX_FILE_SIZE_MB", 256, 1, 1048576,
	    &c->sandbox_file_size_mb, problems);
	get_ll(&ef, "SANDBOX_TMP_SIZE_MB", 256, 1, 65536, &c->sandbox_tmp_size_mb,
	    problems);
	get_ll(&ef, "SANDBOX_OPEN_FILES", 1024, 16, 1048576,
	    &c->sandbox_open_files, problems);
	get_ll(&ef, "SANDBOX_OUTPUT_LIMIT", 30000, 1024, 64LL << 20,
	    &c->sandbox_output_limit, problems);
	get_ll(&ef, "SANDBOX_MEMORY_MAX_MB", 1024, 0, 1048576,
	    &c->sandbox_memory_max_mb, problems);
	if (c->sandbox_memory_max_mb > 0 && c->sandbox_memory_max_mb < 32)
		problem(problems, "SANDBOX_MEMORY_MAX_MB: must be 0 (off) or at "
		    "least 32");
	c->sandbox_pasta = get_str(&ef, "SANDBOX_PASTA", "/usr/bin/pasta");
	network_policy(c, &ef, problems);
	/* MCP servers: the file's secrets (env, tokens) never reach a message. */
	c->mcp_servers_file = get_str(&ef, "MCP_SERVERS_FILE", NULL);
	c->mcp_dir = get_str(&ef, "MCP_DIR", "/opt/claude-web/mcp");
	if (c->mcp_dir[0] != '/')
		problem(problems, "MCP_DIR: must be an absolute path");
	get_ll(&ef, "MCP_TIMEOUT", 30, 1, 600, &c->mcp_timeout, problems);
	if (c->mcp_servers_file != NULL && *c->mcp_servers_file != '\0')
		mcp_config_load(c->mcp_servers_file, &c->mcp, problems);
	get_ll(&ef, "SESSION_DISK_QUOTA_MB", 1024, 0, 1LL << 30,
	    &c->session_disk_quota_mb, problems);
	/* A parked run holds nothing: waiting hours for a person is cheap. */
	get_ll(&ef, "PERMISSION_TIMEOUT", 14400, 1, 30LL * 86400,
	    &c->permission_timeout, problems);
	get_int(&ef, "MAX_RUNS_PER_USER", 2, 1, 1024, &c->max_runs_per_user,
	    problems);
	get_int(&ef, "SESSION_QUEUE_MAX", 5, 0, 100, &c->session_queue_max,
	    problems);

	c->code_server_role = get_str(&ef, "CODE_SERVER_ROLE", "admin");
	if (strcmp(c->code_server_role, "admin") != 0 &&
	    strcmp(c->code_server_role, "user") != 0)
		problem(problems, "CODE_SERVER_ROLE: \"%.32s\" is not admin|user",
		    c->code_server_role);
	c->code_server_url = get_str(&ef, "CODE_SERVER_URL", NULL);
	if (c->code_server_url != NULL &&
	    strncmp(c->code_server_url, "http://", 7) != 0)
		problem(problems, "CODE_SERVER_URL: must start with http://");

	c->redis_url = get_str(&ef, "REDIS_URL", "redis://127.0.0.1:6379/0");
	if (redisurl_parse(c->redis_url, &c->redis, url_err,
	    sizeof(url_err)) == -1)
		problem(problems, "REDIS_URL: %s", url_err);
	/* REDIS_PASSWORD[_FILE] wins over a password in the URL. */
	url_pw = lookup_secret(&ef, "REDIS_PASSWORD", problems);
	if (url_pw != NULL && *url_pw != '\0') {
		if (c->redis.password != NULL) {
			explicit_bzero(c->redis.password,
			    strlen(c->redis.password));
			free(c->redis.password);
		}
		c->redis.password = url_pw;
	} else
		free(url_pw);
	if (c->redis.user != NULL && c->redis.password == NULL)
		problem(problems, "REDIS_URL: the user \"%.64s\" needs a password "
		    "(user:password@ in the URL, REDIS_PASSWORD or "
		    "REDIS_PASSWORD_FILE)", c->redis.user);
	/* Name and call on one line: lib-common.sh cw_config_vars greps them. */
	c->redis_sentinel_password = lookup_secret(&ef, "REDIS_SENTINEL_PASSWORD",
	    problems);
	if (c->redis_sentinel_password != NULL &&
	    *c->redis_sentinel_password == '\0') {
		free(c->redis_sentinel_password);
		c->redis_sentinel_password = NULL;
	}
	get_ll(&ef, "REDIS_MAX_CONNECTIONS", 50, 1, 100000,
	    &c->redis_max_connections, problems);

	get_ll(&ef, "SESSION_TIMEOUT", 3600, 60, 30LL * 86400,
	    &c->session_timeout, problems);
	get_ll(&ef, "MAX_SESSIONS", 100, 1, 100000, &c->max_sessions, problems);
	get_ll(&ef, "USER_STORAGE_QUOTA_MB", 10240, 0, 1LL << 30,
	    &c->user_storage_quota_mb, problems);
	get_ll(&ef, "SESSION_DELETE_WAIT", 10, 1, 600, &c->session_delete_wait,
	    problems);
	c->allowed_origins = get_str(&ef, "ALLOWED_ORIGINS", "");
	check_origins(c->allowed_origins, c->environment, problems);
	c->secret_key = lookup_secret(&ef, "SECRET_KEY", problems);
	if (c->secret_key == NULL || *c->secret_key == '\0')
		problem(problems, "SECRET_KEY: required (at least 32 characters; "
		    "generate one with: openssl rand -hex 32)");
	else if (strlen(c->secret_key) < 32)
		problem(problems, "SECRET_KEY: must be at least 32 characters "
		    "(got %zu)", strlen(c->secret_key));

	c->workspace_path = get_str(&ef, "WORKSPACE_PATH", "/app/workspace");
	check_dir_writable("WORKSPACE_PATH", c->workspace_path, problems);
	get_ll(&ef, "MAX_FILE_SIZE", 10485760, 1024, 4LL << 30,
	    &c->max_file_size, problems);
	get_ll(&ef, "RATE_LIMIT_PER_MINUTE", 120, 1, 1000000000,
	    &c->rate_limit_per_minute, problems);
	get_ll(&ef, "LOGIN_RATE_LIMIT_PER_MINUTE", 30, 1, 1000000,
	    &c->login_rate_limit_per_minute, problems);
	get_ll(&ef, "LOGIN_MAX_FAILURES", 5, 1, 1000, &c->login_max_failures,
	    problems);
	get_ll(&ef, "LOGIN_LOCKOUT_SECONDS", 900, 1, 86400,
	    &c->login_lockout_seconds, problems);
	get_ll(&ef, "LOGIN_LOCKOUT_MAX_SECONDS", 86400, 1, 30 * 86400,
	    &c->login_lockout_max_seconds, problems);
	if (c->login_lockout_max_seconds < c->login_lockout_seconds)
		problem(problems, "LOGIN_LOCKOUT_MAX_SECONDS: must be at least "
		    "LOGIN_LOCKOUT_SECONDS (%lld)", c->login_lockout_seconds);
	get_ll(&ef, "LOGIN_SLOWDOWN_MAX_SECONDS", 5, 0, 60,
	    &c->login_slowdown_max_seconds, problems);
	c->health_details = get_str(&ef, "HEALTH_DETAILS", "admin");
	if (strcmp(c->health_details, "admin") != 0 &&
	    strcmp(c->health_details, "local") != 0)
		problem(problems, "HEALTH_DETAILS: \"%.32s\" is not admin|local",
		    c->health_details);

	c->api_socket = get_str(&ef, "API_SOCKET", "/run/claude-web/api.sock");
	check_socket_path("API_SOCKET", c->api_socket, problems);
	c->stream_socket = get_str(&ef, "STREAM_SOCKET",
	    "/run/claude-web/stream.sock");
	check_socket_path("STREAM_SOCKET", c->stream_socket, problems);
	if (strcmp(c->api_socket, c->stream_socket) == 0)
		problem(problems, "STREAM_SOCKET: must differ from API_SOCKET");
	/* Optional TCP listeners (one nginx in front of several instances). */
	c->api_listen = get_str(&ef, "API_LISTEN", NULL);
	check_listen("API_LISTEN", c->api_listen, problems);
	c->stream_listen = get_str(&ef, "STREAM_LISTEN", NULL);
	check_listen("STREAM_LISTEN", c->stream_listen, problems);
	if (c->api_listen != NULL && c->stream_listen != NULL &&
	    strcmp(c->api_listen, c->stream_listen) == 0)
		problem(problems, "STREAM_LISTEN: must differ from API_LISTEN");
	/* nginx's settings, checked here too so `claude-web -t` catches them. */
	if ((v = lookup(&ef, "TRUSTED_PROXIES")) != NULL)
		check_addr_list("TRUSTED_PROXIES", v, 0, problems);
	if ((v = lookup(&ef, "FASTCGI_API_SERVERS")) != NULL)
		check_addr_list("FASTCGI_API_SERVERS", v, 1, problems);
	if ((v = lookup(&ef, "FASTCGI_STREAM_SERVERS")) != NULL)
		check_addr_list("FASTCGI_STREAM_SERVERS", v, 1, problems);
	c->instance_id = instance_id(&ef, problems);
	get_ll(&ef, "STOP_DRAIN_DELAY", 0, 0, 300, &c->stop_drain_delay, problems);
	get_int(&ef, "API_WORKERS", 4, 1, 256, &c->api_workers, problems);
	get_int(&ef, "STREAM_WORKERS", 2, 1, 4096, &c->stream_workers, problems);
	get_int(&ef, "STREAM_MAX_CONNECTIONS", 5000, 1, 100000,
	    &c->stream_max_connections, problems);
	get_int(&ef, "RUNNER_WORKERS", 2, 0, 1024, &c->runner_workers, problems);
	get_int(&ef, "RUNNER_MIN_SPARE", 1, 0, 1024, &c->runner_min_spare,
	    problems);
	get_int(&ef, "RUNNER_MAX_SPARE", 3, 0, 1024, &c->runner_max_spare,
	    problems);
	get_int(&ef, "RUNNER_MAX", 16, 0, 1024, &c->runner_max, problems);
	get_ll(&ef, "RUNNER_IDLE_GRACE", 10, 0, 86400, &c->runner_idle_grace,
	    problems);
	if (c->runner_max_spare < c->runner_min_spare)
		problem(problems, "RUNNER_MAX_SPARE: must be at least "
		    "RUNNER_MIN_SPARE (%d)", c->runner_min_spare);
	if (c->runner_max < c->runner_workers)
		problem(problems, "RUNNER_MAX: must be at least RUNNER_WORKERS (%d)",
		    c->runner_workers);
	if (c->runner_max < c->runner_min_spare)
		problem(problems, "RUNNER_MAX: must be at least RUNNER_MIN_SPARE (%d)",
		    c->runner_min_spare);
	get_ll(&ef, "MAX_REQUESTS", 100000, 0, 1000000000, &c->max_requests,
	    problems);
	get_ll(&ef, "REQUEST_TIMEOUT", 60, 1, 86400, &c->request_timeout,
	    problems);
	get_ll(&ef, "STREAM_TIMEOUT", 3600, 0, 7 * 86400, &c->stream_timeout,
	    problems);
	get_ll(&ef, "PROCESS_CONTROL_TIMEOUT", 10, 1, 3600,
	    &c->process_control_timeout, problems);
	get_ll(&ef, "RUNNER_DRAIN_TIMEOUT", 1800, 1, 86400,
	    &c->runner_drain_timeout, problems);
	v = lookup(&ef, "ALLOW_ROOT");
	if (v != NULL && config_parse_bool(v, &c->allow_root) == -1)
		problem(problems, "ALLOW_ROOT: \"%.32s\" is not a boolean (true|false)", v);
	/* Every worker holds one Redis connection, a stream worker two. */
	if (c->stream_timeout > 0 && c->sse_max_duration >= c->stream_timeout)
		problem(problems, "SSE_MAX_DURATION: must be less than STREAM_TIMEOUT "
		    "(%lld), or streams are killed instead of ending cleanly",
		    c->stream_timeout);
	if (c->api_workers + 2 * c->stream_workers + c->runner_max >
	    c->redis_max_connections)
		problem(problems, "REDIS_MAX_CONNECTIONS: %lld is less than the "
		    "%d connections the workers hold "
		    "(API_WORKERS + 2 * STREAM_WORKERS + RUNNER_MAX)",
		    c->redis_max_connections,
		    c->api_workers + 2 * c->stream_workers + c->runner_max);

	envfile_free(&ef);
	for (i = before; i < problems->len; i++)
		if (problems->p[i] == '\n')
			nprob++;
	if (nprob > 0)
		config_free(c);
	return nprob;
}
