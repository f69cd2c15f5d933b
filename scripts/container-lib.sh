# shellcheck shell=bash
# Shared helpers of scripts/container-*.sh and tests/container/: how podman
# is run on machines like this one. Source it after lib-common.sh.
#
# After cw_podman_init:
#   CW_PODMAN     the podman command with its global options: --runtime runc
#                 (crun fails on cgroup v1 / hybrid hosts: "cgroups in hybrid
#                 mode") and --cgroup-manager cgroupfs (no systemd as PID 1
#                 here), unless CW_PODMAN_GLOBAL says otherwise
#   CW_ULIMITS    --ulimit options for `podman build` and `podman run`:
#                 podman's defaults (nofile and nproc 1048576+) are above this
#                 machine's hard limits, and without CAP_SYS_RESOURCE runc then
#                 fails ("error setting rlimit type 7: operation not permitted")
#   CW_NOFILE, CW_NPROC  the two values (exported: compose.yaml reads them)
#   CW_SUDO       (sudo) when not root

# cw_podman_init: sets the variables above.
# shellcheck disable=SC2034 # CW_ULIMITS is for the scripts that source this
cw_podman_init() {
	local hn hu
	CW_SUDO=()
	if [ "$(id -u)" -ne 0 ]; then
		command -v sudo >/dev/null 2>&1 || cw_die "podman here runs as root: run as root or install sudo"
		CW_SUDO=(sudo "--preserve-env=CW_NOFILE,CW_NPROC,CW_BASE_IMAGE")
	fi
	if [ -n "${CW_PODMAN_GLOBAL+x}" ]; then
		# shellcheck disable=SC2206 # words on purpose
		CW_PODMAN=("${CW_SUDO[@]}" podman $CW_PODMAN_GLOBAL)
	elif command -v runc >/dev/null 2>&1; then
		CW_PODMAN=("${CW_SUDO[@]}" podman --runtime runc --cgroup-manager cgroupfs)
	else
		CW_PODMAN=("${CW_SUDO[@]}" podman --cgroup-manager cgroupfs)
	fi
	hn=$(ulimit -Hn)
	hu=$(ulimit -Hu)
	[ "$hn" = unlimited ] && hn=65536
	[ "$hu" = unlimited ] && hu=16384
	CW_NOFILE=${CW_NOFILE:-$((hn < 65536 ? hn : 65536))}
	CW_NPROC=${CW_NPROC:-$((hu < 16384 ? hu : 16384))}
	export CW_NOFILE CW_NPROC
	CW_ULIMITS=(--ulimit "nofile=$CW_NOFILE:$CW_NOFILE" --ulimit "nproc=$CW_NPROC:$CW_NPROC")
}

# The images (another helper's `podman kube play` uses the same names).
CW_IMAGE_BASE=${CW_BASE_IMAGE:-localhost/claude-web-base:bookworm}
CW_IMAGE_APP=localhost/claude-web:latest
CW_IMAGE_NGINX=localhost/claude-web-nginx:latest
CW_IMAGE_REDIS=localhost/claude-web-redis:latest
export CW_IMAGE_BASE CW_IMAGE_APP CW_IMAGE_NGINX CW_IMAGE_REDIS

# cw_compose ARGS...: podman-compose with the podman options above.
cw_compose() {
	local g="${CW_PODMAN[*]:${#CW_SUDO[@]}+1}"
	"${CW_SUDO[@]}" podman-compose ${g:+--podman-args="$g"} "$@"
}
