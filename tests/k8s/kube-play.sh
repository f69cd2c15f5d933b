#!/usr/bin/env bash
# kube-play.sh: an end-to-end smoke test of the Kubernetes manifests without a
# cluster. Renders deploy/k8s/overlays/dev, runs its Redis and its claude-web
# Deployment (app + nginx sidecar, the ConfigMap, the Secret, the workspace
# claim, hostUsers: false, procMount: Unmasked ...) with `podman kube play`,
# and checks through the pod's nginx port: /api/live, /api/ready, a login as
# the first admin the entry point made from the Secret, an agent run whose
# bash tool call runs in the sandbox and writes to the workspace volume
# (against tests/mock/fake_anthropic.py on the host), the pod name as the
# log's "instance"; then a pod stop is the graceful stop (SIGTERM), exit 0. Then `podman kube down` and every
# volume it made are removed. Prints TAP; exit 1 on a failure.
#
# Needs root, podman + runc + catatonit (installed with apt-get when missing),
# kubectl, node (tests/k8s: npm ci) and the images localhost/claude-web,
# localhost/claude-web-nginx and localhost/claude-web-redis (:latest, made by
# scripts/container-build.sh); without them: "1..0 # SKIP".
# What podman 4.3 cannot run as written is adapted by kube-play-prepare.mjs
# (Secret volumes, no Services/DNS); hostUsers: false needs a subordinate id
# range for podman's user "containers" (/etc/subuid, /etc/subgid), added when
# missing. Environment: KUBE_PLAY_TIMEOUT (seconds to wait for each pod, 120),
# KUBE_PLAY_KEEP=1 keeps the pods and files for a look afterwards.
# Functions run through trap and wait_for:
# shellcheck disable=SC2317
set -uo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
timeout=${KUBE_PLAY_TIMEOUT:-120}
prefix=cwkp-
work=$(mktemp -d "${TMPDIR:-/tmp}/kube-play.XXXXXX")

n=0 failed=0
tap() { # tap ok|fail TEXT [DETAIL...]
	local status=$1 text=$2 d
	shift 2
	n=$((n + 1))
	if [ "$status" = ok ]; then echo "ok $n - $text"; else
		echo "not ok $n - $text"
		failed=$((failed + 1))
	fi
	for d in "$@"; do printf '#   %s\n' "$d"; done
}
skip_all() {
	echo "1..0 # SKIP $*"
	rm -rf -- "$work"
	exit 0
}
finish() {
	echo "1..$n"
	[ "$failed" -eq 0 ] || {
		echo "# $failed of $n checks failed"
		exit 1
	}
	echo "# all $n checks passed"
	exit 0
}

[ "$(id -u)" -eq 0 ] || skip_all "needs root (rootful podman)"
if ! command -v podman >/dev/null 2>&1 || ! command -v runc >/dev/null 2>&1 ||
	! command -v catatonit >/dev/null 2>&1; then
	DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
		podman runc catatonit >"$work/apt.log" 2>&1 || :
fi
command -v podman >/dev/null 2>&1 || skip_all "podman is not installed"
command -v kubectl >/dev/null 2>&1 || skip_all "kubectl is not installed (tests/k8s/validate.sh installs it)"
command -v node >/dev/null 2>&1 && [ -d "$here/node_modules/yaml" ] ||
	(cd "$here" && npm ci --no-audit --no-fund --loglevel=error >"$work/npm.log" 2>&1) ||
	skip_all "node or the npm packages of tests/k8s are missing"

# podman as on machines like this one (scripts/container-lib.sh): runc and
# cgroupfs; default ulimits within this machine's hard limits (kube play has
# no --ulimit), through a containers.conf of our own.
podman=(podman --cgroup-manager cgroupfs)
command -v runc >/dev/null 2>&1 && podman+=(--runtime runc)
hn=$(ulimit -Hn) hu=$(ulimit -Hu)
[ "$hn" = unlimited ] && hn=65536
[ "$hu" = unlimited ] && hu=16384
cat >"$work/containers.conf" <<EOF
[containers]
default_ulimits = ["nofile=$((hn < 65536 ? hn : 65536)):$((hn < 65536 ? hn : 65536))", "nproc=$((hu < 16384 ? hu : 16384)):$((hu < 16384 ? hu : 16384))"]
EOF
export CONTAINERS_CONF="$work/containers.conf"

for image in claude-web claude-web-nginx claude-web-redis; do
	"${podman[@]}" image exists "localhost/$image:latest" ||
		skip_all "image localhost/$image:latest is missing (scripts/container-build.sh)"
done

# hostUsers: false is podman's --userns=auto: ids from the user "containers".
for f in /etc/subuid /etc/subgid; do
	grep -q '^containers:' "$f" 2>/dev/null || {
		echo "# adding containers:2147483647:2147483648 to $f (podman --userns=auto)"
		echo "containers:2147483647:2147483648" >>"$f"
	}
done

fake_pid=''
cleanup() {
	local f v
	[ -n "$fake_pid" ] && kill "$fake_pid" 2>/dev/null
	if [ "${KUBE_PLAY_KEEP:-0}" = 1 ]; then
		echo "# kept: $work (podman kube down $work/app.yaml $work/redis.yaml)"
		return
	fi
	for f in "$work/app.yaml" "$work/redis.yaml"; do
		[ -f "$f" ] && "${podman[@]}" kube down "$f" >/dev/null 2>&1
	done
	while IFS= read -r v; do
		"${podman[@]}" volume rm -f "$v" >/dev/null 2>&1
	done < <("${podman[@]}" volume ls --format '{{.Name}}' | grep "^$prefix")
	rm -rf -- "$work"
}
trap cleanup EXIT

# pod_ip POD: the pod's address on podman's network.
pod_ip() {
	local infra
	infra=$("${podman[@]}" pod inspect "$1" --format '{{.InfraContainerID}}' 2>/dev/null) || return 1
	"${podman[@]}" inspect "$infra" --format '{{range .NetworkSettings.Networks}}{{.IPAddress}} {{end}}' |
		awk '{ print $1 }'
}
# wait_for SECONDS CMD...: polls CMD every half second until it succeeds.
wait_for() {
	local deadline=$((SECONDS + $1))
	shift
	until "$@" >/dev/null 2>&1; do
		[ "$SECONDS" -lt "$deadline" ] || return 1
		sleep 0.5
	done
}
logs_tail() { "${podman[@]}" logs --tail 15 "$1" 2>&1 | sed 's/^/  /'; }

# ---- render and play Redis ------------------------------------------------------------
if ! kubectl kustomize "$root/deploy/k8s/overlays/dev" >"$work/dev.yaml" 2>"$work/kustomize.err"; then
	mapfile -t lines <"$work/kustomize.err"
	tap fail "kubectl kustomize deploy/k8s/overlays/dev" "${lines[@]}"
	finish
fi
node "$here/kube-play-prepare.mjs" "$work/dev.yaml" "$work" "$prefix" || {
	tap fail "kube-play-prepare.mjs on the dev overlay"
	finish
}
redis_pod=${prefix}claude-web-redis-pod-0
app_pod=${prefix}claude-web-pod-0

if out=$("${podman[@]}" kube play "$work/redis.yaml" 2>&1) &&
	wait_for "$timeout" "${podman[@]}" exec "$redis_pod-redis" claude-web-redis-entrypoint ping; then
	tap ok "the dev overlay's Redis runs (podman kube play) and answers PING with the Secret's password"
else
	mapfile -t lines < <(printf '%s\n' "$out" | grep -v 'level=error.*systemd' | tail -n 20; logs_tail "$redis_pod-redis")
	tap fail "the dev overlay's Redis runs (podman kube play)" "${lines[@]}"
	finish
fi
redis_ip=$(pod_ip "$redis_pod")

# The fake Anthropic API on the host, at the pods' gateway (no real API here).
gateway=$("${podman[@]}" network inspect podman-default-kube-network \
	--format '{{range .Subnets}}{{.Gateway}}{{end}}' 2>/dev/null | awk '{ print $1 }')
fake_url=''
if [ -n "$gateway" ] && command -v python3 >/dev/null 2>&1; then
	python3 "$root/tests/mock/fake_anthropic.py" --host "$gateway" --port 0 \
		--port-file "$work/fake.port" >"$work/fake.log" 2>&1 &
	fake_pid=$!
	wait_for 10 test -s "$work/fake.port" && fake_url="http://$gateway:$(cat "$work/fake.port")"
fi

# ---- play claude-web ------------------------------------------------------------------
node "$here/kube-play-prepare.mjs" "$work/dev.yaml" "$work" "$prefix" "$redis_ip" \
	${fake_url:+"ANTHROPIC_BASE_URL=$fake_url"}
if out=$("${podman[@]}" kube play "$work/app.yaml" 2>&1); then
	tap ok "the dev overlay's claude-web Deployment starts (app + nginx sidecar, hostUsers: false)"
else
	mapfile -t lines < <(printf '%s\n' "$out" | grep -v 'level=error.*systemd' | tail -n 20)
	tap fail "the dev overlay's claude-web Deployment starts" "${lines[@]}"
	finish
fi
ip=$(pod_ip "$app_pod")
base="https://$ip:8443"
echo "# pod $app_pod at $ip, Redis at $redis_ip"

http() { # http PATH [CURL ARGS...]: prints "STATUS BODY"
	local p=$1
	shift
	curl -ks -m 5 -o "$work/body" -w '%{http_code}' "$@" "$base$p" 2>/dev/null || echo 000
	printf ' '
	cat "$work/body" 2>/dev/null
}
expect() { # expect PATH STATUS [CURL ARGS...]: polls until PATH answers STATUS
	local p=$1 want=$2
	shift 2
	[ "$(http "$p" "$@" | cut -d' ' -f1)" = "$want" ]
}

if wait_for "$timeout" expect /api/live 200; then
	tap ok "GET /api/live through the pod's nginx port 8443: 200 ($(http /api/live | cut -d' ' -f2-))"
else
	mapfile -t lines < <(echo "last answer: $(http /api/live)"; logs_tail "$app_pod-app"; logs_tail "$app_pod-nginx")
	tap fail "GET /api/live through the pod's nginx port 8443" "${lines[@]}"
fi
if wait_for "$timeout" expect /api/ready 200; then
	tap ok "GET /api/ready: 200, Redis reached through the ConfigMap's REDIS_URL and the Secret's password ($(http /api/ready | cut -d' ' -f2-))"
else
	mapfile -t lines < <(echo "last answer: $(http /api/ready)"; logs_tail "$app_pod-app")
	tap fail "GET /api/ready: 200" "${lines[@]}"
fi

login=$(http /api/auth/login -H 'Content-Type: application/json' \
	--data '{"username":"admin","password":"dev-admin-password"}')
if [ "${login%% *}" = 200 ] && printf '%s' "${login#* }" | grep -q '"token"'; then
	tap ok "the first admin (ADMIN_USER, admin_password of the Secret) logs in: 200 with a token"
else
	tap fail "the first admin logs in" "answer: ${login:0:300}"
fi

# An agent run: the fake model asks for a bash command, the runner runs it in
# the sandbox, in the session's files/ on the workspace claim.
token=$(printf '%s' "${login#* }" | sed -n 's/.*"token":"\([^"]*\)".*/\1/p')
if [ -z "$fake_url" ]; then
	tap fail "an agent run with a sandboxed bash call" "the fake Anthropic API did not start: $(tail -n 3 "$work/fake.log" 2>/dev/null)"
else
	curl -s -o /dev/null -X POST -H 'Content-Type: application/json' "$fake_url/_fake/script" --data-binary \
		'{"turns":[{"content":[{"type":"tool_use","id":"toolu_k8s","name":"bash","input":{"command":"echo sandboxed-in-k8s > k8s.txt && cat k8s.txt"}}]},{"text":"done"}]}'
	auth=(-H "Authorization: Bearer $token" -H 'Content-Type: application/json')
	session=$(http /api/sessions "${auth[@]}" -X POST --data '{"permission_mode":"bypassPermissions"}')
	sid=$(printf '%s' "${session#* }" | sed -n 's/.*"id":"\([^"]*\)".*/\1/p')
	msg=$(http "/api/sessions/$sid/messages" "${auth[@]}" -X POST --data '{"content":"write the file"}')
	file_written() {
		[ "$(http "/api/sessions/$sid/files/content?path=k8s.txt" -H "Authorization: Bearer $token" | cut -d' ' -f2-)" = sandboxed-in-k8s ]
	}
	if [ -n "$sid" ] && [ "${msg%% *}" = 202 ] && wait_for "$timeout" file_written; then
		tap ok "an agent run's bash call runs in the sandbox and its file is on the workspace claim (read back through the files API; podman: procMount Unmasked played as privileged)"
	else
		mapfile -t lines < <(echo "session: ${session:0:200}"; echo "message: ${msg:0:200}"
			echo "file: $(http "/api/sessions/$sid/files/content?path=k8s.txt" -H "Authorization: Bearer $token" | head -c 300)"
			"${podman[@]}" logs "$app_pod-app" 2>&1 | grep -v '"level":"debug"' | tail -n 12)
		tap fail "an agent run's bash call runs in the sandbox and its file is on the workspace claim" "${lines[@]}"
	fi
fi

"${podman[@]}" logs "$app_pod-app" >"$work/app.log" 2>&1
if grep -q "\"instance\":\"$app_pod\"" "$work/app.log"; then
	tap ok "log lines carry the pod's name as \"instance\" (INSTANCE_ID from the downward API)"
else
	mapfile -t lines < <(logs_tail "$app_pod-app")
	tap fail "log lines carry the pod's name as \"instance\"" "${lines[@]}"
fi

# A pod stop is what the kubelet does: the image's stop signal (SIGTERM),
# then SIGKILL after the grace period.
"${podman[@]}" pod stop -t 60 "$app_pod" >/dev/null 2>&1
code=$("${podman[@]}" inspect "$app_pod-app" --format '{{.State.ExitCode}}' 2>/dev/null)
"${podman[@]}" logs "$app_pod-app" >"$work/app.log" 2>&1
if grep -q '"msg":"graceful stop' "$work/app.log" && [ "$code" = 0 ]; then
	tap ok "stopping the pod is claude-web's graceful stop (SIGTERM) and the app exits 0"
else
	mapfile -t lines < <(echo "exit code: $code"; logs_tail "$app_pod-app")
	tap fail "stopping the pod is claude-web's graceful stop (SIGTERM) and the app exits 0" "${lines[@]}"
fi
finish
