# shellcheck shell=bash
# PostgreSQL helpers sourced by ms.sh: a private cluster for `start`, a throwaway one for `test`/`bench`.
# PostgreSQL refuses to run as root, so as root the cluster runs as the `postgres` OS user.

pg_bindir() {
  local dir
  for dir in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
    [ -x "$dir/initdb" ] && { echo "$dir"; return 0; }
  done
  command -v initdb >/dev/null 2>&1 && { dirname "$(command -v initdb)"; return 0; }
  return 1
}

pg_ensure_installed() {
  pg_bindir >/dev/null && return 0
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "ms.sh: installing PostgreSQL (Debian package postgresql)…" >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q postgresql >/dev/null 2>&1 \
      || { apt-get update -q >/dev/null 2>&1 && DEBIAN_FRONTEND=noninteractive apt-get install -y -q postgresql >/dev/null; }
  fi
  pg_bindir >/dev/null || { echo "ms.sh: PostgreSQL server binaries not found (install postgresql or set DATABASE_URL)" >&2; return 1; }
}

# Run a PostgreSQL binary as the right user.
pg_as() {
  if [ "$(id -u)" = 0 ]; then
    runuser -u postgres -- "$@"
  else
    "$@"
  fi
}

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

# pg_start DATA_PARENT PORT: init (once) and start a cluster listening on 127.0.0.1:PORT only.
pg_start() {
  local parent=$1 port=$2 bin
  bin=$(pg_bindir) || return 1
  mkdir -p "$parent"
  [ "$(id -u)" = 0 ] && chown postgres "$parent"
  if [ ! -f "$parent/data/PG_VERSION" ]; then
    pg_as "$bin/initdb" -D "$parent/data" -A trust -U postgres -E UTF8 --locale=C.UTF-8 >"$parent/initdb.log" 2>&1 \
      || pg_as "$bin/initdb" -D "$parent/data" -A trust -U postgres -E UTF8 >"$parent/initdb.log" 2>&1 \
      || { cat "$parent/initdb.log" >&2; return 1; }
  fi
  pg_as "$bin/pg_ctl" -D "$parent/data" -w -t 60 -l "$parent/server.log" \
    -o "-c listen_addresses=127.0.0.1 -p $port -k $parent -c max_connections=300 ${PG_EXTRA_OPTS:-}" start >/dev/null \
    || { tail -n 20 "$parent/server.log" >&2; return 1; }
}

pg_stop() {
  local parent=$1 bin
  bin=$(pg_bindir) || return 0
  [ -f "$parent/data/postmaster.pid" ] && pg_as "$bin/pg_ctl" -D "$parent/data" -m fast -w stop >/dev/null 2>&1
  return 0
}

pg_running() {
  local parent=$1 bin
  bin=$(pg_bindir) || return 1
  pg_as "$bin/pg_ctl" -D "$parent/data" status >/dev/null 2>&1
}

# pg_createdb URL_WITHOUT_DB PORT NAME
pg_createdb() {
  local port=$1 name=$2 bin
  bin=$(pg_bindir) || return 1
  pg_as "$bin/psql" -h 127.0.0.1 -p "$port" -U postgres -d postgres -tAc \
    "SELECT 1 FROM pg_database WHERE datname = '$name'" | grep -q 1 \
    || pg_as "$bin/createdb" -h 127.0.0.1 -p "$port" -U postgres "$name"
}
