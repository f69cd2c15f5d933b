#!/usr/bin/env bash
# test.sh: the whole test run; CI runs it through .ci/run.
#
# Sections, in order (each reports PASS / FAIL / SKIP; the run goes on after a
# failure so one run shows every problem; exit 1 if any section failed):
#   deps      scripts/install-deps.sh --lint --e2e (installs only what is missing)
#   lint      shellcheck; render the nginx/redis templates and check them
#   bootstrap autoreconf -fi
#   check     build-test/: configure [--enable-werror]; make check
#             (unit + integration tests through automake's TAP driver)
#   smoke     scripts/start.sh, status.sh, stop.sh on a private STATE_DIR
#   asan      build-asan/: CC=clang --enable-asan --enable-ubsan; make check
#   fuzz      build-fuzz/: CC=clang --enable-fuzzing (+ASan/UBSan); run each
#             libFuzzer harness for FUZZ_SECONDS on its seed corpus
#   frontend  (hook) static/: npm ci, npm run build (static/dist), npm test (Vitest)
#   e2e       (hook) tests/e2e/run.sh: headless Chromium against a private stack
#   deploy    tests/k8s/validate.sh when it exists (offline checks of deploy/k8s)
#   containers tests/container/run.sh: builds the images (podman, local base
#             image), compose up, health, smoke, an agent run with bash in the
#             sandbox, two app replicas, down (~5 min warm, ~10 min cold);
#             CW_TEST_CONTAINERS=0 skips it
#
# Options:
#   --only LIST   comma-separated sections to run (e.g. --only lint,check)
#   --skip LIST   sections to skip (e.g. --skip asan,fuzz for a quick run)
# Environment: JOBS (2), FUZZ_SECONDS (20).

# The sec_* functions are called indirectly ("sec_$name").
# shellcheck disable=SC2317
set -euo pipefail

CW_PROG='test'
# shellcheck source=scripts/lib-common.sh
. "$(dirname "$0")/lib-common.sh"

ALL_SECTIONS=(deps lint bootstrap frontend check smoke asan fuzz e2e deploy containers)
only='' skip=''
while [ $# -gt 0 ]; do
	case $1 in
	--only)
		only=${2:?--only needs a list}
		shift 2
		;;
	--skip)
		skip=${2:?--skip needs a list}
		shift 2
		;;
	-h | --help)
		cw_usage "$0"
		exit 0
		;;
	*) cw_die "unknown argument: $1 (try --help)" ;;
	esac
done
JOBS=${JOBS:-2}
FUZZ_SECONDS=${FUZZ_SECONDS:-20}

cd "$CW_ROOT"

# ---- helpers -------------------------------------------------------------------
has_configure_opt() { "$CW_ROOT/configure" --help | grep -q -- "$1"; }

# configure_in DIR ARGS...: fresh out-of-tree configure (a stale cache from
# another compiler or option set causes confusing failures).
configure_in() {
	local dir=$1
	shift
	rm -rf -- "${CW_ROOT:?}/$dir"
	mkdir -p "$CW_ROOT/$dir"
	echo "+ cd $dir && ../configure $*"
	(cd "$CW_ROOT/$dir" && ../configure "$@") || {
		cw_tail "$CW_ROOT/$dir/config.log" 60
		return 1
	}
}

# make_check DIR: make check, printing the test logs on failure.
make_check() {
	local dir=$1 log
	echo "+ make -C $dir -j$JOBS"
	make -C "$CW_ROOT/$dir" -j"$JOBS"
	echo "+ make -C $dir -j$JOBS check"
	if ! make -C "$CW_ROOT/$dir" -j"$JOBS" check; then
		while IFS= read -r log; do
			echo "===== $log ====="
			cat -- "$log"
			# The failed test lines, repeated after the summary.
			grep -E '^(FAIL|ERROR|XPASS):' -- "$log" | sed "s|^|$dir: |" | head -n 20 >>"${NOTES:-/dev/null}" || :
		done < <(find "$CW_ROOT/$dir" -name test-suite.log)
		return 1
	fi
}

# ---- sections --------------------------------------------------------------------
sec_deps() {
	"$CW_ROOT/scripts/install-deps.sh" --lint --e2e
}

sec_lint() {
	local files=() advisory=() f tmp
	for f in scripts/*.sh bench/*.sh .ci/run; do
		[ -f "$f" ] && files+=("$f")
	done
	echo "+ shellcheck -x --severity=warning ${files[*]}"
	shellcheck -x --severity=warning "${files[@]}"
	# Advisory for now (reported, not fatal): move into files once clean.
	for f in tests/integration/*.sh; do
		[ -f "$f" ] && advisory+=("$f")
	done
	if [ "${#advisory[@]}" -gt 0 ]; then
		echo "+ shellcheck -x --severity=warning tests/integration/*.sh (advisory)"
		shellcheck -x --severity=warning "${advisory[@]}" ||
			echo "advisory: shellcheck findings in tests/integration (not fatal yet)"
	fi

	# The templates: render with dummy values, then let nginx and redis parse them.
	tmp=$(mktemp -d "${TMPDIR:-/tmp}/cwlint.XXXXXX")
	# shellcheck disable=SC2064 # expand now; each section runs in a subshell
	trap "rm -rf -- '$tmp'" EXIT
	mkdir -p "$tmp/nginx" "$tmp/log"
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
		-days 1 -subj /CN=localhost -keyout "$tmp/key.pem" -out "$tmp/cert.pem" >/dev/null 2>&1
	(
		NGINX_USER="$(id -un) $(id -gn)"
		export NGINX_USER NGINX_DIR=$tmp/nginx LOG_DIR=$tmp/log \
			HTTP_PORT=18080 HTTPS_PORT=18443 TLS_CERT=$tmp/cert.pem TLS_KEY=$tmp/key.pem \
			MAX_BODY_SIZE=11534336 STATIC_ROOT=$CW_ROOT/static API_SOCKET=$tmp/api.sock \
			STREAM_SOCKET=$tmp/stream.sock SSE_MAX_CONN=8 PUBLIC_HOST=localhost
		scripts/render-conf.sh nginx/nginx.conf.in "$tmp/nginx/nginx.conf"
		[ "$(id -u)" -eq 0 ] || sed -i '/^user /d' "$tmp/nginx/nginx.conf"
		echo "+ nginx -t (rendered nginx/nginx.conf.in)"
		nginx -q -t -p "$tmp/nginx" -c "$tmp/nginx/nginx.conf"

		export REDIS_SOCKET=$tmp/redis.sock REDIS_DIR=$tmp REDIS_PIDFILE=$tmp/redis.pid \
			REDIS_LOG=$tmp/redis.log REDIS_PASSWORD=lint REDIS_MAXMEMORY=64mb
		scripts/render-conf.sh redis/redis.conf.in "$tmp/redis.conf"
		echo "+ redis-server (rendered redis/redis.conf.in): start, PING, SHUTDOWN"
		redis-server "$tmp/redis.conf" >"$tmp/redis.stdout" 2>&1 &
		local pid=$! ok=0
		for _ in $(seq 1 50); do
			if [ "$(REDISCLI_AUTH=lint redis-cli -s "$tmp/redis.sock" ping 2>/dev/null)" = PONG ]; then
				ok=1
				break
			fi
			cw_alive "$pid" || break
			sleep 0.1
		done
		REDISCLI_AUTH=lint redis-cli -s "$tmp/redis.sock" shutdown nosave >/dev/null 2>&1 || kill "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
		if [ "$ok" -ne 1 ]; then
			cat "$tmp/redis.stdout" "$tmp/redis.log" 2>/dev/null
			exit 1
		fi
	)
}

sec_bootstrap() {
	echo "+ autoreconf -fi"
	autoreconf -fi
}

sec_check() {
	local opts=()
	has_configure_opt --enable-werror && opts+=(--enable-werror)
	configure_in build-test "${opts[@]}"
	make_check build-test
}

sec_smoke() {
	local bin state out rc=0
	# The binary the check section built; for `--only smoke`, also build/.
	for bin in "$CW_ROOT/build-test/claude-web" "$CW_ROOT/build/claude-web" ''; do
		[ -x "$bin" ] && break
	done
	if [ -z "$bin" ]; then
		echo "no claude-web binary in build-test/ or build/ (the check section builds it)"
		return 1
	fi
	echo "using $bin"
	state=$(mktemp -d "${TMPDIR:-/tmp}/cwsmoke.XXXXXX")
	(
		export STATE_DIR=$state CLAUDE_WEB_BIN=$bin
		HTTPS_PORT=$(cw_free_port)
		HTTP_PORT=$(cw_free_port)
		export HTTPS_PORT HTTP_PORT
		# shellcheck disable=SC2317 # invoked by the trap
		cleanup() { scripts/stop.sh >/dev/null 2>&1 || true; }
		trap cleanup EXIT
		fail() {
			echo "smoke: $*"
			for f in "$state"/log/*; do cw_tail "$f" 20 2>&1; done
			exit 1
		}

		out=$(scripts/start.sh) || fail "start.sh failed"
		[ "$out" = "ready: https://localhost:$HTTPS_PORT/" ] || fail "start.sh printed '$out'"
		echo "ok: start.sh -> $out"

		code=$(curl -ks -o /dev/null -w '%{http_code}' "https://localhost:$HTTPS_PORT/api/health")
		[ "$code" = 200 ] || fail "/api/health answered $code"
		echo "ok: /api/health 200"

		hdrs=$(curl -ksI "https://localhost:$HTTPS_PORT/")
		for h in strict-transport-security content-security-policy x-content-type-options x-frame-options x-request-id; do
			grep -qi "^$h:" <<<"$hdrs" || fail "header $h missing on /"
		done
		echo "ok: security headers on /"

		body=$(curl -ks "https://localhost:$HTTPS_PORT/code/")
		grep -q '"type":"service_unavailable"' <<<"$body" || fail "/code/ answered '$body'"
		loc=$(curl -ks -o /dev/null -w '%{redirect_url}' "http://localhost:$HTTP_PORT/x?y=1")
		[ "$loc" = "https://localhost:$HTTPS_PORT/x?y=1" ] || fail "http redirect went to '$loc'"
		echo "ok: /code/ JSON 503, http -> https redirect"

		scripts/status.sh || fail "status.sh exited $? while running"
		out=$(scripts/start.sh) || fail "second start.sh failed"
		[ "$out" = "already running: https://localhost:$HTTPS_PORT/" ] || fail "second start.sh printed '$out'"
		echo "ok: second start.sh -> $out"

		scripts/stop.sh || fail "stop.sh failed"
		scripts/stop.sh || fail "second stop.sh failed"
		rc=0
		scripts/status.sh >/dev/null || rc=$?
		[ "$rc" -eq 3 ] || fail "status.sh exited $rc after stop (want 3)"
		echo "ok: stop.sh (twice), status.sh exit 3"
	) || rc=$?
	rm -rf -- "$state"
	return "$rc"
}

sec_asan() {
	if ! has_configure_opt --enable-asan; then
		echo "configure has no --enable-asan"
		return 1
	fi
	# Make every sanitizer report fatal and readable.
	export ASAN_OPTIONS=${ASAN_OPTIONS:-abort_on_error=1:detect_leaks=1:strict_string_checks=1:detect_stack_use_after_return=1}
	export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
	configure_in build-asan CC=clang --enable-asan --enable-ubsan
	make_check build-asan
}

sec_fuzz() {
	if ! has_configure_opt --enable-fuzzing; then
		echo "SKIP: configure has no --enable-fuzzing"
		return 77
	fi
	configure_in build-fuzz CC=clang --enable-fuzzing --enable-asan --enable-ubsan
	echo "+ make -C build-fuzz -j$JOBS"
	make -C build-fuzz -j"$JOBS"

	local fuzzers=() f name seed work failed=0
	mapfile -t fuzzers < <(find build-fuzz/tests/fuzz -maxdepth 1 -type f -name 'fuzz_*' -perm -u+x 2>/dev/null | sort)
	if [ "${#fuzzers[@]}" -eq 0 ]; then
		echo "no fuzz_* harnesses were built in build-fuzz/tests/fuzz"
		return 1
	fi
	mkdir -p build-fuzz/artifacts
	for f in "${fuzzers[@]}"; do
		name=${f##*/}
		# Seed corpus: tests/fuzz/corpus/<fuzz_NAME> or tests/fuzz/corpus/<NAME>.
		seed=''
		for d in "tests/fuzz/corpus/$name" "tests/fuzz/corpus/${name#fuzz_}"; do
			[ -d "$d" ] && seed=$d && break
		done
		[ -n "$seed" ] || echo "warning: no seed corpus for $name (looked in tests/fuzz/corpus/{$name,${name#fuzz_}})"
		# New inputs go to a scratch corpus (first dir), never into the repo.
		work=$(mktemp -d "${TMPDIR:-/tmp}/cwfuzz.XXXXXX")
		echo "+ $f -max_total_time=$FUZZ_SECONDS $work ${seed:-}"
		if "$f" -max_total_time="$FUZZ_SECONDS" -print_final_stats=1 \
			-artifact_prefix="build-fuzz/artifacts/$name-" \
			"$work" ${seed:+"$seed"} >"build-fuzz/$name.log" 2>&1; then
			echo "ok: $name ($(grep -c . "build-fuzz/$name.log") log lines; $(find "$work" -type f | wc -l) new inputs)"
		else
			echo "FAIL: $name; crash inputs in build-fuzz/artifacts/"
			tail -n 60 "build-fuzz/$name.log"
			# The summary repeats why, and the crashing input (base64, first
			# 2 KiB), so a CI log that keeps only its tail still reproduces it.
			{
				echo "fuzz: $name: $(grep -m1 -E 'ERROR:|SUMMARY:|ALARM|out-of-memory|deadly signal' "build-fuzz/$name.log" || echo "exit status non-zero, no sanitizer line")"
				for a in build-fuzz/artifacts/"$name"-*; do
					[ -f "$a" ] || continue
					echo "fuzz: $name: input ${a##*/} (base64): $(head -c 2048 "$a" | base64 -w0)"
				done
			} >>"$NOTES"
			failed=1
		fi
		rm -rf -- "$work"
	done
	return "$failed"
}

# Hook: the single-page app (static/): a clean install from the lockfile, the
# type check + production build into static/dist (the e2e section serves it),
# and the Vitest unit tests.
sec_frontend() {
	if [ ! -f static/package.json ]; then
		echo "SKIP: no static/package.json"
		return 77
	fi
	echo "+ (cd static && npm ci && npm run build && npm test)"
	(cd static && npm ci --no-audit --no-fund && npm run build && npm test)
}

# Hook: browser end-to-end tests against a started stack, once they exist.
sec_e2e() {
	if [ -x tests/e2e/run.sh ]; then
		tests/e2e/run.sh
		return
	fi
	echo "SKIP: no tests/e2e/run.sh yet"
	return 77
}

# The deployment files: offline validation of deploy/k8s (fast).
sec_deploy() {
	if [ -x tests/k8s/validate.sh ]; then
		tests/k8s/validate.sh
		return
	fi
	echo "SKIP: no tests/k8s/validate.sh"
	return 77
}

# Containers: the images and the compose stack on podman (tests/container/run.sh).
sec_containers() {
	if [ "${CW_TEST_CONTAINERS:-1}" = 0 ]; then
		echo "SKIP: CW_TEST_CONTAINERS=0"
		return 77
	fi
	"$CW_ROOT/scripts/install-deps.sh" --containers
	tests/container/run.sh
	# The same images as Kubernetes would run them (podman kube play of the
	# dev overlay). tests/k8s/sentinel-play.sh (the redis-sentinel overlay's
	# scripts in three podman containers) is run by hand: one fresh-clone run
	# here saw its sentinels never promote within 40 s, and Sentinel failover
	# itself is tested by t_redis_ha.sh on every run.
	tests/k8s/kube-play.sh
}

# ---- driver ----------------------------------------------------------------------
in_list() { case ",$2," in *",$1,"*) return 0 ;; esac; return 1; }

results=()
status=0
# Sections append one-line reasons for a failure here; printed after the summary.
NOTES=$(mktemp "${TMPDIR:-/tmp}/cwtest-notes.XXXXXX")
trap 'rm -f -- "$NOTES"' EXIT
export NOTES
for sec in "${ALL_SECTIONS[@]}"; do
	if { [ -n "$only" ] && ! in_list "$sec" "$only"; } || in_list "$sec" "$skip"; then
		results+=("$(printf '%-10s SKIP (not selected)' "$sec")")
		continue
	fi
	echo
	echo "==================== $sec ===================="
	start=$SECONDS
	set +e
	(
		set -e
		"sec_$sec"
	)
	rc=$?
	set -e
	took=$((SECONDS - start))
	case $rc in
	0) verdict=PASS ;;
	77) verdict=SKIP ;;
	*)
		verdict="FAIL (exit $rc)"
		status=1
		;;
	esac
	echo "---- $sec: $verdict (${took}s)"
	results+=("$(printf '%-10s %s  %ss' "$sec" "$verdict" "$took")")
	# Without dependencies or a configure script the rest cannot say anything.
	if { [ "$sec" = deps ] || [ "$sec" = bootstrap ]; } && [ "$rc" -ne 0 ]; then
		echo "$sec failed; stopping"
		break
	fi
done

echo
echo "==================== summary ===================="
printf '%s\n' "${results[@]}"
if [ -s "$NOTES" ]; then
	echo "---- why"
	cat -- "$NOTES"
fi
if [ "$status" -eq 0 ]; then
	echo "all selected sections passed"
else
	echo "FAILED"
fi
exit "$status"
