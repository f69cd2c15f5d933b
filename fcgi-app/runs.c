#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/stat.h>

#include <json-c/json.h>

#include "auth.h"
#include "buf.h"
#include "config.h"
#include "events.h"
#include "fsutil.h"
#include "keys.h"
#include "log.h"
#include "runs.h"
#include "sessions.h"
#include "store.h"

#define INBOX_MAX	(12 * 1024 * 1024)	/* > ATTACH_BODY_MAX (images) */
#define STATE_MAX	(256 * 1024 * 1024)	/* tool results of one turn */

int
runs_status_final(const char *st)
{
	return strcmp(st, "finished") == 0 || strcmp(st, "error") == 0 ||
	    strcmp(st, "cancelled") == 0;
}

int
runs_active(struct store *s, const char *sid, char *out, size_t cap)
{
	redisReply	*r;
	char		 key[96];
	int		 rc = 0;

	snprintf(key, sizeof(key), CW_KP "active:%s", sid);
	if ((r = store_cmdv(s, "GET", key, NULL)) == NULL)
		return -1;
	if (r->type == REDIS_REPLY_STRING) {
		snprintf(out, cap, "%s", r->str);
		rc = 1;
	}
	freeReplyObject(r);
	return rc;
}

int
runs_set(struct store *s, const char *run_id, const char *field,
    const char *value)
{
	redisReply	*r;
	char		 key[96];

	snprintf(key, sizeof(key), CW_KP "run:%s", run_id);
	if ((r = store_cmdv(s, "HSET", key, field, value, NULL)) == NULL)
		return -1;
	freeReplyObject(r);
	return 0;
}

int
runs_get(struct store *s, const char *run_id, const char *field, char *out,
    size_t cap)
{
	redisReply	*r;
	char		 key[96];
	int		 rc = 0;

	snprintf(key, sizeof(key), CW_KP "run:%s", run_id);
	out[0] = '\0';
	if ((r = store_cmdv(s, "HGET", key, field, NULL)) == NULL)
		return -1;
	if (r->type == REDIS_REPLY_STRING) {
		snprintf(out, cap, "%s", r->str);
		rc = 1;
	}
	freeReplyObject(r);
	return rc;
}

/* Only into a record that still has its owner: never revive a deleted one. */
static const char session_status_script[] =
    "if redis.call('HEXISTS', KEYS[1], 'owner') == 1 then "
    "local n = redis.call('HSET', KEYS[1], 'status', ARGV[1]) "
    SESSIONS_LUA_UNSUMMARIZE("KEYS[1]")
    "return n end return 0";

int
runs_set_session_status(struct store *s, const char *sid, const char *st)
{
	redisReply	*r;
	char		 key[96];

	snprintf(key, sizeof(key), CW_KP "session:%s", sid);
	if ((r = store_cmdv(s, "EVAL", session_status_script, "1", key, st,
	    NULL)) == NULL)
		return -1;
	freeReplyObject(r);
	return 0;
}

static int
inbox_path(const struct config *cfg, const char *sid, const char *run_id,
    char *out, size_t cap)
{
	char	 sub[96];

	snprintf(sub, sizeof(sub), ".claude/inbox/%s.json", run_id);
	return sessions_path(cfg, sid, sub, out, cap);
}

int
runs_inbox_write(const struct config *cfg, const char *sid, const char *run_id,
    json_object *content)
{
	char		 path[PATH_MAX], dir[PATH_MAX];
	const char	*js;

	if (sessions_path(cfg, sid, ".claude/inbox", dir, sizeof(dir)) == -1 ||
	    inbox_path(cfg, sid, run_id, path, sizeof(path)) == -1) {
		errno = ENAMETOOLONG;
		return -1;
	}
	/* Only the last component: never recreate a deleted session's tree. */
	if (mkdir(dir, 0750) == -1 && errno != EEXIST)
		return -1;
	js = json_object_to_json_string_ext(content, JSON_C_TO_STRING_PLAIN |
	    JSON_C_TO_STRING_NOSLASHESCAPE);
	return fsutil_write_atomic(path, js, strlen(js));
}

/* A bounded JSON file of .claude/ (host-side only, but never block or follow). */
static json_object *
read_json(const char *path, off_t cap)
{
	json_object	*o = NULL;
	struct stat	 st;
	struct buf	 b;
	char		 chunk[8192];
	ssize_t		 n;
	int		 fd;

	if ((fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC)) == -1)
		return NULL;
	if (fstat(fd, &st) == -1 || !S_ISREG(st.st_mode) ||
	    st.st_size > cap) {
		close(fd);
		return NULL;
	}
	buf_init(&b, (size_t)cap);
	while ((n = read(fd, chunk, sizeof(chunk))) > 0)
		if (buf_append(&b, chunk, (size_t)n) == -1)
			break;
	close(fd);
	if (n == 0 && b.p != NULL)
		o = json_tokener_parse(b.p);
	buf_free(&b);
	return o;
}

json_object *
runs_inbox_read(const struct config *cfg, const char *sid, const char *run_id)
{
	char	 path[PATH_MAX];

	if (inbox_path(cfg, sid, run_id, path, sizeof(path)) == -1)
		return NULL;
	return read_json(path, INBOX_MAX);
}

static int
state_path(const struct config *cfg, const char *sid, const char *run_id,
    char *out, size_t cap)
{
	char	 sub[96];

	snprintf(sub, sizeof(sub), ".claude/runs/%s.json", run_id);
	return sessions_path(cfg, sid, sub, out, cap);
}

json_object *
runs_state_read(const struct config *cfg, const char *sid, const char *run_id)
{
	char	 path[PATH_MAX];

	if (state_path(cfg, sid, run_id, path, sizeof(path)) == -1)
		return NULL;
	return read_json(path, STATE_MAX);
}

int
runs_state_write(const struct config *cfg, const char *sid, const char *run_id,
    json_object *state)
{
	char		 path[PATH_MAX], dir[PATH_MAX];
	const char	*js;

	if (sessions_path(cfg, sid, ".claude/runs", dir, sizeof(dir)) == -1 ||
	    state_path(cfg, sid, run_id, path, sizeof(path)) == -1) {
		errno = ENAMETOOLONG;
		return -1;
	}
	/* Only the last component: never recreate a deleted session's tree. */
	if (mkdir(dir, 0750) == -1 && errno != EEXIST)
		return -1;
	js = json_object_to_json_string_ext(state, JSON_C_TO_STRING_PLAIN |
	    JSON_C_TO_STRING_NOSLASHESCAPE);
	return fsutil_write_atomic(path, js, strlen(js));
}

void
runs_state_remove(const struct config *cfg, const char *sid, const char *run_id)
{
	char	 path[PATH_MAX];

	if (state_path(cfg, sid, run_id, path, sizeof(path)) == 0)
		unlink(path);
}

void
runs_inbox_remove(const struct config *cfg, const char *sid,
    const char *run_id)
{
	char	 path[PATH_MAX];

	if (inbox_path(cfg, sid, run_id, path, sizeof(path)) == 0)
		unlink(path);
}

int
runs_request_cancel(struct store *s, const char *run_id)
{
	redisReply	*r;
	char		 key[96];

	snprintf(key, sizeof(key), CW_KP "cancel:%s", run_id);
	if ((r = store_cmdv(s, "SET", key, "1", "EX", "86400", NULL)) == NULL)
		return -1;
	freeReplyObject(r);
	return 0;
}

/* 1 when cancel was requested or the session is gone (deleted). */
static const char stop_script[] =
    "if redis.call('EXISTS', KEYS[1]) == 1 then return 1 end "
    "if redis.call('HEXISTS', KEYS[2], 'owner') == 0 then return 1 end "
    "return 0";

int
runs_cancel_requested(struct store *s, const char *sid, const char *run_id)
{
	redisReply	*r;
	char		 key[96], skey[96];
	int		 rc;

	snprintf(key, sizeof(key), CW_KP "cancel:%s", run_id);
	snprintf(skey, sizeof(skey), CW_KP "session:%s", sid);
	if ((r = store_cmdv(s, "EVAL", stop_script, "2", key, skey, NULL)) == NULL)
		return -1;
	rc = r->type == REDIS_REPLY_INTEGER && r->integer > 0;
	freeReplyObject(r);
	return rc;
}
