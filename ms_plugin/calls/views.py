"""Internal routes of the call flow (loopback or ``X-Internal-Token`` only).

* ``POST /internal/ms/call-event``: the host's dispatch envelope with ``enterprise_number`` instead of
  ``token``; the event is stored exactly like ``/dispatch/call-event`` does, with a job for ms only.
* ``POST /internal/ms/notify-incoming`` (and the seed's ``/ms/notify-incoming``): show cards for a call
  another system knows about; it becomes a synthetic ``dial`` event of that call.
* ``POST /internal/ms/log-call`` (and ``/ms/log-call``): log a finished call without cards; it becomes a
  replayed (``origin=download``) hangup, so it takes exactly the path of the PBX's own replays.
"""

from __future__ import annotations

import uuid
from typing import Any

from flask import Response, jsonify
from marshmallow import EXCLUDE, Schema, ValidationError, fields, validate, validates_schema

from host_app.integrations.contract import EVENT_TYPES, ApiError, read_json_object
from ms_plugin.calls.timefmt import zone
from ms_plugin.phones import split_extensions
from ms_plugin.state import plugin_state
from ms_plugin.views import bp

# No whitespace or control characters (a NUL cannot even be stored in PostgreSQL).
_URL = validate.Regexp(r"^https?://[^\s\x00-\x1f\x7f]{1,2000}$", error="must be an http(s) URL")
_ENT = validate.Length(min=1, max=32)


class CallEventSchema(Schema):
    class Meta:
        unknown = EXCLUDE

    enterprise_number = fields.String(required=True, validate=_ENT)
    uniqueId = fields.String(required=True, validate=validate.Length(min=1, max=128))
    event_type = fields.String(required=True, validate=validate.Length(min=1, max=64))
    raw = fields.Dict(keys=fields.String(), required=True)
    record_url = fields.String(load_default=None, allow_none=True, validate=_URL)
    origin = fields.String(load_default="live", validate=validate.OneOf(["live", "download"]))


class NotifySchema(Schema):
    class Meta:
        unknown = EXCLUDE

    enterprise_number = fields.String(required=True, validate=_ENT)
    phone = fields.String(required=True, validate=validate.Length(min=1, max=64))
    extensions = fields.Raw(required=True)
    unique_id = fields.String(load_default=None, allow_none=True, validate=validate.Length(min=1, max=128))
    direction = fields.String(load_default="in", validate=validate.OneOf(["in", "out"]))

    @validates_schema
    def _exts(self, data: dict[str, Any], **_: Any) -> None:
        exts = split_extensions(data.get("extensions"))
        if not exts or any(not e.isdigit() or not 2 <= len(e) <= 6 for e in exts):
            raise ValidationError("a list of 2-6 digit extensions", "extensions")


class LogCallSchema(Schema):
    class Meta:
        unknown = EXCLUDE

    enterprise_number = fields.String(required=True, validate=_ENT)
    phone = fields.String(required=True, validate=validate.Length(min=1, max=64))
    direction = fields.String(required=True, validate=validate.OneOf(["in", "out"]))
    unique_id = fields.String(load_default=None, allow_none=True, validate=validate.Length(min=1, max=128))
    extension = fields.String(load_default=None, allow_none=True, validate=validate.Regexp(r"^[0-9]{2,6}$"))
    start_time = fields.AwareDateTime(required=True)
    end_time = fields.AwareDateTime(required=True)
    status = fields.String(required=True, validate=validate.OneOf(["answered", "missed"]))
    record_url = fields.String(load_default=None, allow_none=True, validate=_URL)

    @validates_schema
    def _order(self, data: dict[str, Any], **_: Any) -> None:
        if data.get("start_time") and data.get("end_time") and data["end_time"] < data["start_time"]:
            raise ValidationError("must not be before start_time", "end_time")


def _enterprise(ent: str) -> Any:
    state = plugin_state()
    enterprise = state.services.enterprises.get(ent)
    if enterprise is None:
        raise ApiError("unknown enterprise", code="not_found", status=404)
    return enterprise


def _submit(ent: str, unique_id: str, event_type: str, raw: dict[str, Any], *, origin: str = "live",
            record_url: str | None = None) -> tuple[Response, int]:
    state = plugin_state()
    enterprise = _enterprise(ent)
    section = state.services.config.get_section(ent, "ms")
    if not enterprise.active or not (section and section.get("enabled") is True):
        return jsonify({"accepted": False, "duplicate": False}), 202
    result = state.services.events.submit(ent, unique_id, event_type, raw, origin=origin, record_url=record_url,
                                          integrations=["ms"])
    return jsonify({"accepted": result.accepted, "duplicate": result.duplicate}), 202


@bp.post("/internal/ms/call-event")
def internal_call_event() -> tuple[Response, int]:
    plugin_state().services.auth.require_internal()
    data = CallEventSchema().load(read_json_object())
    if data["event_type"] not in EVENT_TYPES:
        _enterprise(data["enterprise_number"])
        return jsonify({"accepted": True, "duplicate": False, "ignored": True}), 202
    return _submit(data["enterprise_number"], data["uniqueId"], data["event_type"], data["raw"],
                   origin=data["origin"], record_url=data["record_url"])


@bp.post("/internal/ms/notify-incoming")
@bp.post("/ms/notify-incoming")
def notify_incoming() -> tuple[Response, int]:
    plugin_state().services.auth.require_internal()
    data = NotifySchema().load(read_json_object())
    unique_id = data["unique_id"] or f"ms-notify-{uuid.uuid4().hex}"
    raw = {"UniqueId": unique_id, "CallType": 0 if data["direction"] == "in" else 1, "Phone": data["phone"],
           "Extensions": split_extensions(data["extensions"]), "Trunk": "", "_source": "notify-incoming"}
    return _submit(data["enterprise_number"], unique_id, "dial", raw)


@bp.post("/internal/ms/log-call")
@bp.post("/ms/log-call")
def log_call() -> tuple[Response, int]:
    plugin_state().services.auth.require_internal()
    data = LogCallSchema().load(read_json_object())
    enterprise = _enterprise(data["enterprise_number"])
    tz = zone(enterprise.timezone)
    unique_id = data["unique_id"] or f"ms-log-{uuid.uuid4().hex}"
    raw = {
        "UniqueId": unique_id, "CallType": 0 if data["direction"] == "in" else 1, "Phone": data["phone"],
        "Extensions": [data["extension"]] if data["extension"] else [""], "Trunk": "",
        # The PBX's own hangups carry the enterprise's wall clock; so does this synthetic one.
        "StartTime": data["start_time"].astimezone(tz).strftime("%Y-%m-%d %H:%M:%S"),
        "EndTime": data["end_time"].astimezone(tz).strftime("%Y-%m-%d %H:%M:%S"),
        "CallStatus": "2" if data["status"] == "answered" else "0", "_source": "log-call",
    }
    return _submit(data["enterprise_number"], unique_id, "hangup", raw, origin="download",
                   record_url=data["record_url"])
