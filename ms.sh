#!/usr/bin/env bash
# The integrations host with its MoySklad plugin: start|stop|restart|status|logs|test|bench.
# See README.md. Everything it creates lives under var/ (git-ignored).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
cd "$ROOT"
# shellcheck source=scripts/pg.sh
. "$ROOT/scripts/pg.sh"

VAR="$ROOT/var"
VENV="$ROOT/.venv"
PY="$VENV/bin/python"
PIDFILE="$VAR/gunicorn.pid"
LOG="$VAR/log/ms.log"
RUN_ENV="$VAR/run.env"
PG_DIR="${MS_PG_DIR:-$VAR/pg}"
PG_PORT="${MS_PG_PORT:-55432}"
export HOST_VAR_DIR="$VAR"
export HOST_BIND="${HOST_BIND:-127.0.0.1:8023}"

say() { printf 'ms.sh: %s\n' "$*" >&2; }
die() { say "$*"; exit 1; }

ensure_venv() {  # ensure_venv [extras]
  local extras=${1:-} stamp want
  [ -x "$PY" ] || { say "creating $VENV"; python3 -m venv "$VENV"; }
  want=$(cat setup.cfg pyproject.toml | sha256sum | cut -c1-16)${extras:+-$extras}
  stamp="$VENV/.ms-installed-${extras:-base}"
  if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
    say "installing the project into $VENV${extras:+ (with $extras)}"
    mkdir -p "$VAR/log"
    "$PY" -m pip install -q --disable-pip-version-check -e ".${extras:+[$extras]}" >"$VAR/log/install.log" 2>&1 \
      || { tail -n 30 "$VAR/log/install.log" >&2; die "pip install failed (see var/log/install.log)"; }
    echo "$want" >"$stamp"
  fi
}

ensure_secrets() {  # created once, exclusively, 0600, before any worker starts
  mkdir -p "$VAR/log"
  local name
  for name in admin-token secret-key; do
    if [ ! -s "$VAR/$name" ]; then
      ( umask 077; set -o noclobber; "$PY" -c 'import secrets; print(secrets.token_urlsafe(32))' >"$VAR/$name" ) 2>/dev/null || true
    fi
  done
}

service_pid() {
  [ -f "$PIDFILE" ] || return 1
  local pid; pid=$(cat "$PIDFILE")
  kill -0 "$pid" 2>/dev/null && echo "$pid"
}

health_ok() {
  "$PY" - "$HOST_BIND" <<'PYEOF'
import sys, urllib.request
try:
    with urllib.request.urlopen(f"http://{sys.argv[1]}/health", timeout=2) as r:
        sys.exit(0 if r.status == 200 else 1)
except Exception:
    sys.exit(1)
PYEOF
}

private_pg() {  # start (once) the private cluster and export DATABASE_URL
  pg_ensure_installed || exit 1
  if [ "$(id -u)" = 0 ] && ! { mkdir -p "$PG_DIR" && chown postgres "$PG_DIR" \
      && runuser -u postgres -- test -w "$PG_DIR"; } 2>/dev/null; then
    PG_DIR="/var/tmp/ms-pg-$(echo "$ROOT" | sha256sum | cut -c1-8)"
    say "the postgres user cannot write under var/; the private PostgreSQL lives in $PG_DIR"
  fi
  if ! pg_running "$PG_DIR"; then
    say "starting the private PostgreSQL ($PG_DIR, 127.0.0.1:$PG_PORT)"
    pg_start "$PG_DIR" "$PG_PORT" || die "PostgreSQL did not start"
  fi
  pg_createdb "$PG_PORT" ms || die "cannot create database ms"
  export DATABASE_URL="postgresql://postgres@127.0.0.1:$PG_PORT/ms"
  echo "$PG_DIR" >"$VAR/pg-dir"
}

load_run_env() { [ -f "$RUN_ENV" ] && . "$RUN_ENV"; return 0; }

start_service() {
  if service_pid >/dev/null; then
    say "already running (pid $(service_pid))"
  else
    say "migrating the database"
    "$PY" -m host_app migrate >>"$LOG" 2>&1 || { tail -n 20 "$LOG" >&2; die "migrations failed (see $LOG)"; }
    say "starting gunicorn on $HOST_BIND"
    HOST_ACCESS_LOG="$LOG" "$VENV/bin/gunicorn" -c gunicorn.conf.py --daemon --pid "$PIDFILE" \
      --error-logfile "$LOG" --capture-output
  fi
  local i
  for i in $(seq 1 120); do
    health_ok && break
    sleep 0.5
    [ "$i" = 120 ] && { tail -n 30 "$LOG" >&2; die "the service did not become healthy (see $LOG)"; }
  done
  say "healthy."
  echo "Admin page:  ${PUBLIC_BASE_URL:-http://$HOST_BIND}/ms/"
  echo "Admin token: $VAR/admin-token (sign in with it on the page, or use it as 'Authorization: Bearer …')"
}

cmd_start() {
  ensure_venv
  ensure_secrets
  if [ -z "${DATABASE_URL:-}" ]; then
    load_run_env
    if [ -z "${DATABASE_URL:-}" ] || [ -n "${MS_PRIVATE_PG:-}" ]; then
      private_pg
      printf 'export DATABASE_URL=%q\nexport MS_PRIVATE_PG=1\n' "$DATABASE_URL" >"$RUN_ENV"
    fi
  else
    printf 'export DATABASE_URL=%q\n' "$DATABASE_URL" >"$RUN_ENV"
  fi
  chmod 600 "$RUN_ENV"
  start_service
}

stop_service() {
  local pid
  pid=$(service_pid) || { say "service not running"; return 0; }
  kill -TERM "$pid"
  for _ in $(seq 1 80); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
  kill -0 "$pid" 2>/dev/null && kill -KILL "$pid"
  rm -f "$PIDFILE"
  say "service stopped"
}

cmd_stop() {
  stop_service
  if [ -f "$VAR/pg-dir" ]; then
    pg_stop "$(cat "$VAR/pg-dir")"
    say "private PostgreSQL stopped"
  fi
}

cmd_restart() {
  load_run_env
  [ -n "${DATABASE_URL:-}" ] || die "not started yet: run ./ms.sh start"
  [ -n "${MS_PRIVATE_PG:-}" ] && private_pg
  stop_service
  start_service
}

cmd_status() {
  local pid
  if pid=$(service_pid) && health_ok; then
    echo "running (pid $pid) on $HOST_BIND, healthy"
  elif pid=$(service_pid); then
    echo "running (pid $pid) on $HOST_BIND, NOT healthy (see ./ms.sh logs)"; exit 1
  else
    echo "not running"; exit 3
  fi
}

cmd_logs() { mkdir -p "$VAR/log"; touch "$LOG"; exec tail -n 100 -F "$LOG"; }

# A throwaway PostgreSQL for tests and benchmarks, removed on exit.
with_throwaway_pg() {
  pg_ensure_installed || exit 1
  TMP_PG=$(mktemp -d /tmp/ms-pg.XXXXXX)
  local port; port=$(free_port)
  trap 'pg_stop "$TMP_PG"; rm -rf "$TMP_PG"' EXIT
  PG_EXTRA_OPTS="-c fsync=off -c full_page_writes=off -c synchronous_commit=off" pg_start "$TMP_PG" "$port" \
    || die "test PostgreSQL did not start"
  export TEST_DATABASE_URL="postgresql://postgres@127.0.0.1:$port/postgres"
  export MS_TEST_PG_DIR="$TMP_PG" MS_TEST_PG_PORT="$port"
}

ensure_chromium() {  # the browser test drives Debian's chromium through playwright
  command -v chromium >/dev/null 2>&1 && return 0
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    say "installing chromium (Debian package) for the browser test"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium >/dev/null 2>&1 \
      || { apt-get update -q >/dev/null 2>&1 && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium >/dev/null; } \
      || say "could not install chromium"
  fi
}

cmd_test() {
  local args=()
  for a in "$@"; do
    if [ "$a" = "--quick" ]; then args+=(-m "not slow"); else args+=("$a"); fi
  done
  ensure_venv test
  ensure_chromium
  with_throwaway_pg
  unset DATABASE_URL
  "$PY" -m pytest "${args[@]}"
}

cmd_bench() {
  ensure_venv test
  with_throwaway_pg
  unset DATABASE_URL
  "$PY" -m bench "$@"
}

case "${1:-}" in
  start) shift; cmd_start "$@" ;;
  stop) cmd_stop ;;
  restart) cmd_restart ;;
  status) cmd_status ;;
  logs) cmd_logs ;;
  test) shift; cmd_test "$@" ;;
  bench) shift; cmd_bench "$@" ;;
  *) echo "usage: ./ms.sh start|stop|restart|status|logs|test [--quick] [pytest args]|bench [--full]" >&2; exit 2 ;;
esac
