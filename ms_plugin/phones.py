"""Phone numbers: classify PBX caller ids, normalise to E.164, search and compare MoySklad phones.

Pure functions over ``phonenumbers`` (no I/O). The library alone is not enough (shared/reference/anchors.md §4):
``00`` is not the IDD of BY/RU, digits such as ``375291234567`` need a ``+``, and the tenant's region alone
misreads a neighbour's number (``80291234567`` under RU becomes ``+70291234567``, ``89161234567`` under BY
becomes ``+3759161234567``; both are *possible*, only not *valid*). So we try several readings and keep
the first *valid* one, else the first *possible* one; ``valid`` stays a quality flag only, because the
library's metadata lags operators' new ranges (``+375 25…`` reads as invalid).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

import phonenumbers
from phonenumbers import NumberParseException, PhoneNumberFormat

log = logging.getLogger(__name__)

EXTENSION_MAX_DIGITS = 5  # PBX extensions and department numbers: "15", "150", "12345"
FALLBACK_REGIONS: tuple[str, ...] = ("BY", "RU", "KZ")
_MAX_TEXT = 255  # MoySklad phones are String(255); anything longer is not one number
_MAX_DIGITS = 20  # E.164 has at most 15 digits; "810" + 15 = 18; more is garbage

Kind = Literal["phone", "extension", "hidden"]
DialFormat = Literal["e164", "digits", "national"]
DIAL_FORMATS: tuple[str, ...] = ("e164", "digits", "national")

# Country codes that reach us as bare digits (the PBX sends Phone "375447034448" without "+"), with the
# national significant number lengths that make "cc + nsn" unambiguous. Kept to our neighbourhood on
# purpose: a generic "try '+' + digits" would read a Russian 10-digit "4951234567" as German (+49).
_CC_NSN_LENGTHS: dict[str, tuple[int, ...]] = {
    "375": (9,), "7": (10,), "380": (9,), "370": (8,), "371": (8,), "373": (8,), "374": (8,),
    "48": (9,), "992": (9,), "993": (8,), "994": (9,), "995": (9,), "996": (9,), "998": (9,),
}
# Everything from an extension marker on is dropped: "доб. 123", "ext 5", "#12", "вн. 12".
_EXT_SUFFIX = re.compile(r"(?:доб|ext|вн\.|#).*$", re.IGNORECASE | re.DOTALL)
# What a caller id may look like once the extension suffix is gone; anything else is "hidden".
_CALLER_ID = re.compile(r"\s*\+?[0-9\s().\-]+")
_NON_DIGITS = re.compile(r"[^0-9]")
_FIRST_SIGNIFICANT = re.compile(r"[0-9+]")
_E164 = re.compile(r"\+[1-9][0-9]{5,14}")
_DEST_NUMBER = re.compile(r"\+?[0-9 ()\-]+")
_STORED_SEPARATORS = re.compile(r"[,;\n]|\s+(?=\+)")  # "a, b", "a; b", "+375… +7…"


@dataclass(frozen=True)
class PhoneNumber:
    e164: str  # "+375291234567"
    digits: str  # "375291234567"
    region: str | None  # "BY"; None when no region claims the number (e.g. +70291234567)
    valid: bool  # is_valid_number: a quality flag only (metadata lags new ranges)

    @classmethod
    def from_e164(cls, e164: str) -> PhoneNumber:
        """Rebuild from a stored E.164 string; ValueError when it is not a possible number."""
        strict = isinstance(e164, str) and _E164.fullmatch(e164) is not None
        number = _possible(e164, None) if strict else None
        if number is None:
            raise ValueError(f"not an E.164 phone number: {e164!r}")
        return number

    @property
    def national_number(self) -> str:
        """The national significant number: "291234567" (BY), "9161234567" (RU)."""
        return phonenumbers.national_significant_number(self._parsed())

    def _parsed(self) -> phonenumbers.PhoneNumber:
        return phonenumbers.parse(self.e164, None)


@dataclass(frozen=True)
class Classified:
    kind: Kind
    phone: PhoneNumber | None = None  # set when kind == "phone"
    extension: str | None = None  # the digits when kind == "extension"


# ------------------------------------------------------------------------------------------ helpers


def _as_text(raw: object) -> str | None:
    # Phone arrives as an int from some listeners; bool is an int too but never a number.
    if isinstance(raw, int) and not isinstance(raw, bool):
        return str(raw)
    if not isinstance(raw, str) or len(raw) > _MAX_TEXT:
        return None
    return raw


def _plus_and_digits(text: str) -> tuple[bool, str]:
    """Whether a "+" comes before the first digit, and the ASCII digits ("\\d" would take "٣", "²")."""
    first = _FIRST_SIGNIFICANT.search(text)
    return (first is not None and first.group() == "+"), _NON_DIGITS.sub("", text)


def _possible(text: str, region: str | None) -> PhoneNumber | None:
    try:
        number = phonenumbers.parse(text, region)
    except NumberParseException:
        return None
    if not phonenumbers.is_possible_number(number):
        return None
    e164 = phonenumbers.format_number(number, PhoneNumberFormat.E164)
    # Runs of leading zeros (garbage such as "+310000000") do not survive a round trip through E.164
    # in the library; such a "number" is not one we could ever match again, so it is not a number.
    try:
        if phonenumbers.format_number(phonenumbers.parse(e164, None), PhoneNumberFormat.E164) != e164:
            return None
    except NumberParseException:
        return None
    region_code = phonenumbers.region_code_for_number(number) or None
    return PhoneNumber(e164, e164[1:], region_code, phonenumbers.is_valid_number(number))


def _by_region(digits: str, regions: Sequence[str]) -> PhoneNumber | None:
    """The first *valid* reading over ``regions`` in order, else the first *possible* one.

    A plain "first possible" is not enough: BY accepts 6-11 digit numbers, so the Russian "89161234567"
    is *possible* under BY (+3759161234567) and would never reach the RU fallback.
    """
    first_possible: PhoneNumber | None = None
    for index, region in enumerate(regions):
        found = _possible(digits, region)
        if found is None:
            continue
        if found.valid:
            if index > 0:
                log.info("phone %s read under fallback region %s (default %s)", digits, region, regions[0])
            return found
        first_possible = first_possible or found
    return first_possible


def _regions(default_region: str | None, fallback_regions: Iterable[str]) -> list[str]:
    ordered: list[str] = []
    for region in (default_region, *fallback_regions):
        code = (region or "").strip().upper()
        if code and code not in ordered and phonenumbers.country_code_for_region(code):
            ordered.append(code)
    return ordered


# --------------------------------------------------------------------------------------- public API


def normalize(
    raw: str | None, default_region: str | None, fallback_regions: Sequence[str] = FALLBACK_REGIONS
) -> PhoneNumber | None:
    """Read any written form of one phone number; None unless it is a *possible* number. Never raises."""
    text = _as_text(raw)
    if text is None:
        return None
    plus, digits = _plus_and_digits(_EXT_SUFFIX.sub("", text))
    if len(digits) <= EXTENSION_MAX_DIGITS or len(digits) > _MAX_DIGITS:
        return None
    if not plus:
        # International dialling prefixes: "00" everywhere, "810" / "8~10" in BY, RU and KZ
        # ("~" is already stripped). No national number there starts with 00 or 810.
        for idd in ("00", "810"):
            if digits.startswith(idd):
                plus, digits = True, digits[len(idd):]
                break
    if plus:
        return _possible("+" + digits, None)
    for cc, lengths in _CC_NSN_LENGTHS.items():
        if digits.startswith(cc) and len(digits) - len(cc) in lengths:
            found = _possible("+" + digits, None)
            if found is not None:
                return found
    return _by_region(digits, _regions(default_region, fallback_regions))


def is_extension(raw: object, max_digits: int = EXTENSION_MAX_DIGITS) -> bool:
    """A short all-digit number ("15", "150", "12345"): an internal extension, never a CRM lookup."""
    text = _as_text(raw)
    if text is None:
        return False
    text = text.strip()
    return 0 < len(text) <= max_digits and all("0" <= ch <= "9" for ch in text)


def classify(
    raw: str | None,
    default_region: str | None,
    *,
    fallback_regions: Sequence[str] = FALLBACK_REGIONS,
    max_extension_digits: int = EXTENSION_MAX_DIGITS,
) -> Classified:
    """``phone`` (with its PhoneNumber), ``extension`` or ``hidden`` (empty, anonymous, letters, garbage)."""
    text = _as_text(raw)
    if text is None:
        return Classified("hidden")
    body = _EXT_SUFFIX.sub("", text)
    if not _CALLER_ID.fullmatch(body):  # "", "anonymous", "<unknown>", "restricted", "12$3"
        return Classified("hidden")
    plus, digits = _plus_and_digits(body)
    if not digits:
        return Classified("hidden")
    if not plus and len(digits) <= max_extension_digits:
        return Classified("extension", extension=digits)
    phone = normalize(text, default_region, fallback_regions)
    return Classified("phone", phone=phone) if phone is not None else Classified("hidden")


def search_forms(n: PhoneNumber) -> list[str]:
    """Query strings for MoySklad's counterparty ``search``, most useful first, deduplicated.

    The search is a substring match on the stored free text (String(255); no normalisation is documented),
    so one form cannot find every spelling: ``290000002`` is not a substring of ``+375 29 000-00-02``.
    1. The national significant number (BY 9 digits, RU and KZ 10): a substring of every unformatted
       spelling (``+375291234567``, ``375291234567``, ``80291234567``, ``291234567``), so E.164 and bare
       digits need no query of their own. Not a fixed "last 9": for RU the last 9 digits also match other
       area codes (916 123… and 816 123…), and the NSN is exactly what all national and international
       forms share. If MoySklad ignores separators (reported, not documented) this one query is enough.
    2. The library's international format (``+375 29 123-45-67``, ``+7 916 123-45-67``).
    3. The national format (``8 029 123-45-67``, ``8 (916) 123-45-67``).
    4. The bracketed tail (``(29) 123-45-67``), which hand-typed ``+375 (29) 123-45-67`` contains.
    5. The international format with spaces only (``+7 495 331 22 33``: MoySklad's own documentation
       stores numbers this way).
    Every row found must still be confirmed with :func:`same_number`. A "+" must be URL-encoded (%2B).
    """
    number = n._parsed()
    international = phonenumbers.format_number(number, PhoneNumberFormat.INTERNATIONAL)
    national = phonenumbers.format_number(number, PhoneNumberFormat.NATIONAL)
    forms = [phonenumbers.national_significant_number(number), international, national]
    _cc, _sep, rest = international.partition(" ")
    area, _sep, subscriber = rest.partition(" ")
    if area and subscriber:
        forms.append(f"({area}) {subscriber}")
    forms.append(international.replace("-", " "))
    return list(dict.fromkeys(form for form in forms if form))


def stored_numbers(
    stored: str | None, default_region: str | None, fallback_regions: Sequence[str] = FALLBACK_REGIONS
) -> list[PhoneNumber]:
    """Every number in a MoySklad phone field ("+375 29 …, 8 (916) …; …"), in order, without repeats."""
    if not isinstance(stored, str):
        return []
    found: dict[str, PhoneNumber] = {}
    for part in _STORED_SEPARATORS.split(stored[: _MAX_TEXT * 4]):
        number = normalize(part, default_region, fallback_regions)
        if number is not None:
            found.setdefault(number.e164, number)
    return list(found.values())


def same_number(stored: str | None, n: PhoneNumber, default_region: str | None) -> bool:
    """Whether the free-text phone field of a MoySklad row holds ``n`` (compared as E.164)."""
    return any(number.e164 == n.e164 for number in stored_numbers(stored, default_region))


def format_for_dial(n: PhoneNumber, dial_format: DialFormat | str, *, from_region: str | None = None) -> str:
    """The destination as the tenant's trunk expects it.

    ``e164`` "+375291234567"; ``digits`` "375291234567"; ``national`` the domestic dialling digits of the
    number's own country (BY "80291234567", RU "89161234567", KZ "87011234567"). With ``from_region`` a
    number of another country is dialled as from there ("810375…" from RU); RU and KZ share +7.
    """
    if dial_format == "e164":
        return n.e164
    if dial_format == "digits":
        return n.digits
    if dial_format != "national":
        raise ValueError(f"dial_format must be one of {', '.join(DIAL_FORMATS)}, not {dial_format!r}")
    number = n._parsed()
    region = (from_region or "").upper()
    if region and phonenumbers.country_code_for_region(region) not in (0, number.country_code):
        written = phonenumbers.format_out_of_country_calling_number(number, region)
    else:
        written = phonenumbers.format_number(number, PhoneNumberFormat.NATIONAL)
    return _NON_DIGITS.sub("", written)


def parse_dest_number(
    raw: object, default_region: str | None, fallback_regions: Sequence[str] = FALLBACK_REGIONS
) -> PhoneNumber:
    """Validate a click-to-call ``destNumber``; ValueError (a 422) with a message fit for the caller."""
    if not isinstance(raw, str):
        raise ValueError("destNumber must be a string")
    text = raw.strip(" ")
    if len(text) > 40 or not _DEST_NUMBER.fullmatch(text):
        raise ValueError("destNumber may contain only digits, spaces, '+', '-', '(' and ')' (leading '+' only)")
    number = normalize(text, default_region, fallback_regions)
    if number is None:
        raise ValueError("destNumber is not a possible phone number")
    return number


def split_extensions(value: object) -> list[str]:
    """The PBX ``Extensions`` field as a clean list: ``["152&151&153"]``, ``[""]``, ``"150"``, None."""
    items: Iterable[object] = value if isinstance(value, (list, tuple)) else () if value is None else (value,)
    seen: dict[str, None] = {}
    for item in items:
        text = _as_text(item)
        if text is None:
            continue
        for part in text.split("&"):
            part = part.strip()
            if part:
                seen.setdefault(part, None)
    return list(seen)
