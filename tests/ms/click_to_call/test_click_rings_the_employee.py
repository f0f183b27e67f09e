"""A valid click answers 200 at once and, from the background job, rings the right extension with the
right number: the exact AMI actions, the HTTP control service's query, the employee rules of §9."""

from __future__ import annotations

from typing import Any

import pytest
import responses

from tests.fakes.ami_server import FakeAmiServer
from tests.ms.click_to_call.helpers import (DIGITS, ENT, IVANOV, PETROVA, PHONE, SIDOROV, jobs, journal,
                                            originate_rows)


def without_action_id(action: dict[str, str]) -> list[tuple[str, str]]:
    return [(k, v) for k, v in action.items() if k != "ActionID"]


def test_valid_click_answers_ok_at_once_then_rings_the_extension_with_exact_ami_actions(
        make_tenant: Any, post_click: Any, run_jobs: Any, ami: FakeAmiServer, db_url: str) -> None:
    make_tenant()
    response = post_click("151", PHONE, "ivanov@acme")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ok"}
    assert ami.actions == []  # the originate is the job's, not the request's
    assert originate_rows(db_url)[0]["status"] == "pending"

    assert run_jobs() == 1
    assert [without_action_id(a) for a in ami.actions] == [
        [("Action", "Login"), ("Username", "ms"), ("Secret", "s3cret"), ("Events", "call")],
        [("Action", "DBPut"), ("Family", "extcall"), ("Key", "nextcall_151"), ("Val", DIGITS)],
        [("Action", "DBPut"), ("Family", "extcall"), ("Key", "nextname_151"), ("Val", PHONE)],
        [("Action", "Originate"), ("Channel", "Local/151@web-originate"), ("Application", "Dial"),
         ("Data", f"Local/{DIGITS}@inoffice"), ("CallerID", f'"{PHONE}" <{DIGITS}>'), ("Async", "true"),
         ("Timeout", "28000")],
        [("Action", "Logoff")],
    ]
    row = originate_rows(db_url)[0]
    assert row | {"id": None} == {
        "id": None, "extension": "151", "employee_id": IVANOV, "dest_digits": DIGITS, "dest_e164": PHONE,
        "dial_number": DIGITS, "status": "dialled", "attempts": 1, "signature": "upper_key_first",
        "error_code": None, "matched_unique_id": None}
    assert jobs(db_url) == [("ms.originate", "done", None)]
    [accepted] = journal(db_url, "click_to_call.request")
    assert accepted["status"] == "success" and accepted["phone"] == PHONE
    assert accepted["request"]["extension"] == "151" and accepted["request"]["rule"] == "uid"
    [dialled] = journal(db_url, "click_to_call.originate")
    assert dialled["status"] == "success"
    assert dialled["response"]["attempt_id"] == ami.originates()[0]["ActionID"]


@pytest.mark.parametrize(("dial_format", "dest", "dialled"), [
    ("digits", "+375 (29) 123-45-67", DIGITS),
    ("e164", "80291234567", PHONE),
    ("national", "+375291234567", "80291234567"),
    ("e164", "8 (916) 123-45-67", "+79161234567"),
])
def test_destination_is_dialled_in_the_tenants_dial_format(
        make_tenant: Any, post_click: Any, run_jobs: Any, ami: FakeAmiServer, dial_format: str, dest: str,
        dialled: str) -> None:
    make_tenant(dial_format=dial_format)
    assert post_click("151", dest, "ivanov@acme").status_code == 200
    run_jobs()
    [originate] = ami.originates()
    assert originate["Data"] == f"Local/{dialled}@inoffice"
    assert ami.actions_named("DBPut")[0]["Val"] == dialled


@pytest.mark.parametrize(("src", "uid", "extension", "employee", "rule"), [
    ("151", "ivanov@acme", "151", IVANOV, "uid"),            # login; its MoySklad ext is also its PBX ext
    ("999", "petrova@acme", "152", PETROVA, "uid"),          # login wins over a srcNumber nobody has
    ("151", "petrova@acme", "152", PETROVA, "uid"),          # login wins over another employee's extension
    ("201", "", "152", PETROVA, "ms_extension"),             # no login: srcNumber as a MoySklad extension
    ("201", "stranger@acme", "152", PETROVA, "ms_extension"),  # unknown login: falls through
    ("153", "noext@acme", "153", SIDOROV, "pbx_extension"),  # a login without a mapped extension falls through
])
def test_employee_is_found_by_login_then_moysklad_extension_then_pbx_extension(
        make_tenant: Any, post_click: Any, run_jobs: Any, ami: FakeAmiServer, db_url: str, src: str, uid: str,
        extension: str, employee: str, rule: str) -> None:
    make_tenant()
    assert post_click(src, PHONE, uid).status_code == 200
    run_jobs()
    assert ami.originates()[0]["Channel"] == f"Local/{extension}@web-originate"
    row = originate_rows(db_url)[0]
    assert (row["extension"], row["employee_id"]) == (extension, employee)
    assert journal(db_url, "click_to_call.request")[0]["request"]["rule"] == rule


def test_form_body_is_accepted(make_tenant: Any, post_click: Any, run_jobs: Any, ami: FakeAmiServer) -> None:
    make_tenant()
    response = post_click("151", PHONE, "ivanov@acme", form=True)
    assert response.status_code == 200 and response.get_json() == {"status": "ok"}
    run_jobs()
    assert ami.originates()[0]["Data"] == f"Local/{DIGITS}@inoffice"


class FakeLookup:
    def __init__(self, name: str | None = None, error: Exception | None = None) -> None:
        self.name, self.error, self.asked = name, error, []

    def customer_name_for(self, ent: str, phone: str) -> str | None:
        self.asked.append((ent, phone))
        if self.error is not None:
            raise self.error
        return self.name


def test_caller_name_is_the_clients_name_cleaned_and_looked_up_in_the_background(
        make_tenant: Any, post_click: Any, run_jobs: Any, ami: FakeAmiServer, plugin_state: Any) -> None:
    make_tenant()
    hostile = 'ООО "Ромашка"; $(reboot) `id` | x\r\nAction: Command' + "я" * 50
    lookup = plugin_state.lookup = FakeLookup(hostile)
    assert post_click().status_code == 200
    assert lookup.asked == []  # never on the request
    run_jobs()
    assert lookup.asked == [(ENT, PHONE)]
    name = "ООО Ромашка (reboot) id x Action: Comman"  # cleaned, one line, at most 40 characters
    assert ami.actions_named("DBPut")[1]["Val"] == name
    assert ami.originates()[0]["CallerID"] == f'"{name}" <{DIGITS}>'
    assert len(ami.frames) == 5 and all(b"\r\nAction: Command" not in f for f in ami.frames)


def test_failing_lookup_still_rings_with_the_number_as_name(
        make_tenant: Any, post_click: Any, run_jobs: Any, ami: FakeAmiServer, plugin_state: Any) -> None:
    make_tenant()
    plugin_state.lookup = FakeLookup(error=RuntimeError("MoySklad is down"))
    post_click()
    run_jobs()
    assert ami.originates()[0]["CallerID"] == f'"{PHONE}" <{DIGITS}>'


@responses.activate
def test_http_pbx_service_gets_extension_phone_and_client_id(
        make_tenant: Any, post_click: Any, run_jobs: Any, db_url: str) -> None:
    url = "http://127.0.0.1:8018/api/makecallexternal"
    responses.get(url, json={"success": True})
    make_tenant(pbx={"kind": "http", "url": url, "client_id": "client-secret"})
    assert post_click("201", "80291234567", "petrova@acme").status_code == 200
    run_jobs()
    [call] = responses.calls
    assert call.request.url == f"{url}?code=152&phone={DIGITS}&clientId=client-secret"
    assert originate_rows(db_url)[0]["status"] == "dialled"
    assert "client-secret" not in str(journal(db_url, "click_to_call.originate"))


class CountingDirectory:
    """Stands in for the employee directory's refresh (which would ask MoySklad)."""

    def __init__(self, employees: Any) -> None:
        self.employees, self.calls = employees, 0

    def get(self, tenant: Any, *, refresh: bool = False, names: bool = False) -> Any:
        self.calls += 1
        return self.employees


def test_known_employee_is_answered_from_the_cache_and_a_new_one_after_a_directory_refresh(
        make_tenant: Any, post_click: Any, run_jobs: Any, ami: FakeAmiServer, plugin_state: Any) -> None:
    from ms_plugin.employees import EmployeeInfo, EmployeeSet

    make_tenant()
    newcomer = EmployeeInfo("55555555-5555-4555-8555-555555555555", "Новый", uid="new@acme",
                            ms_extension="160")
    plugin_state.directory = directory = CountingDirectory(EmployeeSet({newcomer.employee_id: newcomer}, None))
    assert post_click("151", PHONE, "ivanov@acme").status_code == 200
    assert directory.calls == 0
    assert post_click("160", PHONE, "new@acme").status_code == 200
    assert directory.calls == 1
    run_jobs()
    assert sorted(o["Channel"] for o in ami.originates()) == ["Local/151@web-originate", "Local/160@web-originate"]


def test_enterprise_deactivated_without_a_config_change_is_404_at_once(
        make_tenant: Any, post_click: Any, db_url: str) -> None:
    from tests.factories import sql

    make_tenant()
    assert post_click().status_code == 200  # the tenant is now cached in this worker
    sql(db_url, "UPDATE enterprises SET active = false")
    assert post_click("201", PHONE, "petrova@acme").status_code == 404
