/*
 * auth: password hashing (scrypt), JWT issue/verify (HS256, pinned), and
 * the per-request authentication step used by every protected handler.
 *
 * The installed libjwt 1.10 takes the algorithm from the token and checks
 * no claims, so auth_jwt_verify() checks the header's alg itself before and
 * after libjwt, requires exp/sub/jti, honours nbf/iat with a small leeway,
 * and returns claims in a caller-owned struct.
 *
 * Every token carries the user's token generation ("gen", a random value
 * kept in the user record). Changing the password, disabling the account,
 * deleting and re-creating it, or "sign out everywhere" replaces the
 * generation, which invalidates every token issued before: a request is
 * authenticated only when the token's gen equals the record's.
 */
#ifndef CW_AUTH_H
#define CW_AUTH_H

#include <stddef.h>
#include <time.h>

#include "store.h"

#define AUTH_COOKIE		"cw_token"
#define AUTH_LEEWAY_S		30
#define AUTH_TOKEN_MAX		4096
#define AUTH_PW_MAX		1024
#define AUTH_GEN_LEN		32	/* hex characters of a generation */

struct http_req;
struct app;
struct store;

struct auth_claims {
	char	 sub[128];
	char	 jti[64];
	char	 gen[AUTH_GEN_LEN + 1];	/* "" when the token has none */
	long	 exp;
	long	 iat;
};

struct auth_user {
	char	 name[128];
	char	 role[16];	/* "admin" or "user" */
	long	 created_at;
	long	 last_login;
	int	 disabled;
	char	 gen[AUTH_GEN_LEN + 1];	/* the record's token generation */
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

/*
 * Issues a token for sub carrying the generation gen; returns a malloc'd
 * string (caller frees) or NULL.
 */
char	*auth_jwt_issue(const char *key, const char *sub, const char *gen,
	    long ttl, struct auth_claims *out);
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
/*
 * auth_require with up to AUTH_EXTRA_MAX (4) more Redis commands sent in
 * the same round trip as the authentication (pipelined, store_pipe):
 * prep(name, arg, cmds) is called with the token's (signature-checked)
 * subject before anything is sent, fills cmds (its strings must live until
 * auth_require_with returns) and returns how many. Their replies land in
 * out[0..n) only when authentication, CSRF and the rate limit passed (the
 * caller frees them; NULL for a failed command); otherwise nothing of
 * them is handed out. A read only: prep's commands run even for a caller
 * refused afterwards.
 */
struct store_pcmd;
struct redisReply;
typedef int (*auth_prep_fn)(const char *name, void *arg, struct store_pcmd *cmds);
int	auth_require_with(struct http_req *, struct app *, struct auth_user *,
	    auth_prep_fn prep, void *arg, struct redisReply **out);
#define AUTH_EXTRA_MAX		4

/*
 * An authentication fetched ahead of its handler (worker.c's batches): the
 * worker reads several requests that wait on kept connections, prepares
 * each one's auth_require_with round trip (auth_prefetch: token, CSRF,
 * signature, prep's commands), sends them all in one pipeline, and hands
 * each reply set to its request (r->pre). auth_require_with, called by the
 * handler with the same prep and arg, then takes those replies instead of
 * sending the commands itself; anything else (another prep, no prefetch)
 * goes the usual way. The answer is the same either way: only where the
 * round trip happens changes. Owned by the worker's batch slot; the
 * scratch area holds the route's prep argument (h_sessions.c's query).
 */
enum auth_pre_state { AUTH_PRE_NONE, AUTH_PRE_READY, AUTH_PRE_FETCHED,
	AUTH_PRE_USED };
#define AUTH_PRE_SCRATCH	1024
struct auth_pre {
	enum auth_pre_state	 state;
	int			 failed;	/* the batch's connection broke */
	int			 src;		/* auth_token_from: 1 bearer, 2 cookie */
	int			 ncmds;		/* 1 (the account script) + prep's */
	auth_prep_fn		 prep;
	void			*arg;
	struct auth_claims	 claims;
	char			 ukey[256], rkey[128], lkey[256];
	const char		*argv[8];
	struct store_pcmd	 cmds[1 + AUTH_EXTRA_MAX];
	struct redisReply	*out[1 + AUTH_EXTRA_MAX];
	_Alignas(16) unsigned char scratch[AUTH_PRE_SCRATCH];
};
/*
 * Prepares pre for r as auth_require_with(r, app, u, prep, arg, ...) would
 * send it: the number of commands to send (pre->cmds), 0 when nothing is
 * to be fetched ahead (no token, a bad signature, a CSRF refusal: the
 * handler answers those itself).
 */
int	auth_prefetch(struct http_req *, struct app *, struct auth_pre *,
	    auth_prep_fn prep, void *arg);
/* Frees the replies nobody took; pre is back to AUTH_PRE_NONE. */
void	auth_pre_release(struct auth_pre *);
/* Same without the rate limit or CSRF (used by /api/auth/check). */
int	auth_identify(struct http_req *, struct app *, struct auth_user *);
/*
 * Authenticates r like auth_identify() but writes no response: 1 a valid
 * token of an existing, enabled user (u filled), 0 none or not valid,
 * -1 Redis unavailable. For endpoints that answer anonymous callers too.
 */
int	auth_peek(struct http_req *, struct app *, struct auth_user *);
/*
 * Re-checks a request that was authenticated earlier (u as filled by
 * auth_require/auth_identify), for long-lived responses such as the SSE
 * stream: the token has not expired, it was not revoked by logout, and the
 * account still exists, is not disabled and has the token's generation
 * (no password change, "sign out everywhere", deletion or re-creation
 * since). One HGETALL and one EXISTS in Redis, no response written.
 * Returns 1 still valid, 0 no longer valid (*why, if why != NULL, says
 * why), -1 Redis unavailable (the caller decides; the stream ends).
 */
int	auth_token_still_valid(struct app *, const struct auth_user *,
	    const char **why);
/* Extracts the raw token (Bearer or cookie) into out; 1 bearer, 2 cookie, 0 none. */
int	auth_token_from(const struct http_req *, char *out, size_t cap);

#endif
