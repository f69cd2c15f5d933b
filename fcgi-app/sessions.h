/*
 * sessions: a session is a Redis hash cw:{c}:session:<id> plus a directory
 * WORKSPACE_PATH/sessions/session-<id>/ with files/, .claude/ and
 * metadata.json. Indexes: cw:{c}:user_sessions:<owner> and cw:{c}:sessions (zsets
 * scored by creation time in microseconds, which is also the page cursor)
 * and cw:{c}:sessions:activity (scored by last activity, for active_sessions).
 * cw:{c}:storage:<owner> caches the owner's disk use for USER_STORAGE_QUOTA_MB.
 *
 * Deleting (sessions_delete) is ordered so that nothing of the session can
 * act on the host while its files go: the record is renamed to
 * cw:{c}:deleting:<id> (from then on sessions_get finds nothing, so no run,
 * stream or files request starts, and a runner that took the lock just
 * before sees the session gone); the active run is cancelled and the
 * runner's lock cw:{c}:lock:<id> waited for (bounded); the directory is renamed
 * into the quarantine WORKSPACE_PATH/.trash/<id>-<random>; the keys go; the
 * quarantined tree is removed with the fd-relative walker of pathsafe.c
 * (which, even with a sandbox still running in it, can only ever delete
 * inside that tree). Leftovers in .trash are swept by later deletes.
 * A delete that stopped half-way (a crash, Redis gone) is resumed by the
 * next DELETE of the same id.
 */
#ifndef CW_SESSIONS_H
#define CW_SESSIONS_H

#include <stddef.h>

#include "netpolicy.h"
#include "mcp.h"
#include "keys.h"
#include "store.h"

struct store;
struct config;

#define SESSION_ID_LEN		32	/* 128 random bits, hex */
#define SESSION_TITLE_MAX	200
#define SESSION_MODEL_MAX	100

struct session {
	char		 id[SESSION_ID_LEN + 1];
	char		 owner[128];
	char		 title[SESSION_TITLE_MAX * 4 + 1];
	char		 model[SESSION_MODEL_MAX + 1];
	char		 permission_mode[32];
	char		 template_name[128];
	char		 network_policy[16];	/* netpolicy.h; "" = NETWORK_DEFAULT_POLICY */
	char		 allowed_domains[NETPOLICY_DOMAINS_LEN]; /* comma-joined */
	char		 mcp_servers[MCP_LIST_MAX];	/* enabled MCP servers, comma-joined */
	char		 status[32];
	long long	 created_us;
	long		 updated_at;
	long		 last_activity;
};

enum sessions_err {
	SESS_OK = 0,
	SESS_ELIMIT,		/* MAX_SESSIONS reached */
	SESS_ETEMPLATE,		/* no such template */
	SESS_EFS,		/* workspace directory could not be made / moved */
	SESS_EREDIS,		/* Redis unreachable or refused (-OOM ...) */
	SESS_ENOTFOUND,		/* no such session (or deleted meanwhile) */
	SESS_EQUOTA,		/* USER_STORAGE_QUOTA_MB reached */
	SESS_EMEASURE		/* the owner's storage could not be measured */
};

int	sessions_valid_id(const char *);
int	sessions_valid_mode(const char *);
int	sessions_valid_model(const char *);
int	sessions_valid_template(const char *);
/* WORKSPACE_PATH/sessions/session-<id>[/sub] into out. */
int	sessions_path(const struct config *, const char *id, const char *sub,
	    char *out, size_t cap);

/*
 * 1 found, 0 not (also while it is being deleted, and for a record without
 * an owner, such as one a late status update re-created), -1 Redis error.
 */
int	sessions_get(struct store *, const char *id, struct session *);
/* The record of a session whose deletion began (cw:{c}:deleting:<id>). */
int	sessions_get_deleting(struct store *, const char *id, struct session *);
/*
 * owner/title/model/mode/template filled in. SESS_OK, SESS_ELIMIT,
 * SESS_ETEMPLATE, SESS_EQUOTA (the owner's sessions already use
 * USER_STORAGE_QUOTA_MB, template included), SESS_EMEASURE, SESS_EFS,
 * SESS_EREDIS (nothing is left behind in Redis or on disk).
 */
enum sessions_err sessions_create(struct store *, const struct config *,
	    struct session *);
/*
 * Writes every mutable field back and refreshes metadata.json. 0, 1 when
 * the session no longer exists (never re-created by a save), -1 Redis.
 */
int	sessions_save(struct store *, const struct config *, struct session *);
/* See the header. SESS_OK, SESS_ENOTFOUND, SESS_EREDIS, SESS_EFS. */
enum sessions_err sessions_delete(struct store *, const struct config *,
	    const char *id);
/* Removes what earlier deletes left in the quarantine; bounded by budget_ms. */
void	sessions_sweep_trash(const struct config *, int budget_ms);
/* last_activity now, if the session still exists. 0, 1 gone, -1 Redis. */
int	sessions_touch(struct store *, struct session *);
/*
 * Lists newest first: owner's sessions (or all when owner is NULL) created
 * before cursor (0 = from the newest). Calls fn per session; *next is the
 * cursor of the next page or 0 when there is none. Returns count or -1.
 */
int	sessions_list(struct store *, const char *owner, long long cursor,
	    int limit, void (*fn)(const struct session *, void *), void *arg,
	    long long *next);
/*
 * sessions_list in two steps, so the page read can share a round trip
 * with something else (auth_require_with): sessions_page_cmd fills pc
 * with the page's one command (sessions.c page_script: the index and the
 * stored summaries); sessions_list_from takes that command's reply
 * (consumed, NULL when it failed: then the page is read again one key per
 * command, as during a cluster slot migration) and reads the page.
 */
struct sessions_pagecmd {
	char			 key[256], max[40], lim[16];
	const char		*argv[8];
	struct store_pcmd	 cmd;
	int			 limit;
};
void	sessions_page_cmd(const char *owner, long long cursor, int limit,
	    struct sessions_pagecmd *);
int	sessions_list_from(struct store *, struct redisReply *page,
	    const struct sessions_pagecmd *,
	    void (*fn)(const struct session *, void *), void *arg,
	    long long *next);

/*
 * The list's summaries (sessions.c page_script): one hash, session id ->
 * the listed fields in one string. SESSIONS_LUA_UNSUMMARIZE(rec) is a Lua
 * statement that drops the summary of the session whose record key is the
 * Lua expression rec; every script that writes a listed field of a record
 * (owner, title, model, permission_mode, template, network_policy,
 * allowed_domains, mcp_servers, status, created_us, updated_at,
 * last_activity) runs it in the same script, after the write: a write
 * refused under maxmemory (-OOM) must come first, since once a script has
 * written, Redis lets its later writes through. (While a cluster slot
 * migrates, a drop may fail after the write; store.c drops every summary
 * after following a MOVED.)
 */
#define SESSIONS_SUMMARY_KEY	CW_KEY_SUMMARIES
#define SESSIONS_LUA_UNSUMMARIZE(rec)					\
	" redis.call('HDEL', '" SESSIONS_SUMMARY_KEY "', "		\
	"string.sub(" rec ", #'" CW_KP "session:' + 1)) "
/* A stored summary into out (id copied in); 1 when well-formed, else 0. */
int	sessions_summary_decode(const char *blob, size_t len, const char *id,
	    struct session *out);
/* Up to cap ids from owner's index (deleting ones included); count or -1. */
int	sessions_ids(struct store *, const char *owner,
	    char (*ids)[SESSION_ID_LEN + 1], int cap);
long long sessions_active(struct store *, long long timeout_s);

/*
 * USER_STORAGE_QUOTA_MB: may owner's sessions grow by add bytes? 0 yes,
 * 1 no (*used: bytes in use), -1 Redis error, -2 the use could not be
 * measured (too deep, too many entries, too slow: refused, fail closed).
 * fresh 1 measures the disk; 0 may use the cached figure (30 s, kept up to
 * date by what the API writes). A check that passes counts add in.
 */
int	sessions_storage_check(struct store *, const struct config *,
	    const char *owner, long long add, int fresh, long long *used);
/* Forgets the cached figure (after files were removed). */
void	sessions_storage_forget(struct store *, const char *owner);

#endif
