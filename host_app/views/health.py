"""``GET /health`` and ``GET /metrics`` (no auth)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, jsonify

from host_app import metrics
from host_app.integrations.contract import ApiError
from host_app.state import host_state

bp = Blueprint("host_health", __name__)


@bp.get("/health")
def health() -> tuple[Response, int]:
    state = host_state()
    db_ok = state.services.db.ping()  # type: ignore[attr-defined]
    integrations: dict[str, Any] = {}
    for plugin in state.registry:
        # Same shape whether or not the database answers: the counts are null when it does not.
        entry: dict[str, Any] = {"loaded": True, "jobs_pending": None, "jobs_running": None,
                                 "jobs_waiting": None, "jobs_failed": None}
        if db_ok:
            try:
                counts = state.services.jobs.counts(plugin.code)
                entry.update({f"jobs_{k}": v for k, v in counts.items()})
            except ApiError:
                db_ok = False
        try:
            entry.update(plugin.health())
        except Exception as exc:  # a plugin's health must not take /health down
            entry["error"] = type(exc).__name__
        integrations[plugin.code] = entry
    body = {"status": "ok" if db_ok else "unavailable", "db": "ok" if db_ok else "down",
            "integrations": integrations}
    return jsonify(body), (200 if db_ok else 503)


@bp.get("/metrics")
def metrics_view() -> Response:
    state = host_state()
    payload, content_type = metrics.render(state.runner.queue.all_counts)
    return Response(payload, mimetype=None, content_type=content_type)
