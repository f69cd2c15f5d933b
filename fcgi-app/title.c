/*
 * title: automatic session titles (see title.h).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <json-c/json.h>

#include "app.h"
#include "buf.h"
#include "claude.h"
#include "config.h"
#include "events.h"
#include "history.h"
#include "jsonio.h"
#include "keys.h"
#include "log.h"
#include "metrics.h"
#include "models.h"
#include "scoreboard.h"
#include "sessions.h"
#include "store.h"
#include "title.h"

#define SUMMARY_PREFIX	"<summary of the earlier conversation>"

static const char prompt_head[] =
    "Reply with a 3-7 word title for the conversation below, in the "
    "language of the user's message. Reply with the title only: no quotes, "
    "no trailing period.\n\n";

/*
 * Set the automatic title only while the session has the default title and
 * nobody chose one. 0 set, 1 not due, 2 no such session.
 */
static const char set_script[] =
    "if redis.call('HEXISTS', KEYS[1], 'owner') == 0 then return 2 end "
    "local src = redis.call('HGET', KEYS[1], 'title_source') "
    "if src == 'user' or src == 'auto' then return 1 end "
    "if ARGV[1] == '' then return 1 end "
    "if redis.call('HGET', KEYS[1], 'title') ~= ARGV[2] then return 1 end "
    "if ARGV[4] == 'check' then return 0 end "
    "redis.call('HSET', KEYS[1], 'title', ARGV[1], 'title_source', 'auto', "
    "'updated_at', ARGV[3]) "
    SESSIONS_LUA_UNSUMMARIZE("KEYS[1]")
    "return 0";

/* Length of the UTF-8 sequence at s if it is valid (max n bytes), else 0. */
static size_t
utf8_len(const unsigned char *s, size_t n)
{
	size_t	 l;

	if (s[0] < 0x80)
		return 1;
	l = s[0] >= 0xf0 ? 4 : s[0] >= 0xe0 ? 3 : s[0] >= 0xc0 ? 2 : 0;
	if (l == 0 || l > n)
		return 0;
	return jsonio_utf8_valid((const char *)s, l) ? l : 0;
}

/*
 * Cleans text into out: valid UTF-8, whitespace runs as one space, at
 * most maxchars characters cut on a word boundary; sentence 1 stops at
 * the first line end or sentence end.
 */
static void
clean(const char *text, char *out, size_t cap, int maxchars, int sentence)
{
	const unsigned char	*s = (const unsigned char *)text;
	size_t			 n = strlen(text), i = 0, o = 0, l, last_space = 0;
	int			 chars = 0, space = 0, cut = 0;

	out[0] = '\0';
	while (i < n && o + 5 < cap) {
		if (s[i] == ' ' || s[i] == '\t' || s[i] == '\r' || s[i] == '\n') {
			if (sentence && s[i] == '\n' && chars > 0)
				break;
			space = chars > 0;
			i++;
			continue;
		}
		if ((l = utf8_len(s + i, n - i)) == 0) {
			i++;	/* a bad byte is dropped */
			continue;
		}
		if (l == 1 && s[i] < 0x20) {
			i++;
			continue;
		}
		if (chars + (space ? 1 : 0) + 1 > maxchars) {
			cut = 1;
			break;
		}
		if (space) {
			last_space = o;
			out[o++] = ' ';
			chars++;
			space = 0;
		}
		if (sentence && l == 1 && (s[i] == '.' || s[i] == '!' ||
		    s[i] == '?') && chars > 0 && (i + 1 == n || s[i + 1] == ' ' ||
		    s[i + 1] == '\n' || s[i + 1] == '\t' || s[i + 1] == '\r')) {
			if (s[i] != '.')
				out[o++] = (char)s[i];
			break;
		}
		memcpy(out + o, s + i, l);
		o += l;
		i += l;
		chars++;
	}
	if (cut && last_space > 0 && last_space * 2 >= o / 2)
		o = last_space;
	/* No dangling separators at the end. */
	while (o > 0 && strchr(" ,;:-", out[o - 1]) != NULL)
		o--;
	out[o] = '\0';
}

void
title_local(const char *text, char *out, size_t cap)
{
	const char	*p = text;

	/* Markdown headings and quotes say nothing. */
	while (*p == '#' || *p == '>' || *p == ' ' || *p == '\n' || *p == '\t')
		p++;
	clean(p, out, cap, TITLE_LOCAL_CHARS, 1);
}

/* The model's answer as a title: first line, no quotes or "Title:". */
static void
from_model(const char *ans, char *out, size_t cap)
{
	char		 tmp[512];
	const char	*p = ans;
	size_t		 o;

	while (*p == ' ' || *p == '\n' || *p == '#' || *p == '*' || *p == '"' ||
	    *p == '\'' || *p == '`')
		p++;
	if (strncasecmp(p, "title:", 6) == 0)
		p += 6;
	clean(p, tmp, sizeof(tmp), 80, 0);
	/* first line only: clean() joined lines, so cut at the first ". " */
	snprintf(out, cap, "%s", tmp);
	o = strlen(out);
	while (o > 0 && strchr("\"'`*. ", out[o - 1]) != NULL)
		o--;
	out[o] = '\0';
	if (out[0] == '"' || out[0] == '\'')
		memmove(out, out + 1, strlen(out));
}

/* The text of a message's text blocks (the summary left out), capped. */
static void
message_text(json_object *m, struct buf *b, size_t cap)
{
	json_object	*content, *blk, *t, *tx;
	size_t		 i;

	if (!json_object_object_get_ex(m, "content", &content))
		return;
	if (json_object_is_type(content, json_type_string)) {
		buf_append(b, json_object_get_string(content),
		    strnlen(json_object_get_string(content), cap));
		return;
	}
	for (i = 0; json_object_is_type(content, json_type_array) &&
	    i < json_object_array_length(content) && b->len < cap; i++) {
		blk = json_object_array_get_idx(content, i);
		if (!json_object_object_get_ex(blk, "type", &t) ||
		    strcmp(json_object_get_string(t), "text") != 0 ||
		    !json_object_object_get_ex(blk, "text", &tx))
			continue;
		if (strncmp(json_object_get_string(tx), SUMMARY_PREFIX,
		    sizeof(SUMMARY_PREFIX) - 1) == 0)
			continue;
		if (b->len > 0)
			buf_puts(b, "\n\n");
		buf_append(b, json_object_get_string(tx),
		    strnlen(json_object_get_string(tx), cap - b->len));
	}
}

/* Cuts b to at most cap bytes on a character boundary. */
static void
cap_utf8(struct buf *b, size_t cap)
{
	size_t	 n = b->len;

	if (n <= cap)
		return;
	n = cap;
	while (n > 0 && ((unsigned char)b->p[n] & 0xc0) == 0x80)
		n--;
	b->len = n;
	b->p[n] = '\0';
}

struct deadline {
	int64_t	 until_ms;
	struct app *app;
};

static int
title_abort(void *arg)
{
	struct deadline	*d = arg;

	scoreboard_heartbeat(d->app->slot);
	return scoreboard_now_ms() > d->until_ms;
}

/* Adds the call's usage to the session's and the user's totals. */
static void
account(struct app *app, const char *sid, const char *user,
    const struct claude_msg *m, const struct model_info *mi)
{
	static const char *const f[4] = { "input_tokens", "output_tokens",
	    "cache_creation_input_tokens", "cache_read_input_tokens" };
	long long	 v[4] = { m->input_tokens, m->output_tokens,
	    m->cache_creation_tokens, m->cache_read_tokens };
	char		 key[200], num[32], cost[64];
	redisReply	*r;
	int		 k, i;

	snprintf(cost, sizeof(cost), "%.10f", models_cost(mi, v[0], v[1], v[2],
	    v[3]));
	metrics_tokens(v[0], v[1], v[3], v[2]);
	for (k = 0; k < 2; k++) {
		if (k == 1 && (user == NULL || user[0] == '\0'))
			break;
		if (k == 0)
			snprintf(key, sizeof(key), CW_KP "usage:session:%s", sid);
		else
			snprintf(key, sizeof(key), CW_KP "usage:user:%s", user);
		for (i = 0; i < 4; i++) {
			snprintf(num, sizeof(num), "%lld", v[i]);
			if ((r = store_cmdv(app->store, "HINCRBY", key, f[i], num,
			    NULL)) != NULL)
				freeReplyObject(r);
		}
		if ((r = store_cmdv(app->store, "HINCRBYFLOAT", key, "cost_usd",
		    cost, NULL)) != NULL)
			freeReplyObject(r);
	}
}

/* One model call; 0 with the title in out, -1 failed (logged). */
static int
model_title(struct app *app, struct claude_client *cl, const char *sid,
    const char *user, const char *prompt, const char *answer, char *out,
    size_t cap)
{
	const struct config	*cfg = app->cfg;
	const struct model_info	*mi = models_find(cfg->title_model);
	struct claude_hooks	 hooks;
	struct claude_msg	 cm;
	struct claude_result	 res;
	struct deadline		 dl;
	struct buf		 in, ans;
	json_object		*body, *msgs, *m;
	char			*js;
	int			 i, rv = -1;

	if (mi == NULL)
		return -1;
	buf_init(&in, 3 * TITLE_INPUT_CAP);
	buf_puts(&in, prompt_head);
	buf_puts(&in, "<user>\n");
	buf_puts(&in, prompt);
	buf_puts(&in, "\n</user>\n<assistant>\n");
	buf_puts(&in, answer);
	buf_puts(&in, "\n</assistant>");
	body = json_object_new_object();
	json_object_object_add(body, "model", json_object_new_string(mi->id));
	json_object_object_add(body, "max_tokens", json_object_new_int(30));
	msgs = json_object_new_array();
	m = json_object_new_object();
	json_object_object_add(m, "role", json_object_new_string("user"));
	json_object_object_add(m, "content", json_object_new_string_len(in.p,
	    (int)in.len));
	json_object_array_add(msgs, m);
	json_object_object_add(body, "messages", msgs);
	json_object_object_add(body, "stream", json_object_new_boolean(1));
	js = strdup(json_object_to_json_string_ext(body, JSON_C_TO_STRING_PLAIN |
	    JSON_C_TO_STRING_NOSLASHESCAPE));
	json_object_put(body);
	buf_free(&in);
	if (js == NULL)
		return -1;
	memset(&hooks, 0, sizeof(hooks));
	dl.app = app;
	dl.until_ms = scoreboard_now_ms() + TITLE_CALL_SECONDS * 1000;
	hooks.arg = &dl;
	hooks.should_abort = title_abort;
	claude_msg_init(&cm);
	claude_stream(cl, js, &hooks, &cm, &res);
	free(js);
	if (res.code == CLAUDE_OK) {
		account(app, sid, user, &cm, mi);
		buf_init(&ans, 4096);
		for (i = 0; i < cm.nblocks; i++)
			if (cm.blocks[i].type == CB_TEXT && cm.blocks[i].text.len > 0)
				buf_append(&ans, cm.blocks[i].text.p,
				    cm.blocks[i].text.len);
		if (ans.len > 0) {
			from_model(ans.p, out, cap);
			rv = out[0] != '\0' ? 0 : -1;
		}
		buf_free(&ans);
		if (rv == -1)
			log_kv(LOG_WARNING, "title: the model gave no title",
			    "s:session", sid, NULL);
	} else {
		if (cm.input_tokens > 0 || cm.output_tokens > 0)
			account(app, sid, user, &cm, mi);
		log_kv(LOG_WARNING, "title: the model call failed", "s:session", sid,
		    "s:type", res.err_type, "s:error", res.err_msg, NULL);
	}
	claude_msg_free(&cm);
	return rv;
}

/* The Lua step: check 1 only asks whether a title is due. */
static int
set_title(struct app *app, const char *sid, const char *title, int check)
{
	redisReply	*r;
	char		 key[96], now[32];
	int		 rv = -1;

	snprintf(key, sizeof(key), CW_KP "session:%s", sid);
	snprintf(now, sizeof(now), "%ld", (long)time(NULL));
	if ((r = store_cmdv(app->store, "EVAL", set_script, "1", key, title,
	    TITLE_DEFAULT, now, check ? "check" : "set", NULL)) == NULL)
		return -1;
	if (r->type == REDIS_REPLY_INTEGER)
		rv = (int)r->integer;
	freeReplyObject(r);
	return rv;
}

void
title_after_run(struct app *app, struct claude_client *cl, const char *sid,
    const char *run_id)
{
	const struct config	*cfg = app->cfg;
	json_object		*h, *msgs, *m, *role, *d;
	struct buf		 prompt, answer;
	char			 title[SESSION_TITLE_MAX * 4 + 1], user[128] = "";
	redisReply		*r;
	char			 rkey[96];
	size_t			 i, n;

	if (set_title(app, sid, "-", 1) != 0)
		return;		/* a title is set, or Redis is away */
	if ((h = history_load(cfg, sid)) == NULL)
		return;
	buf_init(&prompt, TITLE_INPUT_CAP + 8);
	buf_init(&answer, TITLE_INPUT_CAP + 8);
	msgs = history_messages(h);
	n = msgs != NULL ? json_object_array_length(msgs) : 0;
	for (i = 0; i < n && (prompt.len == 0 || answer.len == 0); i++) {
		m = json_object_array_get_idx(msgs, i);
		if (!json_object_object_get_ex(m, "role", &role))
			continue;
		if (strcmp(json_object_get_string(role), "user") == 0 &&
		    prompt.len == 0)
			message_text(m, &prompt, TITLE_INPUT_CAP + 4);
		else if (strcmp(json_object_get_string(role), "assistant") == 0 &&
		    prompt.len > 0)
			message_text(m, &answer, TITLE_INPUT_CAP + 4);
	}
	json_object_put(h);
	cap_utf8(&prompt, TITLE_INPUT_CAP);
	cap_utf8(&answer, TITLE_INPUT_CAP);
	title[0] = '\0';
	snprintf(rkey, sizeof(rkey), CW_KP "run:%s", run_id);
	if ((r = store_cmdv(app->store, "HGET", rkey, "user", NULL)) != NULL) {
		if (r->type == REDIS_REPLY_STRING)
			snprintf(user, sizeof(user), "%s", r->str);
		freeReplyObject(r);
	}
	if (prompt.len > 0) {
		if (strcmp(cfg->title_model, "off") == 0 ||
		    cfg->anthropic_api_key == NULL || cfg->anthropic_api_key[0] == '\0')
			title_local(prompt.p, title, sizeof(title));
		else if (model_title(app, cl, sid, user, prompt.p,
		    answer.len > 0 ? answer.p : "", title, sizeof(title)) == -1)
			title[0] = '\0';
	}
	buf_free(&prompt);
	buf_free(&answer);
	if (title[0] == '\0')
		return;
	if (set_title(app, sid, title, 0) != 0)
		return;
	log_kv(LOG_INFO, "session titled", "s:session", sid, "s:title", title, NULL);
	d = json_object_new_object();
	json_object_object_add(d, "title", json_object_new_string(title));
	json_object_object_add(d, "title_source", json_object_new_string("auto"));
	if (events_append(app->store, sid, 0, cfg, "session.updated", d, NULL) != 0)
		log_kv(LOG_WARNING, "title: session.updated not appended",
		    "s:session", sid, NULL);
	json_object_put(d);
}

void
title_mark_user(struct store *st, const char *sid)
{
	redisReply	*r;
	char		 key[96];

	snprintf(key, sizeof(key), CW_KP "session:%s", sid);
	if ((r = store_cmdv(st, "HSET", key, "title_source", "user", NULL)) != NULL)
		freeReplyObject(r);
}
