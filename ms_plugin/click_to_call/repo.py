"""SQL of click-to-call: the webhook's tenant lookup and ``ms_originates``. Every function takes ``conn``
first and runs inside the caller's transaction; every query carries the enterprise number.

Times come from PostgreSQL's clock (``now()``), one clock for every worker and machine, so the 10 s
duplicate window, the 60 s rate window and the 60 s match window mean the same everywhere.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from psycopg2.extras import RealDictCursor

# Only columns a caller needs; ``error`` may be long and stays in the table.
_ROW = ("enterprise_number, id, extension, employee_id, dest_digits, dest_e164, dial_number, status, "
        "created_at, sent_at, attempts, attempt_id, signature, matched_unique_id, error_code, "
        "extract(epoch FROM now() - created_at)::float8 AS age_s")


def enterprises_by_webhook(conn: Any, key: str) -> list[str]:
    """Enterprise numbers whose ``ms.webhook_uuid`` is ``key`` (served by the expression index)."""
    forms = list(dict.fromkeys((key, key.lower())))  # a uuid pasted in upper case still finds its tenant
    with conn.cursor() as cur:
        cur.execute("SELECT number FROM enterprises "
                    "WHERE (integrations_config -> 'ms' ->> 'webhook_uuid') = ANY(%s) LIMIT 2", (forms,))
        return [row[0] for row in cur.fetchall()]


def lock_clicks(conn: Any, ent: str) -> None:
    """Serialise the duplicate/rate checks and the insert of one enterprise's clicks (this transaction
    only: a few milliseconds, never across a network call)."""
    with conn.cursor() as cur:
        cur.execute("SELECT pg_advisory_xact_lock(hashtextextended('ms.click_to_call:' || %s, 0))", (ent,))


def recent_duplicate(conn: Any, ent: str, employee_id: str, dest_digits: str, within_s: float) -> int | None:
    """A click of this employee to this number within ``within_s`` that is (being) dialled."""
    with conn.cursor() as cur:
        cur.execute(
            "SELECT id FROM ms_originates WHERE enterprise_number = %s AND employee_id = %s "
            "AND dest_digits = %s AND created_at > now() - make_interval(secs => %s) "
            "AND status IN ('pending', 'dialled', 'matched') ORDER BY created_at DESC LIMIT 1",
            (ent, employee_id, dest_digits, within_s))
        row = cur.fetchone()
    return int(row[0]) if row else None


def rate_retry_after(conn: Any, ent: str, limit: int, window_s: float) -> float | None:
    """Seconds until one more click fits under ``limit`` per ``window_s``; None when it fits now.

    With n >= limit clicks in the window, the next one fits once the limit-th newest has left it.
    """
    with conn.cursor() as cur:
        cur.execute(
            "SELECT extract(epoch FROM created_at + make_interval(secs => %s) - now())::float8 "
            "FROM ms_originates WHERE enterprise_number = %s AND created_at > now() - make_interval(secs => %s) "
            "ORDER BY created_at DESC OFFSET %s LIMIT 1",
            (window_s, ent, window_s, max(limit, 1) - 1))
        row = cur.fetchone()
    return None if row is None else max(float(row[0]), 0.0)


def insert_originate(conn: Any, ent: str, *, extension: str, employee_id: str, dest_digits: str,
                     dest_e164: str, dial_number: str, signature: str) -> int:
    with conn.cursor() as cur:
        cur.execute(
            "INSERT INTO ms_originates (enterprise_number, extension, employee_id, dest_digits, dest_e164, "
            "dial_number, signature) VALUES (%s, %s, %s, %s, %s, %s, %s) RETURNING id",
            (ent, extension, employee_id, dest_digits, dest_e164, dial_number, signature))
        return int(cur.fetchone()[0])


def prune(conn: Any, ent: str, keep_days: float) -> int:
    """Old originates hold phone numbers and help no one after the call was matched or not."""
    with conn.cursor() as cur:
        cur.execute("DELETE FROM ms_originates WHERE enterprise_number = %s "
                    "AND created_at < now() - make_interval(secs => %s)", (ent, keep_days * 86400.0))
        return int(cur.rowcount)


def get_originate(conn: Any, ent: str, originate_id: int) -> dict[str, Any] | None:
    with conn.cursor(cursor_factory=RealDictCursor) as cur:
        cur.execute(f"SELECT {_ROW} FROM ms_originates WHERE enterprise_number = %s AND id = %s",
                    (ent, originate_id))
        row = cur.fetchone()
    return dict(row) if row else None


def claim_for_send(conn: Any, ent: str, originate_id: int) -> dict[str, Any] | None:
    """Mark a pending originate as being handed to the PBX; None when it already was (or is not pending).

    Committed before the PBX is contacted: a job re-run after a crash then sees ``sent_at`` and knows the
    Originate may have reached the PBX, instead of ringing the employee a second time.
    """
    with conn.cursor(cursor_factory=RealDictCursor) as cur:
        cur.execute(
            f"UPDATE ms_originates SET sent_at = now(), attempts = attempts + 1, updated_at = now() "
            f"WHERE enterprise_number = %s AND id = %s AND status = 'pending' AND sent_at IS NULL "
            f"RETURNING {_ROW}", (ent, originate_id))
        row = cur.fetchone()
    return dict(row) if row else None


def release_claim(conn: Any, ent: str, originate_id: int, error_code: str, error: str) -> None:
    """Nothing reached the PBX: the originate may be tried again."""
    with conn.cursor() as cur:
        cur.execute("UPDATE ms_originates SET sent_at = NULL, error_code = %s, error = %s, updated_at = now() "
                    "WHERE enterprise_number = %s AND id = %s AND status = 'pending'",
                    (error_code, error[:500], ent, originate_id))


def finish_originate(conn: Any, ent: str, originate_id: int, status: str, *, attempt_id: str | None = None,
                     error_code: str | None = None, error: str | None = None) -> str | None:
    """Record the outcome; returns the row's status afterwards.

    Only a ``pending`` row changes status: the call flow may already have ``matched`` it (the PBX's dial
    event can arrive before our OriginateResponse does), and that is the more useful fact to keep.
    """
    with conn.cursor() as cur:
        cur.execute(
            "UPDATE ms_originates SET status = CASE WHEN status = 'pending' THEN %s ELSE status END, "
            "attempt_id = coalesce(%s, attempt_id), error_code = %s, error = %s, updated_at = now() "
            "WHERE enterprise_number = %s AND id = %s RETURNING status",
            (status, attempt_id, error_code, error[:500] if error else None, ent, originate_id))
        row = cur.fetchone()
    return row[0] if row else None


def match(conn: Any, ent: str, extension: str, digits: str, *, within_s: float, at: dt.datetime | None,
          unique_id: str | None) -> int | None:
    """Mark the oldest matchable originate from ``extension`` to a number ending in ``digits`` as matched.

    Matchable: created within ``within_s`` before ``at`` (default now; a few seconds after it too, for
    clock skew between the host and PostgreSQL), and ``pending``/``dialled``, or ``failed`` with a
    timeout (we stopped waiting, but the PBX may well have placed the call). ``FOR UPDATE`` plus the
    status condition make it happen once when two dials race for it: the second waits for the first's
    commit, then finds the row matched. Not ``SKIP LOCKED``: the originate job's own short update of the
    row would then make a dial arriving at that moment miss its click.
    """
    with conn.cursor() as cur:
        if unique_id:
            cur.execute("SELECT id FROM ms_originates WHERE enterprise_number = %s AND matched_unique_id = %s "
                        "LIMIT 1", (ent, unique_id))
            row = cur.fetchone()
            if row is not None:  # this dial was matched before (a re-run of its job): the same answer
                return int(row[0])
        cur.execute(
            "WITH target AS ("
            " SELECT id FROM ms_originates"
            " WHERE enterprise_number = %(ent)s AND extension = %(ext)s"
            "   AND created_at >= coalesce(%(at)s, now()) - make_interval(secs => %(within)s)"
            "   AND created_at <= coalesce(%(at)s, now()) + interval '5 seconds'"
            "   AND right(dest_digits, %(n)s) = %(digits)s"
            "   AND (status IN ('pending', 'dialled') OR (status = 'failed' AND error_code = 'timeout'))"
            " ORDER BY created_at, id LIMIT 1 FOR UPDATE) "
            "UPDATE ms_originates o SET status = 'matched', matched_unique_id = %(uid)s, matched_at = now(), "
            "updated_at = now() FROM target WHERE o.id = target.id RETURNING o.id",
            {"ent": ent, "ext": extension, "at": at, "within": within_s, "n": len(digits), "digits": digits,
             "uid": unique_id})
        row = cur.fetchone()
    return int(row[0]) if row else None
