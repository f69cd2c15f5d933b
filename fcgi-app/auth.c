#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jwt.h>
#include <json-c/json.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "app.h"
#include "auth.h"
#include "config.h"
#include "cors.h"
#include "http.h"
#include "keys.h"
#include "metrics.h"
#include "ratelimit.h"
#include "store.h"
#include "users.h"

/* scrypt cost: N=2^14, r=8, p=1 is 16 MiB and ~50 ms here; stored per hash. */
#define SCRYPT_N	16384ULL
#define SCRYPT_R	8ULL
#define SCRYPT_P	1ULL
#define SCRYPT_MAXMEM	(256ULL * 1024 * 1024)
#define SALT_LEN	16
#define DK_LEN		32

int
auth_random_hex(char *out, size_t bytes)
{
	static const char hex[] = "0123456789abcdef";
	unsigned char	 raw[64];
	size_t		 i;

	if (bytes > sizeof(raw) || RAND_bytes(raw, (int)bytes) != 1)
		return -1;
	for (i = 0; i < bytes; i++) {
		out[2 * i] = hex[raw[i] >> 4];
		out[2 * i + 1] = hex[raw[i] & 0xf];
	}
	out[2 * bytes] = '\0';
	return 0;
}

static int
scrypt(const char *pw, size_t len, const unsigned char *salt, size_t slen,
    uint64_t n, uint64_t r, uint64_t p, unsigned char *out, size_t outlen)
{
	return EVP_PBE_scrypt(pw, len, salt, slen, n, r, p, SCRYPT_MAXMEM, out,
	    outlen) == 1 ? 0 : -1;
}

int
auth_password_hash(const char *pw, size_t len, char *out, size_t cap)
{
	unsigned char	 salt[SALT_LEN], dk[DK_LEN];
	char		 s64[64], d64[64];
	int		 n;

	if (RAND_bytes(salt, sizeof(salt)) != 1 ||
	    scrypt(pw, len, salt, sizeof(salt), SCRYPT_N, SCRYPT_R, SCRYPT_P, dk,
	    sizeof(dk)) == -1)
		return -1;
	EVP_EncodeBlock((unsigned char *)s64, salt, sizeof(salt));
	EVP_EncodeBlock((unsigned char *)d64, dk, sizeof(dk));
	n = snprintf(out, cap, "scrypt$%llu$%llu$%llu$%s$%s", SCRYPT_N, SCRYPT_R,
	    SCRYPT_P, s64, d64);
	OPENSSL_cleanse(dk, sizeof(dk));
	return (n < 0 || (size_t)n >= cap) ? -1 : 0;
}

/* Decodes standard base64 with padding; returns length or -1. */
static int
b64_decode(const char *in, unsigned char *out, size_t cap)
{
	size_t	 len = strlen(in), pad = 0;
	int	 n;

	if (len == 0 || len % 4 != 0 || len / 4 * 3 > cap)
		return -1;
	if (in[len - 1] == '=')
		pad++;
	if (len > 1 && in[len - 2] == '=')
		pad++;
	n = EVP_DecodeBlock(out, (const unsigned char *)in, (int)len);
	return n < 0 ? -1 : n - (int)pad;
}

int
auth_password_verify(const char *pw, size_t len, const char *enc)
{
	unsigned char	 salt[64], want[64], got[64];
	char		 copy[USERS_HASH_MAX], *f[6], *save = NULL, *t;
	long long	 n, r, p;
	int		 nf = 0, slen, dlen, ok;

	if (strlen(enc) >= sizeof(copy))
		return -1;
	memcpy(copy, enc, strlen(enc) + 1);
	for (t = strtok_r(copy, "$", &save); t != NULL && nf < 6;
	    t = strtok_r(NULL, "$", &save))
		f[nf++] = t;
	if (nf != 6 || strcmp(f[0], "scrypt") != 0 ||
	    config_parse_ll(f[1], &n) == -1 || config_parse_ll(f[2], &r) == -1 ||
	    config_parse_ll(f[3], &p) == -1 || n < 2 || n > (1 << 22) ||
	    r < 1 || r > 32 || p < 1 || p > 16)
		return -1;
	if ((slen = b64_decode(f[4], salt, sizeof(salt))) <= 0 ||
	    (dlen = b64_decode(f[5], want, sizeof(want))) <= 0)
		return -1;
	if (scrypt(pw, len, salt, (size_t)slen, (uint64_t)n, (uint64_t)r,
	    (uint64_t)p, got, (size_t)dlen) == -1)
		return -1;
	ok = CRYPTO_memcmp(got, want, (size_t)dlen) == 0;
	OPENSSL_cleanse(got, sizeof(got));
	return ok;
}

void
auth_password_dummy(const char *pw, size_t len)
{
	static const unsigned char salt[SALT_LEN] = { 0 };
	unsigned char	 dk[DK_LEN];

	scrypt(pw, len, salt, sizeof(salt), SCRYPT_N, SCRYPT_R, SCRYPT_P, dk,
	    sizeof(dk));
}

char *
auth_jwt_issue(const char *key, const char *sub, const char *gen, long ttl,
    struct auth_claims *out)
{
	jwt_t	*jwt = NULL;
	char	*tok = NULL;
	time_t	 now = time(NULL);

	memset(out, 0, sizeof(*out));
	if (gen == NULL || strlen(gen) == 0 || strlen(gen) > AUTH_GEN_LEN ||
	    auth_random_hex(out->jti, 16) == -1)
		return NULL;
	snprintf(out->sub, sizeof(out->sub), "%s", sub);
	snprintf(out->gen, sizeof(out->gen), "%s", gen);
	out->iat = (long)now;
	out->exp = (long)now + ttl;
	if (jwt_new(&jwt) != 0)
		return NULL;
	if (jwt_add_grant(jwt, "sub", sub) == 0 &&
	    jwt_add_grant(jwt, "jti", out->jti) == 0 &&
	    jwt_add_grant(jwt, "gen", out->gen) == 0 &&
	    jwt_add_grant_int(jwt, "iat", out->iat) == 0 &&
	    jwt_add_grant_int(jwt, "exp", out->exp) == 0 &&
	    jwt_set_alg(jwt, JWT_ALG_HS256, (const unsigned char *)key,
	    (int)strlen(key)) == 0)
		tok = jwt_encode_str(jwt);
	jwt_free(jwt);
	return tok;
}

/* base64url without padding → bytes; -1 on bad input. */
static int
b64url_decode(const char *in, size_t len, unsigned char *out, size_t cap)
{
	char	 tmp[2048];
	size_t	 i, n = 0;
	int	 d;

	if (len + 4 >= sizeof(tmp))
		return -1;
	for (i = 0; i < len; i++) {
		char c = in[i];

		if (c == '-')
			c = '+';
		else if (c == '_')
			c = '/';
		else if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
		    (c >= '0' && c <= '9')))
			return -1;
		tmp[n++] = c;
	}
	while (n % 4 != 0)
		tmp[n++] = '=';
	tmp[n] = '\0';
	d = b64_decode(tmp, out, cap);
	return d;
}

/* The header must say exactly {"alg":"HS256"[,"typ":"JWT"]}. */
static int
header_is_hs256(const char *tok, size_t len)
{
	unsigned char	 raw[1024];
	json_object	*h, *alg;
	int		 n, ok = 0;

	if ((n = b64url_decode(tok, len, raw, sizeof(raw) - 1)) <= 0)
		return 0;
	raw[n] = '\0';
	if ((h = json_tokener_parse((const char *)raw)) == NULL)
		return 0;
	if (json_object_is_type(h, json_type_object) &&
	    json_object_object_get_ex(h, "alg", &alg) &&
	    json_object_is_type(alg, json_type_string) &&
	    strcmp(json_object_get_string(alg), "HS256") == 0)
		ok = 1;
	json_object_put(h);
	return ok;
}

static int
claim_int(json_object *g, const char *name, long *out)
{
	json_object	*v;

	if (!json_object_object_get_ex(g, name, &v))
		return 0;
	if (!json_object_is_type(v, json_type_int))
		return -1;
	*out = (long)json_object_get_int64(v);
	return 1;
}

static int
claim_str(json_object *g, const char *name, char *out, size_t cap)
{
	json_object	*v;
	const char	*s;

	if (!json_object_object_get_ex(g, name, &v) ||
	    !json_object_is_type(v, json_type_string))
		return -1;
	s = json_object_get_string(v);
	if (strlen(s) == 0 || strlen(s) >= cap)
		return -1;
	memcpy(out, s, strlen(s) + 1);
	return 0;
}

int
auth_jwt_verify(const char *key, const char *token, time_t now,
    struct auth_claims *out, const char **why)
{
	jwt_t		*jwt = NULL;
	json_object	*g = NULL;
	char		*grants = NULL;
	const char	*dot1, *dot2;
	size_t		 len = strlen(token), i;
	long		 nbf, iat;
	int		 rc = -1, has;

	*why = "malformed token";
	memset(out, 0, sizeof(*out));
	if (len == 0 || len > AUTH_TOKEN_MAX)
		return -1;
	for (i = 0; i < len; i++) {
		char c = token[i];

		if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
		    (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '.'))
			return -1;
	}
	if ((dot1 = strchr(token, '.')) == NULL ||
	    (dot2 = strchr(dot1 + 1, '.')) == NULL || strchr(dot2 + 1, '.') ||
	    dot2[1] == '\0')
		return -1;
	*why = "algorithm not allowed";
	if (!header_is_hs256(token, (size_t)(dot1 - token)))
		return -1;
	*why = "bad signature";
	if (jwt_decode(&jwt, token, (const unsigned char *)key,
	    (int)strlen(key)) != 0 || jwt == NULL)
		goto out;
	*why = "algorithm not allowed";
	if (jwt_get_alg(jwt) != JWT_ALG_HS256)
		goto out;
	*why = "malformed claims";
	if ((grants = jwt_get_grants_json(jwt, NULL)) == NULL ||
	    (g = json_tokener_parse(grants)) == NULL ||
	    !json_object_is_type(g, json_type_object))
		goto out;
	*why = "missing exp";
	if (claim_int(g, "exp", &out->exp) != 1)
		goto out;
	*why = "expired";
	if (now > out->exp + AUTH_LEEWAY_S)
		goto out;
	*why = "not yet valid";
	if ((has = claim_int(g, "nbf", &nbf)) == -1 ||
	    (has == 1 && nbf > now + AUTH_LEEWAY_S))
		goto out;
	if ((has = claim_int(g, "iat", &iat)) == -1 ||
	    (has == 1 && iat > now + AUTH_LEEWAY_S))
		goto out;
	out->iat = has == 1 ? iat : 0;
	*why = "missing sub or jti";
	if (claim_str(g, "sub", out->sub, sizeof(out->sub)) == -1 ||
	    claim_str(g, "jti", out->jti, sizeof(out->jti)) == -1)
		goto out;
	/* gen is optional here; auth_identify() requires it to match. */
	*why = "malformed gen";
	if (json_object_object_get_ex(g, "gen", NULL) &&
	    claim_str(g, "gen", out->gen, sizeof(out->gen)) == -1)
		goto out;
	*why = NULL;
	rc = 0;
out:
	if (g != NULL)
		json_object_put(g);
	free(grants);
	if (jwt != NULL)
		jwt_free(jwt);
	return rc;
}

int
auth_token_from(const struct http_req *r, char *out, size_t cap)
{
	const char	*h, *c, *e;
	size_t		 n, klen = strlen(AUTH_COOKIE);

	if ((h = http_header(r, "Authorization")) != NULL &&
	    strncasecmp(h, "Bearer ", 7) == 0) {
		h += 7;
		while (*h == ' ')
			h++;
		if (strlen(h) >= cap)
			return 0;
		memcpy(out, h, strlen(h) + 1);
		return 1;
	}
	if ((c = http_header(r, "Cookie")) == NULL)
		return 0;
	while (*c != '\0') {
		while (*c == ' ' || *c == ';')
			c++;
		e = strchr(c, ';');
		n = e ? (size_t)(e - c) : strlen(c);
		if (n > klen && strncmp(c, AUTH_COOKIE, klen) == 0 && c[klen] == '=') {
			if (n - klen - 1 >= cap)
				return 0;
			memcpy(out, c + klen + 1, n - klen - 1);
			out[n - klen - 1] = '\0';
			return 2;
		}
		if (e == NULL)
			break;
		c = e + 1;
	}
	return 0;
}

static int
is_revoked(struct store *s, const char *jti)
{
	redisReply	*r;
	char		 key[128];
	int		 rv;

	snprintf(key, sizeof(key), CW_KP "revoked:%s", jti);
	if ((r = store_cmdv(s, "EXISTS", key, NULL)) == NULL)
		return -1;
	rv = r->type == REDIS_REPLY_INTEGER && r->integer > 0;
	freeReplyObject(r);
	return rv;
}

/*
 * The account behind claims: exists, enabled, same token generation, and
 * the token not revoked. Fills u from the record (claims copied in).
 * 1 valid, 0 not (*why), -1 Redis unavailable.
 */
static int
check_account(struct app *app, const struct auth_claims *claims,
    struct auth_user *u, const char **why)
{
	int	 rv;

	rv = users_get(app->store, claims->sub, u, NULL, 0);
	u->claims = *claims;	/* users_get() resets *u */
	if (rv == -1)
		return -1;
	if (rv == 0) {
		*why = "account no longer exists";
		return 0;
	}
	if (u->disabled) {
		*why = "account is disabled";
		return 0;
	}
	/*
	 * A record without a generation predates them; its tokens (which have
	 * none either) are refused, and the next login gives it one.
	 */
	if (claims->gen[0] == '\0' || u->gen[0] == '\0' ||
	    strlen(claims->gen) != strlen(u->gen) ||
	    CRYPTO_memcmp(claims->gen, u->gen, strlen(u->gen)) != 0) {
		*why = "signed out (password changed, account changed or "
		    "signed out everywhere)";
		return 0;
	}
	if ((rv = is_revoked(app->store, claims->jti)) != 0) {
		if (rv == -1)
			return -1;
		*why = "revoked";
		return 0;
	}
	return 1;
}

/*
 * Token → user, writing nothing: 1 ok, 0 refused (*status 401, *why),
 * -1 Redis unavailable.
 */
static int
authenticate(struct http_req *r, struct app *app, struct auth_user *u,
    const char **why)
{
	char		 tok[AUTH_TOKEN_MAX + 1];
	struct auth_claims claims;
	int		 src, rv;

	memset(u, 0, sizeof(*u));
	*why = NULL;
	if ((src = auth_token_from(r, tok, sizeof(tok))) == 0)
		return 0;
	if (auth_jwt_verify(app->cfg->secret_key, tok, time(NULL), &claims,
	    why) == -1)
		return 0;
	if ((rv = check_account(app, &claims, u, why)) != 1)
		return rv;
	u->via_cookie = src == 2;
	return 1;
}

int
auth_identify(struct http_req *r, struct app *app, struct auth_user *u)
{
	const char	*why;
	int		 rv;

	if ((rv = authenticate(r, app, u, &why)) == 1) {
		snprintf(r->log_user, sizeof(r->log_user), "%s", u->name);
		return 0;
	}
	if (rv == -1)
		http_error(r, 503, "service_unavailable", "session store unavailable");
	else if (why == NULL)
		http_error(r, 401, NULL, "authentication required");
	else
		http_error(r, 401, NULL, "invalid token: %s", why);
	return -1;
}

int
auth_peek(struct http_req *r, struct app *app, struct auth_user *u)
{
	const char	*why;

	return authenticate(r, app, u, &why);
}

int
auth_token_still_valid(struct app *app, const struct auth_user *u,
    const char **why)
{
	struct auth_user	 cur;
	const char		*w = NULL;
	int			 rv;

	if ((long)time(NULL) > u->claims.exp + AUTH_LEEWAY_S) {
		rv = 0;
		w = "expired";
	} else
		rv = check_account(app, &u->claims, &cur, &w);
	if (why != NULL)
		*why = w;
	return rv;
}

static int
state_changing(enum http_method m)
{
	return m == HTTP_POST || m == HTTP_PUT || m == HTTP_PATCH ||
	    m == HTTP_DELETE;
}

int
auth_require(struct http_req *r, struct app *app, struct auth_user *u)
{
	const char	*origin, *xrw;
	char		 key[256], ra[32];
	long long	 retry;
	int		 rv;

	if (auth_identify(r, app, u) == -1)
		return -1;
	/* CSRF: cookies ride along on cross-site requests; headers do not. */
	if (u->via_cookie && state_changing(r->method)) {
		origin = http_header(r, "Origin");
		xrw = http_header(r, "X-Requested-With");
		if (xrw == NULL || *xrw == '\0') {
			http_error(r, 403, "permission_error", "cross-site request "
			    "refused: the X-Requested-With header is required");
			return -1;
		}
		if (origin == NULL || (!cors_listed(r, origin) &&
		    !cors_same_origin(r, origin))) {
			http_error(r, 403, "permission_error", "cross-site request "
			    "refused: Origin is missing or not allowed");
			return -1;
		}
	}
	snprintf(key, sizeof(key), CW_KP "rl:api:%s", u->name);
	rv = ratelimit_hit(app->store, key, app->cfg->rate_limit_per_minute, 60,
	    &retry);
	if (rv == 0) {
		metrics_inc(M_RATE_LIMITED_API);
		snprintf(ra, sizeof(ra), "%lld", retry);
		http_add_header(r, "Retry-After", ra);
		http_error(r, 429, "rate_limited", "rate limit of %lld requests per "
		    "minute exceeded; retry in %lld s",
		    app->cfg->rate_limit_per_minute, retry);
		return -1;
	}
	return 0;
}
