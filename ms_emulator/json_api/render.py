"""JSON API 1.2 representations: meta, references (optionally expanded) and collection stubs.

Empty optional fields are omitted from responses (docs: "Empty optional fields are omitted").
"""
from __future__ import annotations

from typing import Any

from ..model import Account, Entity, Ref
from ..util import MEDIA_TYPE, href_for, wrapped_meta

Expand = dict[str, "Expand"]
MAX_EXPAND_DEPTH = 3  # docs: nesting up to 3 levels


def parse_expand(text: str | None) -> Expand:
    tree: Expand = {}
    for path in (text or "").split(","):
        node = tree
        for part in [p for p in path.strip().split(".") if p][:MAX_EXPAND_DEPTH]:
            node = node.setdefault(part, {})
    return tree


def entity_meta(entity: Entity) -> dict[str, Any]:
    return wrapped_meta(entity.kind, entity.id, entity.parent_id)["meta"]


def render_ref(account: Account, ref: Ref, expand: Expand | None) -> dict[str, Any]:
    target = account.get(ref.type, ref.id)
    if expand is not None and target is not None:
        return render_entity(account, target, expand)
    return wrapped_meta(ref.type, ref.id, target.parent_id if target else None)


def collection(href: str, item_type: str, rows: list[Entity], account: Account,
               expand: Expand | None) -> dict[str, Any]:
    """A MetaArray such as counterparty.contactpersons; `rows` appear only when expanded."""
    out: dict[str, Any] = {"meta": {"href": href, "type": item_type, "mediaType": MEDIA_TYPE,
                                    "size": len(rows), "limit": 1000, "offset": 0}}
    if expand is not None:
        out["rows"] = [render_entity(account, row, expand) for row in rows]
    return out


def render_entity(account: Account, entity: Entity, expand: Expand | None = None) -> dict[str, Any]:
    expand = expand or {}
    out: dict[str, Any] = {"meta": entity_meta(entity), "id": entity.id, "accountId": account.id}
    for name, value in entity.fields.items():
        if name.startswith("_") or value is None or value == "":
            continue
        if isinstance(value, Ref):
            out[name] = render_ref(account, value, expand.get(name))
        elif isinstance(value, list):
            out[name] = list(value)
        else:
            out[name] = value
    out["updated"] = entity.updated
    if entity.kind not in ("employee", "organization", "saleschannel", "state"):
        out["created"] = entity.created
    _extras(account, entity, expand, out)
    return out


def _extras(account: Account, entity: Entity, expand: Expand, out: dict[str, Any]) -> None:
    if entity.kind == "counterparty":
        base = f"{href_for('counterparty', entity.id)}"
        persons = [p for p in account.store("contactperson").values() if p.parent_id == entity.id]
        notes = [n for n in account.store("note").values() if n.parent_id == entity.id]
        out["contactpersons"] = collection(f"{base}/contactpersons", "contactperson", persons, account,
                                           expand.get("contactpersons"))
        out["notes"] = collection(f"{base}/notes", "note", notes, account, expand.get("notes"))
        out.setdefault("tags", [])
        out.setdefault("archived", False)
    elif entity.kind == "customerorder":
        out["positions"] = collection(f"{href_for('customerorder', entity.id)}/positions", "customerorderposition",
                                      [], account, expand.get("positions"))
    elif entity.kind == "employee":
        out.setdefault("archived", False)
