"""The shared PostgreSQL pool.

psycopg2's ``ThreadedConnectionPool`` has three traits we work around:

* ``getconn()`` raises ``PoolError`` at once when every connection is out. Callers here wait on a
  bounded semaphore first and get a typed ``PoolTimeout`` (503 ``db_busy``) after ``timeout`` seconds.
* ``putconn()`` closes connections above ``minconn``; we use min = max so a burst never reconnects.
* Its constructor connects eagerly. We create it lazily on first use, so a worker boots (and answers
  ``/health`` with 503) while PostgreSQL is down, and recovers by itself when it is back.

Under gevent, ``psycogreen.gevent.patch_psycopg()`` runs before the pool exists, so a query parks only
its greenlet instead of the whole worker.

Requests come first: background work (jobs, what they spawn, housekeeping) runs inside
``background_work()`` and may hold at most ``size - reserved`` connections, so the last ``reserved`` are
always there for requests (the PBX's 202 acknowledgement, lookups answered within their budget). Without
that, 32 job greenlets per worker took all 10 connections under load and the acknowledgement waited
seconds for one.
"""

from __future__ import annotations

import contextvars
import logging
import select
import threading
import time
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


# Per greenlet under gevent (greenlet gives each its own context), per thread otherwise. A new greenlet or
# thread starts with the defaults, i.e. as a request: whoever starts background work marks it (the job
# runner, ``BoundedSpawner``; ``run_with_budget`` passes the caller's mark on to its tasks).
_background: contextvars.ContextVar[bool] = contextvars.ContextVar("host_db_background", default=False)
# Connections this greenlet holds right now (see ``DbPool.connection``).
_held: contextvars.ContextVar[int] = contextvars.ContextVar("host_db_held", default=0)


def in_background() -> bool:
    """Whether the current greenlet (thread) runs background work (see ``background_work``)."""
    return _background.get()


@contextmanager
def background_work(active: bool = True) -> Iterator[None]:
    """Mark the block as background work (``active=False``: as a request) for the pool's priority."""
    token = _background.set(active)
    try:
        yield
    finally:
        _background.reset(token)


class DbPool:
    def __init__(
        self,
        dsn: str,
        size: int = 10,
        timeout: float = 5.0,
        connect_timeout: int = 3,
        on_first_connect: Callable[[DbPool], None] | None = None,
        application_name: str = "ms-host",
        reserved: int = 0,
    ) -> None:
        if not 0 <= reserved < size:
            raise ValueError(f"reserved connections ({reserved}) must be at least 0 and fewer than the pool ({size})")
        self.dsn = dsn
        self.size = size
        self.reserved = reserved
        self.timeout = timeout
        self.connect_timeout = connect_timeout
        self.application_name = application_name
        self._on_first_connect = on_first_connect
        self._pool: ThreadedConnectionPool | None = None
        self._init_lock = threading.Lock()
        self._slots = _semaphore(size)
        # Background callers take one of these before a connection slot, so they never hold more than
        # size - reserved connections between them.
        self._background_slots = _semaphore(size - reserved) if reserved else None
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
        """Borrow a connection: commit on success, roll back on error, drop it when it died.

        Background work (see ``background_work``) first takes a background slot. Not for a second
        connection taken while it holds one (a nested checkout): background greenlets each holding
        the last background slot and waiting for another would block each other until the timeout.
        Such a nested checkout may borrow a reserved connection for its (short) statement.
        """
        deadline = time.monotonic() + self.timeout
        background_slot = None
        if self._background_slots is not None and _background.get() and _held.get() == 0:
            background_slot = self._background_slots
            if not background_slot.acquire(timeout=self.timeout):
                raise PoolTimeout(f"no free database connection for background work within {self.timeout:g}s")
        if not self._slots.acquire(timeout=max(0.0, deadline - time.monotonic())):
            if background_slot is not None:
                background_slot.release()
            raise PoolTimeout(f"no free database connection within {self.timeout:g}s")
        _held.set(_held.get() + 1)
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
            _held.set(_held.get() - 1)
            self._slots.release()
            if background_slot is not None:
                background_slot.release()

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


_original_select: Callable[..., Any] | None = None


def _nonblocking_select() -> Callable[..., Any]:
    # gevent's patched select(..., 0) ends with gevent.sleep(0): every checkout (about 19 per PBX event)
    # would yield and queue behind every runnable greenlet. A zero-timeout poll never blocks, so the
    # unpatched one is safe in a greenlet.
    global _original_select
    if _original_select is None:
        if not gevent_active():
            return select.select
        from gevent import monkey

        _original_select = monkey.get_original("select", "select")
    return _original_select


def _alive(conn: Any) -> bool:
    """Whether an idle pooled connection still has a backend, without a round trip when it does.

    An idle connection has nothing to read; a readable socket means the server sent something on its
    own, usually the FATAL of a terminated backend followed by EOF. Only then do we probe it.
    """
    if conn.closed:
        return False
    try:
        readable = _nonblocking_select()([conn], [], [], 0)[0]
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
