# Sourced by scripts/test.sh and bench/run.sh: a throw-away PostgreSQL
# cluster on a free loopback port. `pg_start` sets PG_ADMIN_URL; `pg_stop`
# stops it (call it from the caller's EXIT trap). PG_EXTRA_OPTS adds server
# settings (bench/run.sh loads pg_stat_statements to count statements).

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }
run_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }

pg_bin=""
find_pg() {
  if command -v initdb >/dev/null 2>&1 && command -v pg_ctl >/dev/null 2>&1; then
    pg_bin="$(dirname "$(command -v initdb)")"; return 0
  fi
  local d
  for d in /usr/lib/postgresql/*/bin; do
    if [ -x "$d/initdb" ]; then pg_bin="$d"; return 0; fi
  done
  return 1
}

pg_start() {
  if ! find_pg; then
    echo "== installing PostgreSQL (Debian package)"
    as_root apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
    find_pg || { echo "PostgreSQL server binaries not found after install" >&2; return 1; }
  fi
  command -v psql >/dev/null 2>&1 || { as_root apt-get update -qq; as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql-client >/dev/null; }
  pg_dir="$(mktemp -d /tmp/chittycharge-pg.XXXXXX)"
  pg_port="$(free_port)"
  if [ "$(id -u)" = 0 ]; then chown postgres "$pg_dir"; fi
  run_pg "$pg_bin/initdb" -D "$pg_dir/data" -U postgres --auth=trust -E UTF8 >/dev/null
  run_pg "$pg_bin/pg_ctl" -D "$pg_dir/data" -w -l "$pg_dir/log" \
    -o "-p $pg_port -k $pg_dir -c listen_addresses=127.0.0.1 -c max_connections=300 ${PG_EXTRA_OPTS:-}" start >/dev/null
  psql "postgres://postgres@127.0.0.1:$pg_port/postgres" -q -c "CREATE DATABASE chittycharge_admin" >/dev/null
  PG_ADMIN_URL="postgres://postgres@127.0.0.1:$pg_port/chittycharge_admin"
  PG_BASE_URL="postgres://postgres@127.0.0.1:$pg_port"
}

pg_stop() {
  if [ -n "${pg_dir:-}" ] && [ -f "$pg_dir/data/postmaster.pid" ]; then
    run_pg "$pg_bin/pg_ctl" -D "$pg_dir/data" -m fast stop >/dev/null 2>&1 || true
  fi
  [ -n "${pg_dir:-}" ] && rm -rf "$pg_dir"
  return 0
}
