"""Phone API calls: auth, validation codes, write-once/append rules and server-side resolution."""
from __future__ import annotations

from typing import Any

import pytest

from ms_emulator import EmulatorState

from .helpers import Api, counterparty_id, cp_meta, emp_meta, employee_id, error_code, new_call


# ---- auth --------------------------------------------------------------------------------------------
def test_missing_key_is_401_code_1056(phone: Api) -> None:
    response = phone.get("/employee", headers={"Lognex-Phone-Auth-Token": ""})
    assert response.status_code == 401 and error_code(response) == 1056


def test_unknown_key_is_401_code_1056(phone: Api) -> None:
    response = phone.post("/call", json=new_call(), headers={"Lognex-Phone-Auth-Token": "f" * 40})
    assert response.status_code == 401 and error_code(response) == 1056


def test_basic_auth_does_not_open_the_phone_api(phone: Api) -> None:
    response = phone.get("/employee", headers={"Lognex-Phone-Auth-Token": "", "Authorization": "Basic YTpi"})
    assert response.status_code == 401


def test_disabled_telephony_is_403_code_55008(phone: Api, state: EmulatorState) -> None:
    state.set_account_flags("acme", telephony_enabled=False)
    response = phone.post("/call", json=new_call())
    assert response.status_code == 403 and error_code(response) == 55008


def test_blocked_account_is_401(phone: Api, state: EmulatorState) -> None:
    state.set_account_flags("acme", blocked=True)
    assert phone.get("/employee").status_code == 401


# ---- create ------------------------------------------------------------------------------------------
def test_create_returns_200_with_the_documented_shape(phone: Api) -> None:
    response = phone.post("/call", json=new_call(extension="150", comment="hello"))
    assert response.status_code == 200
    call = response.json()
    assert call["meta"] == {"href": f"https://api.moysklad.ru/api/phone/1.0/call/{call['id']}",
                            "type": "call", "mediaType": "application/json"}
    assert call["startTime"] == "2026-04-07 12:00:00.000"  # echoed with .000
    assert call["endTime"] is None and call["duration"] is None and call["recordUrl"] == []
    assert "counterparty" not in call and "counterpartyowner" not in call
    assert call["comment"] == "hello"


@pytest.mark.parametrize("field", ["externalId", "number", "isIncoming", "startTime"])
def test_missing_required_field_is_412_code_3000_naming_it(phone: Api, field: str) -> None:
    body = new_call()
    del body[field]
    response = phone.post("/call", json=body)
    assert response.status_code == 412
    error = response.json()["errors"][0]
    assert (error["code"], error["parameter"]) == (3000, field)


@pytest.mark.parametrize("value", ["2026-04-07T12:00:00", "07.04.2026 12:00", "2026-02-30 10:00:00", 1712491200])
def test_bad_start_time_is_400_code_2017(phone: Api, value: Any) -> None:
    response = phone.post("/call", json=new_call(startTime=value))
    assert response.status_code == 400 and error_code(response) == 2017


def test_start_time_with_milliseconds_is_kept(phone: Api) -> None:
    call = phone.post("/call", json=new_call(startTime="2026-04-07 12:00:00.123")).json()
    assert call["startTime"] == "2026-04-07 12:00:00.123"


def test_is_incoming_must_be_a_boolean(phone: Api) -> None:
    response = phone.post("/call", json=new_call(isIncoming="true"))
    assert response.status_code == 400 and error_code(response) == 2017


def test_duplicate_external_id_is_rejected_with_3006_by_default(phone: Api) -> None:
    assert phone.post("/call", json=new_call()).status_code == 200
    response = phone.post("/call", json=new_call())
    assert response.status_code == 412 and error_code(response) == 3006


def test_duplicate_external_id_allowed_and_extid_addresses_the_newest(phone: Api, state: EmulatorState) -> None:
    state.set_knobs(duplicate_external_id="allow")
    first = phone.post("/call", json=new_call()).json()
    second = phone.post("/call", json=new_call()).json()
    assert first["id"] != second["id"]
    updated = phone.put("/call/extid/pbx-1.1", json={"comment": "newest"}).json()
    assert updated["id"] == second["id"]


def test_unknown_call_is_404_code_1021(phone: Api) -> None:
    response = phone.get("/call/0d3e6a10-3a40-11f1-0a80-0c6a00000042")
    assert response.status_code == 404 and error_code(response) == 1021
    response = phone.put("/call/extid/nope", json={})
    assert response.status_code == 404 and error_code(response) == 1021


def test_malformed_uuid_is_400_code_1052(phone: Api) -> None:
    response = phone.get("/call/not-a-uuid")
    assert response.status_code == 400 and error_code(response) == 1052


def test_unknown_json_fields_are_ignored(phone: Api) -> None:
    assert phone.post("/call", json=new_call(**{"from": "x"})).status_code == 200


def test_get_returns_the_stored_call(phone: Api) -> None:
    created = phone.post("/call", json=new_call()).json()
    assert phone.get(f"/call/{created['id']}").json() == created


def test_empty_put_by_extid_probes_existence(phone: Api) -> None:
    assert phone.put("/call/extid/pbx-1.1", json={}).status_code == 404
    phone.post("/call", json=new_call())
    assert phone.put("/call/extid/pbx-1.1", json={}).status_code == 200


# ---- resolution --------------------------------------------------------------------------------------
def test_employee_is_resolved_from_extension(phone: Api, account: dict[str, Any]) -> None:
    call = phone.post("/call", json=new_call(extension="151")).json()
    assert call["employee"] == emp_meta(employee_id(account, "151"))
    assert call["extension"] == "151"


def test_given_employee_wins_over_extension(phone: Api, account: dict[str, Any]) -> None:
    call = phone.post("/call", json=new_call(extension="151", employee=emp_meta(employee_id(account, "152")))).json()
    assert call["employee"]["href"].endswith(employee_id(account, "152"))
    assert call["extension"] == "151"


def test_wrapped_meta_is_accepted_for_employee(phone: Api, account: dict[str, Any]) -> None:
    emp = employee_id(account, "152")
    call = phone.post("/call", json=new_call(employee={"meta": emp_meta(emp)})).json()
    assert call["employee"] == emp_meta(emp)


def test_unknown_extension_leaves_employee_empty(phone: Api) -> None:
    call = phone.post("/call", json=new_call(extension="999")).json()
    assert call["extension"] == "999" and "employee" not in call


@pytest.mark.parametrize(("ref", "code"), [
    ({"type": "employee"}, 2010),
    ({"href": "https://api.moysklad.ru/api/remap/1.2/entity/employee/x"}, 2011),
    ({"href": "https://api.moysklad.ru/api/remap/1.2/entity/employee/0d3e6a10-3a40-11f1-0a80-0c6a00000042",
      "type": "counterparty"}, 1060),
    ({"href": "https://api.moysklad.ru/api/remap/1.2/entity/employee/0d3e6a10-3a40-11f1-0a80-0c6a00000042",
      "type": "employee"}, 2013),
])
def test_bad_employee_meta_is_refused(phone: Api, ref: dict[str, str], code: int) -> None:
    response = phone.post("/call", json=new_call(employee=ref))
    assert response.status_code == 400 and error_code(response) == code


def test_counterparty_is_matched_by_digits_with_owner(phone: Api, account: dict[str, Any]) -> None:
    call = phone.post("/call", json=new_call(number="+79161234567")).json()
    assert call["counterparty"] == cp_meta(counterparty_id(account, "ООО «Ромашка»"))
    owner = employee_id(account, "151")
    assert call["counterpartyowner"] == {"extention": "151", "meta": emp_meta(owner)}


def test_counterparty_is_matched_through_a_contact_person(phone: Api, account: dict[str, Any]) -> None:
    call = phone.post("/call", json=new_call(number="375447654321")).json()
    assert call["counterparty"]["href"].endswith(counterparty_id(account, "ООО «Ромашка»"))


def test_exact_digits_strategy_does_not_match_a_national_form(phone: Api) -> None:
    call = phone.post("/call", json=new_call(number="89161234567")).json()
    assert "counterparty" not in call


def test_last10_strategy_matches_a_national_form(phone: Api, state: EmulatorState, account: dict[str, Any]) -> None:
    state.set_knobs(counterparty_match="last10")
    call = phone.post("/call", json=new_call(number="8 916 123 45 67")).json()
    assert call["counterparty"]["href"].endswith(counterparty_id(account, "ООО «Ромашка»"))


def test_archived_counterparties_are_not_matched(phone: Api) -> None:
    assert "counterparty" not in phone.post("/call", json=new_call(number="+79990001122")).json()


def test_given_counterparty_wins_over_number(phone: Api, account: dict[str, Any]) -> None:
    cp = counterparty_id(account, "Иван Петров")
    call = phone.post("/call", json=new_call(number="+79161234567", counterparty=cp_meta(cp))).json()
    assert call["counterparty"] == cp_meta(cp)
    assert call["number"] == "+79161234567"


def test_counterparty_ref_with_any_host_is_accepted(phone: Api, account: dict[str, Any]) -> None:
    cp = counterparty_id(account, "Иван Петров")
    ref = {"href": f"http://127.0.0.1:1/api/remap/1.2/entity/counterparty/{cp}", "type": "counterparty"}
    assert phone.post("/call", json=new_call(counterparty=ref)).json()["counterparty"] == cp_meta(cp)


# ---- update rules ------------------------------------------------------------------------------------
def test_put_does_not_overwrite_extension_once_set(phone: Api, account: dict[str, Any]) -> None:
    phone.post("/call", json=new_call(extension="150"))
    call = phone.put("/call/extid/pbx-1.1", json={"extension": "151"}).json()
    assert call["extension"] == "150"
    assert call["employee"]["href"].endswith(employee_id(account, "150"))


def test_put_sets_extension_and_employee_when_empty(phone: Api, account: dict[str, Any]) -> None:
    phone.post("/call", json=new_call())
    call = phone.put("/call/extid/pbx-1.1", json={"extension": "152"}).json()
    assert call["extension"] == "152"
    assert call["employee"]["href"].endswith(employee_id(account, "152"))


def test_put_does_not_overwrite_employee(phone: Api, account: dict[str, Any]) -> None:
    phone.post("/call", json=new_call(employee=emp_meta(employee_id(account, "150"))))
    call = phone.put("/call/extid/pbx-1.1", json={"employee": emp_meta(employee_id(account, "151"))}).json()
    assert call["employee"]["href"].endswith(employee_id(account, "150"))


def test_put_may_set_counterparty_when_empty_but_never_overwrite_it(phone: Api, account: dict[str, Any]) -> None:
    created = phone.post("/call", json=new_call(number="+70000000000")).json()
    assert "counterparty" not in created
    first, second = counterparty_id(account, "Иван Петров"), counterparty_id(account, "ООО «Ромашка»")
    assert phone.put("/call/extid/pbx-1.1", json={"counterparty": cp_meta(first)}).json()["counterparty"] == cp_meta(first)
    assert phone.put("/call/extid/pbx-1.1", json={"counterparty": cp_meta(second)}).json()["counterparty"] == cp_meta(first)


def test_put_never_changes_start_time_number_or_direction(phone: Api) -> None:
    phone.post("/call", json=new_call())
    call = phone.put("/call/extid/pbx-1.1", json={"startTime": "2026-04-07 13:00:00", "number": "+1",
                                                  "isIncoming": False, "externalId": "other"}).json()
    assert call["startTime"] == "2026-04-07 12:00:00.000"
    assert call["number"] == "+375290000000" and call["isIncoming"] is True and call["externalId"] == "pbx-1.1"


def test_end_time_and_duration_are_write_once(phone: Api) -> None:
    phone.post("/call", json=new_call())
    first = phone.put("/call/extid/pbx-1.1", json={"endTime": "2026-04-07 12:03:15"}).json()
    assert first["endTime"] == "2026-04-07 12:03:15.000"
    again = phone.put("/call/extid/pbx-1.1", json={"endTime": "2026-04-07 12:09:00", "duration": 5}).json()
    assert again["endTime"] == "2026-04-07 12:03:15.000" and again["duration"] == 195000


def test_duration_is_derived_in_milliseconds_from_end_time(phone: Api) -> None:
    call = phone.post("/call", json=new_call(endTime="2026-04-07 12:00:01.500")).json()
    assert call["duration"] == 1500


def test_end_time_wins_over_duration(phone: Api) -> None:
    call = phone.post("/call", json=new_call(endTime="2026-04-07 12:01:00", duration=7)).json()
    assert call["duration"] == 60000


def test_duration_derivation_can_be_switched_off(phone: Api, state: EmulatorState) -> None:
    state.set_knobs(derive_duration=False)
    phone.post("/call", json=new_call())
    call = phone.put("/call/extid/pbx-1.1", json={"endTime": "2026-04-07 12:01:00"}).json()
    assert call["duration"] is None
    assert phone.put("/call/extid/pbx-1.1", json={"duration": 42}).json()["duration"] == 42


def test_duration_alone_leaves_end_time_null(phone: Api) -> None:
    call = phone.post("/call", json=new_call(duration=3000)).json()
    assert call["duration"] == 3000 and call["endTime"] is None


def test_end_time_before_start_time_is_refused(phone: Api) -> None:
    response = phone.post("/call", json=new_call(endTime="2026-04-07 11:59:59"))
    assert response.status_code == 412 and error_code(response) == 3007


def test_record_url_appends_without_dedupe(phone: Api) -> None:
    phone.post("/call", json=new_call(recordUrl=["https://rec/1.mp3"]))
    phone.put("/call/extid/pbx-1.1", json={"recordUrl": ["https://rec/1.mp3"]})
    call = phone.put("/call/extid/pbx-1.1", json={"recordUrl": ["https://rec/2.mp3"]}).json()
    assert call["recordUrl"] == ["https://rec/1.mp3", "https://rec/1.mp3", "https://rec/2.mp3"]


def test_comment_is_overwritten_when_not_null(phone: Api) -> None:
    phone.post("/call", json=new_call(comment="first"))
    assert phone.put("/call/extid/pbx-1.1", json={"comment": "second"}).json()["comment"] == "second"
    assert phone.put("/call/extid/pbx-1.1", json={"comment": None}).json()["comment"] == "second"
    assert phone.put("/call/extid/pbx-1.1", json={}).json()["comment"] == "second"


def test_comment_is_silently_truncated_to_4096(phone: Api) -> None:
    call = phone.post("/call", json=new_call(comment="я" * 5000)).json()
    assert len(call["comment"]) == 4096
    call = phone.put("/call/extid/pbx-1.1", json={"comment": "ж" * 4097}).json()
    assert call["comment"] == "ж" * 4096


def test_put_by_id_and_by_extid_update_the_same_call(phone: Api) -> None:
    created = phone.post("/call", json=new_call()).json()
    phone.put(f"/call/{created['id']}", json={"comment": "by id"})
    assert phone.put("/call/extid/pbx-1.1", json={}).json()["comment"] == "by id"


# ---- /employee ----------------------------------------------------------------------------------------
def test_employee_list_returns_only_employees_with_extension(phone: Api, account: dict[str, Any]) -> None:
    rows = phone.get("/employee").json()["employees"]
    assert sorted(r["extention"] for r in rows) == ["150", "151", "152"]
    assert rows[0]["meta"]["type"] == "employee"


def test_employee_filter_exact_and_prefix(phone: Api, account: dict[str, Any]) -> None:
    exact = phone.get("/employee", params={"filter": "extention=151"}).json()["employees"]
    assert [r["meta"]["href"].rsplit("/", 1)[1] for r in exact] == [employee_id(account, "151")]
    prefix = phone.get("/employee", params={"filter": "extention~=15"}).json()["employees"]
    assert len(prefix) == 3
    assert phone.get("/employee", params={"filter": "extention=9"}).json() == {"employees": []}


def test_employee_filter_or_and_suffix(phone: Api) -> None:
    rows = phone.get("/employee", params={"filter": "extention=150;extention=152"}).json()["employees"]
    assert sorted(r["extention"] for r in rows) == ["150", "152"]
    assert len(phone.get("/employee", params={"filter": "extention=~1"}).json()["employees"]) == 1


def test_employee_filter_on_unknown_field_is_1034(phone: Api) -> None:
    response = phone.get("/employee", params={"filter": "name=Иван"})
    assert response.status_code == 400 and error_code(response) == 1034
