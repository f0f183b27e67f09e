"""Transport rules shared by both APIs: gzip/415, content type, size caps, envelope, routing errors."""
from __future__ import annotations

from typing import Any

import requests

from ms_emulator import EmulatorState, create_emulator

from .helpers import Api, error_code, new_call


def test_json_api_without_gzip_answers_415_with_an_empty_body(ms: Api) -> None:
    response = ms.get("/entity/counterparty", headers={"Accept-Encoding": "identity"})
    assert response.status_code == 415
    assert response.content == b""


def test_phone_api_without_gzip_answers_415_by_default(phone: Api) -> None:
    response = phone.post("/call", json=new_call(), headers={"Accept-Encoding": "identity"})
    assert response.status_code == 415
    assert response.content == b""


def test_gzip_with_zero_quality_counts_as_missing(ms: Api) -> None:
    response = ms.get("/entity/counterparty", headers={"Accept-Encoding": "gzip;q=0, identity"})
    assert response.status_code == 415


def test_phone_gzip_requirement_can_be_relaxed(phone: Api, state: EmulatorState) -> None:
    state.set_knobs(phone_require_gzip=False)
    response = phone.post("/call", json=new_call(), headers={"Accept-Encoding": "identity"})
    assert response.status_code == 200
    assert "Content-Encoding" not in response.headers


def test_responses_are_gzip_compressed_with_utf8_json_content_type(ms: Api) -> None:
    response = ms.get("/entity/organization", stream=True)
    assert response.status_code == 200
    assert response.headers["Content-Encoding"] == "gzip"
    assert response.headers["Content-Type"] == "application/json;charset=utf-8"
    raw = response.raw.read(decode_content=False)
    assert raw[:2] == b"\x1f\x8b"


def test_error_envelope_has_error_code_and_more_info(phone: Api) -> None:
    response = phone.post("/call", json=new_call(externalId=None))
    assert response.status_code == 412
    item = response.json()["errors"][0]
    assert item["code"] == 3000
    assert item["parameter"] == "externalId"
    assert item["error"] and item["moreInfo"].startswith("https://dev.moysklad.ru/")


def test_unknown_path_is_404_code_1002(phone: Api, ms: Api) -> None:
    assert phone.get("/nothing").status_code == 404
    assert error_code(phone.get("/nothing")) == 1002
    assert error_code(ms.get("/entity/nothing/here")) == 1002


def test_wrong_method_is_405_code_1039(phone: Api, ms: Api) -> None:
    response = phone.request("DELETE", "/call/00000000-0000-0000-0000-000000000001")
    assert response.status_code == 405 and error_code(response) == 1039
    response = ms.request("DELETE", "/entity/organization")
    assert response.status_code == 405 and error_code(response) == 1039


def test_body_that_is_not_json_is_400_code_2001(phone: Api) -> None:
    response = phone.post("/call", data=b"externalId=1", headers={"Content-Type": "application/json"})
    assert response.status_code == 400 and error_code(response) == 2001


def test_array_body_for_a_single_entity_is_400_code_2009(phone: Api) -> None:
    response = phone.post("/call", json=[new_call()])
    assert response.status_code == 400 and error_code(response) == 2009


def test_scalar_json_body_is_400_code_2005(phone: Api) -> None:
    response = phone.post("/call", json=42)
    assert response.status_code == 400 and error_code(response) == 2005


def test_body_over_the_size_cap_is_413(phone: Api, ms: Api, state: EmulatorState) -> None:
    state.set_knobs(phone_max_body_bytes=1000, json_max_body_bytes=1000)
    big = new_call(comment="x" * 2000)
    response = phone.post("/call", json=big)
    assert response.status_code == 413 and error_code(response) == 1044
    assert ms.post("/entity/counterparty", json={"name": "y" * 2000}).status_code == 413


def test_default_size_caps_are_10_and_20_megabytes(state: EmulatorState) -> None:
    assert state.knobs.phone_max_body_bytes == 10 * 1024 * 1024
    assert state.knobs.json_max_body_bytes == 20 * 1024 * 1024


def test_pretty_print_header_indents_the_json(phone: Api) -> None:
    response = phone.get("/employee", headers={"Lognex-Pretty-Print-JSON": "true"})
    assert b"\n  " in response.content


def test_cyrillic_is_sent_as_raw_utf8(ms: Api) -> None:
    response = ms.get("/entity/organization")
    assert "ООО «Акме»".encode() in response.content


def test_flask_test_client_works_without_a_server(account: dict[str, Any], state: EmulatorState) -> None:
    client = create_emulator(state).test_client()
    response = client.get("/api/phone/1.0/employee", headers={"Lognex-Phone-Auth-Token": account["phone_key"],
                                                              "Accept-Encoding": "gzip"})
    assert response.status_code == 200
    assert response.headers["Content-Encoding"] == "gzip"


def test_emulator_serves_only_loopback_urls(emu: Any, http: requests.Session) -> None:
    assert emu.url.startswith("http://127.0.0.1:")
    assert emu.phone_api_url == emu.url + "/api/phone/1.0"
    assert emu.json_api_url == emu.url + "/api/remap/1.2"


def test_strict_accept_refuses_non_json_accept_with_406_code_1062(phone: Api, state: EmulatorState) -> None:
    assert phone.get("/employee", headers={"Accept": "text/html"}).status_code == 200  # lenient by default
    state.set_knobs(strict_accept=True)
    response = phone.get("/employee", headers={"Accept": "text/html"})
    assert response.status_code == 406 and error_code(response) == 1062
    assert phone.get("/employee", headers={"Accept": "application/json;charset=utf-8"}).status_code == 200
    assert phone.get("/employee", headers={"Accept": "*/*"}).status_code == 200
