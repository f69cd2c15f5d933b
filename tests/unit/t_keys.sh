#!/usr/bin/env bash
# t_keys.sh: the Redis keyspace is Cluster-safe (issue 12, docs/redis.md
# "Redis Cluster"), checked on the source:
#   1. no "cw:" key literal without the {c} hash tag in fcgi-app/*.c
#      (keys are built from CW_KP, fcgi-app/keys.h) nor in scripts/*.sh
#      (a line that names schema-1 keys on purpose says "keys-lint: old");
#   2. every EVAL declares keys (numkeys is never "0") and no Lua script
#      uses an ARGV value as a key name (keys come in KEYS, or are built
#      from the prefix inside the script);
#   3. keys.h: the prefix carries the tag, and the migration knows it.
set -u
TOP_SRCDIR=${TOP_SRCDIR:-$(cd "$(dirname "$0")/../.." && pwd)}
cd "$TOP_SRCDIR" || exit 1
n=0
ok() { n=$((n + 1)); echo "ok $n - $1"; }
not_ok() { n=$((n + 1)); echo "not ok $n - $1"; [ -z "${2:-}" ] || printf '%s\n' "$2" | sed 's/^/# /'; }
check() { # check DESCRIPTION OFFENDING-LINES
	if [ -z "$2" ]; then ok "$1"; else not_ok "$1" "$2"; fi
}

# C: drop comments (/* ... */ and //) before looking at literals.
strip_c() {
	python3 -c '
import re, sys
for fn in sys.argv[1:]:
    src = open(fn).read()
    src = re.sub(r"/\*.*?\*/", lambda m: "\n" * m.group(0).count("\n"), src, flags=re.S)
    for i, line in enumerate(src.split("\n"), 1):
        print("%s:%d:%s" % (fn, i, line))
' "$@"
}

echo "1..6"
C_SRC=$(strip_c fcgi-app/*.c fcgi-app/*.h)

check "1: no untagged \"cw:\" key literal in fcgi-app/*.[ch]" \
	"$(printf '%s\n' "$C_SRC" | grep -E "[\"']cw:[^{*]" | grep -v '^fcgi-app/migrate.c:.*OLD_PREFIX')"

check "1: no untagged cw: key name in scripts/*.sh" \
	"$(grep -nE "(^|[^a-z_])cw:[a-z_]" scripts/*.sh | grep -v '^[^:]*:[0-9]*:[[:space:]]*#' | grep -v 'keys-lint: old')"

check "2: every EVAL declares its keys (numkeys is never \"0\")" \
	"$(printf '%s\n' "$C_SRC" | grep -E '"EVAL",[^"]*"[^"]*",[[:space:]]*"0"|argv\[argc\+\+\] = "0";|k->argv\[k->argc\+\+\] = "0"')"

# Lua text lives in C string literals: a key argument taken from ARGV.
check "2: no Lua script uses an ARGV value as a key" \
	"$(printf '%s\n' "$C_SRC" | grep -E "redis\.call\('[A-Za-z]+', *ARGV\[|pcall\(redis\.call, *'[A-Za-z]+', *ARGV\[|cw_append\(ARGV\[|cw_perm_answer\(ARGV\[")"

check "2: every script call site passes a non-zero numkeys" \
	"$(printf '%s\n' "$C_SRC" | grep -nE 'store_cmdv\([^,]+, *"EVAL", *[a-z_]+, *"0"')"

grep -q '^#define CW_KP[[:space:]]*"cw:{c}:"' fcgi-app/keys.h &&
	grep -q 'CW_KP' fcgi-app/migrate.c &&
	ok "3: CW_KP is \"cw:{c}:\" and the migration renames into it" ||
	not_ok "3: CW_KP is \"cw:{c}:\" and the migration renames into it"
