/*
 * models: the catalogue of Claude models this server knows: API id,
 * context window, and USD prices per million tokens (input, output, 5-minute
 * cache write, cache read). Dated ids ("claude-sonnet-4-5-20250929") match
 * their alias.
 */
#ifndef CW_MODELS_H
#define CW_MODELS_H

struct model_info {
	const char	*id;
	const char	*name;
	long		 context_window;
	double		 in_price;
	double		 out_price;
	double		 cache_write_price;
	double		 cache_read_price;
};

/* NULL when the id is not in the catalogue. */
const struct model_info *models_find(const char *id);
const struct model_info *models_all(int *n);
/* USD per web_search request of the server tool ($10 per 1000 searches). */
#define MODELS_WEB_SEARCH_USD	0.01
/* USD cost of one usage record. */
double	models_cost(const struct model_info *, long long in, long long out,
	    long long cache_write, long long cache_read);

#endif
