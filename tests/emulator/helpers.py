"""Helpers shared by the emulator tests (plain functions; fixtures live in conftest.py)."""
from __future__ import annotations

import base64
from typing import Any

import requests

ACCOUNT_SPEC: dict[str, Any] = {
    "name": "acme",
    "employees": [
        {"firstName": "Иван", "lastName": "Иванов", "extension": "150", "login": "admin", "password": "admin-pw"},
        {"firstName": "Мария", "lastName": "Петрова", "extension": "151", "login": "petrova", "password": "petrova-pw"},
        {"firstName": "Олег", "lastName": "Сидоров", "extension": "152"},
        {"firstName": "Без", "lastName": "Добавочного", "email": "noext@acme.example"},
    ],
    "organizations": [{"name": "ООО «Акме»"}],
    "sales_channels": [{"name": "Телефонный звонок", "type": "DIRECT_SALES"}],
    "counterparties": [
        {"name": "ООО «Ромашка»", "phone": "+7 (916) 123-45-67", "owner": "151", "email": "info@romashka.ru",
         "contactpersons": [{"name": "Анна Смирнова", "phone": "+375 44 765-43-21", "email": "anna@romashka.ru"}]},
        {"name": "Иван Петров", "phone": "+375291112233", "owner": "152", "tags": ["vip"]},
        {"name": "Архивный", "phone": "+79990001122", "archived": True},
    ],
}


class Api:
    """Thin helper: base URL + default headers; responses are plain `requests` responses."""

    def __init__(self, session: requests.Session, base: str, headers: dict[str, str]) -> None:
        self.session, self.base, self.headers = session, base, headers

    def request(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        headers = {**self.headers, **kwargs.pop("headers", {})}
        return self.session.request(method, self.base + path, headers=headers, timeout=10, **kwargs)

    def get(self, path: str, **kwargs: Any) -> requests.Response:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, **kwargs: Any) -> requests.Response:
        return self.request("POST", path, **kwargs)

    def put(self, path: str, **kwargs: Any) -> requests.Response:
        return self.request("PUT", path, **kwargs)


def basic(login: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{login}:{password}".encode()).decode()


def employee_id(account: dict[str, Any], extension: str) -> str:
    return next(e["id"] for e in account["employees"] if e["extension"] == extension)


def counterparty_id(account: dict[str, Any], name: str) -> str:
    return next(c["id"] for c in account["counterparties"] if c["name"] == name)


def new_call(**overrides: Any) -> dict[str, Any]:
    body = {"externalId": "pbx-1.1", "number": "+375290000000", "isIncoming": True,
            "startTime": "2026-04-07 12:00:00"}
    body.update(overrides)
    return body


def emp_meta(emp_id: str) -> dict[str, str]:
    return {"href": f"https://api.moysklad.ru/api/remap/1.2/entity/employee/{emp_id}", "type": "employee",
            "mediaType": "application/json"}


def cp_meta(cp_id: str) -> dict[str, str]:
    return {"href": f"https://api.moysklad.ru/api/remap/1.2/entity/counterparty/{cp_id}", "type": "counterparty",
            "mediaType": "application/json"}


def error_code(response: requests.Response) -> int:
    return response.json()["errors"][0]["code"]


def parallel(count: int, call: Any) -> list[Any]:
    """Run `call(session)` `count` times at once, each on its own connection; results in order."""
    import threading
    from concurrent.futures import ThreadPoolExecutor

    barrier = threading.Barrier(count)

    def run(_: int) -> Any:
        with requests.Session() as session:
            session.trust_env = False
            barrier.wait(timeout=5)
            return call(session)

    with ThreadPoolExecutor(max_workers=count) as pool:
        return list(pool.map(run, range(count)))
