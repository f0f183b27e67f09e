"""Tenants of the reliability tests: an enterprise whose ``ms`` section points at its own emulator account,
and the environment every reliability service runs with."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from tests.e2e.harness import Emulator, make_e2e_enterprise
from tests.reliability.emulator import JSON_PASSWORD, Control


def reliability_env(emulator: Emulator, **extra: str) -> dict[str, str]:
    # MS_PENDING_GRACE_S: an internal call's bridge-then-hangup waits this long before it is settled
    # (20 s by default); 2 s lets a test see every job end without waiting out production's grace.
    return {**emulator.service_env(), "MS_JSON_WEIGHT": "1", "MS_PENDING_GRACE_S": "2", "HOST_DB_POOL_SIZE": "6",
            **extra}


@dataclass(frozen=True)
class Tenant:
    number: str
    token: str
    account: str  # the emulator account's name
    phone_key: str


def make_tenant(database_url: str, control: Control, *, json_api: bool = True,
                phone_key: str | None = None, **ms: Any) -> Tenant:
    """An enterprise whose ``ms`` section points at a new emulator account (``phone_key`` overrides the
    key stored in our config, e.g. a wrong one)."""
    name = f"rel{uuid.uuid4().hex[:10]}"
    account = control.create_account(name)
    # A webhook_uuid, as every tenant saved through the admin API has (the first admin GET mints one otherwise).
    section: dict[str, Any] = {"enabled": True, "integration_code": phone_key or account["phone_key"],
                               "webhook_uuid": str(uuid.uuid4()), **ms}
    if json_api:
        section.update({"login": f"admin@{name}", "password": JSON_PASSWORD})
    ent = make_e2e_enterprise(database_url, integrations_config={"ms": section})
    return Tenant(ent["number"], ent["token"], name, account["phone_key"])
