/*
 * The Anthropic stream path: the SSE parser in every chunking and line-end
 * style, and the message assembly on top of it, against recorded streams.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "claude.h"
#include "sse.h"
#include "tap.h"

struct collect {
	struct claude_msg	 m;
	int			 events, stops, errors, bad;
	char			 names[64][32];
	char			 last_data[256];
	char			 et[64], em[512];
};

static int
on_event(const char *ev, const char *data, size_t len, void *arg)
{
	struct collect	*c = arg;
	int		 rc;

	if (c->events < 64)
		snprintf(c->names[c->events], sizeof(c->names[0]), "%s", ev);
	snprintf(c->last_data, sizeof(c->last_data), "%.*s", (int)len, data);
	c->events++;
	rc = claude_feed_event(&c->m, NULL, ev, data, len, c->et, sizeof(c->et),
	    c->em, sizeof(c->em));
	if (rc == 1)
		c->stops++;
	else if (rc == 2)
		c->errors++;
	else if (rc == -1)
		c->bad++;
	return 0;
}

static char *
slurp(const char *name, size_t *len)
{
	char	 path[1024];
	FILE	*fp;
	char	*p;
	long	 n;

	snprintf(path, sizeof(path), "%s/tests/fixtures/anthropic/%s",
	    getenv("TOP_SRCDIR") ? getenv("TOP_SRCDIR") : "..", name);
	if ((fp = fopen(path, "rb")) == NULL)
		return NULL;
	fseek(fp, 0, SEEK_END);
	n = ftell(fp);
	rewind(fp);
	p = malloc((size_t)n + 1);
	*len = fread(p, 1, (size_t)n, fp);
	p[*len] = '\0';
	fclose(fp);
	return p;
}

/* Rewrites LF line ends as CRLF (mode 1) or lone CR (mode 2). */
static char *
relines(const char *s, size_t len, int mode, size_t *out)
{
	char	*o = malloc(len * 2 + 1);
	size_t	 i, n = 0;

	for (i = 0; i < len; i++) {
		if (s[i] == '\n') {
			o[n++] = '\r';
			if (mode == 1)
				o[n++] = '\n';
		} else
			o[n++] = s[i];
	}
	*out = n;
	return o;
}

static void
run(struct collect *c, const char *s, size_t len, size_t chunk)
{
	struct sse_parser	 p;
	size_t			 off;

	memset(c, 0, sizeof(*c));
	claude_msg_init(&c->m);
	sse_init(&p, on_event, c);
	for (off = 0; off < len; off += chunk)
		sse_feed(&p, s + off, len - off < chunk ? len - off : chunk);
	sse_finish(&p);
	sse_free(&p);
}

int
main(void)
{
	struct collect	 c;
	struct sse_parser p;
	size_t		 len, l2, chunk;
	char		*s, *s2;
	int		 mode, all_ok;
	static const char *const modes[] = { "LF", "CRLF", "CR" };

	s = slurp("basic_response.txt", &len);
	ok(s != NULL, "fixture basic_response.txt readable");
	if (s == NULL)
		return done_testing();
	for (mode = 0; mode < 3; mode++) {
		s2 = mode == 0 ? s : relines(s, len, mode, &l2);
		if (mode == 0)
			l2 = len;
		all_ok = 1;
		for (chunk = 1; chunk <= 23; chunk++) {
			run(&c, s2, l2, chunk);
			if (c.m.nblocks != 1 || c.stops != 1 || c.bad != 0 ||
			    strcmp(c.m.stop_reason, "end_turn") != 0 ||
			    c.m.output_tokens != 6 || c.m.input_tokens == 0 ||
			    c.m.blocks[0].text.len == 0)
				all_ok = 0;
			if (chunk == 23)
				ok(all_ok, "%s line ends, chunk sizes 1..23: one text block, "
				    "end_turn, usage (text: '%s')", modes[mode],
				    c.m.blocks[0].text.p ? c.m.blocks[0].text.p : "");
			claude_msg_free(&c.m);
		}
		if (mode != 0)
			free(s2);
	}
	free(s);

	s = slurp("refusal_response.txt", &len);
	run(&c, s, len, 5);
	is_str(c.m.stop_reason, "refusal", "refusal stop_reason (with stop_details) kept");
	claude_msg_free(&c.m);
	free(s);
	s = slurp("extra_fields_response.txt", &len);
	run(&c, s, len, 3);
	ok(c.bad == 0 && c.stops == 1, "unknown fields in events are ignored");
	claude_msg_free(&c.m);
	free(s);

	/* A tool call whose JSON arrives split at awkward places. */
	{
		const char *stream =
		    "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"m1\",\"model\":\"x\",\"usage\":{\"input_tokens\":5,\"output_tokens\":1}}}\n\n"
		    ": a comment line\n\n"
		    "event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"tool_use\",\"id\":\"toolu_1\",\"name\":\"bash\",\"input\":{}}}\n\n"
		    "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"input_json_delta\",\"partial_json\":\"\"}}\n\n"
		    "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"input_json_delta\",\"partial_json\":\"{\\\"comm\"}}\n\n"
		    "event: future_thing\ndata: {\"type\":\"future_thing\"}\n\n"
		    "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"input_json_delta\",\"partial_json\":\"and\\\": \\\"echo \\\\\\\"\"}}\n\n"
		    "event: ping\ndata: {\"type\": \"ping\"}\n\n"
		    "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"input_json_delta\",\"partial_json\":\"hi\\\\\\\"\\\", \\\"n\\\": 4\"}}\n\n"
		    "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"input_json_delta\",\"partial_json\":\"2}\"}}\n\n"
		    "event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":0}\n\n"
		    "event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"tool_use\"},\"usage\":{\"output_tokens\":30}}\n\n"
		    "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n";
		json_object *cmd, *n;

		run(&c, stream, strlen(stream), 7);
		ok(c.m.blocks[0].type == CB_TOOL_USE && c.m.blocks[0].input != NULL,
		    "tool_use input assembled from partial JSON");
		ok(c.m.blocks[0].input && json_object_object_get_ex(c.m.blocks[0].input,
		    "command", &cmd) && strcmp(json_object_get_string(cmd),
		    "echo \"hi\"") == 0, "escaped quotes split across deltas survive");
		ok(c.m.blocks[0].input && json_object_object_get_ex(c.m.blocks[0].input,
		    "n", &n) && json_object_get_int(n) == 42, "a number split across deltas");
		is_str(c.m.stop_reason, "tool_use", "stop_reason tool_use");
		ok(c.m.output_tokens == 30 && c.m.input_tokens == 5, "usage merged");
		ok(c.bad == 0, "comment, ping and unknown event ignored");
		claude_msg_free(&c.m);
	}

	/*
	 * Server tools (web_search): the recorded server_tool_use with its
	 * input streamed; then a result block and cited text, kept exactly
	 * for the next request, and usage.server_tool_use.
	 */
	{
		const char *web =
		    "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"m2\",\"model\":\"x\",\"usage\":{\"input_tokens\":5,\"output_tokens\":1}}}\n\n"
		    "event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"server_tool_use\",\"id\":\"srvtoolu_1\",\"name\":\"web_search\",\"input\":{}}}\n\n"
		    "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"input_json_delta\",\"partial_json\":\"{\\\"query\\\": \\\"a\"}}\n\n"
		    "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"input_json_delta\",\"partial_json\":\"b\\\"}\"}}\n\n"
		    "event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":0}\n\n"
		    "event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":1,\"content_block\":{\"type\":\"web_search_tool_result\",\"tool_use_id\":\"srvtoolu_1\",\"content\":[{\"type\":\"web_search_result\",\"url\":\"https://e.com/\",\"title\":\"E\",\"encrypted_content\":\"Zm9v/+==\",\"page_age\":null}]}}\n\n"
		    "event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":1}\n\n"
		    "event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":2,\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\n"
		    "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":2,\"delta\":{\"type\":\"citations_delta\",\"citation\":{\"type\":\"web_search_result_location\",\"url\":\"https://e.com/\",\"title\":\"E\",\"encrypted_index\":\"Eg==\",\"cited_text\":\"foo\"}}}\n\n"
		    "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":2,\"delta\":{\"type\":\"text_delta\",\"text\":\"Foo.\"}}\n\n"
		    "event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":2}\n\n"
		    "event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"end_turn\"},\"usage\":{\"output_tokens\":9,\"server_tool_use\":{\"web_search_requests\":1}}}\n\n"
		    "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n";
		json_object *content;

		s = slurp("server_tool_use_response.txt", &len);
		ok(s != NULL, "fixture server_tool_use_response.txt readable");
		if (s != NULL) {
			run(&c, s, len, 3);
			content = claude_msg_content(&c.m);
			is_str(json_object_to_json_string_ext(json_object_array_get_idx(content, 1),
			    JSON_C_TO_STRING_PLAIN), "{\"type\":\"server_tool_use\",\"id\":"
			    "\"srvtoolu_01WebSearch\",\"name\":\"web_search\",\"input\":"
			    "{\"query\":\"weather in Paris\"}}",
			    "recorded server_tool_use: sent back with its streamed input");
			json_object_put(content);
			claude_msg_free(&c.m);
			free(s);
		}
		run(&c, web, strlen(web), 5);
		content = claude_msg_content(&c.m);
		is_str(json_object_to_json_string_ext(content, JSON_C_TO_STRING_PLAIN |
		    JSON_C_TO_STRING_NOSLASHESCAPE),
		    "[{\"type\":\"server_tool_use\",\"id\":\"srvtoolu_1\",\"name\":\"web_search\","
		    "\"input\":{\"query\":\"ab\"}},{\"type\":\"web_search_tool_result\","
		    "\"tool_use_id\":\"srvtoolu_1\",\"content\":[{\"type\":\"web_search_result\","
		    "\"url\":\"https://e.com/\",\"title\":\"E\",\"encrypted_content\":\"Zm9v/+==\","
		    "\"page_age\":null}]},{\"type\":\"text\",\"text\":\"Foo.\",\"citations\":"
		    "[{\"type\":\"web_search_result_location\",\"url\":\"https://e.com/\","
		    "\"title\":\"E\",\"encrypted_index\":\"Eg==\",\"cited_text\":\"foo\"}]}]",
		    "server tool blocks and cited text kept exactly, in order");
		ok(c.m.web_search_requests == 1 && c.bad == 0,
		    "usage.server_tool_use.web_search_requests read");
		json_object_put(content);
		claude_msg_free(&c.m);
	}

	/* Multi-line data, field without space, error event after 200. */
	{
		const char *ml = "data:line1\ndata: line2\n\n";
		const char *err = "event: error\ndata: {\"type\":\"error\",\"error\":"
		    "{\"type\":\"overloaded_error\",\"message\":\"Overloaded\"}}\n\n";
		const char *bad = "event: content_block_delta\ndata: {not json\n\n";

		run(&c, ml, strlen(ml), 1);
		is_str(c.last_data, "line1\nline2", "data lines joined with a newline");
		claude_msg_free(&c.m);
		run(&c, err, strlen(err), 4);
		ok(c.errors == 1 && strcmp(c.et, "overloaded_error") == 0,
		    "error event after HTTP 200 reported with its type");
		claude_msg_free(&c.m);
		run(&c, bad, strlen(bad), 4);
		ok(c.bad == 1, "malformed JSON is reported, not crashed on");
		claude_msg_free(&c.m);
	}

	/* Caps: one line longer than SSE_LINE_MAX fails cleanly. */
	{
		size_t big = SSE_LINE_MAX + 10;
		char *b = malloc(big);

		memset(b, 'a', big);
		memcpy(b, "data: ", 6);
		memset(&c, 0, sizeof(c));
		claude_msg_init(&c.m);
		sse_init(&p, on_event, &c);
		ok(sse_feed(&p, b, big) == -1, "a line over the cap is an error");
		ok(sse_feed(&p, "\n\n", 2) == -1, "and the parser stays failed");
		sse_free(&p);
		claude_msg_free(&c.m);
		free(b);
	}
	return done_testing();
}
