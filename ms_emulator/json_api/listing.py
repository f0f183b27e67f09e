"""Collections: `limit`/`offset` (default 1000, max 1000), `filter`, `search`, `order`, `expand`
(honoured only when limit <= 100, silently ignored otherwise, as documented)."""
from __future__ import annotations

from typing import Any, Callable
from urllib.parse import urlencode

from flask import Response, request

from ..errors import ApiError, bad_uuid, not_found
from ..filters import FieldSpec, apply_filter
from ..knobs import Knobs
from ..model import Account, Entity, Ref
from ..transport import json_response
from ..util import JSON_BASE, MEDIA_TYPE, is_uuid
from .render import Expand, parse_expand, render_entity

# Filters the rows by `search=`; it gets the whole list so it can index sub-entities once per request.
Searcher = Callable[[Account, list[Entity], str, Knobs], list[Entity]]
EXPAND_MAX_LIMIT = 100


def context_block() -> dict[str, Any]:
    return {"employee": {"meta": {"href": f"{JSON_BASE}/context/employee",
                                  "metadataHref": f"{JSON_BASE}/entity/employee/metadata",
                                  "type": "employee", "mediaType": MEDIA_TYPE}}}


def _int_arg(name: str, default: int, low: int, high: int) -> int:
    raw = request.args.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ApiError(400, 1040, detail=f"параметр '{name}' должен быть числом", parameter=name) from None
    if not low <= value <= high:
        raise ApiError(400, 1040, detail=f"параметр '{name}' должен быть от {low} до {high}", parameter=name)
    return value


def _sort_value(entity: Entity, name: str) -> Any:
    if name in ("created", "updated", "id"):
        return getattr(entity, name)
    value = entity.fields.get(name)
    return value.id if isinstance(value, Ref) else value


def apply_order(rows: list[Entity], text: str | None) -> list[Entity]:
    """`order=moment,desc;name`: stable multi-key sort; missing values sort last."""
    keys = [part.split(",") for part in (text or "").split(";") if part.strip()]
    for spec in reversed(keys):
        name = spec[0].strip()
        direction = spec[1].strip().lower() if len(spec) > 1 else "asc"
        if direction not in ("asc", "desc"):
            raise ApiError(400, 1040, detail=f"неверное направление сортировки '{direction}'", parameter="order")
        present = [r for r in rows if _sort_value(r, name) is not None]
        absent = [r for r in rows if _sort_value(r, name) is None]
        present.sort(key=lambda r: _sort_value(r, name), reverse=direction == "desc")
        rows = present + absent
    return rows


def _page_href(offset: int | None = None, limit: int | None = None) -> str:
    args = request.args.to_dict(flat=False)
    if offset is not None:
        args["offset"] = [str(offset)]
        args["limit"] = [str(limit)]
    query = urlencode(args, doseq=True)
    path = request.path[len("/api/remap/1.2"):]
    return f"{JSON_BASE}{path}" + (f"?{query}" if query else "")


def list_response(account: Account, kind: str, rows: list[Entity], knobs: Knobs, *,
                  filters: dict[str, FieldSpec], searcher: Searcher | None = None,
                  render: Callable[[Account, Entity, Expand], dict[str, Any]] = render_entity) -> Response:
    limit = _int_arg("limit", 1000, 1, 1000)
    offset = _int_arg("offset", 0, 0, 10**9)
    rows = apply_filter(rows, request.args.get("filter"), filters)
    query = request.args.get("search")
    if query and searcher is not None:
        rows = searcher(account, rows, query, knobs)
    rows = apply_order(rows, request.args.get("order"))
    size = len(rows)
    page = rows[offset:offset + limit]
    expand = parse_expand(request.args.get("expand")) if limit <= EXPAND_MAX_LIMIT else {}
    meta: dict[str, Any] = {"href": _page_href(), "type": kind, "mediaType": MEDIA_TYPE, "size": size,
                            "limit": limit, "offset": offset}
    if offset + limit < size:
        meta["nextHref"] = _page_href(offset + limit, limit)
    if offset > 0:
        meta["previousHref"] = _page_href(max(0, offset - limit), limit)
    return json_response({"context": context_block(), "meta": meta,
                          "rows": [render(account, r, expand) for r in page]})


def get_entity(account: Account, kind: str, entity_id: str, parent_id: str | None = None) -> Entity:
    if not is_uuid(entity_id):
        raise bad_uuid(entity_id)
    entity = account.get(kind, entity_id.lower())
    if entity is None or (parent_id is not None and entity.parent_id != parent_id):
        raise not_found(kind, entity_id)
    return entity


def request_expand() -> Expand:
    """Single-entity responses (GET/POST/PUT) honour `expand` regardless of limit."""
    return parse_expand(request.args.get("expand"))


def common_filters(extra: dict[str, FieldSpec] | None = None) -> dict[str, FieldSpec]:
    base = {
        "id": FieldSpec("string", lambda e: e.id),
        "created": FieldSpec("datetime", lambda e: e.created),
        "updated": FieldSpec("datetime", lambda e: e.updated),
    }
    return {**base, **(extra or {})}


def field_spec(kind: str, name: str) -> FieldSpec:
    return FieldSpec(kind, lambda e: e.fields.get(name))


def text_searcher(*names: str) -> Searcher:
    """Case-insensitive substring search over the given string fields."""
    def search(account: Account, rows: list[Entity], query: str, knobs: Knobs) -> list[Entity]:
        needle = query.lower()
        return [r for r in rows if any(needle in str(r.fields.get(n) or "").lower() for n in names)]

    return search
