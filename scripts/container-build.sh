#!/usr/bin/env bash
# container-build.sh [--git REV] [--only LIST] [--base IMAGE] [--no-ui] [--no-cache]
#
# Builds the container images with podman (buildah inside), on the local base
# image scripts/container-base.sh makes (built first when missing):
#   localhost/claude-web:latest        deploy/container/Containerfile
#   localhost/claude-web-nginx:latest  deploy/container/nginx.Containerfile
#   localhost/claude-web-redis:latest  deploy/container/redis.Containerfile
# Layers are cached by podman: a second run with nothing changed takes seconds.
#
#   --git REV     build from the committed tree REV (git archive) instead of
#                 the working tree (static/dist still comes from the working tree)
#   --only LIST   comma-separated subset of app,nginx,redis
#   --base IMAGE  the base image (default: CW_BASE_IMAGE, else
#                 localhost/claude-web-base:bookworm, made here when missing);
#                 docker.io/library/debian:bookworm-slim where a registry is reachable
#   --no-ui       do not build static/dist on the host first
#   --no-cache    rebuild every layer
#
# The web UI (static/dist) is built here on the host, as scripts/start.sh
# does (npm ci && npm run build in static/, when missing or older than its
# sources), and the nginx image copies it: the base image has no Node.js.
set -euo pipefail

CW_PROG='container-build'
# shellcheck source=scripts/lib-common.sh
. "$(dirname "$0")/lib-common.sh"
# shellcheck source=scripts/container-lib.sh
. "$CW_ROOT/scripts/container-lib.sh"

rev='' only='app,nginx,redis' base='' ui=1 cache=()
while [ $# -gt 0 ]; do
	case $1 in
	--git)
		rev=${2:?--git needs a revision}
		shift
		;;
	--only)
		only=${2:?--only needs a list}
		shift
		;;
	--base)
		base=${2:?--base needs an image}
		shift
		;;
	--no-ui) ui=0 ;;
	--no-cache) cache=(--no-cache) ;;
	-h | --help)
		cw_usage "$0"
		exit 0
		;;
	*) cw_die "unknown argument: $1 (try --help)" ;;
	esac
	shift
done
for w in ${only//,/ }; do
	case $w in app | nginx | redis) ;; *) cw_die "--only: unknown image '$w' (app, nginx, redis)" ;; esac
done
command -v podman >/dev/null 2>&1 || cw_die "podman is missing (scripts/install-deps.sh --containers)"
cw_podman_init

# ---- the base image ---------------------------------------------------------------
if [ -z "$base" ]; then
	base=$CW_IMAGE_BASE
	if ! "${CW_PODMAN[@]}" image exists "$base"; then
		if [ "$base" = localhost/claude-web-base:bookworm ]; then
			"$CW_ROOT/scripts/container-base.sh" --image "$base"
		else
			cw_die "base image $base not found (podman pull it, or unset CW_BASE_IMAGE)"
		fi
	fi
fi

# ---- the web UI ---------------------------------------------------------------------
ui_build_needed() {
	local d=$CW_ROOT/static
	[ -f "$d/dist/index.html" ] || return 0
	[ -n "$(find "$d/src" "$d/public" "$d/app.html" "$d/package-lock.json" "$d/vite.config.ts" \
		-newer "$d/dist/index.html" -print -quit 2>/dev/null)" ]
}
if [ "$ui" -eq 1 ] && [[ ,$only, == *,nginx,* ]] && [ -f "$CW_ROOT/static/package.json" ] && ui_build_needed; then
	if command -v npm >/dev/null 2>&1; then
		cw_log "building the web UI on the host (static/: npm ci, npm run build)"
		if [ ! -f "$CW_ROOT/static/node_modules/.package-lock.json" ] ||
			[ "$CW_ROOT/static/package-lock.json" -nt "$CW_ROOT/static/node_modules/.package-lock.json" ]; then
			(cd "$CW_ROOT/static" && npm ci --no-audit --no-fund >&2) || cw_die "npm ci failed in static/"
		fi
		(cd "$CW_ROOT/static" && npm run build >&2) || cw_die "the web UI build failed (static/)"
	elif [ -f "$CW_ROOT/static/dist/index.html" ]; then
		cw_warn "npm not found: the nginx image gets the existing (older) static/dist"
	else
		cw_warn "npm not found: the nginx image serves only the placeholder page"
	fi
fi

# ---- the build context ----------------------------------------------------------------
ctx=$CW_ROOT
tmp=''
cleanup() { [ -z "$tmp" ] || rm -rf -- "$tmp"; }
trap cleanup EXIT
if [ -n "$rev" ]; then
	tmp=$(mktemp -d "${TMPDIR:-/var/tmp}/cwctx.XXXXXX")
	git -C "$CW_ROOT" archive --format=tar "$rev" | tar -x -C "$tmp" ||
		cw_die "git archive $rev failed"
	if [ -d "$CW_ROOT/static/dist" ]; then
		mkdir -p "$tmp/static"
		cp -a "$CW_ROOT/static/dist" "$tmp/static/"
	fi
	ctx=$tmp
	cw_log "context: git $rev ($(git -C "$CW_ROOT" rev-parse --short "$rev"))"
else
	cw_log "context: the working tree $CW_ROOT"
fi

version=$(git -C "$CW_ROOT" describe --always --dirty 2>/dev/null || echo unknown)
[ -z "$rev" ] || version=$(git -C "$CW_ROOT" describe --always "$rev" 2>/dev/null || echo "$rev")

# build NAME FILE IMAGE
build() {
	local name=$1 file=$2 image=$3 start=$SECONDS
	cw_log "building $image ($file, base $base)"
	# --format docker: OCI images drop HEALTHCHECK.
	"${CW_PODMAN[@]}" build --format docker "${cache[@]}" "${CW_ULIMITS[@]}" \
		--build-arg "BASE=$base" --label "org.opencontainers.image.version=$version" \
		-f "$ctx/$file" -t "$image" "$ctx" >&2 || cw_die "building $image failed"
	cw_log "$name: $image built in $((SECONDS - start))s"
}
for w in ${only//,/ }; do
	case $w in
	app) build app deploy/container/Containerfile "$CW_IMAGE_APP" ;;
	nginx) build nginx deploy/container/nginx.Containerfile "$CW_IMAGE_NGINX" ;;
	redis) build redis deploy/container/redis.Containerfile "$CW_IMAGE_REDIS" ;;
	esac
done
"${CW_PODMAN[@]}" image ls --format '{{.Repository}}:{{.Tag}} {{.Size}}' |
	grep -E '^localhost/claude-web(-nginx|-redis|-base)?:' >&2 || true
