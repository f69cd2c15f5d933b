#include <string.h>

#include "models.h"

/* Prices: platform.claude.com/docs/en/about-claude/pricing (USD per MTok). */
static const struct model_info catalogue[] = {
	{ "claude-opus-4-5", "Claude Opus 4.5", 200000, 5.0, 25.0, 6.25, 0.50 },
	{ "claude-opus-4-1", "Claude Opus 4.1", 200000, 15.0, 75.0, 18.75, 1.50 },
	{ "claude-opus-4-0", "Claude Opus 4", 200000, 15.0, 75.0, 18.75, 1.50 },
	{ "claude-sonnet-4-5", "Claude Sonnet 4.5", 200000, 3.0, 15.0, 3.75, 0.30 },
	{ "claude-sonnet-4-0", "Claude Sonnet 4", 200000, 3.0, 15.0, 3.75, 0.30 },
	{ "claude-3-7-sonnet-latest", "Claude Sonnet 3.7", 200000, 3.0, 15.0, 3.75, 0.30 },
	{ "claude-haiku-4-5", "Claude Haiku 4.5", 200000, 1.0, 5.0, 1.25, 0.10 },
	{ "claude-3-5-haiku-latest", "Claude Haiku 3.5", 200000, 0.8, 4.0, 1.0, 0.08 },
};

const struct model_info *
models_all(int *n)
{
	*n = (int)(sizeof(catalogue) / sizeof(catalogue[0]));
	return catalogue;
}

/*
 * Exact id, or an id that is an alias plus "-YYYYMMDD". "claude-opus-4" and
 * "claude-sonnet-4" are the API's other names for the -0 releases.
 */
const struct model_info *
models_find(const char *id)
{
	size_t	 i, n;
	const char *s;

	if (strcmp(id, "claude-opus-4") == 0)
		id = "claude-opus-4-0";
	else if (strcmp(id, "claude-sonnet-4") == 0)
		id = "claude-sonnet-4-0";
	for (i = 0; i < sizeof(catalogue) / sizeof(catalogue[0]); i++) {
		n = strlen(catalogue[i].id);
		if (strcmp(id, catalogue[i].id) == 0)
			return &catalogue[i];
		if (strncmp(id, catalogue[i].id, n) == 0 && id[n] == '-' &&
		    strlen(id + n + 1) == 8) {
			for (s = id + n + 1; *s >= '0' && *s <= '9'; s++)
				;
			if (*s == '\0')
				return &catalogue[i];
		}
	}
	/* Dated ids of the -0 releases: claude-sonnet-4-20250514. */
	if (strncmp(id, "claude-sonnet-4-2", 17) == 0 && strlen(id) == 24)
		return models_find("claude-sonnet-4-0");
	if (strncmp(id, "claude-opus-4-2", 15) == 0 && strlen(id) == 22)
		return models_find("claude-opus-4-0");
	return NULL;
}

double
models_cost(const struct model_info *m, long long in, long long out,
    long long cw, long long cr)
{
	return ((double)in * m->in_price + (double)out * m->out_price +
	    (double)cw * m->cache_write_price + (double)cr * m->cache_read_price) /
	    1e6;
}
