"""Fixtures of the admin API tests: the app pointed at a MoySklad emulator on 127.0.0.1, an enterprise,
an emulator account, admin credentials of one enterprise."""

from __future__ import annotations

from typing import Any

import pytest

from ms_emulator import EmulatorServer
from tests.factories import make_enterprise
from tests.ms.admin.helpers import ACCOUNT_SPEC, ENT, OTHER_ENT, emulator_overrides, enterprise_token


@pytest.fixture
def emu(emulator: EmulatorServer) -> EmulatorServer:
    return emulator


@pytest.fixture
def app_overrides(emu: EmulatorServer) -> dict[str, Any]:
    return emulator_overrides(emu)


@pytest.fixture
def account(emu: EmulatorServer) -> dict[str, Any]:
    return emu.state.create_account(ACCOUNT_SPEC)


@pytest.fixture
def ent(db_url: str) -> str:
    make_enterprise(db_url, ENT, name="ООО Тест")
    make_enterprise(db_url, OTHER_ENT, name="Другое предприятие")
    return ENT


@pytest.fixture
def ent_headers(db_url: str, ent: str) -> dict[str, str]:
    """Bearer headers of ENT's own admin."""
    return {"Authorization": f"Bearer {enterprise_token(db_url, ent)}"}


@pytest.fixture
def other_headers(db_url: str, ent: str) -> dict[str, str]:
    """Bearer headers of another enterprise's admin."""
    return {"Authorization": f"Bearer {enterprise_token(db_url, OTHER_ENT)}"}
