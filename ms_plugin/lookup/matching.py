"""Confirming MoySklad search rows against the caller's number, and the name shown on a handset.

MoySklad's counterparty ``search`` is a substring match over names, e-mails, phones and contact persons
(reference §5, §7), so a row is only a *candidate*: ``search=291234567`` also returns
``+375 29 1234567 8`` and a company whose code contains those digits. Every candidate is confirmed by
comparing normalised numbers of its own phone field and of each contact person's phone field (both are
free text that may hold several numbers). Upstream took ``rows[0]`` unchecked; we never do.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from ms_plugin.lookup.model import LookupResult
from ms_plugin.moysklad.models import ContactPerson, Counterparty
from ms_plugin.phones import PhoneNumber, same_number

MAX_NAME = 40  # handset displays and the dialplan's CALLNAME
MAX_PERSON_FETCHES = 5  # rows without expanded contact persons we fetch them for, per search
# Cc/Cf/...: control and invisible characters (a bidi override could disguise a caller id).
_DROP_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"})
_PHONEISH = re.compile(r"\+?\d[\d\s().\-]{4,}\d")
# Words that auto-created or placeholder names put around a number ("Клиент +7 916 …", "Звонок 8029…").
_FILLER = frozenset({"клиент", "client", "customer", "контрагент", "контакт", "contact", "новый", "new", "звонок",
                     "call", "входящий", "исходящий", "тел", "tel", "phone", "телефон", "доб", "ext", "вн"})


@dataclass(frozen=True)
class Match:
    counterparty: Counterparty
    contact: ContactPerson | None  # None: the counterparty's own phone matched


PersonFetcher = Callable[[str], Sequence[ContactPerson]]


def confirm(rows: Iterable[Counterparty], number: PhoneNumber, region: str | None,
            fetch_persons: PersonFetcher) -> list[Match]:
    """The rows that really hold ``number``, in MoySklad's relevance order, one match per counterparty.

    A counterparty's own phone wins over its contact persons'. Contact persons that were not expanded
    (``expand`` is ignored above limit 100, or a search answer without it) are fetched, for at most
    ``MAX_PERSON_FETCHES`` rows: each fetch is a rate-limited request.
    """
    matches: dict[str, Match] = {}
    fetches = 0
    for cp in rows:
        if cp.id in matches:
            continue
        if same_number(cp.phone, number, region):
            matches[cp.id] = Match(cp, None)
            continue
        persons: Sequence[ContactPerson] = cp.contact_persons
        if not cp.contact_persons_loaded:
            if fetches >= MAX_PERSON_FETCHES:
                continue
            fetches += 1
            persons = fetch_persons(cp.id)
        person = next((p for p in persons if same_number(p.phone, number, region)), None)
        if person is not None:
            matches[cp.id] = Match(cp, person)
    return list(matches.values())


def decide(matches: Sequence[Match]) -> LookupResult:
    """found / ambiguous / not_found from confirmed matches: archived ones only when nothing else holds
    the number; several distinct counterparties are reported, never resolved by picking one."""
    live = [m for m in matches if not m.counterparty.archived]
    chosen = live or list(matches)
    if not chosen:
        return LookupResult("not_found")
    if len(chosen) == 1:
        return LookupResult("found", counterparty=chosen[0].counterparty, contact=chosen[0].contact)
    return LookupResult("ambiguous", candidates=tuple(m.counterparty for m in chosen))


# -------------------------------------------------------------------------------------------- names


def clean(text: str | None) -> str:
    """No control/invisible characters, no ``"`` or ``\\`` (the dialplan parses the reply by position),
    whitespace runs collapsed."""
    if not text:
        return ""
    kept = "".join(" " if ch.isspace() else ch for ch in text
                   if ch not in '"\\' and (ch.isspace() or unicodedata.category(ch) not in _DROP_CATEGORIES))
    return " ".join(kept.split())


def is_number_only(name: str | None) -> bool:
    """True for names that are just a phone number, maybe with filler words: auto-created clients are
    named "+375 29 123-45-67" or "Клиент +7 916 123-45-67" and tell the employee nothing new."""
    text = clean(name)
    if not text:
        return True
    if not _PHONEISH.search(text):
        return False
    rest = _PHONEISH.sub(" ", text).lower()
    words = re.findall(r"\w+", rest)
    return all(w in _FILLER or w.isdigit() for w in words)


def _shorten(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[:limit].rstrip(" ,.-(«")


def display_name(counterparty: Counterparty | None, contact: ContactPerson | None) -> str | None:
    """``Company`` or, for a contact person's number, ``Company (Person)``; at most 40 characters."""
    company = clean(counterparty.name) if counterparty is not None else ""
    person = clean(contact.name) if contact is not None else ""
    company = "" if is_number_only(company) else company
    person = "" if is_number_only(person) else person
    if company and person:
        # Keep the person visible: shorten the company first ("Очень длинное наз… (Анна)").
        room = MAX_NAME - len(person) - 3
        if room >= 8:
            return f"{_shorten(company, room)} ({person})"
        return _shorten(f"{company} ({person})", MAX_NAME)
    name = company or person
    return _shorten(name, MAX_NAME) or None
