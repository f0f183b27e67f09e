"""The shared PostgreSQL pool.

psycopg2's ``ThreadedConnectionPool`` has three traits we work around:

* ``getconn()`` raises ``PoolError`` at once when every connection is out. Callers here wait on a
  bounded semaphore first and get a typed ``PoolTimeout`` (503 ``db_busy``) after ``timeout`` seconds.
* ``putconn()`` closes connections above ``minconn``; we use min = max so a burst never reconnects.
* Its constructor connects eagerly. We create it lazily on first use, so a worker boots (and answers
  ``/health`` with 503) while PostgreSQL is down, and recovers by itself when it is back.

Under gevent, ``psycogreen.gevent.patch_psycopg()`` runs before the pool exists, so a query parks only
its greenlet instead of the whole worker.
"""

from __future__ import annotations

import logging
import select
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import psycopg2
import psycopg2.extensions
import psycopg2.extras
from psycopg2.pool import ThreadedConnectionPool

from host_app.integrations.contract import ApiError

log = logging.getLogger(__name__)


class DbUnavailable(ApiError):
    status = 503
    code = "db_unavailable"


class PoolTimeout(DbUnavailable):
    code = "db_busy"


def gevent_active() -> bool:
    try:
        from gevent import monkey
    except ImportError:  # pragma: no cover - gevent is a dependency
        return False
    return bool(monkey.is_module_patched("socket"))


_patched = False


def patch_for_gevent() -> None:
    """Make psycopg2 cooperative when the process runs under gevent (idempotent)."""
    global _patched
    if _patched or not gevent_active():
        return
    from psycogreen.gevent import patch_psycopg

    patch_psycopg()
    _patched = True
    log.info("psycopg2 patched for gevent")


def _semaphore(size: int) -> Any:
    # threading.BoundedSemaphore is cooperative once gevent has monkey-patched threading.
    return threading.BoundedSemaphore(size)


class DbPool:
    def __init__(
        self,
        dsn: str,
        size: int = 10,
        timeout: float = 5.0,
        connect_timeout: int = 3,
        on_first_connect: Callable[[DbPool], None] | None = None,
        application_name: str = "ms-host",
    ) -> None:
        self.dsn = dsn
        self.size = size
        self.timeout = timeout
        self.connect_timeout = connect_timeout
        self.application_name = application_name
        self._on_first_connect = on_first_connect
        self._pool: ThreadedConnectionPool | None = None
        self._init_lock = threading.Lock()
        self._slots = _semaphore(size)
        self._first_done = False

    # -- lifecycle ---------------------------------------------------------------------------------

    def _ensure_pool(self) -> ThreadedConnectionPool:
        if self._pool is not None:
            return self._pool
        with self._init_lock:
            if self._pool is None:
                patch_for_gevent()
                try:
                    self._pool = ThreadedConnectionPool(
                        self.size, self.size, self.dsn,
                        connect_timeout=self.connect_timeout,
                        application_name=self.application_name,
                    )
                except psycopg2.Error as exc:
                    raise DbUnavailable(f"PostgreSQL is unreachable: {_short(exc)}") from exc
        if not self._first_done and self._on_first_connect is not None:
            with self._init_lock:
                if not self._first_done:
                    # e.g. migrations: runs on its own connection, once per process, retried on the
                    # next use when it fails (PostgreSQL may have gone away again).
                    try:
                        self._on_first_connect(self)
                    except psycopg2.Error as exc:
                        raise DbUnavailable(f"database setup failed: {_short(exc)}") from exc
                    self._first_done = True
        return self._pool

    def close(self) -> None:
        with self._init_lock:
            if self._pool is not None:
                self._pool.closeall()
                self._pool = None

    # -- use ---------------------------------------------------------------------------------------

    @contextmanager
    def connection(self) -> Iterator[Any]:
        """Borrow a connection: commit on success, roll back on error, drop it when it died."""
        if not self._slots.acquire(timeout=self.timeout):
            raise PoolTimeout(f"no free database connection within {self.timeout:g}s")
        try:
            pool = self._ensure_pool()
            conn = self._checkout(pool)
            broken = False
            try:
                yield conn
                conn.commit()
            except (psycopg2.OperationalError, psycopg2.InterfaceError) as exc:
                broken = True
                _safe_rollback(conn)
                raise DbUnavailable(f"database connection failed: {_short(exc)}") from exc
            except BaseException:
                _safe_rollback(conn)
                raise
            finally:
                broken = broken or bool(conn.closed)
                try:
                    pool.putconn(conn, close=broken)
                except psycopg2.pool.PoolError:  # pragma: no cover - pool closed meanwhile
                    pass
        finally:
            self._slots.release()

    def _checkout(self, pool: ThreadedConnectionPool) -> Any:
        # An idle connection whose backend went away (PostgreSQL restarted, pg_terminate_backend) is
        # dropped here and replaced, so the caller never gets a dead one. Bounded: at most every
        # pooled connection plus one fresh one.
        for _ in range(self.size + 1):
            try:
                conn = pool.getconn()
            except psycopg2.Error as exc:  # the pool reconnects lazily; the server may be down
                raise DbUnavailable(f"PostgreSQL is unreachable: {_short(exc)}") from exc
            if _alive(conn):
                return conn
            try:
                pool.putconn(conn, close=True)
            except psycopg2.pool.PoolError:  # pragma: no cover - pool closed meanwhile
                pass
        raise DbUnavailable("no live database connection")

    def ping(self) -> bool:
        try:
            with self.connection() as conn, conn.cursor() as cur:
                cur.execute("SELECT 1")
                return True
        except ApiError:
            return False


def _alive(conn: Any) -> bool:
    """Whether an idle pooled connection still has a backend, without a round trip when it does.

    An idle connection has nothing to read; a readable socket means the server sent something on its
    own, usually the FATAL of a terminated backend followed by EOF. Only then do we probe it.
    """
    if conn.closed:
        return False
    try:
        readable = select.select([conn], [], [], 0)[0]
    except (OSError, ValueError):  # e.g. a descriptor above FD_SETSIZE: assume alive, as before
        return True
    if not readable:
        return True
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT 1")
        conn.rollback()
        return True
    except psycopg2.Error:
        return False


def _safe_rollback(conn: Any) -> None:
    try:
        if not conn.closed:
            conn.rollback()
    except psycopg2.Error:
        pass


def _short(exc: BaseException) -> str:
    return str(exc).strip().splitlines()[0][:200] if str(exc).strip() else type(exc).__name__


def dict_cursor(conn: Any) -> Any:
    return conn.cursor(cursor_factory=psycopg2.extras.RealDictCursor)


def connect_direct(dsn: str, connect_timeout: int = 3) -> Any:
    """A connection outside the pool (migrations, LISTEN), autocommit off."""
    patch_for_gevent()
    return psycopg2.connect(dsn, connect_timeout=connect_timeout, application_name="ms-host-aux")
