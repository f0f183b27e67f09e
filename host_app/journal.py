"""The journal writer (``integration_logs``). Secrets are scrubbed by key name before anything is stored."""

from __future__ import annotations

import json
import logging
import re
from typing import Any

from psycopg2.extras import Json

from host_app.db import DbPool
from host_app.integrations.contract import ApiError, JournalEntry, iter_secret_keys

log = logging.getLogger(__name__)

MASK = "***"
_SECRET_KEYS = frozenset(iter_secret_keys())
_MAX_TEXT = 8000  # one journal row must not carry a whole 1 MiB body
# "Basic xxx" / "Bearer xxx" values anywhere in text.
_AUTH_VALUE = re.compile(r"(?i)\b(basic|bearer)\s+[A-Za-z0-9+/=._~-]{6,}")


def scrub(value: Any, _depth: int = 0) -> Any:
    """A copy of ``value`` with secret-named keys masked, auth header values masked, long text cut."""
    if _depth > 20:
        return "…"
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for key, item in value.items():
            name = str(key).lower()
            if name in _SECRET_KEYS and item not in (None, ""):
                out[str(key)] = MASK
            else:
                out[str(key)] = scrub(item, _depth + 1)
        return out
    if isinstance(value, (list, tuple)):
        return [scrub(item, _depth + 1) for item in value[:200]]
    if isinstance(value, str):
        text = _AUTH_VALUE.sub(lambda m: f"{m.group(1)} {MASK}", value)
        return text if len(text) <= _MAX_TEXT else text[:_MAX_TEXT] + "…"
    if isinstance(value, (int, float, bool)) or value is None:
        return value
    return scrub(str(value), _depth + 1)


def _jsonable(value: Any) -> Any:
    if value is None:
        return None
    try:
        json.dumps(value)
        return value
    except (TypeError, ValueError):
        return str(value)


class Journal:
    def __init__(self, db: DbPool) -> None:
        self._db = db

    def write(self, entry: JournalEntry, *, conn: Any = None) -> None:
        params = (
            entry.enterprise_number, entry.integration_type, entry.event_type, entry.call_unique_id,
            entry.phone,
            Json(scrub(_jsonable(entry.request))) if entry.request is not None else None,
            Json(scrub(_jsonable(entry.response))) if entry.response is not None else None,
            entry.status, scrub(entry.error) if entry.error else None, entry.duration_ms,
        )
        sql = ("INSERT INTO integration_logs (enterprise_number, integration_type, event_type, "
               "call_unique_id, phone, request_data, response_data, status, error_message, duration_ms) "
               "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)")
        if conn is not None:  # part of the caller's transaction: its errors are the caller's
            with conn.cursor() as cur:
                cur.execute(sql, params)
            return
        try:
            with self._db.connection() as own, own.cursor() as cur:
                cur.execute(sql, params)
        except ApiError as exc:  # the database is down: the log keeps the trace
            log.warning("journal write skipped (%s): %s %s %s", exc.code, entry.integration_type,
                        entry.event_type, entry.status)
        except Exception:
            log.exception("journal write failed")

    def prune(self, retention_days: int) -> int:
        with self._db.connection() as conn, conn.cursor() as cur:
            cur.execute("DELETE FROM integration_logs WHERE created_at < now() - make_interval(days => %s)",
                        (retention_days,))
            return int(cur.rowcount)
