/*
 * notices: approvals, errors, stops, retries, resumes kept beside the
 * history (see notices.h). Records go to the session's .claude/ directory,
 * which only the host writes (the sandbox sees files/ alone); the file is
 * still opened without following links and read with a byte cap.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
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

/* The session's .claude directory (not followed if a link); -1 if none. */
static int
open_dir(const struct config *cfg, const char *sid)
{
	char	 path[PATH_MAX];

	if (sessions_path(cfg, sid, ".claude", path, sizeof(path)) == -1)
		return -1;
	return open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
}

/* notices.jsonl (gen 0) or the rotated notices.<gen>.jsonl, in dir. */
static void
file_name(int gen, char *out, size_t cap)
{
	if (gen == 0)
		snprintf(out, cap, "notices.jsonl");
	else
		snprintf(out, cap, "notices.%d.jsonl", gen);
}

static int
open_file(int dfd, int gen, int flags)
{
	char	 name[32];

	file_name(gen, name, sizeof(name));
	return openat(dfd, name, flags | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY, 0640);
}

/*
 * The directory's lock (flock), so that two appenders never rotate at once:
 * a few short tries, then the append goes on without it (bounded wait).
 */
static int
lock_dir(int dfd)
{
	struct timespec	 ts = { 0, 2 * 1000 * 1000 };
	int		 i;

	for (i = 0; i < 100; i++) {
		if (flock(dfd, LOCK_EX | LOCK_NB) == 0)
			return 0;
		if (errno != EWOULDBLOCK && errno != EINTR)
			return -1;
		nanosleep(&ts, NULL);
	}
	return -1;
}

/*
 * notices.jsonl is full: notices.<N>.jsonl goes, each older one moves up
 * one number, and notices.jsonl becomes notices.1.jsonl (the next append
 * creates a new one). Renames in the directory, never through links.
 */
static void
rotate(int dfd, const char *sid)
{
	char	 from[32], to[32];
	int	 gen;

	file_name(NOTICES_ROTATED, to, sizeof(to));
	(void)unlinkat(dfd, to, 0);
	for (gen = NOTICES_ROTATED - 1; gen >= 0; gen--) {
		file_name(gen, from, sizeof(from));
		file_name(gen + 1, to, sizeof(to));
		if (renameat(dfd, from, dfd, to) == -1 && errno != ENOENT)
			log_kv(LOG_WARNING, "cannot rotate the notices file",
			    "s:session", sid, "s:file", from, "s:error",
			    strerror(errno), NULL);
	}
}

/* s cut to at most cap bytes on a UTF-8 character boundary, with "…". */
static void
cap_string(json_object *rec, const char *k, size_t cap)
{
	const char	*v = str_of(rec, k);
	char		*c;
	size_t		 n;

	if (v == NULL || strlen(v) <= cap || cap < 4)
		return;
	n = cap - 3;
	while (n > 0 && ((unsigned char)v[n] & 0xc0) == 0x80)
		n--;
	if ((c = malloc(n + 4)) == NULL)
		return;
	memcpy(c, v, n);
	memcpy(c + n, "\xe2\x80\xa6", 4);	/* … and the NUL */
	json_object_object_add(rec, k, json_object_new_string(c));
	free(c);
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
	char		 at[40], *line;
	size_t		 len;
	int		 dfd, fd, locked, rv = -1;

	if (!json_object_object_get_ex(rec, "at", NULL)) {
		iso_now(at, sizeof(at));
		json_object_object_add(rec, "at", json_object_new_string(at));
	}
	/*
	 * The tool's input is in the history's tool_use block; the record
	 * keeps the approval card's line only, capped, so that a file holds
	 * thousands of approvals.
	 */
	json_object_object_del(rec, "input");
	cap_string(rec, "summary", NOTICES_SUMMARY_MAX);
	cap_string(rec, "message", NOTICES_SUMMARY_MAX * 4);
	js = json_object_to_json_string_ext(rec, JSON_C_TO_STRING_PLAIN |
	    JSON_C_TO_STRING_NOSLASHESCAPE);
	if ((len = strlen(js)) > NOTICES_LINE_MAX)
		return -1;
	if ((dfd = open_dir(cfg, sid)) == -1) {
		log_kv(LOG_WARNING, "cannot open the session's .claude directory",
		    "s:session", sid, "s:error", strerror(errno), NULL);
		return -1;
	}
	locked = lock_dir(dfd) == 0;
	if ((fd = open_file(dfd, 0, O_RDONLY)) != -1) {
		if (locked && fstat(fd, &st) == 0 && S_ISREG(st.st_mode) &&
		    st.st_size + (off_t)len + 1 > NOTICES_MAX_BYTES)
			rotate(dfd, sid);
		close(fd);
	}
	if ((fd = open_file(dfd, 0, O_WRONLY | O_APPEND | O_CREAT)) == -1) {
		log_kv(LOG_WARNING, "cannot open the notices file", "s:session", sid,
		    "s:error", strerror(errno), NULL);
		close(dfd);
		return -1;
	}
	/* Without the lock (see lock_dir) a full file is still not grown past its cap. */
	if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) &&
	    st.st_size + (off_t)len + 1 <= NOTICES_MAX_BYTES &&
	    (line = malloc(len + 1)) != NULL) {
		/* One write: concurrent appenders never interleave a line. */
		memcpy(line, js, len);
		line[len] = '\n';
		if (write(fd, line, len + 1) == (ssize_t)(len + 1))
			rv = 0;
		free(line);
	} else
		log_kv(LOG_WARNING, "notices file full: record dropped", "s:session",
		    sid, NULL);
	close(fd);
	close(dfd);		/* releases the lock */
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

/*
 * Up to *room bytes of the file's end (whole lines), parsed into out (oldest
 * first); *room shrinks by what was read.
 */
static void
load_one(int dfd, int gen, size_t *room, json_object *out)
{
	json_object	*rec;
	struct stat	 st;
	char		*buf, *p, *nl;
	size_t		 want, got = 0;
	ssize_t		 n;
	off_t		 from = 0;
	int		 fd;

	if (*room == 0 || (fd = open_file(dfd, gen, O_RDONLY)) == -1)
		return;
	if (fstat(fd, &st) == -1 || !S_ISREG(st.st_mode)) {
		close(fd);
		return;
	}
	want = (size_t)st.st_size;
	if (want > *room) {
		from = st.st_size - (off_t)*room;
		want = *room;
	}
	if ((buf = malloc(want + 1)) == NULL) {
		close(fd);
		return;
	}
	while (got < want && (n = pread(fd, buf + got, want - got,
	    from + (off_t)got)) > 0)
		got += (size_t)n;
	close(fd);
	buf[got] = '\0';
	*room -= got;
	p = buf;
	if (from > 0 && (p = strchr(buf, '\n')) != NULL)
		p++;		/* the cut first line is skipped */
	for (; p != NULL && *p != '\0'; p = nl + 1) {
		if ((nl = strchr(p, '\n')) == NULL)
			break;		/* a torn last line is skipped */
		*nl = '\0';
		if ((rec = json_tokener_parse(p)) == NULL)
			continue;
		if (json_object_is_type(rec, json_type_object))
			json_object_array_add(out, rec);
		else
			json_object_put(rec);
	}
	free(buf);
}

/*
 * The newest records first (notices.jsonl, then notices.1.jsonl, ...) up
 * to NOTICES_LOAD_MAX bytes, returned oldest first, at most
 * NOTICES_MAX_RECORDS (the newest).
 */
json_object *
notices_load(const struct config *cfg, const char *sid)
{
	json_object	*arr = json_object_new_array(), *part[NOTICES_ROTATED + 1];
	size_t		 room = NOTICES_LOAD_MAX, total = 0, skip, i, n;
	int		 dfd, gen;

	if ((dfd = open_dir(cfg, sid)) == -1)
		return arr;
	for (gen = 0; gen <= NOTICES_ROTATED; gen++) {
		part[gen] = json_object_new_array();
		load_one(dfd, gen, &room, part[gen]);
		total += json_object_array_length(part[gen]);
	}
	close(dfd);
	skip = total > NOTICES_MAX_RECORDS ? total - NOTICES_MAX_RECORDS : 0;
	for (gen = NOTICES_ROTATED; gen >= 0; gen--) {
		n = json_object_array_length(part[gen]);
		for (i = 0; i < n; i++) {
			if (skip > 0) {
				skip--;
				continue;
			}
			json_object_array_add(arr, json_object_get(
			    json_object_array_get_idx(part[gen], i)));
		}
		json_object_put(part[gen]);
	}
	return arr;
}

/* strcmp for qsort over an array of names. */
static int
name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/*
 * Removes all but the newest keep entries of dir named prefix<...>suffix
 * (the names carry the time: name order is age order). Bounded: at most
 * ARCHIVES_SCAN entries read, ARCHIVES_SEEN matching names held.
 */
#define ARCHIVES_SCAN	100000
#define ARCHIVES_SEEN	1024
static void
prune(int dfd, const char *prefix, const char *suffix, int keep)
{
	char		*names[ARCHIVES_SEEN];
	struct dirent	*de;
	DIR		*d;
	size_t		 n = 0, i, pl = strlen(prefix), sl = strlen(suffix), l;
	int		 fd, scanned = 0;

	if ((fd = openat(dfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1)
		return;
	if ((d = fdopendir(fd)) == NULL) {
		close(fd);
		return;
	}
	while (n < ARCHIVES_SEEN && scanned++ < ARCHIVES_SCAN &&
	    (de = readdir(d)) != NULL) {
		l = strlen(de->d_name);
		if (l <= pl + sl || strncmp(de->d_name, prefix, pl) != 0 ||
		    strcmp(de->d_name + l - sl, suffix) != 0)
			continue;
		if ((names[n] = strdup(de->d_name)) != NULL)
			n++;
	}
	closedir(d);
	qsort(names, n, sizeof(names[0]), name_cmp);
	for (i = 0; i < n; i++) {
		if (i + (size_t)keep < n)
			(void)unlinkat(dfd, names[i], 0);	/* never follows */
		free(names[i]);
	}
}

int
notices_archive(const struct config *cfg, const char *sid, const char *stem)
{
	char	 name[160], rot[32];
	int	 dfd, gen, rv = 0;

	if ((dfd = open_dir(cfg, sid)) == -1)
		return errno == ENOENT ? 0 : -1;
	(void)lock_dir(dfd);
	snprintf(name, sizeof(name), "notices-%s.jsonl", stem);
	if (renameat(dfd, "notices.jsonl", dfd, name) == -1 && errno != ENOENT) {
		log_kv(LOG_WARNING, "cannot archive the notices", "s:session", sid,
		    "s:error", strerror(errno), NULL);
		rv = -1;
	}
	/* The rotated ones are older still: not kept with the archive. */
	for (gen = 1; gen <= NOTICES_ROTATED; gen++) {
		file_name(gen, rot, sizeof(rot));
		(void)unlinkat(dfd, rot, 0);
	}
	prune(dfd, "history-", ".json", NOTICES_ARCHIVES_KEEP);
	prune(dfd, "notices-", ".jsonl", NOTICES_ARCHIVES_KEEP);
	close(dfd);
	return rv;
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
