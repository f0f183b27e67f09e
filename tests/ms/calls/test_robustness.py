"""Cards never wait for the JSON API; outgoing calls of busy extensions are never taken for legs; legs
are found before their call was processed; a lost create is recovered; a refused key stays refused."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest

from tests.factories import sql
from tests.ms.calls import sequences as seq
from tests.ms.calls.conftest import Tenant, make_tenant


@pytest.fixture
def app_overrides(app_overrides: dict[str, Any]) -> dict[str, Any]:
    return {**app_overrides, "MS_HOT_LOOKUP_MS": "300"}  # production's budget for the first card


def _drain_in_parallel(run_jobs: Any, workers: int = 2) -> None:
    threads = [threading.Thread(target=run_jobs) for _ in range(workers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


def test_a_slow_json_api_never_holds_back_the_cards(db_url: str, emulator: Any, client: Any, run_jobs: Any,
                                                    pbx: Any):
    t = make_tenant(db_url, emulator, client, run_jobs)
    emulator.state.set_knobs(json_latency_ms=1500)  # every client search takes 1.5 s
    sent = time.time()
    t.send(pbx("2-2")[:2], run=False)  # start, dial: the start's lookup and the dial's cards race
    _drain_in_parallel(run_jobs)
    posts = [r for r in emulator.state.requests(api="phone", method="POST") if r["path"].endswith("/call")]
    assert len(posts) == 1
    card_at = posts[0]["time"] if isinstance(posts[0]["time"], float) else _epoch(posts[0]["time"])
    json_times = [_epoch(r["time"]) for r in emulator.state.requests(api="json")]
    assert card_at - sent < 1.2, "the card waited for the JSON API"
    assert max(json_times) - sent > 3.0  # the lookup really was slow, and ran on its own


def test_events_folded_while_the_client_search_runs_are_not_overwritten_by_it(
        db_url: str, emulator: Any, client: Any, run_jobs: Any, pbx: Any, host: Any):
    # An outgoing call shows no card: its record waits for the follow-up, which searches (and creates)
    # the client for seconds while the answer and the hangup are folded beside it.
    tenant = make_tenant(db_url, emulator, client, run_jobs)
    emulator.state.set_knobs(json_latency_ms=800)
    events, flow = pbx("1-1"), plugin_flow(tenant)
    tenant.send(events, run=False)
    sql(db_url, "UPDATE jobs SET state = 'done' WHERE kind = 'ms.call_event'")  # each runs once: here, by hand
    stored = host.services.events.for_call("100", ["1758200248.0", "1758200249.1"])
    flow.handle_event(stored[0])  # the dial
    followup = threading.Thread(target=flow.followup, args=("100", "1758200248.0"))
    followup.start()
    time.sleep(0.3)  # the follow-up has loaded the call and waits for MoySklad
    for event in stored[1:]:
        flow.handle_event(event)
    followup.join()
    tenant.run_jobs(include_delayed=True)
    call = tenant.call("1758200248.0")
    assert call["endTime"] is not None and call["extension"] == "151", "the hangup and the answer were lost"
    assert call.get("counterparty"), "the client the follow-up created is not linked"
    assert sql(db_url, "SELECT state FROM ms_calls WHERE kind = 'call'") == [("finished",)]


def _epoch(value: Any) -> float:
    import datetime as dt

    if isinstance(value, (int, float)):
        return float(value)
    return dt.datetime.fromisoformat(str(value)).timestamp()


def test_an_outgoing_call_from_an_extension_ringing_in_another_call_is_logged(tenant: Tenant, pbx: Any):
    incoming = pbx("2-1")
    tenant.send(incoming[:2])  # the group 150/151/152 rings
    out = [{"event_type": e["event_type"], "raw": {**e["raw"], "UniqueId": "1758800000.5"}}
           for e in pbx("1-1")]  # 151 dials a client meanwhile (its second line)
    tenant.send(out)
    tenant.send(incoming[2:])
    assert sorted(c["externalId"] for c in tenant.calls()) == ["1758798777.27", "1758800000.5"]


def test_a_follow_me_leg_processed_before_its_call_is_still_a_leg(tenant: Tenant, host: Any):
    events = seq.follow_me()
    tenant.send(events, run=False)  # stored, nothing processed yet
    stored = host.services.events.for_call("100", ["1757850010.2"])
    leg_dial = next(e for e in stored if e.event_type == "dial")
    plugin_flow(tenant).handle_event(leg_dial)  # the leg's job runs first
    tenant.run_jobs()
    assert [c["externalId"] for c in tenant.calls()] == ["1757850000.1"]


def plugin_flow(t: Tenant) -> Any:
    return t.client.application.extensions["ms_plugin"].state.flow


def test_a_create_whose_answer_was_lost_is_recovered_not_repeated(tenant: Tenant, pbx: Any, db_url: str):
    events = pbx("2-2")
    # MoySklad created the call but the worker died before it saw the answer: the row says "attempted".
    tenant.send(events[:2], run=False)
    tenant.emu.state.inject("/call", method="POST", api="phone", drop="after", count=5)
    tenant.run_jobs()  # the client's own probe may or may not recover it: either way, at most one call
    tenant.emu.state.clear_faults()
    tenant.send(events[2:])
    tenant.run_jobs(include_delayed=True)
    assert len(tenant.calls()) == 1
    assert "Пропущенный" in tenant.call("1757772834.67")["comment"]


def test_cards_shown_by_a_create_whose_answer_was_lost_are_hidden_when_the_call_ends(tenant: Tenant, pbx: Any,
                                                                                      db_url: str):
    events = pbx("2-1")
    tenant.send(events[:2])  # the create shows 150, 151, 152 ringing...
    # ...but its worker died before recording the answer: the row knows only that the create was sent.
    sql(db_url, "UPDATE ms_calls SET done = done || '{\"created\": false, \"ms_call_id\": null, "
                "\"shown\": [], \"sequence\": 0, \"create_attempted\": true}'::jsonb WHERE kind = 'call'")
    # Answered by 151 and ended before the call's jobs ran again (their order is free after a crash): the
    # re-run sees the whole call at once, as the admin's "send again" does.
    tenant.send(events[2:], run=False)
    sql(db_url, "UPDATE jobs SET state = 'done' WHERE kind = 'ms.call_event' AND state = 'pending'")
    plugin_flow(tenant).reprocess("100", "1758798777.27")
    tenant.run_jobs(include_delayed=True)
    call = tenant.call("1758798777.27")
    assert call["endTime"] is not None and call["extension"] == "151"
    assert tenant.emu.state.cards(tenant.account["name"])["visible"] == {}, "a card stayed on screen"
    assert sql(db_url, "SELECT state FROM ms_calls WHERE kind = 'call'") == [("finished",)]


def test_a_refused_key_stays_refused_when_something_else_in_the_config_changes(
        db_url: str, emulator: Any, client: Any, run_jobs: Any, pbx: Any, host: Any):
    t = make_tenant(db_url, emulator, client, run_jobs, json_api=False, ms={"integration_code": "1" * 40})
    t.send(pbx("2-2"))
    assert sql(db_url, "SELECT state FROM ms_tenant_state")[0][0] == "credentials_invalid"
    host.services.config.merge_section("100", "ms", {"webhook_uuid": "minted-by-the-admin-page"})
    before = len(emulator.state.requests(api="phone"))
    time.sleep(0.05)
    run_jobs(include_delayed=True)
    assert len(emulator.state.requests(api="phone")) == before  # still waiting, nothing sent
    assert sql(db_url, "SELECT count(*) FROM jobs WHERE state = 'waiting'")[0][0] >= 1
