"""Call cards (pop-ups) driven by SHOW / STARTTIME / HIDE / HIDE_ALL events (reference §3.8).

A card belongs to (call, employee), or to (call, extension) when no employee has that extension; such a
card is kept but marked undeliverable. `sequence` semantics are undocumented: by default every event is
applied in arrival order (real clients send constant, growing or epoch-ms sequences and get no errors);
knob `strict_sequence` ignores events whose sequence is not greater than the last applied one for that
card, so a late SHOW after a HIDE or HIDE_ALL cannot bring a card back.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..model import Account, Call, Card, CardEvent
from ..util import now_str
from .matching import employee_by_extension

EVENT_TYPES = ("SHOW", "STARTTIME", "HIDE", "HIDE_ALL")


@dataclass
class EventInput:
    event_type: str
    extension: str | None
    employee_id: str | None
    sequence: int


def _card_for(account: Account, call: Call, event: EventInput) -> Card:
    employee_id = event.employee_id
    if employee_id is None:
        employee = employee_by_extension(account, event.extension)
        employee_id = employee.id if employee else None
    key = employee_id or f"ext:{event.extension}"
    card = call.cards.get(key)
    if card is None:
        card = Card(key=key, extension=event.extension, employee_id=employee_id)
        call.cards[key] = card
    elif card.extension is None and event.extension:
        card.extension = event.extension
    return card


def apply_event(account: Account, call: Call, event: EventInput, via: str, strict: bool) -> CardEvent:
    stamp = now_str()
    record = CardEvent(event_type=event.event_type, extension=event.extension, employee_id=event.employee_id,
                       sequence=event.sequence, received=stamp, via=via)
    call.events.append(record)
    if event.event_type == "HIDE_ALL":
        if strict and call.hide_all_sequence is not None and event.sequence <= call.hide_all_sequence:
            record.applied, record.note = False, "stale sequence"
            return record
        call.hide_all_sequence = event.sequence
        for card in call.cards.values():
            if strict and card.last_sequence is not None and event.sequence <= card.last_sequence:
                continue
            card.hidden, card.hidden_at = True, stamp
            card.last_sequence = event.sequence
        return record
    card = _card_for(account, call, event)
    record.employee_id = card.employee_id
    if strict:
        floors = [s for s in (card.last_sequence, call.hide_all_sequence) if s is not None]
        if floors and event.sequence <= max(floors):
            record.applied, record.note = False, "stale sequence"
            return record
    card.last_sequence = event.sequence
    if card.employee_id is None:
        record.note = "undeliverable"  # no employee has this extension: nobody sees the card
    if event.event_type == "SHOW":
        card.shown, card.hidden, card.shown_at = True, False, stamp
    elif event.event_type == "STARTTIME":
        card.started, card.started_at = True, stamp
    else:  # HIDE
        card.hidden, card.hidden_at = True, stamp
    return record


def cards_snapshot(accounts: list[Account]) -> dict[str, Any]:
    """Events and cards per call, plus the cards currently visible to each employee."""
    calls: dict[str, Any] = {}
    visible: dict[str, list[str]] = {}
    for account in accounts:
        for call in account.calls.values():
            calls[call.id] = {
                "account": account.name,
                "externalId": call.external_id,
                "number": call.number,
                "events": [e.as_dict() for e in call.events],
                "cards": [c.as_dict() for c in call.cards.values()],
            }
            for card in call.cards.values():
                if card.visible and card.employee_id:
                    visible.setdefault(card.employee_id, []).append(call.id)
    return {"calls": calls, "visible": visible}
