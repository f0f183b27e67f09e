"""The planner on the recorded PBX sequences: what MoySklad receives, request by request (pure)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from ms_plugin.calls.model import CallRecord, Done, Facts
from ms_plugin.calls.pbx_event import fold
from ms_plugin.calls.plan import TenantView, next_write
from ms_plugin.config.schema import read_config
from tests.ms.calls.pbx import as_events, recorded

EMP = {"150": "e0000000-0000-0000-0000-000000000150", "151": "e0000000-0000-0000-0000-000000000151",
       "152": "e0000000-0000-0000-0000-000000000152"}
NOW = dt.datetime(2025, 9, 25, 11, 20, tzinfo=dt.timezone.utc)


def view(**config: Any) -> TenantView:
    cfg = read_config({"enabled": True, **config})
    return TenantView(timezone="Europe/Minsk", cfg=cfg, mapping=EMP, ms_extension={EMP["151"]: "201"},
                      employee_ref=lambda e: {"href": f"emp/{e}"}, counterparty_ref=lambda c: {"href": f"cp/{c}"})


def drive(items: list[dict[str, Any]], v: TenantView, *, per_event: bool = True, **kw: Any) -> list[dict[str, Any]]:
    """Fold the events one by one (or all at once) and collect every write the planner asks for."""
    events = as_events(items, **kw)
    rec = CallRecord("100", events[0].unique_id, "call", None, Facts(), Done(), "+375290000002", "open")
    writes: list[dict[str, Any]] = []

    def flush() -> None:
        for _ in range(10):
            w = next_write(rec, v, now=NOW, hidden=False, number="+375290000002")
            if w is None:
                return
            writes.append({"create": w.create, **w.body})
            w.apply(rec.done)

    for event in events:
        fold(rec.facts, event, own=event.unique_id == rec.unique_id)
        if per_event:
            flush()
    flush()
    return writes


def kinds(write: dict[str, Any]) -> list[tuple[str, str | None]]:
    return [(e["eventType"], e.get("extension")) for e in write.get("events", [])]


def test_incoming_answered_is_three_requests_with_cards_to_the_group_then_starttime_and_hides():
    writes = drive(recorded("2-1"), view(), record_url="https://rec.example.invalid/1.mp3")
    assert len(writes) == 3
    create, answer, final = writes
    assert create["create"] and create["externalId"] == "1758798777.27" and create["isIncoming"] is True
    assert create["number"] == "+375290000002"
    assert kinds(create) == [("SHOW", "150"), ("SHOW", "201"), ("SHOW", "152")]  # 151's MoySklad ext is 201
    assert "extension" not in create and "employee" not in create  # never guessed from a ring group
    assert kinds(answer) == [("STARTTIME", "201"), ("HIDE", "150"), ("HIDE", "152")]
    assert answer["extension"] == "201" and answer["employee"] == {"href": f"emp/{EMP['151']}"}
    assert kinds(final) == [("HIDE_ALL", None)]
    assert final["endTime"] == "2025-09-25 14:13:18"  # start 14:12:57 MSK + the PBX's 21 s
    assert final["duration"] == 21_000
    assert final["recordUrl"] == ["https://rec.example.invalid/1.mp3"]
    assert final["comment"].startswith("Входящий · Отвечен · доб. 151 · линия 0001363")
    seqs = [e["sequence"] for w in writes for e in w["events"]]
    assert seqs == list(range(1, len(seqs) + 1))


def test_missed_call_is_two_requests_and_no_recording():
    writes = drive(recorded("2-2"), view(), record_url="https://rec.example.invalid/2.mp3")
    assert [w["create"] for w in writes] == [True, False]
    assert kinds(writes[1]) == [("HIDE_ALL", None)]
    assert "recordUrl" not in writes[1]
    assert "Пропущенный" in writes[1]["comment"]
    assert "extension" not in writes[1]  # nobody answered: nothing to pin


def test_outgoing_without_notify_is_one_post_at_hangup_with_the_caller():
    writes = drive(recorded("1-1"), view())
    assert len(writes) == 1 and writes[0]["create"]
    w = writes[0]
    assert w["isIncoming"] is False and w["extension"] == "201" and "events" not in w
    assert w["duration"] == 17_000 and w["comment"].startswith("Исходящий · Отвечен")


def test_outgoing_with_notify_shows_the_card_to_the_caller_only():
    writes = drive(recorded("1-1"), view(notifications={"notify_outgoing": True}))
    assert kinds(writes[0]) == [("SHOW", "201")]
    assert kinds(writes[-1]) == [("HIDE_ALL", None)]


def test_none_mode_creates_the_call_once_at_hangup_without_cards():
    writes = drive(recorded("2-1"), view(notifications={"call_notify_mode": "none"}))
    assert len(writes) == 1 and "events" not in writes[0]
    assert writes[0]["extension"] == "201"


def test_after_mode_shows_one_card_to_the_answerer_at_hangup():
    writes = drive(recorded("2-1"), view(notifications={"call_notify_mode": "after"}))
    assert len(writes) == 1 and kinds(writes[0]) == [("SHOW", "201")]


def test_a_backlog_processed_at_once_is_a_single_post_without_cards():
    writes = drive(recorded("2-1"), view(), per_event=False)
    assert len(writes) == 1 and "events" not in writes[0] and writes[0]["extension"] == "201"


def test_replayed_hangup_alone_uses_the_pbx_times_and_shows_no_card():
    hangup = [e for e in recorded("2-1") if e["event_type"] == "hangup"]
    writes = drive(hangup, view(), origin="download")
    assert len(writes) == 1
    assert writes[0]["startTime"] == "2025-09-25 14:12:57" and writes[0]["endTime"] == "2025-09-25 14:13:18"
    assert "events" not in writes[0]


@pytest.mark.parametrize("name", ["2-1", "2-2", "1-1"])
def test_events_in_reverse_order_end_in_the_same_final_fields(name: str):
    forward = drive(recorded(name), view(), per_event=False)[-1]
    backward = drive(list(reversed(recorded(name))), view(), per_event=False)[-1]
    for key in ("extension", "duration", "isIncoming", "number"):
        assert forward.get(key) == backward.get(key)


def test_repeated_events_change_nothing():
    items = recorded("2-1")
    once = drive(items, view())
    events = as_events(items)
    rec = CallRecord("100", events[0].unique_id, "call", None, Facts(), Done(), "+375290000002", "open")
    for event in events + events:
        fold(rec.facts, event, own=event.unique_id == rec.unique_id)
    assert rec.facts.applied_events == [e.id for e in events]
    assert len(once) == 3
