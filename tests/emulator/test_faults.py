"""Fault knobs: outages, injected responses, dropped connections and latency."""
from __future__ import annotations

import time

import pytest
import requests

from ms_emulator import EmulatorState

from .helpers import Api, error_code, new_call


def test_outage_answers_503_code_1074_until_cleared(phone: Api, ms: Api, state: EmulatorState) -> None:
    state.set_outage()
    for response in (phone.post("/call", json=new_call()), ms.get("/entity/employee")):
        assert response.status_code == 503 and error_code(response) == 1074
    state.clear_outage()
    assert phone.post("/call", json=new_call()).status_code == 200


def test_outage_for_n_seconds_ends_by_itself(phone: Api, state: EmulatorState) -> None:
    state.set_outage(seconds=0.3)
    assert phone.get("/employee").status_code == 503
    time.sleep(0.35)
    assert phone.get("/employee").status_code == 200


def test_outage_can_target_one_api(phone: Api, ms: Api, state: EmulatorState) -> None:
    state.set_outage(api="json")
    assert ms.get("/entity/employee").status_code == 503
    assert phone.get("/employee").status_code == 200


def test_injected_429_with_retry_after_fires_once(phone: Api, state: EmulatorState) -> None:
    state.inject("/call", api="phone", method="POST", status=429, headers={"X-Lognex-Retry-After": "1800"})
    refused = phone.post("/call", json=new_call())
    assert refused.status_code == 429 and error_code(refused) == 1049
    assert refused.headers["X-Lognex-Retry-After"] == "1800"
    assert state.calls("acme") == []  # nothing was processed
    assert phone.post("/call", json=new_call()).status_code == 200


def test_injection_count_and_method_matching(phone: Api, state: EmulatorState) -> None:
    state.inject("/api/phone/1.0/call*", method="PUT", status=500, count=2)
    phone.post("/call", json=new_call())
    assert [phone.put("/call/extid/pbx-1.1", json={}).status_code for _ in range(3)] == [500, 500, 200]


def test_injected_malformed_json_is_sent_verbatim(phone: Api, state: EmulatorState) -> None:
    state.inject("/call", api="phone", status=200, body='{"id": ')
    response = phone.post("/call", json=new_call())
    assert response.status_code == 200 and response.text == '{"id": '
    with pytest.raises(ValueError):
        response.json()


def test_injected_502_through_the_control_api(phone: Api, control: Api) -> None:
    created = control.post("/faults/inject", json={"path": "/employee", "api": "phone", "status": 502})
    assert created.status_code == 201 and created.json()["remaining"] == 1
    assert phone.get("/employee").status_code == 502
    assert control.get("/faults").json()["injections"] == []
    assert phone.get("/employee").status_code == 200


def test_drop_before_processing_loses_the_request(phone: Api, state: EmulatorState) -> None:
    state.inject("/call", api="phone", method="POST", drop="before")
    with pytest.raises(requests.ConnectionError):
        phone.post("/call", json=new_call())
    assert state.calls("acme") == []
    assert state.requests(path="/api/phone/1.0/call")[-1]["dropped"] == "before"


def test_drop_after_processing_loses_only_the_answer(phone: Api, state: EmulatorState) -> None:
    state.inject("/call", api="phone", method="POST", drop="after")
    with pytest.raises(requests.ConnectionError):
        phone.post("/call", json=new_call())
    assert len(state.calls("acme")) == 1
    assert phone.put("/call/extid/pbx-1.1", json={}).status_code == 200  # the documented probe finds it


def test_injected_delay_slows_one_request(phone: Api, state: EmulatorState) -> None:
    state.inject("/employee", api="phone", delay_ms=300)
    started = time.monotonic()
    assert phone.get("/employee").status_code == 200
    assert time.monotonic() - started >= 0.3
    started = time.monotonic()
    phone.get("/employee")
    assert time.monotonic() - started < 0.3


def test_latency_and_jitter_knobs_apply_per_api(phone: Api, ms: Api, state: EmulatorState) -> None:
    state.set_knobs(phone_latency_ms=150, phone_jitter_ms=50)
    started = time.monotonic()
    phone.get("/employee")
    assert 0.15 <= time.monotonic() - started < 1.0
    started = time.monotonic()
    ms.get("/entity/organization")
    assert time.monotonic() - started < 0.15


def test_slow_mode_adds_to_every_api_request(ms: Api, state: EmulatorState) -> None:
    state.set_knobs(slow_mode_ms=250)
    started = time.monotonic()
    ms.get("/entity/organization")
    assert time.monotonic() - started >= 0.25


def test_bad_injection_is_refused(state: EmulatorState, control: Api) -> None:
    with pytest.raises(ValueError):
        state.inject("/call", drop="sideways")
    assert control.post("/faults/inject", json={"path": "/call", "status": 500, "bogus": 1}).status_code == 400
    assert control.post("/faults/inject", json={"status": 500}).status_code == 400


def test_clearing_faults_removes_outage_and_injections(phone: Api, state: EmulatorState, control: Api) -> None:
    state.set_outage()
    state.inject("/employee", api="phone", status=500)
    assert control.request("DELETE", "/faults").status_code == 200
    assert phone.get("/employee").status_code == 200


def test_outage_through_the_control_api(phone: Api, control: Api) -> None:
    body = control.post("/faults/outage", json={"seconds": 30, "api": "phone"}).json()
    assert body["outage"]["api"] == "phone" and 0 < body["outage"]["seconds_left"] <= 30
    assert phone.get("/employee").status_code == 503
    assert control.request("DELETE", "/faults/outage").json()["outage"] is None
    assert phone.get("/employee").status_code == 200
    assert control.post("/faults/outage", json={"api": "fax"}).status_code == 400
    assert control.post("/faults/inject", json={"path": "/x", "status": "500"}).status_code == 400
