/*
 * Fuzzes the request path: target parsing, query lookup and routing, all
 * of which read bytes straight from the client. Input layout: one byte
 * picks the method, the rest is the request-target.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "app.h"
#include "config.h"
#include "http.h"
#include "router.h"
#include "store.h"
#include "worker.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const methods[] = { "GET", "HEAD", "POST", "PUT",
	    "PATCH", "DELETE", "OPTIONS", "BREW" };
	static struct config	 cfg;
	static struct store	 store;
	static struct http_uri	 u;
	struct http_req		 r;
	struct app		 app;
	char			*target, v[256];

	if (size < 1)
		return 0;
	target = malloc(size);
	memcpy(target, data + 1, size - 1);
	target[size - 1] = '\0';

	if (http_uri_parse(target, strlen(target), &u) == URI_OK) {
		http_query_get(&u, "limit", v, sizeof(v));
		http_query_get(&u, "", v, sizeof(v));
	}
	/* The whole request path, minus handlers that would sleep or use Redis. */
	if (strstr(target, "debug") == NULL && strstr(target, "ready") == NULL &&
	    strstr(target, "health") == NULL) {
		memset(&app, 0, sizeof(app));
		app.cfg = &cfg;
		app.store = &store;
		app.version = "fuzz";
		http_req_init(&r, &cfg);
		r.method_str = methods[data[0] % 8];
		r.method = http_method_parse(r.method_str);
		r.request_uri = target;
		worker_handle(&r, &app);
		if (r.status < 200 || r.status > 599)
			abort();
		http_req_free(&r);
	}
	free(target);
	return 0;
}
