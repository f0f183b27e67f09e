"""``GET /ms-admin/stats/<ent>?window=1h|24h``: the figures and a small series for the page's chart."""

from __future__ import annotations

import datetime as dt
from typing import Any

from host_app.integrations.contract import ApiError
from ms_plugin.admin import stats_repo
from ms_plugin.state import PluginState

# window -> (bucket seconds, buckets): 12 five-minute bars for an hour, 24 hourly bars for a day.
WINDOWS: dict[str, tuple[int, int]] = {"1h": (300, 12), "24h": (3600, 24)}


def _ms(value: Any) -> int | None:
    return None if value is None else int(round(float(value)))


class StatsService:
    def __init__(self, state: PluginState) -> None:
        self.state = state
        self.services = state.services

    def stats(self, ent: str, window: str) -> dict[str, Any]:
        if self.services.enterprises.get(ent) is None:
            raise ApiError(f"enterprise {ent} not found", code="not_found", status=404)
        step, count = WINDOWS[window]
        now = dt.datetime.fromtimestamp(self.services.clock(), dt.timezone.utc)
        # Buckets on round boundaries, the last one holding "now": the bars do not shift on every reload.
        epoch = int(now.timestamp()) // step * step
        since = dt.datetime.fromtimestamp(epoch - (count - 1) * step, dt.timezone.utc)
        with self.services.db.connection() as conn:
            from_id = stats_repo.first_id_since(conn, since)
            calls = stats_repo.call_totals(conn, ent, since)
            requests = stats_repo.request_totals(conn, ent, since, from_id)
            points = stats_repo.series(conn, ent, since, from_id, step, count)
        total = int(requests.get("ok") or 0) + int(requests.get("errors") or 0)
        return {
            "window": window,
            "since": since.isoformat(),
            "until": now.isoformat(),
            "bucket_s": step,
            "calls_processed": calls["calls"],
            "calls": {k: calls[k] for k in ("incoming", "outgoing", "answered", "missed")},
            "cards_shown": calls["cards_shown"],
            "clients_created": calls["clients_created"],
            "orders_created": calls["orders_created"],
            "tasks_created": calls["tasks_created"],
            "notes_created": calls["notes_created"],
            "moysklad": {
                "requests": int(requests.get("requests") or 0),
                "errors": int(requests.get("errors") or 0),
                "success_rate": round(int(requests.get("ok") or 0) / total, 4) if total else None,
                "latency_ms": {"p50": _ms(requests.get("p50")), "p95": _ms(requests.get("p95"))},
            },
            "series": [{"start": p["start"].isoformat(), "calls": int(p["calls"]), "requests": int(p["requests"]),
                        "errors": int(p["errors"])} for p in points],
        }
