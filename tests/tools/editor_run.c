/*
 * editor_run ROOT_DIR JSON_INPUT: runs one str_replace_based_edit_tool call
 * against ROOT_DIR (seen as /workspace) and prints {"is_error":..,"output":..}.
 * For the differential tests against the reference model.
 */
#include <stdio.h>

#include "editor.h"
#include "pathsafe.h"

int
main(int argc, char **argv)
{
	struct editor_change	 chg;
	struct buf		 out;
	json_object		*in, *res;
	int			 root, err;

	if (argc != 3 || (root = ps_open_root(argv[1])) == -1 ||
	    (in = json_tokener_parse(argv[2])) == NULL) {
		fprintf(stderr, "usage: editor_run ROOT JSON\n");
		return 2;
	}
	buf_init(&out, 64 << 20);
	editor_change_init(&chg);
	err = editor_run(root, 10 << 20, in, &out, &chg);
	res = json_object_new_object();
	json_object_object_add(res, "is_error", json_object_new_boolean(err));
	json_object_object_add(res, "output", json_object_new_string_len(
	    out.p ? out.p : "", (int)out.len));
	json_object_object_add(res, "changed", json_object_new_boolean(chg.changed));
	printf("%s\n", json_object_to_json_string_ext(res, JSON_C_TO_STRING_PLAIN));
	json_object_put(res);
	json_object_put(in);
	editor_change_free(&chg);
	buf_free(&out);
	return 0;
}
