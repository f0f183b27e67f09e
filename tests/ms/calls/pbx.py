"""The recorded PBX event sequences (``recorded/``, copies of ../shared/pbx-events) as CallEvents, and small
event builders."""

from __future__ import annotations

import datetime as dt
import itertools
import json
from pathlib import Path
from typing import Any

from host_app.integrations.contract import CallEvent

EVENTS_DIR = Path(__file__).resolve().parent / "recorded"
PROCESSED = ("start", "dial", "bridge", "hangup")
_ids = itertools.count(1)


def recorded(name: str, token: str = "<TOKEN>") -> list[dict[str, Any]]:
    """The events of a recording that the host processes, in recorded order: ``{event_type, raw}``."""
    data = json.loads((EVENTS_DIR / f"{name}.json").read_text(encoding="utf-8"))
    out = []
    for item in data["events"]:
        if item["event_type"] in PROCESSED:
            raw = dict(item["raw"])
            raw["Token"] = token
            out.append({"event_type": item["event_type"], "raw": raw})
    return out


def as_events(items: list[dict[str, Any]], ent: str = "100", *, start: dt.datetime | None = None,
              step: float = 1.0, origin: str = "live", record_url: str | None = None) -> list[CallEvent]:
    at = start or dt.datetime(2025, 9, 25, 11, 12, 57, tzinfo=dt.timezone.utc)
    out = []
    for i, item in enumerate(items):
        raw = item["raw"]
        out.append(CallEvent(
            id=next(_ids), enterprise_number=ent, unique_id=str(raw.get("UniqueId", "")),
            event_type=item["event_type"], raw=raw, origin=origin,
            record_url=record_url if item["event_type"] == "hangup" else None,
            received_at=at + dt.timedelta(seconds=step * i)))
    return out
