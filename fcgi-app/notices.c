/*
 * notices: approvals, errors, stops, retries, resumes kept beside the
 * history (see notices.h). Records go to the session's .claude/ directory,
 * which only the host writes (the sandbox sees files/ alone); the file is
 * still opened without following links and read with a byte cap.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "keys.h"
#include "history.h"
#include "log.h"
#include "notices.h"
#include "sessions.h"
#include "store.h"

#define SUMMARY_PREFIX	"<summary of the earlier conversation>"

static const char *const wanted[] = {
	"permission.request", "permission.resolved", "run.retrying",
	"run.resumed", "run.continued", "run.error", "run.cancelled",
	"run.finished", "run.removed", "compacted", NULL
};

int
notices_wanted(const char *type)
{
	int	 i;

	for (i = 0; wanted[i] != NULL; i++)
		if (strcmp(type, wanted[i]) == 0)
			return 1;
	return 0;
}

static const char *
str_of(json_object *o, const char *k)
{
	json_object	*v;

	return json_object_object_get_ex(o, k, &v) &&
	    json_object_is_type(v, json_type_string) ? json_object_get_string(v) :
	    NULL;
}

/* How many units an anchor can point after in message m (see notices.h). */
static int
units_of(json_object *m)
{
	json_object	*content, *b, *t;
	const char	*role = str_of(m, "role"), *tx;
	size_t		 i, n;
	int		 prompt = 1, texts = 0;

	if (!json_object_object_get_ex(m, "content", &content))
		return 0;
	if (json_object_is_type(content, json_type_string))
		return 1;
	if (!json_object_is_type(content, json_type_array))
		return 0;
	n = json_object_array_length(content);
	if (role == NULL || strcmp(role, "user") != 0)
		return (int)n;
	for (i = 0; i < n; i++) {
		b = json_object_array_get_idx(content, i);
		if (json_object_object_get_ex(b, "type", &t) &&
		    strcmp(json_object_get_string(t), "tool_result") == 0)
			prompt = 0;
	}
	if (!prompt)
		return (int)n;
	for (i = 0; i < n; i++) {
		b = json_object_array_get_idx(content, i);
		if (!json_object_object_get_ex(b, "type", &t) ||
		    strcmp(json_object_get_string(t), "text") != 0)
			continue;
		tx = str_of(b, "text");
		if (tx != NULL && strncmp(tx, SUMMARY_PREFIX,
		    sizeof(SUMMARY_PREFIX) - 1) == 0)
			continue;
		texts++;
	}
	return texts;
}

json_object *
notices_anchor(json_object *history)
{
	json_object	*a = json_object_new_object(), *msgs;
	size_t		 n = 0;

	msgs = history != NULL ? history_messages(history) : NULL;
	if (msgs != NULL && json_object_is_type(msgs, json_type_array))
		n = json_object_array_length(msgs);
	json_object_object_add(a, "msg", json_object_new_int64((long long)n - 1));
	json_object_object_add(a, "block", json_object_new_int(n > 0 ?
	    units_of(json_object_array_get_idx(msgs, n - 1)) : 0));
	return a;
}

static int
open_file(const struct config *cfg, const char *sid, int flags)
{
	char	 path[PATH_MAX];

	if (sessions_path(cfg, sid, ".claude/notices.jsonl", path,
	    sizeof(path)) == -1)
		return -1;
	return open(path, flags | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY, 0640);
}

static void
iso_now(char *out, size_t cap)
{
	struct timespec	 ts;
	struct tm	 tm;

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	snprintf(out, cap, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ",
	    (tm.tm_year + 1900) % 10000, (tm.tm_mon + 1) % 100, tm.tm_mday % 100,
	    tm.tm_hour % 100, tm.tm_min % 100, tm.tm_sec % 100,
	    (int)(ts.tv_nsec / 1000000) % 1000);
}

int
notices_append(const struct config *cfg, const char *sid, json_object *rec)
{
	const char	*js;
	struct stat	 st;
	char		 at[40];
	size_t		 len;
	int		 fd, rv = -1;

	if (!json_object_object_get_ex(rec, "at", NULL)) {
		iso_now(at, sizeof(at));
		json_object_object_add(rec, "at", json_object_new_string(at));
	}
	js = json_object_to_json_string_ext(rec, JSON_C_TO_STRING_PLAIN |
	    JSON_C_TO_STRING_NOSLASHESCAPE);
	if (strlen(js) > NOTICES_LINE_MAX) {
		/* A huge tool input (a file's content): the summary says enough. */
		json_object_object_del(rec, "input");
		js = json_object_to_json_string_ext(rec, JSON_C_TO_STRING_PLAIN |
		    JSON_C_TO_STRING_NOSLASHESCAPE);
		if (strlen(js) > NOTICES_LINE_MAX)
			return -1;
	}
	if ((fd = open_file(cfg, sid, O_WRONLY | O_APPEND | O_CREAT)) == -1) {
		log_kv(LOG_WARNING, "cannot open the notices file", "s:session", sid,
		    "s:error", strerror(errno), NULL);
		return -1;
	}
	len = strlen(js);
	if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) &&
	    st.st_size + (off_t)len + 1 <= NOTICES_MAX_BYTES) {
		/* One write: concurrent appenders never interleave a line. */
		char *line = malloc(len + 1);

		if (line != NULL) {
			memcpy(line, js, len);
			line[len] = '\n';
			if (write(fd, line, len + 1) == (ssize_t)(len + 1))
				rv = 0;
			free(line);
		}
	} else
		log_kv(LOG_WARNING, "notices file full: record dropped", "s:session",
		    sid, NULL);
	close(fd);
	return rv;
}

void
notices_event(const struct config *cfg, const char *sid, const char *run_id,
    const char *type, json_object *data, json_object *history, const char *by)
{
	json_object	*rec = NULL, *h = NULL;

	if (!notices_wanted(type))
		return;
	/* A copy: the event's data goes to the stream as it is. */
	if (json_object_deep_copy(data, &rec, NULL) != 0 || rec == NULL)
		return;
	json_object_object_add(rec, "event", json_object_new_string(type));
	if (run_id != NULL)
		json_object_object_add(rec, "run_id", json_object_new_string(run_id));
	if (by != NULL && by[0] != '\0')
		json_object_object_add(rec, "by", json_object_new_string(by));
	if (history == NULL)
		history = h = history_load(cfg, sid);
	json_object_object_add(rec, "anchor", notices_anchor(history));
	if (h != NULL)
		json_object_put(h);
	(void)notices_append(cfg, sid, rec);
	json_object_put(rec);
}

json_object *
notices_load(const struct config *cfg, const char *sid)
{
	json_object	*arr = json_object_new_array(), *rec;
	struct stat	 st;
	char		*buf, *p, *nl;
	ssize_t		 n;
	size_t		 got = 0;
	int		 fd;

	if ((fd = open_file(cfg, sid, O_RDONLY)) == -1)
		return arr;
	if (fstat(fd, &st) == -1 || !S_ISREG(st.st_mode) ||
	    (buf = malloc(NOTICES_MAX_BYTES + 1)) == NULL) {
		close(fd);
		return arr;
	}
	while (got < NOTICES_MAX_BYTES &&
	    (n = read(fd, buf + got, NOTICES_MAX_BYTES - got)) > 0)
		got += (size_t)n;
	close(fd);
	buf[got] = '\0';
	for (p = buf; *p != '\0' && json_object_array_length(arr) <
	    NOTICES_MAX_RECORDS; p = nl + 1) {
		if ((nl = strchr(p, '\n')) == NULL)
			break;		/* a torn last line is skipped */
		*nl = '\0';
		if ((rec = json_tokener_parse(p)) == NULL)
			continue;
		if (json_object_is_type(rec, json_type_object))
			json_object_array_add(arr, rec);
		else
			json_object_put(rec);
	}
	free(buf);
	return arr;
}

static const char note_script[] =
    "if redis.call('HGET', KEYS[1], 'status') == 'pending' then "
    "redis.call('HSET', KEYS[1], 'answered_by', ARGV[1]) end return 0";

void
notices_note_answerer(struct store *st, const char *sid, const char *request_id,
    const char *user)
{
	redisReply	*r;
	char		 key[160];

	snprintf(key, sizeof(key), CW_KP "perm:%s:%s", sid, request_id);
	if ((r = store_cmdv(st, "EVAL", note_script, "1", key, user, NULL)) != NULL)
		freeReplyObject(r);
}

int
notices_answerer(struct store *st, const char *sid, const char *request_id,
    char *out, size_t cap)
{
	redisReply	*r;
	char		 key[160];
	int		 rv = 0;

	out[0] = '\0';
	snprintf(key, sizeof(key), CW_KP "perm:%s:%s", sid, request_id);
	if ((r = store_cmdv(st, "HGET", key, "answered_by", NULL)) == NULL)
		return 0;
	if (r->type == REDIS_REPLY_STRING && r->len > 0) {
		snprintf(out, cap, "%s", r->str);
		rv = 1;
	}
	freeReplyObject(r);
	return rv;
}
