/*
 * notices: the part of a session's transcript that the Messages API history
 * cannot hold — approvals (request and resolution: who, when, decision,
 * remembered, the deny message), run errors, stops, retries, resumes,
 * continuations after parking and queue removals. One JSON line per record
 * in .claude/notices.jsonl (O_APPEND, capped at NOTICES_MAX_BYTES), written
 * when the event is emitted. Each record is the event's data plus
 * "event" (the event type), "run_id", "at" (ISO time), "by" where a person
 * acted, and "anchor" {"msg","block"}: the record goes after `block` units
 * of history message `msg` (units: a prompt's texts, else content blocks;
 * msg -1 = before the first message), the same anchor the UI gives a run
 * that settled live. GET …/messages returns them as "notices".
 * The json_objects returned are owned by the caller.
 */
#ifndef CW_NOTICES_H
#define CW_NOTICES_H

#include <stddef.h>

#include <json-c/json.h>

struct config;
struct store;

#define NOTICES_MAX_BYTES	(1024 * 1024)
#define NOTICES_MAX_RECORDS	5000
#define NOTICES_LINE_MAX	(16 * 1024)

/* 1 when events of this type are kept as notices. */
int	notices_wanted(const char *type);
/*
 * Records event (type, data) of run_id when notices_wanted(type); history
 * is the session's history as it stands (NULL: read from disk), by the
 * person who acted (NULL: nobody). data is not consumed.
 */
void	notices_event(const struct config *, const char *sid, const char *run_id,
	    const char *type, json_object *data, json_object *history,
	    const char *by);
/* Appends one record (adds "at" when missing); 0, or -1 (full, I/O). */
int	notices_append(const struct config *, const char *sid, json_object *rec);
/* The session's records, oldest first (bounded); never NULL. */
json_object *notices_load(const struct config *, const char *sid);
/* The anchor {"msg","block"} after the last message of history. */
json_object *notices_anchor(json_object *history);

/*
 * Who answered a permission request: the API notes it in the request's
 * hash (field answered_by, only while the request is pending) before the
 * answer; the runner reads it for permission.resolved. 0 / 1 found.
 */
void	notices_note_answerer(struct store *, const char *sid,
	    const char *request_id, const char *user);
int	notices_answerer(struct store *, const char *sid, const char *request_id,
	    char *out, size_t cap);

#endif
