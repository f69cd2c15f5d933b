/*
 * fuzz_fcgi: the incremental FastCGI parser (fcgiproto.c) on arbitrary
 * bytes, fed in pieces whose sizes come from the input itself, so record
 * headers and bodies are split at every offset. Checks the parser's own
 * promises: it consumes at most what it was given, always makes progress
 * or stops, and a finished request's params are well-formed strings.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fcgiproto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fcgip		 p;
	struct buf		 out;
	enum fcgip_event	 ev;
	size_t			 off = 0, chunk, used, i;
	unsigned		 step;
	const char		*v;

	if (size < 1)
		return 0;
	step = data[0];
	data++;
	size--;
	fcgip_init(&p);
	buf_init(&out, 1024 * 1024);
	while (off < size) {
		chunk = 1 + (step = step * 33 + 7) % 97;
		if (chunk > size - off)
			chunk = size - off;
		ev = fcgip_feed(&p, data + off, chunk, &used);
		if (used > chunk)
			abort();
		off += used;
		if (ev == FCGIP_ERROR) {
			if (p.err == NULL)
				abort();
			break;
		}
		if (ev == FCGIP_REPLY)
			buf_reset(&p.reply);
		if (ev == FCGIP_REQUEST) {
			for (i = 0; i < p.nenv; i++)
				if (strchr(p.envp[i], '=') == NULL)
					abort();
			if (p.envp[p.nenv] != NULL)
				abort();
			v = fcgip_param(&p, "REQUEST_URI");
			if (v != NULL && strlen(v) > FCGIP_PARAMS_MAX)
				abort();
			buf_reset(&out);
			(void)fcgip_put_stdout(&out, p.req_id, p.envp[0] ?
			    p.envp[0] : "", p.envp[0] ? strlen(p.envp[0]) : 0);
			(void)fcgip_put_end(&out, p.req_id, 0, FCGI_REQUEST_COMPLETE);
		}
		if (ev == FCGIP_ABORT || ev == FCGIP_STDIN_END)
			fcgip_reset(&p);
		if (ev == FCGIP_MORE && used < chunk)
			abort();
	}
	buf_free(&out);
	fcgip_free(&p);
	return 0;
}
