"""``POST /dispatch/call-event``: store the PBX event and its jobs, answer 202 in milliseconds."""

from __future__ import annotations

import time
from typing import Any

from flask import Blueprint, Response, jsonify
from marshmallow import EXCLUDE, Schema, fields, validate

from host_app import metrics
from host_app.db import DbUnavailable
from host_app.integrations.contract import EVENT_TYPES, ApiError, JournalEntry, read_json_object
from host_app.jobs.queue import autocommit
from host_app.state import host_state

bp = Blueprint("host_dispatch", __name__)

# No whitespace and no control character (NUL, DEL, C0): the link is stored as text (PostgreSQL refuses
# NUL) and later sent to MoySklad in a JSON body.
_URL = validate.Regexp(r"^https?://[^\s\x00-\x1f\x7f]{1,2000}$", error="must be an http(s) URL")


class DispatchSchema(Schema):
    class Meta:
        unknown = EXCLUDE

    token = fields.String(required=True, validate=validate.Length(min=1, max=200))
    uniqueId = fields.String(required=True, validate=validate.Length(min=1, max=128))
    event_type = fields.String(required=True, validate=validate.Length(min=1, max=64))
    raw = fields.Dict(keys=fields.String(), required=True)
    record_url = fields.String(load_default=None, allow_none=True, validate=_URL)
    origin = fields.String(load_default="live", validate=validate.OneOf(["live", "download"]))


def accept_event(enterprise_number: str | None, token: str | None, data: dict[str, Any],
                 only: list[str] | None = None) -> tuple[dict[str, Any], int]:
    """Shared by the dispatch route and plugins' internal twins: returns (body, status)."""
    state = host_state()
    started = time.perf_counter()
    event_type = data["event_type"]
    if event_type not in EVENT_TYPES:
        metrics.DISPATCH_EVENTS.labels("other", "ignored").inc()
        return {"accepted": True, "duplicate": False, "ignored": True}, 202
    cache = state.integrations
    activity = cache.by_token(token) if token is not None else cache.by_number(str(enterprise_number))
    if activity is None:
        metrics.DISPATCH_EVENTS.labels(event_type, "unknown").inc()
        raise ApiError("no enterprise has this token" if token is not None else "unknown enterprise",
                       code="not_found", status=404)
    if not activity.active:
        state.services.journal.write(JournalEntry(
            activity.number, "host", f"dispatch:{event_type}", "skipped", call_unique_id=data["uniqueId"],
            error="the enterprise is inactive"))
        metrics.DISPATCH_EVENTS.labels(event_type, "inactive").inc()
        return {"accepted": False, "duplicate": False}, 202
    codes = [c for c in activity.codes if only is None or c in only]
    result, job_ids = _store_with_retry(state, activity.number, data, codes)
    state.services.jobs.run_soon(job_ids)
    metrics.DISPATCH_EVENTS.labels(event_type, "duplicate" if result.duplicate else "stored").inc()
    metrics.DISPATCH_SECONDS.observe(time.perf_counter() - started)
    return {"accepted": True, "duplicate": result.duplicate}, 202


def _store_with_retry(state: Any, number: str, data: dict[str, Any], codes: list[str]) -> Any:
    # One retry: a pooled connection may have died with a PostgreSQL restart; storing is idempotent
    # (the event identity dedupes), so trying again on a fresh connection is safe.
    for attempt in (1, 2):
        try:
            # Autocommit: storing is one statement (atomic by itself), so the acknowledgement costs
            # a single round trip to PostgreSQL.
            with state.services.db.connection() as conn, autocommit(conn):
                return state.events.store(conn, number, data["uniqueId"], data["event_type"], data["raw"],
                                          origin=data["origin"], record_url=data["record_url"], codes=codes)
        except DbUnavailable as exc:
            if attempt == 2 or exc.code == "db_busy":
                metrics.DISPATCH_EVENTS.labels(data["event_type"], "unavailable").inc()
                raise ApiError("the event could not be stored; send it again", code="unavailable",
                               status=503, headers={"Retry-After": "1"}) from exc
    raise AssertionError("unreachable")


@bp.post("/dispatch/call-event")
def dispatch_call_event() -> tuple[Response, int]:
    state = host_state()
    state.services.auth.require_internal()
    data = DispatchSchema().load(read_json_object())
    body, status = accept_event(None, data["token"], data)
    return jsonify(body), status
