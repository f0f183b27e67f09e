"""The messier sequences: transfers, follow-me legs, growing ring groups, department calls, hidden
numbers, a lost dial, replays, a restart mid-call, two workers on one call."""

from __future__ import annotations

from typing import Any

from host_app import create_app
from host_app.state import host_state
from tests.conftest import app_config
from tests.factories import sql
from tests.ms.calls import sequences as seq
from tests.ms.calls.conftest import Tenant


def cards(t: Tenant, call: dict[str, Any]) -> list[tuple[str, str | None]]:
    events = t.emu.state.cards(t.account["name"])["calls"][call["id"]]["events"]
    return [(e["eventType"], e.get("extension")) for e in events]


def test_a_transfer_ends_as_one_answered_call_although_its_hangup_says_internal(tenant: Tenant):
    tenant.send(seq.incoming_transfer())
    assert len(tenant.calls()) == 1  # the consultation leg's CallType 2 hangup is not a call
    call = tenant.call("1757840723.6")
    assert call["isIncoming"] is True and call["extension"] == "151"
    assert call["comment"].startswith("Входящий · Отвечен · доб. 151")
    assert call["duration"] == 50_000
    assert cards(tenant, call)[-1] == ("HIDE_ALL", None)


def test_a_follow_me_leg_to_a_mobile_is_part_of_the_incoming_call(tenant: Tenant):
    tenant.send(seq.follow_me())
    assert [c["externalId"] for c in tenant.calls()] == ["1757850000.1"]
    call = tenant.call("1757850000.1")
    assert "Отвечен" in call["comment"]
    # answered on the mobile: every card in the office goes away at answer
    assert cards(tenant, call) == [("SHOW", "150"), ("SHOW", "151"), ("HIDE", "150"), ("HIDE", "151"),
                                   ("HIDE_ALL", None)]


def test_a_growing_ring_group_shows_cards_to_the_new_members(tenant: Tenant):
    tenant.send(seq.growing_group())
    call = tenant.call("1757860000.1")
    assert call["number"] == "+375447034448"
    assert cards(tenant, call) == [("SHOW", "150"), ("SHOW", "152"), ("SHOW", "151"), ("HIDE_ALL", None)]


def test_a_department_call_from_an_extension_is_internal(tenant: Tenant):
    tenant.send(seq.department_call())
    assert tenant.calls() == []


def test_a_hidden_number_is_logged_as_such_without_lookup(tenant: Tenant):
    tenant.send(seq.hidden_caller())
    call = tenant.call("1757880000.1")
    assert call["number"] == "Скрытый номер" and "скрытый номер" in call["comment"]


def test_a_replayed_hangup_without_a_live_dial_logs_the_call_with_its_real_times(tenant: Tenant, pbx: Any):
    hangup = [e for e in pbx("2-1") if e["event_type"] == "hangup"]
    tenant.send(hangup, origin="download", record_url="https://rec.example.invalid/x.mp3")
    call = tenant.call("1758798777.27")
    assert call["startTime"].startswith("2025-09-25 14:12:57") and call["duration"] == 21_000
    assert cards(tenant, call) == []
    assert call["recordUrl"] == ["https://rec.example.invalid/x.mp3"]


def test_a_live_hangup_whose_dial_never_came_becomes_a_call_after_the_grace_period(tenant: Tenant, pbx: Any):
    hangup = [e for e in pbx("2-2") if e["event_type"] == "hangup"]
    tenant.send(hangup)
    assert tenant.calls() == []  # its dial may still be on its way
    tenant.run_jobs(include_delayed=True)
    call = tenant.call("1757772834.67")
    assert "Пропущенный" in call["comment"] and cards(tenant, call) == []


def test_a_dial_arriving_after_its_hangup_still_makes_one_call(tenant: Tenant, pbx: Any):
    events = pbx("2-2")
    tenant.send([events[2], events[0], events[1]])  # hangup, start, dial
    tenant.run_jobs(include_delayed=True)
    assert len(tenant.calls()) == 1
    assert "Пропущенный" in tenant.call("1757772834.67")["comment"]


def test_a_restart_in_the_middle_of_a_call_loses_nothing(tenant: Tenant, pbx: Any, db_url: str, tmp_path: Any):
    events = pbx("2-1")
    tenant.send(events[:2])  # start, dial: the cards are up
    other = create_app(app_config(db_url, str(tmp_path / "other"), MS_ALLOWED_API_HOSTS="127.0.0.1"))
    try:
        tenant.client, tenant.run_jobs = other.test_client(), host_state(other).runner.drain
        tenant.send(events[2:])  # a fresh worker with nothing in memory
    finally:
        host_state(other).services.db.close()
    call = tenant.call("1758798777.27")
    assert cards(tenant, call)[-1] == ("HIDE_ALL", None) and call["extension"] == "151"
    assert tenant.emu.state.cards(tenant.account["name"])["visible"] == {}


def test_a_call_held_by_another_worker_waits_and_then_completes(tenant: Tenant, pbx: Any, host: Any, db_url: str):
    lease = host.services.leases.acquire("ms:call:100:1757772834.67", 60)
    tenant.send(pbx("2-2")[:2])  # start, dial: the dial's job finds the call busy and is deferred
    assert tenant.calls() == []
    assert sql(db_url, "SELECT count(*) FROM jobs WHERE state = 'pending' AND last_error LIKE '%another worker%'")[0][0] == 2
    lease.release()
    tenant.run_jobs(include_delayed=True)
    assert len(tenant.calls()) == 1


def test_cards_of_a_call_whose_hangup_never_came_are_hidden_by_the_sweeper(tenant: Tenant, pbx: Any, db_url: str):
    tenant.send(pbx("2-1")[:2])  # start, dial: cards up, then the PBX goes silent
    assert len(tenant.emu.state.cards(tenant.account["name"])["visible"]) == 3
    sql(db_url, "UPDATE ms_calls SET updated_at = now() - interval '2 hours'")
    tenant.run_jobs(include_delayed=True)  # the sweeper finds the stale call
    tenant.run_jobs()  # and its sweep job hides the cards
    assert tenant.emu.state.cards(tenant.account["name"])["visible"] == {}
    assert sql(db_url, "SELECT state FROM ms_calls WHERE kind = 'call'") == [("open",)]  # a late hangup still counts


def test_after_mode_card_is_hidden_by_the_sweeper_and_the_call_then_finishes(db_url: str, emulator: Any,
                                                                           client: Any, run_jobs: Any, pbx: Any):
    from tests.ms.calls.conftest import make_tenant

    t = make_tenant(db_url, emulator, client, run_jobs, json_api=False,
                    ms={"notifications": {"call_notify_mode": "after"}})
    t.send(pbx("2-1"))
    assert list(emulator.state.cards(t.account["name"])["visible"]) == [t.employee_ids["151"]]
    sql(db_url, "UPDATE ms_calls SET updated_at = now() - interval '2 hours'")
    run_jobs(include_delayed=True)
    run_jobs()
    assert emulator.state.cards(t.account["name"])["visible"] == {}
    assert sql(db_url, "SELECT state FROM ms_calls WHERE kind = 'call'") == [("finished",)]
