"""SQL for the admin pages: the enterprise chooser of ``/ms/`` (global admin only)."""

from __future__ import annotations

from typing import Any

MAX_LISTED = 500


def list_enterprises(conn: Any, query: str | None = None, limit: int = MAX_LISTED) -> list[dict[str, Any]]:
    """Enterprises by number (with whether their ``ms`` section is on), optionally filtered by a
    substring of the number or the name."""
    sql = ("SELECT number, name, active, (integrations_config -> 'ms' ->> 'enabled') = 'true' "
           "FROM enterprises")
    params: list[Any] = []
    if query:
        pattern = "%" + query.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        sql += " WHERE number ILIKE %s OR name ILIKE %s"
        params += [pattern, pattern]
    sql += " ORDER BY number LIMIT %s"
    params.append(limit)
    with conn.cursor() as cur:
        cur.execute(sql, params)
        return [{"number": r[0], "name": r[1], "active": r[2], "ms_enabled": bool(r[3])} for r in cur.fetchall()]
