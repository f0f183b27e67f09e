"""Background execution that works under gevent workers (greenlets) and without gevent (threads).

Nothing starts at import: ``create_app`` starts loops only when ``HOST_BACKGROUND`` is on, which is the
case in gunicorn workers (after fork, ``preload_app = False``) and never in the unit tests, which drive
the same code synchronously.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

from host_app.db import gevent_active

log = logging.getLogger(__name__)


class BoundedSpawner:
    """Run callables in the background with at most ``size`` at once (gevent Pool or a thread cap)."""

    def __init__(self, size: int) -> None:
        self.size = size
        if gevent_active():
            from gevent.pool import Pool

            self._pool: Any = Pool(size)
        else:
            self._pool = None
            self._slots = threading.BoundedSemaphore(size)

    def free_count(self) -> int:
        if self._pool is not None:
            return int(self._pool.free_count())
        return int(self._slots._value)  # noqa: SLF001 - threading exposes no public getter

    def spawn(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        if self._pool is not None:
            return self._pool.spawn(_guard, fn, *args, **kwargs)
        self._slots.acquire()

        def run() -> None:
            try:
                _guard(fn, *args, **kwargs)
            finally:
                self._slots.release()

        thread = threading.Thread(target=run, daemon=True)
        thread.start()
        return thread

    def join(self, timeout: float) -> None:
        if self._pool is not None:
            self._pool.join(timeout=timeout)


def _guard(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
    try:
        fn(*args, **kwargs)
    except Exception:  # a background failure must never kill the worker
        log.exception("background task %s failed", getattr(fn, "__name__", fn))


def run_inline(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
    """The ``spawn`` used in tests: run now, in the caller."""
    _guard(fn, *args, **kwargs)


def sleep(seconds: float) -> None:
    if gevent_active():
        import gevent

        gevent.sleep(seconds)
    else:
        import time

        time.sleep(seconds)


class Loop:
    """Call ``fn`` every ``interval`` seconds until stopped."""

    def __init__(self, name: str, fn: Callable[[], Any], interval: float) -> None:
        self.name = name
        self.fn = fn
        self.interval = interval
        self._stop = threading.Event()

    def start(self) -> None:
        if gevent_active():
            import gevent

            gevent.spawn(self._run)
        else:
            threading.Thread(target=self._run, name=self.name, daemon=True).start()

    def stop(self) -> None:
        self._stop.set()

    def _run(self) -> None:
        while not self._stop.is_set():
            _guard(self.fn)
            self._stop.wait(self.interval)
