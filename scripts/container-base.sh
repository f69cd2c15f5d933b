#!/usr/bin/env bash
# container-base.sh [--force] [--image NAME] [--keep-tar FILE]
#
# Makes the base image of our containers locally, without any registry: a
# minimal Debian 12 (bookworm) root file system built by mmdebstrap from the
# Debian mirror this machine's apt uses, imported into podman as
# localhost/claude-web-base:bookworm (about debian:bookworm-slim: apt,
# no documentation, no locales). Skipped when the image exists, unless --force.
#
#   --force          rebuild and replace an existing image
#   --image NAME     the image name (default: localhost/claude-web-base:bookworm)
#   --keep-tar FILE  also keep the root file system tarball at FILE
#
# The mirror: the Debian entries of /etc/apt/sources.list.d/*.sources and
# /etc/apt/sources.list (URIs that end in /debian or /debian-security),
# else deb.debian.org. CW_BASE_MIRROR=URL overrides it (then security updates
# come from URL-security when CW_BASE_SECURITY_MIRROR is unset). apt options
# of this machine that a proxy or a frozen snapshot needs
# (Acquire::Check-Valid-Until, Acquire::Check-Date, Acquire::http::Proxy) are
# kept in the image so apt-get works in builds from it.
#
# Needs root (or sudo), mmdebstrap and podman: scripts/install-deps.sh --containers.
set -euo pipefail

CW_PROG='container-base'
# shellcheck source=scripts/lib-common.sh
. "$(dirname "$0")/lib-common.sh"
# shellcheck source=scripts/container-lib.sh
. "$CW_ROOT/scripts/container-lib.sh"

image=localhost/claude-web-base:bookworm
force=0 keep_tar=''
while [ $# -gt 0 ]; do
	case $1 in
	--force) force=1 ;;
	--image)
		image=${2:?--image needs a name}
		shift
		;;
	--keep-tar)
		keep_tar=$(cw_abspath "${2:?--keep-tar needs a file}")
		shift
		;;
	-h | --help)
		cw_usage "$0"
		exit 0
		;;
	*) cw_die "unknown argument: $1 (try --help)" ;;
	esac
	shift
done

mapfile -t missing < <(cw_missing_cmds mmdebstrap podman)
[ "${#missing[@]}" -eq 0 ] || cw_die "missing: ${missing[*]} (scripts/install-deps.sh --containers)"
sudo=()
if [ "$(id -u)" -ne 0 ]; then
	command -v sudo >/dev/null 2>&1 || cw_die "needs root (mmdebstrap, podman import)"
	sudo=(sudo)
fi
cw_podman_init

if [ "$force" -eq 0 ] && "${CW_PODMAN[@]}" image exists "$image"; then
	cw_log "$image exists (--force rebuilds it)"
	exit 0
fi

tmp=$(mktemp -d "${TMPDIR:-/var/tmp}/cwbase.XXXXXX")
trap 'rm -rf -- "$tmp"' EXIT

# ---- the mirror, as this machine's apt has it ------------------------------------
# host_uris SUFFIX: the URIs of enabled Debian entries whose path ends in SUFFIX.
host_uris() {
	local suffix=$1
	{
		for f in /etc/apt/sources.list.d/*.sources; do
			[ -r "$f" ] || continue
			awk '/^[ \t]*#/ { next } /^URIs:/ { for (i = 2; i <= NF; i++) print $i }' "$f"
		done
		for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
			[ -r "$f" ] || continue
			awk '$1 == "deb" { for (i = 2; i <= NF; i++) if ($i ~ /:\/\//) { print $i; break } }' "$f"
		done
	} | sed 's|/*$||' | grep -E "$suffix\$" | head -n 1
}
mirror=${CW_BASE_MIRROR:-$(host_uris '/debian' || true)}
mirror=${mirror:-http://deb.debian.org/debian}
security=${CW_BASE_SECURITY_MIRROR:-}
if [ -z "$security" ]; then
	if [ -n "${CW_BASE_MIRROR:-}" ]; then
		security=$mirror-security
	else
		security=$(host_uris '/debian-security' || true)
		security=${security:-http://deb.debian.org/debian-security}
	fi
fi
cat >"$tmp/debian.sources" <<EOF
Types: deb
URIs: $mirror
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: $security
Suites: bookworm-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF

aptopts=()
if command -v apt-config >/dev/null 2>&1; then
	while IFS= read -r line; do
		aptopts+=(--aptopt="$line")
	done < <(apt-config dump 2>/dev/null |
		grep -E '^Acquire::(Check-Valid-Until|Check-Date|https?::Proxy) ' || true)
fi

# ---- the root file system ---------------------------------------------------------
# variant apt: Essential packages + apt (what debian:*-slim has). The dpkg
# path excludes keep documentation and translations out, now and in later
# apt-get installs from the image, as the slim images do.
cw_log "mmdebstrap bookworm from $mirror (security: $security)"
"${sudo[@]}" mmdebstrap --variant=apt --mode=root --format=tar \
	--include=ca-certificates \
	--dpkgopt='path-exclude=/usr/share/man/*' \
	--dpkgopt='path-exclude=/usr/share/doc/*' \
	--dpkgopt='path-include=/usr/share/doc/*/copyright' \
	--dpkgopt='path-exclude=/usr/share/info/*' \
	--dpkgopt='path-exclude=/usr/share/locale/*' \
	--dpkgopt='path-include=/usr/share/locale/locale.alias' \
	--aptopt='APT::Install-Recommends "false"' \
	--aptopt='Acquire::Languages "none"' \
	"${aptopts[@]}" \
	--customize-hook='rm -f "$1/etc/apt/sources.list"; mv "$1/etc/apt/sources.list.d/0000debian.sources" "$1/etc/apt/sources.list.d/debian.sources"' \
	--customize-hook='rm -rf "$1"/var/lib/apt/lists/* "$1"/var/cache/apt/*.bin "$1"/var/log/*.log "$1"/var/log/apt/*' \
	bookworm "$tmp/rootfs.tar" "$tmp/debian.sources" >&2 ||
	cw_die "mmdebstrap failed"

cw_log "podman import -> $image"
"${CW_PODMAN[@]}" import \
	--change 'CMD ["/bin/bash"]' \
	--change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
	--change 'LABEL org.opencontainers.image.title=claude-web-base org.opencontainers.image.description="Debian 12 (bookworm), made by scripts/container-base.sh with mmdebstrap"' \
	"$tmp/rootfs.tar" "$image" >/dev/null || cw_die "podman import failed"
if [ -n "$keep_tar" ]; then
	cp -- "$tmp/rootfs.tar" "$keep_tar"
fi
cw_log "done: $image ($("${CW_PODMAN[@]}" image inspect --format '{{.Size}}' "$image" | awk '{ printf "%.0f MB", $1 / 1e6 }'))"
