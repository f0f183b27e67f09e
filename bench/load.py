"""Open-loop sending: every request leaves at its scheduled moment, whether or not earlier ones returned.

A closed loop (send, wait, send) slows down with the server and hides its stalls ("coordinated
omission"); here each request gets its own greenlet at its due time, and latency is counted from the
*scheduled* moment, so a stall shows up in every request it delayed. How late the bench itself sent
(``lag``) is recorded too: a lag of more than a few milliseconds would mean the load generator, not the
server, was the bottleneck, and the run says so.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

import gevent
from gevent.pool import Pool

T = TypeVar("T")


@dataclass
class Sample(Generic[T]):
    item: T
    due_wall: float  # when it should have left (epoch seconds)
    sent_wall: float  # when it left
    latency_ms: float  # from the due moment to the full answer
    lag_ms: float  # sent - due
    status: int  # HTTP status, 0 for a transport failure
    body: bytes


def run_open_loop(items: Sequence[T], at: Callable[[T], float], send: Callable[[T], tuple[int, bytes]], *,
                  max_in_flight: int = 5000, on_sample: Callable[[Sample[T]], None] | None = None,
                  stop: Callable[[], bool] | None = None) -> list[Sample[T]]:
    """Send ``items`` at ``at(item)`` seconds from now; returns one sample per item sent, in item order.

    ``on_sample`` sees each sample as its answer arrives; once ``stop()`` is true nothing more is sent.
    """
    pool = Pool(max_in_flight)
    samples: list[Sample[T] | None] = [None] * len(items)
    perf0, wall0 = time.perf_counter(), time.time()

    def one(index: int, item: T, due: float) -> None:
        sent = time.perf_counter()
        try:
            status, body = send(item)
        except Exception as exc:  # a refused connection or a timeout is a measured failure, not a crash
            status, body = 0, str(exc).encode()
        end = time.perf_counter()
        sample = Sample(item, wall0 + due, wall0 + (sent - perf0), (end - perf0 - due) * 1000.0,
                        (sent - perf0 - due) * 1000.0, status, body)
        samples[index] = sample
        if on_sample is not None:
            on_sample(sample)

    for index, item in enumerate(items):
        if stop is not None and stop():
            break
        due = at(item)
        delay = perf0 + due - time.perf_counter()
        if delay > 0:
            gevent.sleep(delay)
        pool.spawn(one, index, item, due)
    pool.join()
    return [s for s in samples if s is not None]

