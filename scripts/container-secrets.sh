#!/usr/bin/env bash
# container-secrets.sh [DIR]: makes the secret files compose.yaml mounts
# (DIR: the first argument, else CW_SECRETS_DIR, else <repo>/var/compose-secrets), each
# only when missing, never rewritten:
#   secret_key         32 random bytes, hex (JWT signing key; every replica
#                      shares it)
#   redis_password     32 random bytes, hex
#   admin_password     20 random characters: the first admin's password
#                      (ADMIN_USER, default admin), printed once here
#   anthropic_api_key  ANTHROPIC_API_KEY from the environment, else empty
#                      (write the key into it before the first run)
#
# DIR is mode 0700 so that only its owner (root with rootful podman) reaches
# the files on the host; the files are 0444 because the containers' users
# (uid 1000 in the app, the Redis user in the Redis image) read them through
# their bind mounts. Compose's uid/gid/mode for secrets are not supported by
# podman-compose 1.0.3, hence this layout.
set -euo pipefail

CW_PROG='container-secrets'
# shellcheck source=scripts/lib-common.sh
. "$(dirname "$0")/lib-common.sh"

case ${1:-} in
-h | --help)
	cw_usage "$0"
	exit 0
	;;
esac
dir=$(cw_abspath "${1:-${CW_SECRETS_DIR:-$CW_ROOT/var/compose-secrets}}")
command -v openssl >/dev/null 2>&1 || cw_die "openssl is missing"
umask 077
mkdir -p "$dir"
chmod 0700 "$dir"

# put NAME: writes stdin to DIR/NAME (0444) unless it exists.
put() {
	local f=$dir/$1
	if [ -e "$f" ]; then
		cat >/dev/null
		return 1
	fi
	cat >"$f.tmp"
	chmod 0444 "$f.tmp"
	mv -f -- "$f.tmp" "$f"
}

openssl rand -hex 32 | put secret_key && cw_log "made $dir/secret_key"
openssl rand -hex 32 | put redis_password && cw_log "made $dir/redis_password"
pw=$(openssl rand -base64 30 | tr -dc 'A-Za-z0-9' | head -c 20)
if printf '%s\n' "$pw" | put admin_password; then
	cw_log "made $dir/admin_password: the first admin's password is $pw"
fi
if [ -n "${ANTHROPIC_API_KEY:-}" ]; then
	case $ANTHROPIC_API_KEY in *$'\n'*) cw_die "ANTHROPIC_API_KEY must be one line" ;; esac
	printf '%s\n' "$ANTHROPIC_API_KEY" | put anthropic_api_key && cw_log "made $dir/anthropic_api_key (from ANTHROPIC_API_KEY)"
elif : </dev/null | put anthropic_api_key; then
	cw_warn "$dir/anthropic_api_key is empty: write your Anthropic API key into it"
fi
exit 0
