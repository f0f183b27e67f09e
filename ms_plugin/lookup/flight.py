"""Single-flight across workers: of a burst of identical lookups one computes, the others read the cache.

The leader holds a lease row (committed before any HTTP call, so no database lock spans a MoySklad
request); whoever does not get the lease polls the shared cache with a short backoff until its deadline
and then answers "no answer in time" instead of waiting forever. When the lease becomes free and the
cache is still empty (the leader failed: failures are never cached), the next poller takes over.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any, TypeVar

from ms_plugin.lookup.bounded import run_bounded, sleep

log = logging.getLogger(__name__)

T = TypeVar("T")

_POLL_FIRST = 0.02
_POLL_MAX = 0.2


def release_quietly(lease: Any) -> None:
    try:
        lease.release()
    except Exception as exc:  # the row expires by itself; a failed release only delays the next leader
        log.warning("could not release lease %s: %s", getattr(lease, "key", "?"), exc)


def single_flight(
    leases: Any,
    lease_key: str,
    lease_ttl: float,
    read: Callable[[], T | None],
    compute: Callable[[Any], T],
    *,
    deadline: float,
    bounded: bool,
    clock: Callable[[], float] = time.monotonic,
) -> T | None:
    """The cached or freshly computed value, or ``None`` when there was none by ``deadline``.

    ``read()`` returns the cached value or ``None``; ``compute(lease)`` computes, caches (when it should)
    and returns the value, never raising. With ``bounded=True`` the leader computes in a background
    greenlet/thread and the caller waits for it only until ``deadline``; the computation finishes anyway.
    """
    interval = _POLL_FIRST
    while True:
        lease = leases.acquire(lease_key, lease_ttl)
        if lease is not None:
            return _lead(lease, read, compute, deadline, bounded, clock)
        remaining = deadline - clock()
        if remaining <= 0:
            return None
        sleep(min(interval, remaining))
        interval = min(interval * 2, _POLL_MAX)
        hit = read()
        if hit is not None:
            return hit


def _lead(lease: Any, read: Callable[[], T | None], compute: Callable[[Any], T], deadline: float,
          bounded: bool, clock: Callable[[], float]) -> T | None:
    def run() -> T:
        try:
            # The previous leader may have filled the cache between our miss and our lease.
            again = read()
            return again if again is not None else compute(lease)
        finally:
            release_quietly(lease)

    if not bounded:
        return run()
    done, value = run_bounded(run, deadline - clock())
    return value if done else None
