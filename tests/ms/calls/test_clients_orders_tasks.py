"""The JSON API side of calls: the client found or created once, linked to the call; orders; missed-call
tasks (or notes) for the responsible manager, closed by a later call."""

from __future__ import annotations

import threading
from typing import Any

from tests.factories import sql
from tests.ms.calls import sequences as seq
from tests.ms.calls.conftest import EMPLOYEES, Tenant, make_tenant

CALLER_E164 = "+375290000002"


def entities(t: Tenant, kind: str) -> list[dict[str, Any]]:
    return t.emu.state.entities(kind, t.account["name"])


def counterparties(t: Tenant) -> list[dict[str, Any]]:
    return entities(t, "counterparty")


def ids(t: Tenant) -> dict[str, str]:
    return t.employee_ids


def full(db_url: str, emulator: Any, client: Any, run_jobs: Any, **ms: Any) -> Tenant:
    return make_tenant(db_url, emulator, client, run_jobs, ms=ms)


def test_a_known_client_is_linked_to_the_call(db_url, emulator, client, run_jobs, pbx):
    t = make_tenant(db_url, emulator, client, run_jobs, account={
        "name": "known", "employees": EMPLOYEES,
        "counterparties": [{"name": "ООО Ромашка", "phone": "+375 29 000-00-02", "owner": 2}]})
    t.send(pbx("2-1"))
    call = t.call("1758798777.27")
    cp = counterparties(t)[0]
    assert call["counterparty"]["href"].endswith(cp["id"])
    assert len(counterparties(t)) == 1  # nothing created


def test_an_unknown_caller_becomes_one_client_owned_by_the_answerer(db_url, emulator, client, run_jobs, pbx):
    t = full(db_url, emulator, client, run_jobs)
    t.send(pbx("2-1"))
    created = counterparties(t)
    assert len(created) == 1 and created[0]["phone"] == CALLER_E164
    assert created[0]["owner"]["meta"]["href"].endswith(ids(t)["151"])  # moved from 150 to the answerer
    assert t.call("1758798777.27")["counterparty"]["href"].endswith(created[0]["id"])


def test_two_calls_from_one_new_number_in_the_same_second_create_one_client(db_url, emulator, client, run_jobs,
                                                                          pbx):
    t = full(db_url, emulator, client, run_jobs)
    first = pbx("2-2")
    second = [{"event_type": e["event_type"], "raw": {**e["raw"], "UniqueId": "1757772834.99"}} for e in first]
    t.send(first + second, run=False)
    workers = [threading.Thread(target=run_jobs) for _ in range(3)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    run_jobs(include_delayed=True)
    assert len(counterparties(t)) == 1
    assert len(t.calls()) == 2


def test_create_client_off_creates_none_and_no_order(db_url, emulator, client, run_jobs, pbx, host):
    t = full(db_url, emulator, client, run_jobs,
             incoming_call_actions={"create_client": False, "create_order": "always"})
    t.send(pbx("2-1"))
    assert counterparties(t) == [] and entities(t, "customerorder") == []
    rows = host.services.db  # journal says why
    with rows.connection() as conn, conn.cursor() as cur:
        cur.execute("SELECT status FROM integration_logs WHERE event_type = 'order.create'")
        assert [r[0] for r in cur.fetchall()] == ["skipped"]


def test_an_order_is_created_once_per_call_in_the_configured_state_and_channel(db_url, emulator, client,
                                                                             run_jobs, pbx):
    t = full(db_url, emulator, client, run_jobs,
             incoming_call_actions={"create_order": "always", "order_status": "Новый"})
    t.send(pbx("2-1"))
    t.send(pbx("2-1"))  # duplicates change nothing
    orders = entities(t, "customerorder")
    assert len(orders) == 1
    order = orders[0]
    assert order["state"]["name"] == "Новый" if "name" in order["state"] else True
    channels = [c for c in entities(t, "saleschannel") if c["name"] == "Телефонный звонок"]
    assert len(channels) == 1 and order["salesChannel"]["meta"]["href"].endswith(channels[0]["id"])
    assert order["agent"]["meta"]["href"].endswith(counterparties(t)[0]["id"])


def test_if_no_open_skips_a_client_with_an_open_order(db_url, emulator, client, run_jobs, pbx):
    t = full(db_url, emulator, client, run_jobs, incoming_call_actions={"create_order": "if_no_open"})
    t.send(pbx("2-1"))
    second = [{"event_type": e["event_type"], "raw": {**e["raw"], "UniqueId": "1758798999.1"}}
              for e in pbx("2-1")]
    t.send(second)
    assert len(entities(t, "customerorder")) == 1


def test_replays_never_create_orders(db_url, emulator, client, run_jobs, pbx):
    t = full(db_url, emulator, client, run_jobs, incoming_call_actions={"create_order": "always"})
    hangup = [e for e in pbx("2-1") if e["event_type"] == "hangup"]
    t.send(hangup, origin="download")
    assert entities(t, "customerorder") == [] and len(counterparties(t)) == 1


def test_a_missed_call_makes_a_task_for_the_first_ringing_employee_and_a_later_call_closes_it(
        db_url, emulator, client, run_jobs, pbx):
    t = full(db_url, emulator, client, run_jobs, missed_call_actions={"create_task": True, "task_due_minutes": 30})
    t.send(pbx("2-2"))
    tasks = entities(t, "task")
    assert len(tasks) == 1 and tasks[0]["done"] is False
    assert tasks[0]["assignee"]["meta"]["href"].endswith(ids(t)["150"])
    assert tasks[0]["agent"]["meta"]["href"].endswith(counterparties(t)[0]["id"])
    t.send(pbx("1-1"))  # the manager calls back
    assert entities(t, "task")[0]["done"] is True


def test_without_the_crm_option_a_missed_call_becomes_a_note(db_url, emulator, client, run_jobs, pbx):
    t = make_tenant(db_url, emulator, client, run_jobs, ms={"missed_call_actions": {"create_task": True}},
                    account={"name": "nocrm", "crm_option": False, "employees": EMPLOYEES})
    t.send(pbx("2-2"))
    assert entities(t, "task") == []
    notes = entities(t, "note")
    assert len(notes) == 1 and "Пропущенный звонок" in notes[0]["description"]


def test_the_call_is_logged_while_the_json_api_is_down(db_url, emulator, client, run_jobs, pbx):
    t = full(db_url, emulator, client, run_jobs)
    t.emu.state.set_outage(api="json")
    t.send(pbx("2-1"))
    call = t.call("1758798777.27")
    assert call["extension"] == "151" and call["endTime"] is not None
    t.emu.state.clear_outage()
    import time
    time.sleep(0.25)
    run_jobs(include_delayed=True)
    assert len(counterparties(t)) == 1  # the client arrives once MoySklad is back


def test_two_clients_with_the_number_are_reported_not_guessed(db_url, emulator, client, run_jobs, pbx, host):
    t = make_tenant(db_url, emulator, client, run_jobs, account={
        "name": "twins", "employees": EMPLOYEES,
        "counterparties": [{"name": "Иван", "phone": "+375290000002"}, {"name": "Пётр", "phone": "80290000002"}]})
    t.send(pbx("2-2"))
    call = t.call("1757772834.67")
    assert "несколько клиентов" in call["comment"]
    assert len(counterparties(t)) == 2


def test_a_click_to_call_conversation_is_one_call_marked_as_from_moysklad(db_url, emulator, client, run_jobs):
    t = full(db_url, emulator, client, run_jobs, notifications={"notify_outgoing": True})
    # What the webhook stores when a MoySklad user clicks the number (the PBX then rings 151 first).
    sql(db_url, "INSERT INTO ms_originates (enterprise_number, extension, employee_id, dest_digits, dest_e164, "
                "dial_number, status) VALUES ('100', '151', %s, '375290000002', '+375290000002', "
                "'375290000002', 'dialled')", (ids(t)["151"],))
    t.send(seq.crm_originated())
    calls = t.calls()
    assert len(calls) == 1 and calls[0]["isIncoming"] is False and calls[0]["extension"] == "151"
    assert "из МойСклад" in calls[0]["comment"]
    assert sql(db_url, "SELECT status, matched_unique_id FROM ms_originates") == [("matched", "1757890000.1")]


def test_external_initiated_without_a_click_is_an_ordinary_call(db_url, emulator, client, run_jobs):
    t = full(db_url, emulator, client, run_jobs)
    t.send(seq.crm_originated())  # the listener's ExternalInitiated flag is unreliable: it proves nothing
    calls = t.calls()
    assert len(calls) == 1 and "из МойСклад" not in calls[0]["comment"]
