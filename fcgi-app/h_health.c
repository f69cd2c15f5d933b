/*
 * Liveness, readiness and health: the endpoints load balancers, Docker and
 * start.sh poll. live never touches Redis; ready is Redis only; health adds
 * disk and the worker pools as the scoreboard sees them.
 *
 * Anonymous callers (probes) get the verdict only: the overall status and
 * each component up or down. The details (version, environment, uptime,
 * WORKSPACE_PATH and free space, pool sizes, Redis latency and errors) are
 * for admins, authenticated like any API request; they would otherwise
 * tell anyone on the network what runs where. HEALTH_DETAILS=local also
 * shows them to loopback clients (the host's own scripts and monitors),
 * which is only safe when no proxy on this host forwards outside traffic.
 */
#include <stdio.h>
#include <string.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>

#include "auth.h"
#include "config.h"
#include "handlers.h"
#include "http.h"
#include "scoreboard.h"
#include "store.h"

#define DISK_MIN_FREE_FLOOR	(100LL * 1024 * 1024)

static int
loopback(const char *a)
{
	return a != NULL && (strncmp(a, "127.", 4) == 0 || strcmp(a, "::1") == 0 ||
	    strncmp(a, "::ffff:127.", 11) == 0);
}

int
h_live(struct http_req *r, struct app *app)
{
	return http_json(r, 200, "{\"status\":\"alive\"}");
}

int
h_ready(struct http_req *r, struct app *app)
{
	struct buf	*b = &r->body;
	double		 ms;

	/* A stop began: send no new work here (a load balancer's probe). */
	if (app->sb != NULL && __atomic_load_n(&app->sb->draining,
	    __ATOMIC_ACQUIRE)) {
		http_error(r, 503, "draining", "This instance is stopping");
		if (b->len > 2 && b->p[b->len - 2] == '}') {
			b->len -= 2;
			buf_puts(b, ",\"status\":\"draining\"}\n");
		}
		return 0;
	}
	if (store_ping(app->store, &ms) == 0)
		return http_json(r, 200, "{\"status\":\"ready\"}");
	/* The reason (store->errstr) is in the log, not for anonymous callers. */
	http_error(r, 503, "service_unavailable", "Redis is not reachable");
	/* Keep the error object and add the probe's own status beside it. */
	if (b->len > 2 && b->p[b->len - 2] == '}') {
		b->len -= 2;
		buf_puts(b, ",\"status\":\"not_ready\"}\n");
	}
	return 0;
}

/*
 * The disk threshold: enough room for ten maximum-size uploads, and never
 * less than 100 MiB, below which history and file writes start failing.
 */
static long long
disk_min_free(const struct config *cfg)
{
	long long	 t = cfg->max_file_size * 10;

	return t > DISK_MIN_FREE_FLOOR ? t : DISK_MIN_FREE_FLOOR;
}

static size_t
discard(char *p, size_t sz, size_t n, void *arg)
{
	return sz * n;
}

/*
 * code-server is a convenience, not a dependency: its /healthz is reported
 * but never makes the service degraded.
 */
static void
code_server_check(const struct config *cfg, struct buf *b, int details)
{
	CURL		*c;
	CURLcode	 cc;
	long		 status = 0;
	char		 url[1100];

	if (cfg->code_server_url == NULL) {
		buf_puts(b, ",\"code_server\":{\"status\":\"disabled\",\"critical\":false}");
		return;
	}
	snprintf(url, sizeof(url), "%s/healthz", cfg->code_server_url);
	if ((c = curl_easy_init()) == NULL)
		return;
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 1000L);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, discard);
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http");
	cc = curl_easy_perform(c);
	if (cc == CURLE_OK)
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
	curl_easy_cleanup(c);
	buf_printf(b, ",\"code_server\":{\"status\":\"%s\",\"critical\":false",
	    status == 200 ? "ok" : "down");
	if (status != 200 && details) {
		buf_puts(b, ",\"error\":\"");
		buf_json_escape(b, cc == CURLE_OK ? "unexpected status" :
		    curl_easy_strerror(cc), strlen(cc == CURLE_OK ?
		    "unexpected status" : curl_easy_strerror(cc)));
		buf_putc(b, '"');
	}
	buf_putc(b, '}');
}

int
h_health(struct http_req *r, struct app *app)
{
	const struct config	*cfg = app->cfg;
	struct buf		*b = &r->body;
	struct auth_user	 u;
	struct statvfs		 vfs;
	double			 ms;
	int			 redis_ok, disk_ok, pools_ok = 1, pool, live, exp;
	int			 details;
	long long		 free_b = -1, min_free = disk_min_free(cfg);
	uint32_t		 gen = __atomic_load_n(&app->sb->generation, __ATOMIC_ACQUIRE);

	redis_ok = store_ping(app->store, &ms) == 0;
	/*
	 * Details for an admin's token (or, with HEALTH_DETAILS=local, a
	 * loopback client); anything else, and any token while Redis is down,
	 * gets the anonymous answer.
	 */
	details = (strcmp(cfg->health_details, "local") == 0 &&
	    loopback(r->remote_addr)) || (redis_ok &&
	    auth_peek(r, app, &u) == 1 && strcmp(u.role, "admin") == 0);
	disk_ok = statvfs(cfg->workspace_path, &vfs) == 0;
	if (disk_ok) {
		free_b = (long long)vfs.f_bavail * (long long)vfs.f_frsize;
		disk_ok = free_b >= min_free;
	}
	for (pool = 0; pool < POOL_COUNT; pool++)
		if (app->sb->expected[pool] > 0 &&
		    scoreboard_live(app->sb, pool, gen) == 0)
			pools_ok = 0;

	r->status = (redis_ok && disk_ok && pools_ok) ? 200 : 503;
	r->content_type_out = "application/json";
	buf_reset(b);
	buf_printf(b, "{\"status\":\"%s\"",
	    r->status == 200 ? "healthy" : "degraded");
	if (details)
		buf_printf(b, ",\"version\":\"%s\",\"environment\":\"%s\","
		    "\"uptime_s\":%lld", app->version,
		    config_env_name(cfg->environment),
		    (long long)((scoreboard_now_ms() - app->sb->master_start_ms) /
		    1000));
	buf_puts(b, ",\"checks\":{");
	if (redis_ok) {
		buf_puts(b, "\"redis\":{\"status\":\"ok\"");
		if (details)
			buf_printf(b, ",\"latency_ms\":%.3f", ms);
		buf_putc(b, '}');
	} else {
		buf_puts(b, "\"redis\":{\"status\":\"down\"");
		if (details) {
			buf_puts(b, ",\"error\":\"");
			buf_json_escape(b, app->store->errstr,
			    strlen(app->store->errstr));
			buf_putc(b, '"');
		}
		buf_putc(b, '}');
	}
	buf_printf(b, ",\"disk\":{\"status\":\"%s\"", disk_ok ? "ok" : "low");
	if (details) {
		buf_puts(b, ",\"path\":\"");
		buf_json_escape(b, cfg->workspace_path, strlen(cfg->workspace_path));
		buf_printf(b, "\",\"free_bytes\":%lld,\"min_free_bytes\":%lld",
		    free_b, min_free);
	}
	buf_putc(b, '}');
	buf_printf(b, ",\"pools\":{\"status\":\"%s\"", pools_ok ? "ok" : "down");
	for (pool = 0; details && pool < POOL_COUNT; pool++) {
		live = scoreboard_live(app->sb, pool, gen);
		exp = app->sb->expected[pool];
		buf_printf(b, ",\"%s\":{\"live\":%d,\"expected\":%d}",
		    scoreboard_pool_name(pool), live, exp);
	}
	buf_puts(b, "}");
	code_server_check(cfg, b, details);
	if (buf_puts(b, "}}\n") == -1)
		return -1;
	return 0;
}

/*
 * GET /api/debug/sleep?ms=N: a deliberately slow request, so the lifecycle
 * tests (graceful stop, reload, request timeout) have one to hold open.
 * Exists only with DEBUG=true outside production; otherwise it is a 404
 * like any unknown route.
 */
int
h_debug_sleep(struct http_req *r, struct app *app)
{
	char		 v[32];
	long long	 ms = 1000;
	struct timespec	 ts;

	if (!app->cfg->debug || app->cfg->environment == ENV_PRODUCTION)
		return http_error(r, 404, NULL, "no such endpoint");
	if (http_query_get(&r->uri, "ms", v, sizeof(v)) == 1 &&
	    (config_parse_ll(v, &ms) == -1 || ms < 0 || ms > 600000))
		return http_error(r, 400, NULL, "ms must be an integer 0..600000");
	ts.tv_sec = ms / 1000;
	ts.tv_nsec = (ms % 1000) * 1000000;
	while (nanosleep(&ts, &ts) == -1)
		;
	char	 out[64];
	snprintf(out, sizeof(out), "{\"slept_ms\":%lld}", ms);
	return http_json(r, 200, out);
}
