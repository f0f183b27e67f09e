"""Cross-worker leases: a committed row with an expiry.

Taking a lease is one short statement; the row is committed before the holder does any HTTP, so no
database lock is ever held across a slow MoySklad request. A holder that crashes loses the lease when
it expires, or at once when gunicorn's master saw its worker die (``host_app.worker_exit``: holders are
``<worker_id()>:<uuid>``). A release that fails because PostgreSQL is down is retried in the background
(``Leases.retry_releases``) instead of leaving the lease to its TTL (up to minutes for a call's lease).
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from typing import Any

from host_app.db import DbPool, DbUnavailable

log = logging.getLogger(__name__)

_WORKER = f"{socket.gethostname()}:{os.getpid()}"
MAX_UNRELEASED = 10_000  # a long outage must not grow the retry list without bound


class DbLease:
    def __init__(self, db: DbPool, key: str, holder: str, ttl: float, leases: Leases | None = None) -> None:
        self._db = db
        self.key = key
        self.holder = holder
        self.released = False
        self._ttl = ttl
        self._leases = leases

    def renew(self, ttl: float) -> bool:
        with self._db.connection() as conn, conn.cursor() as cur:
            cur.execute(
                "UPDATE leases SET expires_at = now() + make_interval(secs => %s) "
                "WHERE key = %s AND holder = %s", (ttl, self.key, self.holder))
            self._ttl = ttl
            return bool(cur.rowcount)

    def release(self) -> None:
        """Delete the lease row. Never raises for an unreachable database: then the release is retried in
        the background until it gets through or the lease has expired by itself."""
        if self.released:
            return
        self.released = True
        try:
            with self._db.connection() as conn, conn.cursor() as cur:
                cur.execute("DELETE FROM leases WHERE key = %s AND holder = %s", (self.key, self.holder))
        except DbUnavailable as exc:
            if self._leases is None:
                raise
            log.info("lease %s not released (%s); retrying in the background", self.key, exc.message)
            self._leases.release_later(self.key, self.holder, self._ttl)

    def __enter__(self) -> DbLease:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.release()


class Leases:
    def __init__(self, db: DbPool) -> None:
        self._db = db
        # (key, holder) -> monotonic time after which the row has expired anyway
        self._unreleased: dict[tuple[str, str], float] = {}
        self._lock = threading.Lock()

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
        return DbLease(self._db, key, holder, ttl, self) if row else None

    def release_later(self, key: str, holder: str, ttl: float) -> None:
        with self._lock:
            if len(self._unreleased) < MAX_UNRELEASED:
                self._unreleased[(key, holder)] = time.monotonic() + ttl

    def retry_releases(self) -> int:
        """Delete the leases whose release failed (a background loop calls this every second or so)."""
        now = time.monotonic()
        with self._lock:
            for item in [item for item, expired_at in self._unreleased.items() if expired_at <= now]:
                del self._unreleased[item]  # gone by itself: whoever wants it takes it over
            pending = list(self._unreleased)
        if not pending:
            return 0
        try:
            with self._db.connection() as conn, conn.cursor() as cur:
                cur.execute("DELETE FROM leases l USING unnest(%s::text[], %s::text[]) AS u(key, holder) "
                            "WHERE l.key = u.key AND l.holder = u.holder",
                            ([k for k, _ in pending], [h for _, h in pending]))
                released = int(cur.rowcount)
        except DbUnavailable:
            return 0  # still down: next time
        with self._lock:
            for item in pending:
                self._unreleased.pop(item, None)
        return released

    def prune(self) -> int:
        with self._db.connection() as conn, conn.cursor() as cur:
            cur.execute("DELETE FROM leases WHERE expires_at < now() - interval '1 minute'")
            return int(cur.rowcount)


def worker_id() -> str:
    return _WORKER
