"""The clients and the PostgreSQL limiter against the MoySklad emulator (``ms_emulator``): its own
statistics prove that we never exceed MoySklad's limits, even from several threads and processes."""

from __future__ import annotations

import json
import multiprocessing
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ms_emulator import EmulatorServer, EmulatorState
from ms_plugin.moysklad.errors import AuthFailed, LimiterBusy, Unavailable
from ms_plugin.moysklad.factory import ClientFactory, TenantCredentials
from ms_plugin.moysklad.limiter import PgLimiter
from ms_plugin.moysklad.records import RequestRecord
from ms_plugin.moysklad.settings import MsClientSettings
from ms_plugin.moysklad.transport import Transport

from .burst import GEVENT_MAIN, run_worker

ROOT = str(Path(__file__).resolve().parents[2])

ACCOUNT = {
    "name": "acme",
    "employees": [{"firstName": "Иван", "lastName": "Иванов", "extension": "150", "login": "admin",
                   "password": "admin-pw"},
                  {"firstName": "Мария", "lastName": "Петрова", "extension": "151"}],
    "counterparties": [{"name": "ООО «Ромашка»", "phone": "+7 (916) 123-45-67", "owner": "151",
                        "contactpersons": [{"name": "Анна", "phone": "+375 44 765-43-21"}]}],
}


@pytest.fixture
def emu() -> Iterator[EmulatorServer]:
    with EmulatorServer(EmulatorState()) as server:
        yield server


@pytest.fixture
def account(emu: EmulatorServer) -> dict[str, Any]:
    return emu.state.create_account(ACCOUNT)


def environ(emu: EmulatorServer, **extra: Any) -> dict[str, str]:
    return {"MS_API_URL": emu.json_api_url, "MS_PHONE_API_URL": emu.phone_api_url,
            "MS_ALLOWED_API_HOSTS": "127.0.0.1", **{k: str(v) for k, v in extra.items()}}


def make_factory(pg: Any, emu: EmulatorServer, records: list[RequestRecord] | None = None,
                 **extra: Any) -> ClientFactory:
    settings = MsClientSettings.from_environ(environ(emu, **extra))
    return ClientFactory(Transport.from_settings(settings), PgLimiter.from_settings(pg, settings),
                         records.append if records is not None else None, settings)


def creds(account: dict[str, Any], **kw: Any) -> TenantCredentials:
    section = {"integration_code": account["phone_key"], "login": "admin@acme", "password": "admin-pw", **kw}
    return TenantCredentials.from_section("100", 1, section)


def phone_stats(emu: EmulatorServer) -> dict[str, Any]:
    return emu.state.stats()["limits"]["principals"]["phone"]["acme"]


def test_calls_cards_and_lookups_round_trip(pg, emu, account):
    clients = make_factory(pg, emu).clients(creds(account))
    employees = {e.extension: e.employee_id for e in clients.phone.list_employees()}
    assert set(employees) == {"150", "151"}
    call = clients.phone.create_call({"externalId": "1764417600.1", "number": "+79161234567", "isIncoming": True,
                                      "startTime": "2026-11-29 12:00:00",
                                      "events": [{"eventType": "SHOW", "extension": "151", "sequence": 1}]})
    assert call.counterparty_id is not None and call.counterparty_owner_extension == "151"
    clients.phone.send_event_by_external_id("1764417600.1", {"eventType": "HIDE_ALL", "sequence": 2})
    assert clients.phone.exists("1764417600.1").id == call.id
    assert clients.phone.exists("no-such-call") is None
    found = clients.remap.search_counterparties("+375 44 765")  # "+" and spaces must survive encoding
    assert [c.name for c in found] == ["ООО «Ромашка»"]
    assert found[0].owner_id == employees["151"]


def test_a_create_whose_answer_is_lost_is_found_by_the_probe_not_duplicated(pg, emu, account):
    emu.state.inject("/call", method="POST", drop="after")
    clients = make_factory(pg, emu).clients(creds(account))
    call = clients.phone.create_call({"externalId": "1764417600.2", "number": "+375291234567", "isIncoming": True,
                                      "startTime": "2026-11-29 12:00:00"})
    assert [c["id"] for c in emu.state.calls("acme")] == [call.id]
    assert [r["method"] for r in emu.state.requests(api="phone")] == ["POST", "PUT"]


def test_a_429_pauses_the_key_for_the_advertised_time_for_every_worker(pg, emu, account):
    emu.state.inject("/employee", method="GET", status=429, headers={"X-Lognex-Retry-After": "1500"})
    worker_a, worker_b = make_factory(pg, emu), make_factory(pg, emu)  # two workers, one database
    errors: list[BaseException] = []

    def b_later() -> None:
        time.sleep(0.3)  # B starts while A's cooldown runs
        try:
            worker_b.clients(creds(account)).phone.list_employees()
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    thread = threading.Thread(target=b_later)
    thread.start()
    worker_a.clients(creds(account)).phone.list_employees()
    thread.join()
    assert not errors
    log = emu.state.requests(api="phone")
    assert [r["status"] for r in log] == [429, 200, 200]
    assert min(r["time"] for r in log[1:]) - log[0]["time"] >= 1.5 - 0.01


def test_an_auth_failure_is_raised_once_without_retries(pg, emu, account):
    factory = make_factory(pg, emu)
    bad = factory.clients(creds(account, integration_code="0" * 40, password="wrong"))
    with pytest.raises(AuthFailed):
        bad.phone.list_employees()
    with pytest.raises(AuthFailed):
        bad.remap.context_employee()
    assert len(emu.state.requests()) == 2


def test_an_outage_is_retried_within_bounds_then_unavailable_then_the_circuit_opens(pg, emu, account):
    records: list[RequestRecord] = []
    factory = make_factory(pg, emu, records, MS_BACKGROUND_MAX_ATTEMPTS=3, MS_BACKOFF_BASE=0.05,
                           MS_BACKOFF_MAX=0.1, MS_CIRCUIT_THRESHOLD=5, MS_CIRCUIT_BASE=1, MS_BACKGROUND_MAX_WAIT=0)
    phone = factory.clients(creds(account)).phone
    emu.state.set_outage(api="phone", status=503, code=1074)
    started = time.monotonic()
    with pytest.raises(Unavailable) as info:
        phone.update_call_by_external_id("1764417600.3", {"comment": "x"})
    assert info.value.codes == (1074,) and time.monotonic() - started < 2
    assert len(emu.state.requests(api="phone")) == 3
    # The 5th consecutive failure opens the circuit: this call's third attempt is refused by the
    # limiter (nothing sent) and the caller is told when to come back.
    with pytest.raises(LimiterBusy) as busy:
        phone.update_call_by_external_id("1764417600.3", {"comment": "x"})
    assert busy.value.reason == "circuit_open" and len(emu.state.requests(api="phone")) == 5
    with pytest.raises(LimiterBusy):
        phone.list_employees()
    assert len(emu.state.requests(api="phone")) == 5
    emu.state.clear_outage()
    time.sleep(busy.value.retry_after + 0.05)
    assert len(phone.list_employees()) == 2  # the probe succeeds and closes the circuit
    assert {r.outcome for r in records} == {"server_error", "ok"}


def test_json_api_weighted_units_never_exceed_45_per_3_seconds(pg, emu, account):
    factory = make_factory(pg, emu, MS_JSON_WEIGHT=4)  # the emulator charges 4 units, as from 1 Dec 2026
    remap = factory.clients(creds(account)).remap
    threads = [threading.Thread(target=lambda: [remap.list_organizations() for _ in range(4)]) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    stats = emu.state.stats()["limits"]
    user = stats["principals"]["json"]["admin@acme"]
    assert user["requests"] == 16 and user["max_units_in_window"] <= 45 and user["max_in_flight"] <= 5
    assert stats["total_429"] == 0


def test_threads_of_two_workers_keep_a_scaled_phone_window(pg, emu, account):
    """The burst below in miniature (1 s windows of 20), quick enough for every run."""
    emu.state.set_knobs(phone_rate_limit=20, phone_rate_window_ms=1000, phone_latency_ms=5, phone_jitter_ms=20)
    env = {"MS_PHONE_RATE": 20, "MS_PHONE_RATE_WINDOW": 1}
    workers = [make_factory(pg, emu, **env).clients(creds(account)).phone for _ in range(2)]
    errors: list[BaseException] = []

    def run(client: Any) -> None:
        try:
            for _ in range(10):
                client.list_employees()
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(workers[i % 2],)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    stats = phone_stats(emu)
    assert stats["requests"] == 60 and stats["max_in_window"] <= 20 and stats["max_in_flight"] <= 5
    assert emu.state.stats()["limits"]["total_429"] == 0


@pytest.mark.slow
def test_a_burst_of_500_from_threads_and_greenlets_of_two_processes_stays_within_100_per_5s_and_5_in_flight(
        pg, db_url, emu, account):
    """Two OS processes on one database: a ``multiprocessing`` (spawn) child with 5 threads and a
    gevent-patched child with 5 greenlets (as in a gunicorn gevent worker), 250 requests each."""
    emu.state.set_knobs(phone_latency_ms=20, phone_jitter_ms=60)  # real windows: 100 per 5 s, 5 in flight
    env = environ(emu, MS_BACKGROUND_MAX_WAIT=120, MS_BACKGROUND_BUDGET=300)
    args = [db_url, emu.phone_api_url, account["phone_key"], 0, 5, 50, env]
    greenlets = subprocess.Popen([sys.executable, "-c", GEVENT_MAIN, json.dumps([*args[:3], 1, *args[4:]])],
                                 cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        with multiprocessing.get_context("spawn").Pool(1) as pool:
            threaded = pool.apply(run_worker, args)
        out, err = greenlets.communicate(timeout=240)
    finally:
        greenlets.kill()
    assert greenlets.returncode == 0, err[-2000:]
    results = [threaded, json.loads(out.strip().splitlines()[-1])]
    assert [r["failed"] for r in results] == [0, 0], results
    assert [r["ok"] for r in results] == [250, 250]
    stats = phone_stats(emu)
    assert stats["requests"] == 500
    assert stats["max_in_window"] <= 100 and stats["max_in_flight"] <= 5
    assert emu.state.stats()["limits"]["total_429"] == 0
    assert len(emu.state.calls("acme")) == 250
