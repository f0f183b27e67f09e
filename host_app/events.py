"""Accepted PBX events: stored with one job per integration before the 202 (contract §6).

Identity = (enterprise, uniqueId, event_type, sha256 of ``raw`` with sorted keys, without keys starting
with ``_``). ``origin`` and ``record_url`` are not part of it: a replay of an event we already hold is a
duplicate; several dials of one call with growing ring groups are different events.
"""

from __future__ import annotations

import datetime as dt
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


# The event's jobs (one per integration), inserted by the same statement as the event, only when the
# event row was written: columns and defaults as ``JobQueue.enqueue`` stores them.
_JOBS_CTE = """
jobs_in AS (
    INSERT INTO jobs (integration, kind, enterprise_number, key, dedupe, payload, max_attempts, run_at)
    SELECT j.integration, j.kind, %(ent)s, j.key, false, jsonb_build_object('event_id', ev.id), j.max_attempts, now()
    FROM ev, unnest(%(integrations)s::text[], %(kinds)s::text[], %(keys)s::text[], %(maxes)s::int[])
         AS j(integration, kind, key, max_attempts)
    RETURNING id)
SELECT (SELECT id FROM ev), ARRAY(SELECT id FROM jobs_in ORDER BY id)
"""
_INSERT_SQL = """
WITH ev AS (
    INSERT INTO call_events (enterprise_number, unique_id, event_type, raw_hash, raw, origin, record_url)
    VALUES (%(ent)s, %(uid)s, %(type)s, %(hash)s, %(raw)s, %(origin)s, %(url)s)
    ON CONFLICT (enterprise_number, unique_id, event_type, raw_hash) DO NOTHING RETURNING id),
""" + _JOBS_CTE
_RELINK_SQL = """
WITH ev AS (
    UPDATE call_events SET record_url = %(url)s WHERE enterprise_number = %(ent)s AND unique_id = %(uid)s
    AND event_type = %(type)s AND raw_hash = %(hash)s AND record_url IS NULL RETURNING id),
""" + _JOBS_CTE


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
        """Insert the event and its jobs in ``conn``'s transaction (the caller commits).

        One statement does both (a second one only for a duplicate that brings a recording link), so
        it is atomic on its own and the dispatch route can run it in autocommit: one round trip to
        PostgreSQL per acknowledged event instead of four (BEGIN, two INSERTs, COMMIT).
        """
        params = {"ent": enterprise_number, "uid": unique_id, "type": event_type, "hash": event_identity(raw),
                  "raw": Json(dict(raw)), "origin": origin, "url": record_url, **self._job_params(
                      enterprise_number, unique_id, codes)}
        with conn.cursor() as cur:
            cur.execute(_INSERT_SQL, params)
            event_id, job_ids = cur.fetchone()
            duplicate = event_id is None
            if duplicate and record_url:
                # A duplicate that brings the recording link the first copy lacked (a replay of a
                # hangup): keep the link and let the plugins see the event again (processing is
                # idempotent, and the link must not be lost).
                cur.execute(_RELINK_SQL, params)
                event_id, job_ids = cur.fetchone()
        if event_id is None:
            return SubmitResult(accepted=True, duplicate=True), []
        return SubmitResult(accepted=True, duplicate=duplicate, event_id=event_id), list(job_ids)

    def _job_params(self, ent: str, unique_id: str, codes: Sequence[str]) -> dict[str, list[Any]]:
        kinds = [call_event_kind(code) for code in codes]
        defaults = [self._jobs.job_defaults(kind, code) for kind, code in zip(kinds, codes)]
        return {"integrations": [owner for owner, _ in defaults], "kinds": kinds,
                "keys": [f"{code}:{ent}:{unique_id}" for code in codes],
                "maxes": [attempts for _, attempts in defaults]}

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

    def recent_by_phone(self, enterprise_number: str, since: dt.datetime, phone_tails: Sequence[str],
                        event_types: Sequence[str], *, conn: Any = None) -> list[CallEvent]:
        if not phone_tails:
            return []
        sql = ("SELECT * FROM call_events WHERE enterprise_number = %s AND received_at >= %s "
               "AND event_type = ANY(%s) "
               "AND right(regexp_replace(coalesce(raw ->> 'Phone', ''), '[^0-9]', '', 'g'), %s) = ANY(%s) "
               "ORDER BY id LIMIT 500")
        width = max(len(t) for t in phone_tails)
        params = (enterprise_number, since, list(event_types), width, [t[-width:] for t in phone_tails])
        if conn is not None:
            with dict_cursor(conn) as cur:
                cur.execute(sql, params)
                return [_row_to_event(r) for r in cur.fetchall()]
        with self._db.connection() as own, dict_cursor(own) as cur:
            cur.execute(sql, params)
            return [_row_to_event(r) for r in cur.fetchall()]

    def prune(self, retention_days: int) -> int:
        with self._db.connection() as conn, conn.cursor() as cur:
            cur.execute("DELETE FROM call_events WHERE received_at < now() - make_interval(days => %s)",
                        (retention_days,))
            return int(cur.rowcount)
