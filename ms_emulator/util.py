"""Small shared helpers: MSK timestamps, phone digits, meta objects and href parsing."""
from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone
from typing import Any
from urllib.parse import urlsplit

# MoySklad always answers with its own public host, whatever address the client used to reach it,
# so hrefs look real even when the emulator runs on 127.0.0.1.
JSON_BASE = "https://api.moysklad.ru/api/remap/1.2"
PHONE_BASE = "https://api.moysklad.ru/api/phone/1.0"
MEDIA_TYPE = "application/json"

# Created/updated moments are Moscow wall-clock time (JSON API 1.2 docs; Phone API by inference).
MSK = timezone(timedelta(hours=3))

UUID_RE = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
# Doc: "yyyy-MM-dd HH:mm:ss" or "yyyy-MM-dd HH:mm:ss.SSS" (space separator, no zone).
DATETIME_RE = re.compile(r"^(\d{4})-(\d{2})-(\d{2}) (\d{2}):(\d{2}):(\d{2})(?:\.(\d{3}))?$")
# JSON API filters additionally accept minute precision.
FILTER_DATETIME_RE = re.compile(r"^(\d{4})-(\d{2})-(\d{2}) (\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{3}))?)?$")
_DIGITS_RE = re.compile(r"\D+")


def is_uuid(value: str) -> bool:
    return bool(UUID_RE.match(value))


def digits(value: str | None) -> str:
    return _DIGITS_RE.sub("", value or "")


def now_msk() -> datetime:
    return datetime.now(MSK).replace(tzinfo=None)


def format_dt(value: datetime) -> str:
    """Render like MoySklad: always with milliseconds (the real responses carry `.000`)."""
    return value.strftime("%Y-%m-%d %H:%M:%S.") + f"{value.microsecond // 1000:03d}"


def now_str() -> str:
    return format_dt(now_msk())


def parse_dt(value: str, *, allow_minutes: bool = False) -> datetime | None:
    """Parse a MoySklad date-time string (naive MSK); None when it does not match the format."""
    match = (FILTER_DATETIME_RE if allow_minutes else DATETIME_RE).match(value)
    if not match:
        return None
    parts = [int(p) if p else 0 for p in match.groups()]
    try:
        return datetime(parts[0], parts[1], parts[2], parts[3], parts[4], parts[5], parts[6] * 1000)
    except ValueError:  # e.g. 2026-02-30
        return None


def meta(entity_type: str, entity_id: str, *, href: str | None = None) -> dict[str, Any]:
    return {
        "href": href or f"{JSON_BASE}/entity/{entity_type}/{entity_id}",
        "type": entity_type,
        "mediaType": MEDIA_TYPE,
    }


def href_for(entity_type: str, entity_id: str, parent_id: str | None = None) -> str:
    """Hrefs of the JSON API entities the emulator serves (sub-resources need their parent)."""
    if entity_type == "state":
        return f"{JSON_BASE}/entity/customerorder/metadata/states/{entity_id}"
    if entity_type == "contactperson":
        return f"{JSON_BASE}/entity/counterparty/{parent_id}/contactpersons/{entity_id}"
    if entity_type == "note":
        return f"{JSON_BASE}/entity/counterparty/{parent_id}/notes/{entity_id}"
    if entity_type == "call":
        return f"{PHONE_BASE}/call/{entity_id}"
    return f"{JSON_BASE}/entity/{entity_type}/{entity_id}"


def wrapped_meta(entity_type: str, entity_id: str, parent_id: str | None = None) -> dict[str, Any]:
    """The JSON API 1.2 reference shape `{"meta": {...}}`."""
    out = meta(entity_type, entity_id, href=href_for(entity_type, entity_id, parent_id))
    if entity_type == "state":
        out["metadataHref"] = f"{JSON_BASE}/entity/customerorder/metadata"
    return {"meta": out}


_HREF_PATH_RE = re.compile(
    r"/api/remap/1\.2/entity/(?:customerorder/metadata/(?P<state>states)|(?P<type>[a-z]+))/(?P<id>[^/?#]+)/?$"
)


def parse_entity_href(href: str) -> tuple[str, str] | None:
    """(type, id) from a JSON API entity href. The host is deliberately not checked: the emulator
    may be reached under any address, only the path has to point at an entity."""
    try:
        path = urlsplit(href).path
    except ValueError:
        return None
    match = _HREF_PATH_RE.search(path)
    if not match:
        return None
    entity_type = "state" if match.group("state") else match.group("type")
    return entity_type, match.group("id")

