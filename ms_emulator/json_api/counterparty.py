"""`/entity/counterparty` with its contact persons and notes (the call log).

Search (docs, Feb 2026): for counterparties it is neither prefix-based nor tokenised: a counterparty is
found when any of name/code/legalTitle/discountCardNumber/email, its phone, a contact person's
name/email or a contact person's phone *contains* the query. How phones are compared is a knob:
`phone_search="substring"` (the literal stored string, per docs, default) or `"digits"` (the query's
digits inside the stored phone's digits, as the community reports: `search=9161234567` finds
`+7 (916) 123-45-67`).
"""
from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, request

from ..filters import FieldSpec
from ..knobs import Knobs
from ..model import Account, Entity, Ref
from ..pipeline import current_account, current_state
from ..transport import json_response, read_json
from ..util import digits
from . import crud
from .listing import common_filters, field_spec, get_entity, list_response, request_expand
from .render import render_entity
from .schema import CONTACT_PERSON, COUNTERPARTY, NOTE

bp = Blueprint("ms_json_counterparty", __name__, url_prefix="/api/remap/1.2/entity/counterparty")

FILTERS: dict[str, FieldSpec] = common_filters({
    **{name: field_spec("string", name) for name in (
        "name", "phone", "email", "fax", "code", "externalCode", "companyType", "description", "legalTitle",
        "inn", "discountCardNumber", "syncId")},
    "archived": field_spec("bool", "archived"),
    "owner": field_spec("ref", "owner"),
    "tags": field_spec("strlist", "tags"),
})
SUB_FILTERS: dict[str, FieldSpec] = common_filters({
    name: field_spec("string", name) for name in ("name", "phone", "email", "description")})
TEXT_FIELDS = ("name", "code", "legalTitle", "discountCardNumber", "email")


def phone_matches(stored: str | None, query: str, mode: str) -> bool:
    if not stored:
        return False
    if mode == "digits":
        wanted = digits(query)
        return bool(wanted) and wanted in digits(stored)
    return query.lower() in stored.lower()


def search_rows(account: Account, rows: list[Entity], query: str, knobs: Knobs) -> list[Entity]:
    needle = query.lower()
    persons: dict[str, list[Entity]] = {}
    for person in account.store("contactperson").values():
        persons.setdefault(person.parent_id or "", []).append(person)

    def text_hit(entity: Entity, names: tuple[str, ...]) -> bool:
        return any(needle in str(entity.fields.get(n) or "").lower() for n in names)

    def hit(cp: Entity) -> bool:
        if text_hit(cp, TEXT_FIELDS) or phone_matches(cp.fields.get("phone"), query, knobs.phone_search):
            return True
        return any(text_hit(p, ("name", "email")) or phone_matches(p.fields.get("phone"), query, knobs.phone_search)
                   for p in persons.get(cp.id, []))

    return [cp for cp in rows if hit(cp)]


def _default_owner(account: Account, fields: dict[str, Any]) -> None:
    # Without an explicit owner the creating employee becomes the owner (doc examples).
    if fields.get("owner") is None:
        fields["owner"] = crud.current_employee_ref()
    fields.setdefault("companyType", "legal")
    fields.setdefault("archived", False)
    fields.setdefault("tags", [])


@bp.get("")
def list_counterparties() -> Response:
    state, account = current_state(), current_account()
    with state.lock:
        rows = list(account.store("counterparty").values())
        return list_response(account, "counterparty", rows, state.knobs, filters=FILTERS, searcher=search_rows)


@bp.post("")
def create_counterparty() -> Response:
    return crud.post_collection(current_account(), COUNTERPARTY, _default_owner,
                                render=lambda acc, ent: render_entity(acc, ent, request_expand()))


@bp.get("/<entity_id>")
def get_counterparty(entity_id: str) -> Response:
    state, account = current_state(), current_account()
    with state.lock:
        return json_response(render_entity(account, get_entity(account, "counterparty", entity_id), request_expand()))


@bp.put("/<entity_id>")
def put_counterparty(entity_id: str) -> Response:
    state, account = current_state(), current_account()
    body = read_json()
    with state.lock:
        entity = crud.update(state, account, COUNTERPARTY, get_entity(account, "counterparty", entity_id), body)
        return json_response(render_entity(account, entity, request_expand()))


def _children(kind: str, entity_id: str) -> Response:
    state, account = current_state(), current_account()
    with state.lock:
        parent = get_entity(account, "counterparty", entity_id)
        rows = [e for e in account.store(kind).values() if e.parent_id == parent.id]
        return list_response(account, kind, rows, state.knobs, filters=SUB_FILTERS)


def _create_child(definition_kind: str, entity_id: str) -> Response:
    state, account = current_state(), current_account()
    with state.lock:
        parent = get_entity(account, "counterparty", entity_id)
    definition = CONTACT_PERSON if definition_kind == "contactperson" else NOTE

    def defaults(acc: Account, fields: dict[str, Any]) -> None:
        fields["agent"] = Ref("counterparty", parent.id)
        if definition_kind == "note":
            fields["author"] = crud.current_employee_ref()

    return crud.post_collection(account, definition, defaults, parent_id=parent.id,
                                array_shape=state.knobs.subresource_create_shape == "array")


@bp.get("/<entity_id>/contactpersons")
def list_contact_persons(entity_id: str) -> Response:
    return _children("contactperson", entity_id)


@bp.post("/<entity_id>/contactpersons")
def create_contact_person(entity_id: str) -> Response:
    return _create_child("contactperson", entity_id)


@bp.get("/<entity_id>/notes")
def list_notes(entity_id: str) -> Response:
    return _children("note", entity_id)


@bp.post("/<entity_id>/notes")
def create_note(entity_id: str) -> Response:
    return _create_child("note", entity_id)


@bp.route("/<entity_id>/<any(contactpersons, notes):sub>/<child_id>", methods=["GET", "PUT"])
def child(entity_id: str, sub: str, child_id: str) -> Response:
    kind = "contactperson" if sub == "contactpersons" else "note"
    state, account = current_state(), current_account()
    body = read_json() if request.method == "PUT" else None
    with state.lock:
        parent = get_entity(account, "counterparty", entity_id)
        entity = get_entity(account, kind, child_id, parent_id=parent.id)
        if body is not None:
            crud.update(state, account, CONTACT_PERSON if kind == "contactperson" else NOTE, entity, body)
        return json_response(render_entity(account, entity))
