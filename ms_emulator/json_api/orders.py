"""`/entity/customerorder` (+ `/metadata` with the states) and `/entity/task`.

Orders: `organization` and `agent` are required (412/3000); `name` is numbered per account when omitted;
the state stays empty unless given (the API does not apply a default state). Tasks need the account's
CRM option: without it every task endpoint answers 403 with code 37000.
"""
from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, request

from ..errors import ApiError
from ..filters import FieldSpec
from ..model import Account, Entity, Ref
from ..pipeline import current_account, current_state
from ..transport import json_response, read_json
from ..util import JSON_BASE, MEDIA_TYPE, now_str
from . import crud
from .listing import common_filters, field_spec, get_entity, list_response, request_expand, text_searcher
from .render import render_entity
from .schema import CUSTOMER_ORDER, TASK

bp = Blueprint("ms_json_orders", __name__, url_prefix="/api/remap/1.2/entity")


def _state_name(account: Account, entity: Entity) -> str | None:
    ref = entity.fields.get("state")
    state = account.get("state", ref.id) if isinstance(ref, Ref) else None
    return state.fields.get("name") if state else None


def order_filters(account: Account) -> dict[str, FieldSpec]:
    return common_filters({
        **{n: field_spec("string", n) for n in ("name", "description", "code", "externalCode", "syncId")},
        **{n: field_spec("ref", n) for n in ("agent", "organization", "owner", "state", "salesChannel")},
        "state.name": FieldSpec("string", lambda e: _state_name(account, e)),
        "moment": field_spec("datetime", "moment"),
        "applicable": field_spec("bool", "applicable"),
    })


TASK_FILTERS = common_filters({
    **{n: field_spec("ref", n) for n in ("agent", "assignee", "author", "operation")},
    "done": field_spec("bool", "done"),
    "dueToDate": field_spec("datetime", "dueToDate"),
    "description": field_spec("string", "description"),
})


@bp.get("/customerorder/metadata")
def order_metadata() -> Response:
    state, account = current_state(), current_account()
    with state.lock:
        states = [render_entity(account, s) for s in account.store("state").values()]
    return json_response({
        "meta": {"href": f"{JSON_BASE}/entity/customerorder/metadata", "mediaType": MEDIA_TYPE},
        "attributes": {"meta": {"href": f"{JSON_BASE}/entity/customerorder/metadata/attributes",
                                "type": "attributemetadata", "mediaType": MEDIA_TYPE,
                                "size": 0, "limit": 1000, "offset": 0}},
        "states": states,
        "createShared": False,
    })


@bp.get("/customerorder")
def list_orders() -> Response:
    state, account = current_state(), current_account()
    with state.lock:
        rows = list(account.store("customerorder").values())
        return list_response(account, "customerorder", rows, state.knobs, filters=order_filters(account),
                             searcher=text_searcher("name", "description"))


def _order_defaults(account: Account, fields: dict[str, Any]) -> None:
    if not fields.get("name"):
        account.order_seq += 1
        fields["name"] = f"{account.order_seq:05d}"
    fields.setdefault("moment", now_str())
    fields.setdefault("applicable", True)
    if fields.get("owner") is None:
        fields["owner"] = crud.current_employee_ref()
    fields.setdefault("sum", 0)
    fields.setdefault("vatEnabled", True)
    fields.setdefault("vatIncluded", True)


@bp.post("/customerorder")
def create_order() -> Response:
    return crud.post_collection(current_account(), CUSTOMER_ORDER, _order_defaults,
                                render=lambda acc, ent: render_entity(acc, ent, request_expand()))


@bp.route("/customerorder/<entity_id>", methods=["GET", "PUT"])
def order(entity_id: str) -> Response:
    state, account = current_state(), current_account()
    body = read_json() if request.method == "PUT" else None
    with state.lock:
        entity = get_entity(account, "customerorder", entity_id)
        if body is not None:
            crud.update(state, account, CUSTOMER_ORDER, entity, body)
        return json_response(render_entity(account, entity, request_expand()))


# ---- tasks ------------------------------------------------------------------------------------------
def _require_crm(account: Account) -> None:
    if not account.crm_option:
        raise ApiError(403, 37000)


def _task_done(entity: Entity, fields: dict[str, Any]) -> None:
    if "done" not in fields or fields["done"] == entity.fields.get("done"):
        return
    if fields["done"]:
        fields["completed"] = now_str()
        fields["implementer"] = crud.current_employee_ref()
    else:
        fields["completed"] = None
        fields["implementer"] = None


def _task_defaults(account: Account, fields: dict[str, Any]) -> None:
    fields["author"] = crud.current_employee_ref()
    fields.setdefault("done", False)
    if fields.get("done"):
        fields["completed"] = now_str()
        fields["implementer"] = fields["author"]


@bp.get("/task")
def list_tasks() -> Response:
    state, account = current_state(), current_account()
    _require_crm(account)
    with state.lock:
        rows = list(account.store("task").values())
        return list_response(account, "task", rows, state.knobs, filters=TASK_FILTERS,
                             searcher=text_searcher("description"))


@bp.post("/task")
def create_task() -> Response:
    account = current_account()
    _require_crm(account)
    return crud.post_collection(account, TASK, _task_defaults,
                                render=lambda acc, ent: render_entity(acc, ent, request_expand()))


@bp.route("/task/<entity_id>", methods=["GET", "PUT"])
def task(entity_id: str) -> Response:
    state, account = current_state(), current_account()
    _require_crm(account)
    body = read_json() if request.method == "PUT" else None
    with state.lock:
        entity = get_entity(account, "task", entity_id)
        if body is not None:
            crud.update(state, account, TASK, entity, body, on_update=_task_done)
        return json_response(render_entity(account, entity, request_expand()))
