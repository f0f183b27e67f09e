"""Finding the client by the caller's number: stored formats, contact persons, confirmation, ambiguity,
tenant isolation, missing credentials and MoySklad failures."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs

import pytest

from tests.factories import sql
from tests.ms.lookup.conftest import make_tenant, phone

# (caller number as the PBX sends it, counterparty name, contact person name or None)
STORED_FORMATS = [
    ("375291112233", "ООО «Ромашка»", None),  # stored "+375 29 111-22-33"
    ("80292223344", "Иван Петров", None),  # stored "8 029 222-33-44"
    ("+375 29 333-44-55", "ИП Козлов", None),  # stored "375293334455"
    ("+375172223344", "Минский клиент", None),  # stored "80172223344" (landline)
    ("+375447654321", "ООО «Ромашка»", "Анна Смирнова"),  # contact person "+375 44 765-43-21"
    ("80296667788", "ЗАО «Вектор»", "Пётр Орлов"),  # contact person "375 (29) 666-77-88"
]


@pytest.mark.parametrize("semantics", ["substring", "digits"])
@pytest.mark.parametrize(("caller", "company", "person"), STORED_FORMATS)
def test_a_client_stored_in_any_format_is_found_under_both_search_semantics(
        tenant: Any, plugin: Any, lookup: Any, semantics: str, caller: str, company: str, person: str | None) -> None:
    tenant.emu.state.set_knobs(phone_search=semantics)
    t = plugin.tenants.get(tenant.number)

    result = lookup.find(t, phone(caller))

    assert result.status == "found"
    assert result.counterparty.name == company
    assert (result.contact.name if result.contact else None) == person
    assert not result.from_cache
    searches = tenant.searches()
    if semantics == "digits":
        assert len(searches) == 1  # MoySklad ignores separators: the first form always finds it
    assert 1 <= len(searches) <= 4


def test_a_known_number_usually_costs_one_request(tenant: Any, plugin: Any, lookup: Any) -> None:
    t = plugin.tenants.get(tenant.number)

    assert lookup.find(t, phone("+375293334455")).status == "found"

    assert len(tenant.json_requests()) == 1


def test_an_unknown_number_costs_at_most_one_request_per_search_form(tenant: Any, plugin: Any, lookup: Any) -> None:
    from ms_plugin.phones import search_forms

    t = plugin.tenants.get(tenant.number)
    number = phone("+375299999999")

    result = lookup.find(t, number)

    assert result.status == "not_found"
    assert [parse_qs(r["query"])["search"][0] for r in tenant.searches()] == search_forms(number)


@pytest.mark.parametrize("semantics", ["substring", "digits"])
def test_a_substring_hit_with_other_digits_is_not_accepted(db_url: str, emulator: Any, app: Any, plugin: Any,
                                                           lookup: Any, semantics: str) -> None:
    emulator.state.set_knobs(phone_search=semantics)
    tenant = make_tenant(db_url, emulator, app, counterparties=[
        {"name": "Чужой номер", "phone": "+375 291112233 9", "owner": "151"},
        {"name": "Код похож", "code": "291112233", "phone": "+375 29 000-00-01", "owner": "151"},
    ])
    t = plugin.tenants.get(tenant.number)

    result = lookup.find(t, phone("+375291112233"))

    assert result.status == "not_found"
    assert len(tenant.searches()) >= 1  # MoySklad did return rows: they were refused


def test_several_clients_with_the_number_are_ambiguous_never_the_first_row(
        db_url: str, emulator: Any, app: Any, plugin: Any, lookup: Any) -> None:
    tenant = make_tenant(db_url, emulator, app, counterparties=[
        {"name": "Первый", "phone": "+375291234567", "owner": "151"},
        {"name": "Второй", "phone": "80291234567", "owner": "152"},
        {"name": "Архивный", "phone": "375291234567", "owner": "150", "archived": True},
    ])
    t = plugin.tenants.get(tenant.number)

    result = lookup.find(t, phone("+375291234567"))

    assert result.status == "ambiguous"
    assert result.counterparty is None
    assert sorted(c.name for c in result.candidates) == ["Второй", "Первый"]
    assert lookup.customer_name(t, phone("+375291234567")) is None


def test_a_live_client_wins_over_an_archived_one_and_an_archived_one_alone_is_found(
        db_url: str, emulator: Any, app: Any, plugin: Any, lookup: Any) -> None:
    tenant = make_tenant(db_url, emulator, app, counterparties=[
        {"name": "Живой", "phone": "+375291234567", "owner": "151"},
        {"name": "Архивный", "phone": "+375291234567", "owner": "150", "archived": True},
        {"name": "Только архив", "phone": "+375297654321", "owner": "150", "archived": True},
    ])
    t = plugin.tenants.get(tenant.number)

    assert lookup.find(t, phone("+375291234567")).counterparty.name == "Живой"
    archived = lookup.find(t, phone("+375297654321"))
    assert archived.status == "found" and archived.counterparty.archived


def test_each_enterprise_sees_only_its_own_account(db_url: str, emulator: Any, app: Any, plugin: Any,
                                                   lookup: Any) -> None:
    one = make_tenant(db_url, emulator, app, number="100", counterparties=[
        {"name": "Клиент первого", "phone": "+375291234567", "owner": "151"}])
    two = make_tenant(db_url, emulator, app, number="200", counterparties=[
        {"name": "Клиент второго", "phone": "+375291234567", "owner": "152"}])
    three = make_tenant(db_url, emulator, app, number="300", counterparties=[])

    assert lookup.customer_name_for("100", "+375291234567") == "Клиент первого"
    assert lookup.customer_name_for("200", "+375291234567") == "Клиент второго"
    assert lookup.customer_name_for("300", "+375291234567") is None
    # Cached answers stay per enterprise too.
    assert lookup.customer_name_for("200", "+375291234567") == "Клиент второго"
    assert lookup.find(plugin.tenants.get("300"), phone("+375291234567")).status == "not_found"
    assert {r["account"] for r in emulator.state.requests(api="json")} == {
        one.account["name"], two.account["name"], three.account["name"]}


def test_without_json_api_credentials_the_lookup_is_skipped(db_url: str, emulator: Any, app: Any, plugin: Any,
                                                           lookup: Any) -> None:
    tenant = make_tenant(db_url, emulator, app, json_api=False)
    t = plugin.tenants.get(tenant.number)

    result = lookup.find(t, phone("+375291112233"))

    assert result.status == "skipped"
    assert tenant.json_requests() == []


def test_a_moysklad_failure_is_unavailable_journaled_and_not_cached(tenant: Any, plugin: Any, lookup: Any,
                                                                    db_url: str) -> None:
    t = plugin.tenants.get(tenant.number)
    tenant.emu.state.set_outage(None, "json")

    failed = lookup.find(t, phone("+375291112233"), budget=5.0)

    assert failed.status == "unavailable" and failed.error
    rows = sql(db_url, "SELECT status, phone, error_message FROM integration_logs "
                       "WHERE event_type = 'lookup.client'")
    assert rows and rows[-1][0] == "error" and rows[-1][1] == "+375291112233"
    assert sql(db_url, "SELECT count(*) FROM shared_cache WHERE key LIKE 'ms:lookup:%'") == [(0,)]

    tenant.emu.state.clear_outage()
    assert lookup.find(t, phone("+375291112233"), budget=5.0).status == "found"


def test_refused_credentials_are_marked_and_later_lookups_are_skipped(db_url: str, emulator: Any, app: Any,
                                                                     plugin: Any, lookup: Any) -> None:
    tenant = make_tenant(db_url, emulator, app, ms={"password": "wrong-password"})
    t = plugin.tenants.get(tenant.number)

    def refused() -> int:  # the emulator cannot tell the account of a refused login
        return len(emulator.state.requests(api="json", status=401))

    assert lookup.find(t, phone("+375291112233")).status == "unavailable"
    assert refused() == 2  # retried once, then marked

    again = plugin.tenants.get(tenant.number)
    assert lookup.find(again, phone("+375291112233")).status == "skipped"
    assert refused() == 2
