/*
 * editor: the str_replace_based_edit_tool (text_editor_20250728) with the
 * reference behaviour Claude is trained on (view, create, str_replace,
 * insert; exact output and error wording), working on a session's files/
 * through pathsafe. Claude sees files/ as /workspace.
 *
 * editor_run() writes the tool_result text into out and returns 0 (success)
 * or 1 (is_error). On a successful change, chg gets the path and the
 * content before the edit (owned by chg; editor_change_free()), so the
 * caller can keep an undo history and announce file.changed.
 *
 * `view` of an image file (PNG, JPEG, GIF or WebP by its magic bytes, at
 * most EDITOR_IMAGE_MAX bytes) returns the image itself, as the reference
 * tool does: chg->content gets a content array with one image block
 * (base64 source) for the tool_result, and out a line describing it.
 */
#ifndef CW_EDITOR_H
#define CW_EDITOR_H

#include <json-c/json.h>

#include "buf.h"

#define EDITOR_ROOT		"/workspace"
#define EDITOR_MAX_CHARS	16000
#define EDITOR_SNIPPET_LINES	4
#define EDITOR_IMAGE_MAX	(5 * 1024 * 1024)

struct editor_change {
	int		 changed;
	int		 created;	/* file did not exist before */
	char		 path[4200];	/* as Claude named it (/workspace/...) */
	char		 rel[4096];	/* relative to files/ */
	struct buf	 before;
	json_object	*content;	/* view of an image: [image block] */
};

void	editor_change_init(struct editor_change *);
void	editor_change_free(struct editor_change *);
int	editor_run(int root, size_t max_file, json_object *input, struct buf *out,
	    struct editor_change *chg);
/* Python's str.expandtabs(8), counting UTF-8 code points as columns. */
void	editor_expandtabs(const char *s, size_t n, struct buf *out);

#endif
