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
#include "keys.h"
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

/*
 * Failed logins. Two Lua calls per attempt keep the bookkeeping atomic
 * across workers and replicas (times in ms, from this host's clock):
 *
 * - per (user, address), cw:{c}:loginfail:pair:<user>:<addr> {n, until, lock}: the
 *   LOGIN_MAX_FAILURES-th failure locks that pair for LOGIN_LOCKOUT_SECONDS,
 *   each further one doubles it (up to LOGIN_LOCKOUT_MAX_SECONDS). The key
 *   lives for the lock plus LOGIN_LOCKOUT_SECONDS, so a pair that keeps
 *   failing keeps doubling and a quiet one is forgotten. Only that address
 *   is refused: nobody can lock someone else out of their account.
 * - per user across addresses, cw:{c}:loginfail:user:<user> (failures in the
 *   last LOGIN_LOCKOUT_SECONDS): from LOGIN_MAX_FAILURES on, every address
 *   must wait before its attempt is checked: the first try answers 429
 *   with Retry-After d = 2^(failures - max) s (at most
 *   LOGIN_SLOWDOWN_MAX_SECONDS) and records cw:{c}:loginfail:wait:<user>:<addr>;
 *   a try after d is checked (and consumes the wait). It never blocks: the
 *   right password from a clean address is in after at most the cap.
 */
static const char gate_script[] =
    "local now = tonumber(ARGV[1]) "
    "local u = tonumber(redis.call('HGET', KEYS[1], 'until') or '0') "
    "if u > now then return {1, math.ceil((u - now) / 1000)} end "
    "local cap = tonumber(ARGV[3]) "
    "if cap <= 0 then return {0, 0} end "
    "local f = tonumber(redis.call('GET', KEYS[2]) or '0') "
    "local max = tonumber(ARGV[2]) "
    "if f < max then return {0, 0} end "
    "local d = cap "
    "if f - max < 16 then d = math.min(2 ^ (f - max), cap) end "
    "local nb = tonumber(redis.call('GET', KEYS[3]) or '0') "
    "if nb == 0 then "
    "  redis.call('SET', KEYS[3], string.format('%.0f', now + d * 1000), "
    "    'PX', string.format('%.0f', d * 1000 + 60000)) "
    "  return {2, d} end "
    "if now < nb then return {2, math.ceil((nb - now) / 1000)} end "
    "redis.call('DEL', KEYS[3]) "
    "return {0, 0}";

static const char fail_script[] =
    "local now = tonumber(ARGV[1]) local max = tonumber(ARGV[2]) "
    "local base = tonumber(ARGV[3]) local cap = tonumber(ARGV[4]) "
    "local win = tonumber(ARGV[5]) "
    "local n = redis.call('HINCRBY', KEYS[1], 'n', 1) "
    "local lock = 0 "
    "if n >= max then "
    "  lock = cap "
    "  if n - max < 40 then lock = math.min(base * 2 ^ (n - max), cap) end "
    "  redis.call('HSET', KEYS[1], 'until', string.format('%.0f', now + lock * 1000), "
    "    'lock', string.format('%.0f', lock)) "
    "end "
    "redis.call('EXPIRE', KEYS[1], string.format('%.0f', lock + win)) "
    "local f = redis.call('INCR', KEYS[2]) "
    "redis.call('EXPIRE', KEYS[2], win) "
    "return {n, lock, f}";

struct login_keys {
	char	 pair[256];
	char	 user[256];
	char	 wait[256];
};

static long long
now_ms(void)
{
	struct timespec	 ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* 0 go ahead, 1 pair locked, 2 slowed down (*retry set), -1 Redis error. */
static int
login_gate(struct app *app, const struct login_keys *k, long long *retry)
{
	const struct config	*cfg = app->cfg;
	redisReply		*r;
	char			 now[32], max[32], cap[32];
	int			 rc = -1;

	snprintf(now, sizeof(now), "%lld", now_ms());
	snprintf(max, sizeof(max), "%lld", cfg->login_max_failures);
	snprintf(cap, sizeof(cap), "%lld", cfg->login_slowdown_max_seconds);
	if ((r = store_cmdv(app->store, "EVAL", gate_script, "3", k->pair, k->user,
	    k->wait, now, max, cap, NULL)) == NULL)
		return -1;
	if (r->type == REDIS_REPLY_ARRAY && r->elements == 2 &&
	    r->element[0]->type == REDIS_REPLY_INTEGER &&
	    r->element[1]->type == REDIS_REPLY_INTEGER) {
		rc = (int)r->element[0]->integer;
		*retry = r->element[1]->integer > 0 ? r->element[1]->integer : 1;
	}
	freeReplyObject(r);
	return rc;
}

static void
login_failed(struct app *app, const struct login_keys *k)
{
	const struct config	*cfg = app->cfg;
	redisReply		*r;
	char			 now[32], max[32], base[32], cap[32], win[32];

	snprintf(now, sizeof(now), "%lld", now_ms());
	snprintf(max, sizeof(max), "%lld", cfg->login_max_failures);
	snprintf(base, sizeof(base), "%lld", cfg->login_lockout_seconds);
	snprintf(cap, sizeof(cap), "%lld", cfg->login_lockout_max_seconds);
	snprintf(win, sizeof(win), "%lld", cfg->login_lockout_seconds);
	if ((r = store_cmdv(app->store, "EVAL", fail_script, "2", k->pair, k->user,
	    now, max, base, cap, win, NULL)) != NULL)
		freeReplyObject(r);
}

int
h_login(struct http_req *r, struct app *app)
{
	const struct config	*cfg = app->cfg;
	struct auth_user	 u;
	struct auth_claims	 cl;
	struct login_keys	 k;
	redisReply		*rep;
	json_object		*body, *resp;
	const char		*name, *pw, *addr;
	char			 hash[USERS_HASH_MAX], kip[256], now[32];
	char			*tok;
	long long		 retry;
	int			 rv, ok, valid;

	if (jsonio_body(r, &body) == -1)
		return 0;
	if (jsonio_str(r, body, "username", 1, 256, &name) == -1 ||
	    jsonio_str(r, body, "password", 1, AUTH_PW_MAX, &pw) == -1)
		goto out;
	addr = r->remote_addr ? r->remote_addr : "unknown";
	if (strlen(addr) > 64)
		addr = "unknown";
	valid = users_valid_name(name);

	/* Attempts per client address, then failures from that address. */
	snprintf(kip, sizeof(kip), CW_KP "rl:login:%s", addr);
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
	snprintf(kip, sizeof(kip), CW_KP "loginfail:ip:%s", addr);
	if (ratelimit_peek(app->store, kip, cfg->login_max_failures * 4, &retry) == 0) {
		too_many(r, retry, "too many failed logins from this address");
		goto out;
	}
	/* A valid name has no ':', so "<user>:<addr>" is unambiguous. */
	snprintf(k.pair, sizeof(k.pair), CW_KP "loginfail:pair:%s:%s", valid ? name : "", addr);
	snprintf(k.user, sizeof(k.user), CW_KP "loginfail:user:%s", valid ? name : "");
	snprintf(k.wait, sizeof(k.wait), CW_KP "loginfail:wait:%s:%s", valid ? name : "", addr);
	if (valid) {
		rv = login_gate(app, &k, &retry);
		if (rv == -1) {
			http_error(r, 503, "service_unavailable",
			    "session store unavailable");
			goto out;
		}
		if (rv == 1) {
			too_many(r, retry, "too many failed logins for this account "
			    "from this address");
			goto out;
		}
		if (rv == 2) {
			too_many(r, retry, "this account had many failed logins: "
			    "attempts are slowed down");
			goto out;
		}
	}

	rv = valid ? users_get(app->store, name, &u, hash, sizeof(hash)) : 0;
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
		/* Unknown names count too: no oracle for which names exist. */
		if (valid)
			login_failed(app, &k);
		ratelimit_hit(app->store, kip, cfg->login_max_failures * 4,
		    cfg->login_lockout_seconds, &retry);
		http_error(r, 401, "authentication_error",
		    "invalid username or password");
		goto out;
	}
	if ((rep = store_cmdv(app->store, "DEL", k.pair, k.wait, k.user,
	    NULL)) != NULL)
		freeReplyObject(rep);
	if (u.gen[0] == '\0' && users_ensure_gen(app->store, u.name, u.gen) != 0) {
		http_error(r, 503, "service_unavailable", "session store unavailable");
		goto out;
	}
	tok = auth_jwt_issue(cfg->secret_key, u.name, u.gen,
	    (long)cfg->session_timeout, &cl);
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
	snprintf(key, sizeof(key), CW_KP "revoked:%s", u.claims.jti);
	snprintf(ttl, sizeof(ttl), "%ld", left);
	if ((rep = store_cmdv(app->store, "SET", key, "1", "EX", ttl, NULL)) == NULL)
		return http_error(r, 503, "service_unavailable",
		    "session store unavailable");
	freeReplyObject(rep);
	set_cookie(r, "", 0);
	r->status = 204;
	return 0;
}

/*
 * POST /api/auth/logout-all: "sign out everywhere". A new token generation
 * for the account ends every token issued so far, this one included (and,
 * at their next check, open event streams and code-server).
 */
int
h_logout_all(struct http_req *r, struct app *app)
{
	struct auth_user	 u;
	int			 rv;

	if (auth_require(r, app, &u) == -1)
		return 0;
	if ((rv = users_new_gen(app->store, u.name)) == -1)
		return http_error(r, 503, "service_unavailable",
		    "session store unavailable");
	if (rv == 1)
		return http_error(r, 401, NULL, "invalid token: account no longer "
		    "exists");
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
