/*
 * netpolicy: a session's network policy, one setting for both ways a run
 * reaches the network.
 *
 *   off        no web tools; the sandbox has no network.
 *   allowlist  the Anthropic server tools web_search and web_fetch,
 *              restricted to allowed_domains (hostnames, subdomains
 *              included, as the API applies them); the sandbox still has
 *              no network: bubblewrap and pasta filter by address, not by
 *              name, so a per-domain sandbox network would be a promise the
 *              sandbox cannot keep.
 *   on         web_search and web_fetch unrestricted; the sandbox gets the
 *              network of SANDBOX_NETWORK=on (own netns behind pasta, no
 *              host or private addresses), only when the server-wide
 *              SANDBOX_NETWORK is on (the upper bound).
 *
 * Admins bound it per role (NETWORK_POLICY_MAX_USER, _ADMIN): asking for
 * more is refused (403), and a run uses at most the owner's current bound.
 * The server tools run at Anthropic: nothing here executes them; the
 * declarations are built per request (byte-stable for a given policy).
 *
 * Domains are kept as one comma-joined string (lowercase, validated,
 * de-duplicated); no allocation outlives a call except the JSON objects
 * returned, which the caller owns.
 */
#ifndef CW_NETPOLICY_H
#define CW_NETPOLICY_H

#include <stddef.h>

#include <json-c/json.h>

struct config;

enum netpolicy {
	NP_OFF = 0,
	NP_ALLOWLIST = 1,
	NP_ON = 2
};

#define NETPOLICY_DOMAIN_MAX	253	/* one hostname */
#define NETPOLICY_DOMAINS_MAX	32	/* entries per list */
#define NETPOLICY_DOMAINS_LEN	2048	/* the comma-joined list, NUL included */

#define NETPOLICY_FETCH_BETA	"web-fetch-2025-09-10"

/* "off", "allowlist", "on" -> 0; else -1. */
int	netpolicy_parse(const char *, enum netpolicy *);
const char *netpolicy_name(enum netpolicy);
/* A hostname: labels of a-z 0-9 -, at least two, no IP address. */
int	netpolicy_valid_domain(const char *);
/*
 * A JSON array of hostnames (case-folded) into out, comma-joined; 0, or -1
 * with a message for a 400 in err.
 */
int	netpolicy_domains_from_json(json_object *, char *out, size_t cap,
	    char *err, size_t errcap);
/* The same from a comma/space separated list (configuration). */
int	netpolicy_domains_from_list(const char *, char *out, size_t cap,
	    char *err, size_t errcap);
/* The comma-joined list as a JSON array (new object). */
json_object *netpolicy_domains_json(const char *);
/* The bound for a role ("admin" or anything else = user). */
enum netpolicy netpolicy_role_max(const struct config *, const char *role);
/* The policy a run uses: the session's, lowered to the owner's bound. */
enum netpolicy netpolicy_effective(const struct config *, const char *role,
	    const char *session_policy);
/*
 * Appends the server tool declarations of policy p to tools (a JSON array
 * the caller owns): none for off; web_search (and web_fetch unless
 * WEB_FETCH_MAX_USES is 0) with allowed_domains for allowlist, without for
 * on. Returns 1 when web_fetch was added (the request needs the beta
 * header NETPOLICY_FETCH_BETA).
 */
int	netpolicy_add_tools(json_object *tools, const struct config *,
	    enum netpolicy p, const char *domains);
/*
 * The same as entries of a run's toolset: copies of the registry's
 * web_search / web_fetch entries (TOOL_SERVER) carrying the policy's
 * options, owned by the set. Returns 1 when web_fetch is in it.
 */
struct toolset;
int	netpolicy_add_to_set(struct toolset *, const struct config *,
	    enum netpolicy p, const char *domains);
/* Whether the sandbox gets network under p (SANDBOX_NETWORK is the bound). */
int	netpolicy_sandbox_network(const struct config *, enum netpolicy p);

#endif
