"""MoySklad slow, rate-limiting, down: every call still ends complete and unduplicated once it is back."""

from __future__ import annotations

import time
from typing import Any

from tests.factories import sql
from tests.ms.calls.conftest import Tenant, make_tenant


def test_calls_made_during_an_outage_are_logged_once_it_is_back(tenant: Tenant, pbx: Any, db_url: str):
    tenant.emu.state.set_outage(api="phone")
    tenant.send(pbx("2-1"))
    tenant.send(pbx("2-2"))
    assert tenant.calls() == []
    assert sql(db_url, "SELECT count(*) FROM jobs WHERE state IN ('pending', 'failed')")[0][0] > 0
    tenant.emu.state.clear_outage()
    for _ in range(5):
        time.sleep(0.25)  # the circuit breaker's open interval (MS_CIRCUIT_MAX in these tests)
        tenant.run_jobs(include_delayed=True)
    assert sorted(c["externalId"] for c in tenant.calls()) == ["1757772834.67", "1758798777.27"]
    answered = tenant.call("1758798777.27")
    assert answered["extension"] == "151" and answered["duration"] == 21_000
    # processed after the fact: one POST each, no card for a call that is already over
    assert tenant.emu.state.cards(tenant.account["name"])["visible"] == {}
    assert sql(db_url, "SELECT count(*) FROM jobs WHERE state = 'failed'")[0][0] == 0


def test_an_outage_longer_than_any_jobs_attempts_still_loses_no_call(tenant: Tenant, pbx: Any, db_url: str):
    tenant.emu.state.set_outage()  # both APIs
    tenant.send(pbx("2-2"))
    for _ in range(14):  # more retries than a job has attempts (10), each reaching MoySklad
        time.sleep(0.25)  # the circuit breaker's open interval (MS_CIRCUIT_MAX in these tests)
        tenant.run_jobs(include_delayed=True)
    assert sql(db_url, "SELECT count(*) FROM jobs WHERE state = 'failed'")[0][0] == 0
    assert len(tenant.emu.state.requests(api="phone")) > 10
    tenant.emu.state.clear_outage()
    for _ in range(3):
        time.sleep(0.25)
        tenant.run_jobs(include_delayed=True)
    assert "Пропущенный" in tenant.call("1757772834.67")["comment"]
    assert tenant.emu.state.cards(tenant.account["name"])["visible"] == {}


def test_a_429_pauses_and_the_call_still_arrives_once(tenant: Tenant, pbx: Any):
    tenant.emu.state.inject("/call", method="POST", api="phone", status=429, count=1,
                            headers={"X-Lognex-Retry-After": "300"})
    tenant.send(pbx("2-2"))
    tenant.run_jobs(include_delayed=True)
    assert len(tenant.calls()) == 1
    posts = [r for r in tenant.emu.state.requests(api="phone", method="POST") if r["path"].endswith("/call")]
    assert [r["status"] for r in posts] == [429, 200]


def test_a_lost_response_to_post_call_does_not_duplicate_the_call(tenant: Tenant, pbx: Any):
    # MoySklad creates the call but the connection drops before we read the answer.
    tenant.emu.state.inject("/call", method="POST", api="phone", drop="after", count=1)
    tenant.send(pbx("2-1"))
    tenant.run_jobs(include_delayed=True)
    assert len(tenant.calls()) == 1
    assert tenant.call("1758798777.27")["extension"] == "151"


def test_a_refused_phone_key_parks_the_tenant_until_its_config_changes(db_url: str, emulator: Any, client: Any,
                                                                        run_jobs: Any, pbx: Any, host: Any):
    t = make_tenant(db_url, emulator, client, run_jobs, json_api=False,
                    ms={"integration_code": "0" * 40})
    t.send(pbx("2-2"))
    assert sql(db_url, "SELECT state FROM ms_tenant_state")[0][0] == "credentials_invalid"
    assert sql(db_url, "SELECT count(*) FROM jobs WHERE state = 'waiting'")[0][0] >= 1
    requests_before = len(emulator.state.requests(api="phone"))
    t.send(pbx("2-1"))  # more calls while marked: no request to MoySklad at all
    assert len(emulator.state.requests(api="phone")) == requests_before
    host.services.config.merge_section("100", "ms", {"integration_code": t.account["phone_key"]})
    run_jobs(include_delayed=True)
    assert sorted(c["externalId"] for c in t.calls()) == ["1757772834.67", "1758798777.27"]


def test_two_tenants_with_different_settings_do_not_mix(db_url: str, emulator: Any, client: Any, run_jobs: Any,
                                                       pbx: Any):
    a = make_tenant(db_url, emulator, client, run_jobs, number="100", json_api=False)
    b = make_tenant(db_url, emulator, client, run_jobs, number="200", json_api=False,
                    ms={"notifications": {"call_notify_mode": "none"}})
    a.send(pbx("2-1"))
    b.send(pbx("2-1"))
    assert len(a.calls()) == 1 and len(b.calls()) == 1
    a_cards = emulator.state.cards(a.account["name"])["calls"]
    b_cards = emulator.state.cards(b.account["name"])["calls"]
    assert sum(len(c["events"]) for c in a_cards.values()) == 7
    assert sum(len(c["events"]) for c in b_cards.values()) == 0
