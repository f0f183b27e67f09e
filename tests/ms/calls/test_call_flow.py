"""PBX event sequences through the real HTTP entry point, processed in the background, as MoySklad's
emulator sees them."""

from __future__ import annotations

from typing import Any

from tests.factories import sql
from tests.ms.calls.conftest import Tenant


def card_log(t: Tenant, call_id: str) -> list[tuple[str, str | None]]:
    events = t.emu.state.cards(t.account["name"])["calls"][call_id]["events"]
    return [(e["eventType"], e.get("extension")) for e in events]


def test_incoming_answered_call_shows_hides_and_finishes_with_times_and_answerer(tenant: Tenant, pbx: Any):
    tenant.send(pbx("2-1"), record_url="https://rec.example.invalid/r1.mp3")
    call = tenant.call("1758798777.27")
    assert call["number"] == "+375290000002" and call["isIncoming"] is True
    assert call["extension"] == "151" and call["employee"]["href"].endswith(tenant.employee_ids["151"])
    assert call["duration"] == 21_000 and call["endTime"] is not None
    assert call["recordUrl"] == ["https://rec.example.invalid/r1.mp3"]
    assert call["comment"].startswith("Входящий · Отвечен · доб. 151")
    assert card_log(tenant, call["id"]) == [("SHOW", "150"), ("SHOW", "151"), ("SHOW", "152"),
                                            ("STARTTIME", "151"), ("HIDE", "150"), ("HIDE", "152"),
                                            ("HIDE_ALL", None)]
    assert tenant.emu.state.cards(tenant.account["name"])["visible"] == {}
    assert sql(tenant.db_url, "SELECT state FROM ms_calls WHERE kind = 'call'") == [("finished",)]


def test_missed_call_hides_every_card_at_hangup(tenant: Tenant, pbx: Any):
    tenant.send(pbx("2-2"))
    call = tenant.call("1757772834.67")
    assert "Пропущенный" in call["comment"] and call["recordUrl"] == []
    assert card_log(tenant, call["id"])[-1] == ("HIDE_ALL", None)


def test_internal_call_never_reaches_moysklad(tenant: Tenant, pbx: Any):
    tenant.send(pbx("3-1"))
    tenant.run_jobs(include_delayed=True)  # past the grace period for hangups seen without a dial
    assert tenant.calls() == []


def test_duplicate_and_reordered_events_make_one_correct_call(tenant: Tenant, pbx: Any):
    events = pbx("2-1")
    tenant.send(events)
    answers = tenant.send(events)  # the relay sends everything twice
    assert all(a["duplicate"] for a in answers)
    assert len(tenant.calls()) == 1
    assert len(tenant.phone_requests()) == 3


def test_outgoing_call_is_logged_once_without_a_card_by_default(tenant: Tenant, pbx: Any):
    tenant.send(pbx("1-1"))
    call = tenant.call("1758200248.0")
    assert call["isIncoming"] is False and call["extension"] == "151"
    assert card_log(tenant, call["id"]) == []
    assert len(tenant.phone_requests()) == 1


def _metric(client: Any, name: str, **labels: str) -> float:
    from prometheus_client.parser import text_string_to_metric_families

    text = client.get("/metrics").get_data(as_text=True)
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                return float(sample.value)
    return 0.0


def test_metrics_count_calls_and_cards(tenant: Tenant, pbx: Any):
    calls = _metric(tenant.client, "ms_calls_total", direction="in", outcome="answered")
    shows = _metric(tenant.client, "ms_card_events_total", event_type="SHOW")
    tenant.send(pbx("2-1"))
    assert _metric(tenant.client, "ms_calls_total", direction="in", outcome="answered") == calls + 1
    assert _metric(tenant.client, "ms_card_events_total", event_type="SHOW") == shows + 3
