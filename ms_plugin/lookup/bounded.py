"""Run a function in the background and wait for it at most ``timeout`` seconds.

Under gevent workers (socket monkey-patched) the work is a greenlet, otherwise a daemon thread. What is
still running at the deadline is not killed: it finishes on its own and fills the shared cache for the
next caller. We do not use the host's bounded ``spawn`` here: its pool blocks the caller when full,
which would break the very budget this exists for (and it runs inline in tests).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

log = logging.getLogger(__name__)

T = TypeVar("T")


def gevent_patched() -> bool:
    try:
        from gevent import monkey
    except ImportError:  # pragma: no cover - gevent is a dependency of the host
        return False
    return bool(monkey.is_module_patched("socket"))


def sleep(seconds: float) -> None:
    # time.sleep is cooperative once gevent has patched the process.
    time.sleep(max(0.0, seconds))


def run_bounded(fn: Callable[[], T], timeout: float, *, name: str = "ms-lookup") -> tuple[bool, T | None]:
    """``(True, value)`` when ``fn`` finished within ``timeout``, else ``(False, None)``.

    ``fn`` must not raise (an exception is logged and reported as not finished).
    """
    timeout = max(0.0, timeout)
    if gevent_patched():
        import gevent

        greenlet = gevent.spawn(_guarded, fn)
        greenlet.join(timeout)
        if greenlet.ready() and greenlet.successful():
            ok, value = greenlet.value
            return ok, value
        return False, None

    box: dict[str, Any] = {}
    done = threading.Event()

    def run() -> None:
        box["result"] = _guarded(fn)
        done.set()

    threading.Thread(target=run, name=name, daemon=True).start()
    if done.wait(timeout):
        ok, value = box["result"]
        return ok, value
    return False, None


def _guarded(fn: Callable[[], T]) -> tuple[bool, T | None]:
    try:
        return True, fn()
    except Exception:  # the background half of a lookup must never kill a worker
        log.exception("background lookup failed")
        return False, None
