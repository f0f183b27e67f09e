"""Contract §9, rows 1-3 and 7: 404, 415, 400, 413, 422, 409, and that a refused click dials nothing.

Every refusal is checked end to end: the status and error code, then the background jobs are run and
the fake AMI server must have seen no connection at all (so no Originate, no DBPut).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from tests.factories import sql
from tests.fakes.ami_server import FakeAmiServer
from tests.ms.click_to_call.helpers import ENT, KEY, PHONE, UUID, journal, ms_section, originate_rows


@pytest.fixture
def nothing_dialled(ami: FakeAmiServer, run_jobs: Any, db_url: str) -> Iterator[None]:
    yield
    run_jobs(include_delayed=True)
    assert ami.connections == 0 and ami.originates() == [] and ami.actions == []
    assert originate_rows(db_url) == []


def error_code(response: Any) -> str:
    return response.get_json()["error"]["code"]


# -- 404 ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", [
    "00000000-0000-4000-8000-000000000000",  # nobody's uuid
    UUID.upper() + "0",
    "2f6c1a9e' OR '1'='1",
    "%25",
    "x" * 65,
])
def test_unknown_webhook_is_404(make_tenant: Any, post_click: Any, nothing_dialled: None, path: str) -> None:
    make_tenant()
    response = post_click(path=path)
    assert response.status_code == 404 and error_code(response) == "not_found"


def test_webhook_uuid_in_upper_case_still_finds_its_tenant(make_tenant: Any, post_click: Any) -> None:
    make_tenant()
    assert post_click(path=UUID.upper()).status_code == 200


@pytest.mark.parametrize("change", ["disabled", "inactive"])
def test_disabled_integration_or_inactive_enterprise_is_404(
        make_tenant: Any, post_click: Any, nothing_dialled: None, change: str) -> None:
    if change == "disabled":
        make_tenant(section={**ms_section(), "enabled": False})
    else:
        make_tenant(active=False)
    assert post_click().status_code == 404


def test_rotated_webhook_uuid_stops_working(make_tenant: Any, post_click: Any, nothing_dialled: None,
                                            db_url: str) -> None:
    make_tenant()
    sql(db_url, "UPDATE enterprises SET integrations_config = jsonb_set(integrations_config, "
                "'{ms,webhook_uuid}', '\"5d1b7c2e-0c1f-4b8e-a3f6-7e2d9c4b1a00\"'), "
                "config_version = config_version + 1 WHERE number = %s", (ENT,))
    assert post_click().status_code == 404


def test_webhook_uuid_shared_by_two_enterprises_is_refused(make_tenant: Any, post_click: Any,
                                                         nothing_dialled: None) -> None:
    make_tenant(ENT)
    make_tenant("0368")
    assert post_click().status_code == 404


def test_seed_path_with_enterprise_number_works_only_under_enforce(
        make_tenant: Any, post_click: Any, run_jobs: Any, ami: FakeAmiServer) -> None:
    make_tenant(ENT, signature_mode="enforce")
    make_tenant("0368", section={**ms_section(signature_mode="log"), "webhook_uuid": None})
    make_tenant("0369", section={**ms_section(signature_mode="off"), "webhook_uuid": None})
    assert post_click(path=ENT).status_code == 200
    assert post_click(path="0368").status_code == 404
    assert post_click(path="0369").status_code == 404
    assert post_click(path=ENT, variant=None).status_code == 403  # enforce means signed
    run_jobs()
    assert len(ami.originates()) == 1


def test_unknown_webhook_wins_over_a_bad_body(make_tenant: Any, client: Any, nothing_dialled: None) -> None:
    make_tenant()
    response = client.post("/ms/webhook/00000000-0000-4000-8000-000000000000", data="{",
                           headers={"Content-Type": "text/plain"})
    assert response.status_code == 404


# -- 415, 400, 413 -------------------------------------------------------------------------------------


@pytest.mark.parametrize("content_type", ["text/plain", "application/xml", "", "application/octet-stream"])
def test_body_that_is_neither_json_nor_form_is_415(make_tenant: Any, client: Any, nothing_dialled: None,
                                                   db_url: str, content_type: str) -> None:
    make_tenant()
    body = json.dumps({"srcNumber": "151", "destNumber": PHONE, "uid": "ivanov@acme"})
    headers = {"Content-Type": content_type} if content_type else {}
    response = client.post(f"/ms/webhook/{UUID}", data=body, headers=headers)
    assert response.status_code == 415 and error_code(response) == "unsupported_media_type"
    assert journal(db_url, "click_to_call.request")[0]["response"]["status"] == 415


@pytest.mark.parametrize("body", [b"{", b'{"srcNumber": "151",', b"\xff\xfe", b"[" * 5000])
def test_json_that_does_not_parse_is_400_bad_json(make_tenant: Any, post_click: Any, nothing_dialled: None,
                                                  body: bytes) -> None:
    make_tenant()
    response = post_click(body=body)
    assert response.status_code == 400 and error_code(response) == "bad_json"


def test_body_over_one_mebibyte_is_413(make_tenant: Any, post_click: Any, nothing_dialled: None) -> None:
    make_tenant()
    body = json.dumps({"srcNumber": "151", "destNumber": PHONE, "uid": "ivanov@acme",
                       "pad": "x" * (1024 * 1024)}).encode()
    response = post_click(body=body)
    assert response.status_code == 413 and error_code(response) == "payload_too_large"


def test_huge_form_body_is_413(make_tenant: Any, post_click: Any, nothing_dialled: None) -> None:
    make_tenant()
    body = b"srcNumber=151&destNumber=%2B375291234567&uid=ivanov%40acme&pad=" + b"x" * (1024 * 1024)
    assert post_click(body=body, form=True).status_code == 413


# -- 422 ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("body", "field"), [
    ({"destNumber": PHONE, "uid": "ivanov@acme"}, "srcNumber"),
    ({"srcNumber": "151", "uid": "ivanov@acme"}, "destNumber"),
    ({"srcNumber": "151", "destNumber": PHONE}, "uid"),
    ({"srcNumber": 151, "destNumber": PHONE, "uid": "ivanov@acme"}, "srcNumber"),
    ({"srcNumber": "151", "destNumber": None, "uid": "ivanov@acme"}, "destNumber"),
    ({"srcNumber": "", "destNumber": PHONE, "uid": ""}, "srcNumber"),
    ({"srcNumber": "151", "destNumber": "", "uid": "ivanov@acme"}, "destNumber"),
])
def test_missing_or_mistyped_fields_are_422(make_tenant: Any, post_click: Any, nothing_dialled: None,
                                            body: dict[str, Any], field: str) -> None:
    make_tenant(signature_mode="off")
    response = post_click(body=json.dumps(body).encode())
    assert response.status_code == 422 and error_code(response) == "validation_error"
    assert field in response.get_json()["error"]["details"]


def test_json_that_is_not_an_object_is_422(make_tenant: Any, post_click: Any, nothing_dialled: None) -> None:
    make_tenant()
    assert post_click(body=b'["151", "+375291234567"]').status_code == 422


HOSTILE = [
    ("151", "+375291234567;reboot", "ivanov@acme", "destNumber"),
    ("151", "+375291234567 | sh", "ivanov@acme", "destNumber"),
    ("151", "$(reboot)", "ivanov@acme", "destNumber"),
    ("151", "80291234567`id`", "ivanov@acme", "destNumber"),
    ("151", "+375291234567&&id", "ivanov@acme", "destNumber"),
    ("151", "+375291234567\r\nAction: Command\r\nCommand: core stop now", "ivanov@acme", "destNumber"),
    ("151", "+375291234567\n", "ivanov@acme", "destNumber"),
    ("151\r\nAction: Command", PHONE, "ivanov@acme", "srcNumber"),
    ("151;reboot", PHONE, "ivanov@acme", "srcNumber"),
    ("$(id)", PHONE, "ivanov@acme", "srcNumber"),
    ("1", PHONE, "ivanov@acme", "srcNumber"),
    ("1234567", PHONE, "ivanov@acme", "srcNumber"),
    ("151", PHONE, "ivanov@acme\r\nAction: Command", "uid"),
    ("151", PHONE, "ivanov@acme `id`", "uid"),
    ("151", "+37529123456a", "ivanov@acme", "destNumber"),
    ("151", "12345", "ivanov@acme", "destNumber"),          # an extension, not a phone number
    ("151", "+3752912345678901234", "ivanov@acme", "destNumber"),
    ("151", "+375 29 123+45 67", "ivanov@acme", "destNumber"),
    ("151", "тел. 80291234567", "ivanov@acme", "destNumber"),
    ("151", "８０２９１２３４５６７", "ivanov@acme", "destNumber"),   # full-width digits
]


@pytest.mark.parametrize(("src", "dest", "uid", "field"), HOSTILE)
@pytest.mark.parametrize("form", [False, True])
def test_hostile_values_are_422_and_nothing_is_originated(
        make_tenant: Any, post_click: Any, nothing_dialled: None, db_url: str, src: str, dest: str, uid: str,
        field: str, form: bool) -> None:
    make_tenant(signature_mode="log")  # a valid signature is not what protects the PBX
    response = post_click(src, dest, uid, form=form)
    assert response.status_code == 422, response.get_json()
    assert field in response.get_json()["error"]["details"]
    [refused] = journal(db_url, "click_to_call.request")
    assert refused["status"] == "error"


def test_line_break_in_an_unknown_field_is_422(make_tenant: Any, post_click: Any, nothing_dialled: None) -> None:
    make_tenant()
    body = json.dumps({"srcNumber": "151", "destNumber": PHONE, "uid": "ivanov@acme", "note": "a\r\nAction: X"})
    response = post_click(body=body.encode())
    assert response.status_code == 422 and "note" in response.get_json()["error"]["details"]


@pytest.mark.parametrize(("src", "uid"), [
    ("999", "stranger@acme"),  # nobody
    ("", "noext@acme"),        # an employee, but no PBX extension is mapped to them
    ("154", ""),               # an extension nobody has
])
def test_unknown_employee_is_422(make_tenant: Any, post_click: Any, nothing_dialled: None, db_url: str, src: str,
                                 uid: str) -> None:
    make_tenant()
    response = post_click(src, PHONE, uid)
    assert response.status_code == 422
    assert set(response.get_json()["error"]["details"]) == {"uid", "srcNumber"}
    assert journal(db_url, "click_to_call.request")[0]["error"] == "unknown employee"


def test_validation_comes_before_the_signature(make_tenant: Any, post_click: Any, nothing_dialled: None) -> None:
    make_tenant(signature_mode="enforce")
    assert post_click("151", "$(reboot)", "ivanov@acme", variant=None).status_code == 422


# -- 409 ---------------------------------------------------------------------------------------------


def test_enterprise_without_pbx_is_409(make_tenant: Any, post_click: Any, nothing_dialled: None,
                                       db_url: str) -> None:
    make_tenant(pbx=None)
    response = post_click()
    assert response.status_code == 409 and error_code(response) == "pbx_not_configured"
    assert journal(db_url, "click_to_call.request")[0]["status"] == "error"


def test_wrong_method_is_405(make_tenant: Any, client: Any) -> None:
    make_tenant()
    assert client.get(f"/ms/webhook/{UUID}").status_code == 405


def test_signature_key_never_reaches_the_journal(make_tenant: Any, post_click: Any, db_url: str) -> None:
    make_tenant()
    post_click()
    post_click(key="f" * 40)
    assert KEY not in str(sql(db_url, "SELECT * FROM integration_logs"))
