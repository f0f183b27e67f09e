"""Cross-worker leases: a committed row with an expiry.

Taking a lease is one short statement; the row is committed before the holder does any HTTP, so no
database lock is ever held across a slow MoySklad request. A holder that crashes loses the lease when
it expires.
"""

from __future__ import annotations

import os
import socket
import uuid
from typing import Any

from host_app.db import DbPool

_WORKER = f"{socket.gethostname()}:{os.getpid()}"


class DbLease:
    def __init__(self, db: DbPool, key: str, holder: str) -> None:
        self._db = db
        self.key = key
        self.holder = holder
        self.released = False

    def renew(self, ttl: float) -> bool:
        with self._db.connection() as conn, conn.cursor() as cur:
            cur.execute(
                "UPDATE leases SET expires_at = now() + make_interval(secs => %s) "
                "WHERE key = %s AND holder = %s", (ttl, self.key, self.holder))
            return bool(cur.rowcount)

    def release(self) -> None:
        if self.released:
            return
        self.released = True
        with self._db.connection() as conn, conn.cursor() as cur:
            cur.execute("DELETE FROM leases WHERE key = %s AND holder = %s", (self.key, self.holder))

    def __enter__(self) -> DbLease:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.release()


class Leases:
    def __init__(self, db: DbPool) -> None:
        self._db = db

    def acquire(self, key: str, ttl: float) -> DbLease | None:
        holder = f"{_WORKER}:{uuid.uuid4().hex[:12]}"
        with self._db.connection() as conn, conn.cursor() as cur:
            cur.execute(
                "INSERT INTO leases (key, holder, expires_at) "
                "VALUES (%s, %s, now() + make_interval(secs => %s)) "
                "ON CONFLICT (key) DO UPDATE SET holder = EXCLUDED.holder, expires_at = EXCLUDED.expires_at "
                "WHERE leases.expires_at < now() RETURNING holder",
                (key, holder, ttl),
            )
            row = cur.fetchone()
        return DbLease(self._db, key, holder) if row else None

    def prune(self) -> int:
        with self._db.connection() as conn, conn.cursor() as cur:
            cur.execute("DELETE FROM leases WHERE expires_at < now() - interval '1 minute'")
            return int(cur.rowcount)


def worker_id() -> str:
    return _WORKER
