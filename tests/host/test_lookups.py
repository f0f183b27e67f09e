"""``GET /customer-name/<ent>/<phone>`` and ``GET /responsible-extension/<ent>/<phone>`` (internal)."""

from __future__ import annotations

from typing import Any

import pytest

from host_app.lookups import normalise_phone
from tests.conftest import ADMIN_TOKEN, INTERNAL_TOKEN
from tests.factories import make_enterprise
from tests.plugins.echo import EchoIntegration

OUTSIDE = {"REMOTE_ADDR": "10.20.30.40"}


@pytest.fixture
def app_overrides() -> dict[str, Any]:
    return {"HOST_INTEGRATIONS": "tests.plugins.echo:plugin"}


@pytest.fixture
def phones(echo_plugin: Any, monkeypatch: Any) -> list[str]:
    """The phone numbers the echo plugin is asked about."""
    seen: list[str] = []

    def customer_name(ent: str, phone: str) -> Any:
        seen.append(phone)
        return EchoIntegration.customer_name(echo_plugin, ent, phone)

    monkeypatch.setattr(echo_plugin, "customer_name", customer_name)
    return seen


def echo_enterprise(db_url: str, number: str = "100", region: str = "BY", **section: Any) -> None:
    make_enterprise(db_url, number, token=f"T{number}", default_region=region,
                    integrations_config={"echo": {"enabled": True, **section}})


def test_customer_name_comes_from_the_primary_integration(client, db_url, phones):
    echo_enterprise(db_url, name="Иван Петров")
    resp = client.get("/customer-name/100/+375291234567")
    assert resp.status_code == 200 and resp.get_json() == {"name": "Иван Петров"}
    assert phones == ["+375291234567"]


@pytest.mark.parametrize("region, given, asked", [
    ("BY", "80291234567", "+375291234567"),
    ("BY", "375291234567", "+375291234567"),
    ("RU", "89161234567", "+79161234567"),
    ("RU", "375291234567", "+375291234567"),  # a foreign number without its "+"
    ("KZ", "+7 (701) 123-45-67", "+77011234567"),
])
def test_the_plugin_is_asked_in_e164_whatever_the_pbx_sent(client, db_url, phones, region, given, asked):
    echo_enterprise(db_url, region=region, name="Иван")
    assert client.get(f"/customer-name/100/{given}").get_json() == {"name": "Иван"}
    assert phones == [asked]


@pytest.mark.parametrize("hidden", ["anonymous", "%3Cunknown%3E", "abc", "12"])
def test_hidden_or_garbage_numbers_are_not_looked_up(client, db_url, phones, hidden):
    echo_enterprise(db_url, name="Иван", extension="151")
    assert client.get(f"/customer-name/100/{hidden}").get_json() == {"name": None}
    assert client.get(f"/responsible-extension/100/{hidden}").get_json() == {"extension": None, "manager_id": None}
    assert phones == []


def test_responsible_extension_comes_from_the_primary_integration(client, db_url):
    echo_enterprise(db_url, extension="151")
    resp = client.get("/responsible-extension/100/+375291234567")
    assert resp.get_json() == {"extension": "151", "manager_id": None}


def test_no_primary_answers_nulls(client, db_url):
    make_enterprise(db_url, "100", token="T100", integrations_config={"echo": {"enabled": False, "name": "Иван"}})
    assert client.get("/customer-name/100/+375291234567").get_json() == {"name": None}
    assert client.get("/responsible-extension/100/+375291234567").get_json() == {"extension": None,
                                                                                "manager_id": None}


def test_an_unknown_enterprise_is_404(client, db_url):
    for path in ("/customer-name/404/+375291234567", "/responsible-extension/404/+375291234567"):
        resp = client.get(path)
        assert resp.status_code == 404 and resp.get_json()["error"]["code"] == "not_found"


def test_each_enterprise_answers_from_its_own_config(client, db_url):
    echo_enterprise(db_url, "100", name="Клиент А", extension="151")
    echo_enterprise(db_url, "200", name="Клиент Б")
    assert client.get("/customer-name/100/+375291234567").get_json() == {"name": "Клиент А"}
    assert client.get("/customer-name/200/+375291234567").get_json() == {"name": "Клиент Б"}
    assert client.get("/responsible-extension/200/+375291234567").get_json()["extension"] is None


def test_deactivating_the_enterprise_stops_its_lookups_at_once(client, db_url):
    echo_enterprise(db_url, name="Иван")
    assert client.get("/customer-name/100/+375291234567").get_json() == {"name": "Иван"}
    client.put("/api/enterprises/100", json={"active": False}, headers={"Authorization": f"Bearer {ADMIN_TOKEN}"})
    assert client.get("/customer-name/100/+375291234567").get_json() == {"name": None}


@pytest.mark.parametrize("path", ["/customer-name/100/+375291234567", "/responsible-extension/100/+375291234567"])
def test_lookup_routes_are_internal_only(client, db_url, path):
    echo_enterprise(db_url, name="Иван", extension="151")
    assert client.get(path, environ_base=OUTSIDE).status_code == 403
    assert client.get(path, environ_base=OUTSIDE, headers={"X-Internal-Token": "wrong"}).status_code == 403
    # A loopback peer relaying for someone else (a reverse proxy) is not internal either.
    assert client.get(path, headers={"X-Forwarded-For": "127.0.0.1"}).status_code == 403
    assert client.get(path, environ_base=OUTSIDE, headers={"X-Internal-Token": INTERNAL_TOKEN}).status_code == 200
    assert client.get(path).status_code == 200
    # The admin's token opens admin routes, not internal ones.
    assert client.get(path, environ_base=OUTSIDE,
                      headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}).status_code == 403


def test_normalise_phone_keeps_unparseable_digits_and_drops_garbage():
    assert normalise_phone(" +375 (29) 123-45-67 ", "BY") == "+375291234567"
    assert normalise_phone("151", "BY") == "151"
    assert normalise_phone("+1", "BY") is None
    assert normalise_phone("29-12", "BY") == "2912"
    assert normalise_phone("Иван", "BY") is None and normalise_phone(None, "BY") is None
