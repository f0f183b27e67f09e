"""Server-side counterparty matching for `POST /call` without `counterparty`.

The real algorithm is undocumented (reference §3.9): the emulator compares digits only, first against
counterparty phones, then against contact-person phones, first match by creation order, archived
counterparties skipped. The comparison itself is a pluggable strategy (knob `counterparty_match`).
"""
from __future__ import annotations

import re
from typing import Callable

from ..model import Account, Entity
from ..util import digits

Strategy = Callable[[str, str], bool]


def _exact(number: str, stored: str) -> bool:
    return bool(number) and number == stored


def _last10(number: str, stored: str) -> bool:
    if not number or not stored:
        return False
    return number[-10:] == stored[-10:]


def _substring(number: str, stored: str) -> bool:
    return bool(number) and bool(stored) and (number in stored or stored in number) and len(stored) >= 5


STRATEGIES: dict[str, Strategy] = {
    "exact_digits": _exact,
    "last10": _last10,
    "substring": _substring,
    "none": lambda number, stored: False,
}

# A phone field is free text and sometimes holds several numbers ("+7 495 ..., +7 916 ...").
_SEPARATORS = re.compile(r"[,;/]|\s{2,}")


def phone_variants(stored: str | None) -> list[str]:
    return [d for d in (digits(part) for part in _SEPARATORS.split(stored or "")) if d]


def match_counterparty(account: Account, number: str, strategy_name: str) -> Entity | None:
    strategy = STRATEGIES[strategy_name]
    wanted = digits(number)
    if not wanted:
        return None
    counterparties = [c for c in account.store("counterparty").values() if not c.fields.get("archived")]
    for cp in counterparties:
        if any(strategy(wanted, v) for v in phone_variants(cp.fields.get("phone"))):
            return cp
    live = {cp.id for cp in counterparties}
    for person in account.store("contactperson").values():
        if person.parent_id in live and any(strategy(wanted, v) for v in phone_variants(person.fields.get("phone"))):
            return account.get("counterparty", person.parent_id or "")
    return None


def employee_by_extension(account: Account, extension: str | None) -> Entity | None:
    """The employee whose MoySklad extension equals `extension` (non-archived first)."""
    if not extension:
        return None
    found = [e for e in account.store("employee").values() if e.fields.get("_extension") == extension]
    found.sort(key=lambda e: bool(e.fields.get("archived")))
    return found[0] if found else None
