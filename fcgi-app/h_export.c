/*
 * Readers of a session's whole transcript (the history, the tool details
 * and the notices, notices.h):
 *  - GET /api/sessions/<id>/export?format=md|json: the session as a
 *    Markdown document or as JSON, as an attachment, capped at
 *    EXPORT_MAX_BYTES (Markdown is cut with a note; JSON leaves out image
 *    data, see omit_media, and is 413 only if still over it);
 *  - GET /api/sessions?q=<text>: search over the caller's session titles and
 *    message texts (case-insensitive substring), bounded in sessions
 *    scanned, bytes parsed per history and time (see h_sessions_search).
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>

#include "auth.h"
#include "buf.h"
#include "config.h"
#include "handlers.h"
#include "history.h"
#include "http.h"
#include "jsonio.h"
#include "keys.h"
#include "notices.h"
#include "scoreboard.h"
#include "sessions.h"
#include "store.h"

#define EXPORT_MAX_BYTES	(15 * 1024 * 1024)
#define EXPORT_RESULT_MAX	(16 * 1024)	/* one tool result in Markdown */
#define SEARCH_Q_MAX		200
#define SEARCH_SESSIONS_MAX	200		/* newest first */
#define SEARCH_HISTORY_MAX	(4 * 1024 * 1024)	/* bytes parsed per history */
#define SEARCH_TOTAL_MAX	(16 * 1024 * 1024)	/* bytes read per request */
#define SEARCH_MS_MAX		500
#define SEARCH_LOCK_MS		5000	/* one search at a time per user */
#define SEARCH_RESULTS_MAX	50
#define SNIPPET_BEFORE		40
#define SNIPPET_AFTER		100

#define SUMMARY_PREFIX	"<summary of the earlier conversation>"

static const char *
jstr(json_object *o, const char *k)
{
	json_object	*v;

	return o != NULL && json_object_object_get_ex(o, k, &v) &&
	    json_object_is_type(v, json_type_string) ? json_object_get_string(v) :
	    NULL;
}

/* ---- shared: the session's files, read without following links ------ */

/* The file's bytes (at most max; *truncated when there was more); NULL if none. */
static char *
read_capped(const struct config *cfg, const char *sid, const char *sub,
    size_t max, size_t *len, int *truncated)
{
	char		 path[PATH_MAX], *buf;
	struct stat	 st;
	size_t		 got = 0;
	ssize_t		 n;
	int		 fd;

	*len = 0;
	*truncated = 0;
	if (sessions_path(cfg, sid, sub, path, sizeof(path)) == -1 ||
	    (fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY)) == -1)
		return NULL;
	if (fstat(fd, &st) == -1 || !S_ISREG(st.st_mode)) {
		close(fd);
		return NULL;
	}
	/* Room for what the file holds now (a file grown since is cut). */
	if ((size_t)st.st_size > max)
		*truncated = 1;
	else
		max = (size_t)st.st_size;
	if ((buf = malloc(max + 1)) == NULL) {
		close(fd);
		return NULL;
	}
	while (got < max && (n = read(fd, buf + got, max - got)) > 0)
		got += (size_t)n;
	close(fd);
	buf[got] = '\0';
	*len = got;
	return buf;
}

/* ---- search ------------------------------------------------------------- */

/* ASCII case-insensitive find of needle (nlen) in hay (hlen); -1 when absent. */
static long
ci_find(const char *hay, size_t hlen, const char *needle, size_t nlen)
{
	size_t	 i, j;

	if (nlen == 0 || nlen > hlen)
		return -1;
	for (i = 0; i + nlen <= hlen; i++) {
		for (j = 0; j < nlen; j++)
			if (tolower((unsigned char)hay[i + j]) !=
			    tolower((unsigned char)needle[j]))
				break;
		if (j == nlen)
			return (long)i;
	}
	return -1;
}

/* text[at - before, at + len + after) on character boundaries, whitespace collapsed. */
static json_object *
snippet(const char *text, size_t tlen, size_t at, size_t len)
{
	size_t		 a = at > SNIPPET_BEFORE ? at - SNIPPET_BEFORE : 0;
	size_t		 b = at + len + SNIPPET_AFTER < tlen ? at + len + SNIPPET_AFTER : tlen;
	struct buf	 o;
	json_object	*s;
	size_t		 i;
	int		 sp = 0;

	while (a > 0 && ((unsigned char)text[a] & 0xc0) == 0x80)
		a--;
	while (b < tlen && ((unsigned char)text[b] & 0xc0) == 0x80)
		b++;
	buf_init(&o, 4096);
	if (a > 0)
		buf_puts(&o, "…");
	for (i = a; i < b; i++) {
		if (isspace((unsigned char)text[i])) {
			sp = 1;
			continue;
		}
		if (sp && o.len > 0)
			buf_putc(&o, ' ');
		sp = 0;
		buf_putc(&o, text[i]);
	}
	if (b < tlen)
		buf_puts(&o, "…");
	s = json_object_new_string_len(o.p != NULL ? o.p : "", (int)o.len);
	buf_free(&o);
	return s;
}

/* The first match of q in the session's message texts, as {snippet, message_index, role}. */
static json_object *
match_history(const struct config *cfg, const char *sid, const char *q,
    size_t *budget, int *partial)
{
	json_object	*h, *msgs, *m, *content, *b, *res = NULL;
	const char	*t, *role;
	size_t		 len, i, j, n;
	long		 at;
	int		 truncated;
	char		*raw;

	if (*budget == 0) {
		*partial = 1;
		return NULL;
	}
	raw = read_capped(cfg, sid, ".claude/history.json", SEARCH_HISTORY_MAX,
	    &len, &truncated);
	if (raw == NULL)
		return NULL;
	*budget = len >= *budget ? 0 : *budget - len;
	/* A history over SEARCH_HISTORY_MAX is not parsed: the answer says partial. */
	if (truncated) {
		*partial = 1;
		free(raw);
		return NULL;
	}
	h = json_tokener_parse(raw);
	free(raw);
	if (h == NULL || !json_object_object_get_ex(h, "messages", &msgs) ||
	    !json_object_is_type(msgs, json_type_array)) {
		if (h != NULL)
			json_object_put(h);
		return NULL;
	}
	n = json_object_array_length(msgs);
	for (i = 0; i < n && res == NULL; i++) {
		m = json_object_array_get_idx(msgs, i);
		role = jstr(m, "role");
		if (role == NULL || !json_object_object_get_ex(m, "content", &content))
			continue;
		if (json_object_is_type(content, json_type_string)) {
			t = json_object_get_string(content);
			if ((at = ci_find(t, strlen(t), q, strlen(q))) >= 0) {
				res = json_object_new_object();
				json_object_object_add(res, "snippet", snippet(t, strlen(t),
				    (size_t)at, strlen(q)));
			}
		} else if (json_object_is_type(content, json_type_array)) {
			for (j = 0; j < json_object_array_length(content) && res == NULL;
			    j++) {
				b = json_object_array_get_idx(content, j);
				if ((t = jstr(b, "type")) == NULL || strcmp(t, "text") != 0 ||
				    (t = jstr(b, "text")) == NULL ||
				    strncmp(t, SUMMARY_PREFIX, sizeof(SUMMARY_PREFIX) - 1) == 0)
					continue;
				if ((at = ci_find(t, strlen(t), q, strlen(q))) >= 0) {
					res = json_object_new_object();
					json_object_object_add(res, "snippet", snippet(t,
					    strlen(t), (size_t)at, strlen(q)));
				}
			}
		}
		if (res != NULL) {
			json_object_object_add(res, "in", json_object_new_string("message"));
			json_object_object_add(res, "role", json_object_new_string(role));
			json_object_object_add(res, "message_index",
			    json_object_new_int64((long long)i));
		}
	}
	json_object_put(h);
	return res;
}

struct search_ctx {
	const struct config	*cfg;
	const struct auth_user	*u;
	const char		*q;
	json_object		*arr;
	size_t			 budget;
	int64_t			 until_ms;
	int			 scanned, partial;
};

static void
search_one(const struct session *s, void *arg)
{
	struct search_ctx	*sc = arg;
	json_object		*o, *m = NULL;
	long			 at;

	if (json_object_array_length(sc->arr) >= SEARCH_RESULTS_MAX)
		return;
	if (scoreboard_now_ms() > sc->until_ms) {
		sc->partial = 1;
		return;
	}
	sc->scanned++;
	if ((at = ci_find(s->title, strlen(s->title), sc->q, strlen(sc->q))) >= 0) {
		m = json_object_new_object();
		json_object_object_add(m, "in", json_object_new_string("title"));
		json_object_object_add(m, "snippet", json_object_new_string(s->title));
	} else
		m = match_history(sc->cfg, s->id, sc->q, &sc->budget, &sc->partial);
	if (m == NULL)
		return;
	o = h_session_json(sc->cfg, sc->u, s);
	json_object_object_add(o, "match", m);
	json_object_array_add(sc->arr, o);
}

/*
 * One search at a time per user: SET <CW_KP>search:<user> <token> NX PX
 * SEARCH_LOCK_MS. 1 taken, 0 busy, -1 store error.
 */
static int
search_lock(struct app *app, const char *user, char *key, size_t keycap,
    char *tok, size_t tokcap)
{
	redisReply	*rr;
	char		 ms[16];
	int		 rc;

	snprintf(key, keycap, CW_KP "search:%s", user);
	if (tokcap < 33 || auth_random_hex(tok, 16) == -1)
		return -1;
	snprintf(ms, sizeof(ms), "%d", SEARCH_LOCK_MS);
	if ((rr = store_cmdv(app->store, "SET", key, tok, "NX", "PX", ms,
	    NULL)) == NULL)
		return -1;
	rc = rr->type == REDIS_REPLY_STATUS ? 1 :
	    rr->type == REDIS_REPLY_NIL ? 0 : -1;
	freeReplyObject(rr);
	return rc;
}

/* Releases the lock if it is still ours (it may have expired and been retaken). */
static void
search_unlock(struct app *app, const char *key, const char *tok)
{
	redisReply	*rr;

	rr = store_cmdv(app->store, "EVAL", "if redis.call('GET', KEYS[1]) == "
	    "ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0", "1",
	    key, tok, NULL);
	if (rr != NULL)
		freeReplyObject(rr);
}

/*
 * GET /api/sessions?q=: the caller's sessions (all=1: everyone's, admins)
 * whose title or message text contains q, newest first, each with
 * "match": {"in":"title"|"message","snippet","role"?,"message_index"?}.
 * Bounded: the SEARCH_SESSIONS_MAX newest sessions, SEARCH_HISTORY_MAX
 * bytes per history (a bigger one is skipped), SEARCH_TOTAL_MAX bytes and
 * SEARCH_MS_MAX ms per request; "partial": true when a bound was hit.
 * One search per user at a time (search_lock): another one meanwhile is a
 * 429 with Retry-After: 1.
 */
int
h_sessions_search(struct http_req *r, struct app *app, const struct auth_user *u,
    const char *q, int all)
{
	struct search_ctx	 sc;
	json_object		*o;
	long long		 next;
	size_t			 qn = strlen(q);
	char			 lkey[160], ltok[40];
	int			 rc;

	if (qn == 0 || qn > SEARCH_Q_MAX || !jsonio_utf8_valid(q, qn))
		return http_error(r, 400, NULL, "query parameter 'q' must be 1 to %d "
		    "bytes of valid UTF-8", SEARCH_Q_MAX);
	if ((rc = search_lock(app, u->name, lkey, sizeof(lkey), ltok,
	    sizeof(ltok))) == -1)
		return http_error(r, 503, "service_unavailable",
		    "session store unavailable");
	if (rc == 0) {
		http_error(r, 429, "rate_limited", "another search of yours "
		    "is still running; try again in a second");
		http_add_header(r, "Retry-After", "1");
		return 0;
	}
	memset(&sc, 0, sizeof(sc));
	sc.cfg = app->cfg;
	sc.u = u;
	sc.q = q;
	sc.arr = json_object_new_array();
	sc.budget = SEARCH_TOTAL_MAX;
	sc.until_ms = scoreboard_now_ms() + SEARCH_MS_MAX;
	if (sessions_list(app->store, all ? NULL : u->name, 0, SEARCH_SESSIONS_MAX,
	    search_one, &sc, &next) == -1) {
		search_unlock(app, lkey, ltok);
		json_object_put(sc.arr);
		return http_error(r, 503, "service_unavailable",
		    "session store unavailable");
	}
	search_unlock(app, lkey, ltok);
	o = json_object_new_object();
	json_object_object_add(o, "sessions", sc.arr);
	json_object_object_add(o, "next_cursor", NULL);
	json_object_object_add(o, "query", json_object_new_string(q));
	json_object_object_add(o, "scanned", json_object_new_int(sc.scanned));
	json_object_object_add(o, "partial", json_object_new_boolean(sc.partial ||
	    next > 0 || json_object_array_length(sc.arr) >= SEARCH_RESULTS_MAX));
	return jsonio_reply_put(r, 200, o);
}

/* ---- export ------------------------------------------------------------- */

static json_object *
usage_of(struct app *app, const char *sid)
{
	static const char *const f[] = { "input_tokens", "output_tokens",
	    "cache_creation_input_tokens", "cache_read_input_tokens", "cost_usd" };
	json_object	*o = json_object_new_object();
	redisReply	*rr;
	char		 key[96];
	size_t		 i;

	snprintf(key, sizeof(key), CW_KP "usage:session:%s", sid);
	rr = store_cmdv(app->store, "HMGET", key, f[0], f[1], f[2], f[3], f[4],
	    NULL);
	for (i = 0; i < 5; i++) {
		const char *v = rr != NULL && rr->type == REDIS_REPLY_ARRAY &&
		    rr->elements == 5 && rr->element[i]->str != NULL ?
		    rr->element[i]->str : "0";

		json_object_object_add(o, f[i], i == 4 ?
		    json_object_new_double(strtod(v, NULL)) :
		    json_object_new_int64(strtoll(v, NULL, 10)));
	}
	if (rr != NULL)
		freeReplyObject(rr);
	return o;
}

/* .claude/tool_details.jsonl as {tool_use_id: detail}, capped. */
static json_object *
details_of(struct app *app, const char *sid)
{
	json_object	*map = json_object_new_object(), *d;
	const char	*id;
	char		*raw, *p, *nl;
	size_t		 len;
	int		 trunc;

	if ((raw = read_capped(app->cfg, sid, ".claude/tool_details.jsonl",
	    8 * 1024 * 1024, &len, &trunc)) == NULL)
		return map;
	for (p = raw; (nl = strchr(p, '\n')) != NULL; p = nl + 1) {
		*nl = '\0';
		if ((d = json_tokener_parse(p)) == NULL)
			continue;
		if ((id = jstr(d, "tool_use_id")) != NULL)
			json_object_object_add(map, id, d);
		else
			json_object_put(d);
	}
	free(raw);
	return map;
}

/* A fenced block whose fence is longer than any backtick run inside. */
static void
md_fenced(struct buf *b, const char *lang, const char *text, size_t cap)
{
	size_t	 n = strlen(text), i, run = 0, most = 2;
	char	 fence[32];

	for (i = 0; i < n; i++) {
		run = text[i] == '`' ? run + 1 : 0;
		if (run > most)
			most = run;
	}
	if (most > 20)
		most = 20;
	memset(fence, '`', most + 1);
	fence[most + 1] = '\0';
	buf_printf(b, "%s%s\n", fence, lang);
	if (n > cap) {
		while (cap > 0 && ((unsigned char)text[cap] & 0xc0) == 0x80)
			cap--;
		buf_append(b, text, cap);
		buf_printf(b, "\n… (%zu more bytes)", n - cap);
	} else
		buf_append(b, text, n);
	buf_printf(b, "\n%s\n\n", fence);
}

static const char *
notice_line(json_object *n, char *out, size_t cap)
{
	const char	*ev = jstr(n, "event"), *by = jstr(n, "by"), *at = jstr(n, "at");
	const char	*t, *m;
	json_object	*v;

	if (ev == NULL)
		return NULL;
	if (at == NULL)
		at = "";
	if (strcmp(ev, "run.error") == 0) {
		t = jstr(n, "type");
		m = jstr(n, "message");
		snprintf(out, cap, "**Error** (%s): %s — %s", t ? t : "error",
		    m ? m : "", at);
	} else if (strcmp(ev, "run.cancelled") == 0) {
		if (json_object_object_get_ex(n, "started", &v) &&
		    !json_object_get_boolean(v))
			return NULL;
		snprintf(out, cap, "**Stopped**%s%s — %s", by ? " by " : "",
		    by ? by : "", at);
	} else if (strcmp(ev, "run.retrying") == 0) {
		json_object *a, *dl;

		json_object_object_get_ex(n, "attempt", &a);
		json_object_object_get_ex(n, "delay_ms", &dl);
		t = jstr(n, "reason");
		snprintf(out, cap, "*Retrying the Claude API call* (attempt %d, after "
		    "%lld ms%s%s) — %s", a ? json_object_get_int(a) : 0,
		    dl ? (long long)json_object_get_int64(dl) : 0LL, t ? ": " : "",
		    t ? t : "", at);
	} else if (strcmp(ev, "run.resumed") == 0)
		snprintf(out, cap, "*The server resumed this run* (redo: %s) — %s",
		    jstr(n, "redo") ? jstr(n, "redo") : "?", at);
	else if (strcmp(ev, "run.continued") == 0)
		snprintf(out, cap, "*Continued* (%s) — %s",
		    jstr(n, "reason") ? jstr(n, "reason") : "?", at);
	else if (strcmp(ev, "run.finished") == 0) {
		t = jstr(n, "stop_reason");
		if (t == NULL || strcmp(t, "end_turn") == 0 ||
		    strcmp(t, "tool_use") == 0 || strcmp(t, "stop_sequence") == 0 ||
		    strcmp(t, "compacted") == 0 || strcmp(t, "nothing_to_compact") == 0)
			return NULL;
		snprintf(out, cap, "*Stopped: %s* — %s", t, at);
	} else
		return NULL;
	return out;
}

static void
md_approval(struct buf *b, json_object *notices, const char *tool_use_id)
{
	json_object	*n, *v;
	const char	*ev, *id, *d, *by, *at, *m;
	size_t		 i;

	for (i = 0; i < json_object_array_length(notices); i++) {
		n = json_object_array_get_idx(notices, i);
		ev = jstr(n, "event");
		id = jstr(n, "tool_use_id");
		if (ev == NULL || id == NULL || strcmp(id, tool_use_id) != 0)
			continue;
		by = jstr(n, "by");
		at = jstr(n, "at");
		if (strcmp(ev, "permission.request") == 0) {
			buf_printf(b, "> Approval asked: %s — %s\n>\n",
			    jstr(n, "summary") ? jstr(n, "summary") : "",
			    at ? at : "");
			continue;
		}
		if (strcmp(ev, "permission.resolved") != 0)
			continue;
		d = jstr(n, "decision");
		m = jstr(n, "message");
		buf_printf(b, "> %s%s%s%s%s%s%s — %s\n\n",
		    d == NULL ? "Answered" : strcmp(d, "allow") == 0 ? "Allowed" :
		    strcmp(d, "deny") == 0 ? "Denied" : strcmp(d, "expired") == 0 ?
		    "Expired (nobody answered)" : "Cancelled",
		    by ? " by " : "", by ? by : "",
		    json_object_object_get_ex(n, "remember", &v) &&
		    json_object_get_boolean(v) ? " (remembered for this session)" : "",
		    m ? ": “" : "", m ? m : "", m ? "”" : "", at ? at : "");
	}
}

static void
md_notices_at(struct buf *b, json_object *notices, long long msg)
{
	json_object	*n, *a, *v;
	char		 line[1024];
	size_t		 i;

	for (i = 0; i < json_object_array_length(notices); i++) {
		n = json_object_array_get_idx(notices, i);
		if (!json_object_object_get_ex(n, "anchor", &a) ||
		    !json_object_object_get_ex(a, "msg", &v) ||
		    json_object_get_int64(v) != msg)
			continue;
		if (notice_line(n, line, sizeof(line)) != NULL)
			buf_printf(b, "> %s\n\n", line);
	}
}

static void
md_content_text(struct buf *b, json_object *content)
{
	json_object	*blk;
	const char	*t, *tx;
	size_t		 i;

	if (json_object_is_type(content, json_type_string)) {
		buf_printf(b, "%s\n\n", json_object_get_string(content));
		return;
	}
	for (i = 0; i < json_object_array_length(content); i++) {
		blk = json_object_array_get_idx(content, i);
		t = jstr(blk, "type");
		if (t != NULL && strcmp(t, "text") == 0 && (tx = jstr(blk, "text")) != NULL)
			buf_printf(b, "%s\n\n", tx);
		else if (t != NULL && strcmp(t, "image") == 0)
			buf_puts(b, "*[image]*\n\n");
	}
}

static void
md_result(struct buf *b, json_object *blk, json_object *details)
{
	json_object	*c = NULL, *d = NULL, *v, *e;
	struct buf	 t;
	const char	*id = jstr(blk, "tool_use_id");
	size_t		 i;

	buf_init(&t, EXPORT_RESULT_MAX * 2);
	if (json_object_object_get_ex(blk, "content", &c)) {
		if (json_object_is_type(c, json_type_string))
			buf_puts(&t, json_object_get_string(c));
		else if (json_object_is_type(c, json_type_array))
			for (i = 0; i < json_object_array_length(c); i++) {
				e = json_object_array_get_idx(c, i);
				if (jstr(e, "text") != NULL)
					buf_puts(&t, jstr(e, "text"));
				else
					buf_printf(&t, "[%s]", jstr(e, "type") ?
					    jstr(e, "type") : "block");
				buf_putc(&t, '\n');
			}
	}
	if (id != NULL)
		json_object_object_get_ex(details, id, &d);
	buf_printf(b, "**Result**%s", json_object_object_get_ex(blk, "is_error", &v) &&
	    json_object_get_boolean(v) ? " (error)" : "");
	if (d != NULL && json_object_object_get_ex(d, "exit_code", &v) &&
	    json_object_is_type(v, json_type_int))
		buf_printf(b, " (exit code %d)", json_object_get_int(v));
	buf_puts(b, ":\n\n");
	md_fenced(b, "", t.p != NULL ? t.p : "", EXPORT_RESULT_MAX);
	buf_free(&t);
}

static int
export_md(struct http_req *r, struct app *app, const struct session *s,
    json_object *msgs, json_object *details, json_object *notices,
    json_object *usage)
{
	struct buf	 b;
	json_object	*m, *content, *blk, *in, *v;
	const char	*role, *t;
	size_t		 i, j, n;
	char		 tm[64];
	time_t		 now = time(NULL);
	struct tm	 g;

	buf_init(&b, EXPORT_MAX_BYTES);
	gmtime_r(&now, &g);
	strftime(tm, sizeof(tm), "%Y-%m-%dT%H:%M:%SZ", &g);
	buf_printf(&b, "# %s\n\n", s->title);
	buf_printf(&b, "- Session: `%s`\n- Owner: %s\n- Model: %s\n- Permission "
	    "mode: %s\n- Exported: %s\n", s->id, s->owner, s->model,
	    s->permission_mode, tm);
	buf_printf(&b, "- Usage: %lld input tokens, %lld output tokens, %lld "
	    "cache write, %lld cache read, $%.4f\n\n",
	    (long long)json_object_get_int64(json_object_object_get(usage, "input_tokens")),
	    (long long)json_object_get_int64(json_object_object_get(usage, "output_tokens")),
	    (long long)json_object_get_int64(json_object_object_get(usage,
	    "cache_creation_input_tokens")),
	    (long long)json_object_get_int64(json_object_object_get(usage,
	    "cache_read_input_tokens")),
	    json_object_get_double(json_object_object_get(usage, "cost_usd")));
	md_notices_at(&b, notices, -1);
	n = msgs != NULL ? json_object_array_length(msgs) : 0;
	for (i = 0; i < n && b.len + 4096 < EXPORT_MAX_BYTES; i++) {
		m = json_object_array_get_idx(msgs, i);
		role = jstr(m, "role");
		if (role == NULL || !json_object_object_get_ex(m, "content", &content))
			continue;
		if (strcmp(role, "user") == 0) {
			int prompt = 1;

			if (json_object_is_type(content, json_type_array))
				for (j = 0; j < json_object_array_length(content); j++)
					if ((t = jstr(json_object_array_get_idx(content, j),
					    "type")) != NULL && strcmp(t, "tool_result") == 0)
						prompt = 0;
			if (prompt) {
				buf_puts(&b, "## User\n\n");
				md_content_text(&b, content);
			} else
				for (j = 0; j < json_object_array_length(content); j++) {
					blk = json_object_array_get_idx(content, j);
					if ((t = jstr(blk, "type")) != NULL &&
					    strcmp(t, "tool_result") == 0)
						md_result(&b, blk, details);
				}
		} else {
			buf_puts(&b, "## Claude\n\n");
			for (j = 0; json_object_is_type(content, json_type_array) &&
			    j < json_object_array_length(content); j++) {
				blk = json_object_array_get_idx(content, j);
				t = jstr(blk, "type");
				if (t == NULL)
					continue;
				if (strcmp(t, "text") == 0 && jstr(blk, "text") != NULL)
					buf_printf(&b, "%s\n\n", jstr(blk, "text"));
				else if (strcmp(t, "tool_use") == 0) {
					buf_printf(&b, "**Tool call `%s`** (`%s`)\n\n",
					    jstr(blk, "name") ? jstr(blk, "name") : "?",
					    jstr(blk, "id") ? jstr(blk, "id") : "");
					in = json_object_object_get_ex(blk, "input", &v) ? v : NULL;
					md_fenced(&b, "json", in != NULL ?
					    json_object_to_json_string_ext(in,
					    JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_NOSLASHESCAPE) :
					    "{}", EXPORT_RESULT_MAX);
					if (jstr(blk, "id") != NULL)
						md_approval(&b, notices, jstr(blk, "id"));
				} else if (strcmp(t, "thinking") == 0 && jstr(blk, "thinking"))
					buf_printf(&b, "<details><summary>Thinking</summary>\n\n"
					    "%s\n\n</details>\n\n", jstr(blk, "thinking"));
			}
			if (json_object_is_type(content, json_type_string))
				buf_printf(&b, "%s\n\n", json_object_get_string(content));
		}
		md_notices_at(&b, notices, (long long)i);
	}
	if (i < n || b.len + 4096 >= EXPORT_MAX_BYTES) {
		b.len = b.len > EXPORT_MAX_BYTES - 4096 ? EXPORT_MAX_BYTES - 4096 : b.len;
		while (b.len > 0 && ((unsigned char)b.p[b.len] & 0xc0) == 0x80)
			b.len--;
		b.p[b.len] = '\0';
		buf_printf(&b, "\n\n*(export cut at %d bytes: %zu of %zu messages)*\n",
		    EXPORT_MAX_BYTES, i, n);
	}
	r->status = 200;
	r->content_type_out = "text/markdown; charset=utf-8";
	buf_reset(&r->body);
	if (buf_append(&r->body, b.p != NULL ? b.p : "", b.len) == -1) {
		buf_free(&b);
		return http_error(r, 500, NULL, "the export could not be built");
	}
	buf_free(&b);
	return 0;
}

/*
 * The JSON export keeps images (and other base64 sources, e.g. PDFs) as
 * their type and size only: {"type":"base64","media_type":...,
 * "omitted_bytes":n}, so a conversation that fits its limit fits the export.
 * content is a message's or a tool_result's content; depth bounds nesting.
 */
static void
omit_media(json_object *content, int depth)
{
	json_object	*blk, *src, *v, *ns;
	const char	*mt;
	size_t		 i;

	if (depth > 4 || !json_object_is_type(content, json_type_array))
		return;
	for (i = 0; i < json_object_array_length(content); i++) {
		blk = json_object_array_get_idx(content, i);
		if (json_object_object_get_ex(blk, "content", &v))
			omit_media(v, depth + 1);
		if (!json_object_object_get_ex(blk, "source", &src) ||
		    !json_object_is_type(src, json_type_object) ||
		    jstr(src, "type") == NULL || strcmp(jstr(src, "type"), "base64") != 0 ||
		    !json_object_object_get_ex(src, "data", &v) ||
		    !json_object_is_type(v, json_type_string))
			continue;
		ns = json_object_new_object();
		json_object_object_add(ns, "type", json_object_new_string("base64"));
		if ((mt = jstr(src, "media_type")) != NULL)
			json_object_object_add(ns, "media_type",
			    json_object_new_string(mt));
		json_object_object_add(ns, "omitted_bytes",
		    json_object_new_int64(json_object_get_string_len(v)));
		json_object_object_add(blk, "source", ns);
	}
}

/* GET /api/sessions/<id>/export?format=md|json */
int
h_export(struct http_req *r, struct app *app)
{
	struct auth_user	 u;
	struct session		 s;
	json_object		*h, *msgs, *details, *notices, *usage, *o;
	char			 fmt[16] = "md", disp[160];
	const char		*js;
	int			 rv;

	if (auth_require(r, app, &u) == -1 || h_session_load(r, app, &u, &s) == -1)
		return 0;
	if ((rv = http_query_get(&r->uri, "format", fmt, sizeof(fmt))) == -1 ||
	    (strcmp(fmt, "md") != 0 && strcmp(fmt, "json") != 0))
		return http_error(r, 400, NULL, "query parameter 'format' must be "
		    "md or json");
	if ((h = history_load(app->cfg, s.id)) == NULL)
		return http_error(r, 500, NULL, "the session history is unreadable");
	msgs = history_messages(h);
	details = details_of(app, s.id);
	notices = notices_load(app->cfg, s.id);
	usage = usage_of(app, s.id);
	snprintf(disp, sizeof(disp), "attachment; filename=\"session-%s.%s\"",
	    s.id, fmt);
	if (strcmp(fmt, "json") == 0) {
		size_t	 i;

		for (i = 0; msgs != NULL && i < json_object_array_length(msgs); i++)
			omit_media(json_object_object_get(
			    json_object_array_get_idx(msgs, i), "content"), 0);
		o = json_object_new_object();
		json_object_object_add(o, "session", h_session_json(app->cfg, &u, &s));
		json_object_object_add(o, "messages", msgs != NULL ?
		    json_object_get(msgs) : json_object_new_array());
		json_object_object_add(o, "tool_details", details);
		json_object_object_add(o, "notices", notices);
		json_object_object_add(o, "usage", usage);
		js = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN |
		    JSON_C_TO_STRING_NOSLASHESCAPE);
		if (strlen(js) > EXPORT_MAX_BYTES)
			rv = http_error(r, 413, "request_too_large", "this session is "
			    "too large to export as JSON (over %d bytes)", EXPORT_MAX_BYTES);
		else {
			rv = http_json(r, 200, js);
			http_add_header(r, "Content-Disposition", disp);
		}
		json_object_put(o);
	} else {
		rv = export_md(r, app, &s, msgs, details, notices, usage);
		if (r->status == 200)
			http_add_header(r, "Content-Disposition", disp);
		json_object_put(details);
		json_object_put(notices);
		json_object_put(usage);
	}
	json_object_put(h);
	return rv;
}
