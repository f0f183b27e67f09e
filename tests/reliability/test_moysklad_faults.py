"""MoySklad misbehaves while PBX calls keep coming: slow, rate-limiting, 5xx, down, malformed answers.

One real service (gunicorn, two gevent workers) and one emulator for the module; each test has a tenant
of its own (its own MoySklad account), turns its fault on, sends a seeded load of PBX calls through
``/dispatch/call-event``, ends the fault and then checks that every call ended complete and once in
MoySklad, that the journal and the metrics show what happened, and records its figure.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from tests.e2e.harness import Emulator, Service
from tests.reliability import scenario
from tests.reliability.emulator import Control
from tests.reliability.load import LoadResult
from tests.reliability.tenants import Tenant, make_tenant, reliability_env

pytestmark = pytest.mark.slow

CALLS = 24
SLOW_S = 10.0  # how long every MoySklad request takes 5 s
CARD_BOUND_S = 2.0  # a card shows within this of the dial, even when a lookup is slow (contract §6: 300 ms)
OUTAGE_S = 45.0
RETRY_AFTER_MS = 1500
# Requests that were already on their way when a 429 came back may still arrive just after it.
IN_FLIGHT_GRACE_S = 0.3


@pytest.fixture(scope="module")
def service(reliability_db: str, emulator: Emulator, service_factory: Callable[..., Service]) -> Service:
    return service_factory(reliability_db, **reliability_env(emulator))


@pytest.fixture
def tenant(reliability_db: str, control: Control, service: Service) -> Iterator[Tenant]:
    made = make_tenant(reliability_db, control)
    scenario.warm_up(service, control, made)
    yield made
    control.clear_faults()
    control.end_outage()
    control.knobs(slow_mode_ms=0)


@contextmanager
def every(seconds: float, action: Callable[[int], Any]) -> Iterator[None]:
    """Run ``action(n)`` every ``seconds`` in the background while the block runs (a fault that keeps
    recurring through the load instead of hitting only its first requests)."""
    stop = threading.Event()

    def loop() -> None:
        n = 0
        while not stop.is_set():
            action(n)
            n += 1
            stop.wait(seconds)

    thread = threading.Thread(target=loop, name="fault-injector", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=10)


def ack_seconds(load: LoadResult) -> list[float]:
    """Seconds each event took to be acknowledged, first tries only (a retry's wait is the relay's)."""
    return sorted(e.acked_at - e.first_sent for e in load.acked if e.attempts == 1)


def test_a_slow_moysklad_delays_no_acknowledgement_and_loses_no_call(service, control, tenant):
    control.knobs(slow_mode_ms=5000)
    slow_until = time.time() + SLOW_S
    load = scenario.send_load(service, tenant, CALLS, seed=11)
    time.sleep(max(0.0, slow_until - time.time()))
    control.knobs(slow_mode_ms=0)
    back = time.time()

    scenario.settle_and_record(
        service, control, tenant, load, fault="moysklad_slow", timeout=120, not_before=back,
        load_text=f"{CALLS} calls ({len(load.events)} events), 8 at a time; every MoySklad request takes 5 s "
                  f"for {SLOW_S:.0f} s while they are sent",
        checked="acks stay fast; every call complete once; slow requests journaled and counted")

    acks = ack_seconds(load)
    assert acks[int(len(acks) * 0.99) - 1] < 1.0, f"a slow MoySklad must not slow the 202: {acks[-5:]}"
    slow = [r for r in control.requests(account=tenant.account) if r["duration_ms"] >= 5000]
    assert slow, "no request was slowed down: the test proved nothing"
    assert scenario.slow_journal_rows(service, tenant, 5000) >= len(slow) // 2
    assert scenario.slow_request_count(service, 5.0) >= len(slow) // 2


def test_cards_show_while_ringing_even_when_client_search_is_slow(service, control, tenant):
    control.knobs(json_latency_ms=5000)  # the Phone API answers as usual
    slow_until = time.time() + 8.0
    try:
        load = scenario.send_load(service, tenant, 6, seed=16, mix=(("2-2", 1),))
        time.sleep(max(0.0, slow_until - time.time()))
    finally:
        control.knobs(json_latency_ms=20)
    scenario.wait_for_moysklad(service, control, tenant, load, 60)
    delays = card_delays(control, tenant, load)
    assert len(delays) == 6
    assert max(delays.values()) <= CARD_BOUND_S, f"seconds from a dial to its card: {sorted(delays.values())}"


def card_delays(control: Control, tenant: Tenant, load: LoadResult) -> dict[str, float]:
    """Incoming call -> seconds from its dial's 202 to the arrival at MoySklad of the create that shows
    its first card."""
    created: dict[str, float] = {}
    for req in control.requests(account=tenant.account, api="phone"):
        body = req.get("body")
        if req["method"] == "POST" and req["path"].endswith("/call") and req["status"] == 200 and isinstance(body, dict):
            created.setdefault(str(body.get("externalId")), req["time"])
    out = {}
    for call in load.moysklad_calls:
        dial = next((e for e in load.events if e.call is call and e.event_type == "dial"), None)
        incoming = call.template in ("2-1", "2-2", "growing_group")
        if incoming and dial is not None and dial.acked_at is not None and call.main_uid in created:
            out[call.main_uid] = round(created[call.main_uid] - dial.acked_at, 2)
    return out


def test_rate_limiting_pauses_the_key_and_every_call_still_lands_once(service, control, tenant):
    headers = {"X-Lognex-Retry-After": str(RETRY_AFTER_MS)}

    def limit(n: int) -> None:  # a 429 on either API, over and over, as another client of the key would cause
        api = ("phone", "json")[n % 2]
        control.inject("/api/phone/1.0/*" if api == "phone" else "/api/remap/1.2/*", api=api, status=429,
                       code=1049, headers=headers)

    with every(2.0, limit):
        load = scenario.send_load(service, tenant, CALLS, seed=12)
    back = time.time()

    scenario.settle_and_record(
        service, control, tenant, load, fault="moysklad_429", timeout=90, not_before=back,
        load_text=f"{CALLS} calls ({len(load.events)} events); a 429 with X-Lognex-Retry-After: "
                  f"{RETRY_AFTER_MS} ms every 2 s, alternating Phone and JSON API",
        checked="no request for the key during its cooldown; calls complete once; 429s journaled and counted")

    log = control.requests(account=tenant.account)
    refused = [r for r in log if r["status"] == 429]
    assert refused, "no 429 was injected: the test proved nothing"
    assert cooldown_violations(log, RETRY_AFTER_MS / 1000.0) == []
    assert scenario.request_outcomes(service)["rate_limited"] >= len(refused)
    assert scenario.journaled_statuses(service, tenant)["429"] == len(refused)
    limits = control.stats()["limits"]["principals"]
    assert limits["phone"][tenant.account]["max_in_window"] <= 100  # MoySklad's 100 per 5 s per key


def cooldown_violations(log: list[dict[str, Any]], retry_after: float) -> list[str]:
    """Requests of a principal that arrived while it was cooling down after a 429."""
    found = []
    for refusal in (r for r in log if r["status"] == 429):
        answered = refusal["time"] + refusal["duration_ms"] / 1000.0
        window = (answered + IN_FLIGHT_GRACE_S, answered + retry_after - 0.05)
        for req in log:
            if (req["principal"] == refusal["principal"] and req["api"] == refusal["api"]
                    and window[0] < req["time"] < window[1]):
                found.append(f"{req['method']} {req['path']} {req['time'] - answered:.2f}s after a 429")
    return found


def test_server_errors_and_lost_answers_are_retried_without_doubling_a_call(service, control, tenant):
    statuses = (500, 502, 503, 504)

    def fail(n: int) -> None:
        control.inject("/api/phone/1.0/*", api="phone", status=statuses[n % 4])
        control.inject("/api/remap/1.2/*", api="json", status=statuses[(n + 1) % 4])
        if n % 3 == 0:  # MoySklad created the call but the answer never came back: the create must not repeat
            control.inject("/api/phone/1.0/call", method="POST", drop="after")

    with every(1.0, fail):
        load = scenario.send_load(service, tenant, CALLS, seed=13)
    back = time.time()

    scenario.settle_and_record(
        service, control, tenant, load, fault="moysklad_5xx", timeout=90, not_before=back,
        load_text=f"{CALLS} calls ({len(load.events)} events); every second a 500/502/503/504 on each API, "
                  "every third second a POST /call whose answer is lost after MoySklad processed it",
        checked="calls complete and never doubled (lost answers probed, not re-created); 5xx journaled and counted")

    log = control.requests(account=tenant.account)
    assert any(r["status"] >= 500 for r in log) and any(r.get("dropped") == "after" for r in log)
    outcomes = scenario.request_outcomes(service)
    assert outcomes["server_error"] > 0 and outcomes["connection_error"] + outcomes["timeout"] > 0
    assert sum(n for status, n in scenario.journaled_statuses(service, tenant).items() if status.startswith("5")) > 0


def test_calls_made_while_moysklad_is_down_all_land_once_when_it_is_back(service, control, tenant):
    down_from = time.time()
    control.outage(OUTAGE_S)  # both APIs answer 503 (code 1074), then recover by themselves
    down_until = down_from + OUTAGE_S
    health: list[int] = []
    load = scenario.send_load(service, tenant, CALLS, seed=14,
                              between_calls=lambda n: health.append(service.get("/health").status_code))
    sent_during_outage = time.time() < down_until
    time.sleep(max(0.0, down_until - time.time()))

    scenario.settle_and_record(
        service, control, tenant, load, fault="moysklad_down", timeout=120, not_before=down_until,
        load_text=f"{CALLS} calls ({len(load.events)} events) sent while both APIs answer 503 for "
                  f"{OUTAGE_S:.0f} s",
        checked="/health stays 200; the circuit breaker limits requests during the outage; all calls land once after")

    assert sent_during_outage, "the load outlasted the outage: raise OUTAGE_S"
    assert set(health) == {200}, "MoySklad being down must not make our service unhealthy"
    during = [r for r in control.requests(account=tenant.account) if down_from < r["time"] < down_until - 0.5]
    assert during and all(r["status"] == 503 for r in during)
    # Without the circuit breaker every job would retry every request; with it a key sends a probe now and then.
    assert len(during) / OUTAGE_S < 2, f"{len(during)} requests in {OUTAGE_S:.0f} s of outage"
    assert scenario.journaled_statuses(service, tenant)["503"] > 0


def test_malformed_answers_are_retried_and_every_call_still_lands_once(service, control, tenant):
    bodies = ('{"id": "trunc', "<html><body>502 Bad Gateway</body></html>", "", "[1, 2,")

    def garble(n: int) -> None:  # 200s whose body is not the JSON asked for (a proxy page, a cut answer)
        control.inject("/api/phone/1.0/call*", api="phone", status=200, body=bodies[n % 4])
        control.inject("/api/remap/1.2/entity/*", api="json", method="GET", status=200, body=bodies[(n + 1) % 4])

    with every(1.0, garble):
        load = scenario.send_load(service, tenant, CALLS, seed=15)
    back = time.time()

    scenario.settle_and_record(
        service, control, tenant, load, fault="moysklad_malformed", timeout=90, not_before=back,
        load_text=f"{CALLS} calls ({len(load.events)} events); every second a 200 with a cut, HTML or empty "
                  "body on each API",
        checked="calls complete once; malformed answers journaled and counted, never taken as success")

    garbled = [r for r in control.requests(account=tenant.account) if r.get("injected") and r["status"] == 200]
    assert garbled, "no malformed answer was served: the test proved nothing"
    assert scenario.request_outcomes(service)["malformed"] >= len(garbled) // 2
    errors = scenario.journal_counts(service, tenant)
    assert sum(n for (event_type, status), n in errors.items()
               if event_type.startswith("moysklad.") and status == "error") >= len(garbled) // 2
