"""Employees, organizations, sales channels, customer orders (+ states) and tasks."""
from __future__ import annotations

from typing import Any

from ms_emulator import EmulatorState

from .helpers import Api, counterparty_id, employee_id, error_code

BASE = "https://api.moysklad.ru/api/remap/1.2"


def ref(kind: str, entity_id: str) -> dict[str, Any]:
    return {"meta": {"href": f"{BASE}/entity/{kind}/{entity_id}", "type": kind, "mediaType": "application/json"}}


def state_ref(state_id: str) -> dict[str, Any]:
    return {"meta": {"href": f"{BASE}/entity/customerorder/metadata/states/{state_id}", "type": "state",
                     "mediaType": "application/json"}}


def org_id(account: dict[str, Any]) -> str:
    return account["organizations"][0]["id"]


def test_employee_list_has_no_extension_field(ms: Api) -> None:
    rows = ms.get("/entity/employee").json()["rows"]
    assert len(rows) == 4
    assert all("extension" not in r and "extention" not in r for r in rows)
    assert {r["uid"] for r in rows} >= {"admin@acme", "petrova@acme"}


def test_employee_filter_and_search(ms: Api) -> None:
    assert [r["uid"] for r in ms.get("/entity/employee", params={"filter": "uid=petrova@acme"}).json()["rows"]] \
        == ["petrova@acme"]
    assert len(ms.get("/entity/employee", params={"search": "noext@"}).json()["rows"]) == 1


def test_employee_by_id(ms: Api, account: dict[str, Any]) -> None:
    emp = employee_id(account, "151")
    assert ms.get(f"/entity/employee/{emp}").json()["fullName"] == "Мария Петрова"


def test_organization_list(ms: Api) -> None:
    rows = ms.get("/entity/organization").json()["rows"]
    assert [r["name"] for r in rows] == ["ООО «Акме»"]


def test_sales_channel_create_validates_type(ms: Api) -> None:
    response = ms.post("/entity/saleschannel", json={"name": "Звонки", "type": "PHONE"})
    assert response.status_code == 412 and error_code(response) == 3005
    assert error_code(ms.post("/entity/saleschannel", json={"name": "Звонки"})) == 3000
    created = ms.post("/entity/saleschannel", json={"name": "Звонки", "type": "OTHER"})
    assert created.status_code == 200 and created.json()["type"] == "OTHER"


def test_sales_channel_search_and_filter_by_name(ms: Api) -> None:
    found = ms.get("/entity/saleschannel", params={"filter": "name=Телефонный звонок"}).json()["rows"]
    assert [r["type"] for r in found] == ["DIRECT_SALES"]
    assert len(ms.get("/entity/saleschannel", params={"search": "телефон"}).json()["rows"]) == 1


def test_order_metadata_lists_default_states_with_types(ms: Api) -> None:
    body = ms.get("/entity/customerorder/metadata").json()
    states = {s["name"]: s for s in body["states"]}
    assert states["Новый"]["stateType"] == "Regular" and "Подтвержден" in states
    assert {s["stateType"] for s in body["states"]} == {"Regular", "Successful", "Unsuccessful"}
    new = states["Новый"]
    assert new["meta"]["href"] == f"{BASE}/entity/customerorder/metadata/states/{new['id']}"
    assert new["meta"]["type"] == "state"


def test_order_requires_organization_and_agent(ms: Api, account: dict[str, Any]) -> None:
    response = ms.post("/entity/customerorder", json={"organization": ref("organization", org_id(account))})
    assert response.status_code == 412 and response.json()["errors"][0]["parameter"] == "agent"
    response = ms.post("/entity/customerorder", json={"agent": ref("counterparty", counterparty_id(account, "Иван Петров"))})
    assert response.status_code == 412 and response.json()["errors"][0]["parameter"] == "organization"


def _order(ms: Api, account: dict[str, Any], state_name: str, **extra: Any) -> dict[str, Any]:
    states = {s["name"]: s["id"] for s in account["states"]}
    body = {"organization": ref("organization", org_id(account)),
            "agent": ref("counterparty", counterparty_id(account, "Иван Петров")),
            "state": state_ref(states[state_name]), **extra}
    response = ms.post("/entity/customerorder", json=body)
    assert response.status_code == 200, response.text
    return response.json()


def test_order_create_numbers_and_filters(ms: Api, account: dict[str, Any]) -> None:
    first = _order(ms, account, "Новый", moment="2026-04-07 10:00:00")
    second = _order(ms, account, "Доставлен", moment="2026-04-07 11:00:00")
    assert (first["name"], second["name"]) == ("00001", "00002")
    agent = f"{BASE}/entity/counterparty/{counterparty_id(account, 'Иван Петров')}"
    rows = ms.get("/entity/customerorder", params={"filter": f"agent={agent}", "order": "moment,desc"}).json()["rows"]
    assert [r["name"] for r in rows] == ["00002", "00001"]
    new = ms.get("/entity/customerorder", params={"filter": "state.name=Новый"}).json()["rows"]
    assert [r["name"] for r in new] == ["00001"]


def test_order_expand_state(ms: Api, account: dict[str, Any]) -> None:
    order = _order(ms, account, "Новый")
    body = ms.get(f"/entity/customerorder/{order['id']}", params={"expand": "state,agent"}).json()
    assert body["state"]["name"] == "Новый" and body["agent"]["name"] == "Иван Петров"


def test_order_sync_id_is_idempotent(ms: Api, account: dict[str, Any], state: EmulatorState) -> None:
    sync = "a7e1c2d3-4b5a-4f60-9e81-23456789abcd"
    first = _order(ms, account, "Новый", syncId=sync)
    second = _order(ms, account, "Новый", syncId=sync)
    assert first["id"] == second["id"]
    assert len(state.entities("customerorder", "acme")) == 1


def test_order_put_changes_state(ms: Api, account: dict[str, Any]) -> None:
    order = _order(ms, account, "Новый")
    done = next(s["id"] for s in account["states"] if s["name"] == "Подтвержден")
    body = ms.put(f"/entity/customerorder/{order['id']}", json={"state": state_ref(done)}).json()
    assert body["state"]["meta"]["href"].endswith(done)


def test_order_with_unknown_agent_is_refused(ms: Api, account: dict[str, Any]) -> None:
    response = ms.post("/entity/customerorder", json={
        "organization": ref("organization", org_id(account)),
        "agent": ref("counterparty", "0d3e6a10-3a40-11f1-0a80-0c6a00000042")})
    assert response.status_code == 400 and error_code(response) == 2013


def _task(ms: Api, account: dict[str, Any], **extra: Any) -> Any:
    return ms.post("/entity/task", json={"description": "Перезвонить", "assignee": ref("employee", employee_id(account, "151")),
                                         **extra})


def test_task_without_crm_option_is_403_code_37000(ms: Api, account: dict[str, Any], state: EmulatorState) -> None:
    state.set_account_flags("acme", crm_option=False)
    response = _task(ms, account)
    assert response.status_code == 403 and error_code(response) == 37000
    assert error_code(ms.get("/entity/task")) == 37000


def test_task_requires_description_and_assignee(ms: Api, account: dict[str, Any]) -> None:
    assert ms.post("/entity/task", json={"description": "x"}).json()["errors"][0]["parameter"] == "assignee"
    response = ms.post("/entity/task", json={"assignee": ref("employee", employee_id(account, "151"))})
    assert response.json()["errors"][0]["parameter"] == "description"


def test_task_lifecycle_and_filters(ms: Api, account: dict[str, Any]) -> None:
    cp = counterparty_id(account, "Иван Петров")
    task = _task(ms, account, agent=ref("counterparty", cp), dueToDate="2026-04-07 13:00:00").json()
    assert task["done"] is False and task["author"]["meta"]["href"].endswith(account["users"][0]["employee_id"])
    assignee = f"{BASE}/entity/employee/{employee_id(account, '151')}"
    open_rows = ms.get("/entity/task", params={"filter": f"assignee={assignee};done=false"}).json()["rows"]
    assert [r["id"] for r in open_rows] == [task["id"]]
    closed = ms.put(f"/entity/task/{task['id']}", json={"done": True}).json()
    assert closed["done"] is True and closed["completed"]
    agent = f"{BASE}/entity/counterparty/{cp}"
    assert ms.get("/entity/task", params={"filter": f"agent={agent};done=false"}).json()["rows"] == []
    assert len(ms.get("/entity/task", params={"filter": "done=true"}).json()["rows"]) == 1
