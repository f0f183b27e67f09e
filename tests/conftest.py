"""Shared fixtures: a real PostgreSQL database per test session, the app, its client, tenants.

``./ms.sh test`` starts a throwaway PostgreSQL and sets ``TEST_DATABASE_URL``; without it the DB tests
fail with instructions instead of being skipped silently.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from typing import Any

import psycopg2
import pytest

ADMIN_TOKEN = "test-admin-token-0123456789abcdef"
SECRET_KEY = "test-secret-key-0123456789abcdef"
INTERNAL_TOKEN = "test-internal-token-0123456789abcd"
INTEGRATIONS = "ms_plugin:plugin,tests.plugins.echo:plugin"
# MoySklad URLs that must never be reached by a test that forgot to mock them.
UNREACHABLE_MS = {
    "MS_API_URL": "https://api.moysklad.invalid/api/remap/1.2",
    "MS_PHONE_API_URL": "https://api.moysklad.invalid/api/phone/1.0",
}


def _with_db(url: str, name: str) -> str:
    base, _sep, _db = url.rpartition("/")
    return f"{base}/{name}"


@pytest.fixture(scope="session")
def emulator_server() -> Iterator[Any]:
    """One MoySklad emulator server (127.0.0.1) per session; ``emulator`` hands it out fresh per test."""
    from ms_emulator import EmulatorServer, EmulatorState

    with EmulatorServer(EmulatorState()) as emu:
        yield emu


@pytest.fixture
def emulator(emulator_server: Any) -> Any:
    emulator_server.state.reset()
    return emulator_server


@pytest.fixture(scope="session")
def pg_admin_url() -> str:
    url = os.environ.get("TEST_DATABASE_URL")
    if not url:
        pytest.fail("TEST_DATABASE_URL is not set: run the tests with ./ms.sh test "
                    "(it starts and removes a throwaway PostgreSQL)")
    return url


@pytest.fixture(scope="session")
def database_url(pg_admin_url: str) -> Iterator[str]:
    from host_app.integrations.registry import load
    from host_app.migrations import apply_migrations, migration_sets_for

    name = f"t_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    admin = psycopg2.connect(pg_admin_url)
    admin.autocommit = True
    with admin.cursor() as cur:
        cur.execute(f'CREATE DATABASE "{name}"')
    url = _with_db(pg_admin_url, name)
    apply_migrations(url, migration_sets_for(load(INTEGRATIONS.split(","))))
    yield url
    with admin.cursor() as cur:
        cur.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", (name,))
        cur.execute(f'DROP DATABASE IF EXISTS "{name}"')
    admin.close()


def truncate_all(url: str) -> None:
    conn = psycopg2.connect(url)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public' "
                        "AND tablename <> 'schema_migrations'")
            tables = [r[0] for r in cur.fetchall()]
            if tables:
                cur.execute("TRUNCATE " + ", ".join(f'"{t}"' for t in tables) + " RESTART IDENTITY CASCADE")
        conn.commit()
    finally:
        conn.close()


@pytest.fixture
def db_url(database_url: str) -> Iterator[str]:
    """The session database, emptied after the test (the code under test commits for real)."""
    yield database_url
    truncate_all(database_url)


def app_config(db_url: str, var_dir: str, **overrides: Any) -> dict[str, Any]:
    config: dict[str, Any] = {
        "DATABASE_URL": db_url,
        "TESTING": "true",
        "HOST_BACKGROUND": "false",
        "HOST_AUTO_MIGRATE": "false",
        "HOST_VAR_DIR": var_dir,
        "HOST_ADMIN_TOKEN": ADMIN_TOKEN,
        "HOST_SECRET_KEY": SECRET_KEY,
        "HOST_INTERNAL_TOKEN": INTERNAL_TOKEN,
        "HOST_INTEGRATIONS": INTEGRATIONS,
        "HOST_DB_POOL_SIZE": "4",
        **UNREACHABLE_MS,
    }
    config.update({k: str(v) for k, v in overrides.items()})
    return config


@pytest.fixture
def app_overrides() -> dict[str, Any]:
    """Override in a test module to change settings of the ``app`` fixture."""
    return {}


@pytest.fixture
def app(db_url: str, tmp_path: Any, app_overrides: dict[str, Any]) -> Iterator[Any]:
    from host_app import create_app
    from host_app.state import host_state

    application = create_app(app_config(db_url, str(tmp_path / "var"), **app_overrides))
    yield application
    host_state(application).services.db.close()  # type: ignore[attr-defined]


@pytest.fixture
def client(app: Any) -> Any:
    return app.test_client()


@pytest.fixture
def host(app: Any) -> Any:
    from host_app.state import host_state

    return host_state(app)


@pytest.fixture
def run_jobs(host: Any) -> Any:
    """Run every due background job now, in the test (``run_jobs(include_delayed=True)`` too)."""
    return host.runner.drain


@pytest.fixture
def admin_headers() -> dict[str, str]:
    return {"Authorization": f"Bearer {ADMIN_TOKEN}"}


@pytest.fixture
def echo_plugin() -> Any:
    from tests.plugins.echo import plugin

    plugin.received.clear()
    plugin.release.clear()
    return plugin
