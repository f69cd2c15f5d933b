/*
 * commands: custom slash commands, as in Claude Code: Markdown files in
 * the session's files/.claude/commands/<name>.md (/workspace/.claude/
 * commands/ for Claude). Read fd-relative beneath files/ (pathsafe),
 * never through a symbolic link (.claude, commands or the file), only
 * regular files of at most COMMANDS_FILE_MAX bytes, at most
 * COMMANDS_MAX_LIST of them. An optional YAML-style frontmatter
 * ("---" lines) gives description: and argument-hint:; without one the
 * description is the first line of the body.
 *
 * Expansion happens on the server (POST …/messages {"command","arguments"}):
 * the stored user message is the body with every $ARGUMENTS replaced by
 * the arguments (when the body has no $ARGUMENTS and arguments were given,
 * they are appended as "ARGUMENTS: ..."), so the transcript, the history
 * and Claude see the same text.
 */
#ifndef CW_COMMANDS_H
#define CW_COMMANDS_H

#include <stddef.h>

#include <json-c/json.h>

#include "buf.h"

struct config;

#define COMMANDS_FILE_MAX	(16 * 1024)
#define COMMANDS_MAX_LIST	100
#define COMMANDS_NAME_MAX	64
#define COMMANDS_ARGS_MAX	(8 * 1024)

/* A name of 1..64 of [A-Za-z0-9_-] (the file is <name>.md). */
int	commands_valid_name(const char *name);
/*
 * The session's commands, sorted by name: [{name, description,
 * argument_hint}] (new reference); skipped: links, non-regular and
 * oversized files, bad names. An absent directory is an empty list.
 */
json_object *commands_list(const struct config *, const char *sid);

enum commands_err {
	CMD_OK = 0,
	CMD_ENOENT,		/* no such command */
	CMD_ELINK,		/* a symbolic link or not a regular file */
	CMD_EBIG,		/* larger than COMMANDS_FILE_MAX */
	CMD_EIO			/* anything else */
};
/* Expands command name with args into out (a buf with a cap). */
enum commands_err commands_expand(const struct config *, const char *sid,
	    const char *name, const char *args, struct buf *out);

#endif
