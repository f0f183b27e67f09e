"""Lookups through the primary integration: the internal ``/customer-name`` and ``/responsible-extension``
routes (loopback or ``X-Internal-Token``) and the dialplan's ``POST /api/callevent/getcustomerdata``."""

from __future__ import annotations

import json
from typing import Any

from flask import Blueprint, Response, jsonify, request

from host_app.lookups import Lookups
from host_app.smart import SmartRedirect, parse_query
from host_app.state import host_state

bp = Blueprint("host_lookups", __name__)


@bp.get("/customer-name/<ent>/<phone>")
def customer_name(ent: str, phone: str) -> Response:
    state = host_state()
    state.services.auth.require_internal()
    return jsonify({"name": Lookups(state).customer_name(ent, phone)})


@bp.get("/responsible-extension/<ent>/<phone>")
def responsible_extension(ent: str, phone: str) -> Response:
    state = host_state()
    state.services.auth.require_internal()
    found = Lookups(state).responsible_extension(ent, phone)
    return jsonify({"extension": found.extension if found else None,
                    "manager_id": found.manager_id if found else None})


@bp.post("/api/callevent/getcustomerdata")
def getcustomerdata() -> Response:
    # Authenticated by the enterprise's PBX token alone (the dialplan has nothing else); an unknown
    # token is a 404 JSON error, a known one always a 200 built byte by byte by SmartRedirect.
    later: list[Any] = []
    body = SmartRedirect(host_state()).customer_data(request.headers.get("Token", "").strip(),
                                                     parse_query(_body()), after_reply=later.append)
    response = Response(body, status=200, content_type="application/json; charset=utf-8")
    for fn in later:  # the journal row, once the dialplan has its answer
        response.call_on_close(fn)
    return response


def _body() -> Any:
    # The dialplan's curl may not label its JSON; a form body is read too. Anything else is empty.
    raw = request.get_data(cache=True)
    try:
        return json.loads(raw.decode("utf-8")) if raw else {}
    except (UnicodeDecodeError, ValueError, RecursionError):
        return request.form.to_dict() if request.mimetype == "application/x-www-form-urlencoded" else {}
