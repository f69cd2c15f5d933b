/*
 * GET /api/metrics: Prometheus text format from the shared-memory
 * counters. nginx only lets loopback and internal addresses reach it; the
 * handler checks REMOTE_ADDR again so a misconfigured proxy fails closed.
 */
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "handlers.h"
#include "http.h"
#include "metrics.h"
#include "sessions.h"

static int
internal_addr(const char *a)
{
	if (a == NULL)
		return 0;
	if (strncmp(a, "172.", 4) == 0) {
		long second = strtol(a + 4, NULL, 10);

		return second >= 16 && second <= 31;
	}
	return strncmp(a, "127.", 4) == 0 || strcmp(a, "::1") == 0 ||
	    strncmp(a, "10.", 3) == 0 || strncmp(a, "192.168.", 8) == 0;
}

int
h_metrics(struct http_req *r, struct app *app)
{
	long long	 active;

	if (!internal_addr(r->remote_addr))
		return http_error(r, 403, "permission_error",
		    "metrics are only served to internal addresses");
	active = sessions_active(app->store, app->cfg->session_timeout);
	buf_reset(&r->body);
	if (metrics_render(&r->body, app->sb, active < 0 ? 0 : active) == -1)
		return -1;
	r->status = 200;
	r->content_type_out = "text/plain; version=0.0.4; charset=utf-8";
	return 0;
}
