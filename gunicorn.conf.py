"""gunicorn settings for the integrations host (gevent workers).

Why each one:
* ``preload_app = False``: the app is imported in each worker after gevent patched the standard library;
  with preload, ssl/requests/psycopg2 would be imported unpatched in the master.
* ``worker_connections``: caps concurrent requests per worker; sized against the DB pool and MoySklad
  concurrency, not gevent's default of 1000.
* ``PROMETHEUS_MULTIPROC_DIR``: every worker writes its metrics there so /metrics adds them up.
"""

from __future__ import annotations

import importlib.util
import os
import secrets
import shutil
import socket
from pathlib import Path
from typing import Any

_var = Path(os.environ.get("HOST_VAR_DIR", "var")).resolve()
_metrics_dir = Path(os.environ.setdefault("PROMETHEUS_MULTIPROC_DIR", str(_var / "metrics")))

wsgi_app = "host_app.wsgi:app"
bind = os.environ.get("HOST_BIND", "127.0.0.1:8023")
worker_class = "gevent"
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
worker_connections = int(os.environ.get("HOST_WORKER_CONNECTIONS", "200"))
preload_app = False
timeout = 30
graceful_timeout = 30
keepalive = 5
max_requests = int(os.environ.get("HOST_MAX_REQUESTS", "0"))
max_requests_jitter = 200
accesslog = os.environ.get("HOST_ACCESS_LOG", "-")
errorlog = "-"
loglevel = os.environ.get("HOST_LOG_LEVEL", "info").lower()
control_socket_disable = True


def _ensure_secret(name: str, env_name: str) -> None:
    """Create ``var/<name>`` once, complete and 0600, unless the environment provides the value.

    Done in the master before any worker exists (as ``ms.sh start`` does), so workers only read it: two
    workers creating it at once could otherwise see it created but still empty. Written to a private
    file first and hard-linked into place, so it appears complete or not at all and is never replaced.
    """
    if os.environ.get(env_name):
        return
    path = _var / name
    if path.exists():
        return
    _var.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{name}.{os.getpid()}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w") as fh:
            fh.write(secrets.token_urlsafe(32) + "\n")
        os.link(tmp, path)
    except FileExistsError:
        pass  # someone else won; theirs is the value
    finally:
        tmp.unlink(missing_ok=True)


def on_starting(server: Any) -> None:
    # Stale files from a previous run would be added to this run's counters.
    shutil.rmtree(_metrics_dir, ignore_errors=True)
    _metrics_dir.mkdir(parents=True, exist_ok=True)
    _ensure_secret("admin-token", "HOST_ADMIN_TOKEN")
    _ensure_secret("secret-key", "HOST_SECRET_KEY")


def child_exit(server: Any, worker: Any) -> None:
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)
    _release_dead_worker(server, worker.pid)


def _release_dead_worker(server: Any, pid: int) -> None:
    """Give a gone worker's running jobs back at once, and its leases within seconds.

    Otherwise a SIGKILLed (OOM-killed) worker's jobs stay ``running`` until their claims expire, filling
    their tenant's running slots meanwhile, and its leases block the calls they guard until their TTL.
    Also after a clean exit: whatever did not finish within the graceful timeout is handed back.
    Runs in the master, so bounded (short timeouts) and never raising. ``host_app/worker_exit.py`` is
    loaded by path: importing the ``host_app`` package here would create its objects before gevent
    patches the workers (see ``preload_app``).
    """
    dsn = os.environ.get("DATABASE_URL")
    if not dsn:
        return
    worker = f"{socket.gethostname()}:{pid}"  # host_app.leases.worker_id() of that worker
    try:
        spec = importlib.util.spec_from_file_location(
            "host_worker_exit", Path(__file__).resolve().parent / "host_app" / "worker_exit.py")
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        jobs, leases = module.release_dead_worker(dsn, worker)
    except Exception as exc:  # noqa: BLE001 - the master must survive anything here
        server.log.warning("worker %s exited; its jobs and leases were not released (%s): they expire "
                           "by themselves", worker, exc)
        return
    if jobs or leases:
        server.log.warning("worker %s exited: %d running jobs handed back, %d leases end within %g s",
                           worker, jobs, leases, module.LEASE_GRACE_SECONDS)


def worker_exit(server: Any, worker: Any) -> None:
    # Let running background jobs finish; whatever does not is re-driven from its expired claim.
    app = getattr(worker, "wsgi", None)
    state = getattr(app, "extensions", {}).get("host_app") if app is not None else None
    if state is not None:
        from host_app.state import stop_background

        stop_background(state, timeout=max(1.0, graceful_timeout - 5))
