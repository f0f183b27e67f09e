"""End-to-end harness: the real service and the MoySklad emulator, each as a real server subprocess.

Everything listens on 127.0.0.1 only. Nothing here calls ``ms.sh``.

Fixtures
========

``e2e_database_url`` (session)
    A fresh database on the test PostgreSQL (``TEST_DATABASE_URL``), migrated for every plugin of
    ``E2E_INTEGRATIONS``, dropped at the end. **Shared by every e2e test and never emptied**: create
    your own enterprises with :func:`make_e2e_enterprise` (unique number and token per call) and never
    assume a table is empty.

``start_service`` (function) -> ``start(**extra_env) -> Service``
    Starts ``gunicorn -c gunicorn.conf.py`` (gevent workers, ``WEB_CONCURRENCY=2``) on a free port and
    waits until ``GET /health`` answers 200 (the failure message carries the log tail). Keyword
    arguments are extra environment variables (strings), e.g. ``start_service(**emulator.service_env())``
    or ``start_service(WEB_CONCURRENCY="1", HOST_JOB_POLL_INTERVAL="1")``. Every service started is
    stopped when the test ends.

``service`` (module)
    One shared service with the default environment, for tests that do not restart or kill it.

``start_emulator`` (function) -> ``start(latency_ms=0, seed="demo", knobs=None) -> Emulator`` and
``ms_emulator`` (session, ``seed="demo"``, no latency)
    ``python -m ms_emulator --host 127.0.0.1 --port 0 ...``; its first stdout line (JSON: urls and the
    seeded accounts) is parsed. Skipped when the ``ms_emulator`` package has no CLI.

``Service``
    ``.url`` (``http://127.0.0.1:<port>``), ``.port``, ``.env`` (the environment it runs with),
    ``.database_url``, ``.admin_token``, ``.internal_token``, ``.var_dir``, ``.log_path``;
    ``.http`` (a ``requests.Session`` that ignores proxy variables and sends ``Connection: close``, so
    requests spread over the workers and nothing keeps a graceful stop waiting), ``.get(path, **kw)``,
    ``.post(path, **kw)`` (relative paths, 10 s timeout), ``.admin_headers()``;
    ``.log_text()`` / ``.log_tail(lines=60)``; ``.master_pid``, ``.worker_pids()``;
    ``.wait_healthy(timeout=30)``; ``.restart(graceful=True)`` (SIGHUP: new workers, old ones finish
    gracefully; ``graceful=False``: stop and start again on the same port); ``.kill_worker(pid=None)``
    (SIGKILL one worker, wait until the master replaced it and the service is healthy, return the
    killed pid); ``.stop()``; ``.sql(query, params)`` on the service's database.
    The access log carries each worker's pid (``pid=<1234>``), see :meth:`Service.access_pids`.

``Emulator``
    ``.url``, ``.phone_api_url``, ``.json_api_url``, ``.control_url``, ``.accounts``, ``.demo`` (the
    seeded account or ``None``), ``.service_env()`` (``MS_API_URL``/``MS_PHONE_API_URL`` pointing at it),
    ``.log_text()``, ``.stop()``.

Helpers, importable from ``tests.e2e.harness`` (with ``Service``, ``Emulator``, ``launch_emulator``):
``wait_until(predicate, timeout, message=...)`` (poll; fail with the message), ``free_port()``,
``make_e2e_enterprise(database_url, integrations_config=...)``.

Every test under ``tests/e2e`` is marked ``e2e`` automatically (``-m "not e2e"`` skips them); mark
``slow`` what takes over ~5 s. Example::

    def test_cards_reach_moysklad(start_service, start_emulator):
        emulator = start_emulator(latency_ms=20)
        service = start_service(**emulator.service_env())
        tenant = make_e2e_enterprise(service.database_url, integrations_config={"ms": {...}})
        assert service.post("/dispatch/call-event", json={...}).status_code == 202
        wait_until(lambda: ..., 10, message=lambda: service.log_tail())
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psycopg2
import pytest

from tests.e2e.harness import (
    E2E_INTEGRATIONS,
    Emulator,
    Service,
    launch_emulator,
    services,
)

HERE = Path(__file__).resolve().parent


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if HERE in item.path.resolve().parents:
            item.add_marker(pytest.mark.e2e)


@pytest.fixture(scope="session")
def e2e_database_url(pg_admin_url: str) -> Iterator[str]:
    from host_app.integrations.registry import load
    from host_app.migrations import apply_migrations, migration_sets_for

    name = f"e2e_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    admin = psycopg2.connect(pg_admin_url)
    admin.autocommit = True
    with admin.cursor() as cur:
        cur.execute(f'CREATE DATABASE "{name}"')
    url = pg_admin_url.rpartition("/")[0] + f"/{name}"
    try:
        apply_migrations(url, migration_sets_for(load(E2E_INTEGRATIONS.split(","))))
        yield url
    finally:
        with admin.cursor() as cur:
            cur.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", (name,))
            cur.execute(f'DROP DATABASE IF EXISTS "{name}"')
        admin.close()


@pytest.fixture
def start_service(e2e_database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[..., Service]]:
    with services(tmp_path_factory, e2e_database_url) as start:
        yield start


@pytest.fixture(scope="module")
def service(e2e_database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    with services(tmp_path_factory, e2e_database_url, prefix="shared-service") as start:
        yield start()


@pytest.fixture
def start_emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[..., Emulator]]:
    started: list[Emulator] = []

    def start(**kwargs: Any) -> Emulator:
        emulator = launch_emulator(tmp_path_factory.mktemp("emulator"), **kwargs)
        started.append(emulator)
        return emulator

    yield start
    for emulator in started:
        emulator.stop()


@pytest.fixture(scope="session")
def ms_emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Emulator]:
    emulator = launch_emulator(tmp_path_factory.mktemp("emulator-session"))
    try:
        yield emulator
    finally:
        emulator.stop()
