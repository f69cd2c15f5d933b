#!/usr/bin/env bash
# validate.sh: offline validation of the Kubernetes manifests (deploy/k8s),
# no cluster needed. Prints TAP; exits 1 when any check fails.
#
#   1. yamllint -c deploy/k8s/.yamllint deploy/k8s; shellcheck of the scripts
#      the manifests carry
#   2. every kustomization uses only what kubectl 1.20's kustomize (v2.0.3,
#      Debian 12's kubernetes-client) knows
#   3. `kubectl kustomize` of the base and of every overlay; when this
#      kubectl is not 1.20, also with Debian's 1.20 (apt-get download into a
#      cache, not installed) and both renders must hold the same objects
#   4. tests/k8s/validate-objects.mjs on every overlay's render: schema
#      (kubernetes-models), unknown fields (TypeScript types of the API),
#      references, probes, listeners, variables, drain, sandbox, resources,
#      pools, and `claude-web -t` on each app container's configuration when
#      a claude-web binary newer than fcgi-app/ is found (CLAUDE_WEB_BIN,
#      build-test/, build/)
#
# Self-installing: missing yamllint, kubectl (kubernetes-client), node/npm
# are installed with apt-get when root; the validators' npm packages with
# `npm ci` in tests/k8s (again whenever package-lock.json changes).
# Environment: KUBECTL (default kubectl), CW_K8S_CACHE (where Debian's
# kubectl 1.20 is unpacked; default ~/.cache/claude-web-k8s), CW_K8S_NO_120=1
# skips the second kubectl.
set -uo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
k8s="$root/deploy/k8s"
cache=${CW_K8S_CACHE:-${XDG_CACHE_HOME:-${HOME:-/root}/.cache}/claude-web-k8s}
tmp=$(mktemp -d "${TMPDIR:-/tmp}/k8s-validate.XXXXXX")
trap 'rm -rf -- "$tmp"' EXIT

n=0 failed=0
tap() { # tap STATUS TEXT [DETAIL...]: one numbered result
	local status=$1 text=$2
	shift 2
	n=$((n + 1))
	if [ "$status" = ok ]; then
		echo "ok $n - $text"
	else
		echo "not ok $n - $text"
		failed=$((failed + 1))
	fi
	local d
	for d in "$@"; do printf '#   %s\n' "$d"; done
}
skip() { n=$((n + 1)); echo "ok $n - $1 # SKIP $2"; }
# run_tap TEXT CMD...: one result from a command's exit status, its output
# (last 40 lines) as diagnostics on failure.
run_tap() {
	local text=$1 out
	shift
	if out=$("$@" 2>&1); then
		tap ok "$text"
	else
		local lines=()
		mapfile -t lines < <(printf '%s\n' "$out" | tail -n 40)
		tap fail "$text" "${lines[@]}"
	fi
}
# relay: turn the helpers' "ok<TAB>text" / "not ok<TAB>text" / "#<TAB>detail"
# lines into numbered TAP.
relay() {
	local line status='' text='' details=()
	flush() {
		[ -n "$status" ] && tap "$status" "$text" "${details[@]}"
		status='' details=()
	}
	while IFS= read -r line; do
		case $line in
		ok$'\t'*) flush; status=ok text=${line#ok$'\t'} ;;
		'not ok'$'\t'*) flush; status=fail text=${line#not ok$'\t'} ;;
		'#'$'\t'*) details+=("${line#\#$'\t'}") ;;
		*) details+=("$line") ;;
		esac
	done
	flush
}

apt_install() { # apt_install PACKAGE...: only as root, only what is missing
	[ "$(id -u)" -eq 0 ] || return 1
	command -v apt-get >/dev/null 2>&1 || return 1
	echo "# installing $* (apt-get)"
	DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "$@" >"$tmp/apt.log" 2>&1 ||
		{ apt-get update -q >/dev/null 2>&1 && DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
			--no-install-recommends "$@" >"$tmp/apt.log" 2>&1; }
}

# ---- tools -------------------------------------------------------------------
command -v yamllint >/dev/null 2>&1 || apt_install yamllint || :
KUBECTL=${KUBECTL:-kubectl}
command -v "$KUBECTL" >/dev/null 2>&1 || apt_install kubernetes-client || :
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
	apt_install nodejs npm || :
fi

echo "# yamllint: $(yamllint --version 2>/dev/null)"
echo "# kubectl: $("$KUBECTL" version --client 2>/dev/null | head -n 1)"
echo "# node: $(node --version 2>/dev/null)"

# The validators' npm packages (exact versions from package-lock.json).
npm_ready=0
if command -v npm >/dev/null 2>&1; then
	if [ ! -f "$here/node_modules/.package-lock.json" ] ||
		[ "$here/package-lock.json" -nt "$here/node_modules/.package-lock.json" ]; then
		echo "# npm ci in tests/k8s"
		if (cd "$here" && npm ci --no-audit --no-fund --loglevel=error >"$tmp/npm.log" 2>&1); then
			npm_ready=1
		else
			sed 's/^/#   /' "$tmp/npm.log" | tail -n 20
		fi
	else
		npm_ready=1
	fi
fi

# Debian 12's kubectl (1.20, kustomize v2.0.3), unpacked into the cache
# without installing it, when the kubectl here is another version.
kubectl120=''
if "$KUBECTL" version --client 2>/dev/null | grep -q 'GitVersion:"v1\.20\.'; then
	kubectl120=$KUBECTL
elif [ "${CW_K8S_NO_120:-0}" != 1 ]; then
	if [ ! -x "$cache/usr/bin/kubectl" ] && command -v apt-get >/dev/null 2>&1 && command -v dpkg-deb >/dev/null 2>&1; then
		mkdir -p "$cache/deb"
		if ! (cd "$cache/deb" && apt-get download kubernetes-client >"$tmp/dl.log" 2>&1); then
			# The package lists may be missing on a fresh machine.
			if [ "$(id -u)" -eq 0 ] && apt-get update -q >/dev/null 2>&1; then
				(cd "$cache/deb" && apt-get download kubernetes-client >"$tmp/dl.log" 2>&1) || :
			fi
		fi
		deb=$(find "$cache/deb" -name 'kubernetes-client_*.deb' | sort | tail -n 1)
		[ -n "$deb" ] && dpkg-deb -x "$deb" "$cache"
	fi
	[ -x "$cache/usr/bin/kubectl" ] && kubectl120="$cache/usr/bin/kubectl"
fi

# ---- 1. lint ---------------------------------------------------------------------
if command -v yamllint >/dev/null 2>&1; then
	run_tap "yamllint deploy/k8s" yamllint -s -c "$k8s/.yamllint" "$k8s"
else
	tap fail "yamllint deploy/k8s" "yamllint is not installed (apt-get install yamllint)"
fi
mapfile -t scripts < <(find "$k8s" -name '*.sh' | sort)
if [ "${#scripts[@]}" -gt 0 ]; then
	if command -v shellcheck >/dev/null 2>&1; then
		run_tap "shellcheck -s sh: the scripts in deploy/k8s" shellcheck -s sh "${scripts[@]}"
	else
		skip "shellcheck: the scripts in deploy/k8s" "shellcheck is not installed"
	fi
fi

# ---- 2. + 3. kustomize ------------------------------------------------------------
render() { "$1" kustomize "$2" >"$3"; } # render KUBECTL DIR OUT
mapfile -t overlays < <(find "$k8s/overlays" -mindepth 2 -maxdepth 2 -name kustomization.yaml -printf '%h\n' | sort)
if [ "$npm_ready" -eq 1 ]; then
	relay < <(node "$here/kustomize-check.mjs" compat "$k8s/base/kustomization.yaml" \
		"${overlays[@]/%//kustomization.yaml}" | sed "s|$root/||")
fi

if ! command -v "$KUBECTL" >/dev/null 2>&1; then
	tap fail "kubectl kustomize" "no kubectl (apt-get install kubernetes-client)"
else
	mkdir -p "$tmp/render" "$tmp/render120"
	same=()
	for dir in "$k8s/base" "${overlays[@]}"; do
		name=${dir##*/}
		run_tap "kubectl kustomize ${dir#"$root"/}" \
			render "$KUBECTL" "$dir" "$tmp/render/$name.yaml"
		if [ -n "$kubectl120" ] && [ "$kubectl120" != "$KUBECTL" ]; then
			if "$kubectl120" kustomize "$dir" >"$tmp/render120/$name.yaml" 2>"$tmp/k120.err"; then
				same+=("${dir#"$root"/}" "$tmp/render/$name.yaml" "$tmp/render120/$name.yaml")
			else
				mapfile -t lines <"$tmp/k120.err"
				tap fail "kubectl 1.20 kustomize ${dir#"$root"/}" "${lines[@]}"
			fi
		fi
	done
	if [ "${#same[@]}" -gt 0 ] && [ "$npm_ready" -eq 1 ]; then
		relay < <(node "$here/kustomize-check.mjs" same "${same[@]}")
	fi
	[ -n "$kubectl120" ] || skip "kubectl 1.20 kustomize" "Debian's kubernetes-client could not be fetched"
fi

# ---- 4. the rendered objects ------------------------------------------------------
# Objects the operator creates, not the overlay (the Secret with the keys, the
# Ingress certificate; production alone leaves the Redis choice open).
externals() {
	case $1 in
	dev) echo Secret/claude-web-tls ;;
	production) echo Secret/claude-web-secrets,Secret/claude-web-tls,ConfigMap/claude-web-redis-client ;;
	*) echo Secret/claude-web-secrets,Secret/claude-web-tls ;;
	esac
}
# A claude-web binary for `claude-web -t`, only if it is newer than its sources.
bin=${CLAUDE_WEB_BIN:-}
if [ -z "$bin" ]; then
	for b in "$root/build-test/claude-web" "$root/build/claude-web"; do
		[ -x "$b" ] && { bin=$b; break; }
	done
fi
if [ -n "$bin" ] && [ -z "${CLAUDE_WEB_BIN:-}" ] &&
	[ -n "$(find "$root/fcgi-app" -name '*.[ch]' -newer "$bin" -print -quit)" ]; then
	echo "# $bin is older than fcgi-app/: claude-web -t is not run (make, or set CLAUDE_WEB_BIN)"
	bin=''
fi

if [ "$npm_ready" -ne 1 ]; then
	tap fail "schema validation of the rendered objects" "npm ci in tests/k8s failed or npm is missing"
elif [ -d "$tmp/render" ]; then
	args=()
	for dir in "${overlays[@]}"; do
		name=${dir##*/}
		[ -s "$tmp/render/$name.yaml" ] && args+=("$name=$tmp/render/$name.yaml:$(externals "$name")")
	done
	[ -n "$bin" ] || skip "claude-web -t on each app container's configuration" "no claude-web binary newer than fcgi-app/"
	relay < <(node "$here/validate-objects.mjs" --root "$root" --tmp "$tmp" ${bin:+--claude-web "$bin"} "${args[@]}")
fi

echo "1..$n"
if [ "$failed" -gt 0 ]; then
	echo "# $failed of $n checks failed"
	exit 1
fi
echo "# all $n checks passed"
