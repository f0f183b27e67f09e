"""Fixtures for the emulator's own tests: one threaded server per session, fresh state per test.

Loaded by tests/emulator/conftest.py; should the root conftest ever break collection, run
`python -m pytest tests/emulator --noconftest -p tests.emulator.fixtures` to load them as a plugin.
"""
from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import requests

from ms_emulator import EmulatorServer, EmulatorState

from .helpers import ACCOUNT_SPEC, Api, basic


@pytest.fixture(scope="session")
def server() -> Iterator[EmulatorServer]:
    with EmulatorServer(EmulatorState()) as emu:
        yield emu


@pytest.fixture()
def emu(server: EmulatorServer) -> EmulatorServer:
    server.state.reset()
    return server


@pytest.fixture()
def state(emu: EmulatorServer) -> EmulatorState:
    return emu.state


@pytest.fixture()
def account(state: EmulatorState) -> dict[str, Any]:
    return state.create_account(ACCOUNT_SPEC)


@pytest.fixture()
def http() -> Iterator[requests.Session]:
    with requests.Session() as session:
        session.trust_env = False
        yield session


@pytest.fixture()
def phone(emu: EmulatorServer, account: dict[str, Any], http: requests.Session) -> Api:
    return Api(http, emu.phone_api_url, {"Lognex-Phone-Auth-Token": account["phone_key"],
                                          "Accept-Encoding": "gzip"})


@pytest.fixture()
def ms(emu: EmulatorServer, account: dict[str, Any], http: requests.Session) -> Api:
    return Api(http, emu.json_api_url, {"Authorization": basic("admin@acme", "admin-pw"),
                                         "Accept-Encoding": "gzip"})


@pytest.fixture()
def control(emu: EmulatorServer, http: requests.Session) -> Api:
    return Api(http, emu.control_url, {})
