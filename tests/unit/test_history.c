/*
 * test_history: history_repair makes a stored conversation one the
 * Messages API accepts again (every tool_use answered first thing in the
 * next user turn, no orphan or repeated tool_result, alternating roles,
 * valid UTF-8), and history_load applies it to what is on disk.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <json-c/json.h>

#include "config.h"
#include "history.h"
#include "jsonio.h"
#include "tap.h"

#define FFFD	"\xEF\xBF\xBD"
#define TU(id)	"{\"type\":\"tool_use\",\"id\":\"" id "\",\"name\":\"bash\"," \
		"\"input\":{\"command\":\"ls\"}}"
#define TR(id)	"{\"type\":\"tool_result\",\"tool_use_id\":\"" id "\"," \
		"\"content\":\"ok " id "\"}"
#define TXT(s)	"{\"type\":\"text\",\"text\":\"" s "\"}"
#define U(c)	"{\"role\":\"user\",\"content\":" c "}"
#define A(c)	"{\"role\":\"assistant\",\"content\":" c "}"
#define H(m)	"{\"version\":1,\"messages\":[" m "],\"runs\":[]}"

static char	 out[65536];

/* Repairs a history written as JSON; the messages afterwards, compact. */
static int
repair(const char *js, int flags, const char **msgs)
{
	json_object	*h = json_tokener_parse(js), *m;
	int		 n;

	if (h == NULL) {
		printf("# bad test JSON: %s\n", js);
		*msgs = "";
		return -1;
	}
	n = history_repair_flags(h, flags);
	json_object_object_get_ex(h, "messages", &m);
	snprintf(out, sizeof(out), "%s", json_object_to_json_string_ext(m,
	    JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
	if (history_repair(h) != 0)
		n = -100;	/* a second repair must find nothing */
	json_object_put(h);
	*msgs = out;
	return n;
}

#define INTR(id) "{\"type\":\"tool_result\",\"tool_use_id\":\"" id "\"," \
	"\"content\":\"Error: the tool call was interrupted and did not " \
	"complete; it may or may not have taken effect. Check before relying " \
	"on it.\",\"is_error\":true}"

static void
cases(void)
{
	const char	*m;
	int		 n;

	n = repair(H(U("\"hi\"") "," A("[" TXT("let me look") "," TU("t1") "]") ","
	    U("[" TR("t1") "]") "," A("[" TXT("done") "]")), 0, &m);
	ok(n == 0, "a well-formed history needs no fix (%d)", n);
	is_str(m, "[" U("\"hi\"") "," A("[" TXT("let me look") "," TU("t1") "]") ","
	    U("[" TR("t1") "]") "," A("[" TXT("done") "]") "]", "...and is unchanged");

	/* The bug: the history ends with tool calls nobody answered. */
	n = repair(H(U("\"hi\"") "," A("[" TU("t1") "," TU("t2") "]")), 0, &m);
	ok(n == 2, "an unanswered tail: two fixes (%d)", n);
	is_str(m, "[" U("\"hi\"") "," A("[" TU("t1") "," TU("t2") "]") ","
	    U("[" INTR("t1") "," INTR("t2") "]") "]",
	    "...a user turn with an is_error result per call, in order");

	n = repair(H(U("\"hi\"") "," A("[" TU("t1") "]")), HISTORY_KEEP_OPEN_TAIL, &m);
	ok(n == -100, "KEEP_OPEN_TAIL leaves the tail for the resumed run (and a "
	    "plain repair afterwards answers it)");
	is_str(m, "[" U("\"hi\"") "," A("[" TU("t1") "]") "]", "...unanswered");

	/* In the middle: the next user turn lacks a result and has text first. */
	n = repair(H(U("\"hi\"") "," A("[" TU("a") "," TU("b") "," TU("c") "]") ","
	    U("[" TXT("also this") "," TR("c") "," TR("a") "]") "," A("\"ok\"")), 0, &m);
	ok(n == 1, "a missing result in the middle: one fix (%d)", n);
	is_str(m, "[" U("\"hi\"") "," A("[" TU("a") "," TU("b") "," TU("c") "]") ","
	    U("[" TR("a") "," INTR("b") "," TR("c") "," TXT("also this") "]") ","
	    A("\"ok\"") "]", "...results first, in tool_use order, then the text");

	n = repair(H(A("[" TU("a") "]") "," U("[" TXT("x") "," TR("a") "]")), 0, &m);
	ok(n == 1, "text before the result: one fix (reordered)");
	is_str(m, "[" A("[" TU("a") "]") "," U("[" TR("a") "," TXT("x") "]") "]",
	    "...the result moves first");

	n = repair(H(U("\"q\"") "," A("[" TU("a") "]") "," U("\"next\"")), 0, &m);
	ok(n == 1, "a plain-string user turn after a tool call: one fix");
	is_str(m, "[" U("\"q\"") "," A("[" TU("a") "]") "," U("[" INTR("a") ","
	    TXT("next") "]") "]", "...becomes the result, then the text");

	/* Orphans and repeats. */
	n = repair(H(U("\"q\"") "," A("[" TXT("no tools") "]") "," U("[" TR("zz") ","
	    TXT("go on") "]")), 0, &m);
	ok(n == 1, "an orphan tool_result: one fix");
	is_str(m, "[" U("\"q\"") "," A("[" TXT("no tools") "]") "," U("[" TXT("go on")
	    "]") "]", "...dropped");
	n = repair(H(U("[" TR("zz") "]") "," A("\"x\"")), 0, &m);
	ok(n == 1, "a turn of orphans only: one fix");
	is_str(m, "[" U("[" TXT("[tool results without a matching tool call were "
	    "removed from this turn]") "]") "," A("\"x\"") "]",
	    "...keeps a note, so roles still alternate");
	n = repair(H(A("[" TU("a") "]") "," U("[" TR("a") "," TR("a") "," TR("b") "]")),
	    0, &m);
	ok(n == 2, "a repeated result and one for another turn's call: two fixes");
	is_str(m, "[" A("[" TU("a") "]") "," U("[" TR("a") "]") "]", "...one result left");

	/* Roles. */
	n = repair(H(U("\"a\"") "," U("[" TXT("b") "]") "," A("\"c\"") "," A("[" TXT("d")
	    "]")), 0, &m);
	ok(n == 2, "two user turns and two assistant turns in a row: two merges");
	is_str(m, "[" U("[" TXT("a") "," TXT("b") "]") "," A("[" TXT("c") "," TXT("d")
	    "]") "]", "...merged in order");
	n = repair(H(U("\"a\"") "," A("[" TU("t") "]") "," A("\"later\"")), 0, &m);
	ok(n == 1, "tool calls followed by another assistant turn: one fix");
	is_str(m, "[" U("\"a\"") "," A("[" TU("t") "]") "," U("[" INTR("t") "]") ","
	    A("\"later\"") "]", "...a user turn with the results goes between");
	n = repair(H(U("\"a\"") ",{\"role\":\"system\",\"content\":\"x\"},"
	    "{\"role\":\"assistant\"}," A("\"\"") "," A("[]") ",7," A("\"b\"")), 0, &m);
	ok(n == 5, "a bad role, missing or empty content, a non-object: five fixes "
	    "(%d)", n);
	is_str(m, "[" U("\"a\"") "," A("\"b\"") "]", "...those messages are dropped");

	/* UTF-8. */
	n = repair(H(U("\"caf\xC3\xA9 \xC0\xAF\"") "," A("[" TXT("\xED\xA0\x80") "]")),
	    0, &m);
	ok(n == 2, "two strings with invalid UTF-8: two fixes");
	is_str(m, "[" U("\"caf\xC3\xA9 " FFFD FFFD "\"") "," A("[" TXT(FFFD FFFD FFFD)
	    "]") "]", "...replaced by U+FFFD");
}

static void
append_after_repair(void)
{
	json_object	*h = json_tokener_parse(H(U("\"hi\"") "," A("[" TU("t1") "]")));
	json_object	*m;

	history_repair(h);
	history_append_user(h, json_object_new_string("next prompt"));
	json_object_object_get_ex(h, "messages", &m);
	is_str(json_object_to_json_string_ext(m, JSON_C_TO_STRING_PLAIN |
	    JSON_C_TO_STRING_NOSLASHESCAPE), "[" U("\"hi\"") "," A("[" TU("t1") "]")
	    "," U("[" INTR("t1") "," TXT("next prompt") "]") "]",
	    "a new prompt after the repair joins the results, after them");
	json_object_put(h);
}

/* history_load on a file written by hand, as an old dead session has it. */
static void
load(void)
{
	static const char	 bad[] = H(U("\"hi \xF5\x80\"") "," A("[" TU("t1") "]"));
	struct config		 cfg;
	char			 dir[] = "/tmp/test_history.XXXXXX", p[512];
	json_object		*h, *m;
	FILE			*fp;

	memset(&cfg, 0, sizeof(cfg));
	if (mkdtemp(dir) == NULL) {
		ok(0, "mkdtemp");
		return;
	}
	cfg.workspace_path = dir;
	snprintf(p, sizeof(p), "%s/sessions", dir);
	mkdir(p, 0700);
	snprintf(p, sizeof(p), "%s/sessions/session-s1", dir);
	mkdir(p, 0700);
	snprintf(p, sizeof(p), "%s/sessions/session-s1/.claude", dir);
	mkdir(p, 0700);
	snprintf(p, sizeof(p), "%s/sessions/session-s1/.claude/history.json", dir);
	fp = fopen(p, "w");
	fwrite(bad, 1, sizeof(bad) - 1, fp);
	fclose(fp);

	h = history_load(&cfg, "s1");
	ok(h != NULL, "history_load reads the damaged file");
	if (h != NULL) {
		m = history_messages(h);
		is_str(json_object_to_json_string_ext(m, JSON_C_TO_STRING_PLAIN |
		    JSON_C_TO_STRING_NOSLASHESCAPE), "[" U("\"hi " FFFD FFFD "\"") ","
		    A("[" TU("t1") "]") "," U("[" INTR("t1") "]") "]",
		    "...and repairs it: valid UTF-8, the tool call answered");
		json_object_put(h);
	}
	h = history_load_flags(&cfg, "s1", HISTORY_KEEP_OPEN_TAIL);
	ok(h != NULL && json_object_array_length(history_messages(h)) == 2,
	    "history_load_flags(KEEP_OPEN_TAIL) leaves the tail open");
	if (h != NULL)
		json_object_put(h);
	unlink(p);
	snprintf(p, sizeof(p), "%s/sessions/session-s1/.claude", dir);
	rmdir(p);
	snprintf(p, sizeof(p), "%s/sessions/session-s1", dir);
	rmdir(p);
	snprintf(p, sizeof(p), "%s/sessions", dir);
	rmdir(p);
	rmdir(dir);
}

int
main(void)
{
	cases();
	append_after_repair();
	load();
	return done_testing();
}
