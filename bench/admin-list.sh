#!/usr/bin/env bash
# Latency of the admin user listing (GET /api/v1/admin/users) with 1 000 000 users in
# PostgreSQL, and the same with 1 000 users for the ratio. See bench/README.md.
#
# Does its own set-up and stops everything it started, also on failure or Ctrl-C: a throwaway
# PostgreSQL (scripts/pg, which installs PostgreSQL with apt when missing) on 127.0.0.1, the
# release server on 127.0.0.1 (a free port). Only loopback traffic.
#
#   bench/admin-list.sh
#
# Knobs (environment): AUTHKIT_PG_PORT (55440), BENCH_USERS (1000000), BENCH_SMALL_USERS (1000),
# BENCH_RUNS (30 timed requests per query), BENCH_WARMUP (5 untimed requests first).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PG_PORT=${AUTHKIT_PG_PORT:-55440}
BIG=${BENCH_USERS:-1000000}
SMALL=${BENCH_SMALL_USERS:-1000}
RUNS=${BENCH_RUNS:-30}
WARMUP=${BENCH_WARMUP:-5}
USER_PASSWORD="correct horse battery staple"
ADMIN_EMAIL="bench-admin@example.com"
ADMIN_PASSWORD="bench administrator passphrase"

for n in "$BIG" "$SMALL" "$RUNS" "$WARMUP"; do
  [[ $n =~ ^[0-9]+$ ]] || { echo "admin-list: counts must be whole numbers" >&2; exit 2; }
done
((BIG >= 2 && SMALL >= 2 && RUNS >= 1 && BIG <= 50000000 && RUNS <= 10000)) || {
  echo "admin-list: BENCH_USERS/BENCH_SMALL_USERS in 2..50000000, BENCH_RUNS in 1..10000" >&2
  exit 2
}

WORK=$(mktemp -d /tmp/authkit-bench-admin.XXXXXX)
SERVER_PID=""
PG_STARTED=""

log() { printf '[admin-list %s] %s\n' "$(date +%T)" "$*" >&2; }

stop_server() {
  [ -n "$SERVER_PID" ] || return 0
  if kill -0 "$SERVER_PID" 2>/dev/null; then
    kill -TERM "$SERVER_PID" 2>/dev/null || true
    for _ in $(seq 1 150); do
      kill -0 "$SERVER_PID" 2>/dev/null || break
      sleep 0.1
    done
    kill -KILL "$SERVER_PID" 2>/dev/null || true
  fi
  wait "$SERVER_PID" 2>/dev/null || true
  SERVER_PID=""
}

cleanup() {
  local status=$?
  trap - EXIT INT TERM
  stop_server
  # Anything else this script started (create-admin, curl) ran in the foreground.
  if [ -n "$PG_STARTED" ]; then
    AUTHKIT_PG_PORT=$PG_PORT "$ROOT/scripts/pg" stop || true
  fi
  if [ "$status" -ne 0 ] && [ -f "$WORK/server.log" ]; then
    echo "--- last lines of the server log ---" >&2
    tail -n 30 "$WORK/server.log" >&2 || true
  fi
  rm -rf "$WORK"
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# server_env URL: the server's whole environment in SERVER_ENV (abuse limits off), as for
# bench/run.
# shellcheck source=bench/server-env.sh
. "$ROOT/bench/server-env.sh"

# start_server URL: starts the server on that database, sets BASE from its first stdout line.
start_server() {
  : >"$WORK/server.out"
  server_env "$1"
  # env(1) execs the server, so $! is the server itself (a function or subshell here would
  # leave the server orphaned when its parent is stopped).
  env -i "${SERVER_ENV[@]}" "$BIN" serve >"$WORK/server.out" 2>>"$WORK/server.log" &
  SERVER_PID=$!
  local line=""
  for _ in $(seq 1 1200); do # 120 s at most (the first start migrates)
    line=$(head -n 1 "$WORK/server.out")
    [[ $line == "authkit-server listening on "* ]] && break
    kill -0 "$SERVER_PID" 2>/dev/null || { log "the server exited at start"; exit 1; }
    sleep 0.1
  done
  [[ $line == "authkit-server listening on "* ]] || { log "no startup line"; exit 1; }
  BASE=$(sed -E 's/^authkit-server listening on (http:[^ ]+).*/\1/' <<<"$line")
  [[ $BASE == http://127.0.0.1:* ]] || { log "unexpected address: $line"; exit 1; }
}

psql_db() { psql "$PG_BASE/$1" -X -v ON_ERROR_STOP=1 -q -A -t "${@:2}"; }

json_field() { sed -nE "s/.*\"$1\":\"([^\"]*)\".*/\1/p"; }

login() {
  curl -sS --max-time 30 -H 'content-type: application/json' \
    -d "{\"email\":\"$1\",\"password\":\"$2\"}" "$BASE/api/v1/login" | json_field access_token
}

# fill_users DB N HASH: N users with ascending UUIDv7 ids (1 ms apart, from 2024-01-01), every
# one with the password hash HASH; 2 % disabled, 2/3 verified, 0.1 % soft-deleted, three email
# domains; every user holds `user`, 1 % also `admin`.
fill_users() {
  psql_db "$1" <<SQL
BEGIN;
INSERT INTO authkit_users
  (id, email, email_verified, display_name, status, password_hash, created_at, updated_at,
   deleted_at)
SELECT (lpad(to_hex(ts), 12, '0') || '7' || lpad(to_hex(i % 4096), 3, '0') || '8'
        || lpad(to_hex(i), 15, '0'))::uuid,
       'user' || i || '@' || (ARRAY['example.com', 'example.org', 'mail.test'])[1 + i % 3],
       i % 3 <> 0,
       CASE WHEN i % 2 = 0 THEN 'User ' || i END,
       CASE WHEN i % 50 = 0 THEN 'disabled' ELSE 'active' END,
       '$3',
       to_timestamp(ts / 1000.0),
       to_timestamp(ts / 1000.0),
       CASE WHEN i % 1000 = 7 THEN to_timestamp(ts / 1000.0) + interval '1 day' END
FROM (SELECT i, 1704067200000::bigint + i AS ts FROM generate_series(1, $2) AS i) AS s;
INSERT INTO authkit_user_roles (user_id, role_name)
SELECT id, 'user' FROM authkit_users WHERE email LIKE 'user%';
INSERT INTO authkit_user_roles (user_id, role_name)
SELECT id, 'admin' FROM authkit_users
WHERE email LIKE 'user%' AND substring(email FROM '^user([0-9]+)@')::bigint % 100 = 0;
COMMIT;
VACUUM (ANALYZE) authkit_users;
VACUUM (ANALYZE) authkit_user_roles;
SQL
}

# time_query NAME PATH: WARMUP then RUNS requests; prints "NAME median p95 users" (ms, and the
# number of users on the page).
time_query() {
  local name=$1 path=$2 code users
  code=$(curl -sS --max-time 30 -o "$WORK/body.json" -w '%{http_code}' \
    -H "authorization: Bearer $TOKEN" "$BASE$path")
  if [ "$code" != 200 ]; then
    log "$path answered $code: $(head -c 300 "$WORK/body.json")"
    exit 1
  fi
  users=$(grep -o '"email":' "$WORK/body.json" | wc -l)
  for _ in $(seq 1 "$WARMUP"); do
    curl -sS --max-time 30 -o /dev/null -H "authorization: Bearer $TOKEN" "$BASE$path"
  done
  for _ in $(seq 1 "$RUNS"); do
    curl -sS --max-time 30 -o /dev/null -w '%{time_total}\n' \
      -H "authorization: Bearer $TOKEN" "$BASE$path"
  done | sort -g | awk -v name="$name" -v users="$users" '
    { t[NR] = $1 * 1000 }
    END {
      mid = (NR % 2) ? t[(NR + 1) / 2] : (t[NR / 2] + t[NR / 2 + 1]) / 2
      r = int(NR * 0.95); if (r < NR * 0.95) r++; if (r < 1) r = 1
      printf "%s %.2f %.2f %d\n", name, mid, t[r], users
    }'
}

# run_size DB N: fills DB with N users, starts the server, bootstraps an admin, times the pages.
run_size() {
  local db=$1 n=$2 url="$PG_BASE/$1" middle
  log "$db: inserting $n users"
  local started=$SECONDS
  fill_users "$db" "$n" "$HASH"
  log "$db: inserted and analyzed in $((SECONDS - started)) s"
  middle=$(psql_db "$db" -c "SELECT id FROM authkit_users WHERE deleted_at IS NULL ORDER BY id OFFSET $((n / 2)) LIMIT 1")
  start_server "$url"
  server_env "$url"
  env -i "${SERVER_ENV[@]}" AUTHKIT_ADMIN_PASSWORD="$ADMIN_PASSWORD" "$BIN" create-admin \
    --email "$ADMIN_EMAIL" </dev/null 2>>"$WORK/server.log" >&2
  TOKEN=$(login "$ADMIN_EMAIL" "$ADMIN_PASSWORD")
  [ -n "$TOKEN" ] || { log "the administrator cannot log in"; exit 1; }
  log "$db: timing $RUNS requests per page after $WARMUP warm-up requests"
  {
    time_query "first-page" "/api/v1/admin/users?limit=50"
    time_query "cursor-middle" "/api/v1/admin/users?limit=50&cursor=$middle"
    time_query "status=disabled" "/api/v1/admin/users?status=disabled&limit=50"
    time_query "role=admin" "/api/v1/admin/users?role=admin&limit=50"
    time_query "verified=true" "/api/v1/admin/users?verified=true&limit=50"
    time_query "email=common" "/api/v1/admin/users?email=example.org&limit=50"
    time_query "email=rare" "/api/v1/admin/users?email=user$((n - 1))@&limit=50"
    time_query "deleted" "/api/v1/admin/users/deleted?limit=50"
  } >"$WORK/result-$db"
  stop_server
}

log "building the release server"
(cd "$ROOT" && cargo build --release -q -p authkit-server)
BIN="${CARGO_TARGET_DIR:-$ROOT/target}/release/authkit-server"
[ -x "$BIN" ] || { log "no binary at $BIN"; exit 1; }

log "starting PostgreSQL on 127.0.0.1:$PG_PORT"
PG_STARTED=1
PG_URL=$(AUTHKIT_PG_PORT=$PG_PORT "$ROOT/scripts/pg" start)
PG_BASE=${PG_URL%/postgres}
for db in bench_small bench_big; do
  psql_db postgres -c "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db"
done

# Migrate both databases through the server itself, and take a real argon2id hash of
# USER_PASSWORD from a user registered over HTTP.
for db in bench_small bench_big; do
  start_server "$PG_BASE/$db"
  if [ "$db" = bench_small ]; then
    code=$(curl -sS --max-time 30 -o "$WORK/body.json" -w '%{http_code}' \
      -H 'content-type: application/json' \
      -d "{\"email\":\"hash-source@example.com\",\"password\":\"$USER_PASSWORD\"}" \
      "$BASE/api/v1/register")
    [ "$code" = 201 ] || { log "register answered $code: $(cat "$WORK/body.json")"; exit 1; }
  fi
  stop_server
done
HASH=$(psql_db bench_small -c "SELECT password_hash FROM authkit_users WHERE email = 'hash-source@example.com'")
[[ $HASH == '$argon2id$'* ]] || { log "no argon2id hash: $HASH"; exit 1; }
psql_db bench_small -c "DELETE FROM authkit_users WHERE email = 'hash-source@example.com'"

run_size bench_small "$SMALL"
run_size bench_big "$BIG"

echo
echo "GET /api/v1/admin/users, PostgreSQL, $RUNS requests per page after $WARMUP warm-up (curl time_total, ms)"
printf '%-16s %12s %12s %6s %12s %12s %6s %8s\n' page "${SMALL} med" "${SMALL} p95" users \
  "${BIG} med" "${BIG} p95" users ratio
awk 'NR == FNR { med[$1] = $2; p95[$1] = $3; n[$1] = $4; next }
  { printf "%-16s %12.2f %12.2f %6d %12.2f %12.2f %6d %7.2fx\n", $1, med[$1], p95[$1], n[$1],
      $2, $3, $4, (med[$1] > 0 ? $2 / med[$1] : 0) }' \
  "$WORK/result-bench_small" "$WORK/result-bench_big"
echo "(users: how many users the page held; ratio: median at $BIG / median at $SMALL)"
echo "(first-page: ?limit=50; cursor-middle: &cursor=<id of user $((BIG / 2))>; email=common:"
echo " ?email=example.org (1 in 3 users); email=rare: ?email=user<N-1>@ (one user, near the end);"
echo " deleted: /admin/users/deleted?limit=50 (0.1 % soft-deleted))"
