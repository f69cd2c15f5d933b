/*
 * buf: an owning, always NUL-terminated byte buffer with a hard cap.
 *
 * A struct buf owns b->p (heap). buf_free() releases it. Every append checks
 * the cap (b->max) first and fails with -1 instead of growing past it, so a
 * client can never make us allocate more than the owner allowed.
 */
#ifndef CW_BUF_H
#define CW_BUF_H

#include <stddef.h>
#include <stdarg.h>

struct buf {
	char	*p;
	size_t	 len;
	size_t	 cap;
	size_t	 max;	/* hard cap on len, fixed by the owner */
};

/* A non-owning slice. */
struct str {
	const char	*p;
	size_t		 len;
};

void	buf_init(struct buf *, size_t max);
void	buf_free(struct buf *);
void	buf_reset(struct buf *);
int	buf_append(struct buf *, const void *, size_t);
int	buf_puts(struct buf *, const char *);
int	buf_putc(struct buf *, char);
int	buf_printf(struct buf *, const char *, ...)
	    __attribute__((format(printf, 2, 3)));
int	buf_vprintf(struct buf *, const char *, va_list)
	    __attribute__((format(printf, 2, 0)));
/* Appends s with each invalid UTF-8 sequence replaced by U+FFFD (jsonio_utf8_repair). */
int	buf_utf8_clean(struct buf *, const char *s, size_t len);
/* Appends s as the body of a JSON string (no quotes), escaping as needed. */
int	buf_json_escape(struct buf *, const char *s, size_t len);

#endif
