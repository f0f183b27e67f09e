"""The steps every fault test shares: send the load, wait for MoySklad, check nothing was lost or doubled,
read the journal and metrics, record the figure."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

from tests.e2e.harness import Service, wait_until
from tests.reliability import figures
from tests.reliability.emulator import Control
from tests.reliability.load import DEFAULT_MIX, LoadResult, PbxRelay, plan_calls
from tests.reliability.outcome import (
    OPEN_JOB_STATES,
    Outcome,
    job_states,
    max_delay,
    moysklad_outcome,
    stuck_jobs,
    unprocessed_events,
)
from tests.reliability.tenants import Tenant


def send_load(service: Service, tenant: Tenant, calls: int, seed: int, *, concurrency: int = 8,
              retry_for: float = 120.0, pace: float = 1.0, mix: tuple[tuple[str, int], ...] = DEFAULT_MIX,
              between_calls: Callable[[int], None] | None = None) -> LoadResult:
    relay = PbxRelay(service.url, tenant.token, retry_for=retry_for, seed=seed, pace=pace)
    return relay.send(plan_calls(calls, seed, mix=mix), concurrency=concurrency, between_calls=between_calls)


def warm_up(service: Service, control: Control, tenant: Tenant) -> None:
    """One call before the fault, as a tenant in steady state has had: its employees are read and cached,
    its clients built. A fault test then measures the fault, not a tenant's first minute."""
    relay = PbxRelay(service.url, tenant.token, pace=0.0)
    load = relay.send(plan_calls(1, seed=0, mix=(("2-2", 1),)), concurrency=1)
    wait_for_moysklad(service, control, tenant, load, timeout=30)


def wait_for_moysklad(service: Service, control: Control, tenant: Tenant, load: LoadResult,
                      timeout: float) -> Outcome:
    """Wait until the tenant has no open job and every call is complete in MoySklad; fail with what is
    missing otherwise (a failed job fails at once: it will never complete)."""
    last: dict[str, Any] = {}

    def settled() -> bool:
        states = job_states(service, tenant.number)
        last["states"] = dict(states)
        assert not states.get("failed"), f"failed jobs: {_failed_jobs(service, tenant)}"
        if any(states.get(s) for s in OPEN_JOB_STATES):
            return False
        outcome = moysklad_outcome(control, tenant.account, load)
        last["outcome"] = outcome.summary()
        return outcome.all_complete

    def message() -> str:
        return (f"not settled: jobs {last.get('states')}; {last.get('outcome')}; open jobs "
                f"{_open_jobs(service, tenant)}\n{_what_service_knows(service, control, tenant, load)}\n"
                f"{service.log_tail(30)}")

    wait_until(settled, timeout, interval=0.5, message=message)
    return moysklad_outcome(control, tenant.account, load)


def _what_service_knows(service: Service, control: Control, tenant: Tenant, load: LoadResult) -> str:
    """For each call missing or incomplete in MoySklad: how the service classified its UniqueIds, what it
    journaled, which jobs it ran."""
    outcome = moysklad_outcome(control, tenant.account, load)
    missing = (outcome.missing + list(outcome.incomplete))[:3]
    lines = []
    for call in load.calls:
        if call.main_uid not in missing:
            continue
        uids = sorted({str(e["raw"].get("UniqueId") or "") for e in call.events} - {""})
        rows = service.sql("SELECT unique_id, kind, parent_unique_id, state, facts::text, done::text FROM ms_calls "
                           "WHERE enterprise_number = %s AND unique_id = ANY(%s)", (tenant.number, uids))
        journal = service.sql("SELECT event_type, status, call_unique_id, left(coalesce(error_message, "
                              "response_data::text, ''), 200) FROM integration_logs WHERE enterprise_number = %s "
                              "AND call_unique_id = ANY(%s) ORDER BY id", (tenant.number, uids))
        jobs = service.sql("SELECT id, kind, state, attempts, left(payload::text, 120), left(last_error, 200), "
                           "created_at::time, finished_at::time FROM jobs WHERE enterprise_number = %s "
                           "AND key LIKE %s ORDER BY id", (tenant.number, f"%{call.main_uid.split('.')[0]}%"))
        lines.append(f"{call.template} {call.main_uid}: ms_calls {rows}; journal {journal}; jobs {jobs}")
    return "\n".join(lines)


def _open_jobs(service: Service, tenant: Tenant) -> list[tuple[Any, ...]]:
    return service.sql(
        "SELECT id, kind, state, attempts, round(extract(epoch FROM run_at - now())), locked_by, "
        "left(last_error, 300) FROM jobs WHERE enterprise_number = %s AND state IN ('pending', 'running', "
        "'waiting') ORDER BY id LIMIT 5", (tenant.number,))


def _failed_jobs(service: Service, tenant: Tenant) -> list[tuple[Any, ...]]:
    return service.sql("SELECT id, kind, attempts, last_error FROM jobs WHERE enterprise_number = %s "
                       "AND state = 'failed' LIMIT 5", (tenant.number,))


def assert_nothing_lost(service: Service, tenant: Tenant, load: LoadResult, outcome: Outcome) -> None:
    assert not load.unacked(), f"events never acknowledged: {[(e.event_type, e.statuses) for e in load.unacked()][:5]}"
    assert unprocessed_events(service, tenant.number, load) == []
    assert outcome.all_complete, outcome.summary()
    assert outcome.duplicates == 0, outcome.summary()
    assert stuck_jobs(service, tenant.number) == []


def journal_counts(service: Service, tenant: Tenant) -> Counter[tuple[str, str]]:
    """(event_type, status) of the tenant's journal rows about MoySklad requests."""
    rows = service.sql("SELECT event_type, status, count(*) FROM integration_logs WHERE enterprise_number = %s "
                       "GROUP BY 1, 2", (tenant.number,))
    return Counter({(event_type, status): int(n) for event_type, status, n in rows})


def journaled_statuses(service: Service, tenant: Tenant) -> Counter[str]:
    """HTTP statuses (or outcomes) MoySklad answered, as journaled for the tenant."""
    rows = service.sql(
        "SELECT coalesce(response_data ->> 'status', response_data ->> 'outcome'), count(*) FROM integration_logs "
        "WHERE enterprise_number = %s AND event_type LIKE 'moysklad.%%' GROUP BY 1", (tenant.number,))
    return Counter({str(status): int(n) for status, n in rows})


def slow_journal_rows(service: Service, tenant: Tenant, min_ms: int) -> int:
    rows = service.sql("SELECT count(*) FROM integration_logs WHERE enterprise_number = %s "
                       "AND event_type LIKE 'moysklad.%%' AND duration_ms >= %s", (tenant.number, min_ms))
    return int(rows[0][0])


def slow_request_count(service: Service, seconds: float) -> int:
    """MoySklad requests slower than ``seconds`` (``ms_moysklad_request_seconds``, every worker)."""
    resp = service.get("/metrics")
    assert resp.status_code == 200
    total = under = 0.0
    for family in text_string_to_metric_families(resp.text):
        for sample in family.samples:
            if sample.name == "ms_moysklad_request_seconds_count":
                total += sample.value
            elif sample.name == "ms_moysklad_request_seconds_bucket" and float(sample.labels["le"]) == seconds:
                under += sample.value
    return int(total - under)


def request_outcomes(service: Service) -> Counter[str]:
    """``ms_moysklad_requests_total`` by outcome, summed over every worker (one scrape)."""
    resp = service.get("/metrics")
    assert resp.status_code == 200
    out: Counter[str] = Counter()
    for family in text_string_to_metric_families(resp.text):
        for sample in family.samples:
            if sample.name == "ms_moysklad_requests_total":
                out[sample.labels["outcome"]] += int(sample.value)
    return out


def record(fault: str, *, load_text: str, checked: str, load: LoadResult, outcome: Outcome,
           delay: tuple[float, int]) -> None:
    figures.record(figures.Figure(
        fault=fault, load=load_text, checked=checked, events_sent=len(load.events),
        events_in_moysklad=len(outcome.complete), calls_expected=outcome.expected,
        duplicates=outcome.duplicates, max_delay_s=delay[0], unfinished=delay[1],
        result="pass" if outcome.all_complete and outcome.duplicates == 0 and not load.unacked() else "fail"))


def settle_and_record(service: Service, control: Control, tenant: Tenant, load: LoadResult, *, fault: str,
                      load_text: str, checked: str, timeout: float, not_before: float = 0.0) -> Outcome:
    """Wait for MoySklad, record the figure (also when the checks then fail), assert nothing was lost."""
    try:
        outcome = wait_for_moysklad(service, control, tenant, load, timeout)
    finally:
        final = moysklad_outcome(control, tenant.account, load)
        record(fault, load_text=load_text, checked=checked, load=load, outcome=final,
               delay=max_delay(service, tenant.number, load, not_before=not_before))
    assert_nothing_lost(service, tenant, load, outcome)
    return outcome


def max_delay_of(service: Service, tenant: Tenant, load: LoadResult) -> float:
    delay, unfinished = max_delay(service, tenant.number, load)
    assert unfinished == 0, f"{unfinished} calls not finished"
    return delay


def admin_status(service: Service, tenant: Tenant) -> dict[str, Any]:
    """The ``status`` block the admin page shows for the tenant."""
    resp = service.get(f"/ms-admin/config/{tenant.number}", headers=service.admin_headers())
    assert resp.status_code == 200, resp.text
    status: dict[str, Any] = resp.json()["status"]
    return status


def health_body(service: Service) -> dict[str, Any]:
    resp = service.get("/health")
    body: dict[str, Any] = resp.json()
    return body
