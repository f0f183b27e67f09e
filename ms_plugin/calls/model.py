"""What we know about one PBX call (``Facts``) and what MoySklad already has of it (``Done``).

Both live in the ``ms_calls`` row as JSON, never in process memory: any worker can pick the call up,
and a restart in the middle of a call loses nothing. ``Facts`` are folded from events in any order;
``Done`` records each MoySklad write once it succeeded, so replaying the same work is a no-op.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass, field, fields
from typing import Any

KIND_CALL = "call"  # a call of its own: one MoySklad call
KIND_LEG = "leg"  # another UniqueId of a call (follow-me leg, consultation leg): folded into the parent
KIND_INTERNAL = "internal"  # never reaches MoySklad
KIND_PENDING = "pending"  # not classified yet (a bridge or live hangup seen before its start/dial)


def _iso(value: dt.datetime | None) -> str | None:
    return value.isoformat() if value else None


def _parse(value: str | None) -> dt.datetime | None:
    return dt.datetime.fromisoformat(value) if value else None


@dataclass
class Facts:
    direction: str | None = None  # "in" | "out"
    phone_raw: str | None = None  # the external party as the PBX sent it
    trunk: str | None = None
    first_event_at: str | None = None  # ISO UTC: when the first event of the call arrived
    live: bool = False  # at least one live (not replayed) event
    dial_seen: bool = False  # a start/dial of the call itself arrived (else it is known from its hangup)
    ringing: list[str] = field(default_factory=list)  # extensions rung, in order of first appearance
    caller_ext: str | None = None  # outgoing: the extension that dialled
    answered: bool = False
    answered_ext: str | None = None  # from the bridge carrying the call's UniqueId
    answered_at: str | None = None  # ISO UTC (arrival of that bridge)
    leg_answer_ext: str | None = None  # fallback: an extension channel's own bridge
    hung_up: bool = False
    hangup_at: str | None = None  # ISO UTC (arrival)
    pbx_start: str | None = None  # "YYYY-MM-DD HH:MM:SS", the PBX's wall clock
    pbx_end: str | None = None
    call_status: str | None = None
    hangup_exts: list[str] = field(default_factory=list)
    record_urls: list[str] = field(default_factory=list)
    crm_originated: bool = False
    applied_events: list[int] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any] | None) -> Facts:
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in (data or {}).items() if k in known})

    # convenience
    @property
    def first_event_time(self) -> dt.datetime | None:
        return _parse(self.first_event_at)

    @property
    def answered_time(self) -> dt.datetime | None:
        return _parse(self.answered_at)

    @property
    def hangup_time(self) -> dt.datetime | None:
        return _parse(self.hangup_at)

    @property
    def answerer(self) -> str | None:
        """Who took the call: the caller on outgoing calls; the bridge's answerer, else fallbacks."""
        if self.direction == "out":
            return self.caller_ext
        return self.answered_ext or self.leg_answer_ext or (
            self.hangup_exts[0] if self.is_answered and self.hangup_exts else None)

    @property
    def is_answered(self) -> bool:
        return self.answered or self.call_status == "2"


@dataclass
class Done:
    created: bool = False
    ms_call_id: str | None = None
    start_time_sent: str | None = None  # the MSK "YYYY-MM-DD HH:MM:SS" MoySklad has
    sequence: int = 0  # last card-event sequence number used for this call
    shown: list[str] = field(default_factory=list)  # extensions (PBX) whose card was shown
    started: list[str] = field(default_factory=list)  # STARTTIME sent
    hidden: list[str] = field(default_factory=list)  # HIDE sent
    hide_all: bool = False
    employee_sent: bool = False  # extension/employee written (write-once on MoySklad's side)
    employee_id: str | None = None  # the employee written to the call
    counterparty_sent: bool = False
    finalized: bool = False  # endTime/duration written
    comment_sent: str | None = None
    record_urls_sent: list[str] = field(default_factory=list)
    create_attempted: bool = False  # a POST /call went out (its answer may have been lost)
    followup_after_hangup: bool = False  # the JSON follow-up ran once the call had ended
    lookup_done: bool = False
    counterparty_id: str | None = None  # the client linked to this call
    counterparty_created: bool = False
    client_attempted: bool = False
    owner_moved: bool = False
    ambiguous: bool = False
    order_done: bool = False
    order_id: str | None = None
    task_done: bool = False
    tasks_closed: bool = False
    after_card: bool = False  # "after" mode: the one card at hangup was shown
    failures: int = 0

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any] | None) -> Done:
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in (data or {}).items() if k in known})


@dataclass
class CallRecord:
    """One ``ms_calls`` row."""

    enterprise_number: str
    unique_id: str
    kind: str
    parent_unique_id: str | None
    facts: Facts
    done: Done
    phone: str | None  # E.164 of the external party, None when hidden
    state: str  # "open" | "finished"
    version: int = 0
    created_at: dt.datetime | None = None
    updated_at: dt.datetime | None = None

    @property
    def key(self) -> str:
        return f"ms:call:{self.enterprise_number}:{self.unique_id}"


def iso(value: dt.datetime | None) -> str | None:
    return _iso(value)
