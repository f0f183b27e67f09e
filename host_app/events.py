"""Accepted PBX events: stored with one job per integration before the 202 (contract §6).

Identity = (enterprise, uniqueId, event_type, sha256 of ``raw`` with sorted keys, without keys starting
with ``_``). ``origin`` and ``record_url`` are not part of it: a replay of an event we already hold is a
duplicate; several dials of one call with growing ring groups are different events.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from psycopg2.extras import Json

from host_app.db import DbPool, dict_cursor
from host_app.integrations.contract import CallEvent, SubmitResult
from host_app.jobs.queue import JobQueue

log = logging.getLogger(__name__)

CALL_EVENT_KIND = "{code}.call_event"


def event_identity(raw: Mapping[str, Any]) -> str:
    # Keys starting with "_" are the relay's own enrichment (_enriched_data, _from_dispatch_to_all …):
    # they differ between a live event and its replay, so they are not part of what the event *is*.
    clean = {k: v for k, v in raw.items() if not str(k).startswith("_")}
    text = json.dumps(clean, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def call_event_kind(code: str) -> str:
    return CALL_EVENT_KIND.format(code=code)


def _row_to_event(row: Mapping[str, Any]) -> CallEvent:
    return CallEvent(id=row["id"], enterprise_number=row["enterprise_number"], unique_id=row["unique_id"],
                     event_type=row["event_type"], raw=row["raw"], origin=row["origin"],
                     record_url=row["record_url"], received_at=row["received_at"])


class EventStore:
    """The contract's ``EventSink``."""

    def __init__(self, db: DbPool, jobs: JobQueue,
                 active_codes: Callable[[str], Sequence[str]]) -> None:
        self._db = db
        self._jobs = jobs
        self._active_codes = active_codes

    def submit(self, enterprise_number: str, unique_id: str, event_type: str, raw: Mapping[str, Any], *,
               origin: str = "live", record_url: str | None = None,
               integrations: Sequence[str] | None = None) -> SubmitResult:
        codes = list(integrations) if integrations is not None else list(self._active_codes(enterprise_number))
        with self._db.connection() as conn:
            result, job_ids = self.store(conn, enterprise_number, unique_id, event_type, raw,
                                         origin=origin, record_url=record_url, codes=codes)
        self._jobs.run_soon(job_ids)
        return result

    def store(self, conn: Any, enterprise_number: str, unique_id: str, event_type: str,
              raw: Mapping[str, Any], *, origin: str, record_url: str | None,
              codes: Sequence[str]) -> tuple[SubmitResult, list[int]]:
        """Insert the event and its jobs in ``conn``'s transaction (the caller commits)."""
        identity = event_identity(raw)
        with conn.cursor() as cur:
            cur.execute(
                "INSERT INTO call_events (enterprise_number, unique_id, event_type, raw_hash, raw, origin, "
                "record_url) VALUES (%s, %s, %s, %s, %s, %s, %s) "
                "ON CONFLICT (enterprise_number, unique_id, event_type, raw_hash) DO NOTHING RETURNING id",
                (enterprise_number, unique_id, event_type, identity, Json(dict(raw)), origin, record_url),
            )
            row = cur.fetchone()
            if row is None:
                # A duplicate. If it brings the recording link the first copy lacked (a replay of a
                # hangup), keep the link and let the plugins see the event again: processing is
                # idempotent, and the link must not be lost.
                if not record_url:
                    return SubmitResult(accepted=True, duplicate=True), []
                cur.execute(
                    "UPDATE call_events SET record_url = %s WHERE enterprise_number = %s AND unique_id = %s "
                    "AND event_type = %s AND raw_hash = %s AND record_url IS NULL RETURNING id",
                    (record_url, enterprise_number, unique_id, event_type, identity))
                updated = cur.fetchone()
                if updated is None:
                    return SubmitResult(accepted=True, duplicate=True), []
                event_id, duplicate = updated[0], True
            else:
                event_id, duplicate = row[0], False
        job_ids = []
        for code in codes:
            job_id = self._jobs.enqueue(call_event_kind(code), {"event_id": event_id},
                                        enterprise_number=enterprise_number,
                                        key=f"{code}:{enterprise_number}:{unique_id}",
                                        conn=conn, integration=code)
            if job_id is not None:
                job_ids.append(job_id)
        return SubmitResult(accepted=True, duplicate=duplicate, event_id=event_id), job_ids

    def get(self, event_id: int) -> CallEvent | None:
        with self._db.connection() as conn, dict_cursor(conn) as cur:
            cur.execute("SELECT * FROM call_events WHERE id = %s", (event_id,))
            row = cur.fetchone()
        return _row_to_event(row) if row else None

    def for_call(self, enterprise_number: str, unique_ids: Sequence[str]) -> list[CallEvent]:
        if not unique_ids:
            return []
        with self._db.connection() as conn, dict_cursor(conn) as cur:
            cur.execute("SELECT * FROM call_events WHERE enterprise_number = %s AND unique_id = ANY(%s) "
                        "ORDER BY id", (enterprise_number, list(unique_ids)))
            return [_row_to_event(r) for r in cur.fetchall()]

    def prune(self, retention_days: int) -> int:
        with self._db.connection() as conn, conn.cursor() as cur:
            cur.execute("DELETE FROM call_events WHERE received_at < now() - make_interval(days => %s)",
                        (retention_days,))
            return int(cur.rowcount)
