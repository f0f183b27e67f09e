"""JSON API authentication: Basic, Bearer tokens from /security/token and their revocation."""
from __future__ import annotations

from typing import Any

from ms_emulator import EmulatorState

from .helpers import Api, basic, error_code


def test_basic_auth_with_login_and_password_works(ms: Api) -> None:
    assert ms.get("/entity/employee").status_code == 200


def test_wrong_password_is_401_code_1056(ms: Api) -> None:
    response = ms.get("/entity/employee", headers={"Authorization": basic("admin@acme", "nope")})
    assert response.status_code == 401 and error_code(response) == 1056


def test_login_without_account_part_is_401(ms: Api) -> None:
    response = ms.get("/entity/employee", headers={"Authorization": basic("admin", "admin-pw")})
    assert response.status_code == 401
    assert "формат имени" in response.json()["errors"][0]["error"]


def test_missing_credentials_is_401(ms: Api) -> None:
    assert ms.get("/entity/employee", headers={"Authorization": ""}).status_code == 401


def test_security_token_mints_a_bearer_token(ms: Api) -> None:
    response = ms.post("/security/token")
    assert response.status_code == 200
    token = response.json()["access_token"]
    assert len(token) == 40 and int(token, 16) >= 0
    assert ms.get("/entity/employee", headers={"Authorization": f"Bearer {token}"}).status_code == 200


def test_a_new_token_revokes_the_users_earlier_tokens(ms: Api) -> None:
    first = ms.post("/security/token").json()["access_token"]
    second = ms.post("/security/token").json()["access_token"]
    assert ms.get("/entity/employee", headers={"Authorization": f"Bearer {first}"}).status_code == 401
    assert ms.get("/entity/employee", headers={"Authorization": f"Bearer {second}"}).status_code == 200


def test_tokens_of_other_users_survive(ms: Api) -> None:
    other = ms.post("/security/token", headers={"Authorization": basic("petrova@acme", "petrova-pw")})
    ms.post("/security/token")
    token = other.json()["access_token"]
    assert ms.get("/entity/employee", headers={"Authorization": f"Bearer {token}"}).status_code == 200


def test_security_token_needs_basic_credentials(ms: Api) -> None:
    token = ms.post("/security/token").json()["access_token"]
    assert ms.post("/security/token", headers={"Authorization": f"Bearer {token}"}).status_code == 401


def test_context_employee_is_the_current_user(ms: Api, account: dict[str, Any]) -> None:
    body = ms.get("/context/employee").json()
    assert body["uid"] == "admin@acme"
    assert body["id"] == account["users"][0]["employee_id"]
    assert body["meta"]["href"] == "https://api.moysklad.ru/api/remap/1.2/context/employee"


def test_blocked_account_is_401(ms: Api, state: EmulatorState) -> None:
    state.set_account_flags("acme", blocked=True)
    response = ms.get("/entity/employee")
    assert response.status_code == 401 and error_code(response) == 1056


def test_phone_key_does_not_open_the_json_api(ms: Api, account: dict[str, Any]) -> None:
    response = ms.get("/entity/employee", headers={"Authorization": "", "Lognex-Phone-Auth-Token": account["phone_key"]})
    assert response.status_code == 401


def test_preset_token_from_the_account_spec_works(state: EmulatorState, ms: Api) -> None:
    info = state.create_account({"name": "tok", "employees": [{"name": "A", "login": "a", "token": "ab" * 20}]})
    assert info["users"][0]["tokens"] == ["ab" * 20]
    assert ms.get("/entity/employee", headers={"Authorization": "Bearer " + "ab" * 20}).status_code == 200
