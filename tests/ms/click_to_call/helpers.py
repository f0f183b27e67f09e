"""Constants and helpers of the click-to-call tests (fixtures: conftest.py).

The enterprise's ``pbx`` points at the :class:`FakeAmiServer` on 127.0.0.1; the employee directory is
seeded straight into ``ms_employees`` (and marked fresh, so no test ever asks MoySklad for it).
"""

from __future__ import annotations

from typing import Any

from tests.factories import sql
from tests.fakes.ami_server import FakeAmiServer

ENT = "0367"
KEY = "0f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c"
UUID = "2f6c1a9e-7b55-4e0b-9d0f-3c2b1a0e9f11"
PHONE = "+375291234567"
DIGITS = "375291234567"

IVANOV = "11111111-1111-4111-8111-111111111111"  # uid ivanov@acme, MoySklad ext 151 = PBX 151 (implicit)
PETROVA = "22222222-2222-4222-8222-222222222222"  # uid petrova@acme, MoySklad ext 201, mapped to PBX 152
SIDOROV = "33333333-3333-4333-8333-333333333333"  # no login, no MoySklad ext; mapped to PBX 153
NOEXT = "44444444-4444-4444-8444-444444444444"  # uid noext@acme, mapped to nothing
EMPLOYEES = [
    (IVANOV, "Иван Иванов", "ivanov@acme", "151"),
    (PETROVA, "Мария Петрова", "petrova@acme", "201"),
    (SIDOROV, "Олег Сидоров", None, None),
    (NOEXT, "Без Добавочного", "noext@acme", None),
]
MAPPING = {"152": PETROVA, "153": SIDOROV}


def ms_section(**click_to_call: Any) -> dict[str, Any]:
    return {"enabled": True, "integration_code": KEY, "webhook_uuid": UUID, "employee_mapping": dict(MAPPING),
            "click_to_call": {"signature_mode": "enforce", "dial_format": "digits", "max_per_minute": 20,
                              **click_to_call}}


def ami_pbx(server: FakeAmiServer) -> dict[str, Any]:
    return {"kind": "ami", "host": "127.0.0.1", "port": server.port, "username": "ms", "secret": "s3cret"}


def seed_employees(db_url: str, ent: str = ENT) -> None:
    for emp_id, name, uid, ext in EMPLOYEES:
        sql(db_url, "INSERT INTO ms_employees (enterprise_number, employee_id, name, uid, ms_extension) "
                    "VALUES (%s, %s, %s, %s, %s)", (ent, emp_id, name, uid, ext))
    sql(db_url, "INSERT INTO ms_tenant_state (enterprise_number, employees_refreshed_at) VALUES (%s, now()) "
                "ON CONFLICT (enterprise_number) DO UPDATE SET employees_refreshed_at = now()", (ent,))


def originate_rows(db_url: str, ent: str = ENT) -> list[dict[str, Any]]:
    cols = ("id", "extension", "employee_id", "dest_digits", "dest_e164", "dial_number", "status", "attempts",
            "signature", "error_code", "matched_unique_id")
    rows = sql(db_url, f"SELECT {', '.join(cols)} FROM ms_originates WHERE enterprise_number = %s ORDER BY id",
               (ent,))
    return [dict(zip(cols, row)) for row in rows]


def journal(db_url: str, event_type: str, ent: str = ENT) -> list[dict[str, Any]]:
    rows = sql(db_url, "SELECT status, request_data, response_data, error_message, phone FROM integration_logs "
                       "WHERE enterprise_number = %s AND event_type = %s ORDER BY id", (ent, event_type))
    return [{"status": r[0], "request": r[1], "response": r[2], "error": r[3], "phone": r[4]} for r in rows]


def jobs(db_url: str) -> list[tuple[str, str, str | None]]:
    return [(r[0], r[1], r[2]) for r in sql(db_url, "SELECT kind, state, last_error FROM jobs "
                                                    "WHERE kind = 'ms.originate' ORDER BY id")]


def age_originates(db_url: str, seconds: float, ent: str = ENT) -> None:
    sql(db_url, "UPDATE ms_originates SET created_at = created_at - make_interval(secs => %s) "
                "WHERE enterprise_number = %s", (seconds, ent))
