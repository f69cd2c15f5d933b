#include <stdio.h>
#include <string.h>

#include "tools.h"

json_object *
tools_declarations(void)
{
	static json_object	*decl;
	json_object		*t;

	if (decl == NULL) {
		decl = json_object_new_array();
		t = json_object_new_object();
		json_object_object_add(t, "type",
		    json_object_new_string("text_editor_20250728"));
		json_object_object_add(t, "name",
		    json_object_new_string("str_replace_based_edit_tool"));
		json_object_array_add(decl, t);
		t = json_object_new_object();
		json_object_object_add(t, "type", json_object_new_string("bash_20250124"));
		json_object_object_add(t, "name", json_object_new_string("bash"));
		json_object_array_add(decl, t);
	}
	return json_object_get(decl);
}

/*
 * Tool execution arrives with the sandbox; until then every call is
 * answered honestly as unavailable so the model can tell the person.
 */
int
tools_run(struct tool_ctx *tc, const char *name, json_object *input,
    struct buf *out)
{
	buf_printf(out, "Error: the %s tool is not available on this server yet; "
	    "tell the user what you would have run instead.", name);
	return 1;
}
