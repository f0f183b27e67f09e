"""Prometheus metrics of MoySklad requests, one sample per HTTP attempt.

Labels are bounded: ``endpoint`` is the path *template* (no ids), ``outcome`` one of
:data:`~ms_plugin.moysklad.records.OUTCOMES`. Under gunicorn the host's ``PROMETHEUS_MULTIPROC_DIR``
makes these add up across workers.
"""

from __future__ import annotations

from prometheus_client import Counter, Histogram

from ms_plugin.moysklad.records import RequestRecord

REQUESTS = Counter("ms_moysklad_requests_total", "HTTP attempts to MoySklad by outcome",
                   ["api", "endpoint", "outcome"])
REQUEST_SECONDS = Histogram("ms_moysklad_request_seconds", "Duration of one HTTP attempt to MoySklad",
                            ["api", "endpoint"],
                            buckets=(.025, .05, .1, .2, .3, .5, .75, 1, 1.5, 2.5, 5, 10, 30))


def observe_metrics(record: RequestRecord) -> None:
    """The default observer: count the attempt and time it."""
    REQUESTS.labels(record.api, record.endpoint, record.outcome).inc()
    REQUEST_SECONDS.labels(record.api, record.endpoint).observe(max(0, record.duration_ms) / 1000.0)
