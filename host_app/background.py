"""Background execution that works under gevent workers (greenlets) and without gevent (threads).

Nothing starts at import: ``create_app`` starts loops only when ``HOST_BACKGROUND`` is on, which is the
case in gunicorn workers (after fork, ``preload_app = False``) and never in the unit tests, which drive
the same code synchronously.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from host_app.db import background_work, gevent_active, in_background

log = logging.getLogger(__name__)


class BoundedSpawner:
    """Run callables in the background with at most ``size`` at once (gevent Pool or a thread cap).

    Whatever runs here is background work for the database pool (``host_app.db.background_work``): jobs,
    and what plugins hand to ``services.spawn`` (a lookup finished after its budget, an originate). It
    never takes the connections kept for requests.
    """

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
            return self._pool.spawn(_background_guard, fn, *args, **kwargs)
        self._slots.acquire()

        def run() -> None:
            try:
                _background_guard(fn, *args, **kwargs)
            finally:
                self._slots.release()

        thread = threading.Thread(target=run, daemon=True)
        thread.start()
        return thread

    def try_spawn(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> bool:
        """Like ``spawn`` but never waits for a free slot: ``False`` when every slot is busy.

        For callers that must not block (a request answering 202 in milliseconds).
        """
        if self._pool is not None:
            if self._pool.full():
                return False
            self._pool.spawn(_background_guard, fn, *args, **kwargs)
            return True
        if not self._slots.acquire(blocking=False):
            return False

        def run() -> None:
            try:
                _background_guard(fn, *args, **kwargs)
            finally:
                self._slots.release()

        threading.Thread(target=run, daemon=True).start()
        return True

    def join(self, timeout: float) -> None:
        if self._pool is not None:
            self._pool.join(timeout=timeout)


def _guard(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
    try:
        fn(*args, **kwargs)
    except Exception:  # a background failure must never kill the worker
        log.exception("background task %s failed", getattr(fn, "__name__", fn))


def _background_guard(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
    with background_work():
        _guard(fn, *args, **kwargs)


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


@dataclass
class BudgetOutcome:
    """What ``run_with_budget`` saw by its deadline; tasks still running then are in ``timed_out``."""

    results: dict[str, Any] = field(default_factory=dict)  # finished without raising
    failed: set[str] = field(default_factory=set)  # raised (logged)
    timed_out: set[str] = field(default_factory=set)  # still running; they finish in the background
    seconds: dict[str, float] = field(default_factory=dict)  # run time of each finished task


class _Collector:
    def __init__(self, names: set[str]) -> None:
        self._pending = set(names)
        self._outcome = BudgetOutcome()
        self._cond = threading.Condition()  # cooperative under gevent's monkey-patching

    def record(self, name: str, ok: bool, value: Any, seconds: float) -> None:
        with self._cond:
            if name not in self._pending:
                return
            self._pending.discard(name)
            if ok:
                self._outcome.results[name] = value
            else:
                self._outcome.failed.add(name)
            self._outcome.seconds[name] = seconds
            self._cond.notify_all()

    def wait(self, timeout: float) -> None:
        with self._cond:
            self._cond.wait_for(lambda: not self._pending, timeout=max(0.0, timeout))

    def close(self) -> BudgetOutcome:
        # Later finishers are ignored: the caller has answered with this snapshot already.
        with self._cond:
            outcome = BudgetOutcome(dict(self._outcome.results), set(self._outcome.failed),
                                    set(self._pending), dict(self._outcome.seconds))
            self._pending.clear()
        return outcome


def run_with_budget(tasks: Mapping[str, Callable[[], Any]], budget_seconds: float) -> BudgetOutcome:
    """Run ``tasks`` concurrently and return what finished within ``budget_seconds``.

    Tasks still running at the deadline are not killed: they run on (greenlets under gevent, daemon
    threads otherwise), so a slow lookup still warms the plugin's cache for the next call. A task that
    raises is logged and reported in ``failed``; it never propagates.

    Tasks get the caller's database priority: a request's lookups are what it answers with (they may use
    the connections kept for requests), a job's stay background work.
    """
    collector = _Collector(set(tasks))
    if not tasks:
        return collector.close()
    background = in_background()

    def run(name: str, fn: Callable[[], Any]) -> None:
        started = time.monotonic()
        try:
            with background_work(background):
                value, ok = fn(), True
        except Exception:
            log.exception("budgeted task %s failed", name)
            value, ok = None, False
        collector.record(name, ok, value, time.monotonic() - started)

    if gevent_active():
        import gevent

        greenlets = [gevent.spawn(run, name, fn) for name, fn in tasks.items()]
        gevent.joinall(greenlets, timeout=max(0.0, budget_seconds))
    else:
        for name, fn in tasks.items():
            threading.Thread(target=run, args=(name, fn), name=f"budget-{name}", daemon=True).start()
        collector.wait(budget_seconds)
    return collector.close()


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
