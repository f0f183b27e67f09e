"""The shared PostgreSQL pool: bounded waits, dead connections, lazy creation and recovery."""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg2
import pytest

from host_app.db import DbPool, DbUnavailable, PoolTimeout
from tests.conftest import app_config

REPO = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def backend_pid(pool: DbPool) -> int:
    with pool.connection() as conn, conn.cursor() as cur:
        cur.execute("SELECT pg_backend_pid()")
        return int(cur.fetchone()[0])


def terminate(db_url: str, pid: int) -> None:
    conn = psycopg2.connect(db_url)
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT pg_terminate_backend(%s)", (pid,))
    finally:
        conn.close()
    time.sleep(0.05)  # let the FATAL reach the client socket


def assert_error_shape(resp: Any, status: int, code: str | None = None) -> dict[str, Any]:
    assert resp.status_code == status, resp.get_data(as_text=True)
    body = resp.get_json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"code", "message", "details"}
    if code is not None:
        assert body["error"]["code"] == code
    return body


# ---------------------------------------------------------------------------------------- exhaustion


def test_an_exhausted_pool_waits_a_bounded_time_then_raises_pool_timeout(db_url):
    pool = DbPool(db_url, size=2, timeout=0.3)
    try:
        with contextlib.ExitStack() as stack:
            stack.enter_context(pool.connection())
            stack.enter_context(pool.connection())
            started = time.monotonic()
            with pytest.raises(PoolTimeout) as err, pool.connection():
                pass
            waited = time.monotonic() - started
        assert 0.25 <= waited < 3
        assert (err.value.status, err.value.code) == (503, "db_busy")
        assert pool.ping()  # the slots came back
    finally:
        pool.close()


def test_a_waiter_gets_the_connection_as_soon_as_one_is_returned(db_url):
    pool = DbPool(db_url, size=1, timeout=5)
    held = threading.Event()

    def hold_briefly() -> None:
        with pool.connection():
            held.set()
            time.sleep(0.2)

    try:
        worker = threading.Thread(target=hold_briefly)
        worker.start()
        assert held.wait(5)
        started = time.monotonic()
        with pool.connection() as conn, conn.cursor() as cur:
            cur.execute("SELECT 1")
        assert time.monotonic() - started < 2
        worker.join()
    finally:
        pool.close()


def test_an_error_inside_the_block_rolls_back_and_returns_the_connection(db_url):
    pool = DbPool(db_url, size=1, timeout=0.5)
    try:
        with pytest.raises(ZeroDivisionError), pool.connection() as conn, conn.cursor() as cur:
            cur.execute("CREATE TABLE rolled_back_probe (x int)")
            raise ZeroDivisionError
        with pool.connection() as conn, conn.cursor() as cur:
            cur.execute("SELECT to_regclass('rolled_back_probe')")
            assert cur.fetchone()[0] is None
    finally:
        pool.close()


@pytest.fixture
def app_overrides() -> dict[str, Any]:
    return {"HOST_DB_POOL_SIZE": 1, "HOST_DB_POOL_TIMEOUT": 0.2}


@pytest.fixture
def db_probe_app(app: Any) -> Any:
    """The app plus a tiny route that borrows a pooled connection, like any DB-backed view."""
    from host_app.state import host_state

    def probe() -> Any:
        with host_state(app).services.db.connection() as conn, conn.cursor() as cur:
            cur.execute("SELECT 1")
        return {"ok": True}

    app.add_url_rule("/_probe/db", "probe_db", probe)
    return app


def test_an_exhausted_pool_answers_503_db_busy_through_http(db_probe_app, host, admin_headers):
    client = db_probe_app.test_client()
    assert client.get("/_probe/db").status_code == 200
    with host.services.db.connection():  # the only connection is busy
        started = time.monotonic()
        resp = client.get("/_probe/db")
        assert time.monotonic() - started < 2
        assert_error_shape(resp, 503, "db_busy")
        assert_error_shape(client.get("/api/enterprises/0367", headers=admin_headers), 503, "db_busy")
        dispatch = client.post("/dispatch/call-event", json={
            "token": "T1", "uniqueId": "1.1", "event_type": "dial", "raw": {}})
        assert_error_shape(dispatch, 503)  # the relay retries
        health = client.get("/health")
        assert health.status_code == 503
    assert client.get("/_probe/db").status_code == 200


# ----------------------------------------------------------------------------------- dead connections


def test_a_connection_killed_by_the_server_is_dropped_and_replaced(db_url):
    pool = DbPool(db_url, size=2, timeout=2)
    try:
        first = backend_pid(pool)
        terminate(db_url, first)
        assert backend_pid(pool) != first  # this very next use already works
        assert pool.ping()
    finally:
        pool.close()


def test_every_pooled_connection_killed_at_once_like_a_server_restart_is_replaced(db_url):
    pool = DbPool(db_url, size=3, timeout=2)
    try:
        with contextlib.ExitStack() as stack:  # open all three
            pids = []
            for _ in range(3):
                conn = stack.enter_context(pool.connection())
                with conn.cursor() as cur:
                    cur.execute("SELECT pg_backend_pid()")
                    pids.append(cur.fetchone()[0])
        for pid in pids:
            terminate(db_url, pid)
        for _ in range(3):
            assert backend_pid(pool) not in pids
    finally:
        pool.close()


def test_a_connection_killed_while_in_use_fails_cleanly_and_the_next_use_works(db_url):
    pool = DbPool(db_url, size=1, timeout=2)
    try:
        with pytest.raises(DbUnavailable) as err, pool.connection() as conn, conn.cursor() as cur:
            cur.execute("SELECT pg_backend_pid()")
            terminate(db_url, cur.fetchone()[0])
            cur.execute("SELECT 1")
        assert err.value.status == 503
        assert pool.ping()
    finally:
        pool.close()


# -------------------------------------------------------------------------------------- lazy creation


def dead_end_app(tmp_path: Path, port: int, **overrides: Any) -> Any:
    from host_app import create_app

    url = f"postgresql://postgres@127.0.0.1:{port}/postgres"
    return create_app(app_config(url, str(tmp_path / "var"), HOST_DB_CONNECT_TIMEOUT=1, **overrides))


def assert_health_shape(body: dict[str, Any], db: str) -> None:
    assert set(body) >= {"status", "db", "integrations"}
    assert body["db"] == db
    assert body["status"] == ("ok" if db == "ok" else "unavailable")
    assert set(body["integrations"]) == {"ms", "echo"}
    for entry in body["integrations"].values():
        assert entry["loaded"] is True


def test_the_app_boots_without_postgresql_and_health_answers_503(tmp_path):
    app = dead_end_app(tmp_path, free_port())
    client = app.test_client()
    started = time.monotonic()
    resp = client.get("/health")
    assert time.monotonic() - started < 3
    assert resp.status_code == 503
    assert resp.is_json
    assert_health_shape(resp.get_json(), "down")
    assert client.get("/metrics").status_code == 200  # scrapes still work


# A private PostgreSQL for the recovery test: the shared dev server must never be stopped.
PG_SH = REPO / "scripts" / "pg.sh"


def _pg(action: str, parent: str, port: int = 0) -> None:
    cmd = {"start": f'pg_start "{parent}" {port}', "stop": f'pg_stop "{parent}"'}[action]
    result = subprocess.run(
        ["bash", "-c", f'set -e; . "{PG_SH}"; {cmd}'],
        env={**os.environ, "PG_EXTRA_OPTS": "-c fsync=off -c full_page_writes=off -c synchronous_commit=off"},
        capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, f"pg {action} failed: {result.stdout}{result.stderr}"


@pytest.fixture
def private_pg() -> Iterator[tuple[str, int, Any]]:
    """``(parent_dir, port, control)``: the cluster is not started; ``control("start"|"stop")``."""
    if not shutil.which("bash") or subprocess.run(
            ["bash", "-c", f'. "{PG_SH}"; pg_bindir'], capture_output=True).returncode != 0:
        pytest.skip("PostgreSQL server binaries are not installed")
    # Under /tmp, not pytest's tmp_path: as root, the cluster runs as `postgres`, which cannot enter
    # root's 0700 pytest directories.
    parent = tempfile.mkdtemp(prefix="ms-pg-test-")
    port = free_port()
    try:
        yield parent, port, lambda action: _pg(action, parent, port)
    finally:
        _pg("stop", parent)
        shutil.rmtree(parent, ignore_errors=True)


def wait_health(client: Any, status: int, timeout: float = 30) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        resp = client.get("/health")
        if resp.status_code == status or time.monotonic() > deadline:
            assert resp.status_code == status, resp.get_json()
            return resp.get_json()  # type: ignore[no-any-return]
        time.sleep(0.2)


@pytest.mark.slow
def test_the_app_recovers_by_itself_when_postgresql_comes_up_goes_down_and_comes_back(tmp_path, private_pg):
    parent, port, pg = private_pg
    app = dead_end_app(tmp_path, port, HOST_AUTO_MIGRATE="true")
    client = app.test_client()
    assert_health_shape(wait_health(client, 503), "down")

    pg("start")  # the same URL becomes reachable: no restart of the app
    body = wait_health(client, 200)
    assert_health_shape(body, "ok")
    assert body["integrations"]["ms"]["jobs_pending"] == 0  # migrated on first connect

    pg("stop")
    assert_health_shape(wait_health(client, 503), "down")

    pg("start")
    assert_health_shape(wait_health(client, 200), "ok")
