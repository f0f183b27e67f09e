"""Prometheus metrics of the host. Plugins define their own with prometheus_client directly.

Under gunicorn, ``PROMETHEUS_MULTIPROC_DIR`` is set (gunicorn.conf.py / ms.sh) before any worker
imports prometheus_client, so every worker writes its samples to files there and ``/metrics`` adds them
up: a scrape that lands on one worker still reports the whole service.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import REGISTRY, Collector

DISPATCH_EVENTS = Counter("host_dispatch_events_total", "PBX events received by /dispatch/call-event",
                          ["event_type", "outcome"])
DISPATCH_SECONDS = Histogram("host_dispatch_ack_seconds", "Time to store an event and answer 202",
                             buckets=(.001, .002, .005, .01, .015, .025, .05, .1, .25, .5, 1, 2.5))
JOBS_FINISHED = Counter("host_jobs_finished_total", "Background jobs run, by outcome",
                        ["integration", "kind", "outcome"])
JOB_SECONDS = Histogram("host_job_seconds", "Background job run time", ["integration", "kind"],
                        buckets=(.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60))
LOOKUP_SECONDS = Histogram("host_lookup_seconds", "Smart Redirect lookups through the primary integration",
                           ["route", "outcome"], buckets=(.001, .005, .01, .025, .05, .1, .25, .5, 1, 1.5, 3))


class _DbGauges(Collector):
    """Job backlog read from PostgreSQL at scrape time (true for the whole deployment, not one worker)."""

    def __init__(self, read: Callable[[], Iterable[tuple[str, str, int]]]) -> None:
        self._read = read

    def collect(self) -> Iterable[Any]:
        family = GaugeMetricFamily("host_jobs", "Background jobs by integration and state",
                                   labels=["integration", "state"])
        try:
            for integration, state, count in self._read():
                family.add_metric([integration, state], count)
        except Exception:  # the database may be down; /metrics still answers
            pass
        yield family


def render(read_job_counts: Callable[[], Iterable[tuple[str, str, int]]]) -> tuple[bytes, str]:
    db_registry = CollectorRegistry()
    db_registry.register(_DbGauges(read_job_counts))
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
    else:
        registry = REGISTRY
    return generate_latest(registry) + generate_latest(db_registry), CONTENT_TYPE_LATEST
