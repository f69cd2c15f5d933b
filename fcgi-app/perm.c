#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "auth.h"
#include "config.h"
#include "keys.h"
#include "perm.h"
#include "store.h"

/*
 * cw_perm_answer(key, decision, remember, message, now, by): 0 recorded, 1
 * no such request, 2 already answered or expired. Who answered ("by",
 * "answered_by" in the hash) is set in the same step as the status, so the
 * person whose answer counted is the one recorded. Composed by the
 * scheduler with waking the parked run in the same step.
 */
const char perm_lua_answer[PERM_LUA_ANSWER_CAP] =
    "local function cw_perm_answer(k, decision, remember, msg, now, by) "
    "if redis.call('EXISTS', k) == 0 then return 1 end "
    "if redis.call('HGET', k, 'status') ~= 'pending' then return 2 end "
    "if tonumber(redis.call('HGET', k, 'expires_at')) < tonumber(now) "
    "then return 2 end "
    "redis.call('HSET', k, 'status', decision, 'remember', remember, "
    "'message', msg, 'answered_at', now) "
    "if by ~= '' then redis.call('HSET', k, 'answered_by', by) end "
    "return 0 end ";

static const char close_script[] =
    "if redis.call('HGET', KEYS[1], 'status') == 'pending' then "
    "redis.call('HSET', KEYS[1], 'status', ARGV[1]) end "
    "redis.call('SREM', KEYS[2], ARGV[2]) return 0";

enum perm_verdict
perm_policy(const char *mode, enum tool_class cls)
{
	if (cls == TC_READ || cls == TC_INTERNAL)
		return PERM_ALLOW;
	if (strcmp(mode, "bypassPermissions") == 0)
		return PERM_ALLOW;
	if (cls == TC_EDIT) {
		if (strcmp(mode, "plan") == 0)
			return PERM_DENY_PLAN;
		if (strcmp(mode, "acceptEdits") == 0)
			return PERM_ALLOW;
	}
	/* exec and network ask, in plan mode too: looking is not changing. */
	return PERM_ASK;
}

/*
 * A bash grant covers a command prefix: the program, plus its subcommand
 * for tools that have them ("git status", "npm test"), so "remember" on
 * `npm test` does not also allow `rm -rf`.
 */
void
perm_bash_grant_key(const char *cmd, char *out, size_t cap)
{
	static const char *const multi[] = { "git", "npm", "npx", "yarn", "pnpm",
	    "cargo", "go", "make", "pip", "pip3", "python", "python3", "node",
	    "docker", "kubectl", "bundle", "rake", "gradle", "mvn", "dotnet" };
	const char	*p, *w1, *w2;
	size_t		 l1, l2 = 0, i;

	p = cmd ? cmd : "";
	while (*p == ' ' || *p == '\t')
		p++;
	w1 = p;
	l1 = strcspn(w1, " \t\n;&|");
	p = w1 + l1;
	while (*p == ' ' || *p == '\t')
		p++;
	w2 = p;
	for (i = 0; i < sizeof(multi) / sizeof(multi[0]); i++) {
		if (strlen(multi[i]) != l1 || strncmp(w1, multi[i], l1) != 0 ||
		    *w2 == '\0')
			continue;
		/*
		 * An option before the subcommand (git -c alias.x='!sh' x) can
		 * change what runs: such a grant covers only that exact command.
		 */
		if (*w2 == '-') {
			snprintf(out, cap, "bash=%s", cmd);
			return;
		}
		l2 = strcspn(w2, " \t\n;&|");
	}
	if (l2 > 0)
		snprintf(out, cap, "bash:%.*s %.*s", (int)l1, w1, (int)l2, w2);
	else
		snprintf(out, cap, "bash:%.*s", (int)l1, w1);
}

/*
 * A remembered grant covers a command only when the command is nothing but
 * literal words: what bash runs is then exactly the words written, so the
 * grant's program (and subcommand) is the program that runs. Anything bash
 * would expand, substitute, redirect or chain asks again: $ (variables,
 * ${x:=...}${x@P} prompt expansion, $(...), $'...'), backquotes, backslash
 * escapes, quotes, braces, globs (* ? [ ]), ~, redirections (< >),
 * ; & | newlines, parentheses, comments (#), history/negation (!) and any
 * other control character. The check is a whitelist: letters, digits,
 * bytes >= 0x80, space, tab, and - _ . / , : = + @ % ^.
 */
static int
literal_char(unsigned char c)
{
	if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9') || c >= 0x80)
		return 1;
	return c != '\0' && strchr(" \t-_./,:=+@%^", c) != NULL;
}

int
perm_literal_command(const char *cmd)
{
	const unsigned char	*p;

	if (cmd == NULL)
		return 0;
	for (p = (const unsigned char *)cmd; *p != '\0'; p++)
		if (!literal_char(*p))
			return 0;
	return 1;
}

int
perm_remembered(struct store *s, const char *sid, const char *grant)
{
	redisReply	*r;
	char		 key[96];
	int		 rc;

	if (grant == NULL || *grant == '\0')
		return 0;
	snprintf(key, sizeof(key), CW_KP "perm:remember:%s", sid);
	if ((r = store_cmdv(s, "SISMEMBER", key, grant, NULL)) == NULL)
		return 0;
	rc = r->type == REDIS_REPLY_INTEGER && r->integer == 1;
	freeReplyObject(r);
	return rc;
}

void
perm_remember(struct store *s, const char *sid, const char *grant)
{
	redisReply	*r;
	char		 key[96];

	if (grant == NULL || *grant == '\0')
		return;
	snprintf(key, sizeof(key), CW_KP "perm:remember:%s", sid);
	if ((r = store_cmdv(s, "SADD", key, grant, NULL)) != NULL)
		freeReplyObject(r);
}

int
perm_create(struct store *s, const char *sid, const char *run_id,
    const char *tool_use_id, const char *tool, json_object *input,
    const char *summary, long long timeout_s, char *request_id, long *expires)
{
	redisReply	*r;
	char		 key[128], pkey[96], now[32], exp[32], ttl[32];
	time_t		 t = time(NULL);

	if (auth_random_hex(request_id, 12) == -1)
		return -1;
	*expires = (long)(t + timeout_s);
	snprintf(key, sizeof(key), CW_KP "perm:%s:%s", sid, request_id);
	snprintf(pkey, sizeof(pkey), CW_KP "perm:pending:%s", sid);
	snprintf(now, sizeof(now), "%lld", (long long)t);
	snprintf(exp, sizeof(exp), "%ld", *expires);
	r = store_cmdv(s, "HSET", key, "run_id", run_id, "tool_use_id", tool_use_id,
	    "tool", tool, "input", json_object_to_json_string_ext(input,
	    JSON_C_TO_STRING_PLAIN), "summary", summary, "status", "pending",
	    "created_at", now, "expires_at", exp, NULL);
	if (r == NULL)
		return -1;
	freeReplyObject(r);
	/* Kept a week past its deadline (PERMISSION_TIMEOUT may be weeks). */
	snprintf(ttl, sizeof(ttl), "%lld", timeout_s + 604800);
	if ((r = store_cmdv(s, "EXPIRE", key, ttl, NULL)) != NULL)
		freeReplyObject(r);
	if ((r = store_cmdv(s, "SADD", pkey, request_id, NULL)) == NULL)
		return -1;
	freeReplyObject(r);
	return 0;
}

int
perm_answer(struct store *s, const char *sid, const char *request_id,
    const char *decision, int remember, const char *message, const char *by)
{
	redisReply	*r;
	char		 key[128], now[32], script[sizeof(perm_lua_answer) + 96];
	int		 rc;

	snprintf(key, sizeof(key), CW_KP "perm:%s:%s", sid, request_id);
	snprintf(now, sizeof(now), "%lld", (long long)time(NULL));
	snprintf(script, sizeof(script), "%s return cw_perm_answer(KEYS[1], "
	    "ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5])", perm_lua_answer);
	r = store_cmdv(s, "EVAL", script, "1", key, decision,
	    remember ? "1" : "0", message ? message : "", now, by ? by : "", NULL);
	if (r == NULL || r->type != REDIS_REPLY_INTEGER) {
		if (r != NULL)
			freeReplyObject(r);
		return -1;
	}
	rc = (int)r->integer;
	freeReplyObject(r);
	return rc;
}

int
perm_status(struct store *s, const char *sid, const char *request_id,
    char *status, size_t scap, int *remember, char *message, size_t mcap)
{
	redisReply	*r;
	char		 key[128];

	snprintf(key, sizeof(key), CW_KP "perm:%s:%s", sid, request_id);
	if ((r = store_cmdv(s, "HMGET", key, "status", "remember", "message",
	    NULL)) == NULL)
		return -1;
	status[0] = message[0] = '\0';
	*remember = 0;
	if (r->type == REDIS_REPLY_ARRAY && r->elements == 3) {
		if (r->element[0]->str)
			snprintf(status, scap, "%s", r->element[0]->str);
		if (r->element[1]->str)
			*remember = strcmp(r->element[1]->str, "1") == 0;
		if (r->element[2]->str)
			snprintf(message, mcap, "%s", r->element[2]->str);
	}
	freeReplyObject(r);
	return 0;
}

void
perm_close(struct store *s, const char *sid, const char *request_id,
    const char *status)
{
	redisReply	*r;
	char		 key[128], pkey[96];

	snprintf(key, sizeof(key), CW_KP "perm:%s:%s", sid, request_id);
	snprintf(pkey, sizeof(pkey), CW_KP "perm:pending:%s", sid);
	r = store_cmdv(s, "EVAL", close_script, "2", key, pkey, status, request_id,
	    NULL);
	if (r != NULL)
		freeReplyObject(r);
}

json_object *
perm_pending(struct store *s, const char *sid)
{
	redisReply	*r, *h;
	json_object	*arr, *o, *in;
	char		 pkey[96], key[128];
	size_t		 i, j;

	snprintf(pkey, sizeof(pkey), CW_KP "perm:pending:%s", sid);
	if ((r = store_cmdv(s, "SMEMBERS", pkey, NULL)) == NULL)
		return NULL;
	arr = json_object_new_array();
	for (i = 0; r->type == REDIS_REPLY_ARRAY && i < r->elements; i++) {
		snprintf(key, sizeof(key), CW_KP "perm:%s:%s", sid, r->element[i]->str);
		if ((h = store_cmdv(s, "HGETALL", key, NULL)) == NULL)
			continue;
		o = json_object_new_object();
		json_object_object_add(o, "request_id",
		    json_object_new_string(r->element[i]->str));
		for (j = 0; h->type == REDIS_REPLY_ARRAY && j + 1 < h->elements; j += 2) {
			const char *f = h->element[j]->str, *v = h->element[j + 1]->str;

			if (strcmp(f, "input") == 0 && (in = json_tokener_parse(v)) != NULL)
				json_object_object_add(o, "input", in);
			else if (strcmp(f, "created_at") == 0 || strcmp(f, "expires_at") == 0) {
				long long t = 0;

				(void)config_parse_ll(v, &t);
				json_object_object_add(o, f, json_object_new_int64(t));
			}
			else if (strcmp(f, "remember") != 0 && strcmp(f, "message") != 0)
				json_object_object_add(o, f, json_object_new_string(v));
		}
		freeReplyObject(h);
		if (json_object_object_get_ex(o, "status", &in) &&
		    strcmp(json_object_get_string(in), "pending") == 0)
			json_object_array_add(arr, o);
		else
			json_object_put(o);
	}
	freeReplyObject(r);
	return arr;
}
