/*
 * Fuzzes the Anthropic stream path: the SSE parser fed in chunks whose
 * boundaries the fuzzer chooses (first byte), and message assembly on
 * every event it yields.
 */
#include <stdint.h>
#include <string.h>

#include "claude.h"
#include "sse.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int
on_event(const char *ev, const char *d, size_t len, void *arg)
{
	char	 et[64], em[512];

	claude_feed_event(arg, NULL, ev, d, len, et, sizeof(et), em, sizeof(em));
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct claude_msg	 m;
	struct sse_parser		 p;
	size_t				 off, chunk;
	json_object			*content;

	if (size < 1)
		return 0;
	chunk = (size_t)data[0] % 17 + 1;
	claude_msg_init(&m);
	sse_init(&p, on_event, &m);
	for (off = 1; off < size; off += chunk)
		sse_feed(&p, (const char *)data + off,
		    size - off < chunk ? size - off : chunk);
	sse_finish(&p);
	sse_free(&p);
	content = claude_msg_content(&m);
	json_object_put(content);
	claude_msg_free(&m);
	return 0;
}
