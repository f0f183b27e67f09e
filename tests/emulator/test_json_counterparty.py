"""Counterparties: list/filter/search/expand/pagination, create/update, syncId, contact persons, notes."""
from __future__ import annotations

from typing import Any

import pytest

from ms_emulator import EmulatorState

from .helpers import Api, counterparty_id, employee_id, error_code

BASE = "https://api.moysklad.ru/api/remap/1.2"


def names(response: Any) -> list[str]:
    assert response.status_code == 200, response.text
    return sorted(row["name"] for row in response.json()["rows"])


def test_list_has_context_meta_and_rows(ms: Api) -> None:
    body = ms.get("/entity/counterparty").json()
    assert body["meta"]["size"] == 3 and body["meta"]["limit"] == 1000 and body["meta"]["offset"] == 0
    assert body["meta"]["type"] == "counterparty"
    assert body["context"]["employee"]["meta"]["href"].endswith("/context/employee")
    row = next(r for r in body["rows"] if r["name"] == "ООО «Ромашка»")
    assert row["meta"]["href"] == f"{BASE}/entity/counterparty/{row['id']}"
    assert row["owner"]["meta"]["type"] == "employee" and "name" not in row["owner"]
    assert row["contactpersons"]["meta"]["size"] == 1 and "rows" not in row["contactpersons"]


def test_limit_offset_and_next_href(ms: Api) -> None:
    body = ms.get("/entity/counterparty", params={"limit": 2, "offset": 0}).json()
    assert len(body["rows"]) == 2 and body["meta"]["size"] == 3
    assert "offset=2" in body["meta"]["nextHref"]
    last = ms.get("/entity/counterparty", params={"limit": 2, "offset": 2}).json()
    assert len(last["rows"]) == 1 and "nextHref" not in last["meta"] and "previousHref" in last["meta"]


def test_limit_over_1000_is_refused(ms: Api) -> None:
    assert ms.get("/entity/counterparty", params={"limit": 1001}).status_code == 400


def test_expand_is_honoured_only_when_limit_is_at_most_100(ms: Api) -> None:
    expanded = ms.get("/entity/counterparty", params={"expand": "owner,contactpersons", "limit": 100}).json()
    row = next(r for r in expanded["rows"] if r["name"] == "ООО «Ромашка»")
    assert row["owner"]["name"] == "Петрова М."
    assert row["contactpersons"]["rows"][0]["name"] == "Анна Смирнова"
    silent = ms.get("/entity/counterparty", params={"expand": "owner"}).json()  # default limit 1000
    assert all("name" not in r["owner"] for r in silent["rows"])


@pytest.mark.parametrize(("flt", "expected"), [
    ("name=Иван Петров", ["Иван Петров"]),
    ("name~ромаш", ["ООО «Ромашка»"]),
    ("name~=ооо", ["ООО «Ромашка»"]),
    ("name=~петров", ["Иван Петров"]),
    ("name!=Иван Петров", ["Архивный", "ООО «Ромашка»"]),
    ("phone~9161234567", []),  # like-operators work on the stored string
    ("phone~(916)", ["ООО «Ромашка»"]),
    ("archived=false", ["Иван Петров", "ООО «Ромашка»"]),
    ("archived=true", ["Архивный"]),
    ("tags=vip", ["Иван Петров"]),
    ("name=Иван Петров;name=Архивный", ["Архивный", "Иван Петров"]),
    ("email=;archived=false", ["Иван Петров"]),
])
def test_filter_operators(ms: Api, flt: str, expected: list[str]) -> None:
    assert names(ms.get("/entity/counterparty", params={"filter": flt})) == expected


def test_filter_plus_must_be_url_encoded(ms: Api) -> None:
    assert names(ms.get("/entity/counterparty", params={"filter": "phone=+375291112233"})) == ["Иван Петров"]
    # Unencoded, '+' arrives as a space (documented pitfall).
    raw = ms.get("/entity/counterparty?filter=phone=+375291112233")
    assert names(raw) == []


def test_filter_by_owner_href(ms: Api, account: dict[str, Any]) -> None:
    href = f"{BASE}/entity/employee/{employee_id(account, '152')}"
    assert names(ms.get("/entity/counterparty", params={"filter": f"owner={href}"})) == ["Иван Петров"]


@pytest.mark.parametrize("flt", ["nosuchfield=1", "name=a;name!=b", "archived=maybe", "archived~tr"])
def test_bad_filters_are_1034(ms: Api, flt: str) -> None:
    response = ms.get("/entity/counterparty", params={"filter": flt})
    assert response.status_code == 400 and error_code(response) == 1034


def test_search_matches_name_email_and_contact_person_name(ms: Api) -> None:
    assert names(ms.get("/entity/counterparty", params={"search": "ромашка"})) == ["ООО «Ромашка»"]
    assert names(ms.get("/entity/counterparty", params={"search": "info@rom"})) == ["ООО «Ромашка»"]
    assert names(ms.get("/entity/counterparty", params={"search": "Смирнова"})) == ["ООО «Ромашка»"]


def test_substring_phone_search_uses_the_stored_string(ms: Api) -> None:
    assert names(ms.get("/entity/counterparty", params={"search": "9161234567"})) == []
    assert names(ms.get("/entity/counterparty", params={"search": "123-45-67"})) == ["ООО «Ромашка»"]
    assert names(ms.get("/entity/counterparty", params={"search": "375291112"})) == ["Иван Петров"]


def test_digits_phone_search_ignores_formatting_including_contact_persons(ms: Api, state: EmulatorState) -> None:
    state.set_knobs(phone_search="digits")
    assert names(ms.get("/entity/counterparty", params={"search": "9161234567"})) == ["ООО «Ромашка»"]
    assert names(ms.get("/entity/counterparty", params={"search": "+375 44 7654321"})) == ["ООО «Ромашка»"]


def test_order_by_name_desc(ms: Api) -> None:
    rows = ms.get("/entity/counterparty", params={"order": "name,desc"}).json()["rows"]
    assert [r["name"] for r in rows] == ["ООО «Ромашка»", "Иван Петров", "Архивный"]


def test_create_defaults_owner_to_the_current_employee(ms: Api, account: dict[str, Any]) -> None:
    response = ms.post("/entity/counterparty", json={"name": "Новый", "phone": "+375 29 555-55-55"})
    assert response.status_code == 200
    body = response.json()
    assert body["owner"]["meta"]["href"].endswith(account["users"][0]["employee_id"])
    assert body["created"] and body["updated"] and body["companyType"] == "legal"


def test_create_without_name_is_412_code_3000(ms: Api) -> None:
    response = ms.post("/entity/counterparty", json={"phone": "1"})
    assert response.status_code == 412 and response.json()["errors"][0]["parameter"] == "name"


def test_create_with_bad_email_is_3015(ms: Api) -> None:
    assert error_code(ms.post("/entity/counterparty", json={"name": "x", "email": "nope"})) == 3015


def test_sync_id_makes_create_idempotent(ms: Api, state: EmulatorState) -> None:
    body = {"name": "Клиент", "syncId": "6f1f2d3e-9a7b-4c1d-8e2f-0123456789ab"}
    first = ms.post("/entity/counterparty", json=body).json()
    second = ms.post("/entity/counterparty", json={**body, "name": "Другое имя"}).json()
    assert first["id"] == second["id"] and second["name"] == "Клиент"
    assert len(state.entities("counterparty", "acme")) == 4
    assert names(ms.get("/entity/counterparty", params={"filter": f"syncId={body['syncId']}"})) == ["Клиент"]


def test_batch_create_with_an_array_body(ms: Api) -> None:
    response = ms.post("/entity/counterparty", json=[{"name": "A"}, {"name": "B"}])
    assert [r["name"] for r in response.json()] == ["A", "B"]


def test_put_updates_only_the_sent_fields(ms: Api, account: dict[str, Any]) -> None:
    cp = counterparty_id(account, "Иван Петров")
    new_owner = f"{BASE}/entity/employee/{employee_id(account, '150')}"
    body = ms.put(f"/entity/counterparty/{cp}", json={
        "owner": {"meta": {"href": new_owner, "type": "employee", "mediaType": "application/json"}}}).json()
    assert body["owner"]["meta"]["href"] == new_owner
    assert body["phone"] == "+375291112233" and body["tags"] == ["vip"]


def test_get_unknown_and_malformed_ids(ms: Api) -> None:
    assert error_code(ms.get("/entity/counterparty/0d3e6a10-3a40-11f1-0a80-0c6a00000042")) == 1021
    assert error_code(ms.get("/entity/counterparty/abc")) == 1052


def test_contact_persons_list_and_create(ms: Api, account: dict[str, Any]) -> None:
    cp = counterparty_id(account, "Иван Петров")
    created = ms.post(f"/entity/counterparty/{cp}/contactpersons", json={"name": "Ольга", "phone": "+375 33 1"})
    assert created.status_code == 200 and created.json()["name"] == "Ольга"
    assert created.json()["agent"]["meta"]["href"].endswith(cp)
    rows = ms.get(f"/entity/counterparty/{cp}/contactpersons").json()["rows"]
    assert [r["name"] for r in rows] == ["Ольга"]


def test_sub_resource_create_can_answer_an_array(ms: Api, state: EmulatorState, account: dict[str, Any]) -> None:
    state.set_knobs(subresource_create_shape="array")
    cp = counterparty_id(account, "Иван Петров")
    body = ms.post(f"/entity/counterparty/{cp}/notes", json={"description": "звонок"}).json()
    assert isinstance(body, list) and body[0]["description"] == "звонок"


def test_notes_record_author_and_agent(ms: Api, account: dict[str, Any], state: EmulatorState) -> None:
    cp = counterparty_id(account, "Иван Петров")
    note = ms.post(f"/entity/counterparty/{cp}/notes", json={"description": "☎ Входящий звонок"}).json()
    assert note["meta"]["href"] == f"{BASE}/entity/counterparty/{cp}/notes/{note['id']}"
    assert note["author"]["meta"]["href"].endswith(account["users"][0]["employee_id"])
    assert ms.get(f"/entity/counterparty/{cp}/notes").json()["meta"]["size"] == 1
    assert state.entities("notes", "acme")[0]["description"] == "☎ Входящий звонок"


def test_note_without_description_is_3000(ms: Api, account: dict[str, Any]) -> None:
    cp = counterparty_id(account, "Иван Петров")
    assert error_code(ms.post(f"/entity/counterparty/{cp}/notes", json={})) == 3000


def test_note_longer_than_4096_is_refused(ms: Api, account: dict[str, Any]) -> None:
    cp = counterparty_id(account, "Иван Петров")
    assert error_code(ms.post(f"/entity/counterparty/{cp}/notes", json={"description": "x" * 4097})) == 3040


def test_contact_person_get_and_put_by_id(ms: Api, account: dict[str, Any]) -> None:
    cp = counterparty_id(account, "ООО «Ромашка»")
    person = account["counterparties"][0]["contactpersons"][0]["id"]
    assert ms.get(f"/entity/counterparty/{cp}/contactpersons/{person}").json()["name"] == "Анна Смирнова"
    updated = ms.put(f"/entity/counterparty/{cp}/contactpersons/{person}", json={"phone": "+375 29 000-00-00"})
    assert updated.json()["phone"] == "+375 29 000-00-00"
    other = counterparty_id(account, "Иван Петров")
    assert ms.get(f"/entity/counterparty/{other}/contactpersons/{person}").status_code == 404


def test_contact_persons_seeded_through_the_control_api_are_searchable(ms: Api, control: Api,
                                                                       account: dict[str, Any]) -> None:
    cp = counterparty_id(account, "Иван Петров")
    seeded = control.post("/entities/contactperson", params={"account": "acme"},
                          json={"name": "Жена", "phone": "+7 (495) 331-22-33", "parent_id": cp})
    assert seeded.status_code == 201 and seeded.json()["agent"]["meta"]["href"].endswith(cp)
    assert names(ms.get("/entity/counterparty", params={"search": "331-22-33"})) == ["Иван Петров"]
    orphan = control.post("/entities/contactperson", params={"account": "acme"}, json={"name": "x"})
    assert orphan.status_code == 400


def test_filter_by_update_moment(ms: Api) -> None:
    assert len(ms.get("/entity/counterparty", params={"filter": "updated>=2000-01-01 00:00"}).json()["rows"]) == 3
    assert ms.get("/entity/counterparty", params={"filter": "updated<2000-01-01 00:00:00"}).json()["rows"] == []
    response = ms.get("/entity/counterparty", params={"filter": "updated>yesterday"})
    assert response.status_code == 400
