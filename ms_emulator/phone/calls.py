"""Call create/update rules (reference §3.2-§3.6, §3.9).

Validation happens completely before any mutation, so a refused request changes nothing.
Types are checked strictly (a number where a string is expected is 400/2017): the point of the emulator
is to catch client mistakes, and the documentation types every field.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from ..entities import IdFactory
from ..errors import ApiError, bad_format, bad_uuid, not_found, required
from ..knobs import Knobs
from ..model import Account, Call
from ..refs import parse_ref
from ..util import is_uuid, now_str, parse_dt
from .cards import EVENT_TYPES, EventInput, apply_event
from .matching import employee_by_extension, match_counterparty

COMMENT_MAX = 4096  # longer comments are silently truncated (doc)


def _opt_str(body: dict[str, Any], name: str) -> str | None:
    value = body.get(name)
    if value is None:
        return None
    if not isinstance(value, str):
        raise bad_format(name)
    return value


def _opt_dt(body: dict[str, Any], name: str) -> datetime | None:
    text = _opt_str(body, name)
    if text is None:
        return None
    parsed = parse_dt(text)
    if parsed is None:
        raise bad_format(name)
    return parsed


def parse_event(account: Account, obj: Any, knobs: Knobs) -> EventInput:
    if not isinstance(obj, dict):
        raise bad_format("events")
    event_type = obj.get("eventType")
    if event_type is None or event_type == "":
        raise required("eventType")
    if event_type not in EVENT_TYPES:
        raise ApiError(412, 3005, parameter="eventType", allowed=", ".join(EVENT_TYPES))
    extension = _opt_str(obj, "extension") or None
    if extension is None and event_type != "HIDE_ALL":
        raise required("extension")
    sequence = obj.get("sequence")
    if sequence is None:
        raise required("sequence")
    if isinstance(sequence, bool) or not isinstance(sequence, int) or abs(sequence) > knobs.sequence_max:
        raise bad_format("sequence")
    employee_id = None
    if obj.get("employee") is not None:
        employee_id = parse_ref(account, obj["employee"], ("employee",), "employee").id
    return EventInput(event_type, extension, employee_id, sequence)


@dataclass
class CallInput:
    external_id: str | None = None
    number: str | None = None
    is_incoming: bool | None = None
    start_time: datetime | None = None
    extension: str | None = None
    employee_id: str | None = None
    counterparty_id: str | None = None
    end_time: datetime | None = None
    duration: int | None = None
    record_urls: list[str] = field(default_factory=list)
    comment: str | None = None
    events: list[EventInput] = field(default_factory=list)


def parse_body(account: Account, body: dict[str, Any], knobs: Knobs, creating: bool) -> CallInput:
    data = CallInput()
    if creating:
        for name in ("externalId", "number"):
            value = _opt_str(body, name)
            if not value:
                raise required(name)
        data.external_id, data.number = body["externalId"], body["number"]
        if body.get("isIncoming") is None:
            raise required("isIncoming")
        if not isinstance(body["isIncoming"], bool):
            raise bad_format("isIncoming")
        data.is_incoming = body["isIncoming"]
        if body.get("startTime") is None:
            raise required("startTime")
        data.start_time = _opt_dt(body, "startTime")
    # else: externalId, number, isIncoming and startTime are not updatable and are ignored on PUT.
    data.extension = _opt_str(body, "extension") or None
    if body.get("employee") is not None:
        data.employee_id = parse_ref(account, body["employee"], ("employee",), "employee").id
    if body.get("counterparty") is not None:
        data.counterparty_id = parse_ref(account, body["counterparty"], ("counterparty",), "counterparty").id
    data.end_time = _opt_dt(body, "endTime")
    duration = body.get("duration")
    if duration is not None and (isinstance(duration, bool) or not isinstance(duration, int) or duration < 0):
        raise bad_format("duration")
    data.duration = duration
    urls = body.get("recordUrl")
    if urls is not None:
        if not isinstance(urls, list) or not all(isinstance(u, str) for u in urls):
            raise bad_format("recordUrl")
        data.record_urls = list(urls)
    comment = _opt_str(body, "comment")
    data.comment = comment[:COMMENT_MAX] if comment is not None else None
    events = body.get("events")
    if events is not None:
        if not isinstance(events, list):
            raise bad_format("events")
        data.events = [parse_event(account, e, knobs) for e in events]
    return data


def _check_times(start: datetime, end: datetime | None) -> None:
    if end is not None and end < start:
        raise ApiError(412, 3007, detail="время окончания звонка раньше времени начала", parameter="endTime")


def _apply_write_once(account: Account, call: Call, data: CallInput, knobs: Knobs) -> None:
    """extension, employee, counterparty, endTime and duration are set only while empty (doc: filled
    fields are not overwritten; the contract adds counterparty). employee wins over extension and endTime
    over duration."""
    if call.extension is None and data.extension:
        call.extension = data.extension
    if call.employee_id is None:
        if data.employee_id:
            call.employee_id = data.employee_id
        else:
            employee = employee_by_extension(account, call.extension)
            call.employee_id = employee.id if employee else None
    if call.counterparty_id is None and data.counterparty_id:
        call.counterparty_id = data.counterparty_id
    if call.end_time is None and data.end_time is not None:
        call.end_time = data.end_time
        if call.duration is None and knobs.derive_duration:
            call.duration = int((data.end_time - call.start_time).total_seconds() * 1000)
    if call.duration is None and data.duration is not None:
        call.duration = data.duration


def create_call(ids: IdFactory, account: Account, body: dict[str, Any], knobs: Knobs) -> Call:
    data = parse_body(account, body, knobs, creating=True)
    assert data.external_id and data.number and data.start_time and data.is_incoming is not None
    _check_times(data.start_time, data.end_time)
    if knobs.duplicate_external_id == "reject" and account.call_by_external_id(data.external_id):
        raise ApiError(412, 3006, parameter="externalId")
    call = Call(id=ids.uuid(), external_id=data.external_id, number=data.number, is_incoming=data.is_incoming,
                start_time=data.start_time, created=now_str(), comment=data.comment)
    if data.counterparty_id is None:
        matched = match_counterparty(account, data.number, knobs.counterparty_match)
        if matched is not None:
            data.counterparty_id, call.counterparty_matched = matched.id, True
    _apply_write_once(account, call, data, knobs)
    call.record_urls.extend(data.record_urls)
    account.add_call(call)
    for event in data.events:
        apply_event(account, call, event, "create", knobs.strict_sequence)
    return call


def update_call(account: Account, call: Call, body: dict[str, Any], knobs: Knobs) -> Call:
    data = parse_body(account, body, knobs, creating=False)
    if call.end_time is None:
        _check_times(call.start_time, data.end_time)
    _apply_write_once(account, call, data, knobs)
    call.record_urls.extend(data.record_urls)  # appended, never de-duplicated
    if data.comment is not None:  # null means "do not touch"
        call.comment = data.comment
    call.updated = now_str()
    for event in data.events:
        apply_event(account, call, event, "update", knobs.strict_sequence)
    return call


def find_call(account: Account, call_id: str) -> Call:
    if not is_uuid(call_id):
        raise bad_uuid(call_id)
    call = account.calls.get(call_id.lower())
    if call is None:
        raise not_found("call", call_id)
    return call


def find_call_by_extid(account: Account, external_id: str) -> Call:
    call = account.call_by_external_id(external_id)
    if call is None:
        raise not_found("call", external_id)
    return call
