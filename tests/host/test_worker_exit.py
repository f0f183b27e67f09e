"""A dead worker's running jobs are given back at once and its leases end within seconds (gunicorn's
``child_exit`` hook).

Before, a SIGKILLed worker's jobs stayed ``running`` until their claims expired (minutes), filling their
tenant's running slots so that its whole queue stalled, and its leases blocked the calls they guard until
their TTL. The leases keep a short grace (``LEASE_GRACE_SECONDS``): the dead worker's last MoySklad
request may still land, and the next holder must not race it.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import psycopg2

from host_app.worker_exit import LEASE_GRACE_SECONDS, release_dead_worker, release_worker
from tests.factories import sql

REPO = Path(__file__).resolve().parents[2]
HOST = socket.gethostname()


def running_job(db_url: str, worker: str, *, attempts: int = 1, max_attempts: int = 8) -> int:
    return int(sql(db_url, "INSERT INTO jobs (integration, kind, enterprise_number, payload, state, attempts, "
                           "max_attempts, locked_by, locked_until, run_at) VALUES ('t', 't.work', 'A', '{}', "
                           "'running', %s, %s, %s, now() + interval '2 minutes', now() - interval '1 minute') "
                           "RETURNING id", (attempts, max_attempts, worker))[0][0])


def lease(db_url: str, key: str, holder: str, seconds: int = 300) -> None:
    sql(db_url, "INSERT INTO leases (key, holder, expires_at) VALUES (%s, %s, now() + make_interval(secs => %s))",
        (key, holder, seconds))


def lease_left(db_url: str) -> dict[str, float]:
    """Seconds each lease has left."""
    return {key: float(left) for key, left in sql(
        db_url, "SELECT key, extract(epoch FROM expires_at - now()) FROM leases")}


def job_row(db_url: str, job_id: int) -> dict[str, Any]:
    state, locked_by, locked_until, due_in, last_error = sql(
        db_url, "SELECT state, locked_by, locked_until, extract(epoch FROM run_at - now()), last_error "
                "FROM jobs WHERE id = %s", (job_id,))[0]
    return {"state": state, "locked_by": locked_by, "locked_until": locked_until, "due_in": float(due_in),
            "last_error": last_error}


def test_a_dead_workers_running_jobs_go_back_to_the_queue_and_its_leases_end_soon(db_url):
    dead, neighbour = f"{HOST}:4242", f"{HOST}:42420"  # a pid that starts like the dead one
    mine = running_job(db_url, dead)
    spent = running_job(db_url, dead, attempts=3, max_attempts=3)
    other = running_job(db_url, neighbour)
    lease(db_url, "ms:call:A:1.1", f"{dead}:abc123")
    lease(db_url, "ms:lookup:A:1", f"{dead}:abc124", seconds=2)  # ends sooner anyway
    lease(db_url, "ms:call:A:2.2", f"{neighbour}:def456")

    conn = psycopg2.connect(db_url)
    try:
        with conn:
            assert release_worker(conn, dead) == (2, 2)
    finally:
        conn.close()

    back = job_row(db_url, mine)
    assert (back["state"], back["locked_by"], back["locked_until"]) == ("pending", None, None)
    assert back["due_in"] <= 0  # runs at once
    assert "worker died" in back["last_error"]
    assert job_row(db_url, spent)["state"] == "failed"  # a job that keeps killing its worker stops
    assert job_row(db_url, other)["state"] == "running"
    left = lease_left(db_url)
    assert LEASE_GRACE_SECONDS - 2 < left["ms:call:A:1.1"] <= LEASE_GRACE_SECONDS  # not 5 minutes
    assert left["ms:lookup:A:1"] <= 2
    assert left["ms:call:A:2.2"] > 200


def test_releasing_a_dead_worker_gives_up_quickly_when_postgresql_is_unreachable():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    started = time.monotonic()
    try:
        release_dead_worker(f"postgresql://postgres@127.0.0.1:{port}/nowhere", f"{HOST}:1", timeout_s=1)
    except psycopg2.Error:
        pass
    else:  # pragma: no cover
        raise AssertionError("expected a connection error")
    assert time.monotonic() - started < 3


# --------------------------------------------------------------------------- the hook in gunicorn's master

_RUN_HOOK = r"""
import importlib.util, json, sys
spec = importlib.util.spec_from_file_location("__config__", sys.argv[1])
config = importlib.util.module_from_spec(spec)
spec.loader.exec_module(config)

class Log:
    def __init__(self): self.lines = []
    def warning(self, msg, *args): self.lines.append(msg % args)

class Server:
    log = Log()

class Worker:
    pid = int(sys.argv[2])

config.child_exit(Server(), Worker())
print(json.dumps({"log": Server.log.lines, "host_app_imported": any(m == "host_app" or m.startswith("host_app.")
                                                                     for m in sys.modules),
                  "flask_imported": "flask" in sys.modules}))
"""


def run_child_exit(database_url: str, pid: int, tmp_path: Path) -> dict[str, Any]:
    env = {**os.environ, "DATABASE_URL": database_url, "HOST_VAR_DIR": str(tmp_path),
           "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "metrics")}
    (tmp_path / "metrics").mkdir(exist_ok=True)
    proc = subprocess.run([sys.executable, "-c", _RUN_HOOK, str(REPO / "gunicorn.conf.py"), str(pid)],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr[-3000:]
    result: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


def test_gunicorns_child_exit_hook_releases_the_worker_without_importing_the_app(db_url, tmp_path):
    pid = 31337
    job_id = running_job(db_url, f"{HOST}:{pid}")
    lease(db_url, "ms:client:A:+375291234567", f"{HOST}:{pid}:0123abcd")

    result = run_child_exit(db_url, pid, tmp_path)

    assert job_row(db_url, job_id)["state"] == "pending"
    assert lease_left(db_url)["ms:client:A:+375291234567"] <= LEASE_GRACE_SECONDS
    assert result["log"] == [f"worker {HOST}:{pid} exited: 1 running jobs handed back, 1 leases end within "
                             f"{LEASE_GRACE_SECONDS:g} s"]
    assert not result["host_app_imported"] and not result["flask_imported"]


def test_gunicorns_child_exit_hook_survives_an_unreachable_database(tmp_path):
    result = run_child_exit("postgresql://postgres@127.0.0.1:9/nowhere", 31337, tmp_path)
    assert len(result["log"]) == 1 and "were not released" in result["log"][0]
