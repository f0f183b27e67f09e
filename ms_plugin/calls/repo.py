"""SQL for ``ms_calls`` (every function takes ``conn`` first and carries the enterprise number)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from psycopg2.extras import Json, RealDictCursor

from ms_plugin.calls.model import KIND_CALL, CallRecord, Done, Facts

_COLS = ("enterprise_number, unique_id, kind, parent_unique_id, phone, facts, done, state, version, "
         "created_at, updated_at")


def _record(row: dict[str, Any]) -> CallRecord:
    return CallRecord(
        enterprise_number=row["enterprise_number"], unique_id=row["unique_id"], kind=row["kind"],
        parent_unique_id=row["parent_unique_id"], facts=Facts.from_json(row["facts"]),
        done=Done.from_json(row["done"]), phone=row["phone"], state=row["state"], version=row["version"],
        created_at=row["created_at"], updated_at=row["updated_at"],
    )


def get(conn: Any, ent: str, unique_id: str) -> CallRecord | None:
    with conn.cursor(cursor_factory=RealDictCursor) as cur:
        cur.execute(f"SELECT {_COLS} FROM ms_calls WHERE enterprise_number = %s AND unique_id = %s",
                    (ent, unique_id))
        row = cur.fetchone()
    return _record(dict(row)) if row else None


def insert(conn: Any, rec: CallRecord) -> CallRecord:
    """Insert unless another worker did first; returns the stored row either way."""
    with conn.cursor() as cur:
        cur.execute(
            "INSERT INTO ms_calls (enterprise_number, unique_id, kind, parent_unique_id, direction, phone, "
            "facts, done) VALUES (%s, %s, %s, %s, %s, %s, %s, %s) ON CONFLICT DO NOTHING",
            (rec.enterprise_number, rec.unique_id, rec.kind, rec.parent_unique_id, rec.facts.direction,
             rec.phone, Json(rec.facts.to_json()), Json(rec.done.to_json())),
        )
    stored = get(conn, rec.enterprise_number, rec.unique_id)
    assert stored is not None
    return stored


def save(conn: Any, rec: CallRecord, done_before: dict[str, Any] | None = None) -> None:
    """Write facts, state and ``done`` back.

    Two paths write one call at once (the card path under the call's lease, the JSON follow-up under
    its own), each owning different ``done`` keys: with ``done_before`` (the ``done`` as loaded) only the
    keys this path changed are merged in, so neither overwrites the other's progress.
    """
    finished = rec.state == "finished"
    patch = done_patch(rec, done_before)
    with conn.cursor() as cur:
        cur.execute(
            "UPDATE ms_calls SET kind = %s, parent_unique_id = %s, direction = %s, phone = %s, facts = %s, "
            "done = done || %s, state = %s, answered_employee = coalesce(%s, answered_employee), "
            "version = version + 1, updated_at = now(), "
            "finished_at = CASE WHEN %s THEN coalesce(finished_at, now()) ELSE finished_at END "
            "WHERE enterprise_number = %s AND unique_id = %s",
            (rec.kind, rec.parent_unique_id, rec.facts.direction, rec.phone, Json(rec.facts.to_json()),
             Json(patch), rec.state, _answered_employee(rec), finished, rec.enterprise_number, rec.unique_id),
        )


def done_patch(rec: CallRecord, done_before: dict[str, Any] | None) -> dict[str, Any]:
    """The ``done`` keys changed since ``done_before`` (all of them without it)."""
    done = rec.done.to_json()
    return done if done_before is None else {k: v for k, v in done.items() if done_before.get(k) != v}


def save_done(conn: Any, ent: str, unique_id: str, patch: dict[str, Any]) -> None:
    """The JSON follow-up's write: only its ``done`` keys, never the facts, state or phone (the card path
    owns them and may have changed them since the follow-up loaded the call)."""
    if not patch:
        return
    with conn.cursor() as cur:
        cur.execute("UPDATE ms_calls SET done = done || %s, version = version + 1, updated_at = now() "
                    "WHERE enterprise_number = %s AND unique_id = %s", (Json(patch), ent, unique_id))


def _answered_employee(rec: CallRecord) -> str | None:
    # Only a call someone really took feeds "the last employee who talked with this number".
    return rec.done.employee_id if rec.facts.is_answered else None


def live_incoming(conn: Any, ent: str, since: dt.datetime, at: dt.datetime | None = None) -> list[CallRecord]:
    """Incoming calls of the enterprise seen since ``since`` that were still open at ``at`` (follow-me
    leg detection; a call finished since then still counts: under a backlog its hangup ran first)."""
    with conn.cursor(cursor_factory=RealDictCursor) as cur:
        cur.execute(
            f"SELECT {_COLS} FROM ms_calls WHERE enterprise_number = %s AND kind = %s AND direction = 'in' "
            "AND created_at >= %s AND (state = 'open' OR finished_at > %s) ORDER BY created_at DESC LIMIT 200",
            (ent, KIND_CALL, since, at or dt.datetime.now(dt.timezone.utc)))
        return [_record(dict(r)) for r in cur.fetchall()]


def last_answered_employee(conn: Any, ent: str, phone: str, exclude_unique_id: str | None = None) -> str | None:
    with conn.cursor() as cur:
        cur.execute(
            "SELECT answered_employee FROM ms_calls WHERE enterprise_number = %s AND phone = %s "
            "AND answered_employee IS NOT NULL AND unique_id IS DISTINCT FROM %s "
            "ORDER BY created_at DESC LIMIT 1", (ent, phone, exclude_unique_id))
        row = cur.fetchone()
    return row[0] if row else None


def stale_open(conn: Any, older_than: dt.datetime, limit: int = 200) -> list[tuple[str, str]]:
    with conn.cursor() as cur:
        cur.execute("SELECT enterprise_number, unique_id FROM ms_calls WHERE state = 'open' "
                    "AND kind IN ('call', 'pending') AND updated_at < %s ORDER BY updated_at LIMIT %s",
                    (older_than, limit))
        return [(r[0], r[1]) for r in cur.fetchall()]


def unique_ids_of(conn: Any, ent: str, root: str) -> list[str]:
    """The root's UniqueId and those of its legs."""
    with conn.cursor() as cur:
        cur.execute("SELECT unique_id FROM ms_calls WHERE enterprise_number = %s "
                    "AND (unique_id = %s OR parent_unique_id = %s)", (ent, root, root))
        return [r[0] for r in cur.fetchall()]
