#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "netpolicy.h"
#include "tools.h"

static const char *const names[] = { "off", "allowlist", "on" };

int
netpolicy_parse(const char *s, enum netpolicy *out)
{
	int	 i;

	if (s == NULL)
		return -1;
	for (i = 0; i < 3; i++)
		if (strcmp(s, names[i]) == 0) {
			*out = (enum netpolicy)i;
			return 0;
		}
	return -1;
}

const char *
netpolicy_name(enum netpolicy p)
{
	return p >= NP_OFF && p <= NP_ON ? names[p] : "off";
}

int
netpolicy_valid_domain(const char *d)
{
	size_t	 len = strlen(d), lab = 0, i;
	int	 labels = 1, alpha_last = 0;

	if (len == 0 || len > NETPOLICY_DOMAIN_MAX || d[0] == '.' || d[len - 1] == '.')
		return 0;
	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)d[i];

		if (c == '.') {
			if (lab == 0 || d[i - 1] == '-')
				return 0;
			labels++;
			lab = 0;
			alpha_last = 0;
			continue;
		}
		if (!(islower(c) || isdigit(c) || c == '-') || c > 127)
			return 0;
		if (c == '-' && lab == 0)
			return 0;
		if (++lab > 63)
			return 0;
		if (!isdigit(c))
			alpha_last = 1;
	}
	/* The last label is not all digits: no IPv4 address. */
	return labels >= 2 && d[len - 1] != '-' && alpha_last;
}

/* Adds one domain (lowercased copy) to out unless present; 0 or -1 with err. */
static int
add_domain(const char *d, size_t n, char *out, size_t cap, int *count,
    char *err, size_t errcap)
{
	char	 h[NETPOLICY_DOMAIN_MAX + 2];
	size_t	 i, olen = strlen(out), hl;
	const char *p;

	if (n > NETPOLICY_DOMAIN_MAX) {
		snprintf(err, errcap, "a domain is longer than %d characters",
		    NETPOLICY_DOMAIN_MAX);
		return -1;
	}
	for (i = 0; i < n; i++)
		h[i] = (char)tolower((unsigned char)d[i]);
	h[n] = '\0';
	if (!netpolicy_valid_domain(h)) {
		snprintf(err, errcap, "'%.80s' is not a hostname (like example.com: "
		    "no scheme, port, path, wildcard or IP address)", h);
		return -1;
	}
	/* Already listed? */
	hl = strlen(h);
	for (p = out; *p != '\0'; ) {
		size_t l = strcspn(p, ",");

		if (l == hl && strncmp(p, h, l) == 0)
			return 0;
		p += l;
		if (*p == ',')
			p++;
	}
	if (*count >= NETPOLICY_DOMAINS_MAX) {
		snprintf(err, errcap, "at most %d domains", NETPOLICY_DOMAINS_MAX);
		return -1;
	}
	if (olen + (olen ? 1 : 0) + hl + 1 > cap) {
		snprintf(err, errcap, "the domains are longer than %zu characters "
		    "together", cap - 1);
		return -1;
	}
	snprintf(out + olen, cap - olen, "%s%s", olen ? "," : "", h);
	(*count)++;
	return 0;
}

int
netpolicy_domains_from_json(json_object *arr, char *out, size_t cap,
    char *err, size_t errcap)
{
	json_object	*e;
	size_t		 i, n;
	int		 count = 0;

	out[0] = '\0';
	if (arr == NULL || !json_object_is_type(arr, json_type_array)) {
		snprintf(err, errcap, "must be an array of hostnames");
		return -1;
	}
	n = json_object_array_length(arr);
	if (n > NETPOLICY_DOMAINS_MAX) {
		snprintf(err, errcap, "at most %d domains", NETPOLICY_DOMAINS_MAX);
		return -1;
	}
	for (i = 0; i < n; i++) {
		e = json_object_array_get_idx(arr, i);
		if (!json_object_is_type(e, json_type_string)) {
			snprintf(err, errcap, "entry %zu is not a string", i);
			return -1;
		}
		if ((size_t)json_object_get_string_len(e) !=
		    strlen(json_object_get_string(e))) {
			snprintf(err, errcap, "entry %zu holds a NUL character", i);
			return -1;
		}
		if (add_domain(json_object_get_string(e),
		    strlen(json_object_get_string(e)), out, cap, &count, err,
		    errcap) == -1)
			return -1;
	}
	return 0;
}

int
netpolicy_domains_from_list(const char *s, char *out, size_t cap, char *err,
    size_t errcap)
{
	int	 count = 0;
	size_t	 n;

	out[0] = '\0';
	if (s == NULL)
		return 0;
	for (;;) {
		s += strspn(s, ", \t");
		if (*s == '\0')
			return 0;
		n = strcspn(s, ", \t");
		if (add_domain(s, n, out, cap, &count, err, errcap) == -1)
			return -1;
		s += n;
	}
}

json_object *
netpolicy_domains_json(const char *s)
{
	json_object	*arr = json_object_new_array();
	size_t		 n;

	while (s != NULL && *s != '\0') {
		n = strcspn(s, ",");
		if (n > 0)
			json_object_array_add(arr, json_object_new_string_len(s, (int)n));
		s += n;
		if (*s == ',')
			s++;
	}
	return arr;
}

enum netpolicy
netpolicy_role_max(const struct config *cfg, const char *role)
{
	if (role != NULL && strcmp(role, "admin") == 0)
		return (enum netpolicy)cfg->network_policy_max_admin;
	return (enum netpolicy)cfg->network_policy_max_user;
}

enum netpolicy
netpolicy_effective(const struct config *cfg, const char *role,
    const char *session_policy)
{
	enum netpolicy	 p, max = netpolicy_role_max(cfg, role);

	if (session_policy == NULL || *session_policy == '\0')
		p = (enum netpolicy)cfg->network_default_policy;
	else if (netpolicy_parse(session_policy, &p) == -1)
		p = NP_OFF;	/* unknown: fail closed */
	return p > max ? max : p;
}

static json_object *
server_tool(const char *type, const char *name, long long max_uses,
    const char *domains)
{
	json_object	*t = json_object_new_object();

	json_object_object_add(t, "type", json_object_new_string(type));
	json_object_object_add(t, "name", json_object_new_string(name));
	json_object_object_add(t, "max_uses", json_object_new_int64(max_uses));
	if (domains != NULL)
		json_object_object_add(t, "allowed_domains",
		    netpolicy_domains_json(domains));
	return t;
}

int
netpolicy_add_tools(json_object *tools, const struct config *cfg,
    enum netpolicy p, const char *domains)
{
	json_object	*t, *c;

	if (p == NP_OFF)
		return 0;
	if (p == NP_ALLOWLIST && (domains == NULL || *domains == '\0'))
		return 0;	/* an empty allowlist allows nothing */
	if (p != NP_ALLOWLIST)
		domains = NULL;
	json_object_array_add(tools, server_tool("web_search_20250305",
	    "web_search", cfg->web_search_max_uses, domains));
	if (cfg->web_fetch_max_uses == 0)
		return 0;
	t = server_tool("web_fetch_20250910", "web_fetch", cfg->web_fetch_max_uses,
	    domains);
	c = json_object_new_object();
	json_object_object_add(c, "enabled", json_object_new_boolean(1));
	json_object_object_add(t, "citations", c);
	json_object_object_add(t, "max_content_tokens",
	    json_object_new_int64(cfg->web_fetch_max_content_tokens));
	json_object_array_add(tools, t);
	return 1;
}

int
netpolicy_sandbox_network(const struct config *cfg, enum netpolicy p)
{
	return cfg->sandbox_network && p == NP_ON;
}

int
netpolicy_add_to_set(struct toolset *set, const struct config *cfg,
    enum netpolicy p, const char *domains)
{
	json_object		*arr = json_object_new_array(), *t, *v;
	const struct tool_def	*base;
	struct tool_def		*d;
	char			*extra;
	size_t			 i;
	int			 fetch = 0;

	netpolicy_add_tools(arr, cfg, p, domains);
	for (i = 0; i < json_object_array_length(arr); i++) {
		t = json_object_array_get_idx(arr, i);
		if (!json_object_object_get_ex(t, "name", &v) ||
		    (base = tools_find_static(json_object_get_string(v))) == NULL)
			continue;
		json_object_object_del(t, "type");
		json_object_object_del(t, "name");
		/* The table's entry with this policy's options (byte-stable). */
		if ((d = malloc(sizeof(*d))) == NULL)
			continue;
		if ((extra = strdup(json_object_to_json_string_ext(t,
		    JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE))) == NULL) {
			free(d);
			continue;
		}
		*d = *base;
		d->decl_extra = extra;
		if (tools_set_own(set, extra, free) == -1) {
			free(extra);
			free(d);
			continue;
		}
		if (tools_set_own(set, d, free) == -1) {
			free(d);
			continue;
		}
		if (tools_set_add(set, d) == 0 && strcmp(d->name, "web_fetch") == 0)
			fetch = 1;
	}
	json_object_put(arr);
	return fetch;
}
