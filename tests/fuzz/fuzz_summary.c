/*
 * fuzz_summary: sessions_summary_decode (the list's stored summaries,
 * sessions.c) on arbitrary bytes. It must read only what it was given and,
 * when it accepts, leave NUL-terminated fields with an owner.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sessions.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct session	 s;
	char		*copy;

	/* An exact-size copy: ASan sees any read past the end. */
	if ((copy = malloc(size ? size : 1)) == NULL)
		return 0;
	memcpy(copy, data, size);
	if (sessions_summary_decode(copy, size, "0123456789abcdef0123456789abcdef",
	    &s) == 1) {
		if (s.owner[0] == '\0' ||
		    memchr(s.title, '\0', sizeof(s.title)) == NULL ||
		    memchr(s.allowed_domains, '\0', sizeof(s.allowed_domains)) == NULL ||
		    memchr(s.mcp_servers, '\0', sizeof(s.mcp_servers)) == NULL ||
		    memchr(s.status, '\0', sizeof(s.status)) == NULL)
			abort();
	}
	free(copy);
	return 0;
}
