#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "attach.h"
#include "config.h"
#include "fsutil.h"
#include "jsonio.h"
#include "log.h"
#include "mcp.h"
#include "pathsafe.h"
#include "sandbox.h"
#include "sessions.h"
#include "tools.h"

#define CONFIG_FILE_MAX		(1024 * 1024)
#define ARGV_MAX		64
#define ARG_LEN_MAX		4096
#define ENV_MAX			64
#define URL_MAX			2048
#define TOKEN_MAX		8192
#define LIST_PAGES_MAX		8
#define STDERR_KEEP		4096
#define IMAGE_DATA_MAX		(5 * 1024 * 1024)	/* base64 bytes of one image */
#define WRITE_WAIT_MS		5000
#define LIST_RETRY_S		60	/* a failed tools/list is retried after */

/* ---- configuration ------------------------------------------------------------- */

static void
cproblem(struct buf *p, int *n, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
cproblem(struct buf *p, int *n, const char *fmt, ...)
{
	va_list	 ap;

	buf_puts(p, "MCP_SERVERS_FILE: ");
	va_start(ap, fmt);
	buf_vprintf(p, fmt, ap);
	va_end(ap);
	buf_putc(p, '\n');
	(*n)++;
}

static int
valid_server_name(const char *s)
{
	size_t	 i, n = strlen(s);

	if (n == 0 || n > MCP_NAME_MAX)
		return 0;
	for (i = 0; i < n; i++)
		if (!(islower((unsigned char)s[i]) || isdigit((unsigned char)s[i]) ||
		    s[i] == '_' || s[i] == '-'))
			return 0;
	return 1;
}

static int
valid_env_name(const char *s)
{
	size_t	 i, n = strlen(s);

	if (n == 0 || n > 128 || isdigit((unsigned char)s[0]))
		return 0;
	for (i = 0; i < n; i++)
		if (!(isalnum((unsigned char)s[i]) || s[i] == '_'))
			return 0;
	return 1;
}

/* A JSON string without NUL (json-c keeps embedded NULs), at most max bytes. */
static const char *
plain_str(json_object *v, size_t max)
{
	const char	*s;

	if (v == NULL || !json_object_is_type(v, json_type_string))
		return NULL;
	s = json_object_get_string(v);
	if ((size_t)json_object_get_string_len(v) != strlen(s) || strlen(s) > max)
		return NULL;
	return s;
}

static void
free_strv(char **v)
{
	size_t	 i;

	if (v == NULL)
		return;
	for (i = 0; v[i] != NULL; i++) {
		explicit_bzero(v[i], strlen(v[i]));
		free(v[i]);
	}
	free(v);
}

void
mcp_config_free(struct mcp_config *mc)
{
	int	 i;

	if (mc == NULL)
		return;
	for (i = 0; i < mc->n; i++) {
		free_strv(mc->servers[i].argv);
		free_strv(mc->servers[i].env);
		free(mc->servers[i].url);
		if (mc->servers[i].token != NULL) {
			explicit_bzero(mc->servers[i].token, strlen(mc->servers[i].token));
			free(mc->servers[i].token);
		}
	}
	free(mc->servers);
	free(mc);
}

/* FNV-1a over the parts that change what a stdio server offers. */
static void
server_hash(struct mcp_server *s)
{
	uint64_t	 h = 1469598103934665603ULL;
	const char	*p;
	size_t		 i;

	for (i = 0; s->argv != NULL && s->argv[i] != NULL; i++)
		for (p = s->argv[i]; ; p++) {
			h = (h ^ (unsigned char)*p) * 1099511628211ULL;
			if (*p == '\0')
				break;
		}
	h = (h ^ 0xff) * 1099511628211ULL;
	for (i = 0; s->env != NULL && s->env[i] != NULL; i++)
		for (p = s->env[i]; ; p++) {
			h = (h ^ (unsigned char)*p) * 1099511628211ULL;
			if (*p == '\0')
				break;
		}
	snprintf(s->hash, sizeof(s->hash), "%016llx", (unsigned long long)h);
}

static char *
read_token_file(const char *name, const char *path, struct buf *problems, int *np)
{
	char	 data[TOKEN_MAX + 1];
	ssize_t	 n, total = 0;
	int	 fd;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1) {
		cproblem(problems, np, "server \"%s\": authorization_token_file: "
		    "cannot read %.200s: %s", name, path, strerror(errno));
		return NULL;
	}
	while ((n = read(fd, data + total, sizeof(data) - 1 - (size_t)total)) > 0)
		total += n;
	close(fd);
	if (n == -1 || total >= TOKEN_MAX) {
		cproblem(problems, np, "server \"%s\": authorization_token_file: "
		    "%.200s is unreadable or larger than %d bytes", name, path,
		    TOKEN_MAX);
		explicit_bzero(data, sizeof(data));
		return NULL;
	}
	while (total > 0 && (data[total - 1] == '\n' || data[total - 1] == '\r'))
		total--;
	data[total] = '\0';
	if (total == 0 || strlen(data) != (size_t)total ||
	    strpbrk(data, "\r\n") != NULL) {
		cproblem(problems, np, "server \"%s\": authorization_token_file: "
		    "%.200s holds no token on one line", name, path);
		explicit_bzero(data, sizeof(data));
		return NULL;
	}
	{
		char *t = strdup(data);

		explicit_bzero(data, sizeof(data));
		return t;
	}
}

static int
parse_server(json_object *o, int idx, struct mcp_server *s, struct mcp_config *mc,
    struct buf *problems)
{
	json_object	*v, *cmd, *env;
	const char	*name, *type, *str;
	char		 label[64];
	int		 np = 0, i;
	size_t		 k, n;

	memset(s, 0, sizeof(*s));
	snprintf(label, sizeof(label), "servers[%d]", idx);
	if (!json_object_is_type(o, json_type_object)) {
		cproblem(problems, &np, "%s: must be an object", label);
		return np;
	}
	if (!json_object_object_get_ex(o, "name", &v) ||
	    (name = plain_str(v, MCP_NAME_MAX)) == NULL || !valid_server_name(name)) {
		cproblem(problems, &np, "%s: \"name\" must be 1 to %d characters "
		    "of a-z, 0-9, _ and -", label, MCP_NAME_MAX);
		return np;
	}
	snprintf(s->name, sizeof(s->name), "%s", name);
	snprintf(label, sizeof(label), "server \"%s\"", name);
	for (i = 0; i < mc->n; i++)
		if (strcmp(mc->servers[i].name, name) == 0)
			cproblem(problems, &np, "%s: the name is used twice", label);
	{
		static const char *const known[] = { "name", "type", "command", "env",
		    "enabled_by_default", "templates", "url", "authorization_token_file",
		    NULL };

		json_object_object_foreach(o, key, val) {
			(void)val;
			for (k = 0; known[k] != NULL && strcmp(known[k], key) != 0; k++)
				;
			if (known[k] == NULL)
				cproblem(problems, &np, "%s: unknown field \"%.40s\"", label,
				    key);
		}
	}
	if (json_object_object_get_ex(o, "enabled_by_default", &v)) {
		if (!json_object_is_type(v, json_type_boolean))
			cproblem(problems, &np, "%s: \"enabled_by_default\" must be "
			    "true or false", label);
		else
			s->enabled_by_default = json_object_get_boolean(v);
	}
	if (json_object_object_get_ex(o, "templates", &v)) {
		size_t	 t, nt;
		int	 bad = !json_object_is_type(v, json_type_array) ||
		    json_object_array_length(v) > MCP_TEMPLATES_MAX;

		nt = bad ? 0 : json_object_array_length(v);
		snprintf(s->templates, sizeof(s->templates), ",");
		for (t = 0; t < nt && !bad; t++) {
			const char *tn = plain_str(json_object_array_get_idx(v, t), 100);

			if (tn == NULL || !sessions_valid_template(tn))
				bad = 1;
			else {
				strncat(s->templates, tn, sizeof(s->templates) -
				    strlen(s->templates) - 1);
				strncat(s->templates, ",", sizeof(s->templates) -
				    strlen(s->templates) - 1);
			}
		}
		if (bad) {
			s->templates[0] = '\0';
			cproblem(problems, &np, "%s: \"templates\" must be a list of at "
			    "most %d template names", label, MCP_TEMPLATES_MAX);
		}
	}
	type = json_object_object_get_ex(o, "type", &v) ? plain_str(v, 16) : NULL;
	if (type == NULL || (strcmp(type, "stdio") != 0 && strcmp(type, "url") != 0)) {
		cproblem(problems, &np, "%s: \"type\" must be \"stdio\" or \"url\"",
		    label);
		return np;
	}
	if (strcmp(type, "stdio") == 0) {
		s->type = MCP_STDIO;
		if (json_object_object_get_ex(o, "url", NULL) ||
		    json_object_object_get_ex(o, "authorization_token_file", NULL))
			cproblem(problems, &np, "%s: \"url\" and "
			    "\"authorization_token_file\" are for type \"url\"", label);
		if (!json_object_object_get_ex(o, "command", &cmd) ||
		    !json_object_is_type(cmd, json_type_array) ||
		    (n = json_object_array_length(cmd)) == 0 || n > ARGV_MAX) {
			cproblem(problems, &np, "%s: \"command\" must be an array of 1 "
			    "to %d strings (the argv; no shell)", label, ARGV_MAX);
			return np;
		}
		s->argv = calloc(n + 1, sizeof(char *));
		for (k = 0; k < n; k++) {
			str = plain_str(json_object_array_get_idx(cmd, k), ARG_LEN_MAX);
			if (str == NULL || (k == 0 && *str == '\0')) {
				cproblem(problems, &np, "%s: command[%zu] must be a string "
				    "of at most %d bytes without NUL%s", label, k,
				    ARG_LEN_MAX, k == 0 ? ", not empty" : "");
				str = "";
			}
			s->argv[k] = strdup(str);
		}
		if (json_object_object_get_ex(o, "env", &env)) {
			if (!json_object_is_type(env, json_type_object) ||
			    json_object_object_length(env) > ENV_MAX) {
				cproblem(problems, &np, "%s: \"env\" must be an object of at "
				    "most %d NAME: \"value\" pairs", label, ENV_MAX);
				return np;
			}
			s->env = calloc((size_t)json_object_object_length(env) + 1,
			    sizeof(char *));
			k = 0;
			json_object_object_foreach(env, key, val) {
				str = plain_str(val, ARG_LEN_MAX);
				/* The value is a secret: never in a message. */
				if (!valid_env_name(key) || str == NULL) {
					cproblem(problems, &np, "%s: env \"%.64s\": the name "
					    "must be [A-Za-z_][A-Za-z0-9_]* and the value a "
					    "string of at most %d bytes", label, key, ARG_LEN_MAX);
					continue;
				}
				if ((s->env[k] = malloc(strlen(key) + strlen(str) + 2)) != NULL)
					sprintf(s->env[k++], "%s=%s", key, str);
			}
		}
		server_hash(s);
	} else {
		s->type = MCP_URL;
		if (json_object_object_get_ex(o, "command", NULL) ||
		    json_object_object_get_ex(o, "env", NULL))
			cproblem(problems, &np, "%s: \"command\" and \"env\" are for "
			    "type \"stdio\"", label);
		str = json_object_object_get_ex(o, "url", &v) ? plain_str(v, URL_MAX) :
		    NULL;
		if (str == NULL || strncmp(str, "https://", 8) != 0 || str[8] == '\0' ||
		    strpbrk(str, " \t\r\n\"<>\\^`{|}") != NULL) {
			cproblem(problems, &np, "%s: \"url\" must be an https:// URL of "
			    "at most %d bytes (the MCP connector requires https)", label,
			    URL_MAX);
		} else
			s->url = strdup(str);
		for (k = 0; str != NULL && str[k] != '\0'; k++)
			if ((unsigned char)str[k] < 0x20 || (unsigned char)str[k] >= 0x7f) {
				cproblem(problems, &np, "%s: \"url\" has a control or "
				    "non-ASCII character", label);
				break;
			}
		if (json_object_object_get_ex(o, "authorization_token_file", &v)) {
			if ((str = plain_str(v, PATH_MAX)) == NULL || str[0] != '/')
				cproblem(problems, &np, "%s: \"authorization_token_file\" "
				    "must be an absolute path", label);
			else
				s->token = read_token_file(name, str, problems, &np);
		}
	}
	return np;
}

int
mcp_config_load(const char *path, struct mcp_config **out, struct buf *problems)
{
	struct mcp_config	*mc;
	json_object		*root = NULL, *arr;
	struct json_tokener	*tok;
	struct stat		 st;
	char			*data = NULL;
	ssize_t			 n, total = 0;
	int			 fd, np = 0, i, len;

	*out = NULL;
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1 || fstat(fd, &st) == -1) {
		cproblem(problems, &np, "cannot read %.200s: %s", path, strerror(errno));
		if (fd != -1)
			close(fd);
		return np;
	}
	if (!S_ISREG(st.st_mode) || st.st_size > CONFIG_FILE_MAX) {
		cproblem(problems, &np, "%.200s is not a regular file of at most %d "
		    "bytes", path, CONFIG_FILE_MAX);
		close(fd);
		return np;
	}
	data = malloc((size_t)st.st_size + 1);
	while (data != NULL && total < st.st_size &&
	    (n = read(fd, data + total, (size_t)(st.st_size - total))) > 0)
		total += n;
	close(fd);
	if (data == NULL || total != st.st_size) {
		cproblem(problems, &np, "cannot read %.200s", path);
		free(data);
		return np;
	}
	data[total] = '\0';
	tok = json_tokener_new_ex(32);
	root = json_tokener_parse_ex(tok, data, (int)total);
	if (root == NULL || json_tokener_get_error(tok) != json_tokener_success ||
	    tok->char_offset < (int)total) {
		/* Only whitespace may follow. */
		int off = tok->char_offset;

		while (root != NULL && off < (int)total &&
		    isspace((unsigned char)data[off]))
			off++;
		if (root == NULL || json_tokener_get_error(tok) != json_tokener_success ||
		    off < (int)total) {
			enum json_tokener_error je = json_tokener_get_error(tok);

			cproblem(problems, &np, "%.200s is not valid JSON (%s)", path,
			    je == json_tokener_continue ? "it ends too early" :
			    je != json_tokener_success ? json_tokener_error_desc(je) :
			    "trailing data");
			json_tokener_free(tok);
			if (root != NULL)
				json_object_put(root);
			explicit_bzero(data, (size_t)total);
			free(data);
			return np;
		}
	}
	json_tokener_free(tok);
	explicit_bzero(data, (size_t)total);
	free(data);
	if (!json_object_is_type(root, json_type_object) ||
	    !json_object_object_get_ex(root, "servers", &arr) ||
	    !json_object_is_type(arr, json_type_array)) {
		cproblem(problems, &np, "%.200s must be an object {\"servers\": [...]}",
		    path);
		json_object_put(root);
		return np;
	}
	if ((len = (int)json_object_array_length(arr)) > MCP_MAX_SERVERS) {
		cproblem(problems, &np, "at most %d servers (got %d)", MCP_MAX_SERVERS,
		    len);
		json_object_put(root);
		return np;
	}
	mc = calloc(1, sizeof(*mc));
	mc->servers = calloc((size_t)(len > 0 ? len : 1), sizeof(*mc->servers));
	for (i = 0; i < len; i++) {
		np += parse_server(json_object_array_get_idx(arr, i), i,
		    &mc->servers[mc->n], mc, problems);
		mc->n++;
	}
	json_object_put(root);
	if (np > 0) {
		mcp_config_free(mc);
		return np;
	}
	*out = mc;
	return 0;
}

const struct mcp_server *
mcp_find(const struct config *cfg, const char *name)
{
	int	 i;

	if (cfg->mcp == NULL || name == NULL)
		return NULL;
	for (i = 0; i < cfg->mcp->n; i++)
		if (strcmp(cfg->mcp->servers[i].name, name) == 0)
			return &cfg->mcp->servers[i];
	return NULL;
}

/* ---- session lists ------------------------------------------------------------- */

int
mcp_list_has(const char *list, const char *name)
{
	size_t	 n = strlen(name);
	const char *p;

	for (p = list; p != NULL && *p != '\0'; ) {
		if (strncmp(p, name, n) == 0 && (p[n] == ',' || p[n] == '\0'))
			return 1;
		if ((p = strchr(p, ',')) != NULL)
			p++;
	}
	return 0;
}

static void
list_add(char *out, size_t cap, const char *name)
{
	size_t	 len = strlen(out);

	if (len + strlen(name) + 2 > cap)
		return;
	snprintf(out + len, cap - len, "%s%s", len > 0 ? "," : "", name);
}

int
mcp_names_from_json(const struct config *cfg, json_object *arr, char *out,
    size_t cap, char *err, size_t errcap)
{
	json_object	*v;
	const char	*s;
	size_t		 i, n;
	int		 k;

	out[0] = '\0';
	if (!json_object_is_type(arr, json_type_array) ||
	    (n = json_object_array_length(arr)) > MCP_MAX_SERVERS * 4) {
		snprintf(err, errcap, "field 'mcp_servers' must be an array of "
		    "server names (GET /api/mcp/servers lists them)");
		return -1;
	}
	for (i = 0; i < n; i++) {
		v = json_object_array_get_idx(arr, i);
		if ((s = plain_str(v, MCP_NAME_MAX + 8)) == NULL) {
			snprintf(err, errcap, "field 'mcp_servers': item %zu is not a "
			    "server name", i);
			return -1;
		}
		if (mcp_find(cfg, s) == NULL) {
			snprintf(err, errcap, "field 'mcp_servers': no MCP server named "
			    "'%.40s' is configured (GET /api/mcp/servers lists them)", s);
			return -1;
		}
	}
	/* In configuration order, each once. */
	for (k = 0; cfg->mcp != NULL && k < cfg->mcp->n; k++)
		for (i = 0; i < n; i++)
			if (strcmp(json_object_get_string(json_object_array_get_idx(arr,
			    i)), cfg->mcp->servers[k].name) == 0) {
				list_add(out, cap, cfg->mcp->servers[k].name);
				break;
			}
	return 0;
}

void
mcp_default_names(const struct config *cfg, char *out, size_t cap)
{
	int	 k;

	out[0] = '\0';
	for (k = 0; cfg->mcp != NULL && k < cfg->mcp->n; k++)
		if (cfg->mcp->servers[k].enabled_by_default)
			list_add(out, cap, cfg->mcp->servers[k].name);
}

void
mcp_template_names(const struct config *cfg, const char *tpl, char *out,
    size_t cap)
{
	char	 needle[110];
	int	 k;

	mcp_default_names(cfg, out, cap);
	if (tpl == NULL || tpl[0] == '\0' || strlen(tpl) > 100)
		return;
	snprintf(needle, sizeof(needle), ",%s,", tpl);
	for (k = 0; cfg->mcp != NULL && k < cfg->mcp->n; k++)
		if (!cfg->mcp->servers[k].enabled_by_default &&
		    strstr(cfg->mcp->servers[k].templates, needle) != NULL)
			list_add(out, cap, cfg->mcp->servers[k].name);
}

json_object *
mcp_names_json(const struct config *cfg, const char *list)
{
	json_object	*arr = json_object_new_array();
	int		 k;

	for (k = 0; cfg->mcp != NULL && k < cfg->mcp->n; k++)
		if (mcp_list_has(list, cfg->mcp->servers[k].name))
			json_object_array_add(arr, json_object_new_string(
			    cfg->mcp->servers[k].name));
	return arr;
}

int
mcp_split_name(const char *name, char *server, size_t scap, char *tool,
    size_t tcap)
{
	const char	*p, *sep;

	if (strncmp(name, "mcp__", 5) != 0)
		return -1;
	p = name + 5;
	if ((sep = strstr(p, "__")) == NULL || sep == p || sep[2] == '\0' ||
	    (size_t)(sep - p) >= scap || strlen(sep + 2) >= tcap)
		return -1;
	snprintf(server, scap, "%.*s", (int)(sep - p), p);
	snprintf(tool, tcap, "%s", sep + 2);
	return 0;
}

json_object *
mcp_connector_servers(const struct config *cfg, const char *list)
{
	json_object	*arr = NULL, *o;
	int		 k;

	for (k = 0; cfg->mcp != NULL && k < cfg->mcp->n; k++) {
		const struct mcp_server *s = &cfg->mcp->servers[k];

		if (s->type != MCP_URL || !mcp_list_has(list, s->name))
			continue;
		if (arr == NULL)
			arr = json_object_new_array();
		o = json_object_new_object();
		json_object_object_add(o, "type", json_object_new_string("url"));
		json_object_object_add(o, "url", json_object_new_string(s->url));
		json_object_object_add(o, "name", json_object_new_string(s->name));
		if (s->token != NULL)
			json_object_object_add(o, "authorization_token",
			    json_object_new_string(s->token));
		json_object_array_add(arr, o);
	}
	return arr;
}

/* ---- one exchange with a stdio server ------------------------------------------ */

enum exch_kind { EX_LIST, EX_CALL };

struct exch {
	enum exch_kind	 kind;
	int		 wfd;		/* the server's stdin */
	int		 phase;		/* 0: initialize sent; 1: the request sent */
	long long	 want_id;
	const char	*tool;
	json_object	*args;
	json_object	*tools;		/* EX_LIST: collected */
	json_object	*result;	/* EX_CALL: the result */
	int		 pages;
	int		 finished;
	struct buf	 line;
	size_t		 total;
	char		 err[512];
};

/* Writes one message and its newline; -1 when it cannot (err set). */
static int
ex_send(struct exch *x, json_object *msg)
{
	const char	*s = json_object_to_json_string_ext(msg, JSON_C_TO_STRING_PLAIN |
			    JSON_C_TO_STRING_NOSLASHESCAPE);
	size_t		 len = strlen(s), off = 0;
	struct pollfd	 p;
	ssize_t		 w;
	int		 waited = 0;

	if (len + 1 > MCP_MSG_MAX) {
		snprintf(x->err, sizeof(x->err), "the request is larger than %d "
		    "bytes", MCP_MSG_MAX);
		return -1;
	}
	while (off < len + 1) {
		w = off < len ? write(x->wfd, s + off, len - off) :
		    write(x->wfd, "\n", 1);
		if (w > 0) {
			off += (size_t)w;
			continue;
		}
		if (w == -1 && errno == EINTR)
			continue;
		if (w == -1 && errno == EAGAIN && waited < WRITE_WAIT_MS) {
			p.fd = x->wfd;
			p.events = POLLOUT;
			poll(&p, 1, 100);
			waited += 100;
			continue;
		}
		snprintf(x->err, sizeof(x->err), "the server does not read its "
		    "input");
		return -1;
	}
	return 0;
}

static json_object *
rpc(long long id, const char *method, json_object *params)
{
	json_object	*m = json_object_new_object();

	json_object_object_add(m, "jsonrpc", json_object_new_string("2.0"));
	if (id > 0)
		json_object_object_add(m, "id", json_object_new_int64(id));
	json_object_object_add(m, "method", json_object_new_string(method));
	if (params != NULL)
		json_object_object_add(m, "params", params);
	return m;
}

static int
ex_send_rpc(struct exch *x, long long id, const char *method, json_object *params)
{
	json_object	*m = rpc(id, method, params);
	int		 rc = ex_send(x, m);

	json_object_put(m);
	return rc;
}

static int
ex_request(struct exch *x, const char *cursor)
{
	json_object	*p = json_object_new_object();

	x->want_id++;
	if (x->kind == EX_LIST) {
		if (cursor != NULL)
			json_object_object_add(p, "cursor", json_object_new_string(cursor));
		return ex_send_rpc(x, x->want_id, "tools/list", p);
	}
	json_object_object_add(p, "name", json_object_new_string(x->tool));
	json_object_object_add(p, "arguments", x->args != NULL ?
	    json_object_get(x->args) : json_object_new_object());
	return ex_send_rpc(x, x->want_id, "tools/call", p);
}

static const char *
jstr(json_object *o, const char *k)
{
	json_object	*v;

	return o != NULL && json_object_object_get_ex(o, k, &v) &&
	    json_object_is_type(v, json_type_string) ? json_object_get_string(v) :
	    NULL;
}

/* One complete line from the server. Returns 1 when the exchange is over. */
static int
ex_line(struct exch *x, const char *p, size_t n)
{
	struct json_tokener	*tok;
	json_object		*m, *id, *v, *res, *e;
	long long		 idv;
	int			 done = 0;

	while (n > 0 && (p[n - 1] == '\r' || p[n - 1] == ' ' || p[n - 1] == '\t'))
		n--;
	if (n == 0)
		return 0;
	tok = json_tokener_new_ex(64);
	m = json_tokener_parse_ex(tok, p, (int)n);
	if (m != NULL && json_tokener_get_error(tok) != json_tokener_success) {
		json_object_put(m);
		m = NULL;
	}
	json_tokener_free(tok);
	if (m == NULL || !json_object_is_type(m, json_type_object)) {
		/* Not JSON-RPC (a server printing to stdout): skipped. */
		if (m != NULL)
			json_object_put(m);
		return 0;
	}
	if (json_object_object_get_ex(m, "method", &v)) {
		/* A request from the server: ping answered, the rest refused. */
		if (json_object_object_get_ex(m, "id", &id)) {
			json_object *ans = json_object_new_object();

			json_object_object_add(ans, "jsonrpc", json_object_new_string("2.0"));
			json_object_object_add(ans, "id", json_object_get(id));
			if (json_object_is_type(v, json_type_string) &&
			    strcmp(json_object_get_string(v), "ping") == 0)
				json_object_object_add(ans, "result", json_object_new_object());
			else {
				e = json_object_new_object();
				json_object_object_add(e, "code", json_object_new_int(-32601));
				json_object_object_add(e, "message", json_object_new_string(
				    "not supported by this client"));
				json_object_object_add(ans, "error", e);
			}
			if (ex_send(x, ans) == -1)
				done = 1;
			json_object_put(ans);
		}
		json_object_put(m);
		return done;
	}
	if (!json_object_object_get_ex(m, "id", &id) ||
	    !json_object_is_type(id, json_type_int) ||
	    (idv = json_object_get_int64(id)) != x->want_id) {
		json_object_put(m);
		return 0;
	}
	if (json_object_object_get_ex(m, "error", &e)) {
		const char *msg = jstr(e, "message");

		snprintf(x->err, sizeof(x->err), "the server answered %s with an "
		    "error: %.400s", x->phase == 0 ? "initialize" : x->kind == EX_LIST ?
		    "tools/list" : "tools/call", msg != NULL ? msg : "(no message)");
		json_object_put(m);
		return 1;
	}
	if (!json_object_object_get_ex(m, "result", &res) ||
	    !json_object_is_type(res, json_type_object)) {
		snprintf(x->err, sizeof(x->err), "the server's answer has no result "
		    "object");
		json_object_put(m);
		return 1;
	}
	if (x->phase == 0) {
		x->phase = 1;
		if (ex_send_rpc(x, 0, "notifications/initialized", NULL) == -1 ||
		    ex_request(x, NULL) == -1)
			done = 1;
	} else if (x->kind == EX_LIST) {
		json_object	*tools;
		const char	*cursor = jstr(res, "nextCursor");
		size_t		 i;

		if (json_object_object_get_ex(res, "tools", &tools) &&
		    json_object_is_type(tools, json_type_array))
			for (i = 0; i < json_object_array_length(tools) &&
			    json_object_array_length(x->tools) < MCP_MAX_TOOLS * 2; i++)
				json_object_array_add(x->tools, json_object_get(
				    json_object_array_get_idx(tools, i)));
		if (cursor != NULL && *cursor != '\0' && ++x->pages < LIST_PAGES_MAX &&
		    json_object_array_length(x->tools) < MCP_MAX_TOOLS * 2) {
			if (ex_request(x, cursor) == -1)
				done = 1;
		} else {
			x->finished = 1;
			done = 1;
		}
	} else {
		x->result = json_object_get(res);
		x->finished = 1;
		done = 1;
	}
	json_object_put(m);
	return done;
}

static int
ex_output(void *arg, const char *p, size_t n)
{
	struct exch	*x = arg;
	const char	*nl;
	size_t		 k;

	x->total += n;
	if (x->total > MCP_OUTPUT_MAX) {
		snprintf(x->err, sizeof(x->err), "the server wrote more than %d MiB; "
		    "it was stopped", MCP_OUTPUT_MAX >> 20);
		return 1;
	}
	while (n > 0) {
		nl = memchr(p, '\n', n);
		k = nl != NULL ? (size_t)(nl - p) : n;
		if (x->line.len + k > MCP_MSG_MAX) {
			snprintf(x->err, sizeof(x->err), "a message from the server is "
			    "larger than %d KiB; it was stopped", MCP_MSG_MAX >> 10);
			return 1;
		}
		buf_append(&x->line, p, k);
		if (nl == NULL)
			break;
		if (ex_line(x, x->line.p ? x->line.p : "", x->line.len))
			return 1;
		buf_reset(&x->line);
		p += k + 1;
		n -= k + 1;
	}
	return 0;
}

/* 'arg' quoted for bash. */
static void
shquote(struct buf *b, const char *s)
{
	buf_putc(b, '\'');
	for (; *s != '\0'; s++)
		if (*s == '\'')
			buf_puts(b, "'\\''");
		else
			buf_putc(b, *s);
	buf_putc(b, '\'');
}

/*
 * Runs one exchange in files_dir's sandbox. 0 when it finished, -1 with
 * x->err set.
 */
static int
exchange(const struct config *cfg, const struct mcp_server *s,
    const char *files_dir, struct exch *x, int (*should_abort)(void *), void *arg,
    double *ms)
{
	struct sandbox_result	 res;
	struct sandbox_io	 io;
	struct buf		 cmd;
	json_object		*p, *ci;
	int			 pp[2], i, rc = -1;

	buf_init(&cmd, (ARGV_MAX + ENV_MAX) * (ARG_LEN_MAX * 4 + 16) + 64);
	for (i = 0; s->env != NULL && s->env[i] != NULL; i++) {
		const char *eq = strchr(s->env[i], '=');

		buf_printf(&cmd, "export %.*s=", (int)(eq - s->env[i]), s->env[i]);
		shquote(&cmd, eq + 1);
		buf_puts(&cmd, "\n");
	}
	for (i = 0; s->argv[i] != NULL; i++) {
		if (i > 0)
			buf_putc(&cmd, ' ');
		shquote(&cmd, s->argv[i]);
	}
	buf_putc(&cmd, '\0');
	if (pipe2(pp, O_CLOEXEC) == -1) {
		snprintf(x->err, sizeof(x->err), "pipe: %s", strerror(errno));
		buf_free(&cmd);
		return -1;
	}
	(void)fcntl(pp[1], F_SETPIPE_SZ, MCP_MSG_MAX);
	(void)fcntl(pp[1], F_SETFL, O_NONBLOCK);
	x->wfd = pp[1];
	buf_init(&x->line, MCP_MSG_MAX + 1);
	p = json_object_new_object();
	json_object_object_add(p, "protocolVersion",
	    json_object_new_string(MCP_PROTOCOL_VERSION));
	json_object_object_add(p, "capabilities", json_object_new_object());
	ci = json_object_new_object();
	json_object_object_add(ci, "name", json_object_new_string("claude-web"));
	json_object_object_add(ci, "version", json_object_new_string(PACKAGE_VERSION));
	json_object_object_add(p, "clientInfo", ci);
	x->want_id = 1;
	if (ex_send_rpc(x, 1, "initialize", p) == -1)
		goto out;
	memset(&io, 0, sizeof(io));
	io.stdin_fd = pp[0];
	io.on_stdout = ex_output;
	io.arg = x;
	io.timeout_ms = cfg->mcp_timeout * 1000;
	io.ro_bind = cfg->mcp_dir;
	sandbox_result_init(&res, STDERR_KEEP);
	sandbox_run_io(cfg, files_dir, "/workspace", cmd.p, should_abort, arg, &io,
	    &res);
	*ms = res.duration_ms;
	if (x->finished)
		rc = 0;
	else if (x->err[0] != '\0')
		;
	else if (res.failed)
		snprintf(x->err, sizeof(x->err), "%.400s", res.errmsg);
	else if (res.cancelled)
		snprintf(x->err, sizeof(x->err), "cancelled");
	else if (res.timed_out)
		snprintf(x->err, sizeof(x->err), "the server did not answer within "
		    "%lld s (MCP_TIMEOUT); it was stopped", cfg->mcp_timeout);
	else {
		size_t	 k = res.err.len;
		char	 tail[240];

		/* The last words on stderr say why, usually. */
		while (k > 0 && (res.err.p[k - 1] == '\n' || res.err.p[k - 1] == ' '))
			k--;
		snprintf(tail, sizeof(tail), "%.*s", (int)(k > 200 ? 200 : k),
		    k > 200 ? res.err.p + k - 200 : (res.err.p ? res.err.p : ""));
		for (i = 0; tail[i] != '\0'; i++)
			if ((unsigned char)tail[i] < 0x20)
				tail[i] = ' ';
		snprintf(x->err, sizeof(x->err), "the server exited (status %d) "
		    "before it answered%s%s", res.exit_code, tail[0] ? ": " : "", tail);
	}
	if (res.oom_killed && rc == -1)
		snprintf(x->err + strlen(x->err), sizeof(x->err) - strlen(x->err),
		    " (out of memory)");
	sandbox_result_free(&res);
	if (rc == -1) {
		/* The server's words go into JSON: valid UTF-8 only. */
		struct buf	 clean;
		size_t		 n;

		buf_init(&clean, sizeof(x->err) * 3 + 16);
		buf_utf8_clean(&clean, x->err, strlen(x->err));
		n = clean.len < sizeof(x->err) - 1 ? clean.len : sizeof(x->err) - 1;
		while (n > 0 && n < clean.len &&
		    ((unsigned char)clean.p[n] & 0xc0) == 0x80)
			n--;
		memcpy(x->err, clean.p ? clean.p : "", n);
		x->err[n] = '\0';
		buf_free(&clean);
	}
out:
	close(pp[0]);
	close(pp[1]);
	buf_free(&x->line);
	buf_free(&cmd);
	return rc;
}

/* ---- tools/list, cached -------------------------------------------------------- */

static int
valid_tool_name(const char *t)
{
	size_t	 i, n = strlen(t);

	if (n == 0 || n > MCP_TOOL_NAME_MAX)
		return 0;
	for (i = 0; i < n; i++)
		if (!(isalnum((unsigned char)t[i]) || t[i] == '_' || t[i] == '-'))
			return 0;
	return 1;
}

/* The first max bytes of s, cut at a character boundary, valid UTF-8. */
static json_object *
capped_string(const char *s, size_t max)
{
	struct buf	 b;
	size_t		 n = strlen(s);
	json_object	*o;

	if (n > max) {
		n = max;
		while (n > 0 && ((unsigned char)s[n] & 0xc0) == 0x80)
			n--;
	}
	buf_init(&b, n * 3 + 16);
	buf_utf8_clean(&b, s, n);
	o = json_object_new_string_len(b.p ? b.p : "", (int)b.len);
	buf_free(&b);
	return o;
}

static json_object *
sanitise_tools(const struct mcp_server *s, json_object *raw)
{
	json_object	*out = json_object_new_array(), *t, *o, *schema, *v, *copy;
	const char	*name, *desc, *text;
	char		 full[MCP_TOOL_NAME_MAX * 2 + 16];
	size_t		 i, j;
	int		 dup;

	for (i = 0; i < json_object_array_length(raw) &&
	    json_object_array_length(out) < MCP_MAX_TOOLS; i++) {
		t = json_object_array_get_idx(raw, i);
		if ((name = plain_str(json_object_object_get(t, "name"), 64)) == NULL ||
		    !valid_tool_name(name))
			continue;
		snprintf(full, sizeof(full), "mcp__%s__%s", s->name, name);
		if (strlen(full) > MCP_TOOL_NAME_MAX)
			continue;
		for (dup = 0, j = 0; j < json_object_array_length(out); j++)
			if (strcmp(jstr(json_object_array_get_idx(out, j), "name"),
			    full) == 0)
				dup = 1;
		if (dup)
			continue;
		o = json_object_new_object();
		json_object_object_add(o, "name", json_object_new_string(full));
		json_object_object_add(o, "tool", json_object_new_string(name));
		desc = jstr(t, "description");
		json_object_object_add(o, "description", capped_string(desc != NULL ?
		    desc : "", MCP_DESC_MAX));
		copy = NULL;
		if (json_object_object_get_ex(t, "inputSchema", &schema) &&
		    json_object_is_type(schema, json_type_object) &&
		    (v = json_object_object_get(schema, "type")) != NULL &&
		    json_object_is_type(v, json_type_string) &&
		    strcmp(json_object_get_string(v), "object") == 0 &&
		    (text = json_object_to_json_string_ext(schema,
		    JSON_C_TO_STRING_PLAIN)) != NULL && strlen(text) <= MCP_SCHEMA_MAX &&
		    jsonio_utf8_valid(text, strlen(text)))
			json_object_deep_copy(schema, &copy, NULL);
		if (copy == NULL) {
			copy = json_object_new_object();
			json_object_object_add(copy, "type", json_object_new_string("object"));
		}
		json_object_object_add(o, "input_schema", copy);
		json_object_array_add(out, o);
	}
	return out;
}

static int
mcp_state_dir(const struct config *cfg, char *out, size_t cap)
{
	if ((size_t)snprintf(out, cap, "%s/.mcp", cfg->workspace_path) >= cap)
		return -1;
	if (mkdir(out, 0750) == -1 && errno != EEXIST)
		return -1;
	return 0;
}

static json_object *
cache_read(const char *path)
{
	struct json_tokener	*tok;
	json_object		*o = NULL;
	struct stat		 st;
	char			*data;
	ssize_t			 n;
	int			 fd;

	if ((fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)) == -1)
		return NULL;
	if (fstat(fd, &st) == -1 || !S_ISREG(st.st_mode) ||
	    st.st_size > (off_t)MCP_MAX_TOOLS * (MCP_SCHEMA_MAX + MCP_DESC_MAX * 4 +
	    512) || (data = malloc((size_t)st.st_size + 1)) == NULL) {
		close(fd);
		return NULL;
	}
	n = read(fd, data, (size_t)st.st_size);
	close(fd);
	if (n == st.st_size) {
		tok = json_tokener_new_ex(64);
		o = json_tokener_parse_ex(tok, data, (int)n);
		json_tokener_free(tok);
		if (o != NULL && !json_object_is_type(o, json_type_array)) {
			json_object_put(o);
			o = NULL;
		}
	}
	free(data);
	return o;
}

/*
 * 1 with err set when the listing failed less than LIST_RETRY_S ago (the
 * .failed marker holds why), else 0.
 */
static int
recent_failure(const char *failpath, char *err, size_t errcap)
{
	struct stat	 st;
	char		 why[400];
	ssize_t		 n = -1;
	int		 fd;

	if (stat(failpath, &st) == -1 || !S_ISREG(st.st_mode) ||
	    time(NULL) - st.st_mtime < 0 || time(NULL) - st.st_mtime >= LIST_RETRY_S)
		return 0;
	if ((fd = open(failpath, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)) != -1) {
		n = read(fd, why, sizeof(why) - 1);
		close(fd);
	}
	why[n > 0 ? n : 0] = '\0';
	snprintf(err, errcap, "%s (listing again in %lld s)", n > 0 ? why :
	    "the tools could not be listed", (long long)(LIST_RETRY_S -
	    (time(NULL) - st.st_mtime)));
	return 1;
}

json_object *
mcp_server_tools(const struct config *cfg, const struct mcp_server *s,
    int (*should_abort)(void *), void *arg, char *err, size_t errcap)
{
	char		 dir[PATH_MAX], path[PATH_MAX + 128], probe[PATH_MAX + 16];
	char		 failpath[PATH_MAX + 128];
	struct exch	 x;
	json_object	*tools;
	const char	*text;
	double		 ms = 0;
	int		 rc, dfd;

	if (s->type != MCP_STDIO) {
		snprintf(err, errcap, "server %s is reached through the API's MCP "
		    "connector", s->name);
		return NULL;
	}
	if (mcp_state_dir(cfg, dir, sizeof(dir)) == -1) {
		snprintf(err, errcap, "cannot create %s/.mcp: %s", cfg->workspace_path,
		    strerror(errno));
		return NULL;
	}
	snprintf(path, sizeof(path), "%s/%s-%s.json", dir, s->name, s->hash);
	if ((tools = cache_read(path)) != NULL)
		return tools;
	/*
	 * A listing that failed a moment ago is not tried again at once: each
	 * model request of every run would wait MCP_TIMEOUT for a broken
	 * server.
	 */
	snprintf(failpath, sizeof(failpath), "%s/%s-%s.failed", dir, s->name, s->hash);
	if (recent_failure(failpath, err, errcap))
		return NULL;
	/*
	 * Listed once, in an empty workspace of its own (removed after,
	 * fd-relative: whatever the server left there, links included).
	 */
	snprintf(probe, sizeof(probe), "%s/probe-XXXXXX", dir);
	if (mkdtemp(probe) == NULL) {
		snprintf(err, errcap, "cannot create %s: %s", probe, strerror(errno));
		return NULL;
	}
	memset(&x, 0, sizeof(x));
	x.kind = EX_LIST;
	x.tools = json_object_new_array();
	rc = exchange(cfg, s, probe, &x, should_abort, arg, &ms);
	if ((dfd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)) != -1) {
		(void)ps_remove_tree_at(dfd, strrchr(probe, '/') + 1, 2000);
		close(dfd);
	}
	if (rc == -1) {
		snprintf(err, errcap, "MCP server %s: %s", s->name, x.err);
		(void)fsutil_write_atomic(failpath, err, strlen(err));
		log_kv(LOG_WARNING, "MCP tools/list failed", "s:server", s->name,
		    "s:error", x.err, NULL);
		json_object_put(x.tools);
		return NULL;
	}
	tools = sanitise_tools(s, x.tools);
	json_object_put(x.tools);
	(void)unlink(failpath);
	text = json_object_to_json_string_ext(tools, JSON_C_TO_STRING_PLAIN |
	    JSON_C_TO_STRING_NOSLASHESCAPE);
	if (fsutil_write_atomic(path, text, strlen(text)) == -1)
		log_kv(LOG_WARNING, "cannot cache MCP tools", "s:server", s->name,
		    "s:error", strerror(errno), NULL);
	log_kv(LOG_INFO, "MCP tools listed", "s:server", s->name,
	    "i:tools", (long long)json_object_array_length(tools),
	    "i:ms", (long long)ms, NULL);
	return tools;
}

/* ---- tools/call ---------------------------------------------------------------- */

static int
image_type_ok(const char *t)
{
	return t != NULL && (strcmp(t, "image/png") == 0 ||
	    strcmp(t, "image/jpeg") == 0 || strcmp(t, "image/gif") == 0 ||
	    strcmp(t, "image/webp") == 0);
}

static void
text_add(struct buf *out, size_t *cut, const char *s, size_t n)
{
	size_t	 room;

	if (out->len > 0 && out->len < out->max)
		buf_putc(out, '\n');
	room = out->max - out->len;
	if (n > room) {
		*cut += n - room;
		while (room > 0 && ((unsigned char)s[room] & 0xc0) == 0x80)
			room--;
		n = room;
	}
	buf_append(out, s, n);
}

static int
call_result(const struct config *cfg, json_object *res, struct buf *out,
    json_object **content, json_object *detail)
{
	json_object	*arr, *c, *v, *images = json_object_new_array(), *img, *src, *r;
	struct buf	 text;
	const char	*type, *s, *mt;
	size_t		 i, cut = 0;
	int		 is_error;

	buf_init(&text, (size_t)cfg->sandbox_output_limit);
	is_error = json_object_object_get_ex(res, "isError", &v) &&
	    json_object_get_boolean(v);
	if (json_object_object_get_ex(res, "content", &arr) &&
	    json_object_is_type(arr, json_type_array)) {
		for (i = 0; i < json_object_array_length(arr); i++) {
			c = json_object_array_get_idx(arr, i);
			type = jstr(c, "type");
			if (type == NULL)
				continue;
			if (strcmp(type, "text") == 0 && (s = jstr(c, "text")) != NULL)
				text_add(&text, &cut, s, strlen(s));
			else if (strcmp(type, "image") == 0) {
				const char *why = NULL;

				s = jstr(c, "data");
				mt = jstr(c, "mimeType");
				/*
				 * The checks of a person's images (attach.c): a
				 * bad one kept in the history would make every
				 * later request of the session fail (400).
				 */
				if (s == NULL)
					why = "it has no data";
				else if (json_object_array_length(images) >= 8)
					why = "more than 8 images in one result";
				else if (!image_type_ok(mt) || strlen(s) > IMAGE_DATA_MAX)
					why = "not PNG/JPEG/GIF/WebP, or too large";
				else if (attach_image_data_ok(mt, s, strlen(s), &why) == -1 &&
				    why == NULL)
					why = "the image data is not valid";
				if (why == NULL) {
					img = json_object_new_object();
					src = json_object_new_object();
					json_object_object_add(img, "type",
					    json_object_new_string("image"));
					json_object_object_add(src, "type",
					    json_object_new_string("base64"));
					json_object_object_add(src, "media_type",
					    json_object_new_string(mt));
					json_object_object_add(src, "data", json_object_new_string(s));
					json_object_object_add(img, "source", src);
					json_object_array_add(images, img);
				} else {
					char note[240];

					snprintf(note, sizeof(note), "[image omitted (%.40s): %.150s]",
					    mt != NULL ? mt : "no type", why);
					text_add(&text, &cut, note, strlen(note));
				}
			} else if (strcmp(type, "resource") == 0 &&
			    json_object_object_get_ex(c, "resource", &r)) {
				char head[600];

				snprintf(head, sizeof(head), "[resource %.500s]",
				    jstr(r, "uri") ? jstr(r, "uri") : "");
				text_add(&text, &cut, head, strlen(head));
				if ((s = jstr(r, "text")) != NULL)
					text_add(&text, &cut, s, strlen(s));
				else
					text_add(&text, &cut, "(binary content left out)", 25);
			} else if (strcmp(type, "resource_link") == 0) {
				char head[600];

				snprintf(head, sizeof(head), "[resource link %.500s]",
				    jstr(c, "uri") ? jstr(c, "uri") : "");
				text_add(&text, &cut, head, strlen(head));
			} else {
				char note[96];

				snprintf(note, sizeof(note), "[%.40s content left out]", type);
				text_add(&text, &cut, note, strlen(note));
			}
		}
	}
	if (text.len == 0 && json_object_object_get_ex(res, "structuredContent", &v)) {
		s = json_object_to_json_string_ext(v, JSON_C_TO_STRING_PLAIN);
		text_add(&text, &cut, s, strlen(s));
	}
	{
		struct buf clean;

		buf_init(&clean, text.len * 3 + 16);
		buf_utf8_clean(&clean, text.p ? text.p : "", text.len);
		buf_append(out, clean.p ? clean.p : "", clean.len);
		buf_free(&clean);
	}
	if (cut > 0)
		buf_printf(out, "\n[... %zu bytes of the result cut]", cut);
	if (out->len == 0 && json_object_array_length(images) == 0)
		buf_puts(out, is_error ? "(the tool failed without a message)" :
		    "(no output)");
	if (json_object_array_length(images) > 0) {
		*content = json_object_new_array();
		if (out->len > 0) {
			c = json_object_new_object();
			json_object_object_add(c, "type", json_object_new_string("text"));
			json_object_object_add(c, "text", json_object_new_string_len(out->p,
			    (int)out->len));
			json_object_array_add(*content, c);
		}
		for (i = 0; i < json_object_array_length(images); i++)
			json_object_array_add(*content, json_object_get(
			    json_object_array_get_idx(images, i)));
		json_object_object_add(detail, "images", json_object_new_int(
		    (int)json_object_array_length(images)));
	}
	json_object_put(images);
	buf_free(&text);
	return is_error;
}

int
mcp_call(const struct config *cfg, const char *sid, const struct mcp_server *s,
    const char *tool, json_object *args, int (*should_abort)(void *), void *arg,
    struct buf *out, json_object **content, json_object *detail)
{
	char		 files[PATH_MAX];
	struct exch	 x;
	double		 ms = 0;
	int		 rc;

	*content = NULL;
	json_object_object_add(detail, "server", json_object_new_string(s->name));
	json_object_object_add(detail, "tool", json_object_new_string(tool));
	if (s->type != MCP_STDIO) {
		buf_printf(out, "Error: %s is a remote MCP server; its tools run at "
		    "Anthropic", s->name);
		return 1;
	}
	if (args != NULL && !json_object_is_type(args, json_type_object)) {
		buf_puts(out, "Error: the tool's input must be an object");
		return 1;
	}
	if (sessions_path(cfg, sid, "files", files, sizeof(files)) == -1) {
		buf_puts(out, "Error: the session workspace is unavailable");
		return 1;
	}
	memset(&x, 0, sizeof(x));
	x.kind = EX_CALL;
	x.tool = tool;
	x.args = args;
	rc = exchange(cfg, s, files, &x, should_abort, arg, &ms);
	json_object_object_add(detail, "duration_ms", json_object_new_double(ms));
	if (rc == -1) {
		buf_printf(out, "Error: MCP server %s: %s", s->name, x.err);
		json_object_object_add(detail, "error", json_object_new_string(x.err));
		return 1;
	}
	rc = call_result(cfg, x.result, out, content, detail);
	json_object_put(x.result);
	return rc;
}

void
mcp_feed_output(const char *p, size_t n, size_t chunk, int list)
{
	static struct mcp_server	 s = { .name = "fuzz" };
	struct config			 cfg;
	struct exch			 x;
	struct buf			 out;
	json_object			*content = NULL, *detail, *tools;
	size_t				 off, k;

	memset(&cfg, 0, sizeof(cfg));
	cfg.sandbox_output_limit = 30000;
	memset(&x, 0, sizeof(x));
	x.kind = list ? EX_LIST : EX_CALL;
	x.tool = "t";
	x.want_id = 1;
	x.tools = json_object_new_array();
	if ((x.wfd = open("/dev/null", O_WRONLY | O_CLOEXEC)) == -1) {
		json_object_put(x.tools);
		return;
	}
	buf_init(&x.line, MCP_MSG_MAX + 1);
	if (chunk == 0)
		chunk = 1;
	for (off = 0; off < n; off += k) {
		k = n - off < chunk ? n - off : chunk;
		if (ex_output(&x, p + off, k) != 0)
			break;
	}
	if (list) {
		tools = sanitise_tools(&s, x.tools);
		json_object_put(tools);
	} else if (x.result != NULL) {
		buf_init(&out, 1 << 20);
		detail = json_object_new_object();
		call_result(&cfg, x.result, &out, &content, detail);
		if (content != NULL)
			json_object_put(content);
		json_object_put(detail);
		buf_free(&out);
		json_object_put(x.result);
	}
	json_object_put(x.tools);
	buf_free(&x.line);
	close(x.wfd);
}

/* ---- the listing for the API --------------------------------------------------- */

json_object *
mcp_servers_json(const struct config *cfg, int probe)
{
	json_object	*arr = json_object_new_array(), *o, *tools, *names;
	char		 err[600], dir[PATH_MAX], path[PATH_MAX + 128];
	size_t		 i;
	int		 k;

	for (k = 0; cfg->mcp != NULL && k < cfg->mcp->n; k++) {
		const struct mcp_server *s = &cfg->mcp->servers[k];

		o = json_object_new_object();
		json_object_object_add(o, "name", json_object_new_string(s->name));
		json_object_object_add(o, "type", json_object_new_string(
		    s->type == MCP_STDIO ? "stdio" : "url"));
		json_object_object_add(o, "enabled_by_default",
		    json_object_new_boolean(s->enabled_by_default));
		tools = NULL;
		err[0] = '\0';
		if (s->type == MCP_STDIO) {
			if (probe)
				tools = mcp_server_tools(cfg, s, NULL, NULL, err, sizeof(err));
			else if (mcp_state_dir(cfg, dir, sizeof(dir)) == 0) {
				snprintf(path, sizeof(path), "%s/%s-%s.json", dir, s->name,
				    s->hash);
				if ((tools = cache_read(path)) == NULL) {
					snprintf(path, sizeof(path), "%s/%s-%s.failed", dir,
					    s->name, s->hash);
					if (!recent_failure(path, err, sizeof(err)))
						snprintf(err, sizeof(err), "not listed yet: the "
						    "tools are listed when a run of a session "
						    "that enables this server starts");
				}
			}
		}
		if (tools != NULL) {
			names = json_object_new_array();
			for (i = 0; i < json_object_array_length(tools); i++)
				json_object_array_add(names, json_object_new_string(jstr(
				    json_object_array_get_idx(tools, i), "tool")));
			json_object_object_add(o, "tools", names);
			json_object_put(tools);
		} else
			json_object_object_add(o, "tools", NULL);
		if (err[0] != '\0')
			json_object_object_add(o, "error", json_object_new_string(err));
		json_object_array_add(arr, o);
	}
	return arr;
}

/* ---- registry entries ---------------------------------------------------------- */

struct mcp_def {
	struct tool_def	 def;
	char		 name[MCP_TOOL_NAME_MAX + 1];
	char		*description;
	char		*schema;
};

static void
mcp_def_free(void *p)
{
	struct mcp_def	*d = p;

	free(d->description);
	free(d->schema);
	free(d);
}

static void
mcp_summary(const struct tool_def *def, json_object *input, char *out, size_t cap)
{
	const struct mcp_server	*s = def->data;
	char			 server[MCP_NAME_MAX + 1], tool[MCP_TOOL_NAME_MAX + 1];
	const char		*args = input != NULL ?
				    json_object_to_json_string_ext(input,
				    JSON_C_TO_STRING_PLAIN) : "{}";

	if (mcp_split_name(def->name, server, sizeof(server), tool,
	    sizeof(tool)) == -1)
		snprintf(tool, sizeof(tool), "%s", def->name);
	snprintf(out, cap, "%s: %s %.300s", s->name, tool, args);
}

static int
mcp_run(struct tool_ctx *tc, const struct tool_def *def, json_object *input,
    struct buf *out, json_object *detail)
{
	const struct mcp_server	*s = def->data;
	char			 server[MCP_NAME_MAX + 1], tool[MCP_TOOL_NAME_MAX + 1];
	json_object		*content = NULL;
	int			 rc;

	if (mcp_split_name(def->name, server, sizeof(server), tool,
	    sizeof(tool)) == -1 || s == NULL) {
		buf_printf(out, "Error: %s is not an MCP tool", def->name);
		return 1;
	}
	rc = mcp_call(tc->cfg, tc->sid, s, tool, input, tc->should_abort, tc->arg,
	    out, &content, detail);
	if (content != NULL) {
		if (tc->content != NULL)
			json_object_put(tc->content);
		tc->content = content;
	}
	return rc;
}

void
mcp_toolset_add(struct toolset *set, const struct config *cfg, const char *list,
    int (*should_abort)(void *), void *arg)
{
	json_object	*tools, *t;
	struct mcp_def	*d;
	char		 err[600];
	size_t		 i;
	int		 k;

	for (k = 0; cfg->mcp != NULL && k < cfg->mcp->n; k++) {
		const struct mcp_server *s = &cfg->mcp->servers[k];

		if (s->type != MCP_STDIO || !mcp_list_has(list, s->name))
			continue;
		if ((tools = mcp_server_tools(cfg, s, should_abort, arg, err,
		    sizeof(err))) == NULL)
			continue;
		for (i = 0; i < json_object_array_length(tools); i++) {
			t = json_object_array_get_idx(tools, i);
			if ((d = calloc(1, sizeof(*d))) == NULL)
				break;
			snprintf(d->name, sizeof(d->name), "%s", jstr(t, "name") ?
			    jstr(t, "name") : "");
			d->description = strdup(jstr(t, "description") ?
			    jstr(t, "description") : "");
			d->schema = strdup(json_object_to_json_string_ext(
			    json_object_object_get(t, "input_schema"),
			    JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
			d->def.name = d->name;
			d->def.description = d->description;
			d->def.input_schema = d->schema;
			d->def.flags = TOOL_DYNAMIC;
			d->def.card = "mcp";
			d->def.default_class = TC_NETWORK;
			d->def.summary = mcp_summary;
			d->def.run = mcp_run;
			d->def.data = (void *)(uintptr_t)s;
			if (d->name[0] == '\0' || tools_set_own(set, d, mcp_def_free) == -1) {
				mcp_def_free(d);
				break;
			}
			if (tools_set_add(set, &d->def) == -1)
				break;
		}
		json_object_put(tools);
	}
}
