#include <string.h>

#include "buf.h"
#include "tap.h"

int
main(void)
{
	struct buf	 b;

	buf_init(&b, 8);
	ok(buf_puts(&b, "abcd") == 0, "append within cap");
	ok(buf_puts(&b, "efgh") == 0, "append up to exactly the cap");
	is_str(b.p, "abcdefgh", "content is kept and NUL-terminated");
	ok(buf_putc(&b, 'x') == -1, "one byte past the cap is refused");
	is_str(b.p, "abcdefgh", "a refused append leaves the buffer intact");
	ok(buf_printf(&b, "%d", 1) == -1, "printf past the cap is refused");
	buf_reset(&b);
	ok(b.len == 0 && b.p[0] == '\0', "reset empties");
	buf_free(&b);

	buf_init(&b, 1024);
	buf_json_escape(&b, "a\"b\\c\nd\x01\x7f", 9);
	is_str(b.p, "a\\\"b\\\\c\\nd\\u0001\\u007f", "JSON escaping of quotes, "
	    "backslash, newline and control bytes");
	buf_free(&b);
	return done_testing();
}
