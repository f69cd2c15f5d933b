#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>

#include "claude.h"
#include "config.h"
#include "log.h"
#include "metrics.h"
#include "sse.h"

#define BLOCK_TEXT_MAX		(8 * 1024 * 1024)
#define ERRBODY_MAX		(64 * 1024)
#define BACKOFF_CAP_MS		30000
#define CITATIONS_MAX		512	/* per text block */

struct claude_client {
	const struct config	*cfg;
	CURL			*curl;
	struct curl_slist	*headers;
	struct curl_slist	*beta;		/* headers + anthropic-beta, or NULL */
	char			 betas[448];	/* its value */
	char			 url[1024];
};

/* Per-attempt state shared by the curl callbacks. */
struct attempt {
	struct claude_msg		*msg;
	const struct claude_hooks	*hooks;
	struct sse_parser		 sse;
	struct buf			 errbody;
	long				 status;
	long				 retry_after_s;	/* -1 when absent */
	int				 aborted;	/* should_abort fired */
	int				 stalled;	/* no byte for the stall timeout */
	double				 last_rx;	/* monotonic seconds */
	double				 stall_s;
	int				 stream_error;	/* error event seen */
	int				 proto_error;	/* malformed stream */
	int				 too_large;
	char				 err_type[64];
	char				 err_msg[512];
};

struct claude_client *
claude_client_new(const struct config *cfg)
{
	struct claude_client	*c;
	char			 h[4096];
	const char		*base = cfg->anthropic_base_url;
	size_t			 n = strlen(base);

	if ((c = calloc(1, sizeof(*c))) == NULL)
		return NULL;
	c->cfg = cfg;
	while (n > 0 && base[n - 1] == '/')
		n--;
	snprintf(c->url, sizeof(c->url), "%.*s/v1/messages", (int)n, base);
	if ((c->curl = curl_easy_init()) == NULL) {
		free(c);
		return NULL;
	}
	snprintf(h, sizeof(h), "x-api-key: %s", cfg->anthropic_api_key ?
	    cfg->anthropic_api_key : "");
	c->headers = curl_slist_append(c->headers, h);
	c->headers = curl_slist_append(c->headers, "anthropic-version: 2023-06-01");
	c->headers = curl_slist_append(c->headers, "content-type: application/json");
	c->headers = curl_slist_append(c->headers, "accept: text/event-stream");
	c->headers = curl_slist_append(c->headers, "Expect:");
	return c;
}

/* c->beta from c->headers and c->betas ("" : none). */
static int
beta_rebuild(struct claude_client *c)
{
	struct curl_slist	*l = NULL, *h, *n;
	char			 line[512];

	curl_slist_free_all(c->beta);
	c->beta = NULL;
	if (c->betas[0] == '\0')
		return 0;
	for (h = c->headers; h != NULL; h = h->next) {
		if ((n = curl_slist_append(l, h->data)) == NULL)
			goto fail;
		l = n;
	}
	snprintf(line, sizeof(line), "anthropic-beta: %s", c->betas);
	if ((n = curl_slist_append(l, line)) == NULL)
		goto fail;
	c->beta = n;
	return 0;
fail:
	curl_slist_free_all(l);
	c->betas[0] = '\0';
	return -1;
}

int
claude_client_set_beta(struct claude_client *c, const char *betas)
{
	c->betas[0] = '\0';
	if (betas != NULL && (strlen(betas) >= sizeof(c->betas) ||
	    strpbrk(betas, "\r\n") != NULL)) {
		beta_rebuild(c);
		return -1;
	}
	if (betas != NULL)
		snprintf(c->betas, sizeof(c->betas), "%s", betas);
	return beta_rebuild(c);
}

int
claude_client_add_beta(struct claude_client *c, const char *beta)
{
	size_t	 n = strlen(c->betas), k = strlen(beta);
	const char *p;

	if (k == 0 || strpbrk(beta, "\r\n,") != NULL)
		return -1;
	for (p = c->betas; *p != '\0'; ) {
		size_t l = strcspn(p, ",");

		if (l == k && strncmp(p, beta, k) == 0)
			return 0;	/* already there */
		p += l;
		if (*p == ',')
			p++;
	}
	if (n + 1 + k >= sizeof(c->betas))
		return -1;
	snprintf(c->betas + n, sizeof(c->betas) - n, "%s%s", n ? "," : "", beta);
	return beta_rebuild(c);
}

void
claude_client_free(struct claude_client *c)
{
	if (c == NULL)
		return;
	curl_slist_free_all(c->headers);
	curl_slist_free_all(c->beta);
	curl_easy_cleanup(c->curl);
	free(c);
}

void
claude_msg_init(struct claude_msg *m)
{
	int	 i;

	memset(m, 0, sizeof(*m));
	for (i = 0; i < CLAUDE_MAX_BLOCKS; i++) {
		buf_init(&m->blocks[i].text, BLOCK_TEXT_MAX);
		buf_init(&m->blocks[i].sig, 64 * 1024);
	}
}

void
claude_msg_free(struct claude_msg *m)
{
	int	 i;

	for (i = 0; i < CLAUDE_MAX_BLOCKS; i++) {
		buf_free(&m->blocks[i].text);
		buf_free(&m->blocks[i].sig);
		if (m->blocks[i].input != NULL)
			json_object_put(m->blocks[i].input);
		m->blocks[i].input = NULL;
		if (m->blocks[i].raw != NULL)
			json_object_put(m->blocks[i].raw);
		m->blocks[i].raw = NULL;
		if (m->blocks[i].citations != NULL)
			json_object_put(m->blocks[i].citations);
		m->blocks[i].citations = NULL;
	}
}

json_object *
claude_msg_content(const struct claude_msg *m)
{
	json_object			*arr = json_object_new_array(), *b;
	const struct claude_block	*cb;
	int				 i;

	for (i = 0; i < m->nblocks; i++) {
		cb = &m->blocks[i];
		if (!cb->started)
			continue;
		switch (cb->type) {
		case CB_TEXT:
			if (cb->text.len == 0)
				continue;
			b = json_object_new_object();
			json_object_object_add(b, "type", json_object_new_string("text"));
			json_object_object_add(b, "text",
			    json_object_new_string_len(cb->text.p, (int)cb->text.len));
			if (cb->citations != NULL &&
			    json_object_array_length(cb->citations) > 0)
				json_object_object_add(b, "citations",
				    json_object_get(cb->citations));
			break;
		case CB_SERVER_TOOL_USE:
			/* Complete calls only, like tool_use; input set at stop. */
			if (!cb->stopped || cb->input == NULL || cb->raw == NULL)
				continue;
			b = json_object_get(cb->raw);
			break;
		case CB_SERVER_RESULT:
			if (!cb->stopped || cb->raw == NULL)
				continue;
			b = json_object_get(cb->raw);
			break;
		case CB_THINKING:
			/* Only complete, signed thinking may be sent back. */
			if (!cb->stopped || cb->sig.len == 0)
				continue;
			b = json_object_new_object();
			json_object_object_add(b, "type", json_object_new_string("thinking"));
			json_object_object_add(b, "thinking", json_object_new_string_len(
			    cb->text.p ? cb->text.p : "", (int)cb->text.len));
			json_object_object_add(b, "signature",
			    json_object_new_string_len(cb->sig.p, (int)cb->sig.len));
			break;
		case CB_REDACTED:
			if (!cb->stopped)
				continue;
			b = json_object_new_object();
			json_object_object_add(b, "type",
			    json_object_new_string("redacted_thinking"));
			json_object_object_add(b, "data", json_object_new_string_len(
			    cb->text.p ? cb->text.p : "", (int)cb->text.len));
			break;
		case CB_TOOL_USE:
			/* A tool call cut off mid-input is dropped, never half-sent. */
			if (!cb->stopped || cb->input == NULL)
				continue;
			b = json_object_new_object();
			json_object_object_add(b, "type", json_object_new_string("tool_use"));
			json_object_object_add(b, "id", json_object_new_string(cb->id));
			json_object_object_add(b, "name", json_object_new_string(cb->name));
			json_object_object_add(b, "input", json_object_get(cb->input));
			break;
		default:
			continue;
		}
		json_object_array_add(arr, b);
	}
	return arr;
}

static const char *
jstr(json_object *o, const char *k)
{
	json_object	*v;

	if (o == NULL || !json_object_object_get_ex(o, k, &v) ||
	    !json_object_is_type(v, json_type_string))
		return NULL;
	return json_object_get_string(v);
}

static int
jint(json_object *o, const char *k, long long *out)
{
	json_object	*v;

	if (o == NULL || !json_object_object_get_ex(o, k, &v) ||
	    !json_object_is_type(v, json_type_int))
		return 0;
	*out = json_object_get_int64(v);
	return 1;
}

static void
usage_from(struct claude_msg *m, json_object *u)
{
	json_object	*st;

	jint(u, "input_tokens", &m->input_tokens);
	jint(u, "output_tokens", &m->output_tokens);
	jint(u, "cache_creation_input_tokens", &m->cache_creation_tokens);
	jint(u, "cache_read_input_tokens", &m->cache_read_tokens);
	if (json_object_object_get_ex(u, "server_tool_use", &st)) {
		jint(st, "web_search_requests", &m->web_search_requests);
		jint(st, "web_fetch_requests", &m->web_fetch_requests);
	}
}

/* "web_search_tool_result" and the like: a server tool's result block. */
static int
server_result_type(const char *s)
{
	size_t	 n = strlen(s), k = strlen("_tool_result");

	return n > k && strcmp(s + n - k, "_tool_result") == 0;
}

/*
 * Applies one SSE event to m. Returns 0 to continue, 1 on message_stop,
 * 2 on an error event (errtype/errmsg set), -1 on a malformed event.
 */
int
claude_feed_event(struct claude_msg *m, const struct claude_hooks *h,
    const char *event, const char *data, size_t len, char *errtype,
    size_t etcap, char *errmsg, size_t emcap)
{
	struct json_tokener	*tok;
	json_object		*o, *cb, *d, *e;
	struct claude_block	*b;
	const char		*type, *s;
	long long		 idx;
	int			 rc = 0;

	if (strcmp(event, "ping") == 0)
		return 0;
	tok = json_tokener_new_ex(64);
	o = json_tokener_parse_ex(tok, data, (int)len);
	if (o == NULL || json_tokener_get_error(tok) != json_tokener_success ||
	    !json_object_is_type(o, json_type_object)) {
		json_tokener_free(tok);
		if (o != NULL)
			json_object_put(o);
		snprintf(errmsg, emcap, "malformed JSON in a %.40s event", event);
		return -1;
	}
	json_tokener_free(tok);
	type = jstr(o, "type");
	if (type == NULL)
		type = event;

	if (strcmp(type, "message_start") == 0) {
		json_object *msg = NULL;

		json_object_object_get_ex(o, "message", &msg);
		if ((s = jstr(msg, "id")) != NULL)
			snprintf(m->id, sizeof(m->id), "%s", s);
		if ((s = jstr(msg, "model")) != NULL)
			snprintf(m->model, sizeof(m->model), "%s", s);
		if (json_object_object_get_ex(msg, "usage", &d))
			usage_from(m, d);
		if (h && h->message_start)
			h->message_start(h->arg, m);
	} else if (strcmp(type, "content_block_start") == 0 ||
	    strcmp(type, "content_block_delta") == 0 ||
	    strcmp(type, "content_block_stop") == 0) {
		if (!jint(o, "index", &idx) || idx < 0 || idx >= CLAUDE_MAX_BLOCKS) {
			snprintf(errmsg, emcap, "bad block index in %s", type);
			rc = -1;
			goto out;
		}
		b = &m->blocks[idx];
		if (idx >= m->nblocks)
			m->nblocks = (int)idx + 1;
		if (strcmp(type, "content_block_start") == 0) {
			json_object_object_get_ex(o, "content_block", &cb);
			s = jstr(cb, "type");
			/* A block started again (a broken stream) starts afresh. */
			if (b->raw != NULL)
				json_object_put(b->raw);
			if (b->citations != NULL)
				json_object_put(b->citations);
			if (b->input != NULL)
				json_object_put(b->input);
			b->raw = b->citations = b->input = NULL;
			b->started = 1;
			if (s == NULL)
				b->type = CB_OTHER;
			else if (strcmp(s, "text") == 0) {
				b->type = CB_TEXT;
				if (json_object_object_get_ex(cb, "citations", &e) &&
				    json_object_is_type(e, json_type_array) &&
				    json_object_array_length(e) <= CITATIONS_MAX)
					json_object_deep_copy(e, &b->citations, NULL);
				if ((s = jstr(cb, "text")) != NULL && *s) {
					buf_puts(&b->text, s);
					if (h && h->text_delta)
						h->text_delta(h->arg, (int)idx, s, strlen(s));
				}
			} else if (strcmp(s, "thinking") == 0)
				b->type = CB_THINKING;
			else if (strcmp(s, "redacted_thinking") == 0) {
				b->type = CB_REDACTED;
				if ((s = jstr(cb, "data")) != NULL)
					buf_puts(&b->text, s);
			} else if (strcmp(s, "tool_use") == 0 ||
			    strcmp(s, "server_tool_use") == 0 ||
			    strcmp(s, "mcp_tool_use") == 0) {
				b->type = strcmp(s, "tool_use") == 0 ? CB_TOOL_USE :
				    CB_SERVER_TOOL_USE;
				snprintf(b->id, sizeof(b->id), "%s", jstr(cb, "id") ?
				    jstr(cb, "id") : "");
				snprintf(b->name, sizeof(b->name), "%s",
				    jstr(cb, "name") ? jstr(cb, "name") : "");
				if (b->type == CB_SERVER_TOOL_USE &&
				    json_object_deep_copy(cb, &b->raw, NULL) != 0)
					b->raw = NULL;
			} else if (server_result_type(s)) {
				/* Arrives whole; kept exactly (encrypted_content). */
				b->type = CB_SERVER_RESULT;
				snprintf(b->id, sizeof(b->id), "%s",
				    jstr(cb, "tool_use_id") ? jstr(cb, "tool_use_id") : "");
				b->raw = json_object_get(cb);
			} else
				b->type = CB_OTHER;
		} else if (strcmp(type, "content_block_delta") == 0) {
			const char *dt;

			json_object_object_get_ex(o, "delta", &d);
			if ((dt = jstr(d, "type")) == NULL)
				goto out;
			if (strcmp(dt, "text_delta") == 0 && (s = jstr(d, "text"))) {
				if (buf_puts(&b->text, s) == -1)
					goto toobig;
				if (h && h->text_delta)
					h->text_delta(h->arg, (int)idx, s, strlen(s));
			} else if (strcmp(dt, "thinking_delta") == 0 &&
			    (s = jstr(d, "thinking"))) {
				if (buf_puts(&b->text, s) == -1)
					goto toobig;
				if (h && h->thinking_delta)
					h->thinking_delta(h->arg, (int)idx, s, strlen(s));
			} else if (strcmp(dt, "signature_delta") == 0 &&
			    (s = jstr(d, "signature"))) {
				if (buf_puts(&b->sig, s) == -1)
					goto toobig;
			} else if (strcmp(dt, "input_json_delta") == 0 &&
			    (s = jstr(d, "partial_json"))) {
				if (buf_puts(&b->text, s) == -1)
					goto toobig;
			} else if (strcmp(dt, "citations_delta") == 0 &&
			    b->type == CB_TEXT &&
			    json_object_object_get_ex(d, "citation", &e) &&
			    json_object_is_type(e, json_type_object)) {
				if (b->citations == NULL)
					b->citations = json_object_new_array();
				if (json_object_array_length(b->citations) >= CITATIONS_MAX) {
					snprintf(errmsg, emcap, "more than %d citations "
					    "in one text block", CITATIONS_MAX);
					rc = -1;
					goto out;
				}
				json_object_array_add(b->citations, json_object_get(e));
			}
			/* Unknown delta types are ignored. */
		} else {
			b->stopped = 1;
			if ((b->type == CB_TOOL_USE || b->type == CB_SERVER_TOOL_USE) &&
			    b->input != NULL) {
				/* Stopped twice (a broken stream): parsed again. */
				json_object_put(b->input);
				b->input = NULL;
			}
			if (b->type == CB_TOOL_USE || b->type == CB_SERVER_TOOL_USE) {
				/* Accumulated partial JSON is parsed only now. */
				if (b->text.len == 0 && b->raw != NULL &&
				    json_object_object_get_ex(b->raw, "input", &e) &&
				    json_object_is_type(e, json_type_object))
					/* A block that came whole (no deltas) keeps its input. */
					b->input = json_object_get(e);
				else if (b->text.len == 0)
					b->input = json_object_new_object();
				else {
					tok = json_tokener_new_ex(64);
					b->input = json_tokener_parse_ex(tok, b->text.p,
					    (int)b->text.len);
					if (json_tokener_get_error(tok) != json_tokener_success &&
					    b->input != NULL) {
						json_object_put(b->input);
						b->input = NULL;
					}
					json_tokener_free(tok);
				}
				if (b->input == NULL ||
				    !json_object_is_type(b->input, json_type_object)) {
					if (b->input != NULL)
						json_object_put(b->input);
					b->input = NULL;
					snprintf(errmsg, emcap, "tool input for %s is not a "
					    "JSON object", b->id);
					rc = -1;
					goto out;
				}
				if (b->raw != NULL)
					json_object_object_add(b->raw, "input",
					    json_object_get(b->input));
			}
			if (h && h->block_stop)
				h->block_stop(h->arg, (int)idx, b);
		}
	} else if (strcmp(type, "message_delta") == 0) {
		if (json_object_object_get_ex(o, "delta", &d) &&
		    (s = jstr(d, "stop_reason")) != NULL)
			snprintf(m->stop_reason, sizeof(m->stop_reason), "%s", s);
		if (json_object_object_get_ex(o, "usage", &d))
			usage_from(m, d);
	} else if (strcmp(type, "message_stop") == 0) {
		m->got_stop = 1;
		rc = 1;
	} else if (strcmp(type, "error") == 0) {
		json_object_object_get_ex(o, "error", &e);
		snprintf(errtype, etcap, "%s", jstr(e, "type") ? jstr(e, "type") :
		    "api_error");
		snprintf(errmsg, emcap, "%s", jstr(e, "message") ?
		    jstr(e, "message") : "error event from the API");
		rc = 2;
	}
	/* Unknown event types are ignored (API versioning policy). */
out:
	json_object_put(o);
	return rc;
toobig:
	snprintf(errmsg, emcap, "content block larger than %d bytes", BLOCK_TEXT_MAX);
	json_object_put(o);
	return -1;
}

static int
on_sse_event(const char *event, const char *data, size_t len, void *arg)
{
	struct attempt	*a = arg;
	int		 rc;

	rc = claude_feed_event(a->msg, a->hooks, event, data, len, a->err_type,
	    sizeof(a->err_type), a->err_msg, sizeof(a->err_msg));
	if (rc == 2) {
		a->stream_error = 1;
		return -1;
	}
	if (rc == -1) {
		a->proto_error = 1;
		return -1;
	}
	return 0;
}

static double now_s(void);

static size_t
on_write(char *p, size_t sz, size_t n, void *arg)
{
	struct attempt	*a = arg;
	size_t		 len = sz * n;

	a->last_rx = now_s();

	if (a->status != 200) {
		/* Error bodies are small JSON; keep what fits. */
		buf_append(&a->errbody, p, len < a->errbody.max - a->errbody.len ?
		    len : a->errbody.max - a->errbody.len);
		return len;
	}
	if (sse_feed(&a->sse, p, len) == -1) {
		if (!a->stream_error && !a->proto_error) {
			a->proto_error = a->too_large = 1;
			snprintf(a->err_msg, sizeof(a->err_msg),
			    "upstream event larger than %d bytes", SSE_LINE_MAX);
		}
		return 0;	/* aborts the transfer */
	}
	return len;
}

static size_t
on_header(char *p, size_t sz, size_t n, void *arg)
{
	struct attempt	*a = arg;
	size_t		 len = sz * n;
	char		 line[256];
	long long	 v;

	a->last_rx = now_s();
	if (len >= 9 && strncmp(p, "HTTP/", 5) == 0) {
		const char *sp = memchr(p, ' ', len);

		a->status = sp ? strtol(sp + 1, NULL, 10) : 0;
		a->retry_after_s = -1;
		buf_reset(&a->errbody);
		return len;
	}
	if (len < sizeof(line) && strncasecmp(p, "retry-after:", 12) == 0) {
		memcpy(line, p + 12, len - 12);
		line[len - 12] = '\0';
		line[strcspn(line, "\r\n")] = '\0';
		if (config_parse_ll(line + strspn(line, " "), &v) == 0 && v >= 0)
			a->retry_after_s = (long)v;
	}
	return len;
}

static int
on_progress(void *arg, curl_off_t dt, curl_off_t dn, curl_off_t ut, curl_off_t un)
{
	struct attempt	*a = arg;

	if (a->hooks && a->hooks->should_abort && a->hooks->should_abort(a->hooks->arg)) {
		a->aborted = 1;
		return 1;
	}
	/*
	 * Our own stall clock: libcurl's low-speed check averages over ~5 s
	 * and counts the upload, so it notices a silent stream late.
	 */
	if (now_s() - a->last_rx > a->stall_s) {
		a->stalled = 1;
		return 1;
	}
	return 0;
}

static double
now_s(void)
{
	struct timespec	 ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Sleeps ms in small steps; returns 1 if should_abort fired meanwhile. */
static int
backoff_sleep(const struct claude_hooks *h, long ms)
{
	struct timespec	 ts;
	long		 step;

	while (ms > 0) {
		step = ms > 100 ? 100 : ms;
		ts.tv_sec = 0;
		ts.tv_nsec = step * 1000000L;
		nanosleep(&ts, NULL);
		ms -= step;
		if (h && h->should_abort && h->should_abort(h->arg))
			return 1;
	}
	return 0;
}

static void
parse_error_body(struct attempt *a)
{
	json_object	*o, *e;
	const char	*t, *msg;

	if (a->errbody.len == 0 || (o = json_tokener_parse(a->errbody.p)) == NULL)
		return;
	if (json_object_object_get_ex(o, "error", &e)) {
		if ((t = jstr(e, "type")) != NULL)
			snprintf(a->err_type, sizeof(a->err_type), "%s", t);
		if ((msg = jstr(e, "message")) != NULL)
			snprintf(a->err_msg, sizeof(a->err_msg), "%s", msg);
	}
	json_object_put(o);
}

static int
retryable_status(long s)
{
	return s == 408 || s == 429 || s == 500 || s == 502 || s == 503 ||
	    s == 504 || s == 529;
}

static int
retryable_error_type(const char *t)
{
	return strcmp(t, "overloaded_error") == 0 || strcmp(t, "api_error") == 0 ||
	    strcmp(t, "rate_limit_error") == 0 || strcmp(t, "timeout_error") == 0;
}

int
claude_stream(struct claude_client *c, const char *body,
    const struct claude_hooks *h, struct claude_msg *m, struct claude_result *res)
{
	const struct config	*cfg = c->cfg;
	struct attempt		 a;
	CURLcode		 cc;
	double			 t0 = now_s();
	long			 delay;
	char			 reason[600];
	int			 attempt, i;

	memset(res, 0, sizeof(*res));
	for (attempt = 1;; attempt++) {
		claude_msg_free(m);
		claude_msg_init(m);
		memset(&a, 0, sizeof(a));
		a.msg = m;
		a.hooks = h;
		a.retry_after_s = -1;
		a.last_rx = now_s();
		a.stall_s = (double)cfg->claude_stall_timeout;
		sse_init(&a.sse, on_sse_event, &a);
		buf_init(&a.errbody, ERRBODY_MAX);

		curl_easy_reset(c->curl);
		curl_easy_setopt(c->curl, CURLOPT_URL, c->url);
		curl_easy_setopt(c->curl, CURLOPT_HTTPHEADER, c->beta != NULL ?
		    c->beta : c->headers);
		curl_easy_setopt(c->curl, CURLOPT_POST, 1L);
		curl_easy_setopt(c->curl, CURLOPT_POSTFIELDS, body);
		curl_easy_setopt(c->curl, CURLOPT_POSTFIELDSIZE_LARGE,
		    (curl_off_t)strlen(body));
		curl_easy_setopt(c->curl, CURLOPT_WRITEFUNCTION, on_write);
		curl_easy_setopt(c->curl, CURLOPT_WRITEDATA, &a);
		curl_easy_setopt(c->curl, CURLOPT_HEADERFUNCTION, on_header);
		curl_easy_setopt(c->curl, CURLOPT_HEADERDATA, &a);
		curl_easy_setopt(c->curl, CURLOPT_NOPROGRESS, 0L);
		curl_easy_setopt(c->curl, CURLOPT_XFERINFOFUNCTION, on_progress);
		curl_easy_setopt(c->curl, CURLOPT_XFERINFODATA, &a);
		curl_easy_setopt(c->curl, CURLOPT_NOSIGNAL, 1L);
		curl_easy_setopt(c->curl, CURLOPT_CONNECTTIMEOUT,
		    (long)cfg->claude_connect_timeout);
		curl_easy_setopt(c->curl, CURLOPT_TIMEOUT,
		    (long)cfg->claude_request_timeout);
		curl_easy_setopt(c->curl, CURLOPT_USERAGENT, "claude-web/" PACKAGE_VERSION);
		curl_easy_setopt(c->curl, CURLOPT_PROTOCOLS_STR, "http,https");

		cc = curl_easy_perform(c->curl);
		if (cc == CURLE_OK && a.status == 200 && !m->got_stop &&
		    !a.stream_error && !a.proto_error)
			sse_finish(&a.sse);
		sse_free(&a.sse);
		res->attempts = attempt;
		res->http_status = (int)a.status;
		metrics_api_response(a.status);

		if (a.aborted) {
			buf_free(&a.errbody);
			res->code = CLAUDE_CANCELLED;
			return res->code;
		}
		reason[0] = '\0';
		if (a.stalled) {
			snprintf(res->err_type, sizeof(res->err_type), "network_error");
			snprintf(res->err_msg, sizeof(res->err_msg), "the API stream "
			    "stalled: no data for %lld s", cfg->claude_stall_timeout);
			snprintf(reason, sizeof(reason), "%s", res->err_msg);
		} else if (a.stream_error) {
			snprintf(res->err_type, sizeof(res->err_type), "%s", a.err_type);
			snprintf(res->err_msg, sizeof(res->err_msg), "%s", a.err_msg);
			if (!retryable_error_type(a.err_type))
				goto final;
			snprintf(reason, sizeof(reason), "%s: %s", a.err_type, a.err_msg);
		} else if (a.proto_error) {
			snprintf(res->err_type, sizeof(res->err_type), "api_error");
			snprintf(res->err_msg, sizeof(res->err_msg),
			    "malformed response from the API: %.400s", a.err_msg);
			if (a.too_large)
				goto final;
			snprintf(reason, sizeof(reason), "%s", res->err_msg);
		} else if (cc != CURLE_OK && a.status != 200 && a.status != 0 &&
		    cc != CURLE_OPERATION_TIMEDOUT) {
			/* curl failed after a non-200 status line: treat as that status. */
			goto status;
		} else if (cc != CURLE_OK) {
			snprintf(res->err_type, sizeof(res->err_type), "network_error");
			snprintf(res->err_msg, sizeof(res->err_msg), "%s%s",
			    cc == CURLE_OPERATION_TIMEDOUT ? "stalled or timed out: " : "",
			    curl_easy_strerror(cc));
			snprintf(reason, sizeof(reason), "%s", res->err_msg);
		} else if (a.status != 200) {
status:
			parse_error_body(&a);
			snprintf(res->err_type, sizeof(res->err_type), "%s",
			    a.err_type[0] ? a.err_type : "api_error");
			snprintf(res->err_msg, sizeof(res->err_msg), "HTTP %ld: %.400s",
			    a.status, a.err_msg[0] ? a.err_msg : "error from the API");
			if (!retryable_status(a.status))
				goto final;
			snprintf(reason, sizeof(reason), "%s", res->err_msg);
		} else if (!m->got_stop) {
			snprintf(res->err_type, sizeof(res->err_type), "api_error");
			snprintf(res->err_msg, sizeof(res->err_msg),
			    "the stream ended before message_stop");
			snprintf(reason, sizeof(reason), "%s", res->err_msg);
		} else {
			buf_free(&a.errbody);
			res->code = CLAUDE_OK;
			return res->code;
		}

		/* Retryable: back off, bounded by count and total time. */
		metrics_api_error(a.status);
		if (a.retry_after_s >= 0)
			delay = a.retry_after_s * 1000;
		else {
			delay = (long)cfg->claude_retry_base_ms;
			for (i = 1; i < attempt && delay < BACKOFF_CAP_MS; i++)
				delay *= 2;
			if (delay > BACKOFF_CAP_MS)
				delay = BACKOFF_CAP_MS;
			/* Full jitter in [delay/2, delay]. */
			delay = delay / 2 + (long)(random() % (delay / 2 + 1));
		}
		buf_free(&a.errbody);
		if (attempt > cfg->claude_max_retries ||
		    now_s() - t0 + (double)delay / 1000.0 >
		    (double)cfg->claude_retry_max_seconds) {
			res->code = CLAUDE_EEXHAUSTED;
			log_kv(LOG_WARNING, "claude: giving up", "i:attempts",
			    (long long)attempt, "s:reason", reason, NULL);
			return res->code;
		}
		log_kv(LOG_INFO, "claude: retrying", "i:attempt", (long long)attempt,
		    "i:delay_ms", (long long)delay, "s:reason", reason, NULL);
		metrics_api_retry(a.status);
		if (h && h->retrying)
			h->retrying(h->arg, attempt, delay, reason);
		if (backoff_sleep(h, delay)) {
			res->code = CLAUDE_CANCELLED;
			return res->code;
		}
		continue;
final:
		metrics_api_error(a.status);
		buf_free(&a.errbody);
		res->code = CLAUDE_EFINAL;
		return res->code;
	}
}
