"""In-memory records. They are plain data; every mutation happens under EmulatorState.lock."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, NamedTuple


class Ref(NamedTuple):
    """A stored reference to another entity of the same account (rendered back as `{"meta": ...}`)."""

    type: str
    id: str


@dataclass
class Entity:
    """A JSON API entity. `fields` holds what the entity stores; keys starting with `_` are emulator-only
    (e.g. an employee's Phone API extension, which remap 1.2 does not expose) and are never rendered."""

    kind: str
    id: str
    fields: dict[str, Any]
    created: str
    updated: str
    parent_id: str | None = None  # the counterparty of a contact person or a note


@dataclass
class User:
    login: str  # user@account
    password: str
    employee_id: str
    tokens: list[str] = field(default_factory=list)
    api_access: bool = True


@dataclass
class Card:
    """One call card: what one employee (or an unmapped extension) sees for one call."""

    key: str
    extension: str | None
    employee_id: str | None
    shown: bool = False
    started: bool = False
    hidden: bool = False
    last_sequence: int | None = None
    shown_at: str | None = None
    started_at: str | None = None
    hidden_at: str | None = None

    @property
    def visible(self) -> bool:
        return self.shown and not self.hidden

    def as_dict(self) -> dict[str, Any]:
        return {
            "extension": self.extension,
            "employee": self.employee_id,
            "shown": self.shown,
            "started": self.started,
            "hidden": self.hidden,
            "visible": self.visible,
            "undeliverable": self.employee_id is None,
            "last_sequence": self.last_sequence,
            "shown_at": self.shown_at,
            "started_at": self.started_at,
            "hidden_at": self.hidden_at,
        }


@dataclass
class CardEvent:
    event_type: str
    extension: str | None
    employee_id: str | None
    sequence: int
    received: str
    via: str  # "create" | "update" | "event"
    applied: bool = True
    note: str | None = None  # why it was not applied, or "undeliverable"

    def as_dict(self) -> dict[str, Any]:
        return {
            "eventType": self.event_type,
            "extension": self.extension,
            "employee": self.employee_id,
            "sequence": self.sequence,
            "received": self.received,
            "via": self.via,
            "applied": self.applied,
            "note": self.note,
        }


@dataclass
class Call:
    id: str
    external_id: str
    number: str
    is_incoming: bool
    start_time: datetime
    created: str
    extension: str | None = None
    employee_id: str | None = None
    counterparty_id: str | None = None
    counterparty_matched: bool = False  # found by number rather than given
    end_time: datetime | None = None
    duration: int | None = None
    record_urls: list[str] = field(default_factory=list)
    comment: str | None = None
    updated: str | None = None
    events: list[CardEvent] = field(default_factory=list)
    cards: dict[str, Card] = field(default_factory=dict)
    hide_all_sequence: int | None = None


@dataclass
class Account:
    id: str
    name: str
    phone_key: str
    telephony_enabled: bool = True
    crm_option: bool = True
    blocked: bool = False
    users: dict[str, User] = field(default_factory=dict)
    entities: dict[str, dict[str, Entity]] = field(default_factory=dict)
    sync_ids: dict[tuple[str, str], str] = field(default_factory=dict)
    calls: dict[str, Call] = field(default_factory=dict)
    extid_index: dict[str, list[str]] = field(default_factory=dict)  # externalId -> call ids, oldest first
    order_seq: int = 0

    def store(self, kind: str) -> dict[str, Entity]:
        return self.entities.setdefault(kind, {})

    def get(self, kind: str, entity_id: str) -> Entity | None:
        return self.entities.get(kind, {}).get(entity_id)

    def add_call(self, call: Call) -> None:
        self.calls[call.id] = call
        self.extid_index.setdefault(call.external_id, []).append(call.id)

    def call_by_external_id(self, external_id: str) -> Call | None:
        """With duplicates allowed, `/extid/` addresses the newest call."""
        ids = self.extid_index.get(external_id)
        return self.calls[ids[-1]] if ids else None

    def flags(self) -> dict[str, Any]:
        return {
            "telephony_enabled": self.telephony_enabled,
            "crm_option": self.crm_option,
            "blocked": self.blocked,
        }
