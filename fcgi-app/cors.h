/*
 * cors: ALLOWED_ORIGINS decides which browser origins may call the API with
 * credentials, and which Origin a cookie-authenticated state change may
 * come from (CSRF). An Origin is never reflected unless it is listed (or is
 * this server's own origin).
 */
#ifndef CW_CORS_H
#define CW_CORS_H

struct http_req;

/* 1 when origin is in ALLOWED_ORIGINS (exact match; "*" only in development). */
int	cors_listed(const struct http_req *, const char *origin);
/* 1 when origin is https://<Host header> (the UI's own origin). */
int	cors_same_origin(const struct http_req *, const char *origin);
/*
 * Adds CORS response headers for a listed Origin. For a preflight
 * (OPTIONS with Access-Control-Request-Method) writes the whole answer and
 * returns 1; otherwise returns 0 and the request proceeds.
 */
int	cors_handle(struct http_req *);

#endif
