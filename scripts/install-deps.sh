#!/usr/bin/env bash
# install-deps.sh [--bench] [--lint] [--e2e] [--k8s] [--containers] [--check]
#
# Installs the Debian packages claude-web needs to build, test and run, but
# only those that are missing (`apt-get update` runs at most once, and only if
# something is to be installed). Idempotent. Uses sudo when not root.
#
#   --bench  also wrk, hyperfine and linux-perf (bench/bench.sh), and the
#            FastAPI peer's packages (bench/compare.sh: python3-fastapi,
#            -uvicorn, -redis, -jwt, -uvloop, -httptools)
#   --lint   also shellcheck (scripts/test.sh lints the shell scripts)
#   --e2e    also chromium (headless browser tests, driven by playwright-core)
#   --k8s    also yamllint, kubectl (Debian's kubernetes-client, unless a kubectl
#            is there), node + npm when missing, podman + runc + catatonit + iptables
#            (tests/k8s/validate.sh and kube-play.sh)
#   --containers  also podman, buildah, runc, podman-compose, netavark +
#            aardvark-dns (container names in DNS), mmdebstrap (the local base
#            image), uidmap, slirp4netns, fuse-overlayfs (rootless podman),
#            iptables (netavark needs it)
#            (scripts/container-*.sh, tests/container/run.sh)
#   --mcp    also node + npm, for the npm MCP servers run in the sandbox
#            (then scripts/install-mcp.sh installs them into MCP_DIR; docs/mcp.md)
#   --check  install nothing; list what is missing, exit 1 if anything is
set -euo pipefail

CW_PROG=install-deps
# shellcheck source=scripts/lib-common.sh
. "$(dirname "$0")/lib-common.sh"

# Build, runtime and test packages.
packages=(
	build-essential autoconf automake libtool pkg-config
	libfcgi-dev libhiredis-dev libcurl4-openssl-dev libjson-c-dev libjwt-dev libssl-dev
	nginx-light redis-server bubblewrap openssl curl ca-certificates procps
	# passt (pasta): user-mode NAT for SANDBOX_NETWORK=on (own netns, no host).
	passt
	# ripgrep (rg): the glob and grep tools run it inside the sandbox.
	ripgrep
	# jq: the integration tests read JSON responses and logs with it;
	# python3: the fake Anthropic server and the tests' SSE clients;
	# iproute2 (ss), tar, gzip: tests and the archive endpoint.
	jq python3 iproute2 tar gzip
	# systemd (systemd-analyze, -sysusers, -tmpfiles) and logrotate: t_install.sh
	# checks the bare-metal units and the logrotate config with them.
	systemd logrotate
	# clang for the sanitizer and libFuzzer builds; the sanitizer runtimes are
	# only a Recommends of clang, so name them explicitly.
	clang libclang-rt-dev
	# t_redis_ha.sh: a master, a replica and three sentinels; TLS to Redis
	# through stunnel (docs/redis.md).
	redis-sentinel stunnel4
)
check_only=0
for arg in "$@"; do
	case $arg in
	--bench)
		packages+=(wrk hyperfine linux-perf
			python3-fastapi python3-uvicorn python3-redis python3-jwt python3-uvloop python3-httptools)
		;;
	--lint) packages+=(shellcheck) ;;
	--e2e) packages+=(chromium) ;;
	--k8s)
		packages+=(yamllint podman runc catatonit iptables)
		command -v kubectl >/dev/null 2>&1 || packages+=(kubernetes-client)
		command -v npm >/dev/null 2>&1 || packages+=(nodejs npm)
		;;
	--containers)
		# iptables: netavark (podman's network stack) runs it for every
		# container network ("netavark: No such file or directory" without it).
		packages+=(podman buildah runc podman-compose netavark aardvark-dns mmdebstrap
			uidmap slirp4netns fuse-overlayfs iptables)
		;;
	--mcp) packages+=(nodejs npm) ;;
	--check) check_only=1 ;;
	-h | --help)
		cw_usage "$0"
		exit 0
		;;
	*) cw_die "unknown option: $arg (try --help)" ;;
	esac
done

is_installed() {
	[ "$(dpkg-query -W -f='${db:Status-Status}' "$1" 2>/dev/null || true)" = installed ]
}

missing=()
for p in "${packages[@]}"; do
	is_installed "$p" || missing+=("$p")
done

if [ "${#missing[@]}" -eq 0 ]; then
	cw_log "all packages present"
	exit 0
fi
if [ "$check_only" -eq 1 ]; then
	cw_log "missing packages: ${missing[*]}"
	exit 1
fi

if [ "$(id -u)" -eq 0 ]; then
	sudo=()
elif command -v sudo >/dev/null 2>&1; then
	sudo=(sudo)
else
	cw_die "not root and sudo is not installed; as root run: apt-get install ${missing[*]}"
fi

# Remember whether the distro services were there before: installing them
# auto-starts them on :80 / :6379 (harmless for us, but not wanted).
had_nginx=0 had_redis=0 had_sentinel=0
is_installed nginx-light && had_nginx=1
is_installed redis-server && had_redis=1
is_installed redis-sentinel && had_sentinel=1

cw_log "installing: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update -qq
"${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2

if [ "$had_nginx" -eq 0 ] && is_installed nginx-light; then
	cw_log "stopping the distro nginx service (claude-web runs its own nginx)"
	"${sudo[@]}" service nginx stop >/dev/null 2>&1 || true
	"${sudo[@]}" update-rc.d nginx disable >/dev/null 2>&1 || true
fi
if [ "$had_redis" -eq 0 ] && is_installed redis-server; then
	cw_log "stopping the distro redis service (claude-web runs its own redis)"
	"${sudo[@]}" service redis-server stop >/dev/null 2>&1 || true
	"${sudo[@]}" update-rc.d redis-server disable >/dev/null 2>&1 || true
fi
if [ "$had_sentinel" -eq 0 ] && is_installed redis-sentinel; then
	cw_log "stopping the distro redis-sentinel service (the tests run their own)"
	"${sudo[@]}" service redis-sentinel stop >/dev/null 2>&1 || true
	"${sudo[@]}" update-rc.d redis-sentinel disable >/dev/null 2>&1 || true
fi

still=()
for p in "${missing[@]}"; do
	is_installed "$p" || still+=("$p")
done
[ "${#still[@]}" -eq 0 ] || cw_die "could not install: ${still[*]}"
cw_log "done"
