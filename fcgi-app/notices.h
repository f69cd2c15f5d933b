/*
 * notices: the part of a session's transcript that the Messages API history
 * cannot hold — approvals (request and resolution: who, when, decision,
 * remembered, the deny message), run errors, stops, retries, resumes,
 * continuations after parking and queue removals. One JSON line per record
 * in .claude/notices.jsonl (O_APPEND), written when the event is emitted;
 * a full file (NOTICES_MAX_BYTES) is rotated to notices.1.jsonl (the older
 * ones move up, NOTICES_ROTATED are kept) and the loader reads the newest
 * NOTICES_LOAD_MAX bytes across them. A permission request's record keeps
 * its summary (capped), not the tool's input (the history has it). Each record is the event's data plus
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

#define NOTICES_MAX_BYTES	(1024 * 1024)	/* per file, then rotated */
#define NOTICES_ROTATED		3	/* notices.1.jsonl … notices.3.jsonl kept */
#define NOTICES_LOAD_MAX	(2 * 1024 * 1024)	/* bytes read, newest first */
#define NOTICES_MAX_RECORDS	10000	/* returned, the newest */
#define NOTICES_LINE_MAX	(16 * 1024)
#define NOTICES_SUMMARY_MAX	512	/* a permission request's summary */

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
/* Appends one record (adds "at" when missing; drops "input"); 0, or -1 (I/O). */
int	notices_append(const struct config *, const char *sid, json_object *rec);
/* The session's records, oldest first (bounded); never NULL. */
json_object *notices_load(const struct config *, const char *sid);
/*
 * /clear: notices.jsonl becomes notices-<stem>.jsonl (it goes with the
 * archived history-<stem>.json), the rotated ones go, and only the newest
 * NOTICES_ARCHIVES_KEEP history-*.json and notices-*.jsonl archives are
 * kept in .claude/ (older ones are removed). 0, or -1 (logged).
 */
#define NOTICES_ARCHIVES_KEEP	3
int	notices_archive(const struct config *, const char *sid, const char *stem);
/* The anchor {"msg","block"} after the last message of history. */
json_object *notices_anchor(json_object *history);

/*
 * Who answered a permission request: the answer records it in the
 * request's hash (field answered_by) in the same step as the status
 * (cw_perm_answer, perm.c); the runner reads it for permission.resolved.
 * 0 / 1 found.
 */
int	notices_answerer(struct store *, const char *sid, const char *request_id,
	    char *out, size_t cap);

#endif
