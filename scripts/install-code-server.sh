#!/usr/bin/env bash
# install-code-server.sh [--check] [PREFIX]: installs code-server 4.96.4 (VS
# Code in the browser) from the npm registry, on Node.js 20, without GitHub.
#
# Plain `npm install code-server` does not work here: the latest release needs
# Node 24; 4.96.4's postinstall refuses root, resolves @vscode/proxy-agent from
# a GitHub git URL, and downloads ripgrep from GitHub. So this script installs
# with --ignore-scripts and does the postinstall's work itself (recipe:
# docs/code-server.md, "How the installer works"):
#   1. npm install --ignore-scripts code-server@4.96.4 into a staging directory
#   2. lib/vscode/npm-shrinkwrap.json: drop "resolved"/"integrity" of
#      @vscode/proxy-agent (the registry has the same version)
#   3. lib/vscode: npm install --ignore-scripts --omit=dev, then npm rebuild
#      of the native modules (needs a C++ toolchain and X11/Kerberos/libsecret
#      headers: installed with apt-get when missing and run as root)
#   4. ripgrep from Debian (/usr/bin/rg) in place of @vscode/ripgrep's download;
#      the symlinks the postinstall makes (node_modules.asar, remote-cli,
#      browser helper)
#   5. lib/vscode/extensions: npm install --ignore-scripts --omit=dev
#   6. npm rebuild argon2
# then starts it once on a free loopback port and checks that /healthz answers
# JSON, and only then moves the staging directory to PREFIX and writes the
# marker PREFIX/.installed-version. A second run with the marker in place is a
# no-op. Downloads go through the npm cache (~/.npm), so a reinstall after
# removing PREFIX needs little network.
#
# PREFIX: the first argument, else CODE_SERVER_PREFIX, else
# STATE_DIR/code-server (STATE_DIR defaults to <repo>/var).
# The executable is PREFIX/bin/code-server.
#
# --check  exit 0 and print the executable's path when installed, else exit 1.
#
# Exit status: 0 installed (or already installed); 1 failed (the message says
# what is missing); 69 the npm registry is unreachable and nothing is cached.
#
# Environment: CODE_SERVER_VERSION (default 4.96.4; other versions are
# untested), NPM (default npm), CODE_SERVER_NO_APT=1 (never run apt-get; just
# name the missing packages).
set -euo pipefail

CW_PROG=install-code-server
# shellcheck source=scripts/lib-common.sh
. "$(dirname "$0")/lib-common.sh"

VERSION=${CODE_SERVER_VERSION:-4.96.4}
NPM=${NPM:-npm}
NODE_MAJOR=20
DEB_PACKAGES=(build-essential python3 pkg-config libkrb5-dev libx11-dev libxkbfile-dev libsecret-1-dev ripgrep)
NATIVE_MODULES=(kerberos node-pty @parcel/watcher @vscode/spdlog @vscode/deviceid native-watchdog)

check_only=0
prefix_arg=''
while [ $# -gt 0 ]; do
	case $1 in
	-h | --help)
		cw_usage "$0"
		exit 0
		;;
	--check) check_only=1 ;;
	-*) cw_die "unknown option: $1 (try --help)" ;;
	*)
		[ -z "$prefix_arg" ] || cw_die "only one PREFIX, please"
		prefix_arg=$1
		;;
	esac
	shift
done

if [ -n "$prefix_arg" ]; then
	PREFIX=$prefix_arg
elif [ -n "${CODE_SERVER_PREFIX:-}" ]; then
	PREFIX=$CODE_SERVER_PREFIX
else
	cw_state_init
	PREFIX=$STATE_DIR/code-server
fi
PREFIX=$(cw_abspath "$PREFIX")
PREFIX=${PREFIX%/}
MARKER=$PREFIX/.installed-version
BIN=$PREFIX/bin/code-server

installed() {
	[ -r "$MARKER" ] && [ "$(cat "$MARKER" 2>/dev/null)" = "$VERSION" ] && [ -x "$BIN" ]
}

if [ "$check_only" -eq 1 ]; then
	if installed; then
		printf '%s\n' "$BIN"
		exit 0
	fi
	exit 1
fi

if installed; then
	cw_log "code-server $VERSION is already installed in $PREFIX"
	exit 0
fi
# PREFIX is replaced as a whole at the end: never do that to a directory this
# script did not make (think PREFIX=/usr/local).
if [ -e "$PREFIX" ] && [ -n "$(ls -A "$PREFIX" 2>/dev/null)" ] &&
	[ ! -e "$MARKER" ] && [ ! -e "$PREFIX/install.log" ]; then
	cw_die "$PREFIX exists and is not a code-server install made by this script; choose another PREFIX (or empty it)"
fi

t_start=$SECONDS
step() { # step MESSAGE: logs MESSAGE with the time since the start
	cw_log "$* (t+$((SECONDS - t_start))s)"
}

# ---- prerequisites -----------------------------------------------------------
command -v node >/dev/null 2>&1 || cw_die "node is not installed: code-server $VERSION needs Node.js $NODE_MAJOR (e.g. from NodeSource, package nodejs)"
command -v "$NPM" >/dev/null 2>&1 || cw_die "npm is not installed (it comes with Node.js $NODE_MAJOR)"
node_major=$(node -p 'process.versions.node.split(".")[0]')
[ "$node_major" = "$NODE_MAJOR" ] ||
	cw_die "code-server $VERSION needs Node.js $NODE_MAJOR; this node is $(node -v) ($(command -v node))"

missing_pkgs=()
if command -v dpkg-query >/dev/null 2>&1; then
	for p in "${DEB_PACKAGES[@]}"; do
		st=$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null || true)
		[ "$st" = installed ] || missing_pkgs+=("$p")
	done
	if [ "${#missing_pkgs[@]}" -gt 0 ]; then
		if [ "$(id -u)" -ne 0 ] || [ "${CODE_SERVER_NO_APT:-0}" = 1 ]; then
			cw_die "missing Debian packages: ${missing_pkgs[*]} (run as root: apt-get install ${missing_pkgs[*]})"
		fi
		step "installing Debian packages: ${missing_pkgs[*]}"
		if ! DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
			"${missing_pkgs[@]}" >&2; then
			cw_log "apt-get install failed; trying apt-get update first"
			DEBIAN_FRONTEND=noninteractive apt-get update -q >&2 || true
			DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
				"${missing_pkgs[@]}" >&2 ||
				cw_die "could not install the Debian packages: ${missing_pkgs[*]}"
		fi
	fi
else
	# Not Debian: check the tools; headers can only be found by the build.
	mapfile -t m < <(cw_missing_cmds rg make g++ python3 pkg-config)
	[ "${#m[@]}" -eq 0 ] ||
		cw_die "missing commands: ${m[*]} (also needed: Kerberos, libX11, libxkbfile and libsecret development headers)"
fi
RG=$(command -v rg) || cw_die "ripgrep (rg) is not installed (Debian package ripgrep)"

# ---- one installer at a time per PREFIX ---------------------------------------
mkdir -p "$(dirname "$PREFIX")"
exec 9>"$PREFIX.lock"
if ! flock -n 9; then
	cw_log "another install into $PREFIX is running; waiting for it"
	flock 9
fi
if installed; then
	cw_log "code-server $VERSION is already installed in $PREFIX"
	exit 0
fi

STAGE=$PREFIX.partial
rm -rf -- "$STAGE"
mkdir -p "$STAGE"
# A failed install leaves its log (PREFIX.partial.log), not 300 MB of files.
trap 'rm -rf -- "$STAGE"' EXIT
LOG=$STAGE.log
: >"$LOG"
cw_log "installing code-server $VERSION into $PREFIX (log: $LOG)"

# run_logged DESC CMD...: runs CMD with its output in $LOG; on failure prints
# the end of the log and fails with DESC.
run_logged() {
	local desc=$1
	shift
	printf '\n+ (%s) %s\n' "$PWD" "$*" >>"$LOG"
	if ! "$@" >>"$LOG" 2>&1; then
		cw_tail "$LOG" 40
		cw_die "$desc failed (full log: $LOG)"
	fi
}

registry_check() {
	# Called after a failed npm command: tell "offline" apart from the rest.
	if ! timeout 20 "$NPM" ping >/dev/null 2>&1; then
		cw_tail "$LOG" 15
		cw_log "error: the npm registry ($("$NPM" config get registry 2>/dev/null)) is unreachable and the npm cache does not hold everything needed"
		exit 69
	fi
}

NPM_FLAGS=(--ignore-scripts --no-audit --no-fund --prefer-offline --loglevel=warn)

# 1. the package itself
step "1/6 npm install code-server@$VERSION"
printf '\n+ npm install code-server@%s\n' "$VERSION" >>"$LOG"
if ! "$NPM" install "${NPM_FLAGS[@]}" --prefix "$STAGE" "code-server@$VERSION" >>"$LOG" 2>&1; then
	registry_check
	cw_tail "$LOG" 40
	cw_die "npm install code-server@$VERSION failed (full log: $LOG)"
fi
CS=$STAGE/node_modules/code-server
VS=$CS/lib/vscode
[ -f "$VS/npm-shrinkwrap.json" ] || cw_die "unexpected package layout: no $VS/npm-shrinkwrap.json"

# 2. @vscode/proxy-agent from the registry instead of GitHub
step "2/6 npm-shrinkwrap.json: @vscode/proxy-agent from the registry"
node -e '
const fs = require("fs");
const f = process.argv[1];
const j = JSON.parse(fs.readFileSync(f, "utf8"));
const e = j.packages && j.packages["node_modules/@vscode/proxy-agent"];
if (e) { delete e.resolved; delete e.integrity; }
fs.writeFileSync(f, JSON.stringify(j, null, 2) + "\n");
' "$VS/npm-shrinkwrap.json"

# 3. VS Code's own dependencies, native modules built here
step "3/6 VS Code dependencies (lib/vscode)"
cd "$VS"
printf '\n+ (%s) npm install --omit=dev\n' "$PWD" >>"$LOG"
if ! "$NPM" install "${NPM_FLAGS[@]}" --omit=dev >>"$LOG" 2>&1; then
	registry_check
	cw_tail "$LOG" 40
	cw_die "npm install in lib/vscode failed (full log: $LOG)"
fi
step "3/6 building native modules: ${NATIVE_MODULES[*]}"
natives=()
for m in "${NATIVE_MODULES[@]}"; do
	[ -d "node_modules/$m" ] && natives+=("$m")
done
run_logged "npm rebuild ${natives[*]} (missing compiler or headers? see the log)" \
	"$NPM" rebuild --loglevel=warn "${natives[@]}"

# 4. ripgrep and the postinstall's symlinks
step "4/6 ripgrep and symlinks"
mkdir -p node_modules/@vscode/ripgrep/bin
ln -sfn "$RG" node_modules/@vscode/ripgrep/bin/rg
rm -rf node_modules.asar
ln -s node_modules node_modules.asar
(cd bin/remote-cli && rm -f code-server && ln -s code-linux.sh code-server)
(cd bin/helpers && rm -f browser.sh && ln -s browser-linux.sh browser.sh)

# 5. dependencies shared by the built-in extensions
step "5/6 built-in extensions' dependencies (lib/vscode/extensions)"
cd "$VS/extensions"
printf '\n+ (%s) npm install --omit=dev\n' "$PWD" >>"$LOG"
if ! "$NPM" install "${NPM_FLAGS[@]}" --omit=dev >>"$LOG" 2>&1; then
	registry_check
	cw_tail "$LOG" 40
	cw_die "npm install in lib/vscode/extensions failed (full log: $LOG)"
fi

# 6. argon2 (code-server's password hashing; loaded at startup even with
# --auth none)
step "6/6 npm rebuild argon2"
cd "$STAGE"
run_logged "npm rebuild argon2" "$NPM" rebuild --loglevel=warn argon2

mkdir -p "$STAGE/bin"
# A wrapper rather than a symlink: it survives the move to PREFIX and pins
# the node it was built for.
cat >"$STAGE/bin/code-server" <<EOF
#!/bin/sh
# code-server $VERSION, installed by claude-web's scripts/install-code-server.sh
here=\$(cd "\$(dirname "\$0")/.." && pwd)
exec "$(command -v node)" "\$here/node_modules/code-server/out/node/entry.js" "\$@"
EOF
chmod 0755 "$STAGE/bin/code-server"

# ---- does it run? ---------------------------------------------------------------
step "checking that it starts and answers /healthz"
vt=$(mktemp -d "${TMPDIR:-/tmp}/cs-verify.XXXXXX")
mkdir -p "$vt/folder" "$vt/home"
printf 'auth: none\ncert: false\n' >"$vt/config.yaml"
ok=0
# Up to 3 ports: another process may take the free port we picked first.
for attempt in 1 2 3; do
	port=$(cw_free_port) || cw_die "no free port for the check"
	# A private HOME and config file: nothing is written to the real
	# ~/.config or ~/.local/share.
	env HOME="$vt/home" "$STAGE/bin/code-server" --config "$vt/config.yaml" \
		--auth none --bind-addr "127.0.0.1:$port" \
		--disable-telemetry --disable-update-check --disable-workspace-trust \
		--user-data-dir "$vt/data" --extensions-dir "$vt/ext" "$vt/folder" \
		>"$vt/out" 2>&1 &
	vpid=$!
	for _ in $(seq 1 300); do
		body=$(curl -s --max-time 2 "http://127.0.0.1:$port/healthz" 2>/dev/null || true)
		case $body in *'"status"'*)
			ok=1
			break
			;;
		esac
		cw_alive "$vpid" || break
		sleep 0.1
	done
	kill "$vpid" 2>/dev/null || true
	cw_wait_gone "$vpid" 5 || kill -KILL "$vpid" 2>/dev/null || true
	wait "$vpid" 2>/dev/null || true
	[ "$ok" -eq 1 ] && break
	grep -q EADDRINUSE "$vt/out" || break
	cw_log "port $port was taken meanwhile (attempt $attempt); trying another"
done
if [ "$ok" -ne 1 ]; then
	cw_tail "$vt/out" 40
	rm -rf -- "$vt"
	cw_die "code-server was installed in $STAGE but did not answer http://127.0.0.1:$port/healthz"
fi
cw_log "healthz: $body"
rm -rf -- "$vt"

# ---- publish ----------------------------------------------------------------------
printf '%s\n' "$VERSION" >"$STAGE/.installed-version"
rm -rf -- "$PREFIX"
mv -- "$STAGE" "$PREFIX"
mv -f -- "$LOG" "$PREFIX/install.log"
cw_log "installed code-server $VERSION in $PREFIX in $((SECONDS - t_start))s ($(du -sh "$PREFIX" | cut -f1)); run $BIN"
