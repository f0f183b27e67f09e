"""The internal lookup routes and the seed's POST twins: shapes, validation, tenant errors, protection."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import INTERNAL_TOKEN
from tests.ms.lookup.conftest import Tenant, make_tenant

CUSTOMER = "/internal/ms/customer-by-phone"
RESPONSIBLE = "/internal/ms/responsible-extension"
TWINS = {CUSTOMER: "/ms/customer-by-phone", RESPONSIBLE: "/ms/responsible-extension"}


def get_and_post(client: Any, path: str, query: dict[str, Any]) -> tuple[Any, Any]:
    """The GET route and its POST twin with the same parameters; both must answer the same."""
    got = client.get(path, query_string=query)
    posted = client.post(TWINS[path], json=query)
    assert (got.status_code, got.get_json()) == (posted.status_code, posted.get_json())
    return got.status_code, got.get_json()


def test_a_found_client_with_its_manager(tenant: Tenant, client: Any) -> None:
    status, body = get_and_post(client, CUSTOMER, {"enterprise_number": tenant.number, "phone": "80291112233"})

    assert status == 200
    assert body == {
        "found": True,
        "customer": {"id": tenant.counterparty("ООО «Ромашка»"), "name": "ООО «Ромашка»",
                     "phone": "+375 29 111-22-33", "email": "info@romashka.by", "tags": ["опт"],
                     "manager": {"id": tenant.employee("Борис"), "name": "Борис"}, "archived": False,
                     "contact": None},
        "display_name": "ООО «Ромашка»",
    }


def test_a_contact_persons_number(tenant: Tenant, client: Any) -> None:
    _status, body = get_and_post(client, CUSTOMER, {"enterprise_number": tenant.number, "phone": "+375447654321"})

    assert body["found"] is True
    assert body["display_name"] == "ООО «Ромашка» (Анна Смирнова)"
    assert body["customer"]["contact"]["name"] == "Анна Смирнова"


def test_not_found_and_not_a_phone(tenant: Tenant, client: Any) -> None:
    _s, unknown = get_and_post(client, CUSTOMER, {"enterprise_number": tenant.number, "phone": "+375299999999"})
    _s, hidden = get_and_post(client, CUSTOMER, {"enterprise_number": tenant.number, "phone": "anonymous"})

    assert unknown == {"found": False, "customer": None, "display_name": None}
    assert hidden["found"] is False and hidden["customer"] is None


def test_several_matches_are_reported_as_candidates(db_url: str, emulator: Any, app: Any, client: Any) -> None:
    tenant = make_tenant(db_url, emulator, app, counterparties=[
        {"name": "Первый", "phone": "+375291234567", "owner": "151"},
        {"name": "Второй", "phone": "80291234567", "owner": "152"},
    ])

    _s, body = get_and_post(client, CUSTOMER, {"enterprise_number": tenant.number, "phone": "+375291234567"})

    assert body["found"] is False and body["ambiguous"] is True
    assert sorted(c["name"] for c in body["candidates"]) == ["Второй", "Первый"]
    assert {c["manager"]["name"] for c in body["candidates"]} == {"Борис", "Вера"}


def test_the_responsible_extension(tenant: Tenant, client: Any) -> None:
    status, body = get_and_post(client, RESPONSIBLE, {"enterprise_number": tenant.number, "phone": "375291112233"})

    assert status == 200
    assert body == {"extension": "151", "manager_id": tenant.employee("Борис"), "rule": "owner"}


def test_no_responsible_extension(tenant: Tenant, client: Any) -> None:
    _s, body = get_and_post(client, RESPONSIBLE, {"enterprise_number": tenant.number, "phone": "+375299999999"})

    assert body == {"extension": None, "manager_id": None, "rule": "none"}


@pytest.mark.parametrize("path", [CUSTOMER, RESPONSIBLE])
@pytest.mark.parametrize(("query", "missing"), [
    ({"phone": "+375291112233"}, "enterprise_number"),
    ({"enterprise_number": "100"}, "phone"),
    ({"enterprise_number": "100", "phone": ""}, "phone"),
])
def test_missing_fields_are_422_never_another_tenant(tenant: Tenant, client: Any, path: str,
                                                     query: dict[str, Any], missing: str) -> None:
    status, body = get_and_post(client, path, query)

    assert status == 422
    assert body["error"]["code"] == "validation_error"
    assert missing in body["error"]["details"]


@pytest.mark.parametrize("path", [CUSTOMER, RESPONSIBLE])
def test_unknown_enterprise_is_404_and_a_disabled_one_409(db_url: str, emulator: Any, app: Any, client: Any,
                                                          path: str) -> None:
    make_tenant(db_url, emulator, app, number="200", ms={"enabled": False})

    unknown, body = get_and_post(client, path, {"enterprise_number": "999", "phone": "+375291112233"})
    assert unknown == 404 and body["error"]["code"] == "not_found"

    disabled, body = get_and_post(client, path, {"enterprise_number": "200", "phone": "+375291112233"})
    assert disabled == 409 and body["error"]["code"] == "integration_disabled"


@pytest.mark.parametrize("path", [CUSTOMER, RESPONSIBLE, TWINS[CUSTOMER], TWINS[RESPONSIBLE]])
def test_only_loopback_or_the_internal_token_may_ask(tenant: Tenant, client: Any, path: str) -> None:
    query = {"enterprise_number": tenant.number, "phone": "+375291112233"}
    outside = {"REMOTE_ADDR": "203.0.113.9"}

    def ask(**kw: Any) -> Any:
        if path.startswith("/internal/"):
            return client.get(path, query_string=query, environ_base=outside, **kw)
        return client.post(path, json=query, environ_base=outside, **kw)

    refused = ask()
    assert refused.status_code == 403
    assert tenant.json_requests() == []
    assert ask(headers={"X-Internal-Token": INTERNAL_TOKEN}).status_code == 200


def test_the_post_twins_need_a_json_object(tenant: Tenant, client: Any) -> None:
    bad_json = client.post(TWINS[CUSTOMER], data="{", content_type="application/json")
    not_object = client.post(TWINS[RESPONSIBLE], json=["100", "+375291112233"])
    form = client.post(TWINS[CUSTOMER], data={"enterprise_number": "100", "phone": "1"})

    assert (bad_json.status_code, bad_json.get_json()["error"]["code"]) == (400, "bad_json")
    assert not_object.status_code == 422
    assert form.status_code == 415


def test_numbers_sent_as_json_numbers_are_read(tenant: Tenant, client: Any) -> None:
    posted = client.post(TWINS[RESPONSIBLE], json={"enterprise_number": int(tenant.number), "phone": 375291112233})

    assert posted.status_code == 200 and posted.get_json()["extension"] == "151"


def test_moysklad_down_is_503_for_the_customer_route(tenant: Tenant, client: Any) -> None:
    tenant.emu.state.set_outage(None, "json")

    got = client.get(CUSTOMER, query_string={"enterprise_number": tenant.number, "phone": "+375291112233"})

    assert got.status_code == 503 and got.get_json()["error"]["code"] == "moysklad_unavailable"
