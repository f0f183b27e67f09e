"""Plain helpers of the admin API tests."""

from __future__ import annotations

import secrets
from typing import Any

from host_app.auth import hash_token
from tests.factories import sql

ENT = "0367"
OTHER_ENT = "0999"
PASSWORD = "admin-pw-Secret-1"
HOSTILE_NAME = '<script>window.__xss=1</script>"><img src=x onerror="window.__xss=2">'

ACCOUNT_SPEC: dict[str, Any] = {
    "name": "acme",
    "employees": [
        {"firstName": "Иван", "lastName": "Иванов", "extension": "150", "login": "admin", "password": PASSWORD},
        {"firstName": "Мария", "lastName": "Петрова", "extension": "151", "login": "petrova", "password": "pw-2"},
        {"name": HOSTILE_NAME, "fullName": HOSTILE_NAME, "extension": "152"},
        {"firstName": "Без", "lastName": "Добавочного", "email": "noext@acme.example"},
        {"firstName": "Без", "lastName": "Доступа", "login": "noapi", "password": "pw-3", "api_access": False},
    ],
    "organizations": [{"name": "ООО «Акме»"}],
    "sales_channels": [{"name": "Телефонный звонок", "type": "DIRECT_SALES"}, {"name": "Сайт", "type": "OTHER"}],
}


def emulator_overrides(emu: Any) -> dict[str, str]:
    return {
        "MS_API_URL": emu.json_api_url,
        "MS_PHONE_API_URL": emu.phone_api_url,
        # 127.0.0.1: the emulator; api.moysklad.invalid: a host that never resolves ("unreachable").
        "MS_ALLOWED_API_HOSTS": "api.moysklad.ru,127.0.0.1,api.moysklad.invalid",
        "MS_CONNECT_TIMEOUT": "1",
        "MS_HOT_READ_TIMEOUT": "3",
        "MS_BACKOFF_BASE": "0.05",
        "MS_BACKOFF_MAX": "0.1",
        "MS_TEST_CALL_HIDE_S": "5",
    }


def enterprise_token(db_url: str, number: str) -> str:
    token = "ent_" + secrets.token_urlsafe(24)
    sql(db_url, "INSERT INTO admin_tokens (enterprise_number, token_hash, label) VALUES (%s, %s, 'test')",
        (number, hash_token(token)))
    return token


def employee_id(account: dict[str, Any], extension: str | None = None, *, name: str | None = None) -> str:
    for emp in account["employees"]:
        if (extension is not None and emp["extension"] == extension) or (name is not None and emp["name"] == name):
            return str(emp["id"])
    raise KeyError(extension or name)


def credentials(account: dict[str, Any]) -> dict[str, Any]:
    return {"integration_code": account["phone_key"], "login": "admin@acme", "password": PASSWORD}


def configure(client: Any, headers: dict[str, str], account: dict[str, Any], ent: str = ENT,
              **extra: Any) -> dict[str, Any]:
    resp = client.put(f"/ms-admin/config/{ent}", json={**credentials(account), "enabled": True, **extra},
                      headers=headers)
    assert resp.status_code == 200, resp.get_json()
    return resp.get_json()


def section(db_url: str, ent: str = ENT) -> dict[str, Any]:
    rows = sql(db_url, "SELECT integrations_config -> 'ms' FROM enterprises WHERE number = %s", (ent,))
    return rows[0][0] or {}
