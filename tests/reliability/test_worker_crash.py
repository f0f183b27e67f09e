"""A gunicorn worker dies (SIGKILL) or every worker is replaced (graceful restart, SIGHUP) while calls are
in progress: no event is lost, no call doubled, no job left stuck."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import pytest

from tests.e2e.harness import Emulator, Service, wait_until
from tests.reliability import scenario
from tests.reliability.emulator import Control
from tests.reliability.load import LoadResult, PbxRelay, after_ringing, plan_calls, ringing
from tests.reliability.outcome import OPEN_JOB_STATES, job_states, stuck_jobs
from tests.reliability.tenants import Tenant, make_tenant, reliability_env

pytestmark = pytest.mark.slow

CALLS = 24
# How soon a call interrupted by a dead worker should be finished by the surviving one.
RESUME_BOUND_S = 20.0


def _ready(service_factory: Callable[..., Service], db: str, emulator: Emulator,
           control: Control) -> tuple[Service, Tenant]:
    service = service_factory(db, **reliability_env(emulator))
    tenant = make_tenant(db, control)
    scenario.warm_up(service, control, tenant)
    return service, tenant


def _idle(service: Service, tenant: Tenant) -> bool:
    states = job_states(service, tenant.number)
    return not any(states.get(s) for s in OPEN_JOB_STATES)


def test_worker_killed_mid_call_loses_no_event(reliability_db, emulator, control, service_factory):
    service, tenant = _ready(service_factory, reliability_db, emulator, control)
    relay = PbxRelay(service.url, tenant.token, seed=31)
    calls = plan_calls(CALLS, seed=31)

    ringing_load = relay.send(calls, concurrency=8, part=ringing)  # every call rings, nobody has answered
    wait_until(lambda: _idle(service, tenant), 60, message=lambda: f"jobs: {job_states(service, tenant.number)}")
    killed = service.kill_worker()  # its in-memory state, connections and pool die with it
    rest = relay.send(calls, concurrency=8, part=after_ringing)
    load = ringing_load.then(rest)

    scenario.settle_and_record(
        service, control, tenant, load, fault="worker_sigkill", timeout=90, not_before=rest.started,
        load_text=f"{CALLS} calls ({len(load.events)} events): all ringing, one of the two workers SIGKILLed, "
                  "then answers and hangups",
        checked="the other worker and the replacement finish every call from the database; no loss, no "
                "duplicate, no job running on an expired claim")

    assert killed not in service.worker_pids()
    assert service.get("/health").status_code == 200


def test_a_call_whose_worker_dies_mid_write_is_finished_soon_by_another(
        reliability_db, emulator, control, service_factory):
    service, tenant = _ready(service_factory, reliability_db, emulator, control)
    # The first card of the load takes 3 s at MoySklad: its worker is caught in the middle of the write.
    control.inject("/api/phone/1.0/call", method="POST", api="phone", delay_ms=3000)
    calls = plan_calls(8, seed=32, mix=(("2-1", 1),))
    box: dict[str, LoadResult] = {}
    sender = threading.Thread(target=lambda: box.update(load=PbxRelay(service.url, tenant.token, seed=32).send(
        calls, concurrency=4)))
    sender.start()
    holder = wait_until(lambda: _worker_in_a_write(service, tenant), 20, message="no job caught mid-write")
    service.kill_worker(holder)
    killed_at = time.time()
    sender.join(timeout=120)
    load = box["load"]

    try:
        scenario.settle_and_record(
            service, control, tenant, load, fault="worker_sigkill_mid_write", timeout=RESUME_BOUND_S,
            not_before=killed_at,
            load_text=f"{len(calls)} calls ({len(load.events)} events); the worker writing a call to MoySklad "
                      "is SIGKILLed",
            checked=f"the interrupted call finished by another worker within {RESUME_BOUND_S:.0f} s, once")
    finally:
        assert stuck_jobs(service, tenant.number) == []  # the dead worker's claim is still live, not stuck


def _worker_in_a_write(service: Service, tenant: Tenant) -> int | None:
    # Running for a second already: the job held up by the slow write, not one that is about to end.
    rows = service.sql("SELECT locked_by FROM jobs WHERE enterprise_number = %s AND state = 'running' "
                       "AND kind = 'ms.call_event' AND updated_at < now() - interval '1 second'", (tenant.number,))
    pids = {int(str(r[0]).rsplit(":", 1)[1]) for r in rows if r[0]}
    live = set(service.worker_pids())
    return next(iter(pids & live), None)


def test_graceful_restart_under_load_loses_nothing_and_strands_no_job(
        reliability_db, emulator, control, service_factory):
    service, tenant = _ready(service_factory, reliability_db, emulator, control)
    box: dict[str, LoadResult] = {}
    sender = threading.Thread(target=lambda: box.update(load=scenario.send_load(service, tenant, CALLS, seed=33)))
    sender.start()
    time.sleep(2.0)  # calls in every state: ringing, answered, ending
    old = set(service.worker_pids())
    service.restart(graceful=True)
    sender.join(timeout=120)
    load = box["load"]

    scenario.settle_and_record(
        service, control, tenant, load, fault="graceful_restart", timeout=90,
        load_text=f"{CALLS} calls ({len(load.events)} events), 8 at a time; SIGHUP mid-load replaces both "
                  "workers",
        checked="old workers finish their jobs and exit; new ones take the rest; no loss, no duplicate, no "
                "stuck job")

    assert not old & set(service.worker_pids())
    assert "Traceback" not in service.log_text()
