"""Generic create/update for JSON API entities, with syncId idempotency and array (batch) bodies."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable

from flask import Response

from ..entities import create_entity, find_by_sync_id
from ..errors import ApiError
from ..model import Account, Entity, Ref
from ..pipeline import current_state, current_user
from ..transport import json_response, read_json
from ..util import now_str
from .render import render_entity
from .schema import EntityDef, parse_fields

if TYPE_CHECKING:
    from ..state import EmulatorState

Defaults = Callable[[Account, dict[str, Any]], None]
MAX_BATCH = 1000  # arrays over 1000 elements are refused with 413


def current_employee_ref() -> Ref:
    return Ref("employee", current_user().employee_id)


def create(state: EmulatorState, account: Account, definition: EntityDef, body: dict[str, Any],
           defaults: Defaults | None = None, parent_id: str | None = None) -> Entity:
    fields = parse_fields(account, definition, body, state.knobs, creating=True)
    sync_id = fields.get("syncId")
    if sync_id:
        existing = find_by_sync_id(account, definition.kind, sync_id)
        if existing is not None:
            return existing  # docs: a repeated POST with the same syncId returns the created entity
    if defaults is not None:
        defaults(account, fields)
    return create_entity(state.ids, account, definition.kind, fields, parent_id=parent_id)


def update(state: EmulatorState, account: Account, definition: EntityDef, entity: Entity,
           body: dict[str, Any], on_update: Callable[[Entity, dict[str, Any]], None] | None = None) -> Entity:
    fields = parse_fields(account, definition, body, state.knobs, creating=False)
    if entity.fields.get("syncId"):
        fields.pop("syncId", None)  # the client-side id is fixed once set
    elif fields.get("syncId"):
        account.sync_ids[(definition.kind, fields["syncId"])] = entity.id
    if on_update is not None:
        on_update(entity, fields)
    entity.fields.update(fields)
    entity.updated = now_str()
    return entity


def post_collection(account: Account, definition: EntityDef, defaults: Defaults | None = None,
                    parent_id: str | None = None, array_shape: bool = False,
                    render: Callable[[Account, Entity], dict[str, Any]] | None = None) -> Response:
    """POST to a collection: an object creates one entity; an array creates (or, for items carrying
    `meta`, updates) each item and answers an array. `array_shape` answers an array for a single object
    too (the documented shape of contact-person and note creation)."""
    state = current_state()
    body = read_json(allow_array=True)
    render_fn = render or (lambda acc, ent: render_entity(acc, ent))
    with state.lock:
        if isinstance(body, list):
            if len(body) > MAX_BATCH:
                raise ApiError(413, 1044, "Превышено максимальное количество элементов в массиве (1000)")
            results = [_batch_item(state, account, definition, item, defaults, parent_id) for item in body]
            return json_response([render_fn(account, e) for e in results])
        entity = create(state, account, definition, body, defaults, parent_id)
        rendered = render_fn(account, entity)
    return json_response([rendered] if array_shape else rendered)


def _batch_item(state: EmulatorState, account: Account, definition: EntityDef, item: Any,
                defaults: Defaults | None, parent_id: str | None) -> Entity:
    if not isinstance(item, dict):
        raise ApiError(400, 2005)
    item_meta = item.get("meta")
    if isinstance(item_meta, dict) and item_meta.get("href"):
        entity_id = str(item_meta["href"]).rstrip("/").rsplit("/", 1)[-1]
        entity = account.get(definition.kind, entity_id)
        if entity is None:
            raise ApiError(404, 1021, entity=definition.kind, id=entity_id)
        return update(state, account, definition, entity, item)
    return create(state, account, definition, item, defaults, parent_id)
