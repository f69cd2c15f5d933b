/*
 * test_summary: sessions_summary_decode reads what sessions.c page_script
 * stores for the list ("S1", then per field its byte length, ':' and its
 * bytes) and refuses anything else whole: a summary it cannot read is
 * never half-shown.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sessions.h"
#include "tap.h"

#define ID	"0123456789abcdef0123456789abcdef"

/* The 12 fields, encoded the way page_script does. */
static size_t
enc(char *out, size_t cap, const char *const f[12])
{
	size_t	 n = 0;
	int	 i;

	n += (size_t)snprintf(out + n, cap - n, "S1");
	for (i = 0; i < 12; i++)
		n += (size_t)snprintf(out + n, cap - n, "%zu:%s", strlen(f[i]),
		    f[i]);
	return n;
}

int
main(void)
{
	static const char *const full[12] = { "alice", "My: title 12:3",
	    "claude-sonnet-4-5", "plan", "python", "allowlist",
	    "pypi.org,example.com", "everything", "running", "1764680000123456",
	    "1764680001", "1764680002" };
	const char	*f[12];
	struct session	 s;
	char		 b[8192], big[SESSION_TITLE_MAX * 8];
	size_t		 n;

	n = enc(b, sizeof(b), full);
	ok(sessions_summary_decode(b, n, ID, &s) == 1, "a full summary reads");
	is_str(s.id, ID, "id copied in");
	is_str(s.owner, "alice", "owner");
	is_str(s.title, "My: title 12:3", "a title with ':' and digits");
	is_str(s.model, "claude-sonnet-4-5", "model");
	is_str(s.permission_mode, "plan", "permission_mode");
	is_str(s.template_name, "python", "template");
	is_str(s.network_policy, "allowlist", "network_policy");
	is_str(s.allowed_domains, "pypi.org,example.com", "allowed_domains");
	is_str(s.mcp_servers, "everything", "mcp_servers");
	is_str(s.status, "running", "status");
	ok(s.created_us == 1764680000123456LL, "created_us");
	ok(s.updated_at == 1764680001L, "updated_at");
	ok(s.last_activity == 1764680002L, "last_activity");

	/* Absent fields are stored empty: strings "", numbers 0. */
	memcpy(f, full, sizeof(f));
	f[4] = f[5] = f[6] = f[7] = f[11] = "";
	n = enc(b, sizeof(b), f);
	ok(sessions_summary_decode(b, n, ID, &s) == 1 &&
	    s.template_name[0] == '\0' && s.mcp_servers[0] == '\0' &&
	    s.last_activity == 0, "empty fields read as empty / 0");
	f[10] = "12x";
	n = enc(b, sizeof(b), f);
	ok(sessions_summary_decode(b, n, ID, &s) == 1 && s.updated_at == 0,
	    "a bad number reads as 0, as an unreadable record field did");

	/* Refused whole. */
	memcpy(f, full, sizeof(f));
	f[0] = "";
	n = enc(b, sizeof(b), f);
	ok(sessions_summary_decode(b, n, ID, &s) == 0, "no owner: not listed");
	n = enc(b, sizeof(b), full);
	ok(sessions_summary_decode(b, n - 1, ID, &s) == 0, "one byte short");
	b[n] = 'x';
	ok(sessions_summary_decode(b, n + 1, ID, &s) == 0, "a trailing byte");
	ok(sessions_summary_decode("S2", 2, ID, &s) == 0, "another version");
	ok(sessions_summary_decode("", 0, ID, &s) == 0, "empty");
	ok(sessions_summary_decode("S1", 2, ID, &s) == 0, "no fields");
	ok(sessions_summary_decode("S199999999:x", 12, ID, &s) == 0,
	    "a length longer than the rest");
	ok(sessions_summary_decode("S1:abc", 6, ID, &s) == 0, "no length");
	ok(sessions_summary_decode("S15abc", 6, ID, &s) == 0, "no ':'");
	n = enc(b, sizeof(b), full);
	b[5] = '\0';	/* "S15:alice" -> "S15:a\0ice" */
	ok(sessions_summary_decode(b, n, ID, &s) == 0, "a NUL inside a field");
	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	memcpy(f, full, sizeof(f));
	f[1] = big;
	{
		char *bb = malloc(sizeof(big) + 512);

		n = enc(bb, sizeof(big) + 512, f);
		ok(sessions_summary_decode(bb, n, ID, &s) == 0,
		    "a field longer than its buffer");
		free(bb);
	}
	return done_testing();
}
