"""Fixtures of the reliability suite: real gunicorn services and emulators (``tests/e2e/harness.py``), a
database of their own per module (a fault test's backlog never leaks into another's), tenants wired to
an emulator account.

Every test here that starts a real service is marked ``e2e``; the fault tests mark themselves ``slow``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.e2e.harness import Emulator, Service, launch_emulator, services
from tests.reliability.databases import create_database, drop_database
from tests.reliability.emulator import Control

HERE = Path(__file__).resolve().parent
_REAL_PROCESS_FIXTURES = {"service_factory", "emulator"}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if HERE in item.path.resolve().parents and _REAL_PROCESS_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.e2e)


@pytest.fixture(scope="module")
def reliability_db(pg_admin_url: str) -> Iterator[str]:
    url = create_database(pg_admin_url, "rel")
    try:
        yield url
    finally:
        drop_database(pg_admin_url, url)


@pytest.fixture(scope="module")
def emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Emulator]:
    # A realistic MoySklad answers in tens of milliseconds, not instantly.
    emu = launch_emulator(tmp_path_factory.mktemp("rel-emulator"), latency_ms=20, seed=None)
    try:
        yield emu
    finally:
        emu.stop()


@pytest.fixture(scope="module")
def control(emulator: Emulator) -> Control:
    ctl = Control(emulator)
    # Duplicate externalIds are undocumented in MoySklad: allowing them makes any second create visible.
    # JSON API weight 1 (here and in MS_JSON_WEIGHT) keeps the client lookups inside the test's time.
    ctl.knobs(duplicate_external_id="allow", json_weight_basic=1, json_weight_token=1)
    return ctl


@pytest.fixture(scope="module")
def service_factory(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[..., Service]]:
    """``start(database_url, **env) -> Service``: every service started is stopped with the module."""
    with services(tmp_path_factory, "", prefix="rel-service") as start:
        yield start
