"""Phone-number normalisation, classification, MoySklad search forms and click-to-call parsing."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ms_plugin.phones import (
    EXTENSION_MAX_DIGITS,
    PhoneNumber,
    classify,
    format_for_dial,
    is_extension,
    normalize,
    parse_dest_number,
    same_number,
    search_forms,
    split_extensions,
    stored_numbers,
)

BY_MOBILE = "+375291234567"
RU_MOBILE = "+79161234567"
KZ_MOBILE = "+77011234567"


@pytest.mark.parametrize(
    ("raw", "region", "e164"),
    [
        # Belarus: international, bare digits, every national form
        ("+375291234567", "BY", BY_MOBILE),
        ("+375 29 123-45-67", "BY", BY_MOBILE),
        ("+375 (29) 123-45-67", "RU", BY_MOBILE),
        ("375291234567", "BY", BY_MOBILE),
        ("375291234567", "RU", BY_MOBILE),  # RU alone would read +7375291234567
        ("80291234567", "BY", BY_MOBILE),
        ("8 029 123 45 67", "BY", BY_MOBILE),
        ("8 (029) 123-45-67", "BY", BY_MOBILE),
        ("0291234567", "BY", BY_MOBILE),
        ("291234567", "BY", BY_MOBILE),
        ("80291234567", "RU", BY_MOBILE),  # the replaced service produced +70291234567
        ("8017 123 45 67", "BY", "+375171234567"),
        ("00375291234567", "BY", BY_MOBILE),
        ("00375291234567", "RU", BY_MOBILE),
        ("810375291234567", "BY", BY_MOBILE),
        ("8~10 375 29 123-45-67", "RU", BY_MOBILE),
        ("+375251234567", "BY", "+375251234567"),  # invalid per metadata, possible: accepted
        # Russia
        ("+79161234567", "RU", RU_MOBILE),
        ("+7 (916) 123-45-67", "BY", RU_MOBILE),
        ("79161234567", "BY", RU_MOBILE),
        ("89161234567", "RU", RU_MOBILE),
        ("8 (916) 123-45-67", "RU", RU_MOBILE),
        ("89161234567", "BY", RU_MOBILE),  # a Russian 8-number seen by a Belarus tenant
        ("9161234567", "RU", RU_MOBILE),
        ("9161234567", "BY", RU_MOBILE),
        ("8-916-123-45-67", "KZ", RU_MOBILE),
        ("810 7 916 123 45 67", "BY", RU_MOBILE),
        ("007 916 123 45 67", "BY", RU_MOBILE),
        ("+7 (916) 123-45-67 доб. 123", "RU", RU_MOBILE),
        ("8 916 123 45 67 ext 5", "RU", RU_MOBILE),
        ("8 916 123 45 67 #12", "RU", RU_MOBILE),
        ("8 800 100-00-00", "RU", "+78001000000"),
        ("8 800 100-00-00", "BY", "+3758001000000"),  # ambiguous: the tenant's region decides
        # Kazakhstan (+7 shared with Russia)
        ("+7 727 250 0000", "BY", "+77272500000"),
        ("87011234567", "KZ", KZ_MOBILE),
        ("87011234567", "BY", KZ_MOBILE),
        ("+7 701 123 4567", "RU", KZ_MOBILE),
        # others by country code
        ("380501234567", "BY", "+380501234567"),
        ("+48 12 345 67 89", "BY", "+48123456789"),
        (375447034448, "BY", "+375447034448"),  # some listeners send Phone as an int
    ],
)
def test_normalize(raw: str, region: str, e164: str) -> None:
    number = normalize(raw, region)
    assert number is not None
    assert number.e164 == e164
    assert number.digits == e164[1:]


@pytest.mark.parametrize(
    ("raw", "region"),
    [("", "BY"), (None, "BY"), ("150", "BY"), ("12345", "RU"), ("abc", "BY"), ("+", "BY"),
     ("1" * 25, "BY"), ("+375", "BY"), ("0" * 300, "BY"), ("+0291234567", "BY")],
)
def test_normalize_refuses(raw: str | None, region: str) -> None:
    assert normalize(raw, region) is None


def test_normalize_region_fields() -> None:
    assert normalize("+7 727 250 0000", "RU").region == "KZ"  # type: ignore[union-attr]
    assert normalize("80291234567", "BY").region == "BY"  # type: ignore[union-attr]
    new_range = normalize("+375251234567", None)
    assert new_range is not None and new_range.valid is False
    assert normalize("291234567", "by") is not None  # region case does not matter


@pytest.mark.parametrize(
    ("raw", "kind", "value"),
    [
        ("+375291234567", "phone", BY_MOBILE),
        ("375447034448", "phone", "+375447034448"),
        ("8 (029) 123-45-67", "phone", BY_MOBILE),
        ("+7 (916) 123-45-67 доб. 123", "phone", RU_MOBILE),
        ("150", "extension", "150"),
        ("15", "extension", "15"),
        ("12345", "extension", "12345"),
        (" 151 ", "extension", "151"),
        ("", "hidden", None),
        (None, "hidden", None),
        ("anonymous", "hidden", None),
        ("Anonymous", "hidden", None),
        ("<unknown>", "hidden", None),
        ("unknown", "hidden", None),
        ("restricted", "hidden", None),
        ("abc", "hidden", None),
        ("37529abc1234567", "hidden", None),
        ("+375$(29)1234567", "hidden", None),
        ("---", "hidden", None),
        ("+150", "hidden", None),  # not an extension, not a phone
        ("1234567890123456789012", "hidden", None),
        (True, "hidden", None),
    ],
)
def test_classify(raw: object, kind: str, value: str | None) -> None:
    result = classify(raw, "BY")  # type: ignore[arg-type]
    assert result.kind == kind
    if kind == "phone":
        assert result.phone is not None and result.phone.e164 == value
        assert result.extension is None
    elif kind == "extension":
        assert result.extension == value and result.phone is None
    else:
        assert result.phone is None and result.extension is None


def test_classify_extension_limit_is_configurable() -> None:
    assert EXTENSION_MAX_DIGITS == 5
    assert classify("1234", "BY", max_extension_digits=3).kind == "hidden"
    assert classify("123", "BY", max_extension_digits=3).kind == "extension"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("150", True), ("15", True), ("12345", True), (" 152 ", True), ("123456", False), ("", False),
     (None, False), ("+150", False), ("15a", False), ("1 50", False), (151, True)],
)
def test_is_extension(raw: object, expected: bool) -> None:
    assert is_extension(raw) is expected


def test_search_forms_by() -> None:
    forms = search_forms(PhoneNumber.from_e164(BY_MOBILE))
    assert forms == ["291234567", "+375 29 123-45-67", "8 029 123-45-67", "(29) 123-45-67", "+375 29 123 45 67"]


def test_search_forms_ru_and_kz() -> None:
    assert search_forms(PhoneNumber.from_e164(RU_MOBILE)) == [
        "9161234567", "+7 916 123-45-67", "8 (916) 123-45-67", "(916) 123-45-67", "+7 916 123 45 67"]
    assert search_forms(PhoneNumber.from_e164(KZ_MOBILE))[0] == "7011234567"


@pytest.mark.parametrize(
    "stored",
    ["+375 29 123-45-67", "+375 (29) 123-45-67", "80291234567", "8 (029) 123 45 67", "375291234567",
     "291234567", "+375291234567 доб. 12", "+375 44 000-00-01, +375 29 123-45-67",
     "+375440000001; 8 029 123 45 67", "моб. +375 29 123-45-67", "+375441111111 +375291234567"],
)
def test_same_number_matches_any_spelling(stored: str) -> None:
    assert same_number(stored, PhoneNumber.from_e164(BY_MOBILE), "BY")


@pytest.mark.parametrize(
    "stored", ["", "+375 29 123-45-68", "1234567", "+7 029 123-45-67", "291234567291234567", "нет"])
def test_same_number_refuses_other_numbers(stored: str) -> None:
    assert not same_number(stored, PhoneNumber.from_e164(BY_MOBILE), "BY")


def test_same_number_russian_number_in_a_belarus_tenant() -> None:
    assert same_number("8 (916) 123-45-67", PhoneNumber.from_e164(RU_MOBILE), "BY")
    assert [n.e164 for n in stored_numbers("8 916 1234567, +79161234567", "BY")] == [RU_MOBILE]


@pytest.mark.parametrize(
    ("e164", "fmt", "expected"),
    [
        (BY_MOBILE, "e164", BY_MOBILE),
        (BY_MOBILE, "digits", "375291234567"),
        (BY_MOBILE, "national", "80291234567"),
        (RU_MOBILE, "national", "89161234567"),
        (KZ_MOBILE, "national", "87011234567"),
        ("+375171234567", "national", "80171234567"),
    ],
)
def test_format_for_dial(e164: str, fmt: str, expected: str) -> None:
    assert format_for_dial(PhoneNumber.from_e164(e164), fmt) == expected


def test_format_for_dial_from_another_country() -> None:
    assert format_for_dial(PhoneNumber.from_e164(RU_MOBILE), "national", from_region="BY") == "81079161234567"
    assert format_for_dial(PhoneNumber.from_e164(BY_MOBILE), "national", from_region="BY") == "80291234567"
    assert format_for_dial(PhoneNumber.from_e164(KZ_MOBILE), "national", from_region="RU") == "87011234567"
    with pytest.raises(ValueError, match="dial_format"):
        format_for_dial(PhoneNumber.from_e164(BY_MOBILE), "sip")


def test_from_e164_refuses_garbage() -> None:
    for bad in ("375291234567", "+1", "", "+375 29 abc"):
        with pytest.raises(ValueError):
            PhoneNumber.from_e164(bad)


@pytest.mark.parametrize(
    ("raw", "e164"),
    [("+375 (29) 123-45-67", BY_MOBILE), ("80291234567", BY_MOBILE), (" 8 029 123 45 67 ", BY_MOBILE),
     ("89161234567", RU_MOBILE)],
)
def test_parse_dest_number(raw: str, e164: str) -> None:
    assert parse_dest_number(raw, "BY").e164 == e164


@pytest.mark.parametrize(
    "raw",
    ["80291234567; reboot", "80291234567|sh", "$(reboot)", "80291234567\nAction: Command", "8029123\r\n4567",
     "80291234567`id`", "80291234567&", "+375 29 123 45 67 доб. 1", "80291234567#1", "375+291234567",
     "8029\t1234567", "８０２９１２３４５６７"],
)
def test_parse_dest_number_refuses_metacharacters(raw: str) -> None:
    with pytest.raises(ValueError, match="only digits"):
        parse_dest_number(raw, "BY")


@pytest.mark.parametrize("raw", ["150", "12345", "+", "()", "1" * 25, "+0000000"])
def test_parse_dest_number_refuses_impossible(raw: str) -> None:
    with pytest.raises(ValueError):
        parse_dest_number(raw, "BY")


def test_parse_dest_number_refuses_non_strings() -> None:
    with pytest.raises(ValueError, match="string"):
        parse_dest_number(None, "BY")


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (["150", "151", "152"], ["150", "151", "152"]),
        (["152&151&153"], ["152", "151", "153"]),
        ("152&151&153", ["152", "151", "153"]),
        ([""], []),
        ([], []),
        (None, []),
        ("", []),
        (["151", " 151 ", "150&151"], ["151", "150"]),
        (["150", "375291234567", "151"], ["150", "375291234567", "151"]),
        ([None, 151, "", "&&152&"], ["151", "152"]),
    ],
)
def test_split_extensions(value: object, expected: list[str]) -> None:
    assert split_extensions(value) == expected


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.text(max_size=300), st.from_regex(r"\+?[0-9 ()\-~#]{0,30}(доб|ext)?[0-9]{0,4}")))
def test_normalize_and_classify_never_raise(raw: str) -> None:
    number = normalize(raw, "BY")
    if number is not None:
        assert number.e164 == "+" + number.digits
        assert PhoneNumber.from_e164(number.e164) == number  # round-trips
    assert classify(raw, "RU").kind in ("phone", "extension", "hidden")
    split_extensions(raw)


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=60))
def test_parse_dest_number_only_raises_value_error(raw: str) -> None:
    try:
        number = parse_dest_number(raw, "BY")
    except ValueError:
        return
    assert set(raw) <= set("0123456789 +-()")
    assert number.e164.startswith("+")
