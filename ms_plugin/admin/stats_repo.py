"""SQL for the admin page's figures (``GET /ms-admin/stats/<ent>``), all from PostgreSQL.

What is counted, and from where:
* calls, answered, missed, cards shown, clients and orders created: ``ms_calls`` rows of kind ``call``
  created in the window (``done.shown`` lists the extensions whose card was shown, ``done.after_card`` the
  one card of "after" mode, ``done.order_id`` / ``done.counterparty_created`` what the call created);
* tasks created: ``ms_tasks`` rows of kind ``task`` (``note`` rows are the fallback where the account has
  no task option, counted apart);
* MoySklad latency and success rate: journal rows of this integration whose ``event_type`` starts with
  ``moysklad.`` and that carry a ``duration_ms`` (one row per HTTP attempt: ``moysklad.phone`` and
  ``moysklad.json``; rows without a duration, such as ``moysklad.deferred``, are not requests). Only
  ``success`` and ``error`` rows count towards the rate.

The journal part is bounded by id through the ``created_at`` index and then read over the host's
``(enterprise_number, integration_type, id DESC)`` index, so a busy day of another tenant costs nothing.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from psycopg2.extras import RealDictCursor

REQUEST_PREFIX = "moysklad."


def first_id_since(conn: Any, since: dt.datetime) -> int:
    with conn.cursor() as cur:
        cur.execute("SELECT id FROM integration_logs WHERE created_at >= %s ORDER BY created_at LIMIT 1", (since,))
        row = cur.fetchone()
        if row is not None:
            return int(row[0])
        cur.execute("SELECT coalesce(max(id), 0) + 1 FROM integration_logs")
        return int(cur.fetchone()[0])


def call_totals(conn: Any, ent: str, since: dt.datetime) -> dict[str, Any]:
    with conn.cursor(cursor_factory=RealDictCursor) as cur:
        cur.execute(
            "SELECT count(*) AS calls, "
            " count(*) FILTER (WHERE direction = 'in') AS incoming, "
            " count(*) FILTER (WHERE direction = 'out') AS outgoing, "
            " count(*) FILTER (WHERE facts->>'answered' = 'true' OR facts->>'call_status' = '2') AS answered, "
            " count(*) FILTER (WHERE state = 'finished' AND direction = 'in' AND NOT ("
            "   facts->>'answered' = 'true' OR coalesce(facts->>'call_status', '') = '2')) AS missed, "
            " coalesce(sum(CASE WHEN jsonb_typeof(done->'shown') = 'array' "
            "   THEN jsonb_array_length(done->'shown') ELSE 0 END), 0) "
            "   + count(*) FILTER (WHERE done->>'after_card' = 'true') AS cards_shown, "
            " count(*) FILTER (WHERE coalesce(done->>'order_id', '') <> '') AS orders_created, "
            " count(*) FILTER (WHERE done->>'counterparty_created' = 'true') AS clients_created "
            "FROM ms_calls WHERE enterprise_number = %s AND kind = 'call' AND created_at >= %s",
            (ent, since))
        calls = dict(cur.fetchone() or {})
        cur.execute(
            "SELECT count(*) FILTER (WHERE kind = 'task') AS tasks_created, "
            " count(*) FILTER (WHERE kind = 'note') AS notes_created "
            "FROM ms_tasks WHERE enterprise_number = %s AND created_at >= %s", (ent, since))
        calls.update(dict(cur.fetchone() or {}))
    return {k: int(v or 0) for k, v in calls.items()}


def request_totals(conn: Any, ent: str, since: dt.datetime, from_id: int) -> dict[str, Any]:
    with conn.cursor(cursor_factory=RealDictCursor) as cur:
        cur.execute(
            "SELECT count(*) AS requests, count(*) FILTER (WHERE status = 'error') AS errors, "
            " count(*) FILTER (WHERE status = 'success') AS ok, "
            " percentile_cont(0.5) WITHIN GROUP (ORDER BY duration_ms) AS p50, "
            " percentile_cont(0.95) WITHIN GROUP (ORDER BY duration_ms) AS p95 "
            "FROM integration_logs WHERE enterprise_number = %s AND integration_type = 'ms' AND id >= %s "
            "AND created_at >= %s AND event_type LIKE %s AND duration_ms IS NOT NULL "
            "AND status IN ('success', 'error')",
            (ent, from_id, since, REQUEST_PREFIX + "%"))
        return dict(cur.fetchone() or {})


def series(conn: Any, ent: str, since: dt.datetime, from_id: int, bucket_s: int,
           buckets: int) -> list[dict[str, Any]]:
    """Per bucket: calls (by creation), MoySklad requests and their errors."""
    with conn.cursor(cursor_factory=RealDictCursor) as cur:
        cur.execute(
            "WITH b AS (SELECT g AS n, %(since)s::timestamptz + make_interval(secs => g * %(step)s) AS start "
            "           FROM generate_series(0, %(count)s - 1) AS g), "
            "c AS (SELECT floor(extract(epoch FROM created_at - %(since)s) / %(step)s)::int AS n, count(*) AS calls "
            "      FROM ms_calls WHERE enterprise_number = %(ent)s AND kind = 'call' AND created_at >= %(since)s "
            "      GROUP BY 1), "
            "r AS (SELECT floor(extract(epoch FROM created_at - %(since)s) / %(step)s)::int AS n, "
            "             count(*) AS requests, count(*) FILTER (WHERE status = 'error') AS errors "
            "      FROM integration_logs WHERE enterprise_number = %(ent)s AND integration_type = 'ms' "
            "      AND id >= %(from_id)s AND created_at >= %(since)s AND event_type LIKE %(prefix)s "
            "      AND duration_ms IS NOT NULL GROUP BY 1) "
            "SELECT b.start, coalesce(c.calls, 0) AS calls, coalesce(r.requests, 0) AS requests, "
            "       coalesce(r.errors, 0) AS errors "
            "FROM b LEFT JOIN c ON c.n = b.n LEFT JOIN r ON r.n = b.n ORDER BY b.n",
            {"since": since, "step": bucket_s, "count": buckets, "ent": ent, "from_id": from_id,
             "prefix": REQUEST_PREFIX + "%"})
        return [dict(r) for r in cur.fetchall()]
