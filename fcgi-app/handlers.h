/*
 * handlers: every route handler, one h_<resource>.c file per resource.
 * A handler fills r's response (status, headers, body) and returns 0, or
 * -1 when the response could not be built (the worker then answers 500).
 */
#ifndef CW_HANDLERS_H
#define CW_HANDLERS_H

#include "app.h"

/* h_health.c */
int	h_live(struct http_req *, struct app *);
int	h_ready(struct http_req *, struct app *);
int	h_health(struct http_req *, struct app *);
int	h_debug_sleep(struct http_req *, struct app *);

#endif
