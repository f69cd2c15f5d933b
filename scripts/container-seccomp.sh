#!/usr/bin/env bash
# container-seccomp.sh [OUT] [SOURCE]: writes the seccomp profile for the app
# container: SOURCE (default: podman's own default profile,
# /usr/share/containers/seccomp.json from containers-common) with
# sethostname and setdomainname allowed. OUT defaults to
# <repo>/var/compose-seccomp.json; use it with CW_SECCOMP=OUT (compose.yaml)
# or podman run --security-opt seccomp=OUT.
#
# Why: the tool sandbox (bubblewrap) gives each command a UTS namespace of
# its own and names it "sandbox"; podman's default profile refuses
# sethostname without CAP_SYS_ADMIN even there. Everything else stays as the
# default profile has it (it already allows the user namespaces bwrap makes).
set -euo pipefail

CW_PROG='container-seccomp'
# shellcheck source=scripts/lib-common.sh
. "$(dirname "$0")/lib-common.sh"

case ${1:-} in
-h | --help)
	cw_usage "$0"
	exit 0
	;;
esac
out=$(cw_abspath "${1:-$CW_ROOT/var/compose-seccomp.json}")
src=${2:-/usr/share/containers/seccomp.json}
[ -r "$src" ] || cw_die "cannot read $src (Debian: golang-github-containers-common, installed with podman)"
command -v jq >/dev/null 2>&1 || cw_die "jq is missing"
mkdir -p "$(dirname "$out")"
jq '.syscalls |= map(if (.names | index("sethostname")) or (.names | index("setdomainname"))
		then .names -= ["sethostname", "setdomainname"] else . end | select(.names | length > 0))
	| .syscalls += [{names: ["sethostname", "setdomainname"], action: "SCMP_ACT_ALLOW", args: [],
		comment: "claude-web: bubblewrap names the sandbox UTS namespace"}]' "$src" >"$out.tmp" ||
	cw_die "could not transform $src"
chmod 0644 "$out.tmp"
mv -f -- "$out.tmp" "$out"
cw_log "wrote $out (from $src; sethostname and setdomainname allowed)"
