"""Confirming search rows without MoySklad: contact persons fetched when not expanded, own phone first."""

from __future__ import annotations

from ms_plugin.lookup.matching import MAX_PERSON_FETCHES, confirm, decide
from ms_plugin.moysklad.models import ContactPerson, Counterparty
from tests.ms.lookup.conftest import phone

NUMBER = phone("+375291234567")


def cp(cid: str, number: str | None, *, persons: tuple[ContactPerson, ...] | None = (),
       archived: bool = False) -> Counterparty:
    return Counterparty(id=cid, name=cid, phone=number, email=None, tags=(), owner_id=None, archived=archived,
                        contact_persons=persons or (), contact_persons_loaded=persons is not None)


def test_contact_persons_that_were_not_expanded_are_fetched() -> None:
    fetched: list[str] = []

    def fetch(cid: str) -> list[ContactPerson]:
        fetched.append(cid)
        return [ContactPerson("p1", "Анна", "8 029 123-45-67", None)]

    matches = confirm([cp("a", "+375 29 000-00-00", persons=None)], NUMBER, "BY", fetch)

    assert fetched == ["a"]
    assert [(m.counterparty.id, m.contact.id if m.contact else None) for m in matches] == [("a", "p1")]


def test_a_counterpartys_own_phone_needs_no_fetch_and_wins_over_its_persons() -> None:
    person = ContactPerson("p1", "Анна", "+375291234567", None)

    matches = confirm([cp("a", "+375 29 123 45 67; +7 916 000-00-00", persons=(person,))], NUMBER, "BY",
                      lambda _cid: [])

    assert [(m.counterparty.id, m.contact) for m in matches] == [("a", None)]


def test_person_fetches_are_capped() -> None:
    fetched: list[str] = []
    rows = [cp(f"c{i}", None, persons=None) for i in range(MAX_PERSON_FETCHES + 3)]

    confirm(rows, NUMBER, "BY", lambda cid: fetched.append(cid) or [])

    assert len(fetched) == MAX_PERSON_FETCHES


def test_decide_prefers_live_clients_and_reports_several() -> None:
    live, archived = cp("live", "+375291234567"), cp("old", "+375291234567", archived=True)
    other = cp("other", "80291234567")

    assert decide([]).status == "not_found"
    assert decide(confirm([archived, live], NUMBER, "BY", lambda _c: [])).counterparty.id == "live"
    both = decide(confirm([live, other, archived], NUMBER, "BY", lambda _c: []))
    assert both.status == "ambiguous" and [c.id for c in both.candidates] == ["live", "other"]
