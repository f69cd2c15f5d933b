# shellcheck shell=bash
# tests/integration/lib_metrics.sh: a strict check of the Prometheus text
# exposition format (0.0.4), for t_metrics*.sh. Source it after lib.sh and
# lib_auth.sh (metrics_fetch, metric).
#
# metrics_lint [TEXT]: prints one line per problem in TEXT (default
# $METRICS), nothing when the exposition is clean. Checked: every family has
# exactly one HELP and one TYPE line, before its samples; its samples are
# contiguous; names and label names are valid, label values correctly
# escaped; no series appears twice; values are numbers; counter families end
# in _total and are >= 0; histograms have _bucket (le ascending, counts
# cumulative, +Inf present and equal to _count), _sum and _count for each
# label set; le only on buckets. `promtool check metrics` is run as well when
# it is installed (its lint warnings are printed too).

METRICS_LINT_PY=$T/metrics_lint.py
cat >"$METRICS_LINT_PY" <<'PYEOF'
import math, re, sys

NAME = re.compile(r'[a-zA-Z_:][a-zA-Z0-9_:]*$')
LNAME = re.compile(r'[a-zA-Z_][a-zA-Z0-9_]*$')
TYPES = ("counter", "gauge", "histogram", "summary", "untyped")
problems = []


def bad(n, msg):
    problems.append("line %d: %s" % (n, msg))


def parse_labels(s, n):
    """s starts after '{'; returns (labels list, rest) or (None, None)."""
    labels, i = [], 0
    while True:
        if s[i:i + 1] == "}":
            return labels, s[i + 1:]
        m = re.match(r'([a-zA-Z_][a-zA-Z0-9_]*)="', s[i:])
        if not m:
            bad(n, "bad label syntax: %r" % s[i:i + 40])
            return None, None
        i += m.end()
        val = []
        while True:
            c = s[i:i + 1]
            if c == "":
                bad(n, "unterminated label value")
                return None, None
            if c == "\\":
                e = s[i + 1:i + 2]
                if e not in ("\\", '"', "n"):
                    bad(n, "bad escape \\%s in a label value" % e)
                val.append({"n": "\n"}.get(e, e))
                i += 2
                continue
            if c == '"':
                i += 1
                break
            if c == "\n":
                bad(n, "raw newline in a label value")
            val.append(c)
            i += 1
        if m.group(1).startswith("__"):
            bad(n, "reserved label name %s" % m.group(1))
        labels.append((m.group(1), "".join(val)))
        if s[i:i + 1] == ",":
            i += 1
            if s[i:i + 1] == "}":
                return labels, s[i + 1:]
        elif s[i:i + 1] != "}":
            bad(n, "expected , or } after a label")
            return None, None


def value(s):
    if s in ("+Inf", "Inf"):
        return math.inf
    if s == "-Inf":
        return -math.inf
    if s == "NaN":
        return math.nan
    return float(s)


helps, types, seen_fam, done_fam = {}, {}, set(), set()
series = set()
hist = {}       # (family, labels without le) -> {"b": [(le, v)], "sum", "count"}
current = None
text = sys.stdin.read()
if not text.endswith("\n"):
    problems.append("the exposition does not end with a newline")
for n, line in enumerate(text.split("\n")[:-1], 1):
    if line == "":
        continue
    if line.startswith("#"):
        p = line.split(" ", 3)
        if len(p) >= 3 and p[1] in ("HELP", "TYPE"):
            name = p[2]
            if not NAME.match(name):
                bad(n, "invalid metric name %r" % name)
            d = helps if p[1] == "HELP" else types
            if name in d:
                bad(n, "second %s for %s" % (p[1], name))
            if name in seen_fam:
                bad(n, "%s for %s after its samples" % (p[1], name))
            d[name] = p[3] if len(p) > 3 else ""
            if p[1] == "TYPE" and d[name] not in TYPES:
                bad(n, "unknown type %r" % d[name])
            if p[1] == "HELP" and d[name].strip() == "":
                bad(n, "empty HELP for %s" % name)
        continue
    m = re.match(r'([a-zA-Z_:][a-zA-Z0-9_:]*)', line)
    if not m:
        bad(n, "not a sample: %r" % line[:80])
        continue
    name, rest = m.group(1), line[m.end():]
    labels = []
    if rest.startswith("{"):
        labels, rest = parse_labels(rest[1:], n)
        if labels is None:
            continue
    parts = rest.split()
    if not rest.startswith(" ") or len(parts) not in (1, 2):
        bad(n, "bad value part %r" % rest)
        continue
    try:
        v = value(parts[0])
    except ValueError:
        bad(n, "value is not a number: %r" % parts[0])
        continue
    fam, suffix = name, ""
    for s in ("_bucket", "_sum", "_count"):
        if name.endswith(s) and types.get(name[:-len(s)]) in ("histogram", "summary"):
            fam, suffix = name[:-len(s)], s
    if fam not in types:
        bad(n, "sample %s has no TYPE" % name)
    if fam not in helps:
        bad(n, "sample %s has no HELP" % name)
    if fam != current:
        if fam in done_fam:
            bad(n, "samples of %s are not contiguous" % fam)
        if current is not None:
            done_fam.add(current)
        current = fam
    seen_fam.add(fam)
    names = [k for k, _ in labels]
    if len(set(names)) != len(names):
        bad(n, "a label repeats in %s" % name)
    key = (name, tuple(sorted(labels)))
    if key in series:
        bad(n, "duplicate series %s%s" % (name, dict(labels)))
    series.add(key)
    t = types.get(fam)
    if "le" in names and suffix != "_bucket":
        bad(n, "le label outside a histogram bucket: %s" % name)
    if t == "counter":
        if not fam.endswith("_total"):
            bad(n, "counter %s does not end in _total" % fam)
        if not v >= 0:
            bad(n, "counter %s is negative or NaN" % name)
    if t == "histogram":
        rest_l = tuple(sorted((k, x) for k, x in labels if k != "le"))
        h = hist.setdefault((fam, rest_l), {"b": [], "sum": None, "count": None, "line": n})
        if suffix == "_bucket":
            le = dict(labels).get("le")
            if le is None:
                bad(n, "bucket without le")
                continue
            try:
                h["b"].append((value(le), v, n))
            except ValueError:
                bad(n, "le is not a number: %r" % le)
        elif suffix == "_sum":
            h["sum"] = v
        elif suffix == "_count":
            h["count"] = v
        else:
            bad(n, "histogram %s has a plain sample" % fam)
for (fam, ls), h in sorted(hist.items(), key=lambda x: x[1]["line"]):
    where = "%s%s" % (fam, dict(ls) if ls else "")
    les = [b[0] for b in h["b"]]
    if les != sorted(les) or len(set(les)) != len(les):
        problems.append("%s: le not strictly ascending" % where)
    counts = [b[1] for b in h["b"]]
    if any(b < a for a, b in zip(counts, counts[1:])):
        problems.append("%s: bucket counts not cumulative %s" % (where, counts))
    if not les or les[-1] != math.inf:
        problems.append("%s: no +Inf bucket" % where)
    elif h["count"] is None or counts[-1] != h["count"]:
        problems.append("%s: +Inf bucket %s != _count %s" % (where, counts[-1], h["count"]))
    if h["sum"] is None:
        problems.append("%s: no _sum" % where)
print("\n".join(problems[:20]))
PYEOF

metrics_lint() {
	local text=${1-$METRICS} f=$T/metrics_lint.in
	printf '%s\n' "$text" >"$f"
	python3 "$METRICS_LINT_PY" <"$f"
	if command -v promtool >/dev/null 2>&1; then
		promtool check metrics <"$f" 2>&1 | grep -v '^$' || true
	fi
}

# metrics_families PREFIX: the family names (from # TYPE lines) starting with PREFIX.
metrics_families() {
	printf '%s\n' "$METRICS" | awk -v p="$1" '$1 == "#" && $2 == "TYPE" &&
		index($3, p) == 1 { print $3 }'
}

# metric_sum NAME: the sum of every sample of NAME (any labels), 0 if none.
metric_sum() {
	printf '%s\n' "$METRICS" | awk -v k="$1" '
		substr($0, 1, 1) != "#" {
			n = $1; sub(/\{.*/, "", n)
			if (n == k) s += $NF
		}
		END { printf "%d\n", s }'
}
