"""Tolerant parsing of real-shaped answers, MoySklad's quirks kept inside models."""

from __future__ import annotations

import pytest

from ms_plugin.moysklad.errors import MalformedResponse
from ms_plugin.moysklad.models import (
    Call,
    Counterparty,
    CustomerOrder,
    Employee,
    OrderState,
    PhoneEmployee,
    Task,
    bare_meta,
    entity_href,
    first_object,
    id_from_href,
    meta_ref,
)

from .conftest import load

BASE = "https://api.moysklad.ru/api/remap/1.2"


def test_call_with_matched_counterparty_parses_owner_extention():
    call = Call.from_json(load("call_matched.json"))
    assert call.id == "5b1f0c2e-3a41-11f1-0a80-0c6a00000101"
    assert call.external_id == "pbx-1744019200.1234"
    assert call.counterparty_id == "0d3e6a10-3a40-11f1-0a80-0c6a00000042"
    assert call.counterparty_owner_id == "9a7c2b11-3a3f-11f1-0a80-0c6a00000007"
    assert call.counterparty_owner_extension == "205"
    assert call.employee_id == "9a7c2b11-3a3f-11f1-0a80-0c6a00000003"
    assert call.duration == 195000 and call.is_incoming is True
    assert call.record_urls == ("https://pbx.example.net/rec/pbx-1744019200.1234.mp3?sig=ab12",)


def test_unmatched_call_has_nulls_and_empty_record_list():
    call = Call.from_json(load("call_unmatched.json"))
    assert call.counterparty_id is None and call.counterparty_owner_id is None
    assert call.end_time is None and call.duration is None and call.record_urls == ()


def test_call_without_id_is_malformed():
    with pytest.raises(MalformedResponse):
        Call.from_json({"externalId": "x"})
    with pytest.raises(MalformedResponse):
        Call.from_json(["not", "an", "object"])


def test_phone_employee_takes_id_from_href_and_extention_spelling():
    employees = [PhoneEmployee.from_json(e) for e in load("phone_employees.json")["employees"]]
    assert [(e.employee_id, e.extension) for e in employees] == [
        ("9a7c2b11-3a3f-11f1-0a80-0c6a00000003", "201"), ("9a7c2b11-3a3f-11f1-0a80-0c6a00000004", "202")]


def test_counterparty_with_expanded_contact_persons_and_owner():
    cp = Counterparty.from_json(load("counterparty_search.json")["rows"][0])
    assert cp.name == "Иван Петров" and cp.phone == "+7 (916) 123-45-67"
    assert cp.tags == ("телефония", "vip")
    assert cp.owner_id == "0a1b2c3d-1111-11ef-0a80-000000000201" and cp.owner_name == "Сидоров И. П."
    assert cp.contact_persons_loaded
    assert [(p.name, p.phone) for p in cp.contact_persons] == [("Анна Смирнова", "+74951234567")]


def test_counterparty_without_expand_says_contact_persons_not_loaded():
    cp = Counterparty.from_json(load("counterparty.json"))
    assert not cp.contact_persons_loaded and cp.contact_persons == ()
    assert cp.owner_id == "0a1b2c3d-1111-11ef-0a80-000000000201" and cp.owner_name is None


def test_employee_and_order_and_task():
    emp = Employee.from_json(load("employee.json"))
    assert (emp.name, emp.full_name, emp.uid, emp.archived) == (
        "Сидоров И. П.", "Иван Петрович Сидоров", "sidorov@mycompany", False)
    order = CustomerOrder.from_json(load("customerorders.json")["rows"][0])
    assert (order.name, order.state_name, order.state_type) == ("00042", "Новый", "Regular")
    assert order.agent_id == "0a1b2c3d-1111-11ef-0a80-000000000101"
    task = Task.from_json(load("task.json"))
    assert task.assignee_id == "0a1b2c3d-1111-11ef-0a80-000000000201" and task.done is False


def test_order_states_know_final_types_and_keep_hrefs():
    states = [OrderState.from_json(s) for s in load("customerorder_metadata.json")["states"]]
    assert [s.is_final for s in states] == [False, True]
    assert states[0].href.endswith("/customerorder/metadata/states/0a1b2c3d-1111-11ef-0a80-000000000701")


def test_wrong_types_are_tolerated():
    cp = Counterparty.from_json({"id": "x", "tags": "not-a-list", "archived": "yes", "phone": 375291234567,
                                 "owner": "garbage", "contactpersons": None})
    assert cp.tags == () and cp.archived is False and cp.phone == "375291234567" and cp.owner_id is None


def test_href_helpers_build_both_meta_shapes():
    assert entity_href(BASE + "/", "counterparty", "abc") == f"{BASE}/entity/counterparty/abc"
    assert meta_ref(BASE, "employee", "e1") == {"meta": {
        "href": f"{BASE}/entity/employee/e1", "type": "employee", "mediaType": "application/json"}}
    assert bare_meta(BASE, "counterparty", "c1") == {
        "href": f"{BASE}/entity/counterparty/c1", "type": "counterparty", "mediaType": "application/json"}
    assert id_from_href(f"{BASE}/entity/employee/e1?expand=x") == "e1"


def test_first_object_accepts_array_or_object():
    assert first_object([{"id": "a"}], "note") == {"id": "a"}
    assert first_object({"id": "b"}, "note") == {"id": "b"}
    with pytest.raises(MalformedResponse):
        first_object([], "note")
