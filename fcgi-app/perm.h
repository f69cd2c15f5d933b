/*
 * perm: permission requests between a runner (which asks) and the person
 * (who answers through the API). Keys: cw:{c}:perm:<sid>:<request_id> (hash:
 * run_id, tool_use_id, tool, input, summary, status pending|allow|deny|
 * expired|cancelled, remember, message, created_at, expires_at),
 * cw:{c}:perm:pending:<sid> (set of open request ids, for the SSE snapshot),
 * cw:{c}:perm:remember:<sid> (set of remembered grants for the rest of the
 * session: one key per tool, from its registry entry (tools.h): "editor",
 * "bash:<prefix>" / "bash=<command>", "tool:<name>").
 */
#ifndef CW_PERM_H
#define CW_PERM_H

#include <stddef.h>

#include <json-c/json.h>

#include "tools.h"

struct store;

enum perm_verdict {
	PERM_ALLOW = 0,
	PERM_ASK,
	PERM_DENY_PLAN
};

/* What the session's mode says about a call of this class (before remembered grants). */
enum perm_verdict perm_policy(const char *mode, enum tool_class cls);
/* bash's grant key for cmd: "bash:<program>[ <subcommand>]" or "bash=<cmd>". */
void	perm_bash_grant_key(const char *cmd, char *out, size_t cap);
/*
 * 1 when cmd is only literal words (no expansion, quoting, globbing,
 * redirection or command separators): the only bash commands a remembered
 * grant may cover.
 */
int	perm_literal_command(const char *cmd);
/* 1 when the session remembered the grant key (tools_grant_key; "" never). */
int	perm_remembered(struct store *, const char *sid, const char *key);
/* Remembers the grant key for the rest of the session ("" stores nothing). */
void	perm_remember(struct store *, const char *sid, const char *key);

/* Records a pending request; fills request_id. 0 or -1. */
int	perm_create(struct store *, const char *sid, const char *run_id,
	    const char *tool_use_id, const char *tool, json_object *input,
	    const char *summary, long long timeout_s, char *request_id,
	    long *expires_at);
/* The Lua function cw_perm_answer(key, decision, remember, message, now, by). */
#define PERM_LUA_ANSWER_CAP	512
extern const char perm_lua_answer[PERM_LUA_ANSWER_CAP];
/*
 * Answers a pending request (API side; by: who, recorded as answered_by
 * in the same step): 0 recorded, 1 no such request,
 * 2 already answered or expired, -1 Redis error.
 */
int	perm_answer(struct store *, const char *sid, const char *request_id,
	    const char *decision, int remember, const char *message,
	    const char *by);
/* Current status of a request into out (pending/allow/deny/...); -1 error. */
int	perm_status(struct store *, const char *sid, const char *request_id,
	    char *status, size_t scap, int *remember, char *message, size_t mcap);
/* Closes a request (expired/cancelled) unless already answered; drops it from pending. */
void	perm_close(struct store *, const char *sid, const char *request_id,
	    const char *status);
/* The session's open requests as a JSON array (new reference), or NULL. */
json_object *perm_pending(struct store *, const char *sid);

#endif
