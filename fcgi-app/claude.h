/*
 * claude: the Anthropic Messages API client (libcurl, streaming).
 *
 * claude_stream() POSTs one request body, parses the SSE stream as it
 * arrives (any chunking), assembles the assistant message block by block,
 * and reports progress through hooks. It retries 429/529/5xx, network
 * failures, stalls, in-stream overloaded/api errors and streams cut before
 * message_stop, with exponential backoff and jitter (honouring
 * retry-after), bounded in count and total time. Other 4xx are final.
 *
 * struct claude_client owns one CURL easy handle (connection reuse) and
 * the header list; struct claude_msg owns its block buffers and parsed
 * tool inputs (claude_msg_free()).
 */
#ifndef CW_CLAUDE_H
#define CW_CLAUDE_H

#include <json-c/json.h>

#include "buf.h"

#define CLAUDE_MAX_BLOCKS	64

enum claude_block_type {
	CB_TEXT = 0,
	CB_THINKING,
	CB_REDACTED,
	CB_TOOL_USE,
	CB_OTHER,
	CB_SERVER_TOOL_USE,	/* server_tool_use (web_search...), mcp_tool_use */
	CB_SERVER_RESULT	/* web_search_tool_result, web_fetch_tool_result, ... */
};

struct claude_block {
	enum claude_block_type	 type;
	struct buf		 text;	/* text, thinking, redacted data, or partial JSON */
	struct buf		 sig;	/* thinking signature */
	char			 id[128];
	char			 name[128];
	json_object		*input;	/* tool_use input, parsed at block stop */
	int			 started, stopped;
	/*
	 * Server tool blocks: the block as it started (a result arrives whole;
	 * a server_tool_use gets its parsed input at stop), sent back as is.
	 */
	json_object		*raw;
	json_object		*citations;	/* text: citations_delta, in order */
};

struct claude_msg {
	char			 id[128];
	char			 model[128];
	struct claude_block	 blocks[CLAUDE_MAX_BLOCKS];
	int			 nblocks;
	char			 stop_reason[48];
	long long		 input_tokens;
	long long		 output_tokens;
	long long		 cache_creation_tokens;
	long long		 cache_read_tokens;
	long long		 web_search_requests;	/* usage.server_tool_use */
	long long		 web_fetch_requests;
	int			 got_stop;
};

struct claude_hooks {
	void	*arg;
	void	(*message_start)(void *, const struct claude_msg *);
	void	(*text_delta)(void *, int idx, const char *, size_t);
	void	(*thinking_delta)(void *, int idx, const char *, size_t);
	void	(*block_stop)(void *, int idx, const struct claude_block *);
	void	(*retrying)(void *, int attempt, long delay_ms, const char *reason);
	/* Polled during transfers and backoff; non-zero aborts (cancel). */
	int	(*should_abort)(void *);
};

enum claude_code {
	CLAUDE_OK = 0,
	CLAUDE_CANCELLED,	/* should_abort said so; msg holds the partial answer */
	CLAUDE_EFINAL,		/* a non-retryable error (see type/message) */
	CLAUDE_EEXHAUSTED	/* retries used up */
};

struct claude_result {
	enum claude_code	 code;
	int			 http_status;
	int			 attempts;
	char			 err_type[64];
	char			 err_msg[512];
};

struct config;
struct claude_client;

struct claude_client *claude_client_new(const struct config *);
void	claude_client_free(struct claude_client *);
/*
 * The anthropic-beta header of the requests from now on (a comma-separated
 * list, e.g. "web-fetch-2025-09-10"); NULL or "" sends none. 0, or -1
 * (too long, a line break, no memory: none is sent).
 */
int	claude_client_set_beta(struct claude_client *, const char *betas);
/* Adds one beta to that list (unless it is there). 0, or -1. */
int	claude_client_add_beta(struct claude_client *, const char *beta);
void	claude_msg_init(struct claude_msg *);
void	claude_msg_free(struct claude_msg *);
/* The assistant message as API content blocks (caller owns); empty text dropped. */
json_object *claude_msg_content(const struct claude_msg *);

int	claude_stream(struct claude_client *, const char *body,
	    const struct claude_hooks *, struct claude_msg *, struct claude_result *);

/* The stream event handler, exposed for tests and fuzzing: feeds one event. */
struct claude_stream_state;
int	claude_feed_event(struct claude_msg *, const struct claude_hooks *,
	    const char *event, const char *data, size_t len, char *errtype,
	    size_t errtype_cap, char *errmsg, size_t errmsg_cap);

#endif
