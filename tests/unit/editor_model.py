"""An independent Python model of the reference text-editor tool.

This is a model of str_replace_based_edit_tool (text_editor_20250728) as
Claude is trained on it. It is written from the research notes
(/work/shared/design/research/anthropic-and-peers.md §5.2-5.4: AQ edit.py /
run.py) and is used as the oracle in the differential test
tests/unit/t_editor.sh against fcgi-app/editor.c (through
tests/tools/editor_run).

It works on a real directory ROOT, which Claude sees as /workspace. The
reference behaviour is kept wherever our design does not say otherwise. The
differences by design (each marked "DESIGN:" below) are:
  - paths must be under /workspace, and a symlink or ".." must not lead out;
  - files holding NUL bytes are refused as binary;
  - insert takes `insert_text` (what Claude 4.5 sends) as well as `new_str`;
  - there is no undo_edit (20250728);
  - directory listings are sorted per directory (the order of `find` is
    unspecified);
  - a missing `command` or `path` is an error result, not a crash.

Usage as a program (the same output shape as tests/tools/editor_run):
    python3 editor_model.py ROOT 'JSON_INPUT'
    -> {"is_error": bool, "output": str, "changed": bool}
"""

import json
import os
import sys
from pathlib import PurePosixPath

WORKSPACE = "/workspace"
MAX_RESPONSE_LEN = 16000
SNIPPET_LINES = 4
TRUNCATED_MESSAGE = (
    "<response clipped><NOTE>To save on context only part of this file has "
    "been shown to you. You should retry this tool after you have searched "
    "inside the file with `grep -n` in order to find the line numbers of what "
    "you are looking for.</NOTE>")
COMMANDS = ("view", "create", "str_replace", "insert")
TOOL_NAME = "str_replace_based_edit_tool"

# The reference reads with Path.read_text(): text mode, universal newlines,
# so "\r\n" and "\r" become "\n" on read (and a later edit writes "\n").
UNIVERSAL_NEWLINES = True


class ToolError(Exception):
    pass


# ---- output helpers (run.py maybe_truncate, edit.py _make_output) ---------

def maybe_truncate(content, truncate_after=MAX_RESPONSE_LEN):
    """Cuts at truncate_after *characters* (code points) and appends the note."""
    if not truncate_after or len(content) <= truncate_after:
        return content
    return content[:truncate_after] + TRUNCATED_MESSAGE


def make_output(file_content, file_descriptor, init_line=1):
    """Truncate, expand tabs (width 8), number each line "%6d\\t"."""
    file_content = maybe_truncate(file_content).expandtabs()
    body = "\n".join(f"{i + init_line:6}\t{line}"
                     for i, line in enumerate(file_content.split("\n")))
    return (f"Here's the result of running `cat -n` on {file_descriptor}:\n"
            + body + "\n")


# ---- paths -------------------------------------------------------------------

class _Resolved:
    def __init__(self, shown, fs, exists, is_dir):
        self.shown = shown      # the path as the reference prints it
        self.fs = fs            # where it lives under ROOT
        self.exists = exists
        self.is_dir = is_dir


def _beneath(root, rel_parts):
    """Resolves rel_parts under root like openat2(RESOLVE_BENEATH).

    Returns "ok" (exists), "enoent" (a missing part), "enotdir" or "exdev"
    (leads out: an absolute symlink, or ".." above root).
    """
    todo = list(rel_parts)
    cur = []
    hops = 0
    while todo:
        part = todo.pop(0)
        if part in ("", "."):
            continue
        if part == "..":
            if not cur:
                return "exdev"
            cur.pop()
            continue
        here = os.path.join(root, *cur)
        if cur and not os.path.isdir(here):
            return "enotdir"
        cand = os.path.join(here, part)
        if os.path.islink(cand):
            hops += 1
            if hops > 40:
                return "eloop"
            target = os.readlink(cand)
            if target.startswith("/"):
                return "exdev"
            todo = target.split("/") + todo
            continue
        if not os.path.lexists(cand):
            return "enoent"
        cur.append(part)
    return "ok"


def resolve(root, command, path):
    """Path validation: the reference order, with the workspace rules."""
    pp = PurePosixPath(path)
    shown = str(pp)
    if not pp.is_absolute():
        # The reference's suggestion is the same path (an upstream quirk).
        raise ToolError(f"The path {shown} is not an absolute path, it should "
                        f"start with `/`. Maybe you meant {shown}?")
    # DESIGN: confinement to /workspace.
    if (shown != WORKSPACE and not shown.startswith(WORKSPACE + "/")) \
            or ".." in pp.parts:
        raise ToolError(f"The path {shown} is outside the workspace; only files "
                        f"under {WORKSPACE} (the session's project) can be "
                        f"viewed or edited.")
    rel_parts = list(pp.parts[2:])
    how = _beneath(root, rel_parts)
    if how == "exdev":
        raise ToolError(f"The path {shown} leads outside the workspace "
                        f"(through a symlink or ..) and cannot be used.")
    fs = os.path.join(root, *rel_parts) if rel_parts else root
    exists = how == "ok" and os.path.exists(fs)
    is_dir = exists and os.path.isdir(fs)
    if not exists and command != "create":
        raise ToolError(f"The path {shown} does not exist. Please provide a "
                        f"valid path.")
    if exists and command == "create":
        raise ToolError(f"File already exists at: {shown}. Cannot overwrite "
                        f"files using command `create`.")
    if is_dir and command != "view":
        raise ToolError(f"The path {shown} is a directory and only the `view` "
                        f"command can be used on directories")
    return _Resolved(shown, fs, exists, is_dir)


def _oserror_text(e, shown):
    """str(OSError) as Python prints it, naming the path Claude used."""
    if e.errno is not None and e.strerror:
        return f"[Errno {e.errno}] {e.strerror}: {shown!r}"
    return str(e)


def read_file(r):
    try:
        with open(r.fs, "rb") as f:
            data = f.read()
    except OSError as e:
        raise ToolError(f"Ran into {_oserror_text(e, r.shown)} while trying to "
                        f"read {r.shown}") from None
    # DESIGN: binary files are refused.
    if b"\0" in data:
        raise ToolError(f"The file {r.shown} is binary; this tool only works on "
                        f"text files.")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise ToolError(f"Ran into {e} while trying to read {r.shown}") from None
    if UNIVERSAL_NEWLINES:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    return text


def write_file(r, text):
    # Path.write_text(): opens with "w" (follows symlinks, keeps the mode).
    try:
        with open(r.fs, "w", encoding="utf-8", newline=None) as f:
            f.write(text)
    except OSError as e:
        raise ToolError(f"Ran into {_oserror_text(e, r.shown)} while trying to "
                        f"write to {r.shown}") from None


# ---- commands ----------------------------------------------------------------

def _find_lines(fs_dir, shown):
    """`find SHOWN -maxdepth 2 -not -path '*/\\.*'`, sorted per directory.

    find -P does not follow symlinks: a symlink to a directory is listed but
    not descended into. The filter applies to the whole printed path.
    """
    out = []

    def walk(fs, sh, depth):
        out.append(sh)
        if depth >= 2:
            return
        if not os.path.isdir(fs) or (depth > 0 and os.path.islink(fs)):
            return
        try:
            names = os.listdir(fs)
        except OSError:
            return
        for name in sorted(names, key=lambda s: s.encode("utf-8",
                                                          "surrogateescape")):
            walk(os.path.join(fs, name), sh + "/" + name, depth + 1)

    walk(fs_dir, shown, 0)
    return [ln for ln in out if "/." not in ln]


def view(r, inp):
    view_range = inp.get("view_range")
    if r.is_dir:
        if view_range:
            raise ToolError("The `view_range` parameter is not allowed when "
                            "`path` points to a directory.")
        stdout = "".join(ln + "\n" for ln in _find_lines(r.fs, r.shown))
        stdout = maybe_truncate(stdout)
        return (f"Here's the files and directories up to 2 levels deep in "
                f"{r.shown}, excluding hidden items:\n{stdout}\n")
    file_content = read_file(r)
    init_line = 1
    if view_range:
        if (not isinstance(view_range, list) or len(view_range) != 2
                or not all(isinstance(i, int) and not isinstance(i, bool)
                           for i in view_range)):
            raise ToolError("Invalid `view_range`. It should be a list of two "
                            "integers.")
        file_lines = file_content.split("\n")
        n = len(file_lines)
        init_line, final_line = view_range
        if init_line < 1 or init_line > n:
            raise ToolError(f"Invalid `view_range`: {view_range}. Its first "
                            f"element `{init_line}` should be within the range "
                            f"of lines of the file: {[1, n]}")
        if final_line > n:
            raise ToolError(f"Invalid `view_range`: {view_range}. Its second "
                            f"element `{final_line}` should be smaller than the "
                            f"number of lines in the file: `{n}`")
        if final_line != -1 and final_line < init_line:
            raise ToolError(f"Invalid `view_range`: {view_range}. Its second "
                            f"element `{final_line}` should be larger or equal "
                            f"than its first `{init_line}`")
        if final_line == -1:
            file_content = "\n".join(file_lines[init_line - 1:])
        else:
            file_content = "\n".join(file_lines[init_line - 1:final_line])
    return make_output(file_content, r.shown, init_line=init_line)


def create(r, inp):
    file_text = inp.get("file_text")
    if not isinstance(file_text, str):
        raise ToolError("Parameter `file_text` is required for command: create")
    write_file(r, file_text)
    return f"File created successfully at: {r.shown}"


def str_replace(r, inp):
    old_str = inp.get("old_str")
    new_str = inp.get("new_str")
    if not isinstance(old_str, str):
        raise ToolError("Parameter `old_str` is required for command: "
                        "str_replace")
    if not isinstance(new_str, str):
        new_str = None
    file_content = read_file(r).expandtabs()
    old_str = old_str.expandtabs()
    new_str = new_str.expandtabs() if new_str is not None else ""
    occurrences = file_content.count(old_str)
    if occurrences == 0:
        raise ToolError(f"No replacement was performed, old_str `{old_str}` did "
                        f"not appear verbatim in {r.shown}.")
    if occurrences > 1:
        lines = [idx + 1 for idx, line in enumerate(file_content.split("\n"))
                 if old_str in line]
        raise ToolError(f"No replacement was performed. Multiple occurrences of "
                        f"old_str `{old_str}` in lines {lines}. Please ensure it "
                        f"is unique")
    new_file_content = file_content.replace(old_str, new_str)
    write_file(r, new_file_content)
    if old_str == "":
        # The reference's split("") raises ValueError here (not a ToolError);
        # only reachable for an empty file. Treat the match as at line 0.
        replacement_line = 0
    else:
        replacement_line = file_content.split(old_str)[0].count("\n")
    start_line = max(0, replacement_line - SNIPPET_LINES)
    end_line = replacement_line + SNIPPET_LINES + new_str.count("\n")
    snippet = "\n".join(new_file_content.split("\n")[start_line:end_line + 1])
    return (f"The file {r.shown} has been edited. "
            + make_output(snippet, f"a snippet of {r.shown}", start_line + 1)
            + "Review the changes and make sure they are as expected. Edit the "
              "file again if necessary.")


def insert(r, inp):
    insert_line = inp.get("insert_line")
    if insert_line is None:
        raise ToolError("Parameter `insert_line` is required for command: insert")
    # DESIGN: text_editor_20250728 models send insert_text; older ones new_str.
    new_str = inp.get("insert_text")
    if not isinstance(new_str, str):
        new_str = inp.get("new_str")
    if not isinstance(new_str, str):
        raise ToolError("Parameter `new_str` is required for command: insert")
    if not isinstance(insert_line, int) or isinstance(insert_line, bool):
        # DESIGN: the reference would crash with a TypeError.
        raise ToolError(f"Invalid `insert_line` parameter: "
                        f"{json.dumps(insert_line)}. It should be an integer.")
    file_text = read_file(r).expandtabs()
    new_str = new_str.expandtabs()
    file_text_lines = file_text.split("\n")
    n = len(file_text_lines)
    if insert_line < 0 or insert_line > n:
        raise ToolError(f"Invalid `insert_line` parameter: {insert_line}. It "
                        f"should be within the range of lines of the file: "
                        f"{[0, n]}")
    new_str_lines = new_str.split("\n")
    new_file_text_lines = (file_text_lines[:insert_line] + new_str_lines
                           + file_text_lines[insert_line:])
    snippet_lines = (
        file_text_lines[max(0, insert_line - SNIPPET_LINES):insert_line]
        + new_str_lines
        + file_text_lines[insert_line:insert_line + SNIPPET_LINES])
    write_file(r, "\n".join(new_file_text_lines))
    return (f"The file {r.shown} has been edited. "
            + make_output("\n".join(snippet_lines),
                          "a snippet of the edited file",
                          max(1, insert_line - SNIPPET_LINES + 1))
            + "Review the changes and make sure they are as expected (correct "
              "indentation, no duplicate lines, etc). Edit the file again if "
              "necessary.")


def run(root, inp):
    """Runs one tool call; returns {"is_error", "output", "changed"}."""
    command = inp.get("command")
    path = inp.get("path")
    changed = False
    try:
        if not isinstance(command, str):
            raise ToolError("Parameter `command` is required.")   # DESIGN
        if not isinstance(path, str):
            raise ToolError("Parameter `path` is required.")      # DESIGN
        if "\0" in path:
            # DESIGN: pathlib would raise ValueError on the syscall.
            raise ToolError(f"The path {path} is outside the workspace; only "
                            f"files under {WORKSPACE} (the session's project) "
                            f"can be viewed or edited.")
        # The reference validates the path before it looks at the command.
        r = resolve(root, command, path)
        if command == "view":
            out = view(r, inp)
        elif command == "create":
            out = create(r, inp)
            changed = True
        elif command == "str_replace":
            out = str_replace(r, inp)
            changed = True
        elif command == "insert":
            out = insert(r, inp)
            changed = True
        else:
            raise ToolError(f"Unrecognized command {command}. The allowed "
                            f"commands for the {TOOL_NAME} tool are: "
                            f"{', '.join(COMMANDS)}")
    except ToolError as e:
        return {"is_error": True, "output": str(e), "changed": False}
    return {"is_error": False, "output": out, "changed": changed}


def main(argv):
    if len(argv) != 3:
        sys.stderr.write("usage: editor_model.py ROOT JSON\n")
        return 2
    res = run(argv[1], json.loads(argv[2]))
    sys.stdout.write(json.dumps(res) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
