#include <errno.h>
#include <stdint.h>
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

/*
 * Tokens this process verified, so a client's next request with the same
 * token skips the signature and both JSON parses (most of a request's own
 * CPU in the api pool). Two candidate slots per token (from a 64-bit
 * FNV-1a hash: 100 users' tokens rarely evict each other), the least
 * recently used one replaced; an entry owns a copy of its token and is
 * compared in constant time over
 * the whole length, so a hit needs the exact token and timing says
 * nothing about how close a guess came. A hit still checks exp against
 * now; revocation, the account and its token generation are checked in
 * Redis on every request anyway (auth_identify). Verifying with another
 * key empties the cache (the server has one key; the unit tests several).
 */
#define TOKEN_CACHE_N	256

static struct token_cache {
	char			*tok;	/* owned; NULL = empty */
	size_t			 len;
	unsigned long		 used;	/* token_cache_clock at the last use */
	struct auth_claims	 claims;
} token_cache[TOKEN_CACHE_N];
static unsigned long	 token_cache_clock;
static char		*token_cache_key;	/* owned copy of the key */
static size_t		 token_cache_keylen;

static uint64_t
token_hash(const char *s, size_t n)
{
	uint64_t	 h = 1469598103934665603ULL;
	size_t		 i;

	for (i = 0; i < n; i++) {
		h ^= (unsigned char)s[i];
		h *= 1099511628211ULL;
	}
	return h;
}

/*
 * The entry holding token under key (its slot in *e, 1), or else the slot
 * to fill (0), after switching the cache to key; -1 when out of memory.
 */
static int
token_cache_find(const char *key, const char *token, size_t len,
    struct token_cache **e)
{
	struct token_cache	*c[2];
	uint64_t		 h;
	size_t			 klen = strlen(key), i;

	*e = NULL;
	if (token_cache_key == NULL || token_cache_keylen != klen ||
	    CRYPTO_memcmp(token_cache_key, key, klen) != 0) {
		for (i = 0; i < TOKEN_CACHE_N; i++) {
			free(token_cache[i].tok);
			token_cache[i].tok = NULL;
		}
		free(token_cache_key);
		token_cache_keylen = 0;
		if ((token_cache_key = malloc(klen + 1)) == NULL)
			return -1;
		memcpy(token_cache_key, key, klen + 1);
		token_cache_keylen = klen;
	}
	h = token_hash(token, len);
	c[0] = &token_cache[h % TOKEN_CACHE_N];
	c[1] = &token_cache[(h >> 32) % TOKEN_CACHE_N];
	for (i = 0; i < 2; i++)
		if (c[i]->tok != NULL && c[i]->len == len &&
		    CRYPTO_memcmp(c[i]->tok, token, len) == 0) {
			*e = c[i];
			return 1;
		}
	/* An empty one, else the one used longer ago. */
	*e = c[0]->tok == NULL || (c[1]->tok != NULL &&
	    c[0]->used <= c[1]->used) ? c[0] : c[1];
	return 0;
}

static int	jwt_verify_full(const char *, const char *, time_t,
		    struct auth_claims *, const char **);

int
auth_jwt_verify(const char *key, const char *token, time_t now,
    struct auth_claims *out, const char **why)
{
	struct token_cache	*e = NULL;
	size_t			 len = strlen(token);
	int			 rc, hit = -1;

	if (len > 0 && len <= AUTH_TOKEN_MAX)
		hit = token_cache_find(key, token, len, &e);
	if (hit == 1 && now <= e->claims.exp + AUTH_LEEWAY_S) {
		e->used = ++token_cache_clock;
		*out = e->claims;
		*why = NULL;
		return 0;
	}
	rc = jwt_verify_full(key, token, now, out, why);
	if (rc == 0 && e != NULL) {
		free(e->tok);
		if ((e->tok = malloc(len + 1)) != NULL) {
			memcpy(e->tok, token, len + 1);
			e->len = len;
			e->used = ++token_cache_clock;
			e->claims = *out;
		}
	} else if (hit == 1) {
		free(e->tok);		/* expired: make room */
		e->tok = NULL;
	}
	return rc;
}

static int
jwt_verify_full(const char *key, const char *token, time_t now,
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

/*
 * Everything a request's authentication needs from Redis, in one script
 * (one round trip): the account's fields, whether the token's jti was
 * revoked and, when KEYS[3] is given and the account accepts the token,
 * the per-user rate-limit hit (ratelimit.c's fixed window). The checks
 * themselves are made in C (check_fields); the script only repeats them
 * to decide whether to count the hit, so a refused request never counts.
 * The hit is a pcall: a counter Redis cannot write (-OOM) lets the
 * request through, like a failed ratelimit_hit() always did; any other
 * error (READONLY after a failover) is the script's reply, so store.c
 * reconnects to the new master and retries, as for any write.
 * KEYS: user record, revoked:<jti>[, rl:api:<name>]. ARGV: token gen,
 * window seconds.
 * Reply: {found, role, disabled, gen, created_at, last_login, revoked,
 * count (0 not counted, -1 could not count), ttl}.
 */
static const char account_script[] =
    "local u = redis.call('HMGET', KEYS[1], 'role', 'disabled', 'gen', "
    "'created_at', 'last_login') "
    "local found = 0 "
    "for i = 1, 5 do if u[i] then found = 1 end end "
    "if found == 0 then found = redis.call('EXISTS', KEYS[1]) end "
    "local rev = redis.call('EXISTS', KEYS[2]) "
    "local c, t = 0, 0 "
    "if KEYS[3] and found == 1 and u[2] ~= '1' and u[3] and u[3] ~= '' "
    "and u[3] == ARGV[1] and rev == 0 then "
    "c = redis.pcall('INCR', KEYS[3]) "
    "if type(c) == 'table' and c.err and not string.find(c.err, '^OOM') "
    "then return c end "
    "if type(c) ~= 'number' then c = -1 else "
    "if c == 1 then redis.pcall('EXPIRE', KEYS[3], ARGV[2]) end "
    "t = redis.pcall('TTL', KEYS[3]) "
    "if type(t) ~= 'number' then t = 1 elseif t < 0 then "
    "redis.pcall('EXPIRE', KEYS[3], ARGV[2]); t = tonumber(ARGV[2]) end end end "
    "return {found, u[1], u[2], u[3], u[4], u[5], rev, c, t}";


/* A string element of the account reply (NULL when nil). */
static const char *
elem_str(const redisReply *r, size_t i)
{
	const redisReply *e = r->element[i];

	return e->type == REDIS_REPLY_STRING ? e->str : NULL;
}

/*
 * account_script's work one key at a time. Redis Cluster, while the {c}
 * slot migrates, refuses a script whose keys are split between the two
 * nodes (-TRYAGAIN) but sends a one-key command that the old node no
 * longer holds to the new one (-ASK, store.c): then the account, the
 * revocation mark and the hit are read and counted like this.
 */
static int
account_fetch_keys(struct app *app, const struct auth_claims *claims, int rate,
    struct auth_user *u, int *found, int *revoked, long long *count,
    long long *ttl)
{
	redisReply	*r;
	char		 key[256];
	int		 rv;

	if ((rv = users_get(app->store, claims->sub, u, NULL, 0)) == -1)
		return -1;
	u->claims = *claims;
	*found = rv == 1;
	snprintf(key, sizeof(key), CW_KP "revoked:%s", claims->jti);
	if ((r = store_cmdv(app->store, "EXISTS", key, NULL)) == NULL)
		return -1;
	*revoked = r->type == REDIS_REPLY_INTEGER && r->integer > 0;
	freeReplyObject(r);
	*count = *ttl = 0;
	if (rate && *found && !u->disabled && u->gen[0] != '\0' &&
	    strcmp(u->gen, claims->gen) == 0 && !*revoked) {
		snprintf(key, sizeof(key), CW_KP "rl:api:%s", claims->sub);
		/* 1 allowed, 0 over the limit, -1 not counted (let through). */
		rv = ratelimit_hit(app->store, key, app->cfg->rate_limit_per_minute,
		    60, ttl);
		*count = rv == 0 ? app->cfg->rate_limit_per_minute + 1 :
		    rv == 1 ? 1 : -1;
	}
	return 0;
}

/* account_script's command for claims (with the rate-limit key when rate). */
static void
account_cmd(const struct auth_claims *claims, int rate, char *ukey,
    size_t ukeysz, char *rkey, size_t rkeysz, char *lkey, size_t lkeysz,
    const char **argv, struct store_pcmd *cmd)
{
	snprintf(ukey, ukeysz, CW_KP "user:%s", claims->sub);
	snprintf(rkey, rkeysz, CW_KP "revoked:%s", claims->jti);
	snprintf(lkey, lkeysz, CW_KP "rl:api:%s", claims->sub);
	argv[0] = "EVAL";
	argv[1] = account_script;
	argv[2] = rate ? "3" : "2";
	argv[3] = ukey;
	argv[4] = rkey;
	argv[5] = rate ? lkey : claims->gen;
	argv[6] = rate ? claims->gen : "60";
	argv[7] = "60";
	cmd->argc = rate ? 8 : 7;
	cmd->argv = argv;
	cmd->lens = NULL;
}

/*
 * Runs account_script for claims (with the rate-limit hit when rate) and
 * the extra commands in the same round trip, or takes their replies from
 * pre (fetched ahead by the worker; extra are then pre's own commands).
 * Fills u like users_get() (claims copied in), *revoked, *count and *ttl.
 * 0, or -1 Redis unavailable. eout[i] (when nextra > 0) gets the extra
 * replies, owned by the caller.
 */
static int
account_fetch(struct app *app, const struct auth_claims *claims, int rate,
    int nextra, const struct store_pcmd *extra, redisReply **eout,
    struct auth_pre *pre, struct auth_user *u, int *found, int *revoked,
    long long *count, long long *ttl)
{
	struct store_pcmd	 cmds[1 + AUTH_EXTRA_MAX];
	redisReply		*out[1 + AUTH_EXTRA_MAX], *r;
	const char		*argv[8], *v;
	char			 ukey[256], rkey[128], lkey[256];
	long long		 n;
	int			 i, rc;

	memset(u, 0, sizeof(*u));
	snprintf(u->name, sizeof(u->name), "%s", claims->sub);
	u->claims = *claims;
	if (nextra > AUTH_EXTRA_MAX)
		nextra = AUTH_EXTRA_MAX;
	if (pre != NULL) {
		for (i = 0; i < 1 + nextra; i++) {
			out[i] = pre->out[i];
			pre->out[i] = NULL;
		}
		pre->state = AUTH_PRE_USED;
		/*
		 * An error reply (the script did not run: -TRYAGAIN, -OOM, ...):
		 * asked again here, as if nothing had been fetched ahead. A
		 * broken connection is not: the script may have counted.
		 */
		if (out[0] == NULL && !pre->failed) {
			for (i = 1; i < 1 + nextra; i++)
				if (out[i] != NULL)
					freeReplyObject(out[i]);
			return account_fetch(app, claims, rate, nextra, extra,
			    eout, NULL, u, found, revoked, count, ttl);
		}
	} else {
		account_cmd(claims, rate, ukey, sizeof(ukey), rkey, sizeof(rkey),
		    lkey, sizeof(lkey), argv, &cmds[0]);
		for (i = 0; i < nextra; i++)
			cmds[1 + i] = extra[i];
		if (nextra == 0)
			out[0] = store_cmd(app->store, cmds[0].argc, argv, NULL);
		else
			store_pipe(app->store, 1 + nextra, cmds, out);
	}
	for (i = 0; i < nextra; i++)
		eout[i] = out[1 + i];
	r = out[0];
	rc = -1;
	if (r == NULL && pre == NULL && store_error_is(app->store, "TRYAGAIN"))
		return account_fetch_keys(app, claims, rate, u, found, revoked,
		    count, ttl);
	if (r == NULL || r->type != REDIS_REPLY_ARRAY || r->elements != 9)
		goto out;
	for (i = 0; i < 9; i++)
		if (i == 0 || i >= 6) {
			if (r->element[i]->type != REDIS_REPLY_INTEGER)
				goto out;
		}
	*found = r->element[0]->integer == 1;
	if ((v = elem_str(r, 1)) != NULL)
		snprintf(u->role, sizeof(u->role), "%s", v);
	if ((v = elem_str(r, 2)) != NULL)
		u->disabled = strcmp(v, "1") == 0;
	if ((v = elem_str(r, 3)) != NULL && strlen(v) <= AUTH_GEN_LEN)
		memcpy(u->gen, v, strlen(v) + 1);
	if ((v = elem_str(r, 4)) != NULL && config_parse_ll(v, &n) == 0)
		u->created_at = (long)n;
	if ((v = elem_str(r, 5)) != NULL && config_parse_ll(v, &n) == 0)
		u->last_login = (long)n;
	if (*found && u->role[0] == '\0')
		memcpy(u->role, "user", 5);
	*revoked = r->element[6]->integer != 0;
	*count = r->element[7]->integer;
	*ttl = r->element[8]->integer;
	rc = 0;
out:
	if (r != NULL)
		freeReplyObject(r);
	return rc;
}

/*
 * The account behind claims (as account_fetch filled u): exists, enabled,
 * same token generation, and the token not revoked. 1 valid, 0 not (*why).
 */
static int
check_fields(const struct auth_claims *claims, const struct auth_user *u,
    int found, int revoked, const char **why)
{
	if (!found) {
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
	if (revoked) {
		*why = "revoked";
		return 0;
	}
	return 1;
}

/* check_fields after account_fetch: 1 valid, 0 not (*why), -1 Redis. */
static int
check_account(struct app *app, const struct auth_claims *claims,
    struct auth_user *u, const char **why)
{
	long long	 count, ttl;
	int		 found, revoked;

	if (account_fetch(app, claims, 0, 0, NULL, NULL, NULL, u, &found,
	    &revoked, &count, &ttl) == -1)
		return -1;
	return check_fields(claims, u, found, revoked, why);
}

/*
 * The rate-limit outcome of a fetch that counted: 1 allowed (also when
 * the counter could not be written), 0 over the limit (*retry set).
 */
static int
rate_outcome(struct app *app, long long count, long long ttl, long long *retry)
{
	*retry = ttl > 0 ? ttl : 1;
	if (count <= 0)
		return 1;
	return count <= app->cfg->rate_limit_per_minute ? 1 : 0;
}

/*
 * Token → user, writing nothing but the rate-limit hit when rate (and the
 * account accepts the token): 1 ok, 0 refused (*why), -1 Redis
 * unavailable. prep (may be NULL) adds commands sent in the same round
 * trip; their replies reach eout only when the result is 1 (else freed).
 */
static int
authenticate(struct http_req *r, struct app *app, struct auth_user *u,
    const char **why, int rate, long long *count, long long *ttl,
    auth_prep_fn prep, void *arg, redisReply **eout, int *neout)
{
	char		 tok[AUTH_TOKEN_MAX + 1];
	struct auth_claims claims;
	struct store_pcmd extra[AUTH_EXTRA_MAX];
	const struct store_pcmd *ex = extra;
	struct auth_pre	*pre = r->pre;
	int		 src, rv, found, revoked, nextra = 0, i;

	memset(u, 0, sizeof(*u));
	*why = NULL;
	*neout = 0;
	*count = 0;
	*ttl = 0;
	/* Fetched ahead for exactly this call (auth_prefetch)? */
	if (pre != NULL && (pre->state != AUTH_PRE_FETCHED || pre->prep != prep ||
	    pre->arg != arg || rate != 1))
		pre = NULL;
	if (pre != NULL) {
		src = pre->src;
		claims = pre->claims;
		nextra = pre->ncmds - 1;
		ex = pre->cmds + 1;
	} else {
		if ((src = auth_token_from(r, tok, sizeof(tok))) == 0)
			return 0;
		if (auth_jwt_verify(app->cfg->secret_key, tok, time(NULL),
		    &claims, why) == -1)
			return 0;
		if (prep != NULL && (nextra = prep(claims.sub, arg, extra)) < 0)
			nextra = 0;
		if (nextra > AUTH_EXTRA_MAX)
			nextra = AUTH_EXTRA_MAX;
	}
	if (account_fetch(app, &claims, rate, nextra, ex, eout, pre, u, &found,
	    &revoked, count, ttl) == -1)
		rv = -1;
	else
		rv = check_fields(&claims, u, found, revoked, why);
	/* Nothing fetched for the caller leaves here unless it is theirs. */
	if (rv != 1)
		for (i = 0; i < nextra; i++) {
			if (eout[i] != NULL)
				freeReplyObject(eout[i]);
			eout[i] = NULL;
		}
	if (rv != 1)
		return rv;
	*neout = nextra;
	u->via_cookie = src == 2;
	return 1;
}

/* The response for an authenticate() that did not return 1. */
static void
refuse(struct http_req *r, int rv, const char *why)
{
	if (rv == -1)
		http_error(r, 503, "service_unavailable", "session store unavailable");
	else if (why == NULL)
		http_error(r, 401, NULL, "authentication required");
	else
		http_error(r, 401, NULL, "invalid token: %s", why);
}

int
auth_identify(struct http_req *r, struct app *app, struct auth_user *u)
{
	const char	*why;
	long long	 count, ttl;
	int		 rv, n;

	if ((rv = authenticate(r, app, u, &why, 0, &count, &ttl, NULL, NULL,
	    NULL, &n)) == 1) {
		snprintf(r->log_user, sizeof(r->log_user), "%s", u->name);
		return 0;
	}
	refuse(r, rv, why);
	return -1;
}

int
auth_peek(struct http_req *r, struct app *app, struct auth_user *u)
{
	const char	*why;
	long long	 count, ttl;
	int		 n;

	return authenticate(r, app, u, &why, 0, &count, &ttl, NULL, NULL, NULL,
	    &n);
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

/*
 * CSRF: cookies ride along on cross-site requests; headers do not. NULL
 * when r passes, else the message of its 403.
 */
static const char *
csrf_refusal(struct http_req *r, int via_cookie)
{
	const char	*origin, *xrw;

	if (!via_cookie || !state_changing(r->method))
		return NULL;
	origin = http_header(r, "Origin");
	xrw = http_header(r, "X-Requested-With");
	if (xrw == NULL || *xrw == '\0')
		return "cross-site request refused: the X-Requested-With header "
		    "is required";
	if (origin == NULL || (!cors_listed(r, origin) &&
	    !cors_same_origin(r, origin)))
		return "cross-site request refused: Origin is missing or not "
		    "allowed";
	return NULL;
}

/*
 * One round trip: the account, the revocation and the rate-limit hit in
 * one script (account_script), plus prep's commands. The order of the
 * answers is unchanged: 401/503 first, then the CSRF 403 (which counts no
 * hit: the script is then sent without the rate-limit key), then 429.
 */
int
auth_require_with(struct http_req *r, struct app *app, struct auth_user *u,
    auth_prep_fn prep, void *arg, redisReply **out)
{
	const char	*why, *csrf;
	char		 ra[32], tok[AUTH_TOKEN_MAX + 1];
	long long	 retry, count, ttl;
	int		 rv, i, n = 0;

	/* The CSRF verdict needs only the request: decided before Redis. */
	csrf = csrf_refusal(r, auth_token_from(r, tok, sizeof(tok)) == 2);
	rv = authenticate(r, app, u, &why, csrf == NULL, &count, &ttl,
	    csrf == NULL ? prep : NULL, arg, out, &n);
	if (rv != 1) {
		refuse(r, rv, why);
		return -1;
	}
	snprintf(r->log_user, sizeof(r->log_user), "%s", u->name);
	if (csrf != NULL) {
		http_error(r, 403, "permission_error", "%s", csrf);
		return -1;
	}
	if (rate_outcome(app, count, ttl, &retry) == 0) {
		for (i = 0; i < n; i++)
			if (out[i] != NULL) {
				freeReplyObject(out[i]);
				out[i] = NULL;
			}
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

int
auth_require(struct http_req *r, struct app *app, struct auth_user *u)
{
	return auth_require_with(r, app, u, NULL, NULL, NULL);
}

int
auth_prefetch(struct http_req *r, struct app *app, struct auth_pre *pre,
    auth_prep_fn prep, void *arg)
{
	char		 tok[AUTH_TOKEN_MAX + 1];
	const char	*why;
	int		 nextra = 0;

	/* The scratch area (the prep's argument) is the caller's. */
	memset(pre, 0, offsetof(struct auth_pre, scratch));
	if ((pre->src = auth_token_from(r, tok, sizeof(tok))) == 0 ||
	    csrf_refusal(r, pre->src == 2) != NULL ||
	    auth_jwt_verify(app->cfg->secret_key, tok, time(NULL), &pre->claims,
	    &why) == -1)
		return 0;
	if (prep != NULL && (nextra = prep(pre->claims.sub, arg,
	    pre->cmds + 1)) < 0)
		nextra = 0;
	if (nextra > AUTH_EXTRA_MAX)
		nextra = AUTH_EXTRA_MAX;
	/* auth_require_with counts the hit when CSRF passed, as here. */
	account_cmd(&pre->claims, 1, pre->ukey, sizeof(pre->ukey), pre->rkey,
	    sizeof(pre->rkey), pre->lkey, sizeof(pre->lkey), pre->argv,
	    &pre->cmds[0]);
	pre->prep = prep;
	pre->arg = arg;
	pre->ncmds = 1 + nextra;
	pre->state = AUTH_PRE_READY;
	r->pre = pre;
	return pre->ncmds;
}

void
auth_pre_release(struct auth_pre *pre)
{
	int	 i;

	for (i = 0; i < 1 + AUTH_EXTRA_MAX; i++)
		if (pre->out[i] != NULL) {
			freeReplyObject(pre->out[i]);
			pre->out[i] = NULL;
		}
	pre->state = AUTH_PRE_NONE;
}
