"""Creating stored entities (shared by the JSON API handlers, account seeding and the control API)."""
from __future__ import annotations

import random
import uuid
from typing import Any

from .model import Account, Entity
from .util import now_str

# MoySklad's default customer-order states (names as in a fresh account).
DEFAULT_ORDER_STATES: tuple[tuple[str, str, int], ...] = (
    ("Новый", "Regular", 15106326),
    ("Подтвержден", "Regular", 40931),
    ("Собран", "Regular", 8825440),
    ("Отгружен", "Regular", 10774547),
    ("Доставлен", "Successful", 34617),
    ("Возврат", "Unsuccessful", 15280409),
    ("Отменен", "Unsuccessful", 10066329),
)


class IdFactory:
    """UUIDs and 40-hex keys; seedable so that `--seed demo` yields the same keys on every start."""

    def __init__(self, seed: str | int | None = None) -> None:
        self.rng = random.Random(seed)

    def uuid(self) -> str:
        return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))

    def hex40(self) -> str:
        return f"{self.rng.getrandbits(160):040x}"

    def password(self) -> str:
        return f"pw-{self.rng.getrandbits(48):012x}"


def create_entity(ids: IdFactory, account: Account, kind: str, fields: dict[str, Any],
                  parent_id: str | None = None, entity_id: str | None = None) -> Entity:
    stamp = now_str()
    entity = Entity(kind=kind, id=entity_id or ids.uuid(), fields=dict(fields), created=stamp, updated=stamp,
                    parent_id=parent_id)
    account.store(kind)[entity.id] = entity
    sync_id = fields.get("syncId")
    if sync_id:
        account.sync_ids[(kind, str(sync_id).lower())] = entity.id
    return entity


def find_by_sync_id(account: Account, kind: str, sync_id: str) -> Entity | None:
    entity_id = account.sync_ids.get((kind, sync_id.lower()))
    return account.get(kind, entity_id) if entity_id else None


def employee_names(fields: dict[str, Any]) -> dict[str, Any]:
    """Fill remap's read-only name fields: fullName "First Middle Last", shortFio "Last F. M."."""
    first = fields.get("firstName") or ""
    middle = fields.get("middleName") or ""
    last = fields.get("lastName") or ""
    if not (first or last) and fields.get("name"):
        parts = str(fields["name"]).split()
        last = parts[0]
        first = parts[1] if len(parts) > 1 else ""
        middle = parts[2] if len(parts) > 2 else ""
    full = " ".join(p for p in (first, middle, last) if p)
    initials = " ".join(f"{p[0]}." for p in (first, middle) if p)
    short = f"{last} {initials}".strip()
    out = dict(fields)
    out.update({"firstName": first or None, "middleName": middle or None, "lastName": last,
                "fullName": fields.get("fullName") or full, "shortFio": short})
    out["name"] = fields.get("name") or short
    return out


def add_default_states(ids: IdFactory, account: Account,
                       states: list[dict[str, Any]] | None = None) -> list[Entity]:
    specs = states if states is not None else [
        {"name": n, "stateType": t, "color": c} for n, t, c in DEFAULT_ORDER_STATES]
    created = []
    for spec in specs:
        fields = {"name": spec["name"], "stateType": spec.get("stateType", "Regular"),
                  "color": spec.get("color", 15106326), "entityType": "customerorder"}
        created.append(create_entity(ids, account, "state", fields))
    return created
