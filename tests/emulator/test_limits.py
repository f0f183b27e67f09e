"""Rate and concurrency limits: enforced exactly, reported with MoySklad's headers, and measured."""
from __future__ import annotations

import time
from collections import Counter
from typing import Any

import requests

from ms_emulator import EmulatorServer, EmulatorState

from .helpers import Api, basic, error_code, parallel

RATE_HEADERS = ("X-RateLimit-Limit", "X-RateLimit-Remaining", "X-Lognex-Retry-TimeInterval", "X-Lognex-Reset",
                "X-Lognex-Retry-After")


def test_the_101st_phone_request_within_5_seconds_is_refused(phone: Api, state: EmulatorState) -> None:
    started = time.monotonic()
    statuses = [phone.get("/employee").status_code for _ in range(100)]
    refused = phone.get("/employee")
    assert time.monotonic() - started < 5
    assert statuses == [200] * 100
    assert refused.status_code == 429 and error_code(refused) == 1049
    assert all(name in refused.headers for name in RATE_HEADERS)
    assert refused.headers["X-RateLimit-Limit"] == "100"
    assert refused.headers["X-RateLimit-Remaining"] == "0"
    assert refused.headers["X-Lognex-Retry-TimeInterval"] == "5000"  # milliseconds
    retry_ms = int(refused.headers["X-Lognex-Retry-After"])
    assert 0 < retry_ms <= 5000 and int(refused.headers["X-Lognex-Reset"]) == retry_ms
    assert state.max_in_window("phone", "acme") == 101  # what the client sent, refused included
    assert state.stats()["limits"]["rejected_429"]["phone"] == {"1049": 1}


def test_the_window_slides_and_retry_after_is_enough(phone: Api, state: EmulatorState) -> None:
    state.set_knobs(phone_rate_limit=3, phone_rate_window_ms=300)
    assert [phone.get("/employee").status_code for _ in range(3)] == [200, 200, 200]
    refused = phone.get("/employee")
    assert refused.status_code == 429
    time.sleep(int(refused.headers["X-Lognex-Retry-After"]) / 1000 + 0.02)
    assert phone.get("/employee").status_code == 200


def test_successful_responses_carry_remaining_budget(phone: Api) -> None:
    first = phone.get("/employee")
    second = phone.get("/employee")
    assert first.headers["X-RateLimit-Remaining"] == "99" and second.headers["X-RateLimit-Remaining"] == "98"
    assert first.headers["X-Lognex-Reset"] == "0"


def test_json_api_bucket_is_45_units_with_weight_4(ms: Api, state: EmulatorState) -> None:
    statuses = [ms.get("/entity/organization").status_code for _ in range(11)]
    refused = ms.get("/entity/organization")
    assert statuses == [200] * 11
    assert refused.status_code == 429 and error_code(refused) == 1049
    assert refused.headers["X-RateLimit-Limit"] == "45"
    assert refused.headers["X-RateLimit-Remaining"] == "1"
    assert refused.headers["X-Lognex-Retry-TimeInterval"] == "3000"
    stats = state.stats()["limits"]["principals"]["json"]["admin@acme"]
    assert stats["max_in_window"] == 12 and stats["max_units_in_window"] == 48


def test_json_weight_is_configurable(ms: Api, state: EmulatorState) -> None:
    state.set_knobs(json_weight_basic=1)
    assert all(ms.get("/entity/organization").status_code == 200 for _ in range(45))
    assert ms.get("/entity/organization").status_code == 429


def test_json_bucket_is_per_user(ms: Api) -> None:
    for _ in range(11):
        ms.get("/entity/organization")
    assert ms.get("/entity/organization").status_code == 429
    other = ms.get("/entity/organization", headers={"Authorization": basic("petrova@acme", "petrova-pw")})
    assert other.status_code == 200


def test_a_sixth_parallel_phone_request_per_key_is_refused_with_1073(emu: EmulatorServer, account: dict[str, Any],
                                                                      state: EmulatorState) -> None:
    state.set_knobs(phone_latency_ms=400)
    headers = {"Lognex-Phone-Auth-Token": account["phone_key"], "Accept-Encoding": "gzip"}
    responses = parallel(6, lambda s: s.get(f"{emu.phone_api_url}/employee", headers=headers, timeout=10))
    statuses = Counter(r.status_code for r in responses)
    assert statuses == {200: 5, 429: 1}
    refused = next(r for r in responses if r.status_code == 429)
    assert error_code(refused) == 1073 and "X-Lognex-Retry-After" in refused.headers
    assert state.max_in_flight("phone", "acme") == 6
    assert state.stats()["limits"]["scopes"]["phone_key"]["acme"]["max_in_flight"] == 6


def test_phone_parallel_limit_per_ip_spans_keys(emu: EmulatorServer, account: dict[str, Any],
                                                state: EmulatorState) -> None:
    other = state.create_account({"name": "other"})
    state.set_knobs(phone_latency_ms=400, phone_parallel_per_ip=2)
    keys = [account["phone_key"], account["phone_key"], other["phone_key"], other["phone_key"]]

    def call(session: requests.Session) -> requests.Response:
        key = keys.pop()
        return session.get(f"{emu.phone_api_url}/employee", timeout=10,
                           headers={"Lognex-Phone-Auth-Token": key, "Accept-Encoding": "gzip"})

    responses = parallel(4, call)
    assert Counter(r.status_code for r in responses) == {200: 2, 429: 2}
    assert {error_code(r) for r in responses if r.status_code == 429} == {1073}


def test_json_parallel_limit_per_user(emu: EmulatorServer, account: dict[str, Any], state: EmulatorState) -> None:
    state.set_knobs(json_latency_ms=400, json_weight_basic=1)
    headers = {"Authorization": basic("admin@acme", "admin-pw"), "Accept-Encoding": "gzip"}
    responses = parallel(6, lambda s: s.get(f"{emu.json_api_url}/entity/organization", headers=headers, timeout=10))
    assert Counter(r.status_code for r in responses) == {200: 5, 429: 1}


def test_json_parallel_limit_per_account(emu: EmulatorServer, account: dict[str, Any], state: EmulatorState) -> None:
    state.set_knobs(json_latency_ms=400, json_parallel_per_account=3)
    users = [("admin@acme", "admin-pw")] * 2 + [("petrova@acme", "petrova-pw")] * 2

    def call(session: requests.Session) -> requests.Response:
        login, password = users.pop()
        return session.get(f"{emu.json_api_url}/entity/organization", timeout=10,
                           headers={"Authorization": basic(login, password), "Accept-Encoding": "gzip"})

    responses = parallel(4, call)
    assert Counter(r.status_code for r in responses) == {200: 3, 429: 1}
    assert state.stats()["limits"]["scopes"]["json_account"]["acme"]["max_in_flight"] == 4


def test_limits_can_be_switched_off_but_are_still_measured(phone: Api, state: EmulatorState) -> None:
    state.set_knobs(phone_limits_enabled=False)
    assert all(phone.get("/employee").status_code == 200 for _ in range(120))
    assert state.max_in_window("phone", "acme") == 120
    assert state.stats()["limits"]["total_429"] == 0


def test_a_well_behaved_client_stays_under_the_limit(phone: Api, state: EmulatorState) -> None:
    state.set_knobs(phone_rate_limit=5, phone_rate_window_ms=200)
    for _ in range(8):
        assert phone.get("/employee").status_code == 200
        time.sleep(0.045)
    assert state.max_in_window("phone", "acme") <= 5


def test_latency_is_slept_outside_the_lock(emu: EmulatorServer, account: dict[str, Any], state: EmulatorState) -> None:
    state.set_knobs(phone_latency_ms=300)
    headers = {"Lognex-Phone-Auth-Token": account["phone_key"], "Accept-Encoding": "gzip"}
    started = time.monotonic()
    responses = parallel(5, lambda s: s.get(f"{emu.phone_api_url}/employee", headers=headers, timeout=10))
    elapsed = time.monotonic() - started
    assert all(r.status_code == 200 for r in responses)
    assert 0.3 <= elapsed < 1.2  # five sequential sleeps would take 1.5 s
