"""Phone API 1.0 endpoints E1-E7 (reference §3.0). Auth, limits and transport run before these
handlers (see pipeline.py); here only the resource logic."""
from __future__ import annotations

from flask import Blueprint, Response, request

from ..filters import FieldSpec, apply_filter
from ..pipeline import current_account, current_state
from ..transport import empty_response, json_response, read_json
from ..util import meta
from .calls import create_call, find_call, find_call_by_extid, parse_event, update_call
from .cards import apply_event
from .render import render_call

bp = Blueprint("ms_phone_api", __name__, url_prefix="/api/phone/1.0")

# Only `extention` (sic) is documented as filterable on /employee.
EMPLOYEE_FILTERS = {"extention": FieldSpec("string", lambda e: e.fields.get("_extension"))}


@bp.post("/call")
def post_call() -> Response:
    state, account = current_state(), current_account()
    body = read_json()
    with state.lock:
        call = create_call(state.ids, account, body, state.knobs)
        payload = render_call(account, call)
    return json_response(payload)  # 200, not 201 (doc)


@bp.get("/call/<call_id>")
def get_call(call_id: str) -> Response:
    state, account = current_state(), current_account()
    with state.lock:
        return json_response(render_call(account, find_call(account, call_id)))


@bp.put("/call/<call_id>")
def put_call(call_id: str) -> Response:
    state, account = current_state(), current_account()
    body = read_json()
    with state.lock:
        call = update_call(account, find_call(account, call_id), body, state.knobs)
        return json_response(render_call(account, call))


@bp.put("/call/extid/<external_id>")
def put_call_by_extid(external_id: str) -> Response:
    state, account = current_state(), current_account()
    body = read_json()
    with state.lock:
        call = update_call(account, find_call_by_extid(account, external_id), body, state.knobs)
        return json_response(render_call(account, call))


@bp.post("/call/<call_id>/event")
def post_event(call_id: str) -> Response:
    state, account = current_state(), current_account()
    body = read_json()
    with state.lock:
        call = find_call(account, call_id)
        apply_event(account, call, parse_event(account, body, state.knobs), "event", state.knobs.strict_sequence)
    return empty_response(204)


@bp.post("/call/extid/<external_id>/event")
def post_event_by_extid(external_id: str) -> Response:
    state, account = current_state(), current_account()
    body = read_json()
    with state.lock:
        call = find_call_by_extid(account, external_id)
        apply_event(account, call, parse_event(account, body, state.knobs), "event", state.knobs.strict_sequence)
    return empty_response(204)


@bp.get("/employee")
def list_employees() -> Response:
    """Employees that have an extension; no pagination and no `meta` in the documented response."""
    state, account = current_state(), current_account()
    with state.lock:
        employees = [e for e in account.store("employee").values()
                     if e.fields.get("_extension") and not e.fields.get("archived")]
        employees = apply_filter(employees, request.args.get("filter"), EMPLOYEE_FILTERS)
        rows = [{"meta": meta("employee", e.id), "extention": e.fields["_extension"]} for e in employees]
    return json_response({"employees": rows})
