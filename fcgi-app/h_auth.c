/*
 * The auth endpoints: login, logout, me, and check (nginx auth_request).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "auth.h"
#include "config.h"
#include "handlers.h"
#include "http.h"
#include "jsonio.h"
#include "metrics.h"
#include "ratelimit.h"
#include "store.h"
#include "users.h"

/* May this user open code-server (/code/)? CODE_SERVER_ROLE decides. */
int
h_can_use_code_server(const struct config *cfg, const struct auth_user *u)
{
	if (strcmp(u->role, "admin") == 0)
		return 1;
	return strcmp(cfg->code_server_role, "user") == 0;
}

json_object *
h_user_json(const struct auth_user *u)
{
	json_object	*o = json_object_new_object();

	json_object_object_add(o, "username", json_object_new_string(u->name));
	json_object_object_add(o, "role", json_object_new_string(u->role));
	json_object_object_add(o, "created_at", jsonio_time(u->created_at));
	json_object_object_add(o, "last_login", jsonio_time(u->last_login));
	json_object_object_add(o, "disabled", json_object_new_boolean(u->disabled));
	return o;
}

static int
too_many(struct http_req *r, long long retry, const char *what)
{
	char	 ra[32];

	metrics_inc(M_RATE_LIMITED_LOGIN);
	snprintf(ra, sizeof(ra), "%lld", retry);
	http_add_header(r, "Retry-After", ra);
	return http_error(r, 429, "rate_limited", "%s; retry in %lld s", what, retry);
}

static void
set_cookie(struct http_req *r, const char *token, long max_age)
{
	char	 c[AUTH_TOKEN_MAX + 256];

	snprintf(c, sizeof(c), "%s=%s; Path=/; Max-Age=%ld; HttpOnly; Secure; "
	    "SameSite=Strict", AUTH_COOKIE, token, max_age);
	http_add_header(r, "Set-Cookie", c);
}

int
h_login(struct http_req *r, struct app *app)
{
	const struct config	*cfg = app->cfg;
	struct auth_user	 u;
	struct auth_claims	 cl;
	json_object		*body, *resp;
	const char		*name, *pw, *addr;
	char			 hash[USERS_HASH_MAX], kuser[256], kip[256], now[32];
	char			*tok;
	long long		 retry;
	int			 rv, ok;

	if (jsonio_body(r, &body) == -1)
		return 0;
	if (jsonio_str(r, body, "username", 1, 256, &name) == -1 ||
	    jsonio_str(r, body, "password", 1, AUTH_PW_MAX, &pw) == -1)
		goto out;
	addr = r->remote_addr ? r->remote_addr : "unknown";

	/* Attempts per client address, then lockouts from earlier failures. */
	snprintf(kip, sizeof(kip), "cw:rl:login:%s", addr);
	rv = ratelimit_hit(app->store, kip, cfg->login_rate_limit_per_minute, 60,
	    &retry);
	if (rv == -1) {
		http_error(r, 503, "service_unavailable", "session store unavailable");
		goto out;
	}
	if (rv == 0) {
		too_many(r, retry, "too many login attempts from this address");
		goto out;
	}
	snprintf(kuser, sizeof(kuser), "cw:loginfail:user:%s", name);
	snprintf(kip, sizeof(kip), "cw:loginfail:ip:%s", addr);
	if (ratelimit_peek(app->store, kuser, cfg->login_max_failures, &retry) == 0 ||
	    ratelimit_peek(app->store, kip, cfg->login_max_failures * 4, &retry) == 0) {
		too_many(r, retry, "too many failed logins");
		goto out;
	}

	rv = users_valid_name(name) ? users_get(app->store, name, &u, hash,
	    sizeof(hash)) : 0;
	if (rv == -1) {
		http_error(r, 503, "service_unavailable", "session store unavailable");
		goto out;
	}
	if (rv == 1)
		ok = auth_password_verify(pw, strlen(pw), hash) == 1 && !u.disabled;
	else {
		/* Same work for unknown users: no timing oracle. */
		auth_password_dummy(pw, strlen(pw));
		ok = 0;
	}
	if (!ok) {
		metrics_inc(M_LOGIN_FAILURES);
		ratelimit_hit(app->store, kuser, cfg->login_max_failures,
		    cfg->login_lockout_seconds, &retry);
		ratelimit_hit(app->store, kip, cfg->login_max_failures * 4,
		    cfg->login_lockout_seconds, &retry);
		http_error(r, 401, "authentication_error",
		    "invalid username or password");
		goto out;
	}
	ratelimit_clear(app->store, kuser);
	tok = auth_jwt_issue(cfg->secret_key, u.name, (long)cfg->session_timeout, &cl);
	if (tok == NULL) {
		http_error(r, 500, NULL, "cannot issue a token");
		goto out;
	}
	u.last_login = (long)time(NULL);
	snprintf(now, sizeof(now), "%ld", u.last_login);
	users_set_field(app->store, u.name, "last_login", now);
	metrics_inc(M_LOGIN_SUCCESS);
	set_cookie(r, tok, (long)cfg->session_timeout);
	resp = json_object_new_object();
	json_object_object_add(resp, "token", json_object_new_string(tok));
	json_object_object_add(resp, "token_type", json_object_new_string("Bearer"));
	json_object_object_add(resp, "expires_at", jsonio_time(cl.exp));
	json_object_object_add(resp, "expires_in",
	    json_object_new_int64(cfg->session_timeout));
	{
		json_object *uj = h_user_json(&u);

		json_object_object_add(uj, "can_use_code_server",
		    json_object_new_boolean(h_can_use_code_server(cfg, &u)));
		json_object_object_add(resp, "user", uj);
	}
	free(tok);
	jsonio_reply_put(r, 200, resp);
out:
	json_object_put(body);
	return 0;
}

int
h_logout(struct http_req *r, struct app *app)
{
	struct auth_user	 u;
	redisReply		*rep;
	char			 key[128], ttl[32];
	long			 left;

	if (auth_require(r, app, &u) == -1)
		return 0;
	left = u.claims.exp - (long)time(NULL) + AUTH_LEEWAY_S + 1;
	if (left < 1)
		left = 1;
	snprintf(key, sizeof(key), "cw:revoked:%s", u.claims.jti);
	snprintf(ttl, sizeof(ttl), "%ld", left);
	if ((rep = store_cmdv(app->store, "SET", key, "1", "EX", ttl, NULL)) == NULL)
		return http_error(r, 503, "service_unavailable",
		    "session store unavailable");
	freeReplyObject(rep);
	set_cookie(r, "", 0);
	r->status = 204;
	return 0;
}

int
h_me(struct http_req *r, struct app *app)
{
	struct auth_user	 u;

	json_object		*o;

	if (auth_require(r, app, &u) == -1)
		return 0;
	o = h_user_json(&u);
	json_object_object_add(o, "can_use_code_server",
	    json_object_new_boolean(h_can_use_code_server(app->cfg, &u)));
	return jsonio_reply_put(r, 200, o);
}

/*
 * nginx auth_request target: 204 with X-User/X-User-Role when the cookie or
 * bearer token is valid, else 401. No rate limit: one page load of
 * code-server makes many subrequests.
 */
int
h_auth_check(struct http_req *r, struct app *app)
{
	struct auth_user	 u;

	const char		*orig;

	if (auth_identify(r, app, &u) == -1)
		return 0;
	/*
	 * code-server gives its user a terminal over every session, so who may
	 * open /code/ is a role decision (CODE_SERVER_ROLE), checked here for
	 * every request and WebSocket handshake nginx forwards.
	 */
	orig = http_header(r, "X-Original-URI");
	if (orig != NULL && strncmp(orig, "/code", 5) == 0 &&
	    (orig[5] == '/' || orig[5] == '?' || orig[5] == '\0') &&
	    !h_can_use_code_server(app->cfg, &u))
		return http_error(r, 403, "permission_error", "VS Code is only "
		    "available to %s accounts", app->cfg->code_server_role);
	http_add_header(r, "X-User", u.name);
	http_add_header(r, "X-User-Role", u.role);
	r->status = 204;
	buf_reset(&r->body);
	return 0;
}
