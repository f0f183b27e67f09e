"""Shared by every ms_plugin test: one MoySklad emulator server (127.0.0.1) per session, fresh per test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from ms_emulator import EmulatorServer, EmulatorState


@pytest.fixture(scope="session")
def emulator_server() -> Iterator[EmulatorServer]:
    with EmulatorServer(EmulatorState()) as emu:
        yield emu


@pytest.fixture
def emulator(emulator_server: EmulatorServer) -> EmulatorServer:
    emulator_server.state.reset()
    return emulator_server
