"""PostgreSQL restarts while PBX calls come in: the service says so on /health, recovers by itself, and
every event it acknowledged is processed; what it could not store got a 5xx, and the relay sent it again.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import requests

from tests.e2e.harness import Emulator, Service, wait_until
from tests.reliability import scenario
from tests.reliability.databases import create_database
from tests.reliability.emulator import Control
from tests.reliability.load import LoadResult
from tests.reliability.outcome import job_states, moysklad_outcome, stuck_jobs, unstored_events
from tests.reliability.pg_cluster import PgCluster
from tests.reliability.tenants import Tenant, make_tenant, reliability_env

pytestmark = pytest.mark.slow

CALLS = 24
DOWN_S = 4.0
RESUME_BOUND_S = 20.0  # every call finished within this after the service is healthy again


@pytest.fixture(scope="module")
def cluster() -> Iterator[PgCluster]:
    pg = PgCluster()
    pg.start()
    try:
        yield pg
    finally:
        pg.remove()


class HealthWatch:
    """Polls /health in the background; keeps (time, status) with 0 for no answer."""

    def __init__(self, service: Service) -> None:
        self.service = service
        self.seen: list[tuple[float, int]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="health-watch", daemon=True)

    def _run(self) -> None:
        with requests.Session() as http:
            http.trust_env = False
            while not self._stop.is_set():
                try:
                    status = http.get(self.service.url + "/health", timeout=3).status_code
                except requests.RequestException:
                    status = 0
                self.seen.append((time.time(), status))
                self._stop.wait(0.2)

    def __enter__(self) -> HealthWatch:
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def statuses_between(self, start: float, end: float) -> list[int]:
        return [status for at, status in self.seen if start <= at <= end]


@dataclass
class RestartRun:
    service: Service
    tenant: Tenant
    load: LoadResult
    health: HealthWatch
    stopped: float
    starting: float  # PostgreSQL is being started again
    restarted: float
    recovered: float
    settled: bool
    failure: str  # why it did not settle, as settle_and_record said


@pytest.fixture(scope="module")
def restart_run(cluster: PgCluster, emulator: Emulator, control: Control,
                service_factory: Callable[..., Service]) -> RestartRun:
    url = create_database(cluster.admin_url, "relpg")
    service = service_factory(url, **reliability_env(emulator))
    tenant = make_tenant(url, control)
    scenario.warm_up(service, control, tenant)
    # One card write of the load takes 3 s at MoySklad, so that PostgreSQL surely goes away while a worker
    # is in the middle of a call (between taking the call's lease and recording what it did).
    control.inject("/api/phone/1.0/call", method="POST", api="phone", delay_ms=3000)

    box: dict[str, LoadResult] = {}
    sender = threading.Thread(target=lambda: box.update(load=scenario.send_load(service, tenant, CALLS, seed=21)),
                              name="pbx-load")
    with HealthWatch(service) as health:
        sender.start()
        wait_until(lambda: _a_job_mid_write(service, tenant), 20, message="no job caught mid-write")
        stopped = time.time()
        cluster.stop()
        wait_until(lambda: health.statuses_between(stopped, time.time()).count(503) >= 2, 15,
                   message=lambda: f"/health never said 503: {health.seen[-10:]}")
        time.sleep(DOWN_S)
        starting = time.time()
        cluster.start()
        restarted = time.time()
        # Nobody touches the service: it must find the database again by itself.
        wait_until(lambda: health.statuses_between(restarted, time.time())[-3:] == [200, 200, 200], 30,
                   message=lambda: f"/health did not recover: {health.seen[-10:]}\n{service.log_tail(20)}")
        recovered = time.time()
        sender.join(timeout=180)
    load = box["load"]
    settled, failure = True, ""
    try:
        scenario.settle_and_record(
            service, control, tenant, load, fault="postgres_restart", timeout=RESUME_BOUND_S, not_before=recovered,
            load_text=f"{CALLS} calls ({len(load.events)} events), 8 at a time; PostgreSQL stopped for "
                      f"{DOWN_S:.0f} s while a worker is in the middle of a call, then started again",
            checked="/health 503 then 200 by itself; events refused with 5xx, re-sent and stored; every "
                    f"acknowledged event processed within {RESUME_BOUND_S:.0f} s of recovery; calls complete once")
    except (AssertionError, pytest.fail.Exception) as exc:
        settled, failure = False, str(exc)[:4000]
    return RestartRun(service, tenant, load, health, stopped, starting, restarted, recovered, settled, failure)


def _a_job_mid_write(service: Service, tenant: Tenant) -> bool:
    rows = service.sql("SELECT count(*) FROM jobs WHERE enterprise_number = %s AND state = 'running' "
                       "AND updated_at < now() - interval '1 second'", (tenant.number,))
    return bool(rows[0][0])


def test_postgres_restart_is_reported_and_loses_no_acknowledged_event(restart_run, control):
    run, service, tenant, load = restart_run, restart_run.service, restart_run.tenant, restart_run.load
    while_down = run.health.statuses_between(run.stopped + 1.0, run.starting)
    assert while_down and set(while_down) <= {503}, f"/health while PostgreSQL was down: {while_down}"
    assert scenario.health_body(service)["db"] == "ok"

    refused = [e for e in load.events if any(s in (500, 502, 503, 504) for s in e.statuses)]
    assert refused, "no event met the outage: the test proved nothing"
    assert not load.unacked(), "an event refused with 5xx was never stored on a later try"
    assert unstored_events(service, tenant.number, load) == []  # every 202 is in call_events with its job
    assert job_states(service, tenant.number).get("failed", 0) == 0
    assert stuck_jobs(service, tenant.number) == []
    assert moysklad_outcome(control, tenant.account, load).duplicates == 0


def test_calls_interrupted_by_a_postgres_restart_finish_soon_after_it(restart_run):
    run = restart_run
    open_jobs = run.service.sql(
        "SELECT state, count(*), min(left(coalesce(last_error, ''), 80)) FROM jobs WHERE enterprise_number = %s "
        "AND state IN ('pending', 'running') GROUP BY state", (run.tenant.number,))
    assert run.settled, (f"calls unfinished {RESUME_BOUND_S:.0f} s after PostgreSQL came back; open jobs {open_jobs}"
                         f"\n{run.failure}")
