"""The MoySklad side of a client lookup: query the counterparty search form by form.

How MoySklad compares phones in ``search`` is not documented precisely (reference §7: the literal
stored string per the docs, digits regardless of formatting per community reports), so one query form
cannot find every spelling. ``phones.search_forms`` orders the forms by usefulness; we stop at the first
form that yields a *confirmed* match. JSON API limits are tight (about 11-15 requests per 3 s per user),
so a known number usually costs one request and an unknown one at most ``len(forms)``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ms_plugin.lookup.matching import confirm, decide
from ms_plugin.lookup.model import LookupResult
from ms_plugin.phones import PhoneNumber, search_forms

log = logging.getLogger(__name__)

# Rows per search: enough to see duplicates, and <= 100 so that ``expand=contactpersons`` is honoured.
SEARCH_LIMIT = 50


@dataclass(frozen=True)
class SearchOutcome:
    result: LookupResult
    requests: int  # search requests sent (contact-person fetches not counted)
    form: str | None  # the form that found the match


def search_client(api: Any, number: PhoneNumber, region: str | None, *, budget: str,
                  between_requests: Callable[[], None] = lambda: None) -> SearchOutcome:
    """Raises the client's ``MoySkladError`` subclasses; the caller turns them into ``unavailable``."""
    forms = search_forms(number)
    for index, form in enumerate(forms):
        if index:
            between_requests()  # e.g. renew the single-flight lease
        rows = api.search_counterparties(form, limit=SEARCH_LIMIT, expand_contact_persons=True, budget=budget)
        matches = confirm(rows, number, region, api.list_contact_persons)
        if matches:
            return SearchOutcome(decide(matches), index + 1, form)
        if rows:
            log.debug("search %r: %d rows, none holds %s", form, len(rows), number.e164)
    return SearchOutcome(LookupResult("not_found"), len(forms), None)
