"""``POST /ms-admin/test/<ent>`` against the emulator: each failure mode in plain words, always 200."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.ms.admin.helpers import ENT, PASSWORD, configure

WRONG_KEY = "0" * 40


def _test(client: Any, headers: dict[str, str], body: Any = None) -> dict[str, Any]:
    resp = client.post(f"/ms-admin/test/{ENT}", json=body, headers=headers) if body is not None else \
        client.post(f"/ms-admin/test/{ENT}", headers=headers)
    assert resp.status_code == 200, resp.get_json()
    data = resp.get_json()
    assert set(data) == {"phone_api", "json_api"}
    for part in data.values():
        assert set(part) == {"ok", "code", "message"} and part["message"]
    return data


def test_saved_good_credentials_pass_both_checks(client, admin_headers, ent, account):
    configure(client, admin_headers, account)
    data = _test(client, admin_headers)
    assert data["phone_api"]["ok"] and data["phone_api"]["code"] == "ok"
    assert data["json_api"]["ok"] and "admin@acme" in data["json_api"]["message"]


def test_nothing_configured_says_so(client, admin_headers, ent, account):
    data = _test(client, admin_headers)
    assert data["phone_api"]["code"] == "not_configured" and data["json_api"]["code"] == "not_configured"


def test_wrong_phone_key_is_auth_failed(client, admin_headers, ent, account):
    configure(client, admin_headers, account)
    data = _test(client, admin_headers, {"integration_code": WRONG_KEY})
    assert data["phone_api"] == {"ok": False, "code": "auth_failed", "message": data["phone_api"]["message"]}
    assert "ключ" in data["phone_api"]["message"]
    assert data["json_api"]["ok"]  # the saved JSON credentials were used


def test_wrong_password_is_auth_failed(client, admin_headers, ent, account):
    configure(client, admin_headers, account)
    data = _test(client, admin_headers, {"password": "wrong"})
    assert data["json_api"]["code"] == "auth_failed" and data["phone_api"]["ok"]


def test_unsaved_credentials_are_tested_without_saving(client, admin_headers, ent, account):
    data = _test(client, admin_headers, {"integration_code": account["phone_key"], "login": "admin@acme",
                                         "password": PASSWORD})
    assert data["phone_api"]["ok"] and data["json_api"]["ok"]
    assert client.get(f"/ms-admin/config/{ENT}", headers=admin_headers).get_json()["has_integration_code"] is False


def test_empty_values_mean_the_saved_ones(client, admin_headers, ent, account):
    configure(client, admin_headers, account)
    data = _test(client, admin_headers, {"integration_code": "", "login": "", "password": "", "api_token": None})
    assert data["phone_api"]["ok"] and data["json_api"]["ok"]


def test_no_telephony_solution_is_reported(client, admin_headers, ent, account, emu):
    configure(client, admin_headers, account)
    emu.state.set_account_flags("acme", telephony_enabled=False)
    data = _test(client, admin_headers)
    assert data["phone_api"]["code"] == "no_telephony_option"
    assert "решение телефонии" in data["phone_api"]["message"]


def test_blocked_account_is_reported(client, admin_headers, ent, account, emu):
    configure(client, admin_headers, account)
    emu.state.set_account_flags("acme", blocked=True)
    data = _test(client, admin_headers)
    assert data["phone_api"]["code"] == "account_blocked" and data["json_api"]["code"] == "account_blocked"


def test_user_without_api_access_is_forbidden(client, admin_headers, ent, account):
    configure(client, admin_headers, account)
    data = _test(client, admin_headers, {"login": "noapi@acme", "password": "pw-3"})
    assert data["json_api"]["code"] == "forbidden" and "доступа к API" in data["json_api"]["message"]


def test_unreachable_host_is_reported(client, admin_headers, ent, account):
    configure(client, admin_headers, account, api_url="https://api.moysklad.invalid/api/remap/1.2",
              phone_api_url="https://api.moysklad.invalid/api/phone/1.0")
    data = _test(client, admin_headers)
    assert data["phone_api"]["code"] == "unreachable" and data["json_api"]["code"] == "unreachable"


def test_moysklad_outage_is_unreachable(client, admin_headers, ent, account, emu):
    configure(client, admin_headers, account)
    emu.state.set_outage(30, api="phone", status=503)
    try:
        data = _test(client, admin_headers)
    finally:
        emu.state.clear_outage()
    assert data["phone_api"]["code"] == "unreachable" and data["json_api"]["ok"]


@pytest.mark.parametrize("body", [{"integration_code": 5}, {"unknown": "x"}])
def test_bad_test_bodies_are_422(client, admin_headers, ent, body):
    assert client.post(f"/ms-admin/test/{ENT}", json=body, headers=admin_headers).status_code == 422


def test_test_answers_never_echo_secrets(client, admin_headers, ent, account):
    configure(client, admin_headers, account)
    for body in ({}, {"integration_code": WRONG_KEY, "password": "wrong-Secret-9"}):
        text = json.dumps(_test(client, admin_headers, body))
        for secret in (account["phone_key"], PASSWORD, WRONG_KEY, "wrong-Secret-9"):
            assert secret not in text
