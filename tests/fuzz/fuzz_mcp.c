/*
 * Fuzzes what an MCP server writes on stdout (mcp.c): newline-delimited
 * JSON-RPC lines in chunks whose size the fuzzer chooses (first byte), to a
 * tools/list or tools/call exchange (second byte), then the tool list's
 * sanitising or the result's conversion (text, images, resources).
 */
#include <stdint.h>
#include <string.h>

#include "mcp.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 2)
		return 0;
	mcp_feed_output((const char *)data + 2, size - 2, (size_t)data[0] % 31 + 1,
	    data[1] & 1);
	return 0;
}
