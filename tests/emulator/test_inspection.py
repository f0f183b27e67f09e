"""The `/_emulator/` control and inspection API and its Python twin on EmulatorState."""
from __future__ import annotations

from typing import Any

from ms_emulator import EmulatorState

from .helpers import Api, basic, new_call


def test_accounts_are_created_over_http_with_keys_and_logins(control: Api, http: Any, emu: Any) -> None:
    response = control.post("/accounts", json={"name": "shop", "employees": [
        {"name": "Кассир", "extension": "201", "login": "cashier", "password": "pw"}]})
    assert response.status_code == 201
    info = response.json()
    assert len(info["phone_key"]) == 40 and info["users"][0]["login"] == "cashier@shop"
    assert info["employees"][0]["extension"] == "201"
    assert {s["name"] for s in info["states"]} >= {"Новый", "Подтвержден"}
    phone = http.get(f"{emu.phone_api_url}/employee", headers={"Lognex-Phone-Auth-Token": info["phone_key"]})
    assert phone.json()["employees"][0]["extention"] == "201"
    assert control.post("/accounts", json={"name": "shop"}).status_code == 400  # the name is taken


def test_account_flags_are_set_over_http(control: Api, phone: Api) -> None:
    assert control.put("/accounts/acme", json={"telephony_enabled": False}).json()["telephony_enabled"] is False
    assert phone.get("/employee").status_code == 403
    assert control.put("/accounts/nope", json={"blocked": True}).status_code == 404


def test_request_log_masks_secrets_and_keeps_bodies(phone: Api, ms: Api, control: Api,
                                                    account: dict[str, Any]) -> None:
    phone.post("/call", json=new_call(comment="logged"))
    ms.get("/entity/organization")
    rows = control.get("/requests").json()["requests"]
    call, org = rows
    assert call["api"] == "phone" and call["method"] == "POST" and call["path"] == "/api/phone/1.0/call"
    assert call["status"] == 200 and call["account"] == "acme" and call["duration_ms"] >= 0
    assert call["body"]["comment"] == "logged" and call["response"]["externalId"] == "pbx-1.1"
    assert call["headers"]["Lognex-Phone-Auth-Token"] != account["phone_key"]
    assert account["phone_key"] not in str(rows) and "admin-pw" not in str(rows)
    assert org["headers"]["Authorization"] == "Basic admin@acme:***"
    assert org["endpoint"] == "GET /entity/organization"


def test_request_log_filters(phone: Api, ms: Api, control: Api) -> None:
    phone.get("/employee")
    first_seq = control.get("/requests").json()["last_seq"]
    ms.get("/entity/organization")
    phone.post("/call", json=new_call())
    assert [r["path"] for r in control.get("/requests", params={"since": first_seq}).json()["requests"]] == [
        "/api/remap/1.2/entity/organization", "/api/phone/1.0/call"]
    assert len(control.get("/requests", params={"api": "phone"}).json()["requests"]) == 2
    assert len(control.get("/requests", params={"path": "/api/phone/1.0/call"}).json()["requests"]) == 1
    assert len(control.get("/requests", params={"path": "*/employee"}).json()["requests"]) == 1


def test_failed_auth_and_415_are_logged_too(phone: Api, state: EmulatorState) -> None:
    phone.get("/employee", headers={"Lognex-Phone-Auth-Token": "bad"})
    phone.get("/employee", headers={"Accept-Encoding": "identity"})
    assert [r["status"] for r in state.requests()] == [401, 415]


def test_calls_and_cards_are_inspectable(phone: Api, control: Api, account: dict[str, Any]) -> None:
    phone.post("/call", json=new_call(extension="150", events=[{"eventType": "SHOW", "extension": "150", "sequence": 1}]))
    calls = control.get("/calls", params={"account": "acme"}).json()["calls"]
    assert len(calls) == 1 and calls[0]["externalId"] == "pbx-1.1"
    assert calls[0]["_events"][0]["eventType"] == "SHOW" and calls[0]["_cards"][0]["visible"] is True
    cards = control.get("/cards").json()
    emp = account["users"][0]["employee_id"]
    assert cards["visible"] == {emp: [calls[0]["id"]]}
    assert cards["calls"][calls[0]["id"]]["cards"][0]["extension"] == "150"


def test_entities_are_listed_and_seeded_over_http(control: Api, ms: Api, account: dict[str, Any]) -> None:
    created = control.post("/entities/counterparty", params={"account": "acme"},
                           json={"name": "Посеянный", "phone": "8 (029) 111 22 33", "owner": "150"})
    assert created.status_code == 201
    names = [r["name"] for r in control.get("/entities/counterparties", params={"account": "acme"}).json()["rows"]]
    assert "Посеянный" in names
    rows = ms.get("/entity/counterparty", params={"search": "(029)"}).json()["rows"]
    assert [r["name"] for r in rows] == ["Посеянный"]
    assert control.get("/entities/bogus").status_code == 400
    employees = control.get("/entities/employee", params={"account": "acme"}).json()["rows"]
    assert sorted(e["extension"] for e in employees if e["extension"]) == ["150", "151", "152"]


def test_knobs_are_read_and_validated(control: Api) -> None:
    knobs = control.get("/knobs").json()
    assert knobs["phone_search"] == "substring" and knobs["duplicate_external_id"] == "reject"
    assert control.put("/knobs", json={"phone_search": "digits"}).json()["phone_search"] == "digits"
    assert control.put("/knobs", json={"phone_search": "fuzzy"}).status_code == 400
    assert control.put("/knobs", json={"no_such_knob": 1}).status_code == 400
    assert control.put("/knobs", json={"phone_rate_limit": "100"}).status_code == 400


def test_stats_count_requests_per_endpoint_status_and_limits(phone: Api, control: Api, state: EmulatorState) -> None:
    state.set_knobs(phone_rate_limit=2)
    for _ in range(3):
        phone.get("/employee")
    stats = control.get("/stats").json()
    assert stats["requests"]["endpoints"]["phone"]["GET /employee"] == {"200": 2, "429": 1}
    assert stats["requests"]["by_status"] == {"200": 2, "429": 1}
    assert stats["limits"]["principals"]["phone"]["acme"]["max_in_window"] == 3
    assert stats["limits"]["total_429"] == 1
    control.post("/stats/reset")
    assert control.get("/stats").json()["requests"]["total"] == 0


def test_reset_forgets_everything(control: Api, state: EmulatorState, account: dict[str, Any], ms: Api) -> None:
    state.set_knobs(phone_search="digits")
    assert control.post("/reset").json() == {"ok": True}
    assert state.accounts == {} and state.knobs.phone_search == "substring"
    assert ms.get("/entity/organization").status_code == 401


def test_reset_can_keep_accounts(control: Api, state: EmulatorState, account: dict[str, Any], ms: Api) -> None:
    ms.get("/entity/organization")
    control.post("/reset", json={"keep_accounts": True})
    assert state.requests() == []
    assert ms.get("/entity/organization", headers={"Authorization": basic("admin@acme", "admin-pw")}).status_code == 200


def test_control_api_is_not_rate_limited_nor_gzip_bound(control: Api, state: EmulatorState) -> None:
    state.set_knobs(phone_rate_limit=1)
    assert all(control.get("/stats", headers={"Accept-Encoding": "identity"}).status_code == 200 for _ in range(5))
