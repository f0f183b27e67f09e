"""Times: the PBX's wall clock (the enterprise's zone) in, MoySklad's Moscow wall clock out.

The Phone API takes ``yyyy-MM-dd HH:mm:ss`` with no zone; MoySklad reads it as Moscow time (reference
§1.5: two integrations found this out against production). A Minsk PBX and Moscow share UTC+3, but an
enterprise in Yekaterinburg does not, so we always convert.
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

MSK = ZoneInfo("Europe/Moscow")
PBX_FORMAT = "%Y-%m-%d %H:%M:%S"


def zone(name: str | None) -> ZoneInfo:
    try:
        return ZoneInfo(name or "Europe/Minsk")
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("Europe/Minsk")


def parse_pbx(value: str | None, tz_name: str | None) -> dt.datetime | None:
    """``"2025-09-25 14:12:57"`` in the enterprise's zone → aware datetime; None when absent or bad."""
    if not value:
        return None
    try:
        naive = dt.datetime.strptime(value.strip()[:19], PBX_FORMAT)
    except ValueError:
        return None
    return naive.replace(tzinfo=zone(tz_name))


def to_msk(value: dt.datetime) -> str:
    if value.tzinfo is None:  # never expected: every datetime here is aware
        value = value.replace(tzinfo=dt.timezone.utc)
    return value.astimezone(MSK).strftime(PBX_FORMAT)


def from_msk(value: str) -> dt.datetime:
    return dt.datetime.strptime(value[:19], PBX_FORMAT).replace(tzinfo=MSK)


def seconds_between(start: dt.datetime | None, end: dt.datetime | None) -> int | None:
    if start is None or end is None:
        return None
    return max(0, int(round((end - start).total_seconds())))
