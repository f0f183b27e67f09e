"""Lookup fixtures: the MoySklad emulator on 127.0.0.1, accounts with clients stored in many phone formats,
enterprises wired to them, and helpers to count the emulator's requests."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import pytest

from ms_emulator import EmulatorServer
from ms_plugin.phones import PhoneNumber, normalize
from tests.factories import make_enterprise

ADMIN_PASSWORD = "admin-pw-123"
EMPLOYEES = [
    {"name": "Админ", "login": "admin", "password": ADMIN_PASSWORD},  # the API user: owns nothing mapped
    {"name": "Анна", "extension": "150", "login": "anna"},
    {"name": "Борис", "extension": "151", "login": "boris"},
    {"name": "Вера", "extension": "152", "login": "vera"},
    {"name": "Глеб без добавочного", "login": "gleb"},
]
COUNTERPARTIES = [
    {"name": "ООО «Ромашка»", "phone": "+375 29 111-22-33", "owner": "151", "email": "info@romashka.by",
     "tags": ["опт"], "contactpersons": [{"name": "Анна Смирнова", "phone": "+375 44 765-43-21"}]},
    {"name": "Иван Петров", "phone": "8 029 222-33-44", "owner": "152"},
    {"name": "ИП Козлов", "phone": "375293334455", "owner": "150"},
    {"name": "Минский клиент", "phone": "80172223344", "owner": "admin"},
    {"name": "+375 29 555-66-77", "phone": "+375295556677", "owner": "admin"},  # auto-created earlier
    {"name": "ЗАО «Вектор»", "phone": "+7 (495) 331-22-33 доб. 5", "owner": "gleb",
     "contactpersons": [{"name": "Пётр Орлов", "phone": "375 (29) 666-77-88"}]},
    # Holds the digits 291112233 inside a longer number: a substring match that must NOT be accepted.
    {"name": "Чужой номер", "phone": "+375 291112233 9", "owner": "151"},
]


@pytest.fixture
def app_overrides() -> dict[str, Any]:
    # The emulator charges a user credential 4 units of 45 per 3 s: make our limiter agree.
    return {"MS_ALLOWED_API_HOSTS": "127.0.0.1", "MS_JSON_WEIGHT": "4", "HOST_DB_POOL_SIZE": "12"}


@dataclass
class Tenant:
    number: str
    token: str
    account: dict[str, Any]
    emu: EmulatorServer
    host: Any
    db_url: str

    def employee(self, name: str) -> str:
        return next(e["id"] for e in self.account["employees"] if e["name"] == name)

    def counterparty(self, name: str) -> str:
        return next(c["id"] for c in self.account["counterparties"] if c["name"] == name)

    def searches(self, since: int = 0) -> list[dict[str, Any]]:
        return [r for r in self.emu.state.requests(api="json", path="/api/remap/1.2/entity/counterparty",
                                                   account=self.account["name"], since=since)
                if r["method"] == "GET" and "search=" in r["query"]]

    def json_requests(self, since: int = 0) -> list[dict[str, Any]]:
        return self.emu.state.requests(api="json", account=self.account["name"], since=since)

    def last_seq(self) -> int:
        return int(self.emu.state.log.seq)

    @property
    def plugin(self) -> Any:
        return self.host_app.extensions["ms_plugin"].state

    host_app: Any = None


def make_tenant(db_url: str, emu: EmulatorServer, app: Any, *, number: str = "100", ms: dict[str, Any] | None = None,
                json_api: bool = True, counterparties: list[dict[str, Any]] | None = None,
                account_name: str | None = None, active: bool = True) -> Tenant:
    spec = {"name": account_name or f"acc{number}", "employees": EMPLOYEES,
            "counterparties": COUNTERPARTIES if counterparties is None else counterparties}
    info = emu.state.create_account(spec)
    section: dict[str, Any] = {"enabled": True, "integration_code": info["phone_key"],
                               "api_url": emu.json_api_url, "phone_api_url": emu.phone_api_url}
    if json_api:
        section.update({"login": f"admin@{info['name']}", "password": ADMIN_PASSWORD})
    section.update(ms or {})
    token = f"tok{number}"
    make_enterprise(db_url, number, token=token, integrations_config={"ms": section}, active=active)
    from host_app.state import host_state

    return Tenant(number, token, info, emu, host_state(app), db_url, host_app=app)


@pytest.fixture
def tenant(db_url: str, emulator: EmulatorServer, app: Any) -> Tenant:
    return make_tenant(db_url, emulator, app)


@pytest.fixture
def plugin(app: Any) -> Any:
    return app.extensions["ms_plugin"].state


@pytest.fixture
def lookup(plugin: Any) -> Any:
    return plugin.lookup


def phone(raw: str, region: str = "BY") -> PhoneNumber:
    number = normalize(raw, region)
    assert number is not None, raw
    return number


def wait_for(predicate: Any, timeout: float = 10.0, interval: float = 0.05) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(interval)
