#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>

#include "auth.h"
#include "config.h"
#include "fsutil.h"
#include "keys.h"
#include "log.h"
#include "pathsafe.h"
#include "quota.h"
#include "runs.h"
#include "scheduler.h"
#include "sessions.h"
#include "store.h"

#define TRASH_DIR		".trash"
#define STORAGE_CACHE_S		"30"
#define STORAGE_BUDGET_MS	5000
#define DELETE_POLL_MS		50
#define SWEEP_BUDGET_MS		5000

/*
 * Creation in one atomic step: the cap check, the three indexes and the
 * record. Under -OOM the first write fails and nothing is written.
 * KEYS: user index, cw:{c}:sessions, cw:{c}:sessions:activity, record.
 * ARGV: max, created_us, id, last_activity, field/value pairs.
 */
static const char create_script[] =
    "if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[1]) then return 0 end "
    "redis.call('ZADD', KEYS[1], ARGV[2], ARGV[3]) "
    "redis.call('ZADD', KEYS[2], ARGV[2], ARGV[3]) "
    "redis.call('ZADD', KEYS[3], ARGV[4], ARGV[3]) "
    "redis.call('HSET', KEYS[4], unpack(ARGV, 5)) "
    SESSIONS_LUA_UNSUMMARIZE("KEYS[4]")
    "return 1";

/*
 * An update writes only into a record that still exists (with its owner):
 * a save racing a delete never brings the session back.
 * KEYS: record, cw:{c}:sessions:activity. ARGV: id, last_activity, pairs.
 */
static const char update_script[] =
    "if redis.call('HEXISTS', KEYS[1], 'owner') == 0 then return 0 end "
    "redis.call('HSET', KEYS[1], unpack(ARGV, 3)) "
    SESSIONS_LUA_UNSUMMARIZE("KEYS[1]")
    "redis.call('ZADD', KEYS[2], ARGV[2], ARGV[1]) "
    "return 1";

/*
 * The first step of a delete: the record becomes cw:{c}:deleting:<id>. Only
 * RENAME/DEL (no -OOM refusal): a full Redis can still delete. 1 marked,
 * 2 already marked (resume), 0 no such session.
 * KEYS: record, deleting record.
 */
static const char mark_script[] =
    SESSIONS_LUA_UNSUMMARIZE("KEYS[1]")
    "if redis.call('EXISTS', KEYS[2]) == 1 then "
    "redis.call('DEL', KEYS[1]) return 2 end "
    "if redis.call('HEXISTS', KEYS[1], 'owner') == 1 then "
    "redis.call('RENAME', KEYS[1], KEYS[2]) return 1 end "
    "redis.call('DEL', KEYS[1]) "
    "return 0";

/* Undoes the mark when the directory could not be moved. */
static const char unmark_script[] =
    "if redis.call('EXISTS', KEYS[1]) == 0 and "
    "redis.call('EXISTS', KEYS[2]) == 1 then "
    "redis.call('RENAME', KEYS[2], KEYS[1]) return 1 end "
    "return 0";

/*
 * The last step: indexes and every key of the session, at once.
 * KEYS[1..3]: indexes, KEYS[4..]: keys to delete. ARGV[1]: id.
 */
static const char forget_script[] =
    "redis.call('HDEL', '" SESSIONS_SUMMARY_KEY "', ARGV[1]) "
    "for i = 1, 3 do redis.call('ZREM', KEYS[i], ARGV[1]) end "
    "for i = 4, #KEYS do redis.call('DEL', KEYS[i]) end "
    "return 1";

/* Counts bytes into the cached figure, if there is one. */
static const char storage_add_script[] =
    "if redis.call('EXISTS', KEYS[1]) == 1 then "
    "return redis.call('INCRBY', KEYS[1], ARGV[1]) end return 0";

int
sessions_valid_id(const char *s)
{
	size_t	 i;

	if (strlen(s) != SESSION_ID_LEN)
		return 0;
	for (i = 0; i < SESSION_ID_LEN; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return 0;
	return 1;
}

int
sessions_valid_mode(const char *m)
{
	return strcmp(m, "default") == 0 || strcmp(m, "acceptEdits") == 0 ||
	    strcmp(m, "plan") == 0 || strcmp(m, "bypassPermissions") == 0;
}

int
sessions_valid_model(const char *m)
{
	size_t	 i, n = strlen(m);

	if (n == 0 || n > SESSION_MODEL_MAX)
		return 0;
	for (i = 0; i < n; i++)
		if (!islower((unsigned char)m[i]) && !isdigit((unsigned char)m[i]) &&
		    m[i] != '-' && m[i] != '.' && m[i] != '_' && m[i] != '@')
			return 0;
	return 1;
}

int
sessions_valid_template(const char *t)
{
	size_t	 i, n = strlen(t);

	if (n == 0 || n > 100 || t[0] == '.')
		return 0;
	for (i = 0; i < n; i++)
		if (!isalnum((unsigned char)t[i]) && t[i] != '-' && t[i] != '_' &&
		    t[i] != '.')
			return 0;
	return 1;
}

int
sessions_path(const struct config *cfg, const char *id, const char *sub,
    char *out, size_t cap)
{
	int	 n;

	n = snprintf(out, cap, "%s/sessions/session-%s%s%s", cfg->workspace_path,
	    id, sub ? "/" : "", sub ? sub : "");
	return (n < 0 || (size_t)n >= cap) ? -1 : 0;
}

static int64_t
mono_ms(void)
{
	struct timespec	 ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static long long
now_us(void)
{
	struct timeval	 tv;

	gettimeofday(&tv, NULL);
	return (long long)tv.tv_sec * 1000000LL + tv.tv_usec;
}

/* Fills out from an HGETALL reply; 1 when the hash had fields. */
static int
session_from_reply(redisReply *r, const char *id, struct session *out)
{
	long long	 v;
	size_t		 i;
	int		 found = 0;

	memset(out, 0, sizeof(*out));
	memcpy(out->id, id, SESSION_ID_LEN + 1);
	if (r->type != REDIS_REPLY_ARRAY)
		return 0;
	for (i = 0; i + 1 < r->elements; i += 2) {
		const char *f = r->element[i]->str, *val = r->element[i + 1]->str;

		if (f == NULL || val == NULL)
			continue;
		found = 1;
#define FIELD(name, dst) else if (strcmp(f, name) == 0) snprintf(dst, sizeof(dst), "%s", val)
		if (0)
			;
		FIELD("owner", out->owner);
		FIELD("title", out->title);
		FIELD("model", out->model);
		FIELD("permission_mode", out->permission_mode);
		FIELD("template", out->template_name);
		FIELD("network_policy", out->network_policy);
		FIELD("allowed_domains", out->allowed_domains);
		FIELD("mcp_servers", out->mcp_servers);
		FIELD("status", out->status);
#undef FIELD
		else if (strcmp(f, "created_us") == 0 && config_parse_ll(val, &v) == 0)
			out->created_us = v;
		else if (strcmp(f, "updated_at") == 0 && config_parse_ll(val, &v) == 0)
			out->updated_at = (long)v;
		else if (strcmp(f, "last_activity") == 0 && config_parse_ll(val, &v) == 0)
			out->last_activity = (long)v;
	}
	/* A record without an owner is debris (a late HSET after a delete). */
	return found && out->owner[0] != '\0';
}

static int
get_record(struct store *s, const char *prefix, const char *id,
    struct session *out)
{
	redisReply	*r;
	char		 key[96];
	int		 found;

	if (!sessions_valid_id(id))
		return 0;
	snprintf(key, sizeof(key), "%s%s", prefix, id);
	if ((r = store_cmdv(s, "HGETALL", key, NULL)) == NULL)
		return -1;
	if (r->type != REDIS_REPLY_ARRAY) {
		freeReplyObject(r);
		return -1;
	}
	found = session_from_reply(r, id, out);
	freeReplyObject(r);
	return found;
}

int
sessions_get(struct store *s, const char *id, struct session *out)
{
	return get_record(s, CW_KP "session:", id, out);
}

int
sessions_get_deleting(struct store *s, const char *id, struct session *out)
{
	int	 rv = get_record(s, CW_KP "deleting:", id, out);

	if (rv == 1)
		snprintf(out->status, sizeof(out->status), "deleting");
	return rv;
}

static int
write_metadata(const struct config *cfg, const struct session *s)
{
	json_object	*o = json_object_new_object();
	char		 path[PATH_MAX];
	const char	*txt;
	int		 rc;

	json_object_object_add(o, "id", json_object_new_string(s->id));
	json_object_object_add(o, "owner", json_object_new_string(s->owner));
	json_object_object_add(o, "title", json_object_new_string(s->title));
	json_object_object_add(o, "model", json_object_new_string(s->model));
	json_object_object_add(o, "permission_mode",
	    json_object_new_string(s->permission_mode));
	json_object_object_add(o, "template", s->template_name[0] ?
	    json_object_new_string(s->template_name) : NULL);
	json_object_object_add(o, "created_at",
	    json_object_new_int64(s->created_us / 1000000));
	json_object_object_add(o, "updated_at", json_object_new_int64(s->updated_at));
	txt = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY |
	    JSON_C_TO_STRING_NOSLASHESCAPE);
	rc = -1;
	if (sessions_path(cfg, s->id, "metadata.json", path, sizeof(path)) == 0)
		rc = fsutil_write_atomic(path, txt, strlen(txt));
	json_object_put(o);
	return rc;
}

/* The record's fields as HSET pairs into argv; returns how many strings. */
static int
record_pairs(const struct session *s, const char **argv, char *cu, char *ua,
    char *la)
{
	int	 n = 0;

	snprintf(cu, 32, "%lld", s->created_us);
	snprintf(ua, 32, "%ld", s->updated_at);
	snprintf(la, 32, "%ld", s->last_activity);
#define P(k, v) (argv[n++] = (k), argv[n++] = (v))
	P("owner", s->owner);
	P("title", s->title);
	P("model", s->model);
	P("permission_mode", s->permission_mode);
	P("template", s->template_name);
	P("network_policy", s->network_policy);
	P("allowed_domains", s->allowed_domains);
	P("mcp_servers", s->mcp_servers);
	P("status", s->status);
	P("created_us", cu);
	P("updated_at", ua);
	P("last_activity", la);
#undef P
	return n;
}

/* update_script with argv pairs: 1 written, 0 no such session, -1 Redis. */
static int
update_record(struct store *st, const char *id, const char *la,
    const char **pairs, int npairs)
{
	const char	*argv[64];
	redisReply	*r;
	char		 key[96];
	int		 argc = 0, i, rv;

	snprintf(key, sizeof(key), CW_KP "session:%s", id);
	argv[argc++] = "EVAL";
	argv[argc++] = update_script;
	argv[argc++] = "2";
	argv[argc++] = key;
	argv[argc++] = CW_KP "sessions:activity";
	argv[argc++] = id;
	argv[argc++] = la;
	for (i = 0; i < npairs && argc < (int)(sizeof(argv) / sizeof(argv[0])); i++)
		argv[argc++] = pairs[i];
	if ((r = store_cmd(st, argc, argv, NULL)) == NULL)
		return -1;
	rv = r->type == REDIS_REPLY_INTEGER && r->integer == 1 ? 1 : 0;
	freeReplyObject(r);
	return rv;
}

/* Index entries and every key of the session, in one atomic step. */
static int
forget_keys(struct store *st, const char *id, const char *owner)
{
	static const char *const per_session[] = { CW_KP "deleting:", CW_KP "session:",
	    CW_KP "events:", CW_KP "evbytes:", CW_KP "usage:session:", CW_KP "perm:pending:",
	    CW_KP "perm:remember:", CW_KP "fence:", CW_KP "active:", CW_KP "sq:" };
	const char	*argv[24];
	redisReply	*r;
	char		 keys[16][300], nkeys[8];
	size_t		 i;
	int		 argc = 0, nk = 0;

	snprintf(keys[nk++], sizeof(keys[0]), CW_KP "user_sessions:%s", owner);
	snprintf(keys[nk++], sizeof(keys[0]), CW_KP "storage:%s", owner);
	argv[argc++] = "EVAL";
	argv[argc++] = forget_script;
	argv[argc++] = NULL;		/* numkeys, below */
	argv[argc++] = keys[0];
	argv[argc++] = CW_KP "sessions";
	argv[argc++] = CW_KP "sessions:activity";
	argv[argc++] = keys[1];
	for (i = 0; i < sizeof(per_session) / sizeof(per_session[0]); i++) {
		snprintf(keys[nk], sizeof(keys[0]), "%s%s", per_session[i], id);
		argv[argc++] = keys[nk++];
	}
	snprintf(nkeys, sizeof(nkeys), "%d", argc - 3);
	argv[2] = nkeys;
	argv[argc++] = id;
	if ((r = store_cmd(st, argc, argv, NULL)) == NULL)
		return -1;
	freeReplyObject(r);
	return 0;
}

/* WORKSPACE_PATH/<sub> as a directory fd (the workspace path is trusted). */
static int
open_ws_dir(const struct config *cfg, const char *sub, int create)
{
	int	 ws, fd, saved;

	if ((ws = open(cfg->workspace_path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1)
		return -1;
	if (create && mkdirat(ws, sub, 0700) == -1 && errno != EEXIST) {
		saved = errno;
		close(ws);
		errno = saved;
		return -1;
	}
	fd = openat(ws, sub, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	saved = errno;
	close(ws);
	errno = saved;
	return fd;
}

/*
 * The disk use of the tree at name in dirfd, with quota.c's walker (the
 * one that measures: fd-relative, no symlink followed, no mount point
 * crossed, bounded). A missing tree uses nothing. 0, or -1 (errno; a walk
 * that hit a bound is E2BIG: its use is unknown).
 */
static int
tree_usage(int dirfd, const char *name, long long *bytes)
{
	struct quota_usage	 u;
	int			 fd, rc, saved;

	*bytes = 0;
	if ((fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
	    O_CLOEXEC)) == -1)
		return errno == ENOENT ? 0 : -1;
	rc = quota_usage(fd, 0, &u);
	saved = errno;
	close(fd);
	if (rc == -1) {
		errno = saved;
		return -1;
	}
	*bytes = u.bytes;
	if (u.truncated) {
		errno = E2BIG;
		return -1;
	}
	return 0;
}

/* Removes a directory made for a session that was never handed out. */
static void
remove_session_dir(const struct config *cfg, const char *id)
{
	char	 name[SESSION_ID_LEN + 16];
	int	 sdir;

	snprintf(name, sizeof(name), "session-%s", id);
	if ((sdir = open_ws_dir(cfg, "sessions", 0)) == -1)
		return;
	if (ps_remove_tree_at(sdir, name, 0) == -1)
		log_kv(LOG_ERROR, "cannot remove a session directory", "s:session",
		    id, "s:error", strerror(errno), NULL);
	close(sdir);
}

enum sessions_err
sessions_create(struct store *st, const struct config *cfg, struct session *s)
{
	const char	*argv[64];
	redisReply	*r;
	struct stat	 sb;
	char		 ukey[256], hkey[96], score[32], max[32], la[32], cu[32],
			 ua[32], dir[PATH_MAX], tpl[PATH_MAX];
	long long	 tpl_bytes = 0, used;
	int		 added, argc = 0, tdir, rv;

	if (s->template_name[0] != '\0') {
		snprintf(tpl, sizeof(tpl), "%s/shared/templates/%s",
		    cfg->workspace_path, s->template_name);
		if (stat(tpl, &sb) == -1 || !S_ISDIR(sb.st_mode))
			return SESS_ETEMPLATE;
	}
	if (cfg->user_storage_quota_mb > 0) {
		/* What the new session starts with counts too. */
		if (s->template_name[0] != '\0') {
			snprintf(dir, sizeof(dir), "%s/shared/templates",
			    cfg->workspace_path);
			if ((tdir = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1 ||
			    tree_usage(tdir, s->template_name, &tpl_bytes) == -1) {
				if (tdir != -1)
					close(tdir);
				return SESS_EMEASURE;
			}
			close(tdir);
		}
		rv = sessions_storage_check(st, cfg, s->owner, tpl_bytes + 16384, 1,
		    &used);
		if (rv == 1)
			return SESS_EQUOTA;
		if (rv == -1)
			return SESS_EREDIS;
		if (rv == -2)
			return SESS_EMEASURE;
	}
	if (auth_random_hex(s->id, SESSION_ID_LEN / 2) == -1)
		return SESS_EFS;
	s->created_us = now_us();
	s->updated_at = s->last_activity = (long)(s->created_us / 1000000);
	snprintf(s->status, sizeof(s->status), "idle");

	snprintf(ukey, sizeof(ukey), CW_KP "user_sessions:%s", s->owner);
	snprintf(hkey, sizeof(hkey), CW_KP "session:%s", s->id);
	snprintf(score, sizeof(score), "%lld", s->created_us);
	snprintf(max, sizeof(max), "%lld", cfg->max_sessions);
	snprintf(la, sizeof(la), "%ld", s->last_activity);
	argv[argc++] = "EVAL";
	argv[argc++] = create_script;
	argv[argc++] = "4";
	argv[argc++] = ukey;
	argv[argc++] = CW_KP "sessions";
	argv[argc++] = CW_KP "sessions:activity";
	argv[argc++] = hkey;
	argv[argc++] = max;
	argv[argc++] = score;
	argv[argc++] = s->id;
	argv[argc++] = la;
	argc += record_pairs(s, argv + argc, cu, ua, la);
	if ((r = store_cmd(st, argc, argv, NULL)) == NULL)
		return SESS_EREDIS;	/* -OOM included: never "the limit" */
	added = r->type == REDIS_REPLY_INTEGER && r->integer == 1;
	freeReplyObject(r);
	if (!added)
		return SESS_ELIMIT;
	if (sessions_path(cfg, s->id, "files", dir, sizeof(dir)) == -1 ||
	    fsutil_mkdirs(dir) == -1 ||
	    sessions_path(cfg, s->id, ".claude", dir, sizeof(dir)) == -1 ||
	    fsutil_mkdirs(dir) == -1 || write_metadata(cfg, s) == -1) {
		log_kv(LOG_ERROR, "cannot create session directory", "s:session",
		    s->id, "s:error", strerror(errno), NULL);
		goto fail;
	}
	if (s->template_name[0] != '\0') {
		sessions_path(cfg, s->id, "files", dir, sizeof(dir));
		if (fsutil_copy_tree(tpl, dir) == -1) {
			log_kv(LOG_ERROR, "cannot copy template", "s:session", s->id,
			    "s:template", s->template_name, NULL);
			goto fail;
		}
	}
	return SESS_OK;
fail:
	if (forget_keys(st, s->id, s->owner) == -1)
		log_kv(LOG_ERROR, "cannot remove the record of a failed session",
		    "s:session", s->id, NULL);
	remove_session_dir(cfg, s->id);
	return SESS_EFS;
}

int
sessions_save(struct store *st, const struct config *cfg, struct session *s)
{
	const char	*pairs[48];
	char		 cu[32], ua[32], la[32];
	int		 n, rv, i;

	s->updated_at = s->last_activity = (long)time(NULL);
	n = record_pairs(s, pairs, cu, ua, la);
	/*
	 * status belongs to the scheduler once the session exists: writing
	 * back the value read at the start of this request would undo a run
	 * that started or ended meanwhile.
	 */
	for (i = 0; i + 1 < n; i += 2)
		if (strcmp(pairs[i], "status") == 0) {
			memmove(&pairs[i], &pairs[i + 2], (size_t)(n - i - 2) *
			    sizeof(pairs[0]));
			n -= 2;
			break;
		}
	if ((rv = update_record(st, s->id, la, pairs, n)) == -1)
		return -1;
	if (rv == 0)
		return 1;
	if (write_metadata(cfg, s) == -1)
		log_kv(LOG_WARNING, "cannot write metadata.json", "s:session", s->id,
		    "s:error", strerror(errno), NULL);
	return 0;
}

int
sessions_touch(struct store *st, struct session *s)
{
	const char	*pairs[2];
	char		 la[32];
	int		 rv;

	s->last_activity = (long)time(NULL);
	snprintf(la, sizeof(la), "%ld", s->last_activity);
	pairs[0] = "last_activity";
	pairs[1] = la;
	if ((rv = update_record(st, s->id, la, pairs, 2)) == -1)
		return -1;
	return rv == 1 ? 0 : 1;
}

/* A one-key Lua step on the live and deleting records of id. */
static redisReply *
record_script(struct store *st, const char *script, const char *id)
{
	char	 live[96], dead[96];

	snprintf(live, sizeof(live), CW_KP "session:%s", id);
	snprintf(dead, sizeof(dead), CW_KP "deleting:%s", id);
	return store_cmdv(st, "EVAL", script, "2", live, dead, NULL);
}

/*
 * Cancels the session's run and waits until no runner holds its lock (the
 * runner kills the sandbox and waits for it before it lets go), at most
 * wait_ms. A runner that takes the lock after this looks finds the record
 * gone and starts nothing. 0 no run left, 1 still there at the deadline.
 */
static int
stop_run(struct store *st, const struct config *cfg, const char *id,
    int64_t wait_ms)
{
	redisReply	*r;
	struct timespec	 ts = { 0, DELETE_POLL_MS * 1000000L };
	char		 run[RUN_ID_LEN + 8], cancelled[RUN_ID_LEN + 8] = "",
			 lkey[96];
	int64_t		 deadline = mono_ms() + wait_ms;
	int		 locked;

	snprintf(lkey, sizeof(lkey), CW_KP "lock:%s", id);
	for (;;) {
		if (runs_active(st, id, run, sizeof(run)) == 1 &&
		    strcmp(run, cancelled) != 0) {
			/* A parked or queued run is closed or woken to end. */
			if (sched_cancel_run(st, cfg, run) >= 0)
				snprintf(cancelled, sizeof(cancelled), "%s", run);
			log_kv(LOG_INFO, "cancelling the run of a session being deleted",
			    "s:session", id, "s:run_id", run, NULL);
		}
		locked = 1;	/* unknown (Redis error) counts as locked */
		if ((r = store_cmdv(st, "EXISTS", lkey, NULL)) != NULL) {
			locked = r->type != REDIS_REPLY_INTEGER || r->integer != 0;
			freeReplyObject(r);
		}
		if (!locked)
			return 0;
		if (mono_ms() >= deadline)
			return 1;
		nanosleep(&ts, NULL);
	}
}

/*
 * Moves sessions/session-<id> into the quarantine as <id>-<random>, name
 * into trash_name. 0 moved (*trashfd open on the quarantine), 1 there was
 * no directory, -1 error (errno).
 */
static int
quarantine(const struct config *cfg, const char *id, int *trashfd,
    char *trash_name, size_t cap)
{
	static const char *const trashes[] = { TRASH_DIR, "sessions/" TRASH_DIR };
	char	 name[SESSION_ID_LEN + 16], rnd[17];
	size_t	 i;
	int	 sdir, t, saved = 0;

	*trashfd = -1;
	snprintf(name, sizeof(name), "session-%s", id);
	if ((sdir = open_ws_dir(cfg, "sessions", 0)) == -1)
		return errno == ENOENT ? 1 : -1;
	if (auth_random_hex(rnd, 8) == -1) {
		close(sdir);
		errno = EIO;
		return -1;
	}
	snprintf(trash_name, cap, "%s-%s", id, rnd);
	/* sessions/.trash when WORKSPACE_PATH/.trash is another filesystem. */
	for (i = 0; i < sizeof(trashes) / sizeof(trashes[0]); i++) {
		if ((t = open_ws_dir(cfg, trashes[i], 1)) == -1) {
			saved = errno;
			continue;
		}
		if (renameat(sdir, name, t, trash_name) == 0) {
			close(sdir);
			*trashfd = t;
			return 0;
		}
		saved = errno;
		close(t);
		if (saved == ENOENT) {
			close(sdir);
			return 1;
		}
		if (saved != EXDEV)
			break;
	}
	close(sdir);
	errno = saved;
	return -1;
}

static void
sweep_dir(const struct config *cfg, const char *sub, int64_t deadline,
    const char *skip)
{
	struct dirent	*e;
	DIR		*d;
	int		 fd;

	if ((fd = open_ws_dir(cfg, sub, 0)) == -1)
		return;
	if ((d = fdopendir(fd)) == NULL) {
		close(fd);
		return;
	}
	while ((e = readdir(d)) != NULL && mono_ms() < deadline) {
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0 ||
		    (skip != NULL && strcmp(e->d_name, skip) == 0))
			continue;
		if (ps_remove_tree_at(dirfd(d), e->d_name,
		    (int)(deadline - mono_ms())) == -1)
			log_kv(LOG_WARNING, "quarantined session files not removed yet",
			    "s:entry", e->d_name, "s:error", strerror(errno), NULL);
	}
	closedir(d);
}

void
sessions_sweep_trash(const struct config *cfg, int budget_ms)
{
	int64_t	 deadline = mono_ms() + (budget_ms > 0 ? budget_ms : 1);

	sweep_dir(cfg, TRASH_DIR, deadline, NULL);
	sweep_dir(cfg, "sessions/" TRASH_DIR, deadline, NULL);
}

enum sessions_err
sessions_delete(struct store *st, const struct config *cfg, const char *id)
{
	struct session	 s;
	redisReply	*r;
	char		 tname[SESSION_ID_LEN + 24];
	int64_t		 budget, t0 = mono_ms();
	int		 rv, tfd;

	if (!sessions_valid_id(id))
		return SESS_ENOTFOUND;
	/*
	 * The API answers within REQUEST_TIMEOUT: a third of it at most for
	 * the run to stop, a third for the files (the rest stays quarantined).
	 */
	budget = cfg->request_timeout * 1000 / 3;
	if (budget < 1)
		budget = 1;

	/* 1. Invisible: no new run, stream or files request can start. */
	if ((r = record_script(st, mark_script, id)) == NULL)
		return SESS_EREDIS;
	rv = r->type == REDIS_REPLY_INTEGER ? (int)r->integer : -1;
	freeReplyObject(r);
	if (rv == 0)
		return SESS_ENOTFOUND;
	if (rv < 0)
		return SESS_EREDIS;
	if ((rv = sessions_get_deleting(st, id, &s)) == -1)
		return SESS_EREDIS;
	if (rv == 0)
		return SESS_OK;		/* a concurrent delete finished it */

	/* 2. Its run stopped, its sandbox gone (bounded). */
	if (stop_run(st, cfg, id, cfg->session_delete_wait * 1000 < budget ?
	    cfg->session_delete_wait * 1000 : budget) == 1)
		log_kv(LOG_WARNING, "deleting a session whose run did not stop in "
		    "time; its files are quarantined first", "s:session", id, NULL);

	/* 3. Out of sessions/: nothing reaches it by its path any more. */
	if ((rv = quarantine(cfg, id, &tfd, tname, sizeof(tname))) == -1) {
		log_kv(LOG_ERROR, "cannot move the session directory to the "
		    "quarantine", "s:session", id, "s:error", strerror(errno), NULL);
		if ((r = record_script(st, unmark_script, id)) != NULL)
			freeReplyObject(r);
		return SESS_EFS;
	}

	/* 4. The keys, at once (a failure leaves cw:{c}:deleting: DELETE resumes). */
	if (forget_keys(st, id, s.owner) == -1) {
		if (tfd != -1)
			close(tfd);
		return SESS_EREDIS;
	}

	/* 5. The files, fd-relative, inside the quarantine only. */
	if (tfd != -1) {
		budget -= mono_ms() - t0;
		if (budget < 1000)
			budget = 1000;
		if (ps_remove_tree_at(tfd, tname, (int)budget) == -1)
			log_kv(LOG_WARNING, "session files left in the quarantine for "
			    "a later sweep", "s:session", id, "s:error",
			    strerror(errno), NULL);
		close(tfd);
	}
	/* Leftovers of earlier deletes, with what remains of the budget. */
	budget = cfg->request_timeout * 1000 * 2 / 3 - (mono_ms() - t0);
	if (budget > SWEEP_BUDGET_MS)
		budget = SWEEP_BUDGET_MS;
	if (budget > 0)
		sessions_sweep_trash(cfg, (int)budget);
	log_kv(LOG_INFO, "session deleted", "s:session", id, "s:owner", s.owner,
	    NULL);
	return SESS_OK;
}

/*
 * A page is one read: page_script takes the index (ZREVRANGEBYSCORE,
 * newest first, one more than the page to know whether there is a next
 * one) and the stored summary of every session on it (one HMGET of
 * cw:{c}:summaries), and returns { ids, summaries, cursor }: cursor is the
 * score of the page's last position when there is a next page ("" when
 * not). Only that one score is read (ZSCORE): Redis 7.0 formats every
 * score of a WITHSCORES reply with printf("%.17g"), which made the index
 * read the most expensive command of a list request (10 us of Redis time
 * for 21 scores, measured with INFO commandstats).
 *
 * A summary is the list's fields of one session in one string, "S1" then
 * per field (list_fields' order) its byte length, ':' and its bytes. The
 * script builds a missing one from the record and stores it (a failed
 * store, -OOM, only costs the next page the same work). Every script that
 * writes a listed field drops the summary in the same atomic step
 * (SESSIONS_LUA_UNSUMMARIZE), and the build reads the record in the
 * page's own atomic step, so a list never shows a value older than the
 * last write that returned. A record without an owner (deleted, or debris
 * of a late write after a delete) gets no summary and is not listed.
 * KEYS: index, summaries. ARGV: max score, count.
 */
static const char *const list_fields[] = { "owner", "title", "model",
    "permission_mode", "template", "network_policy", "allowed_domains",
    "mcp_servers", "status", "created_us", "updated_at", "last_activity" };
#define LIST_NFIELDS	(sizeof(list_fields) / sizeof(list_fields[0]))
#define LIST_PAGE_MAX	101	/* h_sessions.c LIST_MAX + 1 */

static const char page_script[] =
    "local ids = redis.call('ZREVRANGEBYSCORE', KEYS[1], ARGV[1], '-inf', "
    "'LIMIT', 0, ARGV[2]) "
    "local n = #ids "
    "if n < 1 then return { ids, {}, '' } end "
    "local s = redis.call('HMGET', KEYS[2], unpack(ids)) "
    "for i = 1, n do "
    "  if not s[i] or string.sub(s[i], 1, 2) ~= 'S1' then "
    "    local f = redis.call('HMGET', '" CW_KP "session:' .. ids[i], "
    "'owner', 'title', 'model', 'permission_mode', 'template', "
    "'network_policy', 'allowed_domains', 'mcp_servers', 'status', "
    "'created_us', 'updated_at', 'last_activity') "
    "    if f[1] and f[1] ~= '' then "
    "      local t = { 'S1' } "
    "      for j = 1, 12 do local v = f[j] or '' t[j + 1] = #v .. ':' .. v end "
    "      s[i] = table.concat(t) "
    "      pcall(redis.call, 'HSET', KEYS[2], ids[i], s[i]) "
    "    end "
    "  end "
    "end "
    "local cur = '' "
    "if n >= tonumber(ARGV[2]) and n > 1 then "
    "  cur = redis.call('ZSCORE', KEYS[1], ids[n - 1]) or '' end "
    "return { ids, s, cur }";

void
sessions_page_cmd(const char *owner, long long cursor, int limit,
    struct sessions_pagecmd *pc)
{
	if (owner != NULL)
		snprintf(pc->key, sizeof(pc->key), CW_KP "user_sessions:%s", owner);
	else
		snprintf(pc->key, sizeof(pc->key), CW_KP "sessions");
	if (cursor > 0)
		snprintf(pc->max, sizeof(pc->max), "(%lld", cursor);
	else
		snprintf(pc->max, sizeof(pc->max), "+inf");
	if (limit + 1 > LIST_PAGE_MAX)
		limit = LIST_PAGE_MAX - 1;
	snprintf(pc->lim, sizeof(pc->lim), "%d", limit + 1);
	pc->argv[0] = "EVAL";
	pc->argv[1] = page_script;
	pc->argv[2] = "2";
	pc->argv[3] = pc->key;
	pc->argv[4] = SESSIONS_SUMMARY_KEY;
	pc->argv[5] = pc->max;
	pc->argv[6] = pc->lim;
	pc->cmd.argc = 7;
	pc->cmd.argv = pc->argv;
	pc->cmd.lens = NULL;
	pc->limit = limit;
}

/* A decimal length of at most 7 digits, then ':'; -1 when malformed. */
static long
summary_len(const char **p, const char *end)
{
	long	 n = 0;
	int	 d = 0;

	while (*p < end && **p >= '0' && **p <= '9' && d < 7) {
		n = n * 10 + (**p - '0');
		(*p)++;
		d++;
	}
	if (d == 0 || *p >= end || **p != ':')
		return -1;
	(*p)++;
	return n <= end - *p ? n : -1;
}

/*
 * Field i of list_fields (l bytes at v) into out. A string longer than its
 * buffer is cut, a bad or empty number reads as 0; -1 when something was
 * cut or v holds a NUL (the caller decides whether that matters).
 */
static int
list_field_set(struct session *out, size_t i, const char *v, size_t l)
{
	static const size_t soff[] = { offsetof(struct session, owner),
	    offsetof(struct session, title), offsetof(struct session, model),
	    offsetof(struct session, permission_mode),
	    offsetof(struct session, template_name),
	    offsetof(struct session, network_policy),
	    offsetof(struct session, allowed_domains),
	    offsetof(struct session, mcp_servers),
	    offsetof(struct session, status) };
	static const size_t ssz[] = { sizeof(out->owner), sizeof(out->title),
	    sizeof(out->model), sizeof(out->permission_mode),
	    sizeof(out->template_name), sizeof(out->network_policy),
	    sizeof(out->allowed_domains), sizeof(out->mcp_servers),
	    sizeof(out->status) };
	char		 num[24], *dst;
	long long	 n = 0;
	size_t		 c;
	int		 rc = memchr(v, '\0', l) != NULL ? -1 : 0;

	if (i < sizeof(soff) / sizeof(soff[0])) {
		dst = (char *)out + soff[i];
		c = l < ssz[i] ? l : ssz[i] - 1;
		if (c < l)
			rc = -1;
		memcpy(dst, v, c);
		dst[c] = '\0';
		return rc;
	}
	if (l > 0 && l < sizeof(num)) {
		memcpy(num, v, l);
		num[l] = '\0';
		if (config_parse_ll(num, &n) == -1)
			n = 0;
	}
	if (i == 9)
		out->created_us = n;
	else if (i == 10)
		out->updated_at = (long)n;
	else
		out->last_activity = (long)n;
	return rc;
}

int
sessions_summary_decode(const char *blob, size_t len, const char *id,
    struct session *out)
{
	const char	*p = blob, *end = blob + len, *v;
	long		 l;
	size_t		 i;

	memset(out, 0, sizeof(*out));
	snprintf(out->id, sizeof(out->id), "%s", id);
	if (len < 2 || memcmp(blob, "S1", 2) != 0)
		return 0;
	p += 2;
	for (i = 0; i < LIST_NFIELDS; i++) {
		if ((l = summary_len(&p, end)) < 0)
			return 0;
		v = p;
		p += l;
		if (list_field_set(out, i, v, (size_t)l) == -1)
			return 0;
	}
	return p == end && out->owner[0] != '\0';
}

/* Fills out from an HMGET of list_fields; 1 when it is a live session. */
static int
session_from_fields(const redisReply *r, const char *id, struct session *out)
{
	size_t		 i;
	int		 found = 0;

	memset(out, 0, sizeof(*out));
	memcpy(out->id, id, SESSION_ID_LEN + 1);
	if (r->type != REDIS_REPLY_ARRAY || r->elements != LIST_NFIELDS)
		return 0;
	for (i = 0; i < LIST_NFIELDS; i++) {
		if (r->element[i]->type != REDIS_REPLY_STRING)
			continue;
		found = 1;
		(void)list_field_set(out, i, r->element[i]->str,
		    r->element[i]->len);
	}
	/* A record without an owner is debris (a late HSET after a delete). */
	return found && out->owner[0] != '\0';
}

/*
 * The page without page_script, one key per command: the index, then one
 * HMGET of the listed fields per session, pipelined (summaries neither
 * read nor stored). Redis Cluster refuses a script whose keys are split
 * between two nodes while the {c} slot migrates (-TRYAGAIN), but sends a
 * one-key command the old node no longer holds to the new one (-ASK,
 * store.c): a page whose script failed is read again like this.
 */
static int
list_by_keys(struct store *st, redisReply *index, int limit,
    void (*fn)(const struct session *, void *), void *arg, long long *next)
{
	struct store_pcmd	 cmds[LIST_PAGE_MAX];
	redisReply		*rep[LIST_PAGE_MAX];
	const char		*argv[LIST_PAGE_MAX][2 + LIST_NFIELDS];
	char			 keys[LIST_PAGE_MAX][64];
	const char		*ids[LIST_PAGE_MAX], *sc[LIST_PAGE_MAX];
	struct session		 s;
	size_t			 i;
	int			 k, n = 0, m = 0, rc = 0;

	*next = 0;
	if (index == NULL || index->type != REDIS_REPLY_ARRAY) {
		if (index != NULL)
			freeReplyObject(index);
		return -1;
	}
	if (limit + 1 > LIST_PAGE_MAX)
		limit = LIST_PAGE_MAX - 1;
	for (i = 0; i + 1 < index->elements && m < limit + 1; i += 2) {
		if (index->element[i]->type != REDIS_REPLY_STRING ||
		    index->element[i + 1]->type != REDIS_REPLY_STRING)
			continue;
		ids[m] = index->element[i]->str;
		sc[m] = index->element[i + 1]->str;
		snprintf(keys[m], sizeof(keys[m]), CW_KP "session:%.40s", ids[m]);
		argv[m][0] = "HMGET";
		argv[m][1] = keys[m];
		for (k = 0; k < (int)LIST_NFIELDS; k++)
			argv[m][2 + k] = list_fields[k];
		cmds[m].argc = 2 + LIST_NFIELDS;
		cmds[m].argv = argv[m];
		cmds[m].lens = NULL;
		m++;
	}
	if (m > 0 && store_pipe(st, m, cmds, rep) == -1)
		rc = -1;
	/* As sessions_list_from: the first limit positions, cut by position. */
	if (rc == 0 && m > limit && limit > 0)
		*next = strtoll(sc[limit - 1], NULL, 10);
	for (k = 0; k < m && k < limit; k++) {
		if (rc == 0 && sessions_valid_id(ids[k]) &&
		    session_from_fields(rep[k], ids[k], &s) == 1) {
			fn(&s, arg);
			n++;
		}
	}
	for (k = 0; k < m; k++)
		if (rep[k] != NULL)
			freeReplyObject(rep[k]);
	freeReplyObject(index);
	return rc == -1 ? -1 : n;
}


int
sessions_list_from(struct store *st, redisReply *page,
    const struct sessions_pagecmd *pc,
    void (*fn)(const struct session *, void *), void *arg, long long *next)
{
	const redisReply	*ix, *sums, *e, *cur;
	const char		*bad[LIST_PAGE_MAX];
	struct session		 s;
	size_t			 i;
	int			 n = 0, nbad = 0, limit;

	*next = 0;
	if (page == NULL || page->type != REDIS_REPLY_ARRAY ||
	    page->elements != 3 || page->element[0]->type != REDIS_REPLY_ARRAY ||
	    page->element[1]->type != REDIS_REPLY_ARRAY ||
	    page->element[2]->type != REDIS_REPLY_STRING) {
		if (page != NULL)
			freeReplyObject(page);
		return list_by_keys(st, store_cmdv(st, "ZREVRANGEBYSCORE",
		    pc->key, pc->max, "-inf", "WITHSCORES", "LIMIT", "0",
		    pc->lim, NULL), pc->limit, fn, arg, next);
	}
	ix = page->element[0];
	sums = page->element[1];
	cur = page->element[2];
	limit = pc->limit;
	/*
	 * The page is the index's first `limit` positions: one whose session
	 * is being deleted (no summary) or unreadable is left out, and the
	 * next page still starts after the last position (cursor).
	 */
	if (ix->elements > (size_t)limit && cur->len > 0)
		*next = strtoll(cur->str, NULL, 10);
	for (i = 0; i < ix->elements && i < sums->elements &&
	    i < (size_t)limit; i++) {
		if (ix->element[i]->type != REDIS_REPLY_STRING)
			continue;
		e = sums->element[i];
		if (e->type != REDIS_REPLY_STRING ||
		    !sessions_valid_id(ix->element[i]->str))
			continue;
		if (sessions_summary_decode(e->str, e->len, ix->element[i]->str,
		    &s) == 1) {
			fn(&s, arg);
			n++;
		} else if (nbad < (int)(sizeof(bad) / sizeof(bad[0])))
			bad[nbad++] = ix->element[i]->str;
	}
	/*
	 * A stored summary this build cannot read (damaged): that session is
	 * left out of this page, and its summary dropped so the next page
	 * builds it again from the record.
	 */
	if (nbad > 0) {
		const char	*argv[2 + LIST_PAGE_MAX];
		redisReply	*r;
		int		 k;

		argv[0] = "HDEL";
		argv[1] = SESSIONS_SUMMARY_KEY;
		for (k = 0; k < nbad; k++)
			argv[2 + k] = bad[k];
		if ((r = store_cmd(st, 2 + nbad, argv, NULL)) != NULL)
			freeReplyObject(r);
		log_kv(LOG_WARNING, "unreadable session summaries dropped",
		    "i:count", (long long)nbad, NULL);
	}
	freeReplyObject(page);
	return n;
}

int
sessions_list(struct store *st, const char *owner, long long cursor, int limit,
    void (*fn)(const struct session *, void *), void *arg, long long *next)
{
	struct sessions_pagecmd	 pc;

	*next = 0;
	sessions_page_cmd(owner, cursor, limit, &pc);
	return sessions_list_from(st, store_cmd(st, pc.cmd.argc, pc.argv, NULL),
	    &pc, fn, arg, next);
}

long long
sessions_active(struct store *st, long long timeout_s)
{
	redisReply	*r;
	char		 min[32];
	long long	 n = -1;

	snprintf(min, sizeof(min), "%lld", (long long)time(NULL) - timeout_s);
	if ((r = store_cmdv(st, "ZCOUNT", CW_KP "sessions:activity", min, "+inf",
	    NULL)) == NULL)
		return -1;
	if (r->type == REDIS_REPLY_INTEGER)
		n = r->integer;
	freeReplyObject(r);
	return n;
}

int
sessions_ids(struct store *st, const char *owner, char (*ids)[SESSION_ID_LEN + 1],
    int cap)
{
	redisReply	*r;
	char		 key[256], stop[16];
	size_t		 i;
	int		 n = 0;

	if (cap <= 0)
		return 0;
	snprintf(key, sizeof(key), CW_KP "user_sessions:%s", owner);
	snprintf(stop, sizeof(stop), "%d", cap - 1);
	if ((r = store_cmdv(st, "ZRANGE", key, "0", stop, NULL)) == NULL)
		return -1;
	if (r->type != REDIS_REPLY_ARRAY) {
		freeReplyObject(r);
		return -1;
	}
	for (i = 0; i < r->elements && n < cap; i++)
		if (r->element[i]->str != NULL && sessions_valid_id(r->element[i]->str))
			memcpy(ids[n++], r->element[i]->str, SESSION_ID_LEN + 1);
	freeReplyObject(r);
	return n;
}

/*
 * Disk use of every session in owner's index (files/, .claude/, all of
 * it), stopping once above stop_above or past STORAGE_BUDGET_MS. 0, -1
 * Redis, -2 could not be measured.
 */
static int
storage_measure(struct store *st, const struct config *cfg, const char *owner,
    long long stop_above, long long *bytes)
{
	redisReply	*r;
	char		 key[256], name[SESSION_ID_LEN + 16];
	long long	 one;
	int64_t		 deadline = mono_ms() + STORAGE_BUDGET_MS;
	size_t		 i;
	int		 sdir, rc = 0;

	*bytes = 0;
	snprintf(key, sizeof(key), CW_KP "user_sessions:%s", owner);
	if ((r = store_cmdv(st, "ZRANGE", key, "0", "-1", NULL)) == NULL)
		return -1;
	if (r->type != REDIS_REPLY_ARRAY) {
		freeReplyObject(r);
		return -1;
	}
	if ((sdir = open_ws_dir(cfg, "sessions", 0)) == -1) {
		freeReplyObject(r);
		return errno == ENOENT ? 0 : -2;
	}
	for (i = 0; i < r->elements && *bytes <= stop_above; i++) {
		if (r->element[i]->str == NULL || !sessions_valid_id(r->element[i]->str))
			continue;
		if (mono_ms() > deadline) {
			errno = ETIMEDOUT;
			rc = -2;
			break;
		}
		snprintf(name, sizeof(name), "session-%s", r->element[i]->str);
		if (tree_usage(sdir, name, &one) == -1) {
			rc = -2;
			break;
		}
		*bytes += one;
	}
	if (rc == -2)
		log_kv(LOG_WARNING, "cannot measure a user's storage", "s:user", owner,
		    "s:error", strerror(errno), NULL);
	close(sdir);
	freeReplyObject(r);
	return rc;
}

int
sessions_storage_check(struct store *st, const struct config *cfg,
    const char *owner, long long add, int fresh, long long *used)
{
	redisReply	*r;
	char		 key[256], v[32];
	long long	 quota = cfg->user_storage_quota_mb << 20, n;
	int		 rc, cached = 0;

	*used = 0;
	if (cfg->user_storage_quota_mb <= 0)
		return 0;
	snprintf(key, sizeof(key), CW_KP "storage:%s", owner);
	if (!fresh) {
		if ((r = store_cmdv(st, "GET", key, NULL)) == NULL)
			return -1;
		if (r->type == REDIS_REPLY_STRING && config_parse_ll(r->str, &n) == 0 &&
		    n >= 0) {
			*used = n;
			cached = 1;
		}
		freeReplyObject(r);
	}
	if (!cached) {
		if ((rc = storage_measure(st, cfg, owner, quota, used)) != 0)
			return rc;
		snprintf(v, sizeof(v), "%lld", *used);
		/* A cache that cannot be written (-OOM) only costs a measurement. */
		if ((r = store_cmdv(st, "SET", key, v, "EX", STORAGE_CACHE_S, NULL)) != NULL)
			freeReplyObject(r);
	}
	if (*used + add > quota)
		return 1;
	if (add > 0) {
		snprintf(v, sizeof(v), "%lld", add);
		if ((r = store_cmdv(st, "EVAL", storage_add_script, "1", key, v,
		    NULL)) != NULL)
			freeReplyObject(r);
	}
	return 0;
}

void
sessions_storage_forget(struct store *st, const char *owner)
{
	redisReply	*r;
	char		 key[256];

	snprintf(key, sizeof(key), CW_KP "storage:%s", owner);
	if ((r = store_cmdv(st, "DEL", key, NULL)) != NULL)
		freeReplyObject(r);
}
