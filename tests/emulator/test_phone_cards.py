"""Call-card events: SHOW / STARTTIME / HIDE / HIDE_ALL, inline or separate, and `sequence` modes."""
from __future__ import annotations

from typing import Any

import pytest

from ms_emulator import EmulatorState

from .helpers import Api, emp_meta, employee_id, error_code, new_call


def _cards(state: EmulatorState, call_id: str) -> dict[str | None, dict[str, Any]]:
    return {c["extension"]: c for c in state.cards("acme")["calls"][call_id]["cards"]}


def test_inline_show_on_create_makes_the_card_visible(phone: Api, state: EmulatorState,
                                                        account: dict[str, Any]) -> None:
    call = phone.post("/call", json=new_call(events=[
        {"eventType": "SHOW", "extension": "150", "sequence": 1},
        {"eventType": "SHOW", "extension": "151", "sequence": 1}])).json()
    visible = state.cards("acme")["visible"]
    assert visible == {employee_id(account, "150"): [call["id"]], employee_id(account, "151"): [call["id"]]}
    assert "events" not in call  # write-only, never echoed


def test_event_endpoint_answers_204_with_an_empty_body(phone: Api) -> None:
    call = phone.post("/call", json=new_call()).json()
    response = phone.post(f"/call/{call['id']}/event", json={"eventType": "SHOW", "extension": "150", "sequence": 1})
    assert response.status_code == 204 and response.content == b""


def test_starttime_and_hide_update_one_card(phone: Api, state: EmulatorState) -> None:
    call = phone.post("/call", json=new_call(events=[{"eventType": "SHOW", "extension": "150", "sequence": 1}])).json()
    phone.post("/call/extid/pbx-1.1/event", json={"eventType": "STARTTIME", "extension": "150", "sequence": 2})
    card = _cards(state, call["id"])["150"]
    assert card["started"] and card["visible"]
    phone.post("/call/extid/pbx-1.1/event", json={"eventType": "HIDE", "extension": "150", "sequence": 3})
    card = _cards(state, call["id"])["150"]
    assert card["hidden"] and not card["visible"] and card["last_sequence"] == 3


def test_hide_all_hides_every_card_of_the_call(phone: Api, state: EmulatorState) -> None:
    call = phone.post("/call", json=new_call(events=[
        {"eventType": "SHOW", "extension": ext, "sequence": 1} for ext in ("150", "151", "152")])).json()
    phone.put(f"/call/{call['id']}", json={"events": [{"eventType": "HIDE_ALL", "sequence": 2}]})
    assert all(not c["visible"] for c in _cards(state, call["id"]).values())
    assert state.cards("acme")["visible"] == {}


def test_hide_all_does_not_touch_other_calls(phone: Api, state: EmulatorState, account: dict[str, Any]) -> None:
    phone.post("/call", json=new_call(events=[{"eventType": "SHOW", "extension": "150", "sequence": 1}]))
    other = phone.post("/call", json=new_call(externalId="pbx-2", events=[
        {"eventType": "SHOW", "extension": "150", "sequence": 1}])).json()
    phone.post("/call/extid/pbx-1.1/event", json={"eventType": "HIDE_ALL", "sequence": 9})
    assert state.cards("acme")["visible"] == {employee_id(account, "150"): [other["id"]]}


def test_event_employee_wins_over_extension(phone: Api, state: EmulatorState, account: dict[str, Any]) -> None:
    call = phone.post("/call", json=new_call()).json()
    target = employee_id(account, "152")
    phone.post(f"/call/{call['id']}/event",
               json={"eventType": "SHOW", "extension": "150", "sequence": 1, "employee": emp_meta(target)})
    assert state.cards("acme")["visible"] == {target: [call["id"]]}


def test_show_for_an_unmapped_extension_is_kept_as_undeliverable(phone: Api, state: EmulatorState) -> None:
    call = phone.post("/call", json=new_call(events=[{"eventType": "SHOW", "extension": "999", "sequence": 1}])).json()
    card = _cards(state, call["id"])["999"]
    assert card["undeliverable"] and card["employee"] is None
    assert state.cards("acme")["calls"][call["id"]]["events"][0]["note"] == "undeliverable"


def test_default_mode_applies_events_in_arrival_order(phone: Api, state: EmulatorState) -> None:
    call = phone.post("/call", json=new_call(events=[{"eventType": "HIDE", "extension": "150", "sequence": 5}])).json()
    phone.post(f"/call/{call['id']}/event", json={"eventType": "SHOW", "extension": "150", "sequence": 1})
    assert _cards(state, call["id"])["150"]["visible"]


def test_strict_sequence_ignores_a_late_show(phone: Api, state: EmulatorState) -> None:
    state.set_knobs(strict_sequence=True)
    call = phone.post("/call", json=new_call(events=[{"eventType": "SHOW", "extension": "150", "sequence": 1}])).json()
    phone.post(f"/call/{call['id']}/event", json={"eventType": "HIDE", "extension": "150", "sequence": 3})
    phone.post(f"/call/{call['id']}/event", json={"eventType": "SHOW", "extension": "150", "sequence": 2})
    assert not _cards(state, call["id"])["150"]["visible"]
    events = state.cards("acme")["calls"][call["id"]]["events"]
    assert events[-1]["applied"] is False and events[-1]["note"] == "stale sequence"


def test_strict_sequence_keeps_new_cards_hidden_after_hide_all(phone: Api, state: EmulatorState) -> None:
    state.set_knobs(strict_sequence=True)
    call = phone.post("/call", json=new_call(events=[{"eventType": "HIDE_ALL", "sequence": 10}])).json()
    phone.post(f"/call/{call['id']}/event", json={"eventType": "SHOW", "extension": "151", "sequence": 4})
    assert state.cards("acme")["visible"] == {}


def test_epoch_millisecond_sequences_are_accepted(phone: Api) -> None:
    call = phone.post("/call", json=new_call()).json()
    response = phone.post(f"/call/{call['id']}/event",
                          json={"eventType": "SHOW", "extension": "150", "sequence": 1744019200123})
    assert response.status_code == 204


@pytest.mark.parametrize(("event", "status", "code", "parameter"), [
    ({"extension": "150", "sequence": 1}, 412, 3000, "eventType"),
    ({"eventType": "RING", "extension": "150", "sequence": 1}, 412, 3005, "eventType"),
    ({"eventType": "SHOW", "sequence": 1}, 412, 3000, "extension"),
    ({"eventType": "SHOW", "extension": "150"}, 412, 3000, "sequence"),
    ({"eventType": "SHOW", "extension": "150", "sequence": "1"}, 400, 2017, "sequence"),
])
def test_bad_events_are_refused(phone: Api, event: dict[str, Any], status: int, code: int, parameter: str) -> None:
    call = phone.post("/call", json=new_call()).json()
    response = phone.post(f"/call/{call['id']}/event", json=event)
    assert response.status_code == status
    error = response.json()["errors"][0]
    assert (error["code"], error["parameter"]) == (code, parameter)


def test_hide_all_needs_no_extension(phone: Api) -> None:
    call = phone.post("/call", json=new_call()).json()
    assert phone.post(f"/call/{call['id']}/event", json={"eventType": "HIDE_ALL", "sequence": 1}).status_code == 204


def test_bad_inline_event_refuses_the_whole_create(phone: Api, state: EmulatorState) -> None:
    response = phone.post("/call", json=new_call(events=[{"eventType": "BLINK", "extension": "150", "sequence": 1}]))
    assert response.status_code == 412 and error_code(response) == 3005
    assert state.calls("acme") == []


def test_event_for_an_unknown_call_is_404(phone: Api) -> None:
    response = phone.post("/call/extid/nope/event", json={"eventType": "HIDE_ALL", "sequence": 1})
    assert response.status_code == 404 and error_code(response) == 1021


def test_event_body_must_be_a_single_object(phone: Api) -> None:
    call = phone.post("/call", json=new_call()).json()
    response = phone.post(f"/call/{call['id']}/event", json=[{"eventType": "HIDE_ALL", "sequence": 1}])
    assert response.status_code == 400 and error_code(response) == 2009
