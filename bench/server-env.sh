# shellcheck shell=bash
# Sourced by bench/run, bench/probe, bench/hash-ab and bench/admin-list.sh: the environment of
# the authkit-server they measure, whole (for `env -i`: nothing from the caller's AUTHKIT_* or
# RUST_LOG). Abuse limits are off, as for the peers: the per-IP limits and the per-account login
# throttle (every login of a phase is for one account, and each attempt counts as a failure
# until its hash is checked).

# server_env URL [VAR=value ...]: that environment for the database at URL, followed by the
# given variables, in the array SERVER_ENV.
server_env() {
  SERVER_ENV=(
    PATH="$PATH" HOME="${HOME:-/tmp}"
    AUTHKIT_DATABASE_URL="$1"
    AUTHKIT_BIND=127.0.0.1:0
    AUTHKIT_LOG_FORMAT=json
    RUST_LOG=warn
    AUTHKIT_RATE_LIMIT_PER_MINUTE=0
    AUTHKIT_RATE_LIMIT_AUTH_PER_MINUTE=0
    AUTHKIT_LOGIN_THROTTLE_FAILURES=0
    "${@:2}"
  )
}
