#!/usr/bin/env bash
# render-conf.sh TEMPLATE OUT
#
# Copies TEMPLATE to OUT, replacing every @NAME@ (NAME = [A-Z][A-Z0-9_]*) with
# the value of the environment variable NAME. Substitution is a single pass, so
# a value that itself contains @OTHER@ is copied verbatim.
#
# Fails (exit 1, naming every offending variable, OUT left untouched) when a
# placeholder's variable is unset or empty, or when a value contains a newline
# (which could inject configuration). OUT is written atomically with mode 0600:
# rendered files may hold secrets (the Redis password).
#
# Used by scripts/start.sh and by tests/integration/lib.sh: same templates,
# same renderer. Variables must be *exported* (this runs as its own process).
set -euo pipefail

prog=${0##*/}
if [ $# -ne 2 ]; then
	echo "usage: $prog TEMPLATE OUT" >&2
	exit 2
fi
template=$1
out=$2

if [ ! -r "$template" ] || [ -d "$template" ]; then
	echo "$prog: cannot read template: $template" >&2
	exit 1
fi

out_dir=$(dirname -- "$out")
if [ ! -d "$out_dir" ]; then
	echo "$prog: output directory does not exist: $out_dir" >&2
	exit 1
fi

tmp=$(mktemp "$out_dir/.${out##*/}.XXXXXX")
trap 'rm -f -- "$tmp"' EXIT

# awk (mawk or gawk) reads the values straight from ENVIRON, so values are never
# interpreted by a shell, sed or a regex replacement.
if ! LC_ALL=C awk -v prog="$prog" -v tmpl="$template" '
	{
		line = $0
		res = ""
		while (match(line, /@[A-Z][A-Z0-9_]*@/)) {
			name = substr(line, RSTART + 1, RLENGTH - 2)
			if (!(name in ENVIRON) || ENVIRON[name] == "") {
				if (!(name in missing)) {
					missing[name] = 1
					order[++n] = name
				}
				res = res substr(line, 1, RSTART + RLENGTH - 1)
			} else {
				value = ENVIRON[name]
				if (index(value, "\n") > 0 && !(name in badval)) {
					badval[name] = 1
					border[++nb] = name
				}
				res = res substr(line, 1, RSTART - 1) value
			}
			line = substr(line, RSTART + RLENGTH)
		}
		print res line
	}
	END {
		for (i = 1; i <= n; i++)
			printf "%s: %s: placeholder @%s@: environment variable %s is unset or empty\n", prog, tmpl, order[i], order[i] > "/dev/stderr"
		for (i = 1; i <= nb; i++)
			printf "%s: %s: placeholder @%s@: value of %s contains a newline\n", prog, tmpl, border[i], border[i] > "/dev/stderr"
		if (n + nb > 0)
			exit 1
	}
' "$template" >"$tmp"; then
	exit 1
fi

chmod 0600 "$tmp"
mv -f -- "$tmp" "$out"
trap - EXIT
