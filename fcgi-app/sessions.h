/*
 * sessions: a session is a Redis hash cw:session:<id> plus a directory
 * WORKSPACE_PATH/sessions/session-<id>/ with files/, .claude/ and
 * metadata.json. Indexes: cw:user_sessions:<owner> and cw:sessions (zsets
 * scored by creation time in microseconds, which is also the page cursor)
 * and cw:sessions:activity (scored by last activity, for active_sessions).
 */
#ifndef CW_SESSIONS_H
#define CW_SESSIONS_H

#include <stddef.h>

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
	char		 status[32];
	long long	 created_us;
	long		 updated_at;
	long		 last_activity;
};

enum sessions_err {
	SESS_OK = 0,
	SESS_ELIMIT,		/* MAX_SESSIONS reached */
	SESS_ETEMPLATE,		/* no such template */
	SESS_EFS,		/* workspace directory could not be made */
	SESS_EREDIS
};

int	sessions_valid_id(const char *);
int	sessions_valid_mode(const char *);
int	sessions_valid_model(const char *);
int	sessions_valid_template(const char *);
/* WORKSPACE_PATH/sessions/session-<id>[/sub] into out. */
int	sessions_path(const struct config *, const char *id, const char *sub,
	    char *out, size_t cap);

/* 1 found, 0 not, -1 Redis error. */
int	sessions_get(struct store *, const char *id, struct session *);
enum sessions_err sessions_create(struct store *, const struct config *,
	    struct session *);	/* owner/title/model/mode/template filled in */
/* Writes every mutable field back and refreshes metadata.json. */
int	sessions_save(struct store *, const struct config *, struct session *);
int	sessions_delete(struct store *, const struct config *, const struct session *);
int	sessions_touch(struct store *, struct session *);
/*
 * Lists newest first: owner's sessions (or all when owner is NULL) created
 * before cursor (0 = from the newest). Calls fn per session; *next is the
 * cursor of the next page or 0 when there is none. Returns count or -1.
 */
int	sessions_list(struct store *, const char *owner, long long cursor,
	    int limit, void (*fn)(const struct session *, void *), void *arg,
	    long long *next);
long long sessions_active(struct store *, long long timeout_s);

#endif
