"""The name a handset shows: company, ``Company (Person)``, never a bare number, clean and short."""

from __future__ import annotations

from typing import Any

import pytest

from ms_plugin.lookup.matching import MAX_NAME, clean, display_name, is_number_only
from ms_plugin.moysklad.models import ContactPerson, Counterparty
from tests.ms.lookup.conftest import make_tenant, phone


def _cp(name: str | None) -> Counterparty:
    return Counterparty(id="c1", name=name, phone=None, email=None, tags=(), owner_id=None, archived=False,
                        contact_persons=(), contact_persons_loaded=True)


def _person(name: str | None) -> ContactPerson:
    return ContactPerson(id="p1", name=name, phone=None, email=None)


@pytest.mark.parametrize("name", ["+375 29 555-66-77", "+375295556677", "80295556677", "Клиент +7 916 123-45-67",
                                  "+7 (916) 123-45-67 доб. 5", "", "  ", None])
def test_a_name_that_is_only_a_number_is_no_name(name: str | None) -> None:
    assert is_number_only(name)
    assert display_name(_cp(name), None) is None


@pytest.mark.parametrize("name", ["ООО «Ромашка»", "Магазин 24", "ИП Козлов 2", "Склад №5 (Минск)", "7 ветров"])
def test_real_names_are_kept(name: str) -> None:
    assert not is_number_only(name)
    assert display_name(_cp(name), None) == name


def test_a_contact_person_is_shown_as_company_and_person() -> None:
    assert display_name(_cp("ООО «Ромашка»"), _person("Анна Смирнова")) == "ООО «Ромашка» (Анна Смирнова)"
    assert display_name(_cp("+375 29 555-66-77"), _person("Анна")) == "Анна"
    assert display_name(_cp("ООО «Ромашка»"), _person("+375447654321")) == "ООО «Ромашка»"


def test_names_are_cleaned_and_cut_for_the_handset() -> None:
    assert clean('ООО "Рога\\и\tкопыта"\x00\u202e\n') == "ООО Рогаи копыта"
    long_company = "Общество с ограниченной ответственностью «Очень длинное название»"
    shown = display_name(_cp(long_company), _person("Анна Смирнова"))
    assert shown is not None and len(shown) <= MAX_NAME
    assert shown.endswith("(Анна Смирнова)")
    assert len(display_name(_cp(long_company), None) or "") <= MAX_NAME


@pytest.mark.parametrize(("caller", "expected"), [
    ("80291112233", "ООО «Ромашка»"),
    ("+375447654321", "ООО «Ромашка» (Анна Смирнова)"),
    ("375296667788", "ЗАО «Вектор» (Пётр Орлов)"),
    ("+375295556677", None),  # an auto-created client named by its number
    ("+375299999999", None),  # unknown
])
def test_customer_name_of_a_caller(tenant: Any, plugin: Any, lookup: Any, caller: str, expected: str | None) -> None:
    t = plugin.tenants.get(tenant.number)

    assert lookup.customer_name(t, caller) == expected
    assert lookup.customer_name(t, phone(caller)) == expected


@pytest.mark.parametrize("caller", ["151", "12345", "", "anonymous", "<unknown>", "Скрытый", None])
def test_extensions_and_hidden_numbers_get_no_name_and_no_request(tenant: Any, plugin: Any, lookup: Any,
                                                                  caller: str | None) -> None:
    t = plugin.tenants.get(tenant.number)

    assert lookup.customer_name(t, caller) is None
    assert lookup.customer_name_for(tenant.number, caller or "") is None
    assert tenant.json_requests() == []


def test_the_contract_method_needs_an_enabled_tenant_and_never_raises(db_url: str, emulator: Any, app: Any,
                                                                      lookup: Any, plugin: Any) -> None:
    make_tenant(db_url, emulator, app, number="100")
    make_tenant(db_url, emulator, app, number="200", ms={"enabled": False})
    make_tenant(db_url, emulator, app, number="300", active=False)

    assert lookup.customer_name_for("100", "+375291112233") == "ООО «Ромашка»"
    assert lookup.customer_name_for("200", "+375291112233") is None
    assert lookup.customer_name_for("300", "+375291112233") is None
    assert lookup.customer_name_for("999", "+375291112233") is None
    assert lookup.responsible_for("999", "+375291112233") is None

    def boom(_number: str) -> Any:
        raise RuntimeError("database gone")

    plugin.tenants.get, original = boom, plugin.tenants.get
    try:
        assert lookup.customer_name_for("100", "+375291112233") is None
        assert lookup.responsible_for("100", "+375291112233") is None
    finally:
        plugin.tenants.get = original
