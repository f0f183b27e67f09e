"""One tenant in trouble must not hold up the others: tenant A has a broken MoySklad key, or floods the
service with 1000 events, while tenant B has ordinary traffic; B's calls are finished within a bound."""

from __future__ import annotations

import threading
from collections.abc import Callable

import pytest

from tests.e2e.harness import Emulator, Service, wait_until
from tests.reliability import scenario
from tests.reliability.emulator import Control
from tests.reliability.load import LoadResult, PbxRelay, plan_events
from tests.reliability.outcome import job_states
from tests.reliability.tenants import Tenant, make_tenant, reliability_env

pytestmark = pytest.mark.slow

B_CALLS = 16
# B's calls are finished in MoySklad within this many seconds of their last event, whatever A does.
B_BOUND_S = 15.0
FLOOD_EVENTS = 1000
WRONG_KEY = "0" * 39 + "1"
TENANT_PARALLEL = 4  # HOST_JOB_TENANT_PARALLEL's default: running jobs per tenant, plugin and lane


@pytest.fixture(scope="module")
def service(reliability_db: str, emulator: Emulator, service_factory: Callable[..., Service]) -> Service:
    return service_factory(reliability_db, **reliability_env(emulator))


class RunningPeak:
    """The most jobs of one tenant running at once in one lane (sampled), while the block runs."""

    def __init__(self, service: Service, tenant: Tenant) -> None:
        self.service, self.tenant, self.peak = service, tenant, 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="running-peak", daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            rows = self.service.sql("SELECT count(*) FROM jobs WHERE enterprise_number = %s AND state = 'running' "
                                    "AND locked_until > now() GROUP BY lane", (self.tenant.number,))
            self.peak = max([self.peak, *(int(r[0]) for r in rows)])
            self._stop.wait(0.1)

    def __enter__(self) -> RunningPeak:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)


def _b_under(service: Service, control: Control, a: Tenant,
             a_traffic: Callable[[], LoadResult]) -> tuple[Tenant, LoadResult, LoadResult, int]:
    """Tenant B's ordinary calls while ``a_traffic`` runs; returns B, both loads and A's running peak."""
    b = make_tenant(service.database_url, control)
    scenario.warm_up(service, control, b)
    box: dict[str, LoadResult] = {}
    noisy = threading.Thread(target=lambda: box.update(a=a_traffic()), name="tenant-a")
    with RunningPeak(service, a) as peak:
        noisy.start()
        load_b = scenario.send_load(service, b, B_CALLS, seed=41)
        noisy.join(timeout=300)
    return b, load_b, box["a"], peak.peak


def test_a_tenant_with_a_broken_key_does_not_delay_the_others(service, control):
    a = make_tenant(service.database_url, control, phone_key=WRONG_KEY)
    b, load_b, load_a, _peak = _b_under(service, control, a, lambda: scenario.send_load(service, a, 40, seed=42))

    scenario.settle_and_record(
        service, control, b, load_b, fault="fairness_broken_key", timeout=60,
        load_text=f"tenant A: 40 calls ({len(load_a.events)} events) with a Phone API key MoySklad refuses; "
                  f"tenant B: {B_CALLS} calls ({len(load_b.events)} events) at the same time",
        checked=f"B's calls complete once, each within {B_BOUND_S:.0f} s of its last event; A's jobs wait for "
                "a config change instead of retrying")

    assert scenario.max_delay_of(service, b, load_b) <= B_BOUND_S
    # A's call jobs park until its config changes (those of internal calls need no MoySklad: done).
    wait_until(lambda: set(job_states(service, a.number)) <= {"waiting", "done"}, 30,
               message=lambda: f"A's jobs: {job_states(service, a.number)}")
    assert job_states(service, a.number)["waiting"] > 0
    # Until the mark is committed each of A's running jobs (at most TENANT_PARALLEL) may meet the 401 and
    # retry it once (contract §7); after it, nothing: the count must not grow with A's traffic.
    refused = [r for r in control.requests(api="phone") if r["status"] == 401]
    assert 1 <= len(refused) <= 2 * TENANT_PARALLEL + 2, f"A's refused key was tried {len(refused)} times"
    status = scenario.admin_status(service, a)
    # The admin page says why A's calls wait, and that nothing is lost: they are pending, none failed.
    assert status["state"] == "credentials_invalid" and status["jobs_failed"] == 0
    assert status["jobs_pending"] == job_states(service, a.number)["waiting"]


def test_a_flood_from_one_tenant_does_not_delay_the_others(service, control):
    a = make_tenant(service.database_url, control)
    flood = PbxRelay(service.url, a.token, seed=43, pace=0.0)
    b, load_b, load_a, a_peak = _b_under(service, control, a, lambda: flood.send(
        plan_events(FLOOD_EVENTS, seed=43, mix=(("2-1", 1), ("2-2", 1), ("1-1", 1))), concurrency=16))

    scenario.settle_and_record(
        service, control, b, load_b, fault="fairness_flood", timeout=60,
        load_text=f"tenant A: {len(load_a.events)} events ({len(load_a.calls)} calls) as fast as 16 senders go; "
                  f"tenant B: {B_CALLS} calls ({len(load_b.events)} events) at the same time",
        checked=f"B's calls complete once, each within {B_BOUND_S:.0f} s of its last event, while A's backlog "
                "drains under A's own limits")

    assert len(load_a.acked) == len(load_a.events), "every flood event is acknowledged (stored) too"
    assert scenario.max_delay_of(service, b, load_b) <= B_BOUND_S
    assert a_peak <= TENANT_PARALLEL, f"A ran {a_peak} jobs of one lane at once: more than its share"
