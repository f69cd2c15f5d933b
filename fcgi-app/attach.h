/*
 * attach: what a person adds to a message besides its text.
 *
 * - Files of the session mentioned with @ (POST …/messages "attachments":
 *   [{"path": "src/a.c"}]): read fd-relative under files/, one component at
 *   a time with O_NOFOLLOW (no symlink anywhere on the path), regular files
 *   only (O_NONBLOCK: a FIFO never blocks), ATTACH_FILE_MAX bytes each, at
 *   most ATTACH_FILES_MAX, UTF-8 text only. Each becomes one text block
 *   "<attached_file path=\"src/a.c\">\n…\n</attached_file>" put before the
 *   message's own blocks, so it is stored in the history and sent upstream.
 * - Image blocks in the content ({"type":"image","source":{"type":"base64",
 *   "media_type":…,"data":…}}): the media type must be one of PNG, JPEG, GIF,
 *   WebP AND match the data's magic bytes; the base64 must be valid (the
 *   standard alphabet, padded, no whitespace); the decoded size at most
 *   ATTACH_IMAGE_MAX; at most ATTACH_IMAGES_MAX per message. Kept as sent.
 * - The fuzzy file search behind the @ menu (GET …/files/search): a bounded
 *   walk of files/ (no links followed, no other file systems, .git and
 *   node_modules skipped, ATTACH_SEARCH_VISIT entries and
 *   ATTACH_SEARCH_BUDGET_MS at most) ranking regular files by a
 *   subsequence match of the query.
 *
 * Every function that takes an http_req writes the 400 (naming the field)
 * itself and returns -1; returned JSON objects belong to the caller.
 */
#ifndef CW_ATTACH_H
#define CW_ATTACH_H

#include <stddef.h>

#include <json-c/json.h>

struct http_req;
struct config;

#define ATTACH_FILES_MAX	5
#define ATTACH_FILE_MAX		(100 * 1024)
#define ATTACH_IMAGES_MAX	5
#define ATTACH_IMAGE_MAX	(5 * 1024 * 1024)	/* decoded bytes */
/* POST …/messages bodies (images are base64): bounded, and below nginx's
 * client_max_body_size at the default MAX_FILE_SIZE (10 MiB + 1 MiB). */
#define ATTACH_BODY_MAX		(10 * 1024 * 1024)
#define ATTACH_SEARCH_LIMIT	20	/* default ?limit */
#define ATTACH_SEARCH_LIMIT_MAX	100
#define ATTACH_SEARCH_QUERY_MAX	256
#define ATTACH_SEARCH_VISIT	20000	/* directory entries looked at */
#define ATTACH_SEARCH_DEPTH	32
#define ATTACH_SEARCH_BUDGET_MS	500

#define ATTACH_FILE_PREFIX	"<attached_file path=\""
/*
 * A message with images is refused (413) when the conversation (history and
 * the messages still in the inbox) would then pass this many bytes: every
 * request to Claude carries the whole history, the Messages API takes
 * 32 MB at most, and a session past that could no longer even be compacted.
 * A tool result with images (the editor's view, an MCP image) that would
 * pass it loses its images: an is_error text result instead (agent.c).
 */
#define ATTACH_HISTORY_MAX	(20 * 1024 * 1024)

/*
 * An image block of content[idx], validated; returns a new copy of it
 * (type and source only) or NULL with the 400 written.
 */
json_object	*attach_image_block(struct http_req *, json_object *block,
		    size_t idx);
/*
 * The checks of an image block's source, for images from anywhere (a
 * person, the editor's view, an MCP server): media_type one of image/png,
 * image/jpeg, image/gif, image/webp; b64 (len bytes) strict padded
 * standard base64 decoding to at most ATTACH_IMAGE_MAX bytes that start
 * with that type's magic bytes. 0, or -1 with *why set to a static
 * sentence fragment ("its media type is not …").
 */
int		 attach_image_data_ok(const char *media_type, const char *b64,
		    size_t len, const char **why);
/*
 * The body's "attachments" (optional): each file read under the session's
 * files/ and put as a text block in front of *content (a string becomes a
 * text block first). 0, or -1 with the 400 (or 500) written.
 */
int		 attach_files(struct http_req *, const struct config *,
		    const char *sid, json_object *body, json_object **content);
/*
 * The fuzzy search: up to limit regular files under root whose relative
 * path contains q as a case-insensitive subsequence, best first.
 * {"query","results":[{"path","size"}],"truncated"}; NULL when out of memory.
 */
json_object	*attach_search(int root, const char *q, int limit);
/*
 * Room for content (with images) in the session's conversation, see
 * ATTACH_HISTORY_MAX. 0, or -1 with the 413 written.
 */
int		 attach_room(struct http_req *, const struct config *,
		    const char *sid, json_object *content);
/*
 * Bytes of the session's conversation: .claude/history.json and the
 * messages waiting in .claude/inbox/ (what attach_room and a tool result
 * with images, agent.c, weigh against ATTACH_HISTORY_MAX).
 */
long long	 attach_conversation_bytes(const struct config *, const char *sid);
/* Score of q against path (subsequence, case-insensitive): >= 0 for a
 * match (higher is better), -1 when q is not a subsequence of path. */
long		 attach_fuzzy_score(const char *q, const char *path);

#endif
