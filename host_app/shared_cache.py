"""A small key-value cache in PostgreSQL shared by every worker (lookups, MoySklad metadata)."""

from __future__ import annotations

from typing import Any

from psycopg2.extras import Json

from host_app.db import DbPool


class SharedCache:
    def __init__(self, db: DbPool) -> None:
        self._db = db

    def get(self, key: str) -> Any | None:
        with self._db.connection() as conn, conn.cursor() as cur:
            cur.execute("SELECT value FROM shared_cache WHERE key = %s AND expires_at > now()", (key,))
            row = cur.fetchone()
        return row[0] if row else None

    def set(self, key: str, value: Any, ttl: float) -> None:
        with self._db.connection() as conn, conn.cursor() as cur:
            cur.execute(
                "INSERT INTO shared_cache (key, value, expires_at) "
                "VALUES (%s, %s, now() + make_interval(secs => %s)) "
                "ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value, expires_at = EXCLUDED.expires_at",
                (key, Json(value), ttl),
            )

    def delete(self, key: str) -> None:
        with self._db.connection() as conn, conn.cursor() as cur:
            cur.execute("DELETE FROM shared_cache WHERE key = %s", (key,))

    def delete_prefix(self, prefix: str) -> int:
        pattern = prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        with self._db.connection() as conn, conn.cursor() as cur:
            cur.execute("DELETE FROM shared_cache WHERE key LIKE %s", (pattern,))
            return int(cur.rowcount)

    def prune(self) -> int:
        with self._db.connection() as conn, conn.cursor() as cur:
            cur.execute("DELETE FROM shared_cache WHERE expires_at < now()")
            return int(cur.rowcount)
