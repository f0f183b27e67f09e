"""The call representation of the Phone API (reference §3.1)."""
from __future__ import annotations

from typing import Any

from ..model import Account, Call
from ..util import MEDIA_TYPE, PHONE_BASE, format_dt, meta


def employee_extension(account: Account, employee_id: str) -> str | None:
    employee = account.get("employee", employee_id)
    return employee.fields.get("_extension") if employee else None


def render_call(account: Account, call: Call) -> dict[str, Any]:
    """Field order follows the documented examples. `counterparty`/`employee` are bare meta objects while
    `counterpartyowner` wraps its meta (a documented inconsistency). Unresolved counterparty and owner are
    omitted, but `endTime`/`duration` are `null` and `recordUrl` is `[]` when unset, as real responses do."""
    out: dict[str, Any] = {
        "meta": {"href": f"{PHONE_BASE}/call/{call.id}", "type": "call", "mediaType": MEDIA_TYPE},
        "id": call.id,
        "externalId": call.external_id,
        "number": call.number,
    }
    if call.counterparty_id:
        out["counterparty"] = meta("counterparty", call.counterparty_id)
        counterparty = account.get("counterparty", call.counterparty_id)
        owner = counterparty.fields.get("owner") if counterparty else None
        if owner is not None:
            owner_out: dict[str, Any] = {}
            extension = employee_extension(account, owner.id)
            if extension:
                owner_out["extention"] = extension  # sic: MoySklad's spelling
            owner_out["meta"] = meta("employee", owner.id)
            out["counterpartyowner"] = owner_out
    if call.extension is not None:
        out["extension"] = call.extension
    if call.employee_id:
        out["employee"] = meta("employee", call.employee_id)
    out["isIncoming"] = call.is_incoming
    out["startTime"] = format_dt(call.start_time)
    out["endTime"] = format_dt(call.end_time) if call.end_time else None
    out["duration"] = call.duration
    out["recordUrl"] = list(call.record_urls)
    if call.comment is not None:
        out["comment"] = call.comment
    return out


def render_call_for_inspection(account: Account, call: Call) -> dict[str, Any]:
    return {
        **render_call(account, call),
        "_account": account.name,
        "_created": call.created,
        "_updated": call.updated,
        "_counterparty_matched": call.counterparty_matched,
        "_events": [e.as_dict() for e in call.events],
        "_cards": [c.as_dict() for c in call.cards.values()],
    }
