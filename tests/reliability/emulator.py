"""The emulator's control API (``/_emulator``) over HTTP, as a small typed client for the fault tests."""

from __future__ import annotations

from typing import Any

import requests

from tests.e2e.harness import Emulator

# Employees of every reliability account: incoming calls ring 150/151/152, outgoing ones come from 153;
# "admin" is the JSON API user.
EMPLOYEES: list[dict[str, Any]] = [
    {"name": "Админ", "login": "admin", "password": "admin-pw-Reliab1e"},
    {"name": "Анна 150", "extension": "150", "login": "anna"},
    {"name": "Борис 151", "extension": "151", "login": "boris"},
    {"name": "Вера 152", "extension": "152", "login": "vera"},
    {"name": "Галина 153", "extension": "153", "login": "galina"},
]
JSON_PASSWORD = "admin-pw-Reliab1e"


class Control:
    def __init__(self, emulator: Emulator) -> None:
        self.emulator = emulator
        self.url = emulator.control_url
        self.http = requests.Session()
        self.http.trust_env = False

    def _call(self, method: str, path: str, body: Any = None, **params: Any) -> Any:
        resp = self.http.request(method, self.url + path, json=body, params=params or None, timeout=10)
        assert resp.status_code < 300, f"emulator {method} {path}: {resp.status_code} {resp.text[:300]}"
        return resp.json()

    # -- accounts and what MoySklad holds ----------------------------------------------------------

    def create_account(self, name: str) -> dict[str, Any]:
        return self._call("POST", "/accounts", {"name": name, "employees": EMPLOYEES})  # type: ignore[no-any-return]

    def calls(self, account: str) -> list[dict[str, Any]]:
        return self._call("GET", "/calls", account=account)["calls"]  # type: ignore[no-any-return]

    def counterparties(self, account: str) -> list[dict[str, Any]]:
        return self._call("GET", "/entities/counterparty", account=account)["rows"]  # type: ignore[no-any-return]

    def requests(self, account: str | None = None, api: str | None = None) -> list[dict[str, Any]]:
        params = {k: v for k, v in (("account", account), ("api", api)) if v}
        return self._call("GET", "/requests", **params)["requests"]  # type: ignore[no-any-return]

    def stats(self) -> dict[str, Any]:
        return self._call("GET", "/stats")  # type: ignore[no-any-return]

    # -- knobs and faults ----------------------------------------------------------------------------

    def knobs(self, **changes: Any) -> dict[str, Any]:
        return self._call("PATCH", "/knobs", changes)  # type: ignore[no-any-return]

    def outage(self, seconds: float | None, api: str | None = None) -> None:
        self._call("POST", "/faults/outage", {"seconds": seconds, "api": api})

    def end_outage(self) -> None:
        self._call("DELETE", "/faults/outage")

    def inject(self, path: str, **spec: Any) -> dict[str, Any]:
        return self._call("POST", "/faults/inject", {"path": path, **spec})  # type: ignore[no-any-return]

    def clear_faults(self) -> None:
        self._call("DELETE", "/faults")

    def pending_injections(self) -> list[dict[str, Any]]:
        return self._call("GET", "/faults")["injections"]  # type: ignore[no-any-return]
