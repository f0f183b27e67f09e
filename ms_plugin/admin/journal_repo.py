"""SQL over the host's journal (``integration_logs``) for the admin page: one enterprise, newest first.

Paging is a keyset on ``id`` (``id < before_id``), never OFFSET, and nothing counts the table. Every
filter has a host index ending in ``id DESC`` (``(enterprise_number, X, id DESC)``), so a page is an index
range scan however big the table grows: the most selective filter drives the scan (see
:func:`build_sql`), one branch per value (the phone's written forms, a call and its legs, or, without a
filter, the integration types, as there is no ``(enterprise_number, id)`` index), merged in id order by
PostgreSQL (Merge Append), each branch stopping after a page.
Time bounds are turned into id bounds through the ``created_at`` index (ids grow with time; a margin
covers rows committed a little out of order), and the exact ``created_at`` test stays as a filter.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from psycopg2.extras import RealDictCursor

# The integration types the MoySklad page shows: its own rows, the host's (dispatch, enterprise
# config) and Smart Redirect's lookups, which answer from this integration.
TYPES: tuple[str, ...] = ("ms", "host", "smart")
ID_MARGIN = dt.timedelta(minutes=10)
_COLS = ("id, created_at, event_type, status, call_unique_id, phone, request_data, response_data, "
         "error_message, duration_ms")


@dataclass(frozen=True)
class JournalQuery:
    enterprise_number: str
    phones: Sequence[str] = ()  # exact stored forms (E.164 first): an index lookup
    phone_digits: str | None = None  # fallback: a digits substring of the stored number
    call_ids: Sequence[str] = ()
    event_type: str | None = None
    event_prefix: str | None = None  # "moysklad." matches moysklad.phone, moysklad.json
    status: str | None = None
    since: dt.datetime | None = None
    until: dt.datetime | None = None
    before_id: int | None = None
    limit: int = 50
    types: Sequence[str] = field(default=TYPES)


def _like_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _id_bounds(cur: Any, q: JournalQuery) -> tuple[int | None, int | None]:
    """(lowest possible id, highest possible id) for the time window, from the created_at index."""
    low = high = None
    if q.since is not None:
        cur.execute("SELECT id FROM integration_logs WHERE created_at < %s ORDER BY created_at DESC LIMIT 1",
                    (q.since - ID_MARGIN,))
        row = cur.fetchone()
        low = int(row["id"]) if row else None
    if q.until is not None:
        cur.execute("SELECT id FROM integration_logs WHERE created_at > %s ORDER BY created_at LIMIT 1",
                    (q.until + ID_MARGIN,))
        row = cur.fetchone()
        high = int(row["id"]) if row else None
    return low, high


def _driver(q: JournalQuery) -> tuple[str, list[str]]:
    """The indexed column whose values drive the scan: the most selective filter given."""
    if q.call_ids:
        return "call_unique_id", list(dict.fromkeys(q.call_ids))
    if q.phones:
        return "phone", list(dict.fromkeys(q.phones))
    if q.event_type:
        return "event_type", [q.event_type]
    if q.status:
        return "status", [q.status]
    return "integration_type", list(q.types)


def _filters(q: JournalQuery, driver: str, low: int | None, high: int | None) -> tuple[list[str], list[Any]]:
    conds = ["enterprise_number = %s"]
    params: list[Any] = [q.enterprise_number]
    if driver != "integration_type":
        conds.append("integration_type = ANY(%s)")
        params.append(list(q.types))
    if q.phones and driver != "phone":
        conds.append("phone = ANY(%s)")
        params.append(list(q.phones))
    elif q.phone_digits:
        conds.append("phone LIKE %s")
        params.append("%" + _like_escape(q.phone_digits) + "%")
    if q.event_type and driver != "event_type":
        conds.append("event_type = %s")
        params.append(q.event_type)
    elif q.event_prefix:
        conds.append("event_type LIKE %s")
        params.append(_like_escape(q.event_prefix) + "%")
    if q.status and driver != "status":
        conds.append("status = %s")
        params.append(q.status)
    if q.since is not None:
        conds.append("created_at >= %s")
        params.append(q.since)
    if q.until is not None:
        conds.append("created_at <= %s")
        params.append(q.until)
    upper = min((x for x in (q.before_id, high) if x is not None), default=None)
    if upper is not None:
        conds.append("id < %s")
        params.append(upper)
    if low is not None:
        conds.append("id > %s")
        params.append(low)
    return conds, params


def build_sql(q: JournalQuery, low: int | None = None, high: int | None = None) -> tuple[str, list[Any]]:
    """One branch per value of the driving column, each an ordered range scan of its index
    ``(enterprise_number, <column>, id DESC)`` stopping after a page; merged by id.

    The driving value is written as a range (``col >= v AND col <= v``), not ``col = v``, on purpose:
    an equality makes the column a constant for the planner, which then may prefer the primary key
    in id order with a filter (quick when matches are dense and recent, a scan of the whole table
    when they are rare or old). With the range, only the column's own index yields the order.
    """
    driver, values = _driver(q)
    conds, params = _filters(q, driver, low, high)
    where = " AND ".join(conds)
    fetch = q.limit + 1  # one more than a page: tells whether there is a next page, without counting
    branches = []
    all_params: list[Any] = []
    for value in values:
        branches.append(f"(SELECT {_COLS} FROM integration_logs WHERE {where} AND {driver} >= %s AND {driver} <= %s "
                        f"ORDER BY {driver}, id DESC LIMIT {fetch})")
        all_params.extend([*params, value, value])
    sql = f"SELECT * FROM ({' UNION ALL '.join(branches)}) AS page ORDER BY id DESC LIMIT {fetch}"
    return sql, all_params


def page(conn: Any, q: JournalQuery) -> tuple[list[dict[str, Any]], int | None]:
    """One page of rows, newest first, and the ``before_id`` of the next page (None: no more)."""
    with conn.cursor(cursor_factory=RealDictCursor) as cur:
        low, high = _id_bounds(cur, q)
        sql, params = build_sql(q, low, high)
        cur.execute(sql, params)
        rows = [dict(r) for r in cur.fetchall()]
    more = len(rows) > q.limit
    rows = rows[:q.limit]
    return rows, (int(rows[-1]["id"]) if more and rows else None)


def explain(conn: Any, q: JournalQuery) -> str:
    """The plan of :func:`page`'s main query (tests check it stays on the indexes)."""
    with conn.cursor(cursor_factory=RealDictCursor) as cur:
        low, high = _id_bounds(cur, q)
        sql, params = build_sql(q, low, high)
        cur.execute("EXPLAIN " + sql, params)
        return "\n".join(next(iter(r.values())) for r in cur.fetchall())


def call_exists(conn: Any, ent: str, unique_id: str) -> str | None:
    """The UniqueId of the call that ``unique_id`` belongs to (a leg names its parent), else None."""
    with conn.cursor() as cur:
        cur.execute("SELECT kind, parent_unique_id FROM ms_calls WHERE enterprise_number = %s AND unique_id = %s",
                    (ent, unique_id))
        row = cur.fetchone()
        if row is not None:
            return str(row[1]) if row[0] == "leg" and row[1] else unique_id
        cur.execute("SELECT 1 FROM call_events WHERE enterprise_number = %s AND unique_id = %s LIMIT 1",
                    (ent, unique_id))
        return unique_id if cur.fetchone() else None


def call_family(conn: Any, ent: str, unique_id: str) -> list[str]:
    """The call's UniqueId and its legs' (the journal of a call shows all of them)."""
    with conn.cursor() as cur:
        cur.execute("SELECT unique_id FROM ms_calls WHERE enterprise_number = %s "
                    "AND (unique_id = %s OR parent_unique_id = %s) LIMIT 50", (ent, unique_id, unique_id))
        ids = [r[0] for r in cur.fetchall()]
    return ids if unique_id in ids else [unique_id, *ids]
