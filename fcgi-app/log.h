/*
 * log: JSON lines ({"ts","level","msg","pid","pool",...}) to a file or stderr.
 *
 * One write(2) per line on an O_APPEND descriptor, so lines from the master
 * and all workers never interleave. Nothing here allocates per call beyond a
 * fixed stack buffer; over-long lines are truncated, never split.
 */
#ifndef CW_LOG_H
#define CW_LOG_H

enum log_level {
	LOG_DEBUG = 0,
	LOG_INFO,
	LOG_WARNING,
	LOG_ERROR
};

int	log_init(const char *path, enum log_level);
void	log_set_level(enum log_level);
void	log_set_pool(const char *pool);	/* pool must outlive the process */
void	log_set_instance(const char *id);	/* copied; NULL: none */
int	log_reopen(void);
int	log_level_parse(const char *, enum log_level *);
int	log_enabled(enum log_level);

/* printf-style message, escaped into "msg". */
void	log_msg(enum log_level, const char *fmt, ...)
	    __attribute__((format(printf, 2, 3)));

/*
 * Message plus typed fields: pairs of (key, value) terminated by NULL. The
 * key's first two characters give the type: "s:" const char * (NULL skips
 * the field), "i:" long long, "d:" double. Example:
 *   log_kv(LOG_INFO, "request", "s:route", r, "i:status", (long long)200, NULL);
 */
void	log_kv(enum log_level, const char *msg, ...) __attribute__((sentinel));

#endif
