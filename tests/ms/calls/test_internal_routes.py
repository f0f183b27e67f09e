"""The internal twins of dispatch: call-event with an enterprise number, notify-incoming, log-call."""

from __future__ import annotations

from typing import Any

import pytest

from tests.ms.calls.conftest import Tenant


def test_internal_call_event_is_stored_and_processed_like_a_dispatch(tenant: Tenant, pbx: Any):
    for item in pbx("2-2"):
        resp = tenant.client.post("/internal/ms/call-event", json={
            "enterprise_number": "100", "uniqueId": item["raw"]["UniqueId"], "event_type": item["event_type"],
            "raw": item["raw"]})
        assert resp.status_code == 202 and resp.get_json()["accepted"] is True
    tenant.run_jobs()
    assert "Пропущенный" in tenant.call("1757772834.67")["comment"]


def test_notify_incoming_shows_cards_to_the_given_extensions(tenant: Tenant):
    resp = tenant.client.post("/internal/ms/notify-incoming", json={
        "enterprise_number": "100", "phone": "+375 29 000-00-02", "extensions": ["150", "151"],
        "unique_id": "crm-1"})
    assert resp.status_code == 202
    tenant.run_jobs()
    visible = tenant.emu.state.cards(tenant.account["name"])["visible"]
    assert set(visible) == {tenant.employee_ids["150"], tenant.employee_ids["151"]}
    assert tenant.call("crm-1")["number"] == "+375290000002"


def test_log_call_logs_a_finished_call_with_its_times_and_no_card(tenant: Tenant):
    resp = tenant.client.post("/ms/log-call", json={
        "enterprise_number": "100", "phone": "80290000002", "direction": "in", "unique_id": "crm-2",
        "extension": "151", "start_time": "2026-11-20T10:00:00+03:00", "end_time": "2026-11-20T10:02:30+03:00",
        "status": "answered", "record_url": "https://rec.example.invalid/2.mp3"})
    assert resp.status_code == 202
    tenant.run_jobs()
    call = tenant.call("crm-2")
    assert call["startTime"].startswith("2026-11-20 10:00:00") and call["duration"] == 150_000
    assert call["extension"] == "151" and call["recordUrl"] == ["https://rec.example.invalid/2.mp3"]
    assert tenant.emu.state.cards(tenant.account["name"])["calls"][call["id"]]["events"] == []


@pytest.mark.parametrize("path,body,field", [
    ("/internal/ms/log-call", {"enterprise_number": "100", "phone": "1", "direction": "sideways",
                               "start_time": "2026-11-20T10:00:00", "end_time": "x", "status": "answered"},
     "direction"),
    ("/internal/ms/notify-incoming", {"enterprise_number": "100", "phone": "+375290000002",
                                      "extensions": ["15; rm -rf /"]}, "extensions"),
    ("/internal/ms/call-event", {"enterprise_number": "100", "uniqueId": "1", "event_type": "dial",
                                 "raw": "not an object"}, "raw"),
])
def test_bad_internal_bodies_get_field_errors(tenant: Tenant, path: str, body: dict[str, Any], field: str):
    resp = tenant.client.post(path, json=body)
    assert resp.status_code == 422
    assert field in resp.get_json()["error"]["details"]


def test_internal_routes_refuse_callers_from_outside(tenant: Tenant):
    resp = tenant.client.post("/internal/ms/notify-incoming", json={}, environ_base={"REMOTE_ADDR": "203.0.113.5"})
    assert resp.status_code == 403


def test_an_unknown_enterprise_is_404_and_a_disabled_one_is_not_accepted(tenant: Tenant, host: Any):
    body = {"enterprise_number": "999", "uniqueId": "1", "event_type": "dial", "raw": {}}
    assert tenant.client.post("/internal/ms/call-event", json=body).status_code == 404
    host.services.config.merge_section("100", "ms", {"enabled": False})
    body["enterprise_number"] = "100"
    resp = tenant.client.post("/internal/ms/call-event", json=body)
    assert resp.status_code == 202 and resp.get_json()["accepted"] is False
