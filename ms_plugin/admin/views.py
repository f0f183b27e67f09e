"""The admin JSON API on the ``ms`` blueprint. Thin: auth -> schema -> service -> JSON.

Every route takes the enterprise from its path and checks it first (``require_admin(ent)``: 401 without
credentials, 403 for another enterprise's admin, CSRF for session-made changes), before anything else
can tell whether that enterprise exists.
"""

from __future__ import annotations

from typing import Any

from flask import Response, jsonify, request

from host_app.integrations.contract import Principal, read_json_object
from ms_plugin.admin.schemas import (
    ConnectionTestSchema,
    JournalQuerySchema,
    MappingEditSchema,
    RefreshQuerySchema,
    ResendSchema,
    StatsQuerySchema,
    TestCallSchema,
    query_args,
)
from ms_plugin.admin.wiring import admin_services
from ms_plugin.state import plugin_state
from ms_plugin.views import bp


def _admin(ent: str) -> Principal:
    return plugin_state().services.auth.require_admin(ent)


def _optional_body() -> dict[str, Any]:
    """A JSON object, or ``{}`` for a request without a body."""
    if not request.get_data(cache=True).strip():
        return {}
    return read_json_object()


def _no_store(resp: Response, status: int = 200) -> tuple[Response, int]:
    # Admin answers describe credentials and phone numbers: never cached by a browser or proxy.
    resp.headers["Cache-Control"] = "no-store"
    return resp, status


# -- config --------------------------------------------------------------------------------------------


@bp.get("/ms-admin/config/<ent>")
def get_config(ent: str) -> tuple[Response, int]:
    who = _admin(ent)
    return _no_store(jsonify(admin_services().config.get(ent, who)))


@bp.put("/ms-admin/config/<ent>")
def put_config(ent: str) -> tuple[Response, int]:
    who = _admin(ent)
    body = read_json_object()
    return _no_store(jsonify(admin_services().config.put(ent, body, who)))


@bp.delete("/ms-admin/config/<ent>")
def delete_config(ent: str) -> tuple[str, int]:
    who = _admin(ent)
    admin_services().config.delete(ent, who)
    return "", 204


@bp.post("/ms-admin/config/<ent>/rotate-webhook")
def rotate_webhook(ent: str) -> tuple[Response, int]:
    who = _admin(ent)
    return _no_store(jsonify(admin_services().config.rotate_webhook(ent, who)))


# -- connection test, options ------------------------------------------------------------------------


@bp.post("/ms-admin/test/<ent>")
def connection_test(ent: str) -> tuple[Response, int]:
    _admin(ent)
    body = ConnectionTestSchema().load(_optional_body())
    return _no_store(jsonify(admin_services().probe.run(ent, body)))


@bp.get("/ms-admin/options/<ent>")
def options(ent: str) -> tuple[Response, int]:
    _admin(ent)
    args = RefreshQuerySchema().load(request.args)
    return _no_store(jsonify(admin_services().options.options(ent, refresh=args["refresh"])))


# -- employees -----------------------------------------------------------------------------------------


@bp.get("/ms-admin/employees/<ent>")
def employees(ent: str) -> tuple[Response, int]:
    _admin(ent)
    args = RefreshQuerySchema().load(request.args)
    return _no_store(jsonify(admin_services().employees.listing(ent, refresh=args["refresh"])))


@bp.put("/ms-admin/employees/<ent>/mapping")
def edit_mapping(ent: str) -> tuple[Response, int]:
    who = _admin(ent)
    data = MappingEditSchema().load(read_json_object())
    return _no_store(jsonify(admin_services().employees.edit_mapping(ent, data["mapping"], data["replace"], who)))


@bp.post("/ms-admin/test-call/<ent>")
def test_call(ent: str) -> tuple[Response, int]:
    _admin(ent)
    data = TestCallSchema().load(read_json_object())
    return _no_store(jsonify(admin_services().test_calls.start(ent, data["extension"])), 202)


# -- journal, stats ------------------------------------------------------------------------------------


@bp.get("/ms-admin/journal/<ent>.json")
def journal(ent: str) -> tuple[Response, int]:
    _admin(ent)
    args = query_args(JournalQuerySchema(), request.args)
    return _no_store(jsonify(admin_services().journal.page(ent, args)))


@bp.post("/ms-admin/journal/<ent>/resend")
def resend(ent: str) -> tuple[Response, int]:
    _admin(ent)
    data = ResendSchema().load(read_json_object())
    return _no_store(jsonify(admin_services().journal.resend(ent, data["call_id"])), 202)


@bp.get("/ms-admin/stats/<ent>")
def stats(ent: str) -> tuple[Response, int]:
    _admin(ent)
    args = StatsQuerySchema().load(request.args)
    return _no_store(jsonify(admin_services().stats.stats(ent, args["window"])))
