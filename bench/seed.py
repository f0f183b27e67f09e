"""Tenants for the bench: each enterprise with its own emulator account, set up through the admin API.

Every tenant gets employees 150/151/152 (a ring group of three), counterparties with known numbers
(their owners spread over the group) and a pool of numbers MoySklad does not know (new clients). The
``ms`` section is enabled with both credentials (Phone API key and JSON API login) and the Smart Redirect
section names ``ms`` as primary with routing on for the bench trunk. Everything derives from the seed.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from bench.output import BenchError
from bench.procs import Emulator, http_json

TRUNK = "0001363"
GROUP = ("150", "151", "152")
KNOWN_PER_TENANT = 12
UNKNOWN_PER_TENANT = 12


@dataclass(frozen=True)
class BenchTenant:
    index: int
    number: str
    token: str
    account: str
    phone_key: str
    login: str
    password: str
    employees: dict[str, str]  # PBX extension -> employee id
    known: tuple[str, ...]  # caller numbers (digits, as the PBX sends them) of existing counterparties
    unknown: tuple[str, ...]  # caller numbers MoySklad does not know yet


def _digits(rng: random.Random, prefix: str, taken: set[str]) -> str:
    while True:
        number = prefix + "".join(rng.choice("0123456789") for _ in range(7))
        if number not in taken:
            taken.add(number)
            return number


def plan_tenants(seed: int, count: int) -> list[dict[str, Any]]:
    """The tenants' numbers, keys and callers, from the seed alone (no I/O)."""
    rng = random.Random(f"{seed}:tenants")
    taken: set[str] = set()
    plans = []
    for i in range(count):
        known = tuple(_digits(rng, "37529", taken) for _ in range(KNOWN_PER_TENANT))
        unknown = tuple(_digits(rng, "37544", taken) for _ in range(UNKNOWN_PER_TENANT))
        plans.append({"index": i, "number": f"71{i:04d}", "token": f"bench-token-{seed}-{i:04d}",
                      "account": f"bench{i:04d}", "phone_key": "%040x" % rng.getrandbits(160),
                      "password": f"pw-{rng.getrandbits(48):012x}", "known": known, "unknown": unknown})
    return plans


def _account_spec(plan: dict[str, Any]) -> dict[str, Any]:
    employees = [{"firstName": f"Менеджер {ext}", "lastName": plan["account"], "extension": ext,
                  "login": "admin" if ext == GROUP[0] else f"m{ext}", "password": plan["password"]}
                 for ext in GROUP]
    counterparties = [{"name": f"Клиент {n[-4:]}", "phone": "+" + n, "owner": GROUP[k % len(GROUP)],
                       "companyType": "individual"} for k, n in enumerate(plan["known"])]
    return {"name": plan["account"], "phone_key": plan["phone_key"], "employees": employees,
            "organizations": [{"name": f"ООО «{plan['account']}»"}], "counterparties": counterparties}


def _check(status: int, body: Any, what: str, ok: tuple[int, ...] = (200, 201)) -> Any:
    if status not in ok:
        raise BenchError(f"seeding: {what} answered {status}: {str(body)[:300]}")
    return body


def seed_tenant(plan: dict[str, Any], emulator: Emulator, service_url: str, admin_token: str) -> BenchTenant:
    info = emulator.control("POST", "/accounts", _account_spec(plan))
    employees = {e["extension"]: e["id"] for e in info["employees"] if e.get("extension")}
    login = f"admin@{plan['account']}"
    auth = {"Authorization": f"Bearer {admin_token}"}
    ent = f"{service_url}/api/enterprises/{plan['number']}"
    _check(*http_json("PUT", ent, {"name": f"Bench {plan['number']}", "token": plan["token"]}, auth), "PUT enterprise")
    section = {"enabled": True, "integration_code": plan["phone_key"], "login": login, "password": plan["password"],
               "employee_mapping": employees}
    _check(*http_json("PUT", f"{service_url}/ms-admin/config/{plan['number']}", section, auth), "PUT ms config")
    smart = {"primary": "ms", "mode": "routing+name",
             "lines": {TRUNK: {"name": "Линия", "shop": "Магазин", "enabled": True}}}
    _check(*http_json("PUT", f"{ent}/smart", smart, auth), "PUT smart section")
    # Reading the employees fills the plugin's directory now, so no measured call pays for it.
    body = _check(*http_json("GET", f"{service_url}/ms-admin/employees/{plan['number']}", None, auth),
                  "GET employees", ok=(200,))
    if not body.get("phone_api_ok", True) or not body.get("json_api_ok", True):
        raise BenchError(f"seeding: tenant {plan['number']} cannot reach the emulator: {str(body)[:300]}")
    return BenchTenant(plan["index"], plan["number"], plan["token"], plan["account"], plan["phone_key"], login,
                       plan["password"], employees, plan["known"], plan["unknown"])


def seed_all(plans: list[dict[str, Any]], emulator: Emulator, service_url: str, admin_token: str,
             spawn_map: Callable[[Callable[[dict[str, Any]], BenchTenant], list[dict[str, Any]]], list[BenchTenant]]
             ) -> list[BenchTenant]:
    """Seed every tenant (``spawn_map`` runs them concurrently: a gevent pool's ``map``)."""
    tenants = spawn_map(lambda p: seed_tenant(p, emulator, service_url, admin_token), plans)
    return sorted(tenants, key=lambda t: t.index)
