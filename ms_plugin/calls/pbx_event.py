"""Reading one PBX event tolerantly, and folding it into a call's ``Facts``.

Real events are messier than any table (vochi-upstream.md §3.6): ``CallType`` is an int or a string,
``Extensions`` may be ``[""]``, ``["152&151&153"]`` or hold a mobile number, ``Phone`` may carry a ``+``,
the answering extension's bridge carries its own UniqueId, and the final hangup of an external call can
say ``CallType 2``. Everything here is pure.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from host_app.integrations.contract import CallEvent
from ms_plugin.calls.model import Facts, iso
from ms_plugin.phones import is_extension, split_extensions

PLACEHOLDERS = {"", "<unknown>", "unknown", "anonymous"}


def call_type(raw: Mapping[str, Any]) -> int | None:
    value = raw.get("CallType")
    try:
        return int(str(value).strip()) if value not in (None, "") else None
    except ValueError:
        return None


def text(raw: Mapping[str, Any], key: str) -> str:
    value = raw.get(key)
    return str(value).strip() if value is not None else ""


def extensions(raw: Mapping[str, Any]) -> list[str]:
    return split_extensions(raw.get("Extensions"))


def ext_only(values: list[str]) -> list[str]:
    return [v for v in values if is_extension(v)]


def looks_internal(raw: Mapping[str, Any]) -> bool:
    """CallType 2, or a short Phone with an empty Trunk (a department call says CallType 0)."""
    if call_type(raw) == 2:
        return True
    phone = text(raw, "Phone").lstrip("+")
    return is_extension(phone) and not text(raw, "Trunk")


@dataclass(frozen=True)
class Bridge:
    channel: str
    caller_num: str
    connected_num: str
    bridge_id: str


def bridge_of(raw: Mapping[str, Any]) -> Bridge:
    return Bridge(text(raw, "Channel"), text(raw, "CallerIDNum"), text(raw, "ConnectedLineNum"),
                  text(raw, "BridgeUniqueid"))


def _add_unique(items: list[str], values: list[str]) -> None:
    for value in values:
        if value not in items:
            items.append(value)


def _earlier(current: str | None, candidate: dt.datetime) -> str | None:
    if current is None or dt.datetime.fromisoformat(current) > candidate:
        return iso(candidate)
    return current


def fold(facts: Facts, event: CallEvent, *, own: bool) -> bool:
    """Apply ``event`` to ``facts``; ``own`` is False for an event of one of the call's legs.

    Returns False when the event was already applied (processing is idempotent).
    """
    if event.id in facts.applied_events:
        return False
    facts.applied_events.append(event.id)
    raw = event.raw
    facts.first_event_at = _earlier(facts.first_event_at, event.received_at)
    if event.origin == "live":
        facts.live = True
    if event.record_url and event.record_url not in facts.record_urls:
        facts.record_urls.append(event.record_url)
    kind = event.event_type
    if kind in ("start", "dial") and own:
        _fold_start_dial(facts, raw, kind)
    elif kind == "bridge":
        _fold_bridge(facts, raw, event, own)
    elif kind == "hangup" and own:
        _fold_hangup(facts, raw, event)
    return True


def _fold_start_dial(facts: Facts, raw: Mapping[str, Any], kind: str) -> None:
    facts.dial_seen = True
    ctype = call_type(raw)
    if facts.direction is None and ctype in (0, 1):
        facts.direction = "in" if ctype == 0 else "out"
    phone = text(raw, "Phone")
    if phone and not facts.phone_raw:
        facts.phone_raw = phone
    trunk = text(raw, "Trunk")
    if trunk and not facts.trunk:
        facts.trunk = trunk
    if kind == "dial":
        exts = ext_only(extensions(raw))
        if facts.direction == "out":
            if exts and not facts.caller_ext:
                facts.caller_ext = exts[0]
        else:
            _add_unique(facts.ringing, exts)


def _fold_bridge(facts: Facts, raw: Mapping[str, Any], event: CallEvent, own: bool) -> None:
    bridge = bridge_of(raw)
    if own:
        # The bridge carrying the call's UniqueId: incoming, it is the trunk side and names the answerer
        # in ConnectedLineNum; outgoing, it is the caller's own channel (the trunk leg has its own id).
        if not facts.answered:
            facts.answered = True
            facts.answered_at = iso(event.received_at)
            if facts.direction != "out" and is_extension(bridge.connected_num):
                facts.answered_ext = bridge.connected_num
        elif facts.direction != "out" and not facts.answered_ext and is_extension(bridge.connected_num):
            facts.answered_ext = bridge.connected_num
        if facts.direction == "out" and not facts.caller_ext and is_extension(bridge.caller_num):
            facts.caller_ext = bridge.caller_num
        return
    # A leg's bridge (e.g. the answering extension's SIP channel): only a fallback for who answered.
    if facts.direction != "out" and not facts.leg_answer_ext and is_extension(bridge.caller_num):
        facts.leg_answer_ext = bridge.caller_num
        if not facts.answered_at:
            facts.answered_at = iso(event.received_at)
        facts.answered = True


def _fold_hangup(facts: Facts, raw: Mapping[str, Any], event: CallEvent) -> None:
    ctype = call_type(raw)
    # A call is incoming or outgoing by how it started; only a hangup seen alone (a replay) decides it.
    if facts.direction is None and ctype in (0, 1):
        facts.direction = "in" if ctype == 0 else "out"
    if not facts.phone_raw and text(raw, "Phone"):
        facts.phone_raw = text(raw, "Phone")
    if not facts.trunk and text(raw, "Trunk"):
        facts.trunk = text(raw, "Trunk")
    facts.hung_up = True
    facts.hangup_at = facts.hangup_at or iso(event.received_at)
    facts.pbx_start = facts.pbx_start or (text(raw, "StartTime") or None)
    facts.pbx_end = facts.pbx_end or (text(raw, "EndTime") or None)
    status = text(raw, "CallStatus")
    if status:
        facts.call_status = status
    exts = ext_only(extensions(raw))
    _add_unique(facts.hangup_exts, exts)
    if facts.direction == "out" and not facts.caller_ext and exts:
        facts.caller_ext = exts[0]
