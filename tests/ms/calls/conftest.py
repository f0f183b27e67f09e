"""Call-flow fixtures: the MoySklad emulator on 127.0.0.1, an account, an enterprise wired to it, and a
driver that posts PBX events to the real ``/dispatch/call-event`` and runs the background jobs."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest

from ms_emulator import EmulatorServer
from tests.factories import make_enterprise
from tests.ms.calls.pbx import recorded

EMPLOYEES = [
    {"name": "Админ", "login": "admin", "password": "admin-pw-123"},
    {"name": "Анна 150", "extension": "150", "login": "anna"},
    {"name": "Борис 151", "extension": "151", "login": "boris"},
    {"name": "Вера 152", "extension": "152", "login": "vera"},
]


@pytest.fixture
def emulator(emulator: EmulatorServer) -> EmulatorServer:
    emulator.state.set_knobs(json_weight_basic=1, json_weight_token=1)
    return emulator


@pytest.fixture
def app_overrides() -> dict[str, Any]:
    # Short circuit-breaker and backoff times: a test cannot wait out production's 60 s.
    return {"MS_ALLOWED_API_HOSTS": "127.0.0.1", "MS_HOT_LOOKUP_MS": "2000", "MS_CIRCUIT_BASE": "0.05",
            "MS_CIRCUIT_MAX": "0.2", "MS_BACKOFF_BASE": "0.01", "MS_BACKOFF_MAX": "0.05",
            "MS_BACKGROUND_MAX_WAIT": "0.3", "MS_BACKGROUND_BUDGET": "3",
            # JSON API rate limiting is proven in tests/moysklad; here a generous budget (weight 1 on both
            # sides) keeps these flow tests from waiting out 3 s windows.
            "MS_JSON_WEIGHT": "1"}


@dataclass
class Tenant:
    number: str
    token: str
    account: dict[str, Any]
    emu: EmulatorServer
    client: Any
    run_jobs: Any
    db_url: str
    sent: list[dict[str, Any]] = field(default_factory=list)

    @property
    def employee_ids(self) -> dict[str, str]:
        return {e["extension"]: e["id"] for e in self.account["employees"] if e.get("extension")}

    def send(self, items: list[dict[str, Any]], *, run: bool = True, origin: str = "live",
             record_url: str | None = None) -> list[dict[str, Any]]:
        answers = []
        for item in items:
            body: dict[str, Any] = {"token": self.token, "uniqueId": item["raw"].get("UniqueId", ""),
                                    "event_type": item["event_type"], "raw": item["raw"], "origin": origin}
            if record_url and item["event_type"] == "hangup":
                body["record_url"] = record_url
            resp = self.client.post("/dispatch/call-event", json=body)
            assert resp.status_code == 202, resp.get_json()
            answers.append(resp.get_json())
            if run:
                self.run_jobs()
        return answers

    def calls(self) -> list[dict[str, Any]]:
        return self.emu.state.calls(self.account["name"])

    def call(self, external_id: str) -> dict[str, Any]:
        found = [c for c in self.calls() if c.get("externalId") == external_id]
        assert len(found) == 1, f"{len(found)} MoySklad calls with externalId {external_id}"
        return found[0]

    def phone_requests(self) -> list[dict[str, Any]]:
        return [r for r in self.emu.state.requests(api="phone") if not r["path"].endswith("/employee")]


def make_tenant(db_url: str, emu: EmulatorServer, client: Any, run_jobs: Any, *, number: str = "100",
                ms: dict[str, Any] | None = None, json_api: bool = True, account: dict[str, Any] | None = None,
                timezone: str = "Europe/Minsk") -> Tenant:
    spec = account or {"name": f"acc{number}", "employees": EMPLOYEES}
    info = emu.state.create_account(spec)
    section: dict[str, Any] = {"enabled": True, "integration_code": info["phone_key"],
                               "api_url": emu.json_api_url, "phone_api_url": emu.phone_api_url}
    if json_api:
        section.update({"login": f"admin@{info['name']}", "password": "admin-pw-123"})
    section.update(ms or {})
    token = f"tok{number}"
    make_enterprise(db_url, number, token=token, integrations_config={"ms": section}, timezone=timezone)
    return Tenant(number, token, info, emu, client, run_jobs, db_url)


@pytest.fixture
def tenant(db_url: str, emulator: EmulatorServer, client: Any, run_jobs: Any) -> Tenant:
    return make_tenant(db_url, emulator, client, run_jobs, json_api=False)


@pytest.fixture
def pbx() -> Any:
    return recorded
