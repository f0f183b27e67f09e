"""One plugin's failure or slowness never reaches another plugin, nor the PBX's acknowledgement.

Two plugins are loaded: ``ms`` and the test plugin ``echo`` (modes ok/raise/hang). The ms plugin's
``handle_call_event`` is replaced by a recorder here, so that what is tested is the host's dispatch
(jobs, runner, isolation), not MoySklad's call flow.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from host_app.background import BoundedSpawner
from host_app.integrations.contract import CallEvent
from host_app.jobs import JobRunner
from tests.factories import make_enterprise, sql

INTEGRATION_CODE = "0123456789abcdef0123456789abcdef01234567"


@pytest.fixture
def app_overrides() -> dict[str, Any]:
    return {"HOST_JOB_TENANT_PARALLEL": 2}


@pytest.fixture
def ms_received(monkeypatch: pytest.MonkeyPatch) -> list[CallEvent]:
    from ms_plugin import plugin as ms

    received: list[CallEvent] = []
    lock = threading.Lock()

    def record(event: CallEvent) -> None:
        with lock:
            received.append(event)

    monkeypatch.setattr(ms, "handle_call_event", record)
    return received


def tenant(db_url: str, number: str, echo_mode: str, **extra: Any) -> str:
    make_enterprise(db_url, number, token=f"T{number}", integrations_config={
        "ms": {"enabled": True, "integration_code": INTEGRATION_CODE},
        "echo": {"enabled": True, "mode": echo_mode},
        **extra,
    })
    return f"T{number}"


def dispatch(client: Any, token: str, unique_id: str, event_type: str = "dial") -> Any:
    return client.post("/dispatch/call-event", json={
        "token": token, "uniqueId": unique_id, "event_type": event_type,
        "raw": {"UniqueId": unique_id, "CallType": 0, "Phone": "+375291234567", "Trunk": "0001363"}})


def job_states(db_url: str, integration: str) -> list[str]:
    return [r[0] for r in sql(db_url, "SELECT state FROM jobs WHERE integration = %s ORDER BY id",
                              (integration,))]


def wait_for(predicate: Callable[[], bool], timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return predicate()


def test_a_raising_plugin_does_not_stop_the_other_plugins_job(client, db_url, run_jobs, echo_plugin, ms_received):
    token = tenant(db_url, "200", "raise")

    assert dispatch(client, token, "1.1").status_code == 202
    run_jobs()

    assert [e.unique_id for e in ms_received] == ["1.1"]
    assert job_states(db_url, "ms") == ["done"]
    state, attempts, error = sql(db_url, "SELECT state, attempts, last_error FROM jobs WHERE integration = 'echo'")[0]
    assert (state, attempts) == ("pending", 1)  # retried later, with backoff
    assert error == "RuntimeError: echo plugin told to fail"


@pytest.fixture
def live_runner(host: Any, echo_plugin: Any) -> Iterator[JobRunner]:
    """A real background runner (threads, like greenlets in a worker): wake path + poll loop."""
    runner = JobRunner(host.services.jobs, BoundedSpawner(8), poll_interval=0.05)
    runner.start()
    yield runner
    echo_plugin.release.set()  # let hanging echo jobs end before the tables are emptied
    wait_for(lambda: not runner._running, timeout=10)  # noqa: SLF001
    runner.stop(timeout=5)


def test_a_hanging_plugin_delays_neither_the_acknowledgement_nor_the_other_plugin(
        client, db_url, echo_plugin, ms_received, live_runner):
    token = tenant(db_url, "201", "hang")

    for n in range(4):  # more hanging echo jobs than the tenant may run at once
        started = time.monotonic()
        resp = dispatch(client, token, f"2.{n}")
        assert resp.status_code == 202
        assert time.monotonic() - started < 1.0  # the hanging echo job takes 30 s

    assert wait_for(lambda: job_states(db_url, "ms") == ["done"] * 4), job_states(db_url, "ms")
    assert sorted(e.unique_id for e in ms_received) == ["2.0", "2.1", "2.2", "2.3"]
    echo = job_states(db_url, "echo")
    assert "done" not in echo and echo.count("running") == 2  # the tenant's cap for echo
    assert echo_plugin.received == []


def test_a_hanging_plugin_does_not_delay_another_tenants_jobs(client, db_url, echo_plugin, ms_received, live_runner):
    hanging = tenant(db_url, "202", "hang")
    healthy = tenant(db_url, "203", "ok")

    for n in range(3):
        assert dispatch(client, hanging, f"3.{n}").status_code == 202
    assert dispatch(client, healthy, "4.0").status_code == 202

    assert wait_for(lambda: any(e.enterprise_number == "203" for e in echo_plugin.received))
    assert wait_for(lambda: len(ms_received) == 4)


@pytest.fixture
def echo_primary(db_url: str, echo_plugin: Any, monkeypatch: pytest.MonkeyPatch) -> str:
    def broken(*_args: Any) -> Any:
        raise RuntimeError("the CRM is on fire")

    monkeypatch.setattr(echo_plugin, "customer_name", broken)
    monkeypatch.setattr(echo_plugin, "responsible_extension", broken)
    make_enterprise(db_url, "204", token="T204", integrations_config={
        "echo": {"enabled": True, "name": "never shown"}, "smart": {"primary": "echo"}})
    return "204"


def test_lookups_through_a_raising_primary_answer_none(host, echo_primary):
    assert host.integrations.primary_plugin(echo_primary).code == "echo"
    assert host.integrations.customer_name(echo_primary, "+375291234567") is None
    assert host.integrations.responsible_extension(echo_primary, "+375291234567") is None


def test_lookup_routes_answer_null_not_500_when_the_primary_raises(client, echo_primary):
    name = client.get(f"/customer-name/{echo_primary}/375291234567")
    assert (name.status_code, name.get_json()) == (200, {"name": None})
    ext = client.get(f"/responsible-extension/{echo_primary}/375291234567")
    assert (ext.status_code, ext.get_json()) == (200, {"extension": None, "manager_id": None})
