"""Fixtures of the security tests: the app (in-process) wired to a MoySklad emulator on 127.0.0.1, two
enterprises with their own admin tokens, and request helpers that pick the caller (credentials, peer)."""

from __future__ import annotations

import secrets
import uuid
from dataclasses import dataclass
from typing import Any

import pytest

from host_app.auth import hash_token
from ms_emulator import EmulatorServer
from tests.conftest import ADMIN_TOKEN, INTERNAL_TOKEN
from tests.factories import make_enterprise, sql
from tests.reliability.emulator import EMPLOYEES, JSON_PASSWORD
from tests.security.routes import PHONE, Route, fill

ENT = "100"
OTHER = "200"
OUTSIDER = "203.0.113.7"  # TEST-NET-3: never a loopback address


@pytest.fixture
def emu(emulator: EmulatorServer) -> EmulatorServer:
    return emulator  # the session's emulator (tests/conftest.py), fresh for this test


@pytest.fixture
def app_overrides(emu: EmulatorServer) -> dict[str, Any]:
    # The product's plugins only: the test plugin's routes are not part of what ships.
    return {"HOST_INTEGRATIONS": "ms_plugin:plugin", "MS_API_URL": emu.json_api_url, "MS_PHONE_API_URL": emu.phone_api_url,
            "MS_ALLOWED_API_HOSTS": "api.moysklad.ru,127.0.0.1", "MS_CONNECT_TIMEOUT": "1",
            "MS_HOT_READ_TIMEOUT": "2", "MS_BACKOFF_BASE": "0.01", "MS_BACKOFF_MAX": "0.05"}


def enterprise_token(db_url: str, number: str) -> tuple[str, int]:
    token = "ent_" + secrets.token_urlsafe(24)
    rows = sql(db_url, "INSERT INTO admin_tokens (enterprise_number, token_hash, label) VALUES (%s, %s, 'sec') "
                       "RETURNING id", (number, hash_token(token)))
    return token, int(rows[0][0])


@dataclass(frozen=True)
class Tenants:
    own_token: str
    own_tid: int
    other_token: str
    webhook: str
    names: dict[str, str]

    def path(self, route: Route) -> str:
        return str(fill(route.path, **self.names))

    def body(self, route: Route) -> Any:
        return fill(route.body, **self.names)


@pytest.fixture
def tenants(db_url: str, emu: EmulatorServer) -> Tenants:
    """ENT (the enterprise under test, ms enabled against the emulator) and OTHER, each with an admin token."""
    account = emu.state.create_account({"name": "sec", "employees": EMPLOYEES})
    webhook = str(uuid.uuid4())
    section = {"enabled": True, "integration_code": account["phone_key"], "login": "admin@sec",
               "password": JSON_PASSWORD, "webhook_uuid": webhook}
    make_enterprise(db_url, ENT, token=f"tok-{ENT}", integrations_config={"ms": section})
    make_enterprise(db_url, OTHER, token=f"tok-{OTHER}", integrations_config={"ms": {"enabled": False}})
    own, tid = enterprise_token(db_url, ENT)
    other, _ = enterprise_token(db_url, OTHER)
    return Tenants(own, tid, other, webhook, {"ent": ENT, "tid": str(tid), "webhook": webhook, "phone": PHONE})


def call(client: Any, route: Route, tenants: Tenants, *, headers: dict[str, str] | None = None,
         peer: str = "127.0.0.1", path: str | None = None, body: Any = None) -> Any:
    """One request to ``route`` (its sample path and body unless given), from ``peer``."""
    kwargs: dict[str, Any] = {"headers": headers or {}, "environ_base": {"REMOTE_ADDR": peer}}
    sent = tenants.body(route) if body is None else body
    if sent is not None and route.method != "GET":
        kwargs["json"] = sent
    return client.open(path or tenants.path(route), method=route.method, **kwargs)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


GLOBAL = bearer(ADMIN_TOKEN)
INTERNAL = {"X-Internal-Token": INTERNAL_TOKEN}
