"""Employees, organizations, sales channels, `/context/employee` and `/security/token`."""
from __future__ import annotations

from typing import Any

from flask import Blueprint, Response

from ..errors import ApiError
from ..model import Account
from ..pipeline import current_account, current_ctx, current_state, current_user
from ..transport import json_response, read_json
from ..util import JSON_BASE
from . import crud
from .listing import common_filters, field_spec, get_entity, list_response, request_expand, text_searcher
from .render import render_entity
from .schema import SALES_CHANNEL

bp = Blueprint("ms_json_directory", __name__, url_prefix="/api/remap/1.2")

EMPLOYEE_FILTERS = common_filters({
    **{n: field_spec("string", n) for n in ("uid", "email", "phone", "name", "firstName", "lastName",
                                              "middleName", "fullName", "position", "description")},
    "archived": field_spec("bool", "archived"),
})
ORGANIZATION_FILTERS = common_filters({
    **{n: field_spec("string", n) for n in ("name", "legalTitle", "inn", "phone", "email")},
    "archived": field_spec("bool", "archived"),
})
SALES_CHANNEL_FILTERS = common_filters({
    **{n: field_spec("string", n) for n in ("name", "type", "description", "code", "externalCode")},
    "archived": field_spec("bool", "archived"),
})


@bp.post("/security/token")
def security_token() -> Response:
    """Basic credentials only. Issuing a token revokes every token the user obtained earlier."""
    ctx = current_ctx()
    if ctx.identity.auth_kind != "basic":
        raise ApiError(401, 1056, detail="токен выдается только по логину и паролю (Basic)")
    token = current_state().mint_token(current_account(), current_user())
    return json_response({"access_token": token})


@bp.get("/context/employee")
def context_employee() -> Response:
    state, account = current_state(), current_account()
    with state.lock:
        employee = get_entity(account, "employee", current_user().employee_id)
        body = render_entity(account, employee, request_expand())
    body["meta"] = {**body["meta"], "href": f"{JSON_BASE}/context/employee",
                    "metadataHref": f"{JSON_BASE}/entity/employee/metadata"}
    return json_response(body)


@bp.get("/entity/employee")
def list_employees() -> Response:
    state, account = current_state(), current_account()
    with state.lock:
        rows = list(account.store("employee").values())
        return list_response(account, "employee", rows, state.knobs, filters=EMPLOYEE_FILTERS,
                             searcher=text_searcher("name", "fullName", "email", "phone"))


@bp.get("/entity/employee/<entity_id>")
def get_employee(entity_id: str) -> Response:
    state, account = current_state(), current_account()
    with state.lock:
        return json_response(render_entity(account, get_entity(account, "employee", entity_id), request_expand()))


@bp.get("/entity/organization")
def list_organizations() -> Response:
    state, account = current_state(), current_account()
    with state.lock:
        rows = list(account.store("organization").values())
        return list_response(account, "organization", rows, state.knobs, filters=ORGANIZATION_FILTERS,
                             searcher=text_searcher("name", "legalTitle", "inn", "phone", "email"))


@bp.get("/entity/organization/<entity_id>")
def get_organization(entity_id: str) -> Response:
    state, account = current_state(), current_account()
    with state.lock:
        return json_response(render_entity(account, get_entity(account, "organization", entity_id)))


@bp.get("/entity/saleschannel")
def list_sales_channels() -> Response:
    state, account = current_state(), current_account()
    with state.lock:
        rows = list(account.store("saleschannel").values())
        return list_response(account, "saleschannel", rows, state.knobs, filters=SALES_CHANNEL_FILTERS,
                             searcher=text_searcher("name", "description"))


@bp.post("/entity/saleschannel")
def create_sales_channel() -> Response:
    def defaults(account: Account, fields: dict[str, Any]) -> None:
        fields.setdefault("archived", False)
        fields.setdefault("owner", crud.current_employee_ref())

    return crud.post_collection(current_account(), SALES_CHANNEL, defaults)


@bp.get("/entity/saleschannel/<entity_id>")
def get_sales_channel(entity_id: str) -> Response:
    state, account = current_state(), current_account()
    with state.lock:
        return json_response(render_entity(account, get_entity(account, "saleschannel", entity_id)))


@bp.put("/entity/saleschannel/<entity_id>")
def put_sales_channel(entity_id: str) -> Response:
    state, account = current_state(), current_account()
    body = read_json()
    with state.lock:
        entity = crud.update(state, account, SALES_CHANNEL, get_entity(account, "saleschannel", entity_id), body)
        return json_response(render_entity(account, entity))
