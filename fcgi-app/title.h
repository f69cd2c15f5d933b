/*
 * title: automatic session titles. After a session's first answer (a
 * message run that finished) a session still titled "New session" gets a
 * short title: one small model call (TITLE_MODEL, max_tokens 30, the first
 * prompt and answer capped at TITLE_INPUT_CAP bytes each) when an API key
 * is configured and TITLE_MODEL is not "off", else derived locally from
 * the first prompt. A title the user chose is never replaced: the session
 * hash's title_source field is default|auto|user (PATCH and a title given
 * at creation make it "user"). The new title is announced with the event
 * session.updated {title, title_source}. The call's usage counts in the
 * session's and the user's usage. Nothing here blocks an answer: the
 * runner calls it after the run's final event and ack; a failure leaves
 * the default title and is logged.
 */
#ifndef CW_TITLE_H
#define CW_TITLE_H

#include <stddef.h>

struct app;
struct claude_client;
struct store;

#define TITLE_DEFAULT		"New session"
#define TITLE_LOCAL_CHARS	50
#define TITLE_INPUT_CAP		2000
#define TITLE_CALL_SECONDS	20

/* After run_id of sid finished: set the automatic title if it is due. */
void	title_after_run(struct app *, struct claude_client *, const char *sid,
	    const char *run_id);
/*
 * A title from text: its first sentence or line, whitespace collapsed,
 * at most TITLE_LOCAL_CHARS characters cut on a word boundary, valid
 * UTF-8 (bad bytes dropped). Empty when text has no words.
 */
void	title_local(const char *text, char *out, size_t cap);
/* Marks the session's title as the user's (never replaced). */
void	title_mark_user(struct store *, const char *sid);

#endif
