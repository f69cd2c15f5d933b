#!/bin/sh
# install-mcp.sh: installs the npm MCP servers that claude-web's sandbox runs
# (stdio servers in MCP_SERVERS_FILE) into MCP_DIR, default
# /opt/claude-web/mcp, which the sandbox binds read-only at the same path.
#
#   scripts/install-mcp.sh [--dir DIR] [PACKAGE@VERSION ...]
#
# Without packages: the reference server the tests use,
# @modelcontextprotocol/server-everything (pinned). Versions are pinned so
# that a reinstall offers the same tools (the tool lists are cached by
# configuration). Packages' install scripts are not run. Needs node and npm
# (Debian: nodejs, npm) and the npm registry.
set -eu

DIR=${MCP_DIR:-/opt/claude-web/mcp}
DEFAULT_PKGS="@modelcontextprotocol/server-everything@2026.8.31"

while [ $# -gt 0 ]; do
	case $1 in
	--dir) DIR=$2; shift 2 ;;
	--dir=*) DIR=${1#--dir=}; shift ;;
	-h|--help) sed -n '2,12p' "$0"; exit 0 ;;
	--) shift; break ;;
	-*) echo "install-mcp.sh: unknown option $1" >&2; exit 2 ;;
	*) break ;;
	esac
done
[ $# -gt 0 ] || set -- $DEFAULT_PKGS

case $DIR in
/*) ;;
*) echo "install-mcp.sh: --dir must be an absolute path" >&2; exit 2 ;;
esac
for tool in node npm; do
	command -v "$tool" >/dev/null 2>&1 || {
		echo "install-mcp.sh: $tool is missing (Debian: apt-get install nodejs npm)" >&2
		exit 1
	}
done
case $(command -v node) in
/usr/*) ;;
*) echo "install-mcp.sh: warning: node is $(command -v node); the sandbox sees only /usr (and $DIR)" >&2 ;;
esac

mkdir -p "$DIR"
# A package.json of our own keeps npm from walking up to a parent project.
[ -f "$DIR/package.json" ] ||
	printf '{"name":"claude-web-mcp","private":true,"description":"MCP servers run in the claude-web sandbox"}\n' >"$DIR/package.json"
npm install --prefix "$DIR" --no-audit --no-fund --omit=dev --ignore-scripts "$@"
chmod -R a+rX "$DIR"
echo "install-mcp.sh: installed into $DIR: $*"
for p in "$@"; do
	name=${p%@*}
	[ -n "$name" ] || name=$p
	main=$DIR/node_modules/$name
	[ -d "$main" ] && echo "  $name: $main"
done
