"""Request records: scrubbing, truncation, the metrics observer, observers that fail."""

from __future__ import annotations

from prometheus_client import REGISTRY

from ms_plugin.moysklad.metrics import observe_metrics
from ms_plugin.moysklad.records import MASK, RequestRecord, body_for_record, chain


def record(**kw) -> RequestRecord:
    base = dict(api="phone", method="POST", endpoint="/call/extid/{id}/event", path="/call/extid/1.2/event",
                status=204, outcome="ok", duration_ms=120, attempt=1)
    return RequestRecord(**{**base, **kw})


def test_secret_keys_are_masked_at_any_depth():
    body = {"a": {"password": "p", "Authorization": "Basic x", "list": [{"api_token": "t"}]}, "token": None}
    assert body_for_record(body) == {"a": {"password": MASK, "Authorization": MASK, "list": [{"api_token": MASK}]},
                                     "token": None}


def test_long_bodies_are_truncated():
    out = body_for_record({"comment": "x" * 10_000}, limit=100)
    assert out["truncated"] is True and out["size"] > 10_000 and len(out["head"]) == 100


def test_observe_metrics_counts_and_times():
    labels = {"api": "phone", "endpoint": "/call/extid/{id}/event", "outcome": "ok"}
    before = REGISTRY.get_sample_value("ms_moysklad_requests_total", labels) or 0.0
    observe_metrics(record())
    assert REGISTRY.get_sample_value("ms_moysklad_requests_total", labels) == before + 1
    count = REGISTRY.get_sample_value("ms_moysklad_request_seconds_count",
                                      {"api": "phone", "endpoint": "/call/extid/{id}/event"})
    assert count and count >= 1


def test_a_failing_observer_never_breaks_the_others():
    seen: list[RequestRecord] = []

    def broken(_: RequestRecord) -> None:
        raise RuntimeError("journal down")

    chain(broken, seen.append)(record())
    assert len(seen) == 1
