/*
 * test_jwtcache: auth_jwt_verify's cache of verified tokens (auth.c) never
 * accepts what a full verification would refuse: an expired token, another
 * key, a token one byte off, a token with a byte added; and a hit gives the
 * same claims as the first verification.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "auth.h"
#include "tap.h"

#define KEY	"0123456789abcdef0123456789abcdef-test-key"
#define KEY2	"0123456789abcdef0123456789abcdef-other-key"

int
main(void)
{
	struct auth_claims	 issued, a, b;
	const char		*why;
	char			*tok, *bad;
	time_t			 now = time(NULL);
	size_t			 n;
	int			 i;

	tok = auth_jwt_issue(KEY, "ann", "0123456789abcdef0123456789abcdef", 60,
	    &issued);
	ok(tok != NULL, "a token is issued");
	if (tok == NULL)
		return done_testing();
	n = strlen(tok);
	ok(auth_jwt_verify(KEY, tok, now, &a, &why) == 0, "first verification");
	for (i = 0; i < 3; i++)
		ok(auth_jwt_verify(KEY, tok, now, &b, &why) == 0 &&
		    memcmp(&a, &b, sizeof(a)) == 0 && why == NULL,
		    "verification %d (cached) gives the same claims", i + 2);
	is_str(b.sub, "ann", "... sub");
	ok(auth_jwt_verify(KEY, tok, issued.exp + AUTH_LEEWAY_S + 1, &b,
	    &why) == -1, "past exp + leeway the cached token is refused");
	is_str(why, "expired", "... as expired");
	ok(auth_jwt_verify(KEY2, tok, now, &b, &why) == -1,
	    "the same token under another key is refused");
	is_str(why, "bad signature", "... bad signature");
	ok(auth_jwt_verify(KEY, tok, now, &b, &why) == 0,
	    "back under the first key it verifies again");
	bad = malloc(n + 2);
	memcpy(bad, tok, n + 1);
	bad[n - 1] = bad[n - 1] == 'A' ? 'B' : 'A';
	ok(auth_jwt_verify(KEY, bad, now, &b, &why) == -1,
	    "the cached token with its last byte changed is refused");
	memcpy(bad, tok, n + 1);
	bad[n] = 'A';
	bad[n + 1] = '\0';
	ok(auth_jwt_verify(KEY, bad, now, &b, &why) == -1,
	    "the cached token with a byte added is refused");
	bad[n - 1] = '\0';
	ok(auth_jwt_verify(KEY, bad, now, &b, &why) == -1,
	    "the cached token with its last byte cut is refused");
	ok(auth_jwt_verify(KEY, tok, now, &b, &why) == 0 &&
	    memcmp(&a, &b, sizeof(a)) == 0, "and the token itself still verifies");
	free(bad);
	free(tok);
	return done_testing();
}
