#!/usr/bin/env bash
# Throwaway Postgres for CI and local test runs.
#
#   bash .ci/postgres.sh [start]   install Postgres if needed, start a private cluster, create the
#                                  test database, print its URL as the last line on stdout
#   bash .ci/postgres.sh stop      stop that cluster (the data dir is left for the caller to delete)
#
# The cluster is a fresh `initdb` in $WARREN_CI_PGDATA (default /tmp/warren-ci-pg) with trust auth,
# listening on 127.0.0.1 only, on the first free port from $WARREN_CI_PGPORT (default 54329). It does
# not touch any system cluster (e.g. Debian's 15/main on 5432). Running `start` again reuses a cluster
# that is already up, restarts one that is stopped, and keeps an existing database.
#
# Progress goes to stderr; stdout carries only the URL, e.g.
#   postgres://postgres:postgres@127.0.0.1:54329/warren_test
# (the password is set but not needed: auth is trust).
#
# Env: WARREN_CI_PGDATA, WARREN_CI_PGPORT, WARREN_CI_PGDB (default warren_test),
#      WARREN_CI_PG_FORCE_APT=1 (run the apt step even when Postgres is installed).
set -euo pipefail

DATA=${WARREN_CI_PGDATA:-/tmp/warren-ci-pg}
BASE_PORT=${WARREN_CI_PGPORT:-54329}
DB=${WARREN_CI_PGDB:-warren_test}
ACTION=${1:-start}

log() { echo "postgres.sh: $*" >&2; }
die() { log "error: $*"; exit 1; }

is_root() { [ "$(id -u)" = 0 ]; }

# Runs a command as the postgres OS user when we are root (initdb/postgres refuse to run as root),
# otherwise as ourselves. `cd /` avoids "could not change directory to /root" noise.
as_pg() {
  if is_root; then
    (cd / && runuser -u postgres -- "$@")
  else
    "$@"
  fi
}

find_pgbin() {
  local d
  d=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1 || true)
  if [ -n "$d" ] && [ -x "$d/postgres" ] && [ -x "$d/initdb" ] && [ -x "$d/pg_ctl" ]; then
    echo "$d"
  fi
}

install_postgres() {
  if [ "${WARREN_CI_PG_FORCE_APT:-0}" != 1 ] && command -v pg_ctlcluster >/dev/null 2>&1 && [ -n "$(find_pgbin)" ]; then
    log "postgres already installed ($(find_pgbin)); skipping apt"
    return
  fi
  is_root || die "postgres is not installed and we are not root; install it with: sudo apt-get install -y postgresql"
  command -v apt-get >/dev/null 2>&1 || die "postgres is not installed and apt-get is not available"
  log "installing postgresql with apt-get"
  local t0=$SECONDS
  export DEBIAN_FRONTEND=noninteractive
  apt-get -o DPkg::Lock::Timeout=300 update </dev/null >&2 || die "apt-get update failed"
  apt-get -o DPkg::Lock::Timeout=300 install -y --no-install-recommends postgresql </dev/null >&2 \
    || die "apt-get install postgresql failed"
  log "apt done in $((SECONDS - t0)) s"
  [ -n "$(find_pgbin)" ] || die "postgresql installed but no server binaries under /usr/lib/postgresql/*/bin"
}

# 0 if something accepts TCP connections on 127.0.0.1:$1.
port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# Port of our running cluster (line 4 of postmaster.pid), empty if it is not running.
running_port() {
  if [ -f "$DATA/postmaster.pid" ] && as_pg "$PGBIN/pg_ctl" -D "$DATA" status >/dev/null 2>&1; then
    sed -n 4p "$DATA/postmaster.pid"
  fi
}

init_cluster() {
  local major
  major=$(basename "$(dirname "$PGBIN")")
  if [ -f "$DATA/PG_VERSION" ]; then
    if [ "$(cat "$DATA/PG_VERSION")" = "$major" ]; then return; fi
    log "$DATA holds a Postgres $(cat "$DATA/PG_VERSION") cluster, we run $major: recreating it"
    as_pg "$PGBIN/pg_ctl" -D "$DATA" -m immediate -w stop >/dev/null 2>&1 || true
    rm -rf "$DATA"
  fi
  mkdir -p "$DATA"
  if [ -n "$(ls -A "$DATA")" ]; then die "$DATA exists, is not empty and is not a Postgres cluster"; fi
  if is_root; then chown postgres:postgres "$DATA"; fi
  chmod 700 "$DATA"
  as_pg test -w "$DATA" || die "$DATA is not reachable by the postgres user (is a parent directory private?)"
  log "initdb $DATA (Postgres $major)"
  as_pg "$PGBIN/initdb" -D "$DATA" -U postgres --auth=trust -E UTF8 --no-locale --no-sync >/dev/null \
    || die "initdb failed"
  # Test-only settings. fsync/synchronous_commit/full_page_writes off: durability does not matter for
  # a throwaway test database and turning it off makes the suite much faster. The socket lives in
  # the data dir so it cannot clash with a system cluster's /var/run/postgresql socket.
  cat >>"$DATA/postgresql.conf" <<EOF

# --- added by .ci/postgres.sh (throwaway test cluster) ---
listen_addresses = '127.0.0.1'
unix_socket_directories = '$DATA'
fsync = off
synchronous_commit = off
full_page_writes = off
max_connections = 300
EOF
}

start_cluster() {
  PORT=$(running_port)
  if [ -n "$PORT" ]; then
    log "cluster in $DATA already running on port $PORT"
    return
  fi
  local port=$BASE_PORT tries=0
  while :; do
    while port_in_use "$port"; do port=$((port + 1)); done
    log "starting cluster on 127.0.0.1:$port"
    if as_pg "$PGBIN/pg_ctl" -D "$DATA" -o "-p $port" -l "$DATA/server.log" -w -t 60 start >/dev/null; then
      PORT=$port
      return
    fi
    tries=$((tries + 1))
    # Most likely someone grabbed the port between our probe and the bind: try the next one.
    if [ "$tries" -ge 5 ]; then
      tail -n 30 "$DATA/server.log" >&2 || true
      die "could not start postgres (see $DATA/server.log)"
    fi
    port=$((port + 1))
  done
}

psql_q() { "$PGBIN/psql" -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$PORT" -U postgres -d postgres -tA "$@"; }

ensure_database() {
  local i
  for i in $(seq 1 30); do
    "$PGBIN/pg_isready" -q -h 127.0.0.1 -p "$PORT" && break
    sleep 1
  done
  psql_q -c "ALTER USER postgres PASSWORD 'postgres'" >/dev/null || die "cannot connect to 127.0.0.1:$PORT"
  if [ "$(psql_q -c "SELECT 1 FROM pg_database WHERE datname = '$DB'")" = 1 ]; then
    log "database $DB already exists"
  else
    psql_q -c "CREATE DATABASE \"$DB\"" >/dev/null || die "CREATE DATABASE $DB failed"
    log "created database $DB"
  fi
}

case "$ACTION" in
  start)
    install_postgres
    PGBIN=$(find_pgbin)
    [ -n "$PGBIN" ] || die "no Postgres server binaries found under /usr/lib/postgresql/*/bin"
    if is_root; then id postgres >/dev/null 2>&1 || die "running as root but there is no 'postgres' OS user"; fi
    init_cluster
    start_cluster
    ensure_database
    echo "postgres://postgres:postgres@127.0.0.1:$PORT/$DB"
    ;;
  stop)
    PGBIN=$(find_pgbin)
    if [ -z "$PGBIN" ] || [ ! -f "$DATA/PG_VERSION" ]; then
      log "no cluster in $DATA"
      exit 0
    fi
    if [ -z "$(running_port)" ]; then
      log "cluster in $DATA is not running"
      exit 0
    fi
    as_pg "$PGBIN/pg_ctl" -D "$DATA" -m fast -w -t 60 stop >/dev/null || die "pg_ctl stop failed"
    log "stopped cluster in $DATA"
    ;;
  *)
    echo "usage: $0 [start|stop]" >&2
    exit 2
    ;;
esac
