#!/usr/bin/env bash
# t_editor.sh: the str_replace_based_edit_tool (fcgi-app/editor.c) against the
# reference behaviour Claude is trained on.
#
#   1. the reference acceptance cases E1-E27 (AQ edit_test.py; research
#      §5.4), with exact strings where the research gives them; undo_edit must
#      be refused with the 20250728 wording;
#   2. a seeded differential test: a few hundred random calls, each run on two
#      copies of one tree, by the C driver (tests/tools/editor_run) and by the
#      Python model (tests/unit/editor_model.py); is_error, output and the
#      resulting files must be identical. A mismatch is shrunk to a small
#      repro and printed as a TAP diagnostic;
#   3. confinement: symlinks and ".." leading out, relative paths, NUL bytes,
#      hidden entries and depth in directory listings;
#   4. further reference details (path normalisation, file modes, symlinked
#      files, listing truncation...). Open design questions are TAP "TODO".
#
# Environment (set by `make check`): TOP_SRCDIR, TOP_BUILDDIR. By hand:
#   tests/unit/t_editor.sh            (uses build/tests/tools/editor_run)
#   EDITOR_SEED=7 EDITOR_CASES=2000 tests/unit/t_editor.sh
#   EDITOR_VERBOSE=1 ...              (prints every mismatch, not only the first)
#   EDITOR_SHRINK=0 ...               (no shrinking of the first mismatch)
set -u
TOP_SRCDIR=${TOP_SRCDIR:-$(cd "$(dirname "$0")/../.." && pwd)}
TOP_BUILDDIR=${TOP_BUILDDIR:-$TOP_SRCDIR/build}
DRIVER=$TOP_BUILDDIR/tests/tools/editor_run

if ! command -v python3 >/dev/null 2>&1; then
	echo "1..0 # SKIP python3 is not installed"
	exit 0
fi
if [ ! -x "$DRIVER" ]; then
	echo "1..0 # SKIP $DRIVER is not built (make tests/tools/editor_run)"
	exit 0
fi

exec python3 - "$DRIVER" "$TOP_SRCDIR/tests/unit" <<'PY'
import json
import os
import random
import shutil
import stat
import subprocess
import sys
import tempfile
import time

DRIVER, MODEL_DIR = sys.argv[1], sys.argv[2]
sys.path.insert(0, MODEL_DIR)
import editor_model as M  # noqa: E402

SEED = int(os.environ.get("EDITOR_SEED", "20250728"))
NCASES = int(os.environ.get("EDITOR_CASES", "500"))
VERBOSE = os.environ.get("EDITOR_VERBOSE") == "1"
SHRINK = os.environ.get("EDITOR_SHRINK", "1") == "1"
W = "/workspace"
os.umask(0o022)
T0 = time.time()
TMP = tempfile.mkdtemp(prefix="t_editor.")

# ---- TAP ---------------------------------------------------------------------
N = 0
FAILED = 0


def diag(msg):
    for line in str(msg).split("\n"):
        print("# " + line)


def ok(cond, name, detail=None, todo=None):
    global N, FAILED
    N += 1
    d = f" # TODO {todo}" if todo else ""
    print(f"{'ok' if cond else 'not ok'} {N} - {name}{d}")
    if not cond:
        if not todo:
            FAILED += 1
        if detail:
            diag(detail)
    sys.stdout.flush()


def is_(got, want, name, todo=None):
    ok(got == want, name, f"got:  {got!r}\nwant: {want!r}", todo)


# ---- trees -------------------------------------------------------------------
# A tree is {rel: bytes | str} for files, {rel + "/": None} for directories and
# {rel: ("link", target)} for symlinks.

def build(root, tree):
    for rel, v in sorted(tree.items()):
        p = os.path.join(root, rel.rstrip("/"))
        os.makedirs(os.path.dirname(p), exist_ok=True)
        if rel.endswith("/"):
            os.makedirs(p, exist_ok=True)
        elif isinstance(v, tuple) and v[0] == "link":
            os.symlink(v[1], p)
        elif isinstance(v, tuple) and v[0] == "mode":
            with open(p, "wb") as f:
                f.write(v[2] if isinstance(v[2], bytes) else v[2].encode())
            os.chmod(p, v[1])
        else:
            with open(p, "wb") as f:
                f.write(v if isinstance(v, bytes) else v.encode())


def snapshot(root, modes=False):
    snap = {}
    for dp, dns, fns in os.walk(root):
        for n in dns + fns:
            p = os.path.join(dp, n)
            rel = os.path.relpath(p, root)
            st = os.lstat(p)
            if stat.S_ISLNK(st.st_mode):
                snap[rel] = ("link", os.readlink(p))
            elif stat.S_ISDIR(st.st_mode):
                snap[rel] = ("dir",)
            else:
                with open(p, "rb") as f:
                    snap[rel] = ("file", f.read()) + (
                        (stat.S_IMODE(st.st_mode),) if modes else ())
    return snap


def fresh(tree=None):
    d = tempfile.mkdtemp(dir=TMP)
    if tree:
        build(d, tree)
    return d


def c_run(root, inp):
    arg = inp if isinstance(inp, str) else json.dumps(inp, ensure_ascii=False)
    p = subprocess.run([DRIVER, root, arg], stdin=subprocess.DEVNULL,
                       capture_output=True, timeout=30)
    if p.returncode != 0 or not p.stdout:
        return {"is_error": None, "output": f"<driver rc={p.returncode} "
                f"stderr={p.stderr.decode(errors='replace')!r}>",
                "changed": None}
    return json.loads(p.stdout)


CALLS = []


def call(tree, inp):
    """Runs inp in a fresh tree with the C driver: (result, root)."""
    CALLS.append((tree, inp))
    root = fresh(tree)
    return c_run(root, inp), root


def read(root, rel):
    with open(os.path.join(root, rel), "rb") as f:
        return f.read()


# ---- differential core ---------------------------------------------------------

def compare(tree, inp):
    """None when C and the model agree, else a description of the mismatch."""
    a, b = fresh(tree), fresh(tree)
    try:
        c = c_run(a, inp)
        m = M.run(b, inp)
        sa, sb = snapshot(a), snapshot(b)
    finally:
        shutil.rmtree(a, ignore_errors=True)
        shutil.rmtree(b, ignore_errors=True)
    why = []
    if c["is_error"] != m["is_error"]:
        why.append(f"is_error: C={c['is_error']} model={m['is_error']}")
    if c["output"] != m["output"]:
        why.append("output differs:\n" + show_diff(c["output"], m["output"]))
    if c["changed"] != m["changed"]:
        why.append(f"changed: C={c['changed']} model={m['changed']}")
    if sa != sb:
        for k in sorted(set(sa) | set(sb)):
            if sa.get(k) != sb.get(k):
                why.append(f"file {k}: C={short(sa.get(k))} "
                           f"model={short(sb.get(k))}")
    return "\n".join(why) if why else None


def short(v, n=300):
    r = repr(v)
    return r if len(r) <= n else r[:n] + f"...({len(r)} chars)"


def show_diff(c, m):
    i = 0
    while i < min(len(c), len(m)) and c[i] == m[i]:
        i += 1
    lo = max(0, i - 60)
    return (f"  first difference at char {i} (C len {len(c)}, model len "
            f"{len(m)})\n  C:     ...{c[lo:i + 80]!r}\n"
            f"  model: ...{m[lo:i + 80]!r}")


def shrink(tree, inp, budget=150):
    """Greedy delta debugging on f.txt and the string fields, keeping a mismatch."""
    runs = [0]

    def bad(t, i):
        runs[0] += 1
        return compare(t, i) is not None

    def ddmin(seq, rebuild):
        n = 2
        while len(seq) >= 1 and runs[0] < budget:
            chunk = max(1, len(seq) // n)
            reduced = False
            for s in range(0, len(seq), chunk):
                cand = seq[:s] + seq[s + chunk:]
                if runs[0] >= budget:
                    break
                if bad(*rebuild(cand)):
                    seq = cand
                    n = max(n - 1, 2)
                    reduced = True
                    break
            if not reduced:
                if chunk == 1:
                    break
                n = min(len(seq), n * 2)
        return seq

    def shrink_file(tree, inp):
        if not isinstance(tree.get("f.txt"), str):
            return tree

        def rb(ls):
            t = dict(tree)
            t["f.txt"] = "\n".join(ls)
            return t, inp
        tree = rb(ddmin(tree["f.txt"].split("\n"), rb))[0]
        if len(tree["f.txt"]) < 400:
            def rb(chars):
                t = dict(tree)
                t["f.txt"] = "".join(chars)
                return t, inp
            tree = rb(ddmin(list(tree["f.txt"]), rb))[0]
        return tree

    def shrink_strings(tree, inp):
        for key in ("old_str", "new_str", "insert_text", "file_text"):
            if isinstance(inp.get(key), str) and len(inp[key]) > 1:
                def rb(chars, key=key):
                    i = dict(inp)
                    i[key] = "".join(chars)
                    return tree, i
                inp = rb(ddmin(list(inp[key]), rb))[1]
        return inp

    tree = shrink_file(tree, inp)
    inp = shrink_strings(tree, inp)
    tree = shrink_file(tree, inp)
    return tree, inp


def repro(tree, inp):
    a = fresh(tree)
    c = c_run(a, inp)
    shutil.rmtree(a, ignore_errors=True)
    b = fresh(tree)
    m = M.run(b, inp)
    shutil.rmtree(b, ignore_errors=True)
    files = {k: v for k, v in tree.items() if k == "f.txt"}
    return (f"repro: tree f.txt={short(files.get('f.txt'), 600)}\n"
            f"  input: {json.dumps(inp, ensure_ascii=False)[:800]}\n"
            f"  C:     {short(c, 900)}\n  model: {short(m, 900)}")


def same(tree, inp, name, todo=None):
    """One differential check (the model is the oracle)."""
    why = compare(tree, inp)
    ok(why is None, name, None if why is None else why + "\n" + repro(tree, inp),
       todo)


# ===============================================================================
# 1. Reference acceptance cases (research §5.4), /test -> /workspace
# ===============================================================================
F = W + "/file.txt"
FOUR = "Line 1\nLine 2\nLine 3\nLine 4"
HDR = "Here's the result of running `cat -n` on "
REVIEW = ("Review the changes and make sure they are as expected. Edit the file "
          "again if necessary.")
REVIEW_INS = ("Review the changes and make sure they are as expected (correct "
              "indentation, no duplicate lines, etc). Edit the file again if "
              "necessary.")
UNDO_REFUSED = ("Unrecognized command undo_edit. The allowed commands for the "
                "str_replace_based_edit_tool tool are: view, create, "
                "str_replace, insert")

r, _ = call({"file.txt": "File content"}, {"command": "view", "path": F})
ok(r["is_error"] is False and "File content" in r["output"],
   "E1 view file shows its content", short(r))
r, _ = call({"file.txt": FOUR}, {"command": "view", "path": F})
is_(r, {"is_error": False, "changed": False, "output":
        HDR + F + ":\n     1\tLine 1\n     2\tLine 2\n     3\tLine 3\n"
        "     4\tLine 4\n"}, "E1 view file: exact reference output (4 lines)")
r, _ = call({"file.txt": "a\nb\n"}, {"command": "view", "path": F})
is_(r["output"], HDR + F + ":\n     1\ta\n     2\tb\n     3\t\n",
    "a file ending in \\n shows an extra empty numbered line")

r, _ = call({"dir/file1.txt": "1", "dir/file2.txt": "2"},
            {"command": "view", "path": W + "/dir"})
is_(r, {"is_error": False, "changed": False, "output":
        "Here's the files and directories up to 2 levels deep in /workspace/dir,"
        " excluding hidden items:\n/workspace/dir\n/workspace/dir/file1.txt\n"
        "/workspace/dir/file2.txt\n\n"}, "E2 view dir lists both files")

r, _ = call({"file.txt": FOUR}, {"command": "view", "path": F,
                                 "view_range": [2, 3]})
is_(r, {"is_error": False, "changed": False, "output":
        HDR + F + ":\n     2\tLine 2\n     3\tLine 3\n"}, "E3 view_range [2, 3]")

for vr, want in (
        ([3, 2], "Invalid `view_range`: [3, 2]. Its second element `2` should "
                 "be larger or equal than its first `3`"),
        ([0, 2], "Invalid `view_range`: [0, 2]. Its first element `0` should be "
                 "within the range of lines of the file: [1, 4]"),
        ([1, 9], "Invalid `view_range`: [1, 9]. Its second element `9` should "
                 "be smaller than the number of lines in the file: `4`"),
        ([1], "Invalid `view_range`. It should be a list of two integers.")):
    r, _ = call({"file.txt": FOUR}, {"command": "view", "path": F,
                                     "view_range": vr})
    is_(r, {"is_error": True, "changed": False, "output": want},
        f"E4 invalid view_range {vr}")

r, _ = call({}, {"command": "view", "path": W + "/nonexistent/file.txt"})
is_(r, {"is_error": True, "changed": False, "output":
        "The path /workspace/nonexistent/file.txt does not exist. Please "
        "provide a valid path."}, "E5/E24 view a missing path")

r, _ = call({"dir/": None}, {"command": "view", "path": W + "/dir",
                             "view_range": [1, 2]})
is_(r, {"is_error": True, "changed": False, "output":
        "The `view_range` parameter is not allowed when `path` points to a "
        "directory."}, "E6 view_range on a directory")

r, root = call({}, {"command": "create", "path": W + "/new.txt",
                    "file_text": "New file content"})
is_(r, {"is_error": False, "changed": True, "output":
        "File created successfully at: /workspace/new.txt"}, "E7 create")
is_(read(root, "new.txt"), b"New file content",
    "E7 create writes the bytes exactly (no newline added)")

r, root = call({}, {"command": "create", "path": W + "/new.txt"})
is_(r, {"is_error": True, "changed": False, "output":
        "Parameter `file_text` is required for command: create"},
    "E8 create without file_text")
ok(not os.path.exists(os.path.join(root, "new.txt")),
   "E8 create without file_text writes nothing")

r, root = call({"file.txt": "old"}, {"command": "create", "path": F,
                                     "file_text": "Content"})
is_(r, {"is_error": True, "changed": False, "output":
        "File already exists at: /workspace/file.txt. Cannot overwrite files "
        "using command `create`."}, "E9/E25 create on an existing file")
is_(read(root, "file.txt"), b"old", "E9 the existing file is untouched")

r, root = call({"file.txt": "Original content"},
               {"command": "str_replace", "path": F, "old_str": "Original",
                "new_str": "New"})
is_(r, {"is_error": False, "changed": True, "output":
        "The file /workspace/file.txt has been edited. " + HDR +
        "a snippet of /workspace/file.txt:\n     1\tNew content\n" + REVIEW},
    "E10/E13 str_replace: exact output, reported as a change")
is_(read(root, "file.txt"), b"New content", "E10 str_replace file content")

r, _ = call({"file.txt": "Original content"},
            {"command": "str_replace", "path": F, "old_str": "Nonexistent",
             "new_str": "x"})
is_(r, {"is_error": True, "changed": False, "output":
        "No replacement was performed, old_str `Nonexistent` did not appear "
        "verbatim in /workspace/file.txt."}, "E11 str_replace with 0 matches")

r, root = call({"file.txt": "Test test test"},
               {"command": "str_replace", "path": F, "old_str": "test",
                "new_str": "example"})
is_(r, {"is_error": True, "changed": False, "output":
        "No replacement was performed. Multiple occurrences of old_str `test` "
        "in lines [1]. Please ensure it is unique"},
    "E12 str_replace with 2 matches on one line")
is_(read(root, "file.txt"), b"Test test test", "E12 the file is untouched")
r, _ = call({"file.txt": "a x\nb\nx c\nx\n"},
            {"command": "str_replace", "path": F, "old_str": "x"})
is_(r["output"], "No replacement was performed. Multiple occurrences of "
    "old_str `x` in lines [1, 3, 4]. Please ensure it is unique",
    "multiple occurrences list the 1-based lines that contain old_str")
r, _ = call({"file.txt": "a\nb\na\nb\n"},
            {"command": "str_replace", "path": F, "old_str": "a\nb"})
is_(r["output"], "No replacement was performed. Multiple occurrences of "
    "old_str `a\nb` in lines []. Please ensure it is unique",
    "multiple occurrences of a multi-line old_str: an empty line list")

for name, tree, inp, want in (
        ("E14 insert in the middle", {"file.txt": "Line 1\nLine 2\nLine 3"},
         {"insert_line": 2, "new_str": "New Line"},
         b"Line 1\nLine 2\nNew Line\nLine 3"),
        ("E15 insert at the top", {"file.txt": "Line 1\nLine 2"},
         {"insert_line": 0, "new_str": "New First Line"},
         b"New First Line\nLine 1\nLine 2"),
        ("E16 insert at the end", {"file.txt": "Line 1\nLine 2"},
         {"insert_line": 2, "new_str": "New Last Line"},
         b"Line 1\nLine 2\nNew Last Line"),
        ("insert_text (what Claude 4.5 sends) works like new_str",
         {"file.txt": "Line 1\nLine 2"},
         {"insert_line": 1, "insert_text": "HELLO\n"},
         b"Line 1\nHELLO\n\nLine 2")):
    inp.update({"command": "insert", "path": F})
    r, root = call(tree, inp)
    ok(r["is_error"] is False and r["changed"] is True, name + ": success",
       short(r))
    is_(read(root, "file.txt"), want, name + ": file content")

r, _ = call({"file.txt": "Line 1\nLine 2\nLine 3"},
            {"command": "insert", "path": F, "insert_line": 2,
             "new_str": "New Line"})
is_(r["output"], "The file /workspace/file.txt has been edited. " + HDR +
    "a snippet of the edited file:\n     1\tLine 1\n     2\tLine 2\n"
    "     3\tNew Line\n     4\tLine 3\n" + REVIEW_INS,
    "E14 insert: exact output")

r, root = call({"file.txt": "Line 1\nLine 2"},
               {"command": "insert", "path": F, "insert_line": 5,
                "new_str": "x"})
is_(r, {"is_error": True, "changed": False, "output":
        "Invalid `insert_line` parameter: 5. It should be within the range of "
        "lines of the file: [0, 2]"}, "E17 insert_line out of range")
is_(read(root, "file.txt"), b"Line 1\nLine 2", "E17 the file is untouched")
r, _ = call({"file.txt": "x"}, {"command": "insert", "path": F,
                                "new_str": "y"})
is_(r["output"], "Parameter `insert_line` is required for command: insert",
    "insert without insert_line")
r, _ = call({"file.txt": "x"}, {"command": "insert", "path": F,
                                "insert_line": 0})
is_(r["output"], "Parameter `new_str` is required for command: insert",
    "insert without new_str / insert_text")
r, _ = call({"file.txt": "x"}, {"command": "str_replace", "path": F})
is_(r["output"], "Parameter `old_str` is required for command: str_replace",
    "str_replace without old_str")

r, _ = call({"file.txt": "Original content"},
            {"command": "insert", "path": F, "insert_line": 1,
             "new_str": "New Line"})
ok(r["is_error"] is False and r["changed"] is True,
   "E18 insert is reported as a change", short(r))

r, root = call({"file.txt": "Original content"},
               {"command": "undo_edit", "path": F})
is_(r, {"is_error": True, "changed": False, "output": UNDO_REFUSED},
    "E19-E21 undo_edit is refused with the 20250728 wording")
is_(read(root, "file.txt"), b"Original content", "undo_edit changes nothing")
r, _ = call({"file.txt": "x"}, {"command": "delete", "path": F})
is_(r["output"], UNDO_REFUSED.replace("undo_edit", "delete", 1),
    "an unknown command is refused with the list of commands")

r, _ = call({"valid/path.txt": "ok"}, {"command": "view",
                                       "path": W + "/valid/path.txt"})
is_(r["is_error"], False, "E22 a valid file path passes validation")
r, _ = call({}, {"command": "view", "path": "relative/path.txt"})
is_(r, {"is_error": True, "changed": False, "output":
        "The path relative/path.txt is not an absolute path, it should start "
        "with `/`. Maybe you meant relative/path.txt?"},
    "E23 a relative path: the reference wording")
r, _ = call({"directory/": None}, {"command": "str_replace",
                                   "path": W + "/directory", "old_str": "a",
                                   "new_str": "b"})
is_(r, {"is_error": True, "changed": False, "output":
        "The path /workspace/directory is a directory and only the `view` "
        "command can be used on directories"}, "E26 str_replace on a directory")
for cmd in ("insert", "create"):
    r, _ = call({"directory/": None}, {"command": cmd, "path": W + "/directory",
                                       "insert_line": 0, "new_str": "x",
                                       "file_text": "x"})
    ok(r["is_error"] is True, f"{cmd} on a directory is an error", short(r))
r, _ = call({"directory/": None}, {"command": "view", "path": W + "/directory"})
is_(r["is_error"], False, "E27 view on a directory passes validation")

# Extra cases from AQ-RUN (research §5.4).
r, root = call({"file.txt": "keep DROP keep"},
               {"command": "str_replace", "path": F, "old_str": " DROP"})
is_(read(root, "file.txt"), b"keep keep",
    "str_replace with new_str omitted deletes the text")
r, root = call({"file.txt": "\tone\ntwo\t2\n"},
               {"command": "str_replace", "path": F, "old_str": "two",
                "new_str": "TWO"})
is_(read(root, "file.txt"), b"        one\nTWO     2\n",
    "a tab in the file becomes spaces after any edit")
r, root = call({"file.txt": "a\tb\n"},
               {"command": "str_replace", "path": F, "old_str": "a\tb",
                "new_str": "c\td"})
is_(read(root, "file.txt"), b"c       d\n",
    "tabs in old_str and new_str are expanded before matching and writing")

# The oracle itself: C passes the literal strings above, so the model must
# agree with C on every one of those inputs.
bad = [(t, i, w) for t, i in CALLS for w in [compare(t, i)] if w is not None]
ok(not bad, f"C == model on all {len(CALLS)} acceptance inputs (C matches the "
   f"literal strings, so this also checks the oracle)",
   "\n".join(w + "\n" + repro(t, i) for t, i, w in bad[:3]))

# ===============================================================================
# 2. Differential test: C driver vs Python model on random cases
# ===============================================================================
rng = random.Random(SEED)
WORDS = ["alpha", "beta", "gamma", "foo", "bar", "x", "return 0;", "}", "{",
         "if (a) {", "int i = 0;", "# comment", "def f():", "print(x)", "TODO",
         "  pad", "    deep", "foo bar", "a b c"]
TABBY = ["\tindented", "\t\tx", "a\tb", "ab\tc\td", "  \t  y", "é\tz",
         "日本\t語", "\tx\ty", "1234567\t8", "12345678\t9", "\t"]
UNI = ["héllo wörld", "日本語のテキスト", "emoji 😀 here", "Ωμέγα", "ñandú",
       "ä", "😀😀", "naïve café"]


def rline():
    k = rng.random()
    if k < 0.10:
        return ""
    if k < 0.28:
        return rng.choice(TABBY)
    if k < 0.40:
        return rng.choice(UNI)
    return " ".join(rng.choice(WORDS) for _ in range(rng.randint(1, 4)))


def rtext(maxlines=6, nl=None):
    n = rng.randint(0, maxlines)
    s = "\n".join(rline() for _ in range(n))
    if (nl if nl is not None else rng.random() < 0.4):
        s += "\n"
    return s


def rfile(kind):
    if kind == "empty":
        return rng.choice(["", "\n", "\n\n"])
    if kind == "long":
        n = rng.randint(700, 2500)
        return "\n".join(rline() for _ in range(n)) + \
            ("\n" if rng.random() < 0.5 else "")
    if kind == "longuni":
        # More bytes than characters: 16000 bytes is not 16000 characters.
        unit = rng.choice(["é", "日", "😀", "ñ\t"])
        n = rng.randint(150, 450)
        return "\n".join(unit * rng.randint(20, 60) for _ in range(n)) + \
            ("\n" if rng.random() < 0.5 else "")
    return rtext(maxlines=14)


def rview_range(nl):
    k = rng.randint(0, 13)
    s = rng.randint(1, max(1, nl))
    e = rng.randint(s, max(s, nl))
    return [[s, e], [s, e], [s, -1], [s, -1], [1, nl], [nl, nl], [nl, -1],
            [0, e], [nl + 1, -1], [s, nl + 1], [s, s - 1], [s, -2],
            rng.choice([[1], [1, 2, 3], ["1", 2], [1.5, 2], [], None]),
            [rng.randint(-3, nl + 3), rng.randint(-3, nl + 3)]][k]


def rold(content):
    lines = content.split("\n")
    k = rng.random()
    if k < 0.08 or not content:
        return rng.choice(["zzz_not_there", "Alpha", "\t", "é", "x"])
    i = rng.randrange(len(lines))
    if k < 0.35 and lines[i]:
        a = rng.randrange(len(lines[i]))
        b = rng.randint(a + 1, len(lines[i]))
        return lines[i][a:b]
    if k < 0.55:
        return lines[i]
    if k < 0.70:
        j = min(len(lines), i + rng.randint(2, 4))
        return "\n".join(lines[i:j])
    if k < 0.80:
        # Claude often sends the expanded (spaces) form of a tabbed line.
        return lines[i].expandtabs()
    if k < 0.88:
        a = rng.randrange(len(content))
        return content[a:a + rng.randint(1, 30)]
    return lines[i] + "\n"


def rcase():
    kind = rng.choices(["normal", "empty", "long", "longuni"],
                       [70, 8, 12, 10])[0]
    content = rfile(kind)
    tree = {"f.txt": content, "sub/a.py": "print(1)\n", "sub/deeper/x": "x",
            ".hidden": "h", "sub/.h2": "", "z/": None}
    nl = len(content.split("\n"))
    path = W + "/f.txt"
    if rng.random() < 0.03:
        path = rng.choice([W + "/missing.txt", W + "/sub", W, W + "/sub/a.py"])
    cmd = rng.choices(["view", "view_range", "str_replace", "insert",
                       "create"], [14, 22, 32, 22, 10])[0]
    if cmd == "view":
        if rng.random() < 0.2:
            path = rng.choice([W, W + "/sub", W + "/z"])
        inp = {"command": "view", "path": path}
    elif cmd == "view_range":
        inp = {"command": "view", "path": path}
        vr = rview_range(nl)
        if vr is not None or rng.random() < 0.5:
            inp["view_range"] = vr
    elif cmd == "str_replace":
        inp = {"command": "str_replace", "path": path, "old_str": rold(content)}
        k = rng.random()
        if k < 0.25:
            pass                                  # new_str omitted: delete
        elif k < 0.32:
            inp["new_str"] = ""
        else:
            inp["new_str"] = rtext(4)
    elif cmd == "insert":
        line = rng.choice([0, nl, rng.randint(0, nl), rng.randint(0, nl),
                           nl + 1, -1, rng.randint(-2, nl + 2)])
        inp = {"command": "insert", "path": path, "insert_line": line}
        text = rtext(4) if rng.random() < 0.9 else ""
        k = rng.random()
        if k < 0.45:
            inp["insert_text"] = text
        elif k < 0.9:
            inp["new_str"] = text
        elif k < 0.96:
            inp["insert_text"] = text
            inp["new_str"] = "NOT THIS"
    else:
        if rng.random() < 0.7:
            path = rng.choice([W + "/new.txt", W + "/sub/new.py", W + "/z/ü.txt"])
        inp = {"command": "create", "path": path}
        if rng.random() < 0.93:
            inp["file_text"] = rtext(8)
    return cmd, kind, tree, inp


cats = {}
for _ in range(NCASES):
    cmd, kind, tree, inp = rcase()
    cat = cmd + (" (long file)" if kind in ("long", "longuni") and
                 cmd != "create" else "")
    why = compare(tree, inp)
    cats.setdefault(cat, []).append((tree, inp, why))

for cat in sorted(cats):
    cases = cats[cat]
    bad = [c for c in cases if c[2] is not None]
    detail = None
    if bad:
        tree, inp, why = bad[0]
        lines = [f"{len(bad)} of {len(cases)} cases differ; the first:",
                 why, repro(tree, inp)]
        if SHRINK and time.time() - T0 < 20:
            st, si = shrink(tree, inp)
            lines.append("shrunk " + repro(st, si))
        if VERBOSE:
            for tree, inp, why in bad[1:]:
                lines.append("----\n" + why + "\n" + repro(tree, inp))
        detail = "\n".join(lines)
    ok(not bad, f"differential {cat}: C == model on {len(cases)} random cases "
       f"(seed {SEED})", detail)

# A few fixed differential cases at the edges.
for tree, inp, name in (
        ({"f.txt": "a\nb\n"}, {"command": "view", "path": W + "/f.txt",
                               "view_range": [1, 3]},
         "view_range up to the empty line after a final newline"),
        ({"f.txt": "a\nb\n"}, {"command": "view", "path": W + "/f.txt",
                               "view_range": [3, 3]},
         "view_range of only the empty last line"),
        ({"f.txt": "a\nb\n"}, {"command": "view", "path": W + "/f.txt",
                               "view_range": [2, 2]},
         "view_range [2, 2] in a file ending in a newline"),
        ({"f.txt": ""}, {"command": "view", "path": W + "/f.txt",
                         "view_range": [1, 1]}, "view_range [1, 1] of an empty file"),
        ({"f.txt": ""}, {"command": "view", "path": W + "/f.txt"},
         "view an empty file"),
        ({"f.txt": ""}, {"command": "insert", "path": W + "/f.txt",
                         "insert_line": 0, "new_str": "x"}, "insert into an empty file at 0"),
        ({"f.txt": ""}, {"command": "insert", "path": W + "/f.txt",
                         "insert_line": 1, "new_str": "x"}, "insert into an empty file at 1"),
        ({"f.txt": "a\n"}, {"command": "insert", "path": W + "/f.txt",
                            "insert_line": 2, "new_str": "b\n"},
         "insert after the empty last line"),
        ({"f.txt": "aaa"}, {"command": "str_replace", "path": W + "/f.txt",
                            "old_str": "aa", "new_str": "X"},
         "overlapping occurrences count once (str.count)"),
        ({"f.txt": "ab\ncd"}, {"command": "str_replace", "path": W + "/f.txt",
                               "old_str": ""}, "an empty old_str matches everywhere"),
        ({"f.txt": "1\n2\n3\n4\n5\n6\n7\n8\n9\n10\n11\n12\n"},
         {"command": "str_replace", "path": W + "/f.txt", "old_str": "7\n8\n",
          "new_str": "x\ny\nz\n"}, "snippet bounds after a multi-line replace"),
        ({"f.txt": "1\n2\n3\n4\n5\n6\n7\n8\n9\n10\n11\n12"},
         {"command": "str_replace", "path": W + "/f.txt", "old_str": "12"},
         "snippet of a deletion on the last line"),
        ({"f.txt": "1\n2\n3\n4\n5\n6\n7\n8\n9\n10"},
         {"command": "insert", "path": W + "/f.txt", "insert_line": 10,
          "new_str": "a\nb"}, "snippet of an insert at the end"),
        ({"f.txt": "\u00e9" * 12000}, {"command": "view", "path": W + "/f.txt"},
         "12000 characters (24000 bytes) are not truncated"),
        ({"f.txt": "x" * 15999 + "\u00e9\u00e9"},
         {"command": "view", "path": W + "/f.txt"},
         "truncation at exactly 16000 characters"),
        ({"f.txt": "\t" * 3000}, {"command": "view", "path": W + "/f.txt"},
         "truncation happens before tab expansion"),
        ({"f.txt": "a\nb"}, {"command": "insert", "path": W + "/f.txt",
                             "insert_line": "1", "new_str": "x"},
         "insert_line as a string is refused"),
        ({"f.txt": "a\nb"}, {"command": "insert", "path": W + "/f.txt",
                             "insert_line": 1.5, "new_str": "x"},
         "insert_line as a float is refused"),
        ({"f.txt": "a\nb"}, {"command": "view", "path": W + "/f.txt",
                             "view_range": [True, 2]},
         "view_range holding a boolean is refused"),
        ({"f.txt": "a\nb"}, {"command": "view", "path": W + "/f.txt",
                             "view_range": [1, 99999999999]},
         "view_range with a huge end"),
):
    same(tree, inp, "edge: " + name)

# ===============================================================================
# 3. Confinement
# ===============================================================================
OUT_REL = "../outside"


def outside_tree():
    return {"ws/f.txt": "inside\n", "ws/escape": ("link", "/"),
            "ws/up": ("link", "../outside"),
            "ws/secretlink": ("link", "../outside/secret"),
            "ws/abslink": ("link", None),      # filled in below
            "ws/dangle": ("link", "../outside/notyet"),
            "ws/in_link": ("link", "f.txt"),
            "ws/.hidden/x": "x", "ws/sub/.dot": "d", "ws/sub/s.txt": "s",
            "ws/sub/deep/d.txt": "d", "outside/secret": "secret\n"}


def confined(inp, name, want_sub=None):
    base = fresh()
    t = outside_tree()
    t["ws/abslink"] = ("link", os.path.join(base, "outside/secret"))
    build(base, t)
    before = snapshot(os.path.join(base, "outside"), modes=True)
    r = c_run(os.path.join(base, "ws"), inp)
    after = snapshot(os.path.join(base, "outside"), modes=True)
    good = r["is_error"] is True and before == after and \
        (want_sub is None or want_sub in r["output"])
    ok(good, name, f"got {short(r)}\noutside before={short(before)} "
       f"after={short(after)}")
    return r


for path, what in ((W + "/escape/etc/passwd", "a symlink to /"),
                   (W + "/escape", "a symlink to / (directory view)"),
                   (W + "/up/secret", "a symlink to ../outside"),
                   (W + "/up", "a symlink to ../outside (directory view)"),
                   (W + "/secretlink", "a file symlink to ../outside/secret"),
                   (W + "/abslink", "an absolute file symlink out")):
    confined({"command": "view", "path": path}, f"view through {what} is refused")
    confined({"command": "str_replace", "path": path, "old_str": "secret",
              "new_str": "PWNED"}, f"str_replace through {what} is refused")
    confined({"command": "insert", "path": path, "insert_line": 0,
              "insert_text": "PWNED"}, f"insert through {what} is refused")
for path, what in ((W + "/up/new.txt", "a symlinked directory out"),
                   (W + "/escape/tmp/cw-editor-test-must-not-exist",
                    "a symlink to /"),
                   (W + "/dangle", "a dangling symlink out"),
                   (W + "/secretlink", "a file symlink out")):
    confined({"command": "create", "path": path, "file_text": "PWNED"},
             f"create through {what} is refused")
ok(not os.path.exists("/tmp/cw-editor-test-must-not-exist"),
   "nothing was created in /tmp through the symlink to /")

for path in (W + "/../outside/secret", W + "/sub/../../outside/secret",
             W + "/sub/../f.txt",
             W + "/..", "/etc/passwd", "/workspacex/f.txt", "/", "/tmp"):
    r = confined({"command": "view", "path": path},
                 f"view {path} is refused as outside the workspace",
                 "outside the workspace")
r = confined({"command": "create", "path": W + "/../outside/new",
              "file_text": "x"}, "create with .. out is refused",
             "outside the workspace")
r = confined({"command": "view", "path": "workspace/f.txt"},
             "a relative path is refused")
is_(r["output"], "The path workspace/f.txt is not an absolute path, it should "
    "start with `/`. Maybe you meant workspace/f.txt?",
    "a relative path: the reference wording")
r = confined({"command": "view", "path": W + "/f.txt\u0000/../../outside/secret"},
             "a path holding a NUL (JSON \\u0000) is refused")
r = confined({"command": "view", "path": W + "/f.txt\u0000"},
             "a path ending in a NUL (JSON \\u0000) is refused")

base = fresh()
t = outside_tree()
t["ws/abslink"] = ("link", "/etc")
build(base, t)
r = c_run(os.path.join(base, "ws"), {"command": "view", "path": W})
is_(r, {"is_error": False, "changed": False, "output":
        "Here's the files and directories up to 2 levels deep in /workspace, "
        "excluding hidden items:\n/workspace\n/workspace/abslink\n"
        "/workspace/dangle\n/workspace/escape\n/workspace/f.txt\n"
        "/workspace/in_link\n/workspace/secretlink\n/workspace/sub\n"
        "/workspace/sub/deep\n/workspace/sub/s.txt\n/workspace/up\n\n"},
    "view /workspace: sorted, no hidden entries, 2 levels deep, symlinks "
    "listed but not followed out")
r = c_run(os.path.join(base, "ws"), {"command": "view", "path": W + "/in_link"})
is_(r["output"], HDR + "/workspace/in_link:\n     1\tinside\n     2\t\n",
    "a symlink to a file inside the workspace can be viewed")
r = c_run(os.path.join(base, "ws"), {"command": "view", "path": W + "/.hidden"})
ok(r["is_error"] is False, "a hidden directory can be viewed by name", short(r))

# NUL bytes in file contents.
r, root = call({"bin.dat": b"ab\0cd"}, {"command": "view", "path": W + "/bin.dat"})
ok(r["is_error"] is True and "binary" in r["output"],
   "view of a file holding NUL bytes is refused as binary", short(r))
r, root = call({"bin.dat": b"ab\0cd"}, {"command": "str_replace",
                                        "path": W + "/bin.dat", "old_str": "ab",
                                        "new_str": "x"})
ok(r["is_error"] is True and read(root, "bin.dat") == b"ab\0cd",
   "str_replace on a binary file is refused and changes nothing", short(r))
r, root = call({"bin.dat": b"ab\0cd"}, {"command": "insert",
                                        "path": W + "/bin.dat",
                                        "insert_line": 0, "new_str": "x"})
ok(r["is_error"] is True and read(root, "bin.dat") == b"ab\0cd",
   "insert on a binary file is refused and changes nothing", short(r))
for key, inp in (("file_text", {"command": "create", "path": W + "/n.txt",
                                "file_text": "abc\u0000def"}),
                 ("new_str", {"command": "str_replace", "path": W + "/f.txt",
                              "old_str": "abc", "new_str": "x\u0000y"}),
                 ("insert_text", {"command": "insert", "path": W + "/f.txt",
                                  "insert_line": 0,
                                  "insert_text": "x\u0000y"}),
                 ("old_str", {"command": "str_replace", "path": W + "/f.txt",
                              "old_str": "abc\u0000zzz", "new_str": "Q"})):
    r, root = call({"f.txt": "abc\n"}, inp)
    snap = snapshot(root)
    target = "n.txt" if key == "file_text" else "f.txt"
    got = snap.get(target, ("file", None))[1]
    exact = {"file_text": b"abc\0def", "new_str": b"x\0y\n",
             "insert_text": b"x\0y\nabc\n", "old_str": b"abc\n"}[key]
    ok(r["is_error"] is True and got in (None, b"abc\n") or
       r["is_error"] is False and got == exact,
       f"a NUL in {key} is refused or kept, never silently cut",
       f"got {short(r)}; {target} = {got!r}")

# ===============================================================================
# 4. Further reference details
# ===============================================================================
for mode in (0o755, 0o600):
    for inp in ({"command": "str_replace", "path": W + "/run.sh",
                 "old_str": "echo", "new_str": "printf"},
                {"command": "insert", "path": W + "/run.sh", "insert_line": 1,
                 "insert_text": "set -e"}):
        r, root = call({"run.sh": ("mode", mode, "#!/bin/sh\necho hi\n")}, inp)
        got = stat.S_IMODE(os.stat(os.path.join(root, "run.sh")).st_mode)
        ok(r["is_error"] is False and got == mode,
           f"{inp['command']} keeps the file mode {mode:o} (write_text "
           f"rewrites in place)", f"mode after: {got:o}; {short(r)}")

r, root = call({"docs/README.md": "hello\n", "README.md": ("link",
                                                           "docs/README.md")},
               {"command": "str_replace", "path": W + "/README.md",
                "old_str": "hello", "new_str": "bye"})
ok(r["is_error"] is False and os.path.islink(os.path.join(root, "README.md"))
   and read(root, "docs/README.md") == b"bye\n",
   "str_replace through a symlink inside the workspace edits the target and "
   "keeps the link", f"{short(r)}; {short(snapshot(root))}")

r, root = call({"a.txt": "hi\n", "b.txt": "x\n"}, {"command": "view",
                                                     "path": W})
os.link(os.path.join(root, "a.txt"), os.path.join(root, "hard.txt"))
r = c_run(root, {"command": "str_replace", "path": W + "/hard.txt",
                 "old_str": "hi", "new_str": "ho"})
ok(read(root, "a.txt") == b"ho\n",
   "str_replace on a hard-linked file edits the shared inode",
   f"a.txt={read(root, 'a.txt')!r} hard.txt={read(root, 'hard.txt')!r}",
   todo="design: atomic rename breaks hard links")

big = {f"d{i:03}/": None for i in range(60)}
big.update({f"d{i:03}/file_with_a_long_name_{j:03}.txt": "" for i in range(60)
            for j in range(8)})
same(big, {"command": "view", "path": W},
     "a long directory listing is truncated at 16000 characters (run())")
same({"real/a.txt": "a", "link": ("link", "real")}, {"command": "view",
                                                      "path": W},
     "a symlink to a directory is listed, not descended (find -P)")
for p in (W + "//f.txt", W + "/./f.txt", W + "/f.txt/", W + "/"):
    same({"f.txt": "x\n"}, {"command": "view", "path": p},
         f"the path {p!r} is printed normalised (pathlib)")
same({"f.txt": "a\nb"}, {"command": "view", "path": W + "/f.txt",
                         "view_range": []},
     "view_range [] means the whole file (`if view_range:`)")
same({"f.txt": "a"}, {"command": "view", "path": W + "/f.txt",
                      "view_range": None}, "view_range null means the whole file")
same({}, {"command": "undo_edit", "path": W + "/nope.txt"},
     "the path is validated before the command (undo_edit on a missing file)")
same({"f.txt": "a\r\nb\r\n"}, {"command": "view", "path": W + "/f.txt"},
     "CRLF: read_text() reads universal newlines (view)",
     todo="design: C keeps \\r; decide")
same({"f.txt": "a\r\nb\r\nc\r\n"}, {"command": "str_replace",
                                    "path": W + "/f.txt", "old_str": "a\nb",
                                    "new_str": "X"},
     "CRLF: a multi-line old_str from Claude matches a CRLF file",
     todo="design: C keeps \\r; decide")
same({}, {"command": "create", "path": W + "/no/such/dir/f.txt",
          "file_text": "x"},
     "create under a missing directory: the reference error text",
     todo="design: mkdir -p, or Python's OSError wording")

shutil.rmtree(TMP, ignore_errors=True)
diag(f"{NCASES} random cases, seed {SEED}, {time.time() - T0:.1f} s")
print(f"1..{N}")
PY
