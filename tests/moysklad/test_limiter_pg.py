"""PgLimiter on a real PostgreSQL: sliding window, in-flight leases, cooldown, circuit, LimiterBusy."""

from __future__ import annotations

import random
import threading
import time

import pytest

from ms_plugin.moysklad.errors import LimiterBusy
from ms_plugin.moysklad.limiter import LimitPolicy, LimitSpec, PgLimiter, credential_key
from ms_plugin.moysklad.settings import MsClientSettings

from .conftest import FakeClock

KEY = credential_key("phone", "token-a")
OTHER = credential_key("phone", "token-b")


def spec(key: str = KEY, *, capacity: int = 10, window: float = 5.0, units: int = 1, parallel: int = 5,
         global_parallel: int = 0) -> LimitSpec:
    return LimitSpec(key, window, capacity, units, parallel,
                     "phone:deployment" if global_parallel else None, global_parallel)


@pytest.fixture
def fake() -> FakeClock:
    return FakeClock()


def limiter_on(pg, fake: FakeClock, **kw) -> PgLimiter:
    return PgLimiter(pg, clock=fake, sleep=fake.sleep, rng=lambda: 0.0, **kw)


def max_in_any_window(times: list[float], window: float) -> int:
    times = sorted(times)
    best, lo = 0, 0
    for hi, t in enumerate(times):
        while times[lo] <= t - window:
            lo += 1
        best = max(best, hi - lo + 1)
    return best


def test_credential_key_is_a_short_hash_never_the_secret():
    key = credential_key("phone", "0f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c")
    assert key.startswith("phone:") and len(key) == 22 and "0f1e2d3c" not in key
    assert credential_key("json", "x") != credential_key("phone", "x")


def test_window_admits_capacity_then_waits_for_the_oldest_to_leave(pg, fake):
    lim = limiter_on(pg, fake)
    admitted = []
    for _ in range(10):
        lim.release(lim.acquire(spec(), max_wait=0, ttl=30), "ok")
        admitted.append(fake.now)
        fake.advance(0.1)
    with pytest.raises(LimiterBusy) as info:
        lim.acquire(spec(), max_wait=0, ttl=30)
    assert info.value.reason == "window"
    assert info.value.retry_after == pytest.approx(5.0 - 1.0, abs=1e-6)  # the first leaves 5 s after it ended
    start = fake.now
    lim.release(lim.acquire(spec(), max_wait=10, ttl=30), "ok")
    assert fake.now - start == pytest.approx(4.0, abs=0.01)


def test_no_window_ever_holds_more_than_capacity_whatever_the_latency(pg, fake):
    """Random latencies: MoySklad sees a request anywhere between our admission and our completion;
    even counting each at its worst possible moment, no 5 s window holds more than the capacity."""
    rnd = random.Random(7)
    lim = limiter_on(pg, fake)
    in_flight: list[tuple[float, object, float]] = []  # (completion time, slot, admission time)
    spans: list[tuple[float, float]] = []
    while len(spans) < 60:
        try:
            slot = lim.acquire(spec(capacity=10, parallel=5), max_wait=0, ttl=30)
            in_flight.append((fake.now + rnd.choice([0.01, 0.2, 1.5, 3.0]), slot, fake.now))
            continue
        except LimiterBusy as busy:
            if not in_flight:  # the window is full of finished requests: wait for the oldest to leave
                fake.advance(busy.retry_after)
                continue
        in_flight.sort(key=lambda x: x[0])
        done_at, slot, admitted = in_flight.pop(0)
        fake.now = max(fake.now, done_at)
        lim.release(slot, "ok")
        spans.append((admitted, done_at))
    for pick in (lambda a, d: a, lambda a, d: d, lambda a, d: rnd.uniform(a, d)):
        assert max_in_any_window([pick(a, d) for a, d in spans], 5.0) <= 10
    assert max_in_any_window([a for a, _ in spans], 5.0) == 10  # and the capacity is actually used


def test_in_flight_slots_are_capped_and_a_dead_holders_slot_expires(pg, fake):
    lim = limiter_on(pg, fake)
    held = [lim.acquire(spec(parallel=2, capacity=100), max_wait=0, ttl=10) for _ in range(2)]
    with pytest.raises(LimiterBusy) as info:
        lim.acquire(spec(parallel=2, capacity=100), max_wait=0, ttl=10)
    assert info.value.reason == "parallel"
    lim.release(held[0], "ok")
    lim.acquire(spec(parallel=2, capacity=100), max_wait=0, ttl=10)  # a freed slot is reused at once
    # held[1] and the new one are never released: their worker "died". Leases expire after ttl.
    fake.advance(10.01)
    assert lim.state(KEY, 5.0)["in_flight"] == 0
    lim.acquire(spec(parallel=2, capacity=100), max_wait=0, ttl=10)


def test_a_dead_holders_request_still_counts_in_the_window_until_its_lease_ends(pg, fake):
    lim = limiter_on(pg, fake)
    lim.acquire(spec(capacity=1, parallel=5), max_wait=0, ttl=10)  # never released
    fake.advance(12)  # lease expired 2 s ago: it may have reached MoySklad as late as that
    with pytest.raises(LimiterBusy) as info:
        lim.acquire(spec(capacity=1, parallel=5), max_wait=0, ttl=10)
    assert info.value.reason == "window" and info.value.retry_after == pytest.approx(3.0, abs=1e-6)


def test_waiting_for_a_slot_polls_then_raises_limiter_busy(pg, fake):
    lim = limiter_on(pg, fake, poll=0.05)
    lim.acquire(spec(parallel=1, capacity=100), max_wait=0, ttl=30)
    start = fake.now
    with pytest.raises(LimiterBusy) as info:
        lim.acquire(spec(parallel=1, capacity=100), max_wait=0.5, ttl=30)
    assert info.value.reason == "parallel" and 0 < info.value.retry_after <= 1.0
    assert fake.now - start == pytest.approx(0.5, abs=0.06)
    assert all(s <= 0.05 + 1e-9 for s in fake.sleeps)


def test_deployment_wide_in_flight_cap_spans_keys(pg, fake):
    lim = limiter_on(pg, fake)
    a = lim.acquire(spec(KEY, global_parallel=3), max_wait=0, ttl=30)
    lim.acquire(spec(KEY, global_parallel=3), max_wait=0, ttl=30)
    lim.acquire(spec(OTHER, global_parallel=3), max_wait=0, ttl=30)
    with pytest.raises(LimiterBusy) as info:
        lim.acquire(spec(OTHER, global_parallel=3), max_wait=0, ttl=30)
    assert info.value.reason == "global_parallel"
    lim.release(a, "ok")
    lim.acquire(spec(OTHER, global_parallel=3), max_wait=0, ttl=30)


def test_cooldown_after_429_stops_every_worker_sharing_the_database(pg, fake):
    worker1, worker2 = limiter_on(pg, fake), limiter_on(pg, fake)
    worker1.cooldown(KEY, 2.5)
    with pytest.raises(LimiterBusy) as info:
        worker2.acquire(spec(), max_wait=1.0, ttl=30)
    assert info.value.reason == "cooldown" and info.value.retry_after == pytest.approx(2.5)
    assert fake.sleeps == []  # a wait longer than allowed is not slept at all
    worker2.acquire(spec(OTHER), max_wait=0, ttl=30)  # other credentials are not paused
    start = fake.now
    worker2.acquire(spec(), max_wait=5, ttl=30)
    assert fake.now - start == pytest.approx(2.5, abs=0.01)
    worker1.cooldown(KEY, 1.0)
    worker1.cooldown(KEY, 0.2)  # never shortens a longer pause
    assert worker2.state(KEY, 5)["cooldown_until"] == pytest.approx(fake.now + 1.0)


def test_cooldown_with_the_database_clock_across_two_limiters(pg):
    worker1, worker2 = PgLimiter(pg), PgLimiter(pg)
    worker1.cooldown(KEY, 0.3)
    with pytest.raises(LimiterBusy):
        worker2.acquire(spec(), max_wait=0, ttl=30)
    start = time.monotonic()
    worker2.release(worker2.acquire(spec(), max_wait=2, ttl=30), "ok")
    assert 0.2 <= time.monotonic() - start < 1.5


def test_circuit_opens_doubles_and_lets_one_probe_through(pg, fake):
    lim = limiter_on(pg, fake, circuit_threshold=3, circuit_base=2.0, circuit_max=8.0)
    for _ in range(3):
        lim.release(lim.acquire(spec(capacity=100), max_wait=0, ttl=30), "failure")
    with pytest.raises(LimiterBusy) as info:
        lim.acquire(spec(capacity=100), max_wait=0, ttl=30)
    assert info.value.reason == "circuit_open" and info.value.retry_after == pytest.approx(2.0)
    for expected_open in (4.0, 8.0, 8.0):  # each failed probe re-opens for twice as long, capped
        fake.advance(info.value.retry_after)
        probe = lim.acquire(spec(capacity=100), max_wait=0, ttl=30)
        assert probe.probe
        with pytest.raises(LimiterBusy) as half:
            lim.acquire(spec(capacity=100), max_wait=0, ttl=30)
        assert half.value.reason == "circuit_half_open"
        lim.release(probe, "failure")
        with pytest.raises(LimiterBusy) as info:
            lim.acquire(spec(capacity=100), max_wait=0, ttl=30)
        assert info.value.retry_after == pytest.approx(expected_open)
    fake.advance(8.0)
    probe = lim.acquire(spec(capacity=100), max_wait=0, ttl=30)
    lim.release(probe, "ok")  # MoySklad answered: closed again
    lim.release(lim.acquire(spec(capacity=100), max_wait=0, ttl=30), "ok")
    assert lim.state(KEY, 5)["failures"] == 0 and lim.state(KEY, 5)["circuit_open_until"] is None


def test_failures_below_the_threshold_or_interrupted_by_success_keep_it_closed(pg, fake):
    lim = limiter_on(pg, fake, circuit_threshold=3)
    for result in ("failure", "failure", "ok", "failure", "failure", "neutral"):
        lim.release(lim.acquire(spec(capacity=100), max_wait=0, ttl=30), result)
    lim.acquire(spec(capacity=100), max_wait=0, ttl=30)
    assert lim.state(KEY, 5)["failures"] == 2


def test_unreachable_database_defers_instead_of_sending_unlimited():
    from host_app.db import DbPool

    dead = DbPool("postgresql://postgres@127.0.0.1:1/none", size=1, timeout=1, connect_timeout=1)
    with pytest.raises(LimiterBusy) as info:
        PgLimiter(dead).acquire(spec(), max_wait=0, ttl=30)
    assert info.value.reason == "limiter_unavailable"
    PgLimiter(dead).release(object(), "ok")  # type: ignore[arg-type]  # never raises


def test_policy_weights_json_requests_by_date_and_keeps_phone_deployment_cap():
    policy = LimitPolicy(MsClientSettings(), wall_clock=lambda: 1_796_000_000.0)  # 2026-11-30 MSK
    assert policy.json("json:x").units == 3 and policy.json("json:x").capacity == 45
    phone = policy.phone("phone:x")
    assert (phone.capacity, phone.window, phone.parallel, phone.global_parallel) == (95, 5.0, 5, 80)


def test_threads_of_two_workers_never_exceed_limits_on_the_database_clock(pg):
    """Real threads, two limiter instances (two workers), PostgreSQL's own clock."""
    workers = [PgLimiter(pg), PgLimiter(pg)]
    sends: list[float] = []
    lock = threading.Lock()
    in_flight = peak = 0
    errors: list[BaseException] = []

    def run(limiter: PgLimiter, n: int) -> None:
        nonlocal in_flight, peak
        try:
            for _ in range(n):
                slot = limiter.acquire(spec(capacity=12, window=1.0, parallel=3), max_wait=30, ttl=10)
                with lock:
                    in_flight += 1
                    peak = max(peak, in_flight)
                    sends.append(time.monotonic())
                time.sleep(random.uniform(0.005, 0.03))
                with lock:
                    in_flight -= 1
                limiter.release(slot, "ok")
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(workers[i % 2], 6)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert len(sends) == 36 and peak <= 3
    assert max_in_any_window(sends, 1.0) <= 12
