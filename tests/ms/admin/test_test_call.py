"""``POST /ms-admin/test-call/<ent>``: a card shows on the employee's screen and hides after the delay."""

from __future__ import annotations

from typing import Any

from tests.factories import sql
from tests.ms.admin.helpers import ENT, configure, employee_id

TEST_NUMBER = "+375000000000"


def _call(client: Any, headers: dict[str, str], extension: str) -> Any:
    return client.post(f"/ms-admin/test-call/{ENT}", json={"extension": extension}, headers=headers)


def _emulator_call(emu: Any, external_id: str) -> dict[str, Any]:
    return next(c for c in emu.state.calls("acme") if c["externalId"] == external_id)


def test_a_test_call_shows_a_card_then_hides_it(client, admin_headers, ent, account, emu, run_jobs, db_url):
    configure(client, admin_headers, account)
    resp = _call(client, admin_headers, "150")
    assert resp.status_code == 202, resp.get_json()
    external_id = resp.get_json()["external_id"]
    ivanov = employee_id(account, "150")
    call = _emulator_call(emu, external_id)
    assert call["number"] == TEST_NUMBER and call["isIncoming"] is True
    assert call["comment"] == "Тестовый звонок из админки (можно удалить)"
    assert emu.state.cards("acme")["visible"].get(ivanov) == [call["id"]]
    run_jobs()  # the hide is delayed: nothing due yet
    assert emu.state.cards("acme")["visible"].get(ivanov) == [call["id"]]
    due = sql(db_url, "SELECT extract(epoch FROM run_at - created_at) FROM jobs WHERE kind = 'ms.admin_test_call_hide'")
    assert 4 <= float(due[0][0]) <= 6
    run_jobs(include_delayed=True)
    assert not emu.state.cards("acme")["visible"].get(ivanov)
    hidden = _emulator_call(emu, external_id)
    assert hidden["endTime"] and [e["eventType"] for e in hidden["_events"]] == ["SHOW", "HIDE_ALL"]


def test_a_test_call_creates_no_client_order_or_task(client, admin_headers, ent, account, emu, run_jobs):
    configure(client, admin_headers, account)
    before = {k: len(emu.state.entities(k, "acme")) for k in ("counterparty", "customerorder", "task")}
    assert _call(client, admin_headers, "151").status_code == 202
    run_jobs(include_delayed=True)
    assert {k: len(emu.state.entities(k, "acme")) for k in before} == before


def test_an_explicitly_mapped_pbx_extension_rings_the_mapped_employee(client, admin_headers, ent, account, emu):
    ivanov = employee_id(account, "150")
    configure(client, admin_headers, account, employee_mapping={"201": ivanov})
    resp = _call(client, admin_headers, "201")
    assert resp.status_code == 202
    call = _emulator_call(emu, resp.get_json()["external_id"])
    assert call["_events"][0]["extension"] == "150"  # the employee's MoySklad extension
    assert emu.state.cards("acme")["visible"].get(ivanov)


def test_an_unmapped_extension_is_422(client, admin_headers, ent, account):
    configure(client, admin_headers, account)
    resp = _call(client, admin_headers, "777")
    assert resp.status_code == 422 and "extension" in resp.get_json()["error"]["details"]
    assert _call(client, admin_headers, "x1").status_code == 422


def test_a_refusing_moysklad_is_reported_in_words(client, admin_headers, ent, account, emu, db_url):
    configure(client, admin_headers, account)
    client.get(f"/ms-admin/employees/{ENT}?refresh=1", headers=admin_headers)
    emu.state.set_account_flags("acme", telephony_enabled=False)
    resp = _call(client, admin_headers, "150")
    assert resp.status_code == 502
    error = resp.get_json()["error"]
    assert error["code"] == "moysklad_error" and error["details"]["moysklad"] == "no_telephony_option"
    rows = sql(db_url, "SELECT status FROM integration_logs WHERE event_type = 'admin.test_call'")
    assert rows == [("error",)]


def test_test_calls_are_journaled_under_the_enterprise(client, admin_headers, ent, account, db_url):
    configure(client, admin_headers, account)
    external_id = _call(client, admin_headers, "150").get_json()["external_id"]
    rows = sql(db_url, "SELECT event_type, status FROM integration_logs WHERE enterprise_number = %s "
                       "AND call_unique_id = %s ORDER BY id", (ENT, external_id))
    assert ("admin.test_call", "success") in rows
    assert ("moysklad.phone", "success") in rows
