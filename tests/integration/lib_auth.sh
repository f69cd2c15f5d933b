# shellcheck shell=bash
# tests/integration/lib_auth.sh: helpers for the auth, JWT, sessions, limits,
# metrics and admin-CLI integration tests. Source it after lib.sh.
#
# Users:   cw_admin ARGS...  (claude-web-admin with the test's config, via an
#          env-file; stdout+stderr in $ADMIN_OUT, exit status in $ADMIN_RC)
#          admin_pw PASSWORD ARGS... (the same, PASSWORD as stdin's first line)
#          user_add NAME PASSWORD [ROLE]
# Login:   login NAME PASSWORD [CURL ARGS...]  (sets TOKEN, "" on failure)
#          login_body NAME PASSWORD -> the JSON request body
# HTTP:    api_bearer TOKEN PATH [CURL ARGS...]  (api_get with Authorization)
#          api_cookie TOKEN PATH [CURL ARGS...]  (api_get with the cw_token cookie)
#          post_json PATH JSON [CURL ARGS...]     (api_get -X POST, JSON body)
# JWT:     jwt_forge HEADER_JSON PAYLOAD_JSON [KEY] [HASH]  (HMAC, stdlib python)
#          jwt_part TOKEN N -> decoded JSON of part N (0 header, 1 payload)
# Metrics: metrics_fetch (into $METRICS), metric 'NAME{labels}' -> value (0 if absent)
# Clients: other_local_addr -> a non-loopback IPv4 of this host ("" if none)
#          via_addr ADDR -> sets VIA=(--resolve ...) to reach nginx from ADDR
#          burst N PARALLEL PATH [CURL ARGS...] -> one status code per line
# Misc:    dir_exists PATH, file_exists PATH, now_s,
#          cw_require_admin (SKIP when claude-web-admin is missing)

ADMIN_BIN=${CLAUDE_WEB_ADMIN:-$TOP_BUILDDIR/claude-web-admin}
ADMIN_ENV_FILE=$T/admin.env
ADMIN_OUT=$T/admin.out
ADMIN_RC=0

cw_require_admin() {
	if [ ! -x "$ADMIN_BIN" ]; then
		printf '1..0 # SKIP claude-web-admin not found: %s\n' "$ADMIN_BIN"
		exit 0
	fi
}

# cw_admin ARGS...: runs claude-web-admin --config $ADMIN_ENV_FILE ARGS in a
# clean environment; stdin is inherited (pipe a password in).
cw_admin() {
	cw_write_env_file "$ADMIN_ENV_FILE"
	env -i PATH="$PATH" HOME="${HOME:-/root}" "$ADMIN_BIN" \
		--config "$ADMIN_ENV_FILE" "$@" >"$ADMIN_OUT" 2>&1
	ADMIN_RC=$?
	return $ADMIN_RC
}

# admin_pw PASSWORD ARGS...: cw_admin ARGS with PASSWORD as the first line
# of stdin (not a pipeline, so that ADMIN_RC survives).
admin_pw() {
	local pw=$1
	shift
	cw_admin "$@" <<<"$pw"
}

# user_add NAME PASSWORD [ROLE]
user_add() {
	if [ -n "${3:-}" ]; then
		admin_pw "$2" user add "$1" --role "$3"
	else
		admin_pw "$2" user add "$1"
	fi
}

# post_json PATH JSON [CURL ARGS...]
post_json() {
	local path=$1 data=$2
	shift 2
	api_get "$path" -X POST -H 'Content-Type: application/json' \
		--data-binary "$data" "$@"
}

# login_body NAME PASSWORD: the JSON of a login request (properly escaped).
login_body() {
	jq -cn --arg u "$1" --arg p "$2" '{username: $u, password: $p}'
}

# login NAME PASSWORD [CURL ARGS...]: POST /api/auth/login; TOKEN on 200.
login() {
	local u=$1 p=$2
	shift 2
	post_json /api/auth/login "$(login_body "$u" "$p")" "$@"
	TOKEN=''
	[ "$HTTP_STATUS" = 200 ] && TOKEN=$(json '.token // empty')
	[ -n "$TOKEN" ]
}

# api_bearer TOKEN PATH [CURL ARGS...]
api_bearer() {
	local tok=$1 path=$2
	shift 2
	api_get "$path" -H "Authorization: Bearer $tok" "$@"
}

# api_cookie TOKEN PATH [CURL ARGS...]
api_cookie() {
	local tok=$1 path=$2
	shift 2
	api_get "$path" -H "Cookie: cw_token=$tok" "$@"
}


# jwt_forge HEADER_JSON PAYLOAD_JSON [KEY] [HASH]: a JWT whose signature is
# HMAC-HASH(KEY) (default: the test's SECRET_KEY, sha256). HASH "none" gives
# an empty signature; "junk" a fixed non-signature.
jwt_forge() {
	python3 - "$1" "$2" "${3-${CW_CONF[SECRET_KEY]}}" "${4:-sha256}" <<'EOF'
import base64, hashlib, hmac, sys
hdr, pay, key, hname = sys.argv[1:5]
b64 = lambda b: base64.urlsafe_b64encode(b).rstrip(b"=").decode()
signing = b64(hdr.encode()) + "." + b64(pay.encode())
if hname == "none":
    sig = ""
elif hname == "junk":
    sig = b64(b"not a signature at all, 32 byte")
else:
    sig = b64(hmac.new(key.encode(), signing.encode(), getattr(hashlib, hname)).digest())
print(signing + "." + sig)
EOF
}

# jwt_part TOKEN N: base64url-decodes part N of TOKEN.
jwt_part() {
	python3 - "$1" "$2" <<'EOF'
import base64, sys
p = sys.argv[1].split(".")[int(sys.argv[2])]
print(base64.urlsafe_b64decode(p + "=" * (-len(p) % 4)).decode())
EOF
}

now_s() {
	date +%s
}

# ---- metrics -------------------------------------------------------------------
METRICS=''
# metrics_fetch: GET /api/metrics from loopback into $METRICS.
metrics_fetch() {
	api_get /api/metrics
	METRICS=$(cat "$BODY")
	[ "$HTTP_STATUS" = 200 ]
}

# metric 'NAME{labels}' (exactly as rendered) or NAME: its value, 0 if absent.
metric() {
	printf '%s\n' "$METRICS" | awk -v k="$1" '
		substr($0, 1, 1) != "#" {
			v = $NF; $NF = ""; sub(/ +$/, "")
			if ($0 == k) { print v; found = 1; exit }
		}
		END { if (!found) print 0 }'
}


dir_exists() { [ -d "$1" ]; }
file_exists() { [ -f "$1" ]; }

# other_local_addr: a non-loopback IPv4 address of this host ("" if none), to
# reach nginx from a client address other than 127.0.0.1.
other_local_addr() {
	ip -4 -o addr show scope global 2>/dev/null |
		awk '{ sub(/\/.*/, "", $4); print $4; exit }'
}

# via_addr ADDR: sets VIA to the curl arguments that connect to nginx at ADDR
# instead of 127.0.0.1 (same URL, same TLS name): api_get PATH "${VIA[@]}".
VIA=()
via_addr() {
	VIA=(--resolve "localhost:$HTTPS_PORT:$1")
}

# burst N PARALLEL PATH [CURL ARGS...]: N requests for PATH, PARALLEL at a time
# over HTTP/2; prints one status code per line.
burst() {
	local n=$1 par=$2 path=$3 i cfg=$T/burst.cfg
	shift 3
	: >"$cfg"
	for ((i = 0; i < n; i++)); do
		printf 'url = "%s%s"\noutput = "/dev/null"\n' "$BASE_URL" "$path" >>"$cfg"
	done
	curl -4ks --http2 --parallel --parallel-max "$par" --max-time 30 \
		-w '%{http_code}\n' "$@" -K "$cfg" 2>/dev/null
}
