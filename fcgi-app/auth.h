/*
 * auth: password hashing (scrypt), JWT issue/verify (HS256, pinned), and
 * the per-request authentication step used by every protected handler.
 *
 * The installed libjwt 1.10 takes the algorithm from the token and checks
 * no claims, so auth_jwt_verify() checks the header's alg itself before and
 * after libjwt, requires exp/sub/jti, honours nbf/iat with a small leeway,
 * and returns claims in a caller-owned struct.
 */
#ifndef CW_AUTH_H
#define CW_AUTH_H

#include <stddef.h>
#include <time.h>

#define AUTH_COOKIE		"cw_token"
#define AUTH_LEEWAY_S		30
#define AUTH_TOKEN_MAX		4096
#define AUTH_PW_MAX		1024

struct http_req;
struct app;
struct store;

struct auth_claims {
	char	 sub[128];
	char	 jti[64];
	long	 exp;
	long	 iat;
};

struct auth_user {
	char	 name[128];
	char	 role[16];	/* "admin" or "user" */
	long	 created_at;
	long	 last_login;
	int	 disabled;
	int	 via_cookie;	/* authenticated by cookie (CSRF applies) */
	struct auth_claims claims;
};

/* "scrypt$N$r$p$salt$hash" with base64 salt/hash; -1 on failure. */
int	auth_password_hash(const char *pw, size_t len, char *out, size_t cap);
/* 1 match, 0 mismatch, -1 malformed hash. Constant time in the hash bytes. */
int	auth_password_verify(const char *pw, size_t len, const char *encoded);
/* Burns the same work as a verify, for unknown users. */
void	auth_password_dummy(const char *pw, size_t len);

/* Random 128-bit id as 32 lowercase hex characters (+NUL). */
int	auth_random_hex(char *out, size_t bytes);

/* Issues a token for sub; returns malloc'd string (caller frees) or NULL. */
char	*auth_jwt_issue(const char *key, const char *sub, long ttl,
	    struct auth_claims *out);
/* 0 valid; -1 with a short reason in why. */
int	auth_jwt_verify(const char *key, const char *token, time_t now,
	    struct auth_claims *out, const char **why);

/*
 * Authenticates r (Bearer header or cookie), loads the user from Redis,
 * refuses disabled users and revoked tokens, applies CSRF rules to
 * cookie-authenticated state-changing requests, and the per-user rate
 * limit. Returns 0, or -1 with the error response already written.
 */
int	auth_require(struct http_req *, struct app *, struct auth_user *);
/* Same without the rate limit or CSRF (used by /api/auth/check). */
int	auth_identify(struct http_req *, struct app *, struct auth_user *);
/* Extracts the raw token (Bearer or cookie) into out; 1 bearer, 2 cookie, 0 none. */
int	auth_token_from(const struct http_req *, char *out, size_t cap);

#endif
