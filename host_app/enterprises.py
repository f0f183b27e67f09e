"""Enterprises: the SQL for the table and the read-only directory handed to plugins."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from psycopg2.extras import Json

from host_app.db import DbPool, dict_cursor
from host_app.integrations.contract import Enterprise

COLUMNS = ("number", "name", "token", "secret", "active", "timezone", "default_region", "pbx",
           "integrations_config", "config_version", "created_at", "updated_at")


def row_to_enterprise(row: Mapping[str, Any]) -> Enterprise:
    return Enterprise(
        number=row["number"], name=row["name"], active=row["active"], timezone=row["timezone"],
        default_region=row["default_region"], has_pbx=bool(row.get("pbx")),
        config_version=int(row["config_version"]),
    )


def get_row(conn: Any, number: str, *, for_update: bool = False) -> dict[str, Any] | None:
    with dict_cursor(conn) as cur:
        cur.execute("SELECT * FROM enterprises WHERE number = %s" + (" FOR UPDATE" if for_update else ""),
                    (number,))
        row = cur.fetchone()
    return dict(row) if row else None


def get_row_by_token(conn: Any, token: str) -> dict[str, Any] | None:
    with dict_cursor(conn) as cur:
        cur.execute("SELECT * FROM enterprises WHERE token = %s", (token,))
        row = cur.fetchone()
    return dict(row) if row else None


def token_owner(conn: Any, token: str) -> str | None:
    with conn.cursor() as cur:
        cur.execute("SELECT number FROM enterprises WHERE token = %s", (token,))
        row = cur.fetchone()
    return row[0] if row else None


def insert(conn: Any, number: str, fields: Mapping[str, Any]) -> dict[str, Any]:
    data = {k: (Json(v) if k in ("pbx", "integrations_config") and v is not None else v)
            for k, v in fields.items()}
    cols = ["number", *data]
    with dict_cursor(conn) as cur:
        cur.execute(
            f"INSERT INTO enterprises ({', '.join(cols)}) VALUES ({', '.join(['%s'] * len(cols))}) "
            "RETURNING *",
            [number, *data.values()],
        )
        return dict(cur.fetchone())


def update(conn: Any, number: str, fields: Mapping[str, Any]) -> dict[str, Any] | None:
    if not fields:
        return get_row(conn, number)
    data = {k: (Json(v) if k in ("pbx", "integrations_config") and v is not None else v)
            for k, v in fields.items()}
    sets = ", ".join(f"{k} = %s" for k in data)
    with dict_cursor(conn) as cur:
        cur.execute(f"UPDATE enterprises SET {sets}, updated_at = now() WHERE number = %s RETURNING *",
                    [*data.values(), number])
        row = cur.fetchone()
    return dict(row) if row else None


def delete(conn: Any, number: str) -> bool:
    with conn.cursor() as cur:
        # The journal is not tied by a foreign key (it also holds rows of unknown callers), but it
        # holds this enterprise's phone numbers: they go with it.
        cur.execute("DELETE FROM integration_logs WHERE enterprise_number = %s", (number,))
        cur.execute("DELETE FROM jobs WHERE enterprise_number = %s", (number,))
        cur.execute("DELETE FROM enterprises WHERE number = %s", (number,))
        return bool(cur.rowcount)


class EnterpriseDirectory:
    """The contract's read-only view of enterprises for plugins."""

    def __init__(self, db: DbPool) -> None:
        self._db = db

    def get(self, number: str) -> Enterprise | None:
        with self._db.connection() as conn:
            row = get_row(conn, number)
        return row_to_enterprise(row) if row else None

    def pbx_config(self, number: str) -> Mapping[str, Any] | None:
        with self._db.connection() as conn, conn.cursor() as cur:
            cur.execute("SELECT pbx FROM enterprises WHERE number = %s", (number,))
            row = cur.fetchone()
        return row[0] if row and row[0] else None
